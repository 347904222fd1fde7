//! `schema-drift`: upstream's schema changes under a running pipeline — a producer ships a new
//! version and every record from then on carries a field nobody declared. It stays: there is
//! nothing to heal.
//!
//! A pipeline that evolves its sink's schema (Delta's `mergeSchema`, delta-rs's
//! `schema_mode="merge"`) or ignores fields it does not know rides it out: the fault is
//! [`Fault::absorbable`] and expected CLEAN. One that rejects the new shape fails at every start
//! from then on (LOUD-NOT-RESTARTED, or SILENT where nothing watches); one that drops the
//! records it cannot write loses them (LOSS). For loudfail's engine pipelines the same drift with
//! a fix to deploy is `schema-mismatch`.

use crate::driver::target_query;
use harness::fault::{Expectation, Fault, FaultCtx, UNSEEN};
use harness::pipeline::{Oddity, PipelinePlan};
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};
use std::time::Duration;

/// The fault.
#[derive(Debug, Clone, Default)]
pub struct SchemaDrift;

const NAME: &str = "schema-drift";

#[async_trait]
impl Fault for SchemaDrift {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "upstream's records gain a field nobody declared, for good; a pipeline must evolve or ignore it"
    }

    fn target(&self) -> String {
        "every topic of the pipeline".into()
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        target_query(NAME, &None, plan)?;
        if !plan.is_program() {
            return Err(HarnessError::bad_input(
                "schema-drift fits programs (--pipeline-file): for the reference pipelines the same drift, with a fix to deploy, is schema-mismatch",
                "choose schema-mismatch for a reference pipeline",
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
        let query = target_query(NAME, &None, ctx.plan())?;
        let (mark, injected) = (ctx.mark(), harness::time::now_us());
        ctx.send(Oddity::NewField).await?;
        // The first write with the new field comes within a trigger or two.
        match crate::broker_outage::first_failure(ctx, mark, ctx.real(Duration::from_secs(120))).await {
            Some((at, query, kind, error)) => ctx.effect(at, NAME, &query, &kind, &error),
            None => ctx.effect(injected, NAME, &query, UNSEEN, "records gained a field and nothing failed"),
        }
        Ok(())
    }

    async fn heal(&self, _ctx: &FaultCtx<'_>) -> Result<()> {
        // Upstream does not go back.
        Ok(())
    }
}
