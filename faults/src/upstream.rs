//! Faults that start in the data, upstream of the pipeline: `poison-record` (a record the
//! query's transform fails on — a logic error in foreachBatch, met by a value nobody planned for)
//! and `schema-mismatch` (records gain a field the sink table lacks, and delta-rs rejects every
//! write for its schema).
//!
//! Made real by the workload: asked for an [`Oddity`], it sends the record itself down the
//! source of the query that meets it (the plan says which), and the query's own code fails on it
//! — a serde error on a null, delta-rs's schema check — never an error the harness raises. Both
//! fail the query at every start: the record stays in the uncommitted batch, and the new field
//! in every record after it. The heal is what an operator does, deploying a fix: code that handles
//! the record, or schema evolution (`mergeSchema`). Queries run it from their next start, and the
//! batch that failed lands exactly once.
//!
//! A query-scoped failure with its driver alive, recurring at every start: silent where the task
//! awaits another query first; loud elsewhere, and on a shared cluster collateral once the task's
//! retries are exhausted and the run fails.

use harness::fault::{Expect, Fault, FaultCtx, FaultInfo, Heal};
use harness::pipeline::{Oddity, PipelinePlan};
use harness::{HarnessError, Result, async_trait};

/// The fault: the workload sends `oddity`; the fix is deployed as the heal.
#[derive(Debug, Clone, Copy)]
pub struct DataFault {
    /// What the workload sends.
    pub oddity: Oddity,
}

// Until the fix is deployed, every start meets the record again.
const POISON: FaultInfo = FaultInfo::new(
    "poison-record",
    "a record the query's transform fails on (a null it assumes away); it fails at every start until a fix is deployed",
)
.persists_until_healed()
.expect(Expect::PersistentQueryFailure);

const SCHEMA_MISMATCH: FaultInfo = FaultInfo {
    name: "schema-mismatch",
    about: "records gain a field the sink table lacks; delta-rs rejects every write until schema evolution is deployed",
    ..POISON
};

impl DataFault {
    /// `poison-record`.
    pub fn poison_record() -> Self {
        DataFault { oddity: Oddity::Poison }
    }

    /// `schema-mismatch`.
    pub fn schema_mismatch() -> Self {
        DataFault { oddity: Oddity::NewField }
    }
}

#[async_trait]
impl Fault for DataFault {
    fn info(&self) -> FaultInfo {
        match self.oddity {
            Oddity::Poison => POISON,
            Oddity::NewField => SCHEMA_MISMATCH,
        }
    }

    fn query(&self, plan: &PipelinePlan) -> Result<String> {
        plan.meets(self.oddity).map(str::to_string).ok_or_else(|| {
            HarnessError::bad_input(
                format!("the pipeline's workload cannot send {} records upstream", self.oddity.name()),
                format!(
                    "{} needs a pipeline that can (telemetry, features-inference), or an `upstream` entry for it in your pipeline's plan",
                    self.name()
                ),
            )
        })
    }

    fn target(&self) -> String {
        match self.oddity {
            Oddity::Poison => "the query that meets the poison record".into(),
            Oddity::NewField => "the query that lands the new field".into(),
        }
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, mark) = (ctx.query()?, ctx.mark());
        let sent = ctx.send(self.oddity).await?;
        let cause = format!("the workload sent {}", sent.what);
        ctx.await_failure(mark, &query, None, &cause).await?;
        let (oddity, what) = (self.oddity, format!("{}: queries run the fix from their next start", self.name()));
        Ok(Heal::by(what, move |ctx| Box::pin(async move { ctx.deploy_fix(oddity) })))
    }
}
