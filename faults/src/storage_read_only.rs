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

use crate::driver::target_query;
use harness::fault::{Expectation, Fault, FaultCtx};
use harness::history::Event;
use harness::pipeline::PipelinePlan;
use harness::topology::Topology;
use harness::{Result, async_trait};
use std::path::PathBuf;
use std::sync::Mutex;

/// The fault.
#[derive(Debug, Default)]
pub struct StorageReadOnly {
    /// The query whose sink turns read-only (None: the last query of the pipeline's last task).
    pub query: Option<String>,
    frozen: Mutex<Vec<PathBuf>>,
}

const NAME: &str = "storage-read-only";

#[async_trait]
impl Fault for StorageReadOnly {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "a query's sink storage stops taking writes (immutable, binding root too) until healed"
    }

    fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("the sink storage of query {q}"),
            None => "the sink storage of the pipeline's last query".into(),
        }
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        target_query(NAME, &self.query, plan).map(|_| ())
    }

    fn persists_until_healed(&self) -> bool {
        true
    }

    fn fits_programs(&self) -> bool {
        true
    }

    fn expectation(&self, topology: &Topology, plan: &PipelinePlan) -> Expectation {
        match target_query(NAME, &self.query, plan) {
            Ok(query) => Expectation::of_persistent_query_failure(topology, plan, &query),
            Err(_) => Expectation::LoudRestarted,
        }
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = target_query(NAME, &self.query, ctx.plan())?;
        let (table, location) = ctx.sink_of(&query)?;
        let mark = ctx.mark();
        for dir in [location.join("_delta_log"), location.clone()] {
            let how = harness::storage::freeze(&dir)?;
            self.frozen.lock().expect("frozen").push(dir.clone());
            ctx.record(Event::Phase { name: format!("read-only: {} ({})", dir.display(), how.name()) });
        }
        let cause = format!("{table} was made read-only");
        ctx.await_failure(mark, NAME, &query, None, &cause).await.map(|_| ())
    }

    async fn heal(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let dirs: Vec<PathBuf> = self.frozen.lock().expect("frozen").drain(..).collect();
        for dir in dirs {
            harness::storage::thaw(&dir)?;
            ctx.record(Event::Phase { name: format!("writable again: {}", dir.display()) });
        }
        Ok(())
    }
}
