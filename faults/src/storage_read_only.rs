//! `storage-read-only`: a query's sink storage stops taking writes (a storage account whose write
//! permission was pulled, a volume remounted read-only), until healed.
//!
//! Made real by [`harness::storage::freeze`]: the sink table's directory and its `_delta_log`
//! get the immutable attribute, which binds root too, so delta-rs's own write of a data file or a
//! commit fails with EPERM. Reads still work: the observer and the query's snapshot see the
//! table; only its writes fail, at every batch, until the heal puts the storage back. On a
//! machine where storage cannot be made read-only the run is an ERROR that says why, never a pass.
//!
//! A query-scoped failure that recurs until healed: silent where the task awaits another query
//! first, collateral on a shared cluster once retries are exhausted, loud elsewhere.

use harness::fault::{Expect, Fault, FaultCtx, FaultInfo, Heal};
use harness::history::Event;
use harness::{Result, async_trait};

/// The fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct StorageReadOnly;

const INFO: FaultInfo = FaultInfo::new(
    "storage-read-only",
    "a query's sink storage stops taking writes (immutable, binding root too) until healed",
)
.strikes("the sink storage of")
.fits_programs()
.persists_until_healed()
.expect(Expect::PersistentQueryFailure);

#[async_trait]
impl Fault for StorageReadOnly {
    fn info(&self) -> FaultInfo {
        INFO
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let query = ctx.query()?;
        let (table, location) = ctx.sink_of(&query)?;
        let mark = ctx.mark();
        let mut frozen = Vec::new();
        let mut outcome = Ok(());
        for dir in [location.join("_delta_log"), location] {
            match harness::storage::freeze(&dir) {
                Ok(how) => ctx.record(Event::Phase { name: format!("read-only: {} ({})", dir.display(), how.name()) }),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
            frozen.push(dir);
        }
        let heal = Heal::thaw(frozen);
        if outcome.is_ok() {
            outcome = ctx.await_failure(mark, &query, None, &format!("{table} was made read-only")).await.map(drop);
        }
        heal.or_undo(ctx, outcome).await
    }
}
