//! `checkpoint-corruption`: the driver dies while a query writes its `offsets/` entry, and the
//! entry is left torn — half a JSON document.
//!
//! Made real in three steps: the query is held at the start of its next batch (failpoint
//! `<query>.batch`, just after it planned the batch), its newest `offsets/<batch>` is cut in half,
//! and its cluster is killed (SIGKILL). The crash is loud; the harm comes after it: every time
//! the query starts again it reads the torn entry and fails (`Checkpoint`), until the heal does
//! what Spark's documentation tells an operator to do — delete the damaged entry — and the batch
//! is planned afresh from the last commit. The sink's `txn` keeps that replay exactly-once.
//!
//! Under `await each` the restarted query's failure is silent unless it is the first one
//! awaited: the new run says RUNNING with the query dead.

use crate::driver::{describe_target, strike, target_query};
use harness::fault::{Expectation, Fault, FaultCtx, Scope};
use harness::history::Event;
use harness::pipeline::PipelinePlan;
use harness::process::Signal;
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};
use std::path::PathBuf;
use std::sync::Mutex;

/// The fault.
#[derive(Debug, Default)]
pub struct CheckpointCorruption {
    /// The query whose checkpoint is torn (None: the last query of the pipeline's last task).
    pub query: Option<String>,
    torn: Mutex<Option<PathBuf>>,
}

const NAME: &str = "checkpoint-corruption";
const KIND: &str = "Checkpoint";

#[async_trait]
impl Fault for CheckpointCorruption {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "the driver dies mid-write and leaves a query's offsets entry torn; the query fails at every start until it is deleted"
    }

    fn target(&self) -> String {
        describe_target(&self.query).replacen("the cluster of", "the checkpoint of", 1)
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        target_query(NAME, &self.query, plan).map(|_| ())
    }

    fn scope(&self) -> Scope {
        // The crash takes the cluster; the torn entry then fails the one query.
        Scope::Cluster
    }

    fn persists_until_healed(&self) -> bool {
        true
    }

    fn expectation(&self, topology: &Topology, plan: &PipelinePlan) -> Expectation {
        // The crash is loud; what follows is the torn query failing alone at every start, so the
        // new run is silent where its task awaits another query first.
        match target_query(NAME, &self.query, plan) {
            Ok(query) => Expectation::of_query_failure(topology, plan, &query),
            Err(_) => Expectation::LoudRestarted,
        }
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = target_query(NAME, &self.query, ctx.plan())?;
        let cluster = ctx.cluster_of(NAME, &query)?;
        let failpoint = format!("{query}.batch");
        let mark = ctx.mark();
        ctx.arm(&query, &failpoint, "1*pause").await?;
        let hit = ctx.await_failpoint(mark, &failpoint).await?;
        let batch = hit.get("batch").and_then(|b| b.as_i64()).ok_or_else(|| HarnessError::Fault {
            fault: NAME.into(),
            problem: format!("failpoint {failpoint} did not say which batch: {hit}"),
        })?;
        // A torn write: the first half of the entry the query just planned.
        let entry = ctx.checkpoint_dir(&query).join("offsets").join(batch.to_string());
        let whole = std::fs::read(&entry).map_err(|e| HarnessError::io(&entry, e))?;
        std::fs::write(&entry, &whole[..whole.len() / 2]).map_err(|e| HarnessError::io(&entry, e))?;
        *self.torn.lock().expect("torn") = Some(entry.clone());
        ctx.record(Event::Phase { name: format!("tore {}", entry.display()) });
        strike(ctx, NAME, &cluster, Signal::SIGKILL).await?;
        // The harm: the query's next start reads the torn entry.
        let ((at, error), _) = ctx
            .history()
            .wait_for(mark, ctx.reach_timeout(), &format!("{query} to fail on its torn checkpoint"), |r| {
                match &r.event {
                    Event::QueryTerminated { query: q, error: Some(e), error_kind: Some(k), .. }
                        if *q == query && k == KIND =>
                    {
                        Some((r.at, e.clone()))
                    }
                    _ => None,
                }
            })
            .await?;
        ctx.effect(at, NAME, &query, KIND, &error);
        Ok(())
    }

    async fn heal(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let Some(entry) = self.torn.lock().expect("torn").take() else { return Ok(()) };
        if entry.exists() {
            std::fs::remove_file(&entry).map_err(|e| HarnessError::io(&entry, e))?;
            ctx.record(Event::Phase { name: format!("deleted the torn {}", entry.display()) });
        }
        Ok(())
    }
}
