//! The child processes: a cluster executes queries; a task starts its queries on its cluster and
//! waits on them under an await policy. Both are the `loudfail` binary re-executed with an
//! internal subcommand, so a user's binary with its own [`Registry`] works the same way.

use crate::catalog::Catalog;
use crate::failpoint::{Failpoints, parse_action};
use crate::history::Event;
use crate::pipeline::{ErrorKind, PipelineEnv, QueryError, Registry};
use crate::proto::{Control, RunConfig, ToCluster, ToTask, decode, encode, report};
use crate::rundir::read_json;
use crate::stream::run_query;
use crate::topology::AwaitPolicy;
use std::collections::HashMap;
use std::os::linux::net::SocketAddrExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

/// Exit code of a task whose query raised.
pub const EXIT_QUERY_FAILED: i32 = 1;
/// Exit code of a process that could not start (bad configuration, unreachable cluster).
pub const EXIT_SETUP: i32 = 3;

/// Arguments of the cluster process.
#[derive(Debug, Clone)]
pub struct ClusterArgs {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Cluster name.
    pub cluster: String,
    /// Run number.
    pub run: u32,
}

/// Arguments of a task process.
#[derive(Debug, Clone)]
pub struct TaskArgs {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Task name.
    pub task: String,
    /// Its cluster.
    pub cluster: String,
    /// Run number.
    pub run: u32,
    /// Its queries in await order.
    pub queries: Vec<String>,
    /// How it awaits them.
    pub await_policy: AwaitPolicy,
}

/// The first argument of a binary started as a cluster process.
pub const CLUSTER_COMMAND: &str = "__cluster";
/// The first argument of a binary started as a task process.
pub const TASK_COMMAND: &str = "__task";

impl ClusterArgs {
    /// The command line (after the program) that starts this cluster process.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![CLUSTER_COMMAND.to_string()];
        flag(&mut a, "--run-dir", self.run_dir.display());
        flag(&mut a, "--cluster", &self.cluster);
        flag(&mut a, "--run", self.run);
        a
    }
}

impl TaskArgs {
    /// The command line (after the program) that starts this task process.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![TASK_COMMAND.to_string()];
        flag(&mut a, "--run-dir", self.run_dir.display());
        flag(&mut a, "--task", &self.task);
        flag(&mut a, "--cluster", &self.cluster);
        flag(&mut a, "--run", self.run);
        flag(&mut a, "--queries", self.queries.join(","));
        flag(&mut a, "--await", self.await_policy.name());
        a
    }
}

fn flag(args: &mut Vec<String>, name: &str, value: impl std::fmt::Display) {
    args.push(name.to_string());
    args.push(value.to_string());
}

/// What a binary was started as by the harness.
#[derive(Debug, Clone)]
pub enum Worker {
    /// A cluster process.
    Cluster(ClusterArgs),
    /// A task process.
    Task(TaskArgs),
}

impl Worker {
    /// Reads a command line (without the program name): None when it is not a worker's, an
    /// error naming the problem when it is one but does not parse.
    pub fn parse(args: &[String]) -> Option<Result<Worker, String>> {
        let (command, rest) = args.split_first()?;
        if command != CLUSTER_COMMAND && command != TASK_COMMAND {
            return None;
        }
        let parsed = (|| {
            let mut flags: HashMap<&str, &str> = HashMap::new();
            for pair in rest.chunks(2) {
                match pair {
                    [k, v] if k.starts_with("--") => {
                        flags.insert(k.as_str(), v.as_str());
                    }
                    _ => return Err(format!("{command}: expected --flag value pairs, got {pair:?}")),
                }
            }
            let get = |k: &str| flags.get(k).copied().ok_or_else(|| format!("{command}: missing {k}"));
            let run_dir = PathBuf::from(get("--run-dir")?);
            let cluster = get("--cluster")?.to_string();
            let run = get("--run")?.parse::<u32>().map_err(|e| format!("{command}: --run: {e}"))?;
            if command == CLUSTER_COMMAND {
                return Ok(Worker::Cluster(ClusterArgs { run_dir, cluster, run }));
            }
            Ok(Worker::Task(TaskArgs {
                run_dir,
                task: get("--task")?.to_string(),
                cluster,
                run,
                queries: get("--queries")?.split(',').filter(|q| !q.is_empty()).map(String::from).collect(),
                await_policy: <AwaitPolicy as clap::ValueEnum>::from_str(get("--await")?, false)
                    .map_err(|e| format!("{command}: --await: {e}"))?,
            }))
        })();
        Some(parsed)
    }

    /// Runs the process to its end; returns its exit code.
    pub async fn run(self, registry: &Registry) -> i32 {
        match self {
            Worker::Cluster(args) => cluster_main(registry, args).await,
            Worker::Task(args) => task_main(args).await,
        }
    }
}

/// When this binary was started by the harness as a cluster or task process, serves as one and
/// returns its exit code; otherwise returns None at once. Call it first in the `main` of any
/// binary that runs scenarios, with the pipelines it knows: the harness re-executes the same
/// binary for its clusters and tasks, so a team's own binary runs its own pipelines.
///
/// ```text
/// fn main() {
///     let registry = harness::Registry::new(); // .with(Arc::new(MyPipeline))
///     if let Some(code) = harness::worker::serve_if_worker(&registry) {
///         std::process::exit(code);
///     }
///     // ... build a Scenario, run it, print its report ...
/// }
/// ```
pub fn serve_if_worker(registry: &Registry) -> Option<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let worker = match Worker::parse(&args)? {
        Ok(w) => w,
        Err(e) => {
            eprintln!("loudfail worker: {e}");
            return Some(EXIT_SETUP);
        }
    };
    crate::entry::quiet_designed_panics();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loudfail worker: cannot start the async runtime: {e}");
            return Some(EXIT_SETUP);
        }
    };
    let code = rt.block_on(worker.run(registry));
    // What the process had to do is done; the exit is not held up waiting for the runtime's
    // threads (a blocking read still going, a connection's background task) to wind down: the
    // harness and the orchestrator see a process end when it exits.
    rt.shutdown_background();
    Some(code)
}

/// The run's configuration. A process starts whether the catalog can be read or not (the
/// catalog is a service that may be down): queries resolve their tables through the catalog
/// file themselves, and fail loudly when it cannot be read. `env.catalog` is what it held when
/// the process started (empty if it could not be read then).
fn load_env(run_dir: &std::path::Path) -> Result<PipelineEnv, String> {
    let config: RunConfig = read_json(&run_dir.join("run.json")).map_err(|e| e.to_string())?;
    let catalog = Catalog::load(&run_dir.join("catalog.json")).unwrap_or_default();
    Ok(PipelineEnv { config, catalog })
}

fn abstract_addr(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

/// The cluster process. Returns its exit code.
pub async fn cluster_main(registry: &Registry, args: ClusterArgs) -> i32 {
    match cluster(registry, args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("loudfail cluster: {e}");
            EXIT_SETUP
        }
    }
}

async fn cluster(registry: &Registry, args: ClusterArgs) -> Result<(), String> {
    let env = Arc::new(load_env(&args.run_dir)?);
    let pipeline = registry.get(&env.config.pipeline).map_err(|e| e.to_string())?;
    let plan = Arc::new(pipeline.plan(&env.config.run_id, &env.config.options).map_err(|e| e.to_string())?);
    let failpoints = Failpoints::from_env()?;
    let socket = crate::proto::cluster_socket(&env.config.run_id, &args.cluster, args.run);
    let std_listener = std::os::unix::net::UnixListener::bind_addr(&abstract_addr(&socket).map_err(|e| e.to_string())?)
        .map_err(|e| format!("cannot listen on {socket}: {e}"))?;
    std_listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let listener = UnixListener::from_std(std_listener).map_err(|e| e.to_string())?;
    report(Event::ClusterReady { cluster: args.cluster.clone(), run: args.run });

    let mut control = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = control.next_line() => match line {
                // The harness closed our stdin (or died): a cluster never outlives its harness.
                Ok(None) | Err(_) => return Ok(()),
                Ok(Some(line)) => match decode::<Control>(&line, "control message") {
                    Ok(Control::Arm { name, action }) => match parse_action(&action) {
                        Ok(armed) => failpoints.arm(&name, armed),
                        Err(e) => eprintln!("loudfail cluster: {e}"),
                    },
                    Ok(Control::Release { name }) => failpoints.release(&name),
                    Err(e) => eprintln!("loudfail cluster: {e}"),
                },
            },
            conn = listener.accept() => {
                let (stream, _) = conn.map_err(|e| e.to_string())?;
                let ctx = ConnCtx { registry: registry.clone(), env: env.clone(), plan: plan.clone(), failpoints: failpoints.clone(), cluster: args.cluster.clone(), run: args.run };
                tokio::spawn(serve_task(stream, ctx));
            }
        }
    }
}

struct ConnCtx {
    registry: Registry,
    env: Arc<PipelineEnv>,
    plan: Arc<crate::pipeline::PipelinePlan>,
    failpoints: Failpoints,
    cluster: String,
    run: u32,
}

/// Serves one task: starts its queries, tells it when one ends, and stops them all when the
/// task goes away (as a notebook's queries stop with its REPL).
async fn serve_task(stream: UnixStream, ctx: ConnCtx) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut running: JoinSet<(String, Result<(), QueryError>)> = JoinSet::new();
    let mut names: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    let Ok(ToCluster::Start { query, task: _ }) = decode::<ToCluster>(&line, "task message") else { continue };
                    let reply = match start_query(&ctx, &query, &mut running) {
                        Ok(id) => {
                            names.insert(id, query.clone());
                            report(Event::QueryStarted { cluster: ctx.cluster.clone(), query: query.clone(), run: ctx.run });
                            ToTask::Started { query }
                        }
                        Err(e) => {
                            report(Event::QueryTerminated { query: query.clone(), error: Some(e.message.clone()), error_kind: Some(e.kind.clone()), pending: None });
                            ToTask::Terminated { query, error: Some(e.message), error_kind: Some(e.kind) }
                        }
                    };
                    if write.write_all(&encode(&reply)).await.is_err() { break; }
                }
                _ => break,
            },
            Some(done) = running.join_next_with_id() => {
                let (query, result) = match done {
                    Ok((_, (q, r))) => (q, r),
                    Err(e) => {
                        let q = names.get(&e.id()).cloned().unwrap_or_default();
                        let msg = if e.is_panic() {
                            format!("query {q} panicked: {}", crate::error::panic_message(e.into_panic().as_ref()))
                        } else {
                            format!("query {q} was cancelled")
                        };
                        (q, Err(QueryError::new(ErrorKind::Panic, msg)))
                    }
                };
                let (error, error_kind, pending) = match result {
                    Ok(()) => (None, None, None),
                    Err(e) => (Some(e.message), Some(e.kind), e.pending),
                };
                report(Event::QueryTerminated { query: query.clone(), error: error.clone(), error_kind: error_kind.clone(), pending });
                if write.write_all(&encode(&ToTask::Terminated { query, error, error_kind })).await.is_err() { break; }
            }
        }
    }
    running.abort_all();
    while let Some(done) = running.join_next_with_id().await {
        let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        if let Some(q) = names.get(&id) {
            report(Event::QueryTerminated { query: q.clone(), error: None, error_kind: None, pending: None });
        }
    }
}

fn start_query(
    ctx: &ConnCtx,
    query: &str,
    running: &mut JoinSet<(String, Result<(), QueryError>)>,
) -> Result<tokio::task::Id, QueryError> {
    let spec = ctx.plan.query(query)?.clone();
    let pipeline = ctx.registry.get(&ctx.env.config.pipeline)?;
    let logic = pipeline.query(&spec, &ctx.env)?;
    let (env, fp) = (ctx.env.clone(), ctx.failpoints.clone());
    let create = ctx.plan.table(&spec.sink).cloned();
    let handle = running.spawn(async move {
        let r = run_query(&spec, logic, &env, create.as_ref(), &fp).await;
        (spec.name.clone(), r)
    });
    Ok(handle.id())
}

/// The task process. Returns its exit code.
pub async fn task_main(args: TaskArgs) -> i32 {
    let fail = |error: String| {
        report(Event::TaskFailed { task: args.task.clone(), error: error.clone() });
        eprintln!("loudfail task {}: {error}", args.task);
    };
    let env = match load_env(&args.run_dir) {
        Ok(env) => env,
        Err(e) => {
            fail(e);
            return EXIT_SETUP;
        }
    };
    let socket = crate::proto::cluster_socket(&env.config.run_id, &args.cluster, args.run);
    let stream = match abstract_addr(&socket)
        .and_then(|a| std::os::unix::net::UnixStream::connect_addr(&a))
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .and_then(UnixStream::from_std)
    {
        Ok(s) => s,
        Err(e) => {
            fail(format!("cannot reach cluster {} at {socket}: {e}", args.cluster));
            return EXIT_SETUP;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    for q in &args.queries {
        if write.write_all(&encode(&ToCluster::Start { query: q.clone(), task: args.task.clone() })).await.is_err() {
            fail(format!("lost the cluster {} while starting {q}", args.cluster));
            return EXIT_QUERY_FAILED;
        }
    }
    // What has ended so far: query -> error.
    let mut ended: HashMap<String, Option<String>> = HashMap::new();
    let mut next = async || -> Option<ToTask> {
        let line = lines.next_line().await.ok()??;
        decode::<ToTask>(&line, "cluster message").ok()
    };
    let lost = |cluster: &str| {
        report(Event::DriverLost { task: args.task.clone(), cluster: cluster.to_string() });
        format!("lost the connection to cluster {cluster} (the driver is gone)")
    };
    match args.await_policy {
        AwaitPolicy::Each => {
            for q in &args.queries {
                report(Event::TaskAwaiting { task: args.task.clone(), query: q.clone() });
                while !ended.contains_key(q) {
                    match next().await {
                        Some(ToTask::Terminated { query, error, .. }) => {
                            ended.insert(query, error);
                        }
                        Some(ToTask::Started { .. }) => {}
                        None => {
                            fail(lost(&args.cluster));
                            return EXIT_QUERY_FAILED;
                        }
                    }
                }
                if let Some(Some(error)) = ended.get(q) {
                    fail(format!("StreamingQueryException: query {q} terminated with exception: {error}"));
                    return EXIT_QUERY_FAILED;
                }
            }
            0
        }
        AwaitPolicy::Any => {
            report(Event::TaskAwaiting { task: args.task.clone(), query: "*".into() });
            loop {
                match next().await {
                    Some(ToTask::Terminated { query, error: Some(error), .. }) => {
                        fail(format!("StreamingQueryException: query {query} terminated with exception: {error}"));
                        return EXIT_QUERY_FAILED;
                    }
                    Some(ToTask::Terminated { .. }) => return 0,
                    Some(ToTask::Started { .. }) => {}
                    None => {
                        fail(lost(&args.cluster));
                        return EXIT_QUERY_FAILED;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_command_lines_round_trip_and_bad_ones_are_named() {
        let task = TaskArgs {
            run_dir: "/tmp/run dir".into(),
            task: "alerts".into(),
            cluster: "shared".into(),
            run: 3,
            queries: vec!["a".into(), "b".into()],
            await_policy: AwaitPolicy::Each,
        };
        let Some(Ok(Worker::Task(back))) = Worker::parse(&task.to_args()) else { panic!("task args do not parse") };
        assert_eq!(
            (back.run_dir, back.task, back.cluster, back.run, back.queries, back.await_policy),
            (task.run_dir, task.task, task.cluster, task.run, task.queries, task.await_policy)
        );
        let cluster = ClusterArgs { run_dir: "/r".into(), cluster: "driver".into(), run: 1 };
        assert!(matches!(Worker::parse(&cluster.to_args()), Some(Ok(Worker::Cluster(c))) if c.cluster == "driver"));
        assert!(Worker::parse(&["run".into()]).is_none());
        let missing = Worker::parse(&[CLUSTER_COMMAND.into(), "--run".into(), "1".into()]).unwrap().unwrap_err();
        assert!(missing.contains("missing --run-dir"), "{missing}");
    }
}
