//! `catalog-blip`: the catalog (the metastore) is unreachable for a while. One write-up had a
//! metastore outage of tens of seconds kill three streaming jobs at once.
//!
//! Under `await each` it is loud only because the first query awaited has data during the
//! outage and fails too; one that had none would leave the others dead behind a RUNNING task.
//!
//! Made real by taking the run's catalog file away: every query resolves its sink through it at
//! every batch, so each fails with `CatalogUnavailable` at its next batch, and a query that starts
//! during the outage fails to resolve its tables. The outage lasts [`CatalogBlip::outage`]
//! (nominal) and at least until it has failed a query; then the catalog is back, and the job
//! should come back with it (its restart is measured from there). Every task depends on the catalog: its reach is the whole job.

use harness::fault::{Aim, ErrorKind, Expect, Expectation, Fault, FaultCtx, FaultInfo, Heal, Scope};
use harness::history::Event;
use harness::{HarnessError, Result, async_trait};
use std::time::Duration;

/// The fault.
#[derive(Debug, Clone)]
pub struct CatalogBlip {
    /// How long the catalog is unreachable, nominal.
    pub outage: Duration,
}

impl Default for CatalogBlip {
    /// Two nominal minutes. The reference workloads produce every 50 ms of real time (30 nominal
    /// seconds at the test scale): an outage much shorter could fall between two productions and
    /// never meet a query that has data to commit, so whether it was loud would be luck.
    fn default() -> Self {
        CatalogBlip { outage: Duration::from_secs(120) }
    }
}

// Every query fails at its next batch, the first one awaited included: loud in every layout,
// and the job comes back once the catalog does (it persists until then).
const INFO: FaultInfo = FaultInfo::new(
    "catalog-blip",
    "the catalog (metastore) is unreachable for 2 nominal minutes; every query resolving a table fails",
)
.scope(Scope::All)
.persists_until_healed()
.expect(Expect::Always(Expectation::LoudRestarted));

const KIND: ErrorKind = ErrorKind::CatalogUnavailable;

#[async_trait]
impl Fault for CatalogBlip {
    fn info(&self) -> FaultInfo {
        INFO
    }

    fn aim(&self) -> Aim {
        Aim::Service("the catalog")
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        ctx.query()?;
        let (file, away) = (ctx.run_dir().join("catalog.json"), ctx.run_dir().join("catalog.json.unreachable"));
        let (mark, started) = (ctx.mark(), std::time::Instant::now());
        std::fs::rename(&file, &away).map_err(|e| HarnessError::io(&file, e))?;
        ctx.record(Event::Phase { name: "catalog unreachable".into() });
        let outcome = crate::outage::ride_out(ctx, KIND, mark, started, ctx.real(self.outage)).await;
        // Back, whatever happened: a harness that failed must not leave the catalog away.
        let back = std::fs::rename(&away, &file).map_err(|e| HarnessError::io(&away, e));
        ctx.record(Event::Phase { name: "catalog reachable again".into() });
        ctx.healed();
        outcome.and(back).map(|()| Heal::nothing())
    }
}
