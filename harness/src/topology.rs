//! Topologies: how a pipeline's queries are laid out on tasks (OS processes awaiting queries)
//! and clusters (OS processes executing them).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// How a task waits on its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AwaitPolicy {
    /// `q.awaitTermination()` for each query in order: a later query's death goes unnoticed
    /// while an earlier one runs (incident 1).
    Each,
    /// `awaitAnyTermination()`: the first query to die fails the task (the band-aid).
    Any,
}

impl AwaitPolicy {
    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            AwaitPolicy::Each => "each",
            AwaitPolicy::Any => "any",
        }
    }
}

/// The layouts of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TopologyKind {
    /// One cluster, one task running every query.
    MultiQuery,
    /// One cluster, the pipeline's tasks as separate processes attached to it.
    SharedCluster,
    /// Every task on a cluster of its own.
    ClusterPerTask,
}

impl TopologyKind {
    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            TopologyKind::MultiQuery => "multi-query",
            TopologyKind::SharedCluster => "shared-cluster",
            TopologyKind::ClusterPerTask => "cluster-per-task",
        }
    }

    /// Task retries Databricks users give this layout: none for the single notebook, three
    /// (then the whole job restarts) for multi-task jobs.
    pub fn default_retries(&self) -> u32 {
        match self {
            TopologyKind::MultiQuery => 0,
            TopologyKind::SharedCluster | TopologyKind::ClusterPerTask => 3,
        }
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
    /// The job watches every query and fails the task that started a query which terminates
    /// with an error (what Databricks documents that jobs do).
    #[serde(default)]
    pub monitor_queries: bool,
}

impl Topology {
    /// A layout with its default retries, awaiting `await_policy`, not monitoring queries.
    pub fn new(kind: TopologyKind, await_policy: AwaitPolicy) -> Topology {
        Topology { kind, await_policy, max_retries: kind.default_retries(), monitor_queries: false }
    }

    /// multi-query with an await policy and no task retries.
    pub fn multi_query(await_policy: AwaitPolicy) -> Topology {
        Topology::new(TopologyKind::MultiQuery, await_policy)
    }

    /// shared-cluster with an await policy and its default retries.
    pub fn shared_cluster(await_policy: AwaitPolicy) -> Topology {
        Topology::new(TopologyKind::SharedCluster, await_policy)
    }

    /// cluster-per-task with an await policy and its default retries.
    pub fn cluster_per_task(await_policy: AwaitPolicy) -> Topology {
        Topology::new(TopologyKind::ClusterPerTask, await_policy)
    }

    /// The same topology with the job monitoring every query.
    pub fn monitored(mut self) -> Topology {
        self.monitor_queries = true;
        self
    }

    /// The job the supervisor runs for a pipeline in this topology.
    ///
    /// A program pipeline runs as its spec lays it out: each task a process that is its own
    /// driver (its cluster bears the task's name), expected to exit non-zero on a fatal error.
    /// How it awaits its queries is its own affair: the layout's policy reaches it as `{await}`
    /// (a Spark job awaiting `each` or `any`). Under `cluster-per-task` a task past its retries fails alone; under
    /// `multi-query` it fails the run. Under `shared-cluster` the spec's `[cluster]` (a Spark
    /// Connect server) is the cluster every task attaches to, as its client. Its commands are
    /// filled in when the run has its addresses.
    pub fn job(&self, tasks: &[TaskPlan], drivers: Drivers) -> JobSpec {
        if let Drivers::Programs { cluster } = drivers {
            let shared = self.kind == TopologyKind::SharedCluster && cluster;
            return JobSpec {
                clusters: if shared { vec![ClusterSpec::named("shared")] } else { Vec::new() },
                tasks: tasks
                    .iter()
                    .map(|t| TaskSpec {
                        name: t.name.clone(),
                        cluster: if shared { "shared".into() } else { t.name.clone() },
                        queries: t.queries.clone(),
                        await_policy: self.await_policy,
                        max_retries: self.max_retries,
                        depends_on: t.depends_on.clone(),
                        program: None,
                    })
                    .collect(),
                monitor_queries: false,
                isolated_tasks: self.kind == TopologyKind::ClusterPerTask,
            };
        }
        let task = |name: &str, cluster: &str, queries: Vec<String>, depends_on: Vec<String>| TaskSpec {
            name: name.into(),
            cluster: cluster.into(),
            queries,
            await_policy: self.await_policy,
            max_retries: self.max_retries,
            depends_on,
            program: None,
        };
        let (clusters, tasks) = match self.kind {
            TopologyKind::MultiQuery => (
                vec!["driver".to_string()],
                vec![task("main", "driver", tasks.iter().flat_map(|t| t.queries.clone()).collect(), Vec::new())],
            ),
            TopologyKind::SharedCluster => (
                vec!["shared".to_string()],
                tasks.iter().map(|t| task(&t.name, "shared", t.queries.clone(), t.depends_on.clone())).collect(),
            ),
            TopologyKind::ClusterPerTask => (
                tasks.iter().map(|t| format!("cluster-{}", t.name)).collect(),
                tasks
                    .iter()
                    .map(|t| task(&t.name, &format!("cluster-{}", t.name), t.queries.clone(), t.depends_on.clone()))
                    .collect(),
            ),
        };
        JobSpec {
            clusters: clusters.into_iter().map(ClusterSpec::named).collect(),
            tasks,
            monitor_queries: self.monitor_queries,
            isolated_tasks: self.kind == TopologyKind::ClusterPerTask,
        }
    }
}

/// Who drives the tasks a topology lays out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drivers {
    /// loudfail's own engine: clusters and tasks are the binary re-executed.
    Engine,
    /// A program per task, each its own driver; `cluster` when the spec names a cluster (a Spark
    /// Connect server) that tasks can share.
    Programs {
        /// The spec has a `[cluster]`.
        cluster: bool,
    },
}

/// A task of the pipeline's natural job: which queries one process starts, in await order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPlan {
    /// The task's name.
    pub name: String,
    /// Its queries, in the order the task awaits them.
    pub queries: Vec<String>,
    /// Tasks it depends on: it starts once their queries have all started (streaming tasks
    /// never complete, so "after" means "after they are up").
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// A task's command with every placeholder filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramCommand {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub workdir: PathBuf,
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (await {}", self.kind.name(), self.await_policy.name())?;
        if self.max_retries > 0 {
            write!(f, ", {} task retries", self.max_retries)?;
        }
        if self.monitor_queries {
            write!(f, ", monitoring every query")?;
        }
        write!(f, ")")
    }
}

/// A cluster of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Its name.
    pub name: String,
    /// For a program pipeline's shared cluster: the command that starts it (its spec's
    /// `[cluster]`). None: loudfail's own cluster process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramCommand>,
    /// The loopback port a program's cluster listens on (`{cluster_port}`): it is ready once the
    /// port takes connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl ClusterSpec {
    /// loudfail's own cluster process named `name`.
    pub fn named(name: impl Into<String>) -> ClusterSpec {
        ClusterSpec { name: name.into(), program: None, port: None }
    }
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
    /// Tasks it starts after (their queries all started).
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// For a program pipeline: the command the task runs (it is its own driver). None: the
    /// task is loudfail's own task process, attached to its cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramCommand>,
}

/// What the supervisor runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Clusters, started first.
    pub clusters: Vec<ClusterSpec>,
    /// Tasks.
    pub tasks: Vec<TaskSpec>,
    /// Whether the job fails a task whose query terminates with an error.
    #[serde(default)]
    pub monitor_queries: bool,
    /// Every task has a cluster of its own: a task past its retries fails alone (its cluster is
    /// recycled and it restarts with backoff) instead of failing the whole run.
    #[serde(default)]
    pub isolated_tasks: bool,
}

impl JobSpec {
    /// The task that starts `query`.
    pub fn task_of(&self, query: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.queries.iter().any(|q| q == query))
    }

    /// The tasks attached to `cluster`.
    pub fn tasks_on(&self, cluster: &str) -> Vec<&TaskSpec> {
        self.tasks.iter().filter(|t| t.cluster == cluster).collect()
    }

    /// Whether a failure of `query` alone — its driver alive, the other queries running — ends
    /// anything a user watches: when every query is monitored, when its task awaits any query,
    /// or when it is the query its task awaits first. Otherwise the task sits in an
    /// `awaitTermination()` of another query while this one is dead: the incident.
    pub fn sees_failure_of(&self, query: &str) -> bool {
        let Some(task) = self.task_of(query) else { return false };
        self.monitor_queries
            || task.await_policy == AwaitPolicy::Any
            || task.queries.first().map(String::as_str) == Some(query)
    }

    /// The clusters a query executes on.
    pub fn clusters_of(&self, query: &str) -> Vec<String> {
        let mut out: Vec<String> =
            self.tasks.iter().filter(|t| t.queries.iter().any(|q| q == query)).map(|t| t.cluster.clone()).collect();
        out.dedup();
        out
    }
}

/// How far a fault reaches by its nature (DESIGN.md: query-scoped failures are the quiet ones,
/// driver-scoped ones are loud).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// It breaks one query; anything beyond that query's task is collateral.
    Query,
    /// It breaks a cluster; every task on that cluster is in its reach.
    Cluster,
    /// It breaks a service every task depends on (the catalog, the broker): every task is in
    /// its reach.
    All,
}

impl Scope {
    /// The tasks a fault of this scope on `query` may reach in `job`, sorted.
    pub fn reach(self, job: &JobSpec, query: &str) -> Vec<String> {
        let Some(task) = job.task_of(query) else { return Vec::new() };
        let mut tasks: Vec<String> = match self {
            Scope::Query => vec![task.name.clone()],
            Scope::Cluster => job.tasks_on(&task.cluster).into_iter().map(|t| t.name.clone()).collect(),
            Scope::All => job.tasks.iter().map(|t| t.name.clone()).collect(),
        };
        tasks.sort();
        tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Vec<TaskPlan> {
        vec![
            TaskPlan { name: "ingest".into(), queries: vec!["bronze".into(), "domain".into()], depends_on: vec![] },
            TaskPlan { name: "alerts".into(), queries: vec!["resolver".into()], depends_on: vec![] },
        ]
    }

    #[test]
    fn the_names_written_in_replay_lines_and_worker_arguments_are_the_ones_the_command_line_reads() {
        use clap::ValueEnum;
        for kind in TopologyKind::value_variants() {
            assert_eq!(TopologyKind::from_str(kind.name(), false), Ok(*kind));
        }
        for policy in AwaitPolicy::value_variants() {
            assert_eq!(AwaitPolicy::from_str(policy.name(), false), Ok(*policy));
        }
    }

    #[test]
    fn only_the_first_query_awaited_in_order_is_seen_to_fail() {
        let each = Topology::multi_query(AwaitPolicy::Each);
        assert!(each.job(&plan(), Drivers::Engine).sees_failure_of("bronze"));
        assert!(!each.job(&plan(), Drivers::Engine).sees_failure_of("resolver"));
        assert!(each.clone().monitored().job(&plan(), Drivers::Engine).sees_failure_of("resolver"));
        assert!(Topology::multi_query(AwaitPolicy::Any).job(&plan(), Drivers::Engine).sees_failure_of("resolver"));
        // Its own task awaits the resolver first.
        assert!(
            Topology::new(TopologyKind::SharedCluster, AwaitPolicy::Each)
                .job(&plan(), Drivers::Engine)
                .sees_failure_of("resolver")
        );
        assert!(!each.job(&plan(), Drivers::Engine).sees_failure_of("no-such-query"));
    }

    #[test]
    fn each_layout_places_tasks_on_clusters() {
        let mq = Topology::multi_query(AwaitPolicy::Each).job(&plan(), Drivers::Engine);
        assert_eq!(mq.clusters.len(), 1);
        assert_eq!(mq.tasks[0].queries, vec!["bronze", "domain", "resolver"]);
        let shared = Topology::new(TopologyKind::SharedCluster, AwaitPolicy::Any).job(&plan(), Drivers::Engine);
        assert_eq!(shared.clusters.len(), 1);
        assert_eq!(shared.tasks_on("shared").len(), 2);
        assert_eq!(shared.tasks[0].max_retries, 3);
        let cpt = Topology::new(TopologyKind::ClusterPerTask, AwaitPolicy::Any).job(&plan(), Drivers::Engine);
        assert_eq!(cpt.clusters.len(), 2);
        assert_eq!(cpt.task_of("resolver").unwrap().cluster, "cluster-alerts");
        assert_eq!(cpt.clusters_of("bronze"), vec!["cluster-ingest"]);
    }
}
