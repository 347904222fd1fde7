//! Topologies: how a pipeline's queries are laid out on tasks (OS processes awaiting queries)
//! and clusters (OS processes executing them).

use crate::error::{HarnessError, Result};
use crate::pipeline::PipelinePlan;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a task waits on its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwaitPolicy {
    /// `q.awaitTermination()` for each query in order: a later query's death goes unnoticed
    /// while an earlier one runs (incident 1).
    Each,
    /// `awaitAnyTermination()`: the first query to die fails the task (the band-aid).
    Any,
}

impl AwaitPolicy {
    /// Parses `each` or `any`.
    pub fn parse(s: &str) -> Result<AwaitPolicy> {
        match s {
            "each" => Ok(AwaitPolicy::Each),
            "any" => Ok(AwaitPolicy::Any),
            other => Err(HarnessError::bad_input(
                format!("unknown await policy {other:?}"),
                "use --await each or --await any",
            )),
        }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            AwaitPolicy::Each => "each",
            AwaitPolicy::Any => "any",
        }
    }
}

/// The layouts of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TopologyKind {
    /// One cluster, one task running every query.
    MultiQuery,
}

impl TopologyKind {
    /// Every topology, by name.
    pub const ALL: &'static [(&'static str, TopologyKind)] = &[("multi-query", TopologyKind::MultiQuery)];

    /// Parses a topology name.
    pub fn parse(s: &str) -> Result<TopologyKind> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, k)| *k).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|(n, _)| *n).collect();
            HarnessError::bad_input(format!("unknown topology {s:?}"), format!("choose one of: {}", names.join(", ")))
        })
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| k == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// A topology with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Topology {
    /// The layout.
    pub kind: TopologyKind,
    /// How tasks await their queries.
    pub await_policy: AwaitPolicy,
    /// Retries of each task before the run fails.
    pub max_retries: u32,
}

impl Topology {
    /// multi-query with an await policy and no task retries.
    pub fn multi_query(await_policy: AwaitPolicy) -> Topology {
        Topology { kind: TopologyKind::MultiQuery, await_policy, max_retries: 0 }
    }

    /// The job the supervisor runs for a pipeline in this topology.
    pub fn job(&self, plan: &PipelinePlan) -> JobSpec {
        match self.kind {
            TopologyKind::MultiQuery => JobSpec {
                clusters: vec![ClusterSpec { name: "driver".into() }],
                tasks: vec![TaskSpec {
                    name: "main".into(),
                    cluster: "driver".into(),
                    queries: plan.tasks.iter().flat_map(|t| t.queries.clone()).collect(),
                    await_policy: self.await_policy,
                    max_retries: self.max_retries,
                }],
            },
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (await {})", self.kind.name(), self.await_policy.name())
    }
}

/// A cluster of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Its name.
    pub name: String,
}

/// A task of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Its name.
    pub name: String,
    /// The cluster it attaches to.
    pub cluster: String,
    /// Its queries, in await order.
    pub queries: Vec<String>,
    /// How it awaits them.
    pub await_policy: AwaitPolicy,
    /// Retries before the run fails.
    pub max_retries: u32,
}

/// What the supervisor runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Clusters, started first.
    pub clusters: Vec<ClusterSpec>,
    /// Tasks.
    pub tasks: Vec<TaskSpec>,
}

impl JobSpec {
    /// The clusters a query executes on.
    pub fn clusters_of(&self, query: &str) -> Vec<String> {
        let mut out: Vec<String> =
            self.tasks.iter().filter(|t| t.queries.iter().any(|q| q == query)).map(|t| t.cluster.clone()).collect();
        out.dedup();
        out
    }
}
