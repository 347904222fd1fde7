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

use harness::fault::{ErrorKind, Expect, Expectation, Fault, FaultCtx, FaultInfo, Heal, Scope};
use harness::process::Signal;
use harness::{Result, async_trait};

/// The fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrashAfterCommit;

// A process that dies is loud; an exactly-once sink loses and repeats nothing.
const INFO: FaultInfo = FaultInfo::new(
    "crash-after-commit",
    "the writer is killed right after a sink commit lands, before it can record its progress",
)
.strikes("the cluster of")
.scope(Scope::Cluster)
.fits_programs()
.expect(Expect::Always(Expectation::LoudRestarted));

#[async_trait]
impl Fault for CrashAfterCommit {
    fn info(&self) -> FaultInfo {
        INFO
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, cluster) = (ctx.query()?, ctx.cluster()?);
        let (table, location) = ctx.sink_of(&query)?;
        ctx.refuse_offset_commits(true).await?;
        let struck = match harness::storage::await_commit(&location, ctx.reach_timeout()).await {
            Ok(version) => ctx.strike(&cluster, Signal::SIGKILL).await.map(|sent| (version, sent)),
            Err(e) => Err(e),
        };
        // Whatever happened, the broker takes offset commits again.
        ctx.refuse_offset_commits(false).await?;
        let (version, sent) = struck?;
        let error =
            format!("{cluster} (pid {}) killed with SIGKILL right after commit {version} of {table} landed", sent.pid);
        ctx.effect(sent.at, &query, ErrorKind::CrashedAfterCommit, &error);
        // It struck once; the job starts the writer again.
        Ok(Heal::nothing())
    }
}
