//! `driver-oom`: the cluster runs under a memory limit and a query's state grows past it, so the
//! driver is really killed — by the kernel's OOM killer (SIGKILL) inside a memory cgroup, or by a
//! failed allocation (SIGABRT) under `RLIMIT_AS` where no cgroup can be made. A driver-scoped
//! failure: loud by nature, and it takes every query on that cluster with it.
//!
//! The growth is the failpoint `<query>.batch` armed with `1*alloc(MiB)`: at its next batch the
//! query allocates and touches twice the limit.

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
        plan.query(&self.query(plan)?).map(|_| ())
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn cluster_memory(&self) -> Option<u64> {
        Some(Self::limit())
    }

    fn expectation(&self, _topology: &Topology, _plan: &PipelinePlan) -> Expectation {
        // Driver-scoped failures are loud in every layout.
        Expectation::LoudRestarted
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<()> {
        let query = self.query(ctx.plan())?;
        let cluster = ctx.cluster_of(NAME, &query)?;
        let mark = ctx.mark();
        let grow_mib = (Self::limit() >> 20) * 2;
        ctx.arm(&query, &format!("{query}.batch"), &format!("1*alloc({grow_mib})")).await?;
        let death = ctx.await_cluster_exit(mark, &cluster).await?;
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
