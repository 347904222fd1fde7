//! `broker-outage`: every broker of the run stops answering for a while (3 nominal minutes),
//! then comes back — EventHub's or a Kafka cluster's bad afternoon.
//!
//! Made real on the embedded broker (librdkafka's mock cluster takes its broker down: every
//! connection fails until it is back). What a pipeline makes of it is its own affair: Spark's
//! Kafka source gives up after its timeout (loudfail's engine after its source timeout, never
//! less than 10 s of real time, so a busy machine does not pass for a dead broker); a consumer on
//! librdkafka's defaults retries forever and just waits. An outage shorter than the sources'
//! patience fails nothing: the job stalls with every state saying RUNNING, and only something
//! that watches lag would notice — the expectation is SILENT. The effect is the first query or
//! program that fails during the outage; when none does, the outage itself (`Unseen`), judged
//! from the world. Every task depends on the broker: its reach is the whole job.
//!
//! It fits programs only, for now: the reference pipelines' workloads count a record produced
//! before the broker acknowledges it, so an outage would read as a loss they did not cause.

use harness::fault::{Expectation, Fault, FaultCtx, Scope, UNSEEN};
use harness::history::Event;
use harness::pipeline::PipelinePlan;
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};
use std::time::Duration;

/// The fault.
#[derive(Debug, Clone)]
pub struct BrokerOutage {
    /// How long the broker is down, nominal.
    pub outage: Duration,
}

impl Default for BrokerOutage {
    /// Three nominal minutes: longer than Spark's Kafka source waits by default (two).
    fn default() -> Self {
        BrokerOutage { outage: Duration::from_secs(180) }
    }
}

const NAME: &str = "broker-outage";

#[async_trait]
impl Fault for BrokerOutage {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "every broker stops answering for 3 nominal minutes, then comes back"
    }

    fn target(&self) -> String {
        "the Kafka broker".into()
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        if plan.queries.is_empty() {
            return Err(HarnessError::bad_input("the pipeline has no queries", "broker-outage needs a query to stall"));
        }
        if !plan.is_program() {
            // Their ledgers count a record produced when its id is reserved, before the broker
            // acknowledges it, and a refused production is a harness error: an outage would
            // read as LOSS or ERROR that the pipeline did not cause.
            return Err(HarnessError::bad_input(
                "broker-outage does not fit the reference pipelines yet: their workloads do not ride out an outage",
                "run it on a program (--pipeline-file), whose workload counts only what the broker acknowledged",
            ));
        }
        Ok(())
    }

    fn fits_programs(&self) -> bool {
        true
    }

    fn scope(&self) -> Scope {
        Scope::All
    }

    fn persists_until_healed(&self) -> bool {
        // Until the outage is over: the job can only come back after it.
        true
    }

    fn expectation(&self, _topology: &Topology, _plan: &PipelinePlan) -> Expectation {
        Expectation::Silent
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let (mark, started) = (ctx.mark(), std::time::Instant::now());
        let injected = harness::time::now_us();
        ctx.set_broker_available(false).await?;
        let lasting = ctx.real(self.outage);
        // The first failure during the outage, if anything fails at all.
        let programs: Vec<String> = ctx.plan().queries.iter().filter_map(|q| ctx.program_task_of(&q.name)).collect();
        let failed = ctx
            .history()
            .wait_for(mark, lasting, "a query to fail during the outage", |r| match &r.event {
                Event::QueryTerminated { query, error: Some(error), error_kind, .. } => {
                    Some((r.at, query.clone(), error_kind.clone().unwrap_or_default(), error.clone()))
                }
                Event::ProcessExited { name, code, .. } if programs.contains(name) && *code != Some(0) => {
                    let query = ctx.plan().tasks.iter().find(|t| &t.name == name)?.queries.first()?.clone();
                    Some((r.at, query, "ProcessExited".into(), format!("task {name} ended during the outage")))
                }
                _ => None,
            })
            .await;
        match failed {
            Ok(((at, query, kind, error), _)) => ctx.effect(at, NAME, &query, &kind, &error),
            Err(_) => {
                let query = ctx.plan().queries[0].name.clone();
                ctx.effect(injected, NAME, &query, UNSEEN, "the broker was down and nothing failed");
            }
        }
        ctx.wait_until(started + lasting).await;
        let back = ctx.set_broker_available(true).await;
        ctx.healed(NAME);
        back
    }

    async fn heal(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        // Up already, unless the outage's own wait was cut short: bring it back regardless.
        ctx.set_broker_available(true).await
    }
}
