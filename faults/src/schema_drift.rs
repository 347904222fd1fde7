//! Data faults for any program, made by the generic workload. Nothing to heal: upstream does not
//! take back what it sent.
//!
//! `bad-record`: a record that is not JSON arrives (a producer's bug, a truncated write). A
//! pipeline that skips it or dead-letters it rides it out; one that fails on it fails at every
//! start, and everything behind it is stuck (LOSS). Absorbable, expected CLEAN.
//!
//! `schema-drift`: upstream's schema changes under a running pipeline — a producer ships a new
//! version and every record from then on carries a field nobody declared.
//!
//! A pipeline that evolves its sink's schema (Delta's `mergeSchema`, delta-rs's
//! `schema_mode="merge"`) or ignores fields it does not know rides it out: the fault is
//! [`Fault::absorbable`] and expected CLEAN. One that rejects the new shape fails at every start
//! from then on (LOUD-NOT-RESTARTED, or SILENT where nothing watches); one that drops the
//! records it cannot write loses them (LOSS). For loudfail's engine pipelines the same drift with
//! a fix to deploy is `schema-mismatch`.

use harness::fault::{Fault, FaultCtx, FaultInfo, Heal};
use harness::pipeline::{Oddity, PipelinePlan};
use harness::{HarnessError, Result, async_trait};
use std::time::Duration;

/// The fault: what the workload sends.
#[derive(Debug, Clone, Copy)]
pub struct ProgramData {
    /// `Poison` (`bad-record`) or `NewField` (`schema-drift`).
    pub oddity: Oddity,
}

const BAD_RECORD: FaultInfo =
    FaultInfo::new("bad-record", "a record that is not JSON arrives; a pipeline must skip or dead-letter it")
        .fits_programs()
        .absorbable();

const SCHEMA_DRIFT: FaultInfo = FaultInfo {
    name: "schema-drift",
    about: "upstream's records gain a field nobody declared, for good; a pipeline must evolve or ignore it",
    ..BAD_RECORD
};

#[async_trait]
impl Fault for ProgramData {
    fn info(&self) -> FaultInfo {
        match self.oddity {
            Oddity::Poison => BAD_RECORD,
            Oddity::NewField => SCHEMA_DRIFT,
        }
    }

    fn target(&self) -> String {
        "every topic of the pipeline".into()
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        self.query(plan)?;
        if !plan.is_program() {
            return Err(HarnessError::bad_input(
                format!(
                    "{} fits programs (--pipeline-file): for the reference pipelines, with a fix to deploy, it is {}",
                    self.name(),
                    if self.oddity == Oddity::Poison { "poison-record" } else { "schema-mismatch" }
                ),
                "choose poison-record or schema-mismatch for a reference pipeline",
            ));
        }
        Ok(())
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, mark) = (ctx.query()?, ctx.mark());
        let sent = ctx.send(self.oddity).await?;
        // The first batch with the record comes within a trigger or two.
        let unseen = format!("the workload sent {} and nothing failed", sent.what);
        crate::outage::effect_within(ctx, mark, ctx.real(Duration::from_secs(120)), &query, &unseen).await;
        // Upstream does not take it back.
        Ok(Heal::nothing())
    }
}
