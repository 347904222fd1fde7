//! `crash-after-offset-commit`: the driver dies right after the broker took its consumer
//! group's offset commit, before the answer reached it — the window in which a program that
//! records its progress in Kafka before its sink write has claimed records it never wrote.
//!
//! Made real from the outside, on any program that keeps its progress in a consumer group: the
//! embedded broker carries out the next offset commit at once and holds its answer, and the
//! moment it has taken it the driver is killed with SIGKILL. A program that commits offsets
//! after its sink write (or keeps its progress in the sink, by txn) loses nothing: restarted, it
//! resumes where its sink says. One that commits first resumes past records that never landed:
//! LOSS — every time when it commits by hand before its write; with auto-commit only when the
//! commit caught claims a batch still being written (the fault's moment moves with the seed). A
//! program that commits no offsets within the reach timeout is killed then, without one.

use harness::fault::{ErrorKind, Expect, Expectation, Fault, FaultCtx, FaultInfo, Heal, Scope};
use harness::process::Signal;
use harness::{Result, async_trait};
use std::time::Duration;

/// The fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrashAfterOffsetCommit;

// A process that dies is loud; a program that commits its offsets after its write loses nothing.
const INFO: FaultInfo = FaultInfo::new(
    "crash-after-offset-commit",
    "the driver is killed right after the broker takes its consumer group's offset commit, before it hears back",
)
.strikes("the driver of")
.scope(Scope::Cluster)
.programs_only(
    "the reference pipelines keep their progress in their checkpoints, not in a consumer group",
    "crash-after-commit",
)
.expect(Expect::Always(Expectation::LoudRestarted));

/// How long the broker holds the answer: far longer than the kill takes to follow the commit.
const HOLD: Duration = Duration::from_secs(2);

#[async_trait]
impl Fault for CrashAfterOffsetCommit {
    fn info(&self) -> FaultInfo {
        INFO
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, driver) = (ctx.query()?, ctx.cluster()?);
        let committed = ctx.await_offset_commit(HOLD, ctx.reach_timeout()).await?;
        let sent = ctx.strike(&driver, Signal::SIGKILL).await?;
        let (kind, error) = if committed {
            let what = "right after the broker took its offset commit, before it heard back";
            (ErrorKind::CrashedAfterCommit, format!("{driver} (pid {}) killed with SIGKILL {what}", sent.pid))
        } else {
            let waited = harness::time::human(ctx.reach_timeout());
            let what = format!("without an offset commit: it made none in {waited}");
            (ErrorKind::DriverCrashed, format!("{driver} (pid {}) killed with SIGKILL {what}", sent.pid))
        };
        ctx.effect(sent.at, &query, kind, &error);
        // It struck once; the job starts the driver again.
        Ok(Heal::nothing())
    }
}
