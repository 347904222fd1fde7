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

use harness::fault::{Expectation, Fault, FaultCtx, Scope};
use harness::memlimit::{Mechanism, MemoryLimit};
use harness::pipeline::PipelinePlan;
use harness::topology::Topology;
use harness::{HarnessError, Result, async_trait};

/// The fault.
#[derive(Debug, Clone)]
pub struct DriverOom {
    /// The query whose state grows (None: the last query of the pipeline's last task).
    pub query: Option<String>,
}

const NAME: &str = "driver-oom";

impl DriverOom {
    fn query(&self, plan: &PipelinePlan) -> Result<String> {
        crate::driver::target_query(NAME, &self.query, plan)
    }

    /// The limit that fits the mechanism: a cgroup limits the memory charged to the cluster (its
    /// own pages, about 20 MiB at its peak in the reference pipelines; the binary's pages are
    /// shared and charged to whoever read them first), `RLIMIT_AS` limits address space (a
    /// cluster maps about 1.2 GB of it).
    fn limit() -> u64 {
        match MemoryLimit::new(1).mechanism {
            Mechanism::Cgroup => 128 << 20,
            Mechanism::RlimitAs => 2 << 30,
        }
    }
}

#[async_trait]
impl Fault for DriverOom {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "a query's state grows past its cluster's memory limit; the kernel kills the driver"
    }

    fn target(&self) -> String {
        crate::driver::describe_target(&self.query)
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        plan.query(&self.query(plan)?)?;
        if plan.is_program() && harness::memlimit::MemoryLimit::watch().is_none() {
            return Err(HarnessError::bad_input(
                format!("{NAME} on a program needs a memory cgroup of its task's own, and this machine offers none"),
                "run where loudfail may create memory cgroups (cgroup v1 memory controller), or choose another fault",
            ));
        }
        Ok(())
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn cluster_memory(&self) -> Option<u64> {
        Some(Self::limit())
    }

    fn fits_programs(&self) -> bool {
        true
    }

    fn expectation(&self, topology: &Topology, plan: &PipelinePlan) -> Expectation {
        // Driver-scoped failures are loud in every layout; they spread only where a failed
        // task fails the run and other tasks have drivers of their own.
        match self.query(plan) {
            Ok(query) => Expectation::of_driver_loss(topology, plan, &query),
            Err(_) => Expectation::LoudRestarted,
        }
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = self.query(ctx.plan())?;
        if let Some(driver) = ctx.program_driver_of(&query) {
            return squeeze(ctx, &query, &driver).await;
        }
        let cluster = ctx.cluster_of(NAME, &query)?;
        let mark = ctx.mark();
        let grow_mib = (Self::limit() >> 20) * 2;
        ctx.arm(&query, &format!("{query}.batch"), &format!("1*alloc({grow_mib})")).await?;
        let death = ctx.await_cluster_exit_within(mark, &cluster, KILL_TIMEOUT).await.map_err(|e| match e {
            HarnessError::Timeout { .. } => HarnessError::Fault {
                fault: NAME.into(),
                problem: format!(
                    "cluster {cluster} was not killed within {} s of {query}'s growth past its limit: the kernel \
                     kept reclaiming instead (on a busy disk a cgroup v1 reclaim may wait long for writeback)",
                    KILL_TIMEOUT.as_secs()
                ),
            },
            e => e,
        })?;
        let (at, signal) = (death.at, death.signal);
        let kind = match death.out_of_memory {
            Some(Mechanism::Cgroup) => "OOMKilled",
            Some(Mechanism::RlimitAs) => "AllocationFailed",
            None => {
                return Err(HarnessError::Fault {
                    fault: NAME.into(),
                    problem: format!("cluster {cluster} ended (signal {signal:?}) but not for lack of memory"),
                });
            }
        };
        let error = format!(
            "cluster {cluster} ran out of memory while {query} grew by {grow_mib} MiB (signal {})",
            signal.unwrap_or(0)
        );
        ctx.effect(at, NAME, &query, kind, &error);
        Ok(())
    }

    async fn heal(&self, _ctx: &FaultCtx<'_>) -> Result<()> {
        // The failpoint fired once; a new cluster starts with none armed.
        Ok(())
    }
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
    let fail = |problem: String| HarnessError::Fault { fault: NAME.into(), problem };
    let pid = ctx.pid(task).await?.ok_or_else(|| fail(format!("driver {task} was not running")))?;
    let cgroup = harness::memlimit::cgroup_of(pid).ok_or_else(|| {
        HarnessError::bad_input(
            format!("{NAME} on a program needs a memory cgroup of its task's own, and this machine offers none"),
            "run where loudfail may create memory cgroups (cgroup v1 memory controller), or choose another fault",
        )
    })?;
    let (charged, anonymous) = harness::memlimit::charge(&cgroup).unwrap_or_default();
    let mark = ctx.mark();
    let limit = harness::memlimit::squeeze(&cgroup, MARGIN)?;
    ctx.record(harness::Event::Phase {
        name: format!(
            "{NAME}: driver {task}'s memory limit lowered to {} MiB (charged {} MiB, {} MiB of it anonymous); {} MiB grow in it",
            limit >> 20,
            charged >> 20,
            anonymous >> 20,
            GROWTH >> 20
        ),
    });
    // Held until the driver's death is seen; the program's cgroup is emptied when it exits.
    let _growth = ctx.balloon(&cgroup, GROWTH)?;
    let death = ctx.await_cluster_exit_within(mark, task, KILL_TIMEOUT).await.map_err(|e| match e {
        HarnessError::Timeout { .. } => fail(format!(
            "driver {task} was not killed within {} s of {} MiB growing past its limit of {} MiB: the kernel \
             kept reclaiming instead (on a busy disk a cgroup v1 reclaim may wait long for writeback)",
            KILL_TIMEOUT.as_secs(),
            GROWTH >> 20,
            limit >> 20
        )),
        other => other,
    })?;
    match death.out_of_memory {
        Some(_) => {
            let error = format!("driver {task} was OOM-killed past its squeezed limit of {} MiB", limit >> 20);
            ctx.effect(death.at, NAME, query, "OOMKilled", &error);
            Ok(())
        }
        None => Err(fail(format!("driver {task} ended (signal {:?}) but not for lack of memory", death.signal))),
    }
}
