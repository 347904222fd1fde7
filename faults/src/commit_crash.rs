//! `crash-after-commit`: the writer dies right after its sink commit lands and before it can
//! record its progress — the window in which a sink that is not idempotent duplicates a batch.
//!
//! Made real from the outside, on any writer: the kernel says (inotify) when a new commit is
//! renamed into the sink's `_delta_log`, and the process running the query is killed with
//! SIGKILL at once. For a writer that records its progress in Kafka (committed consumer-group
//! offsets), the broker refuses offset commits meanwhile (a coordinator still loading: the
//! client retries), so that record cannot beat the kill. A sink
//! that is exactly once (a txn app id and version in the commit, read back at the restart) skips
//! the batch it already holds; one that is not writes it again: DUPLICATES.

use crate::driver::{describe_target, strike, target_query};
use harness::fault::{Expectation, Fault, FaultCtx, Scope};
use harness::pipeline::PipelinePlan;
use harness::process::Signal;
use harness::topology::Topology;
use harness::{Result, async_trait};

/// The fault.
#[derive(Debug, Clone, Default)]
pub struct CrashAfterCommit {
    /// The query whose writer dies (None: the last query of the pipeline's last task).
    pub query: Option<String>,
}

const NAME: &str = "crash-after-commit";

#[async_trait]
impl Fault for CrashAfterCommit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "the writer is killed right after a sink commit lands, before it can record its progress"
    }

    fn target(&self) -> String {
        describe_target(&self.query)
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        target_query(NAME, &self.query, plan).map(|_| ())
    }

    fn fits_programs(&self) -> bool {
        true
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn expectation(&self, _topology: &Topology, _plan: &PipelinePlan) -> Expectation {
        // A process that dies is loud; an exactly-once sink loses and repeats nothing.
        Expectation::LoudRestarted
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = target_query(NAME, &self.query, ctx.plan())?;
        let cluster = ctx.cluster_of(NAME, &query)?;
        let (table, location) = ctx.sink_of(&query)?;
        ctx.refuse_offset_commits(true).await?;
        let struck = match harness::storage::await_commit(&location, ctx.reach_timeout()).await {
            Ok(version) => strike(ctx, NAME, &cluster, Signal::SIGKILL).await.map(|sent| (version, sent)),
            Err(e) => Err(e),
        };
        // Whatever happened, the broker takes offset commits again.
        ctx.refuse_offset_commits(false).await?;
        let (version, sent) = struck?;
        let error =
            format!("{cluster} (pid {}) killed with SIGKILL right after commit {version} of {table} landed", sent.pid);
        ctx.effect(sent.at, NAME, &query, "CrashedAfterCommit", &error);
        Ok(())
    }

    async fn heal(&self, _ctx: &FaultCtx<'_>) -> Result<()> {
        // It struck once; the job starts the writer again.
        Ok(())
    }
}
