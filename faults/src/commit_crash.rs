//! A crash right after a commit, before the writer hears of it or records it: the windows in
//! which a writer's progress and its sink disagree.
//!
//! `crash-after-commit`: the writer dies right after its sink commit lands and before it can
//! record its progress — the window in which a sink that is not idempotent duplicates a batch.
//! Made real from the outside, on any writer: the kernel says (inotify) when a new commit is
//! renamed into the sink's `_delta_log`, and the process running the query is killed with
//! SIGKILL at once. For a writer that records its progress in Kafka (committed consumer-group
//! offsets), the broker refuses offset commits meanwhile (a coordinator still loading: the
//! client retries), so that record cannot beat the kill. A sink that is exactly once (a txn app
//! id and version in the commit, read back at the restart) skips the batch it already holds;
//! one that is not writes it again: DUPLICATES.
//!
//! `crash-after-offset-commit`: the driver dies right after the broker took its consumer
//! group's offset commit, before the answer reached it — the window in which a program that
//! records its progress in Kafka before its sink write has claimed records it never wrote. The
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

/// Which commit the crash follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// A sink commit landing in the table's log (`crash-after-commit`).
    Sink,
    /// A consumer group's offset commit taken by the broker (`crash-after-offset-commit`).
    Offsets,
}

/// The fault.
#[derive(Debug, Clone, Copy)]
pub struct CrashAfterCommit {
    /// The commit it follows.
    pub commit: Commit,
}

impl CrashAfterCommit {
    /// `crash-after-commit`.
    pub fn sink() -> Self {
        CrashAfterCommit { commit: Commit::Sink }
    }

    /// `crash-after-offset-commit`.
    pub fn offsets() -> Self {
        CrashAfterCommit { commit: Commit::Offsets }
    }
}

// A process that dies is loud; an exactly-once sink loses and repeats nothing.
const SINK: FaultInfo = FaultInfo::new(
    "crash-after-commit",
    "the writer is killed right after a sink commit lands, before it can record its progress",
)
.strikes("the cluster of")
.scope(Scope::Cluster)
.fits_programs()
.expect(Expect::Always(Expectation::LoudRestarted));

// A program that commits its offsets after its write loses nothing.
const OFFSETS: FaultInfo = FaultInfo {
    name: "crash-after-offset-commit",
    about: "the driver is killed right after the broker takes its consumer group's offset commit, before it hears back",
    strikes: "the driver of",
    ..SINK
        .programs_only(
            "the reference pipelines keep their progress in their checkpoints, not in a consumer group",
            "crash-after-commit",
        )
        .acts_on_the_broker()
};

/// How long the broker holds an offset commit's answer: far longer than the kill takes to
/// follow the commit.
const HOLD: Duration = Duration::from_secs(2);

#[async_trait]
impl Fault for CrashAfterCommit {
    fn info(&self) -> FaultInfo {
        match self.commit {
            Commit::Sink => SINK,
            Commit::Offsets => OFFSETS,
        }
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, cluster) = (ctx.query()?, ctx.cluster()?);
        let (kind, sent, what) = match self.commit {
            Commit::Sink => {
                let (table, location) = ctx.sink_of(&query)?;
                ctx.refuse_offset_commits(true).await?;
                let struck = match harness::storage::await_commit(&location, ctx.reach_timeout()).await {
                    Ok(version) => ctx.strike(&cluster, Signal::SIGKILL).await.map(|sent| (version, sent)),
                    Err(e) => Err(e),
                };
                // Whatever happened, the broker takes offset commits again.
                ctx.refuse_offset_commits(false).await?;
                let (version, sent) = struck?;
                (ErrorKind::CrashedAfterCommit, sent, format!("right after commit {version} of {table} landed"))
            }
            Commit::Offsets => {
                let committed = ctx.await_offset_commit(HOLD, ctx.reach_timeout()).await?;
                let sent = ctx.strike(&cluster, Signal::SIGKILL).await?;
                if committed {
                    let what = "right after the broker took its offset commit, before it heard back";
                    (ErrorKind::CrashedAfterCommit, sent, what.to_string())
                } else {
                    let waited = harness::time::human(ctx.reach_timeout());
                    (ErrorKind::DriverCrashed, sent, format!("without an offset commit: it made none in {waited}"))
                }
            }
        };
        ctx.effect(sent.at, &query, kind, &format!("{cluster} (pid {}) killed with SIGKILL {what}", sent.pid));
        // It struck once; the job starts the writer again.
        Ok(Heal::nothing())
    }
}
