//! Driver-scoped faults delivered by signal, one combinator ([`DriverSignal`]) for every signal:
//! `driver-crash` (SIGKILL: the driver JVM dies) and `driver-hang` (SIGSTOP: alive, silent, no
//! progress — a driver stuck in GC or a deadlock).
//!
//! A crash is loud in every layout: the tasks lose their driver, and the job sees it. A hang is
//! the opposite: every process is still there, no query terminates, so nothing a jobs service or a
//! query monitor watches changes — the harness expects SILENT everywhere and reports the window.

use harness::fault::{ErrorKind, Expect, Expectation, Fault, FaultCtx, FaultInfo, Heal, Scope};
use harness::process::Signal;
use harness::{Result, async_trait};

/// A signal to the cluster (a program's driver) that runs the pipeline's last query (aim it
/// elsewhere with [`harness::fault::Aimed`]). A signal that
/// stops the process (SIGSTOP, SIGTSTP) takes effect at once and is healed by SIGCONT; one that
/// ends it takes effect when the cluster died of it, and the job must start a new one.
#[derive(Debug, Clone)]
pub struct DriverSignal {
    info: FaultInfo,
    signal: Signal,
}

const DRIVER: FaultInfo = FaultInfo::new("", "").strikes("the cluster of").scope(Scope::Cluster).fits_programs();

impl DriverSignal {
    /// `signal` to the cluster of the pipeline's last query, as the fault `info` says.
    pub fn new(info: FaultInfo, signal: Signal) -> Self {
        DriverSignal { info, signal }
    }

    /// `driver-crash`: SIGKILL. Loud in every layout; it spreads only where a failed task fails
    /// the run and other tasks have drivers of their own.
    pub fn crash() -> Self {
        let about = "the driver dies at once (SIGKILL), taking every query on its cluster";
        Self::new(FaultInfo { name: "driver-crash", about, ..DRIVER }.expect(Expect::DriverLoss), Signal::SIGKILL)
    }

    /// `driver-hang`: SIGSTOP until healed. No process ends and no query terminates, so nothing
    /// any layout or monitor watches changes: silent everywhere, until something watches progress.
    pub fn hang() -> Self {
        let about = "the driver stops (SIGSTOP) until healed: alive, silent, no progress";
        let info = FaultInfo { name: "driver-hang", about, ..DRIVER };
        Self::new(info.persists_until_healed().expect(Expect::Always(Expectation::Silent)), Signal::SIGSTOP)
    }

    fn stops(&self) -> bool {
        matches!(self.signal, Signal::SIGSTOP | Signal::SIGTSTP)
    }
}

#[async_trait]
impl Fault for DriverSignal {
    fn info(&self) -> FaultInfo {
        self.info
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, cluster, mark) = (ctx.query()?, ctx.cluster()?, ctx.mark());
        let sent = ctx.strike(&cluster, self.signal).await?;
        let signal = self.signal;
        if self.stops() {
            let error = format!("cluster {cluster} (pid {}) stopped with {signal}: alive, no progress", sent.pid);
            ctx.effect(sent.at, &query, ErrorKind::DriverHung, &error);
            return Ok(Heal::signal(cluster, Signal::SIGCONT));
        }
        let death = ctx.await_cluster_exit(mark, &cluster).await?;
        if death.signal != Some(signal as i32) {
            let ended = death.signal.map_or("no signal".into(), |s| format!("signal {s}"));
            return Err(ctx.fail(format!("cluster {cluster} ended with {ended}, not the {signal} sent")));
        }
        ctx.effect(
            sent.at,
            &query,
            ErrorKind::DriverCrashed,
            &format!("cluster {cluster} (pid {}) was killed with {signal}", sent.pid),
        );
        Ok(Heal::nothing())
    }
}
