//! `concurrent-writer`: another job appends rows of its own to a pipeline's sink while the
//! pipeline writes it — a backfill, a correction job, a second producer into the same table.
//! Its rows carry negative ids (never produced), every other column null, so the audit tells
//! them apart and checks they are all still there, once each, at the end.
//!
//! Blind appends do not conflict in Delta: a healthy pipeline rides it out. The fault is
//! [`Fault::absorbable`] and expected CLEAN. A pipeline that rewrites its table (an overwrite, a
//! read-modify-write of the whole table) drops the other job's rows: `LOSS`. One whose commits
//! conflict fails, and is judged like any failure.

use crate::driver::{describe_target, target_query};
use harness::fault::{Expectation, Fault, FaultCtx};
use harness::pipeline::PipelinePlan;
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};
use std::time::Duration;

/// The fault.
#[derive(Debug, Clone)]
pub struct ConcurrentWriter {
    /// The query whose sink is written (None: the last query of the pipeline's last task).
    pub query: Option<String>,
    /// How many commits the other job makes.
    pub commits: u32,
    /// The nominal time between them.
    pub every: Duration,
}

impl Default for ConcurrentWriter {
    /// Ten commits of ten rows, 20 nominal seconds apart.
    fn default() -> Self {
        ConcurrentWriter { query: None, commits: 10, every: Duration::from_secs(20) }
    }
}

const NAME: &str = "concurrent-writer";

#[async_trait]
impl Fault for ConcurrentWriter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "another job appends rows of its own to a sink while the pipeline writes it; they must survive"
    }

    fn target(&self) -> String {
        describe_target(&self.query).replace("the cluster of", "the sink of")
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        target_query(NAME, &self.query, plan)?;
        if !plan.is_program() {
            return Err(HarnessError::bad_input(
                "concurrent-writer fits programs (--pipeline-file): the reference pipelines' other writers are concurrent-append's",
                "choose concurrent-append for a reference pipeline",
            ));
        }
        Ok(())
    }

    fn fits_programs(&self) -> bool {
        true
    }

    fn absorbable(&self) -> bool {
        true
    }

    fn expectation(&self, _topology: &Topology, _plan: &PipelinePlan) -> Expectation {
        Expectation::Absorbed
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = target_query(NAME, &self.query, ctx.plan())?;
        let (table, _) = ctx.sink_of(&query)?;
        let writer = ctx.writer(&table)?;
        let (mark, injected) = (ctx.mark(), harness::time::now_us());
        let started = std::time::Instant::now();
        for i in 0..self.commits {
            ctx.wait_nominal(started, self.every * i).await;
            writer.commit_overlapping(&serde_json::Value::Null).await?;
        }
        let unseen = "another job appended to the sink and nothing failed";
        crate::broker_outage::effect_within(ctx, NAME, (mark, injected), Duration::ZERO, &query, unseen).await;
        Ok(())
    }

    async fn heal(&self, _ctx: &FaultCtx<'_>) -> Result<()> {
        // Its rows stay: they are data, and the audit expects them.
        Ok(())
    }
}
