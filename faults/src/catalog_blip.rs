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

use harness::fault::{Expectation, Fault, FaultCtx, Scope};
use harness::history::Event;
use harness::pipeline::PipelinePlan;
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};
use std::path::PathBuf;
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

const NAME: &str = "catalog-blip";
const KIND: &str = "CatalogUnavailable";

fn places(ctx: &FaultCtx<'_>) -> (PathBuf, PathBuf) {
    (ctx.run_dir().join("catalog.json"), ctx.run_dir().join("catalog.json.unreachable"))
}

fn restore(ctx: &FaultCtx<'_>) -> Result<()> {
    let (file, away) = places(ctx);
    if away.exists() {
        std::fs::rename(&away, &file).map_err(|e| HarnessError::io(&away, e))?;
        ctx.record(Event::Phase { name: "catalog reachable again".into() });
    }
    Ok(())
}

#[async_trait]
impl Fault for CatalogBlip {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "the catalog (metastore) is unreachable for 2 nominal minutes; every query resolving a table fails"
    }

    fn target(&self) -> String {
        "the catalog".into()
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        if plan.queries.is_empty() {
            return Err(HarnessError::bad_input("the pipeline has no queries", "catalog-blip needs a query to fail"));
        }
        Ok(())
    }

    fn scope(&self) -> Scope {
        Scope::All
    }

    fn persists_until_healed(&self) -> bool {
        // Until the outage is over: the job can only come back after it.
        true
    }

    fn expectation(&self, _topology: &Topology, _plan: &PipelinePlan) -> Expectation {
        // Every query fails at its next batch, the first one awaited included: loud in every
        // layout, and the job comes back once the catalog does.
        Expectation::LoudRestarted
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let (file, away) = places(ctx);
        let (mark, started) = (ctx.mark(), std::time::Instant::now());
        std::fs::rename(&file, &away).map_err(|e| HarnessError::io(&file, e))?;
        ctx.record(Event::Phase { name: "catalog unreachable".into() });
        let outcome = crate::outage::ride_out(ctx, NAME, KIND, mark, started, ctx.real(self.outage)).await;
        // Back, whatever happened: a harness that failed must not leave the catalog away.
        let back = restore(ctx);
        ctx.healed(NAME);
        outcome.and(back)
    }

    async fn heal(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        restore(ctx)
    }
}
