//! A fault of your own, written against the harness's public API only — the same API the
//! catalogue's faults use.
//!
//! This one makes the resolver's foreachBatch logic raise (a logic error, like a bad UDF):
//! it arms the resolver's failpoint with an `error` action for one hit, and its effect is the
//! query terminating with that error.
//!
//! Run it: `cargo run --example custom_fault` (builds the `loudfail` binary first with
//! `cargo build`).

use harness::fault::{Aim, Fault, FaultCtx, FaultInfo, Heal};
use harness::topology::{AwaitPolicy, Topology};
use harness::{Result, Scenario, async_trait};
use std::sync::Arc;

#[derive(Debug)]
struct ResolverRaises;

#[async_trait]
impl Fault for ResolverRaises {
    // Silent where the task awaits another query first while the resolver is dead (the default
    // expectation: a query's failure).
    fn info(&self) -> FaultInfo {
        FaultInfo::new("resolver-raises", "the resolver's batch logic raises once")
    }
    fn aim(&self) -> Aim {
        Aim::query("resolver")
    }
    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let mark = ctx.mark();
        ctx.arm("resolver", "resolver.before-commit", "1*error(bad record in foreachBatch)").await?;
        // The resolver's termination is the effect; ending without an error is a fault error.
        ctx.await_failure(mark, "resolver", None, "the resolver's batch logic raised").await?;
        Ok(Heal::nothing())
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
