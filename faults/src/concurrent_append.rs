//! `concurrent-append`: the ML job commits rows that the alert resolver's MERGE read, after the
//! MERGE read its snapshot and before it commits, so the resolver's commit fails with delta-rs's
//! own `CommitConflictError::ConcurrentAppend` (incident 1).
//!
//! The race is made deterministic with a failpoint in the resolver:
//!
//! ```text
//!  fault                          cluster (resolver)                     alerts table
//!  arm 1*pause ──────────────────▶ load snapshot v
//!                                  failpoint: report hit {min,max}, wait
//!  ◀── failpoint_hit ──────────────
//!  writer.commit_overlapping ───────────────────────────────────────────▶ v+1 (ids span min..max)
//!  release ──────────────────────▶ MERGE against v: conflict with v+1
//!                                  query terminated: ConcurrentAppend
//!  ◀── query_terminated ───────────
//!  record fault_effect
//! ```
//! Blind appends alone never conflict (delta-rs retries them); only rows whose stats overlap the
//! MERGE's predicate do, which is why the writer commits exactly that range.
//!
//! A program (a Spark job) has no failpoint to pause it. There the race is run the way it runs in
//! production: the other job appends to the table every 5 nominal seconds for 3 nominal minutes,
//! and a MERGE that read its snapshot before one of those appends fails at its commit (measured
//! with delta-rs: 91 of 119 MERGEs against a looping appender). The effect is the first failure
//! the world shows (the program's exit); a program that lives on with its resolver dead shows
//! none, and is judged from what its tables show at the horizon.

use harness::fault::{Aim, ErrorKind, Fault, FaultCtx, FaultInfo, Heal};
use harness::pipeline::PipelinePlan;
use harness::{HarnessError, Result, async_trait};

/// The fault.
#[derive(Debug, Clone)]
pub struct ConcurrentAppend {
    /// The query whose commit must fail.
    pub query: String,
    /// Its failpoint between read and commit.
    pub failpoint: String,
    /// The table both write.
    pub table: String,
}

impl Default for ConcurrentAppend {
    fn default() -> Self {
        ConcurrentAppend {
            query: "resolver".into(),
            failpoint: "resolver.before-commit".into(),
            table: "alerts".into(),
        }
    }
}

// Only a task that awaits another query first, with nobody watching the queries, misses the
// resolver's death.
const INFO: FaultInfo = FaultInfo::new(
    "concurrent-append",
    "a concurrent writer commits rows the resolver's MERGE read, between its read and its commit",
)
.fits_programs();

#[async_trait]
impl Fault for ConcurrentAppend {
    fn info(&self) -> FaultInfo {
        INFO
    }

    fn aim(&self) -> Aim {
        Aim::query(&self.query)
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        if plan.is_program() && plan.query(&self.query).is_err() {
            return Err(HarnessError::bad_input(
                format!(
                    "concurrent-append needs a flow named {} that MERGEs into table {} (read, then commit) beside another writer: this program has none",
                    self.query, self.table
                ),
                "a program that only appends never conflicts: choose concurrent-writer; spark-telemetry has such a flow",
            ));
        }
        let q = plan.query(&self.query)?;
        if q.sink != self.table {
            return Err(HarnessError::bad_input(
                format!("query {} writes {}, not {}", self.query, q.sink, self.table),
                "concurrent-append needs a pipeline whose resolver MERGEs into a table another writer appends to (telemetry)",
            ));
        }
        Ok(())
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        if ctx.plan().is_program() {
            self.race(ctx).await?;
            // The other job's rows stay: they are data, and the audit expects them.
            return Ok(Heal::nothing());
        }
        let writer = ctx.writer(&self.table)?;
        let mark = ctx.mark();
        ctx.arm(&self.query, &self.failpoint, "1*pause").await?;
        let read = ctx.await_failpoint(mark, &self.failpoint).await?;
        let written = writer.commit_overlapping(&read).await?;
        let after_write = ctx.mark();
        ctx.release(&self.query, &self.failpoint).await?;
        let cause = format!("the writer committed {written:?} inside the resolver's read range {read}");
        ctx.await_failure(after_write, &self.query, Some(ErrorKind::ConcurrentAppend), &cause).await?;
        // The failpoint fired once and disarmed itself; make sure a restarted cluster never
        // pauses again even if it inherited it. A run with no cluster up has nothing to heal.
        let (query, failpoint) = (self.query.clone(), self.failpoint.clone());
        Ok(Heal::by("", move |ctx| {
            Box::pin(async move {
                match ctx.arm(&query, &failpoint, "off").await {
                    Ok(()) | Err(HarnessError::Process { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            })
        }))
    }
}

impl ConcurrentAppend {
    /// On a program: the other job appends to the table every 5 nominal seconds until the world
    /// shows a failure, for 3 nominal minutes at most.
    async fn race(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let writer = ctx.writer(&self.table)?;
        let (mark, started) = (ctx.mark(), std::time::Instant::now());
        let lasting = ctx.real(std::time::Duration::from_secs(180));
        let every = std::time::Duration::from_secs(5);
        // Once the effect is seen the appender stops, but only between commits: a commit
        // cancelled in flight may land without the writer knowing, and its rows would count
        // against the pipeline as unexpected.
        let stop = tokio::sync::Notify::new();
        let appending = async {
            for i in 0.. {
                tokio::select! {
                    () = ctx.wait_nominal(started, every * i) => {}
                    () = stop.notified() => break,
                }
                if started.elapsed() >= lasting {
                    break;
                }
                writer.commit_overlapping(&serde_json::Value::Null).await?;
            }
            Ok::<(), HarnessError>(())
        };
        let unseen = "another job appended to the table all along and nothing failed";
        let effect = crate::outage::effect_within(ctx, mark, lasting, &self.query, unseen);
        tokio::pin!(effect, appending);
        tokio::select! {
            () = &mut effect => {}
            appended = &mut appending => {
                appended?;
                effect.await;
                return Ok(());
            }
        }
        stop.notify_one();
        appending.await?;
        Ok(())
    }
}
