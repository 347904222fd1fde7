//! Trouble with the broker, for a while (3 nominal minutes), then over — EventHub's or a Kafka
//! cluster's bad afternoon, in three degrees:
//! - `broker-outage`: every broker stops answering.
//! - `broker-latency`: every answer comes late (the mock cluster's round-trip delay): 30
//!   nominal seconds, within 50–500 ms of real time.
//! - `broker-errors`: one in three fetch and produce requests is answered with a retriable error
//!   (the leader moved, the request timed out).
//!
//! Latency and retriable errors are what a healthy pipeline rides out: nothing fails, nothing
//! stalls for long, nothing is lost — they are [`Fault::absorbable`] and expected CLEAN; a
//! pipeline whose timeouts are too tight fails on them, and is judged like any failure.
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
//! Each fits every pipeline. (The harness's own producers ride out an outage: a produce request
//! the broker never answered is retried after a second, see [`harness::kafka::Producer`].)

use harness::fault::{Expectation, Fault, FaultCtx, Scope, UNSEEN};
use harness::history::Event;
use harness::pipeline::PipelinePlan;
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};
use std::time::Duration;

/// How the broker is in trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// It stops answering.
    Outage,
    /// Its answers come late.
    Latency(Duration),
    /// It fails one in three fetch and produce requests with a retriable error.
    Errors,
}

/// The fault.
#[derive(Debug, Clone)]
pub struct BrokerOutage {
    /// What goes wrong.
    pub trouble: Trouble,
    /// For how long, nominal.
    pub outage: Duration,
}

impl Default for BrokerOutage {
    /// Three nominal minutes: longer than Spark's Kafka source waits by default (two).
    fn default() -> Self {
        BrokerOutage { trouble: Trouble::Outage, outage: Duration::from_secs(180) }
    }
}

impl BrokerOutage {
    /// `broker-latency`: answers 500 ms late.
    pub fn latency() -> BrokerOutage {
        BrokerOutage { trouble: Trouble::Latency(Duration::from_millis(500)), ..BrokerOutage::default() }
    }

    /// `broker-errors`: one in three fetch and produce requests fail, retriably.
    pub fn errors() -> BrokerOutage {
        BrokerOutage { trouble: Trouble::Errors, ..BrokerOutage::default() }
    }

    /// Starts (`on`) or ends the trouble, recorded as a phase.
    async fn set(&self, ctx: &FaultCtx<'_>, on: bool) -> Result<()> {
        match self.trouble {
            Trouble::Outage => return ctx.set_broker_available(!on).await,
            // Latency is real time, not nominal: 30 nominal seconds, within 50–500 ms, so that a
            // run at the test scale (where a real half second is five nominal minutes) is slowed
            // as much as a run at 60:1.
            Trouble::Latency(most) => {
                let delay = ctx.real(Duration::from_secs(30)).clamp(Duration::from_millis(50), most);
                ctx.broker().set_round_trip(if on { delay } else { Duration::ZERO }).await?
            }
            Trouble::Errors => ctx.broker().fail_some_requests(on).await?,
        }
        let state = if on { "begins" } else { "is over" };
        ctx.record(Event::Phase { name: format!("{}: {state}", self.name()) });
        Ok(())
    }
}

#[async_trait]
impl Fault for BrokerOutage {
    fn name(&self) -> &'static str {
        match self.trouble {
            Trouble::Outage => "broker-outage",
            Trouble::Latency(_) => "broker-latency",
            Trouble::Errors => "broker-errors",
        }
    }

    fn about(&self) -> &'static str {
        match self.trouble {
            Trouble::Outage => "every broker stops answering for 3 nominal minutes, then comes back",
            Trouble::Latency(_) => {
                "every broker answers late (30 nominal seconds, 50-500 ms real) for 3 nominal minutes"
            }
            Trouble::Errors => {
                "one in three fetch and produce requests fail with a retriable error for 3 nominal minutes"
            }
        }
    }

    fn target(&self) -> String {
        "the Kafka broker".into()
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        if plan.queries.is_empty() {
            return Err(HarnessError::bad_input(
                "the pipeline has no queries",
                format!("{} needs a query that reads the broker", self.name()),
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

    fn absorbable(&self) -> bool {
        self.trouble != Trouble::Outage
    }

    fn expectation(&self, _topology: &Topology, _plan: &PipelinePlan) -> Expectation {
        if self.absorbable() { Expectation::Absorbed } else { Expectation::Silent }
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let (mark, started) = (ctx.mark(), std::time::Instant::now());
        let injected = harness::time::now_us();
        self.set(ctx, true).await?;
        let lasting = ctx.real(self.outage);
        let query = ctx.plan().queries[0].name.clone();
        let unseen = "the broker was in trouble and nothing failed";
        effect_within(ctx, self.name(), (mark, injected), lasting, &query, unseen).await;
        ctx.wait_until(started + lasting).await;
        let back = self.set(ctx, false).await;
        ctx.healed(self.name());
        back
    }

    async fn heal(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        // Over already, unless the fault's own wait was cut short: end it regardless.
        self.set(ctx, false).await
    }
}

/// Records the fault's effect: the first query that fails, or program task that exits
/// non-zero, after `mark` and within `within`; when nothing does, the fault itself, `Unseen` at
/// `injected` on `query` (judged from the world at the horizon).
pub async fn effect_within(
    ctx: &FaultCtx<'_>,
    fault: &str,
    (mark, injected): (usize, i64),
    within: Duration,
    query: &str,
    unseen: &str,
) {
    match first_failure(ctx, mark, within, query).await {
        Some((at, query, kind, error)) => ctx.effect(at, fault, &query, &kind, &error),
        None => ctx.effect(injected, fault, query, UNSEEN, unseen),
    }
}

/// The first query that fails, or program task that exits non-zero, after `mark` and within
/// `within`: `(when, its query, the error's class, the error)`; a program's exit is `target`'s
/// failure when the program runs it. None when nothing does.
async fn first_failure(
    ctx: &FaultCtx<'_>,
    mark: usize,
    within: Duration,
    target: &str,
) -> Option<(i64, String, String, String)> {
    let programs: Vec<String> = ctx.plan().queries.iter().filter_map(|q| ctx.program_task_of(&q.name)).collect();
    ctx.history()
        .wait_for(mark, within, "a query to fail", |r| match &r.event {
            Event::QueryTerminated { query, error: Some(error), error_kind, .. } => {
                Some((r.at, query.clone(), error_kind.clone().unwrap_or_default(), error.clone()))
            }
            Event::ProcessExited { name, code, .. } if programs.contains(name) && *code != Some(0) => {
                let queries = &ctx.plan().tasks.iter().find(|t| &t.name == name)?.queries;
                let query = queries.iter().find(|q| *q == target).or(queries.first())?.clone();
                Some((r.at, query, "ProcessExited".into(), format!("task {name} ended while the fault held")))
            }
            _ => None,
        })
        .await
        .ok()
        .map(|(found, _)| found)
}
