//! A fault of your own, written against the harness's public API only — the same API the
//! catalogue's faults use.
//!
//! This one makes the resolver's foreachBatch logic raise (a logic error, like a bad UDF):
//! it arms the resolver's failpoint with an `error` action for one hit, and its effect is the
//! query terminating with that error.
//!
//! Run it: `cargo run --example custom_fault` (builds the `loudfail` binary first with
//! `cargo build`).

use harness::fault::{Expectation, Fault, FaultCtx};
use harness::pipeline::PipelinePlan;
use harness::topology::{AwaitPolicy, Topology};
use harness::{HarnessError, Result, Scenario, async_trait};
use std::sync::Arc;

#[derive(Debug)]
struct ResolverRaises;

#[async_trait]
impl Fault for ResolverRaises {
    fn name(&self) -> &'static str {
        "resolver-raises"
    }
    fn about(&self) -> &'static str {
        "the resolver's batch logic raises once"
    }
    fn target(&self) -> String {
        "query resolver".into()
    }
    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        plan.query("resolver").map(|_| ())
    }
    fn expectation(&self, t: &Topology, plan: &PipelinePlan) -> Expectation {
        // Silent where the task awaits another query first while the resolver is dead.
        Expectation::of_query_failure(t, plan, "resolver")
    }
    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let mark = ctx.mark();
        ctx.arm("resolver", "resolver.before-commit", "1*error(bad record in foreachBatch)").await?;
        let ended = ctx.await_termination(mark, "resolver").await?;
        match (&ended.error, &ended.error_kind) {
            (Some(error), Some(kind)) => {
                ctx.effect(ended.at, self.name(), "resolver", kind, error);
                Ok(())
            }
            _ => Err(HarnessError::Fault {
                fault: self.name().into(),
                problem: format!("resolver ended with {ended:?}"),
            }),
        }
    }
    async fn heal(&self, _ctx: &FaultCtx<'_>) -> Result<()> {
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let bin = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("loudfail");
    let report = Scenario::new(suites::registry().get("telemetry").unwrap())
        .topology(Topology::multi_query(AwaitPolicy::Any))
        .fault(Arc::new(ResolverRaises))
        .bin(bin)
        .run()
        .await
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    print!("{}", report.render());
    std::process::exit(report.exit_code());
}
