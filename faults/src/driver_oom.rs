//! `driver-oom`: the cluster runs under a memory limit and a query's state grows past it, so the
//! driver is really killed — by the kernel's OOM killer (SIGKILL) inside a memory cgroup, or by a
//! failed allocation (SIGABRT) under `RLIMIT_AS` where no cgroup can be made. A driver-scoped
//! failure: loud by nature, and it takes every query on that cluster with it.
//!
//! The growth is the failpoint `<query>.batch` armed with `1*alloc(MiB)`: at its next batch the
//! query allocates and touches twice the limit.
//!
//! A program cannot be made to grow from inside. Its driver (its task, or the shared cluster its
//! task is a client of) runs in a memory cgroup of its own. The fault lowers that cgroup's limit
//! to just above what the driver cannot do without: the lowest limit the kernel accepts after
//! reclaiming, plus 1 MiB (cgroup v1 refuses a limit below the charge it cannot reclaim, EBUSY,
//! and never kills for it). Then 16 MiB grow in the cgroup (a [`harness::memlimit::Balloon`]),
//! and the kernel kills the largest process there. Waiting for the driver's own next allocation
//! is not enough: a JVM reuses the heap it has committed, and a Spark Connect server ran 60 s at
//! its squeezed limit without one.

use harness::fault::{ErrorKind, Expect, Fault, FaultCtx, FaultInfo, Heal, Scope};
use harness::memlimit::{Mechanism, MemoryLimit};
use harness::pipeline::PipelinePlan;
use harness::{HarnessError, Result, async_trait};

/// The fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriverOom;

// Driver-scoped failures are loud in every layout; they spread only where a failed task fails
// the run and other tasks have drivers of their own.
const INFO: FaultInfo =
    FaultInfo::new("driver-oom", "a query's state grows past its cluster's memory limit; the kernel kills the driver")
        .strikes("the cluster of")
        .scope(Scope::Cluster)
        .fits_programs()
        .expect(Expect::DriverLoss);

/// The limit that fits the mechanism: a cgroup limits the memory charged to the cluster (its
/// own pages, about 20 MiB at its peak in the reference pipelines; the binary's pages are shared
/// and charged to whoever read them first), `RLIMIT_AS` limits address space (a cluster maps
/// about 1.2 GB of it).
fn limit() -> u64 {
    match MemoryLimit::new(1).mechanism {
        Mechanism::Cgroup => 128 << 20,
        Mechanism::RlimitAs => 2 << 30,
    }
}

fn no_cgroup() -> HarnessError {
    HarnessError::bad_input(
        "driver-oom on a program needs a memory cgroup of its task's own, and this machine offers none",
        "run where loudfail may create memory cgroups (cgroup v1 memory controller), or choose another fault",
    )
}

#[async_trait]
impl Fault for DriverOom {
    fn info(&self) -> FaultInfo {
        INFO
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        self.query(plan)?;
        if plan.is_program() && MemoryLimit::watch().is_none() {
            return Err(no_cgroup());
        }
        Ok(())
    }

    fn cluster_memory(&self) -> Option<u64> {
        Some(limit())
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let query = ctx.query()?;
        if let Some(driver) = ctx.program_driver_of(&query) {
            squeeze(ctx, &query, &driver).await?;
            return Ok(Heal::nothing());
        }
        let (cluster, mark) = (ctx.cluster()?, ctx.mark());
        let grow_mib = (limit() >> 20) * 2;
        ctx.arm(&query, &format!("{query}.batch"), &format!("1*alloc({grow_mib})")).await?;
        let death = await_kill(ctx, mark, &cluster, &format!("{query}'s growth past its limit")).await?;
        let kind = match death.out_of_memory {
            Some(Mechanism::Cgroup) => ErrorKind::OOMKilled,
            Some(Mechanism::RlimitAs) => ErrorKind::AllocationFailed,
            None => return Err(not_for_memory(ctx, &cluster, death.signal)),
        };
        let signal = death.signal.unwrap_or(0);
        let error =
            format!("cluster {cluster} ran out of memory while {query} grew by {grow_mib} MiB (signal {signal})");
        ctx.effect(death.at, &query, kind, &error);
        // The failpoint fired once; a new cluster starts with none armed.
        Ok(Heal::nothing())
    }
}

/// Awaits the kernel's kill of `process` after `mark`, for `what` grew past its limit.
async fn await_kill(
    ctx: &FaultCtx<'_>,
    mark: usize,
    process: &str,
    what: &str,
) -> Result<harness::fault::ClusterDeath> {
    ctx.await_cluster_exit_within(mark, process, KILL_TIMEOUT).await.map_err(|e| match e {
        HarnessError::Timeout { .. } => ctx.fail(format!(
            "{process} was not killed within {} s of {what}: the kernel kept reclaiming instead (on a busy disk a \
             cgroup v1 reclaim may wait long for writeback)",
            KILL_TIMEOUT.as_secs()
        )),
        e => e,
    })
}

fn not_for_memory(ctx: &FaultCtx<'_>, process: &str, signal: Option<i32>) -> HarnessError {
    ctx.fail(format!("{process} ended (signal {signal:?}) but not for lack of memory"))
}

/// How long the kernel gets to kill a cluster that outgrew its limit. Usually well under a
/// second, but once, in the first run after a build, the cluster sat at its limit for over 10 s
/// unkilled (not reproduced since; likely a cgroup v1 reclaim waiting for pages under writeback
/// on a busy disk before it gives up).
const KILL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How far above what a program holds its limit is squeezed to.
const MARGIN: u64 = 1 << 20;

/// What grows in a program's driver once its limit is squeezed: well past the margin.
const GROWTH: u64 = 16 << 20;

/// A program cannot be made to grow from inside, and a JVM may never allocate past what it has
/// committed. So its driver's cgroup (its task's, or the shared cluster's it is a client of) is
/// squeezed to just above what it is charged, and then something in it grows: a balloon of
/// [`GROWTH`] charged there, as a query's state or a neighbour's `collect()` would grow on a real
/// driver. The kernel kills the largest process in the cgroup (the JVM, the Python driver),
/// never the balloon.
async fn squeeze(ctx: &FaultCtx<'_>, query: &str, task: &str) -> Result<()> {
    let pid = ctx.pid(task).await?.ok_or_else(|| ctx.fail(format!("driver {task} was not running")))?;
    let cgroup = harness::memlimit::cgroup_of(pid).ok_or_else(no_cgroup)?;
    let (charged, anonymous) = harness::memlimit::charge(&cgroup).unwrap_or_default();
    let mark = ctx.mark();
    let limit = harness::memlimit::squeeze(&cgroup, MARGIN)?;
    ctx.record(harness::Event::Phase {
        name: format!(
            "driver-oom: driver {task}'s memory limit lowered to {} MiB (charged {} MiB, {} MiB of it anonymous); {} MiB grow in it",
            limit >> 20,
            charged >> 20,
            anonymous >> 20,
            GROWTH >> 20
        ),
    });
    // Held until the driver's death is seen; the program's cgroup is emptied when it exits.
    let _growth = ctx.balloon(&cgroup, GROWTH)?;
    let what = format!("{} MiB growing past its limit of {} MiB", GROWTH >> 20, limit >> 20);
    let death = await_kill(ctx, mark, task, &what).await?;
    if death.out_of_memory.is_none() {
        return Err(not_for_memory(ctx, &format!("driver {task}"), death.signal));
    }
    let error = format!("driver {task} was OOM-killed past its squeezed limit of {} MiB", limit >> 20);
    ctx.effect(death.at, query, ErrorKind::OOMKilled, &error);
    Ok(())
}
