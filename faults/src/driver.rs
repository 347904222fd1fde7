//! Driver-scoped faults delivered by signal: `driver-crash` (SIGKILL: the driver JVM dies) and
//! `driver-hang` (SIGSTOP: alive, silent, no progress — a driver stuck in GC or a deadlock).
//!
//! A crash is loud in every layout: the tasks lose their driver, and the job sees it. A hang is
//! the opposite: every process is still there, no query terminates, so nothing a jobs service or a
//! query monitor watches changes — the harness expects SILENT everywhere and reports the window.

use harness::fault::{Expectation, Fault, FaultCtx, Scope, Sent};
use harness::pipeline::PipelinePlan;
use harness::process::Signal;
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};
use std::sync::Mutex;

/// The query a driver fault aims at: the given one, or the last query of the pipeline's last
/// task (the resolver, inference).
pub fn target_query(fault: &str, query: &Option<String>, plan: &PipelinePlan) -> Result<String> {
    match query {
        Some(q) => plan.query(q).map(|q| q.name.clone()),
        None => plan.tasks.last().and_then(|t| t.queries.last()).cloned().ok_or_else(|| {
            HarnessError::bad_input(
                "the pipeline has no queries",
                format!("{fault} needs a query whose cluster to hit"),
            )
        }),
    }
}

/// What a report says a driver fault targets.
pub fn describe_target(query: &Option<String>) -> String {
    match query {
        Some(q) => format!("the cluster of query {q}"),
        None => "the cluster of the pipeline's last query".into(),
    }
}

/// Sends `signal` to `cluster` for `fault`; a cluster that is not running is a fault error.
pub async fn strike(ctx: &FaultCtx<'_>, fault: &str, cluster: &str, signal: Signal) -> Result<Sent> {
    ctx.signal(cluster, signal).await?.ok_or_else(|| HarnessError::Fault {
        fault: fault.into(),
        problem: format!("cluster {cluster} was not running when the fault struck"),
    })
}

/// `driver-crash`: SIGKILL to the cluster that runs the target query.
#[derive(Debug, Clone, Default)]
pub struct DriverCrash {
    /// The query whose cluster dies (None: the last query of the pipeline's last task).
    pub query: Option<String>,
}

const CRASH: &str = "driver-crash";
const HANG: &str = "driver-hang";

#[async_trait]
impl Fault for DriverCrash {
    fn name(&self) -> &'static str {
        CRASH
    }

    fn about(&self) -> &'static str {
        "the driver dies at once (SIGKILL), taking every query on its cluster"
    }

    fn target(&self) -> String {
        describe_target(&self.query)
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        target_query(CRASH, &self.query, plan).map(|_| ())
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn fits_programs(&self) -> bool {
        true
    }

    fn expectation(&self, topology: &Topology, plan: &PipelinePlan) -> Expectation {
        // Driver-scoped failures are loud in every layout; they spread only where a failed
        // task fails the run and other tasks have drivers of their own.
        match target_query(CRASH, &self.query, plan) {
            Ok(query) => Expectation::of_driver_loss(topology, plan, &query),
            Err(_) => Expectation::LoudRestarted,
        }
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = target_query(CRASH, &self.query, ctx.plan())?;
        let cluster = ctx.cluster_of(CRASH, &query)?;
        let mark = ctx.mark();
        let sent = strike(ctx, CRASH, &cluster, Signal::SIGKILL).await?;
        let death = ctx.await_cluster_exit(mark, &cluster).await?;
        if death.signal != Some(Signal::SIGKILL as i32) {
            return Err(HarnessError::Fault {
                fault: CRASH.into(),
                problem: format!("cluster {cluster} ended with signal {:?}, not the SIGKILL sent", death.signal),
            });
        }
        let error = format!("cluster {cluster} (pid {}) was killed with SIGKILL", sent.pid);
        ctx.effect(sent.at, CRASH, &query, "DriverCrashed", &error);
        Ok(())
    }

    async fn heal(&self, _ctx: &FaultCtx<'_>) -> Result<()> {
        // It struck once; the job starts a new cluster.
        Ok(())
    }
}

/// `driver-hang`: SIGSTOP to the cluster that runs the target query, SIGCONT at the heal.
#[derive(Debug, Default)]
pub struct DriverHang {
    /// The query whose cluster hangs (None: the last query of the pipeline's last task).
    pub query: Option<String>,
    stopped: Mutex<Option<String>>,
}

#[async_trait]
impl Fault for DriverHang {
    fn name(&self) -> &'static str {
        HANG
    }

    fn about(&self) -> &'static str {
        "the driver stops (SIGSTOP) until healed: alive, silent, no progress"
    }

    fn target(&self) -> String {
        describe_target(&self.query)
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        target_query(HANG, &self.query, plan).map(|_| ())
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn fits_programs(&self) -> bool {
        true
    }

    fn persists_until_healed(&self) -> bool {
        true
    }

    fn expectation(&self, _topology: &Topology, _plan: &PipelinePlan) -> Expectation {
        // No process ends and no query terminates, so nothing any layout or monitor watches
        // changes: silent everywhere, until something watches progress.
        Expectation::Silent
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = target_query(HANG, &self.query, ctx.plan())?;
        let cluster = ctx.cluster_of(HANG, &query)?;
        let sent = strike(ctx, HANG, &cluster, Signal::SIGSTOP).await?;
        *self.stopped.lock().expect("stopped") = Some(cluster.clone());
        let error = format!("cluster {cluster} (pid {}) stopped with SIGSTOP: alive, no progress", sent.pid);
        ctx.effect(sent.at, HANG, &query, "DriverHung", &error);
        Ok(())
    }

    async fn heal(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let Some(cluster) = self.stopped.lock().expect("stopped").take() else { return Ok(()) };
        // A cluster that is gone (the job replaced it) has nothing left to resume.
        ctx.signal(&cluster, Signal::SIGCONT).await.map(|_| ())
    }
}
