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
//! the broker never answered is retried after a second, see [`harness::pipeline::Producer`].)

use harness::fault::{Aim, Expect, Expectation, Fault, FaultCtx, FaultInfo, Heal, Scope};
use harness::history::Event;
use harness::{Result, async_trait};
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

// Until the trouble is over the job can only stall: it persists until healed.
const OUTAGE: FaultInfo =
    FaultInfo::new("broker-outage", "every broker stops answering for 3 nominal minutes, then comes back")
        .scope(Scope::All)
        .fits_programs()
        .acts_on_the_broker()
        .persists_until_healed()
        .expect(Expect::Always(Expectation::Silent));

const LATENCY: FaultInfo = FaultInfo {
    name: "broker-latency",
    about: "every broker answers late (30 nominal seconds, 50-500 ms real) for 3 nominal minutes",
    ..OUTAGE.absorbable()
};

const ERRORS: FaultInfo = FaultInfo {
    name: "broker-errors",
    about: "one in three fetch and produce requests fail with a retriable error for 3 nominal minutes",
    ..OUTAGE.absorbable()
};

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
    fn info(&self) -> FaultInfo {
        match self.trouble {
            Trouble::Outage => OUTAGE,
            Trouble::Latency(_) => LATENCY,
            Trouble::Errors => ERRORS,
        }
    }

    fn aim(&self) -> Aim {
        Aim::Service("the Kafka broker")
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, mark, started) = (ctx.query()?, ctx.mark(), std::time::Instant::now());
        self.set(ctx, true).await?;
        let lasting = ctx.real(self.outage);
        let unseen = "the broker was in trouble and nothing failed";
        crate::outage::effect_within(ctx, mark, lasting, &query, unseen).await;
        ctx.wait_until(started + lasting).await;
        // Over, whatever happened: it ended on its own.
        let back = self.set(ctx, false).await;
        ctx.healed();
        back.map(|()| Heal::nothing())
    }
}
