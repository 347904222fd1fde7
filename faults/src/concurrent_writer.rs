//! `concurrent-writer`: another job appends rows of its own to a pipeline's sink while the
//! pipeline writes it — a backfill, a correction job, a second producer into the same table.
//! Its rows carry negative ids (never produced), every other column null, so the audit tells
//! them apart and checks they are all still there, once each, at the end.
//!
//! Blind appends do not conflict in Delta: a healthy pipeline rides it out. The fault is
//! [`Fault::absorbable`] and expected CLEAN. A pipeline that rewrites its table (an overwrite, a
//! read-modify-write of the whole table) drops the other job's rows: `LOSS`. One whose commits
//! conflict fails, and is judged like any failure.

use harness::fault::{Fault, FaultCtx, FaultInfo, Heal};
use harness::{Result, async_trait};
use std::time::Duration;

/// The fault.
#[derive(Debug, Clone)]
pub struct ConcurrentWriter {
    /// How many commits the other job makes.
    pub commits: u32,
    /// The nominal time between them.
    pub every: Duration,
}

impl Default for ConcurrentWriter {
    /// Ten commits of ten rows, 20 nominal seconds apart.
    fn default() -> Self {
        ConcurrentWriter { commits: 10, every: Duration::from_secs(20) }
    }
}

const INFO: FaultInfo = FaultInfo::new(
    "concurrent-writer",
    "another job appends rows of its own to a sink while the pipeline writes it; they must survive",
)
.strikes("the sink of")
.programs_only("the reference pipelines' other writers are concurrent-append's", "concurrent-append")
.absorbable();

#[async_trait]
impl Fault for ConcurrentWriter {
    fn info(&self) -> FaultInfo {
        INFO
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let query = ctx.query()?;
        let writer = ctx.writer(&ctx.sink_of(&query)?.0)?;
        let (mark, started) = (ctx.mark(), std::time::Instant::now());
        for i in 0..self.commits {
            ctx.wait_nominal(started, self.every * i).await;
            writer.commit_overlapping(&serde_json::Value::Null).await?;
        }
        let unseen = "another job appended to the sink and nothing failed";
        crate::outage::effect_within(ctx, mark, Duration::ZERO, &query, unseen).await;
        // Its rows stay: they are data, and the audit expects them.
        Ok(Heal::nothing())
    }
}
