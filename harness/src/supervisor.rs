//! The supervisor: runs a continuous job the way Databricks' jobs service does, and says what
//! the system says (run and task states, as a jobs UI shows them).
//!
//! ```text
//!  run n: PENDING ─▶ clusters up ─▶ tasks started ─▶ RUNNING
//!           │                                         │ task exits non-zero
//!           │                               retries left? ── yes ─▶ task RETRYING ─(min_retry_interval)─▶ task RUNNING
//!           │                                         │ no
//!           │                                         ▼
//!           │                         task FAILED, run FAILED, everything killed
//!           │                                         │ backoff (doubles; reset after a healthy run)
//!           └──────────────────── run n+1 ◀───────────┘
//! ```
//! A cluster that dies takes its tasks with it; a task that dies leaves its cluster running.

use crate::error::{HarnessError, Result};
use crate::history::{Event, History, Role, RunState, TaskState};
use crate::process::{self, Exit, QueryFailure, Spec};
use crate::proto::{Control, encode};
use crate::rundir::RunDir;
use crate::time::{TimeScale, Timings};
use crate::topology::JobSpec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

/// What the supervisor needs.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// The binary that runs `__cluster` and `__task`.
    pub bin: PathBuf,
    /// The run directory.
    pub run_dir: RunDir,
    /// The history.
    pub history: History,
    /// The job.
    pub job: JobSpec,
    /// The time scale.
    pub scale: TimeScale,
    /// Nominal timings.
    pub timings: Timings,
    /// Extra environment for every child.
    pub env: Vec<(String, String)>,
    /// The memory limit of every cluster.
    pub cluster_memory: Option<crate::memlimit::MemoryLimit>,
    /// How long a cluster may take to be ready (a Spark Connect server: a JVM's start).
    pub start_within: Duration,
}

enum Cmd {
    Control { cluster: String, msg: Control, reply: oneshot::Sender<Result<()>> },
    Signal { process: String, signal: nix::sys::signal::Signal, reply: oneshot::Sender<Result<u32>> },
    Pid { process: String, reply: oneshot::Sender<Option<u32>> },
    OperatorRestart { reason: String },
    Stop { reply: oneshot::Sender<()> },
}

/// A handle on the running supervisor.
#[derive(Debug)]
pub struct Supervisor {
    cmds: mpsc::UnboundedSender<Cmd>,
    /// Dropped without `stop()` (a panic, a cancelled run), the job task is aborted: that drops
    /// the job, which kills every process it owns (see `Drop for Job`).
    task: AbortOnDropHandle<()>,
    bin: PathBuf,
}

impl Supervisor {
    /// Starts the job.
    pub fn start(config: SupervisorConfig) -> Supervisor {
        let (tx, rx) = mpsc::unbounded_channel();
        let bin = config.bin.clone();
        let task = tokio::spawn(Job::new(config, rx).run());
        Supervisor { cmds: tx, task: AbortOnDropHandle::new(task), bin }
    }

    /// The binary that runs the job's processes (and loudfail's helpers).
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Sends a control message to a cluster of the current run.
    pub async fn control(&self, cluster: &str, msg: Control) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.cmds.send(Cmd::Control { cluster: cluster.to_string(), msg, reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Sends a signal to a process of the current run (a cluster or a task, by name). Returns
    /// its pid.
    pub async fn signal(&self, process: &str, signal: nix::sys::signal::Signal) -> Result<u32> {
        let (reply, rx) = oneshot::channel();
        self.cmds.send(Cmd::Signal { process: process.to_string(), signal, reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// The pid of a process of the current run (a cluster or a task, by name), if it runs.
    pub async fn pid(&self, process: &str) -> Result<Option<u32>> {
        let (reply, rx) = oneshot::channel();
        self.cmds.send(Cmd::Pid { process: process.to_string(), reply }).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Restarts the job by hand: the current run is terminated and a new one starts at once.
    pub fn operator_restart(&self, reason: &str) -> Result<()> {
        self.cmds.send(Cmd::OperatorRestart { reason: reason.to_string() }).map_err(|_| gone())
    }

    /// Stops the job: every process is killed and reaped.
    pub async fn stop(self) {
        let (reply, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Stop { reply }).is_ok() {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }
}

fn gone() -> HarnessError {
    HarnessError::Process { name: "supervisor".into(), problem: "the supervisor has stopped".into() }
}

struct Live {
    role: Role,
    name: String,
    pid: u32,
    attempt: u32,
    stdin: Option<ChildStdin>,
}

enum RunEnd {
    Failed {
        healthy_for: Duration,
    },
    /// The job cannot run at all; wait to be stopped.
    Broken,
    Restarted,
    Succeeded,
    Stopped(oneshot::Sender<()>),
}

/// A run under way: its number, since when it runs, and its tasks' retries.
struct Going {
    run: u32,
    since: Instant,
    /// Retries due: when, which task, its attempt.
    retries: Vec<(Instant, String, u32)>,
    task_backoff: HashMap<String, Duration>,
    retries_used: HashMap<String, u32>,
    finished: Vec<String>,
}

struct Job {
    cfg: SupervisorConfig,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits: mpsc::UnboundedReceiver<Exit>,
    failures_tx: mpsc::UnboundedSender<QueryFailure>,
    failures: mpsc::UnboundedReceiver<QueryFailure>,
    /// The latest run a child reported a committed batch in.
    committed_run: Arc<AtomicU32>,
    live: HashMap<String, Live>,
    /// Tasks the job itself failed (a monitored query died), with the reason.
    failing: HashMap<String, String>,
}

impl Drop for Job {
    fn drop(&mut self) {
        for l in self.live.values() {
            let _ = process::signal(l.pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Job {
    /// Whether `cluster` runs loudfail's engine (not a program's shared cluster).
    fn is_engine_cluster(&self, cluster: &str) -> bool {
        self.cfg.job.clusters.iter().any(|c| c.name == cluster && c.program.is_none())
    }

    fn new(cfg: SupervisorConfig, cmds: mpsc::UnboundedReceiver<Cmd>) -> Job {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        let (failures_tx, failures) = mpsc::unbounded_channel();
        Job {
            cfg,
            cmds,
            exits_tx,
            exits,
            failures_tx,
            failures,
            committed_run: Arc::default(),
            live: HashMap::new(),
            failing: HashMap::new(),
        }
    }

    fn real(&self, d: Duration) -> Duration {
        self.cfg.scale.real(d)
    }

    async fn run(mut self) {
        let t = self.cfg.timings.clone();
        let mut backoff = t.backoff_initial;
        let mut run = 0;
        loop {
            run += 1;
            match self.run_once(run).await {
                RunEnd::Stopped(reply) => {
                    let _ = reply.send(());
                    return;
                }
                RunEnd::Restarted | RunEnd::Succeeded => backoff = t.backoff_initial,
                RunEnd::Broken => loop {
                    match self.cmds.recv().await {
                        None => return,
                        Some(Cmd::Stop { reply }) => {
                            let _ = reply.send(());
                            return;
                        }
                        Some(Cmd::OperatorRestart { .. }) => {}
                        Some(other) => other.refuse(),
                    }
                },
                RunEnd::Failed { healthy_for } => {
                    let (wait, next) = backoff_after_failure(backoff, self.cfg.scale.nominal(healthy_for), &t);
                    backoff = next;
                    let until = Instant::now() + self.real(wait);
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep_until(until) => break,
                            cmd = self.cmds.recv() => match cmd {
                                None => return,
                                Some(Cmd::Stop { reply }) => { let _ = reply.send(()); return; }
                                Some(Cmd::OperatorRestart { reason }) => {
                                    self.cfg.history.record(Event::OperatorRestart { reason });
                                    backoff = t.backoff_initial;
                                    break;
                                }
                                Some(other) => other.refuse(),
                            },
                        }
                    }
                }
            }
        }
    }

    fn spawn(&mut self, role: Role, name: &str, run: u32, attempt: u32, args: Vec<String>) -> Result<()> {
        let process = format!("{name}-run{run}-attempt{attempt}");
        let log = self.cfg.run_dir.log(&process);
        // A program is its own driver (or its cluster is): the clusters' memory limit is its own.
        let program = match role {
            Role::Task => self.cfg.job.tasks.iter().find(|t| t.name == name).and_then(|t| t.program.clone()),
            Role::Cluster => self.cfg.job.clusters.iter().find(|c| c.name == name).and_then(|c| c.program.clone()),
        };
        let memory = match (&program, role) {
            // Unlimited, a program is still watched in a cgroup of its own: what it is charged
            // is measured, and a fault can squeeze it.
            (Some(_), _) => self.cfg.cluster_memory.clone().or_else(crate::memlimit::MemoryLimit::watch),
            (None, Role::Cluster) => self.cfg.cluster_memory.clone(),
            (None, Role::Task) => None,
        };
        let (bin, args, mut env) = match &program {
            Some(p) => (
                std::path::PathBuf::from(&p.argv[0]),
                p.argv[1..].to_vec(),
                p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ),
            None => (self.cfg.bin.clone(), args, Vec::new()),
        };
        // A program's temporary files go in the run directory, a directory for each process (a
        // process the run kills — a JVM, whose shutdown hooks never run after SIGKILL — cannot
        // clean up after itself, and its successor starts afresh). A spec that sets TMPDIR keeps
        // its own.
        if program.is_some() && !env.iter().any(|(k, _)| k == "TMPDIR") {
            env.push(("TMPDIR".into(), self.cfg.run_dir.tmp(&process)?.display().to_string()));
        }
        env.extend(self.cfg.env.iter().cloned());
        let spawned = process::spawn(
            Spec {
                role,
                name,
                run,
                attempt,
                program: &bin,
                args,
                env,
                log: &log,
                memory,
                workdir: program.as_ref().map(|p| p.workdir.as_path()),
                reports: program.is_none(),
            },
            &self.cfg.history,
            process::Listeners {
                exits: self.exits_tx.clone(),
                failures: self.failures_tx.clone(),
                committed_run: self.committed_run.clone(),
            },
        )?;
        self.live.insert(
            name.to_string(),
            Live { role, name: name.to_string(), pid: spawned.pid, attempt, stdin: spawned.stdin },
        );
        Ok(())
    }

    fn cluster_args(&self, cluster: &str, run: u32) -> Vec<String> {
        let run_dir = self.cfg.run_dir.root().to_path_buf();
        crate::worker::ClusterArgs { run_dir, cluster: cluster.into(), run }.to_args()
    }

    fn task_args(&self, task: &crate::topology::TaskSpec, run: u32) -> Vec<String> {
        crate::worker::TaskArgs {
            run_dir: self.cfg.run_dir.root().to_path_buf(),
            task: task.name.clone(),
            cluster: task.cluster.clone(),
            run,
            queries: task.queries.clone(),
            await_policy: task.await_policy,
        }
        .to_args()
    }

    fn task_state(&self, run: u32, task: &str, attempt: u32, state: TaskState, reason: Option<String>) {
        self.cfg.history.record(Event::TaskState { run, task: task.to_string(), attempt, state, reason });
    }

    /// What a task's exit makes of its state, as of the moment the process exited (the
    /// orchestrator sees a task end when its process ends, not when the harness has cleaned up
    /// after it).
    fn exit_state(&self, run: u32, exit: &Exit, state: TaskState, reason: Option<String>) {
        let event = Event::TaskState { run, task: exit.name.clone(), attempt: exit.attempt, state, reason };
        self.cfg.history.append(crate::history::Record { at: exit.at, event });
    }

    /// One run of the job: started, then driven by what happens until it ends.
    async fn run_once(&mut self, run: u32) -> RunEnd {
        let run_start = self.cfg.history.len();
        if let Err(end) = self.start_run(run, run_start).await {
            return end;
        }
        self.cfg.history.record(Event::RunState { run, state: RunState::Running });
        let mut going = Going {
            run,
            since: Instant::now(),
            retries: Vec::new(),
            task_backoff: HashMap::new(),
            retries_used: HashMap::new(),
            finished: Vec::new(),
        };
        loop {
            let next_retry = going.retries.iter().map(|(at, _, _)| *at).min();
            let ended = tokio::select! {
                cmd = self.cmds.recv() => self.on_command(cmd, &going).await,
                Some(exit) = self.exits.recv() => self.on_exit(exit, &mut going).await,
                Some(failure) = self.failures.recv() => {
                    self.on_query_failure(failure, run);
                    None
                },
                _ = sleep_until_opt(next_retry) => self.on_retries_due(&mut going).await,
            };
            if let Some(end) = ended {
                return end;
            }
        }
    }

    /// Starts a run: every task PENDING, the clusters, then the tasks (each once its upstream
    /// is up). An error is how the run ended.
    async fn start_run(&mut self, run: u32, run_start: usize) -> std::result::Result<(), RunEnd> {
        let h = self.cfg.history.clone();
        h.record(Event::RunState { run, state: RunState::Pending });
        for t in &self.cfg.job.tasks {
            self.task_state(run, &t.name, 1, TaskState::Pending, None);
        }
        // Clusters first; tasks attach once each cluster listens.
        for c in self.cfg.job.clusters.clone() {
            if let Err(reason) = self.start_cluster(&c.name, run).await {
                for t in self.cfg.job.tasks_on(&c.name) {
                    self.task_state(run, &t.name, 1, TaskState::Failed, Some(reason.clone()));
                }
                self.teardown(run, RunState::Failed, Instant::now()).await;
                // A cluster that cannot even start will not start next time either: that is
                // the configuration's problem, not the pipeline's.
                let help = match &self.cfg.cluster_memory {
                    Some(m) => format!(
                        "the memory limit of {} MiB ({:?}) may be too small for a cluster to start at all: raise --memory-limit",
                        m.bytes >> 20,
                        m.mechanism
                    ),
                    None => {
                        format!("see {}", self.cfg.run_dir.log(&format!("{}-run{run}-attempt1", c.name)).display())
                    }
                };
                h.record(Event::harness_problem(reason, help));
                return Err(RunEnd::Broken);
            }
        }
        for t in self.cfg.job.tasks.clone() {
            // A dependent task stays PENDING until its upstream tasks' queries have all started.
            self.await_upstream(&t, run, run_start).await;
            let args = self.task_args(&t, run);
            if let Err(e) = self.spawn(Role::Task, &t.name, run, 1, args) {
                h.record(Event::harness_error(&e));
                return Err(self.teardown(run, RunState::Failed, Instant::now()).await);
            }
            self.task_state(run, &t.name, 1, TaskState::Running, None);
        }
        Ok(())
    }

    /// A command from the harness; the run ends when it is stopped or restarted.
    async fn on_command(&mut self, cmd: Option<Cmd>, going: &Going) -> Option<RunEnd> {
        let run = going.run;
        match cmd {
            None => return Some(self.teardown(run, RunState::Terminated, going.since).await),
            Some(Cmd::Stop { reply }) => {
                self.teardown(run, RunState::Terminated, going.since).await;
                return Some(RunEnd::Stopped(reply));
            }
            Some(Cmd::OperatorRestart { reason }) => {
                self.cfg.history.record(Event::OperatorRestart { reason });
                self.teardown(run, RunState::Terminated, going.since).await;
                return Some(RunEnd::Restarted);
            }
            Some(Cmd::Control { cluster, msg, reply }) => {
                let r = self.send_control(&cluster, &msg).await;
                let _ = reply.send(r);
            }
            Some(Cmd::Signal { process, signal, reply }) => {
                let _ = reply.send(self.send_signal(&process, signal));
            }
            Some(Cmd::Pid { process, reply }) => {
                let _ = reply.send(self.live.get(&process).map(|l| l.pid));
            }
        }
        None
    }

    /// A process of the job ended: a task succeeds, retries, fails alone or fails the run.
    async fn on_exit(&mut self, exit: Exit, going: &mut Going) -> Option<RunEnd> {
        let (run, running_since) = (going.run, going.since);
        if exit.run != run || self.live.get(&exit.name).is_none_or(|l| l.pid != exit.pid) {
            return None;
        }
        self.live.remove(&exit.name);
        match exit.role {
            // Its tasks lose their driver and fail on their own, with that reason — unless an
            // engine cluster ran out of memory before any query of the run committed: then no
            // cluster will ever run under this limit. (A program's cluster tells no commits, and
            // its limit is the fault's.)
            Role::Cluster
                if exit.out_of_memory
                    && self.is_engine_cluster(&exit.name)
                    && self.committed_run.load(Ordering::Relaxed) < run =>
            {
                let limit = self.cfg.cluster_memory.as_ref().map(|m| m.bytes >> 20).unwrap_or(0);
                self.cfg.history.record(Event::harness_problem(
                    format!(
                        "cluster {} ran out of memory before any query committed: the memory limit of {limit} MiB is too small for a cluster to run at all",
                        exit.name
                    ),
                    "raise --memory-limit",
                ));
                self.teardown(run, RunState::Failed, running_since).await;
                Some(RunEnd::Broken)
            }
            Role::Cluster => None,
            Role::Task if exit.success() && !self.failing.contains_key(&exit.name) => {
                self.exit_state(run, &exit, TaskState::Succeeded, None);
                going.finished.push(exit.name.clone());
                if going.finished.len() < self.cfg.job.tasks.len() {
                    return None;
                }
                // Like a continuous job: the run succeeded, and the next one starts at once.
                self.teardown(run, RunState::Succeeded, running_since).await;
                Some(RunEnd::Succeeded)
            }
            Role::Task => {
                let reason = self.failing.remove(&exit.name).unwrap_or_else(|| exit.reason());
                let spec = self.cfg.job.tasks.iter().find(|t| t.name == exit.name).cloned();
                let max = spec.as_ref().map(|s| s.max_retries).unwrap_or(0);
                // Retries are counted per failure streak: an isolated task restarted after
                // failing gets its retries again.
                let used = going.retries_used.entry(exit.name.clone()).or_insert(0);
                if *used < max {
                    *used += 1;
                    self.exit_state(run, &exit, TaskState::Retrying, Some(reason));
                    let at = Instant::now() + self.real(self.cfg.timings.min_retry_interval);
                    going.retries.push((at, exit.name.clone(), exit.attempt + 1));
                    None
                } else if self.cfg.job.isolated_tasks {
                    // Alone on its cluster: the task fails alone, its cluster is recycled, and it
                    // starts again after the job's backoff.
                    self.exit_state(run, &exit, TaskState::Failed, Some(reason));
                    if let Some(c) = spec.as_ref().and_then(|s| self.live.get(&s.cluster)) {
                        let _ = process::signal(c.pid, nix::sys::signal::Signal::SIGKILL);
                    }
                    going.retries_used.insert(exit.name.clone(), 0);
                    let backoff =
                        going.task_backoff.entry(exit.name.clone()).or_insert(self.cfg.timings.backoff_initial);
                    let at = Instant::now() + self.cfg.scale.real(*backoff);
                    *backoff = (*backoff * 2).min(self.cfg.timings.backoff_max);
                    going.retries.push((at, exit.name.clone(), exit.attempt + 1));
                    None
                } else {
                    self.exit_state(run, &exit, TaskState::Failed, Some(reason));
                    Some(self.teardown(run, RunState::Failed, running_since).await)
                }
            }
        }
    }

    /// A query terminated with an error: a job that watches its queries fails its task now.
    fn on_query_failure(&mut self, failure: QueryFailure, run: u32) {
        if !self.cfg.job.monitor_queries || failure.run != run {
            return;
        }
        let Some(task) = self.cfg.job.task_of(&failure.query).map(|t| t.name.clone()) else { return };
        if let Some(l) = self.live.get(&task).filter(|l| l.role == Role::Task) {
            self.failing
                .insert(task.clone(), format!("query {} terminated with an error: {}", failure.query, failure.error));
            let _ = process::signal(l.pid, nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Retries whose time has come: each task starts again (on a new cluster if its died).
    async fn on_retries_due(&mut self, going: &mut Going) -> Option<RunEnd> {
        let (run, now) = (going.run, Instant::now());
        let due: Vec<_> = going.retries.iter().filter(|(at, _, _)| *at <= now).cloned().collect();
        going.retries.retain(|(at, _, _)| *at > now);
        for (_, name, attempt) in due {
            let Some(spec) = self.cfg.job.tasks.iter().find(|t| t.name == name).cloned() else { continue };
            if self.cfg.job.clusters.iter().any(|c| c.name == spec.cluster)
                && !self.live.contains_key(&spec.cluster)
                && let Err(reason) = self.start_cluster(&spec.cluster, run).await
            {
                self.task_state(run, &name, attempt, TaskState::Failed, Some(reason));
                return Some(self.teardown(run, RunState::Failed, going.since).await);
            }
            let args = self.task_args(&spec, run);
            match self.spawn(Role::Task, &name, run, attempt, args) {
                Ok(()) => self.task_state(run, &name, attempt, TaskState::Running, None),
                Err(e) => {
                    self.cfg.history.record(Event::harness_error(&e));
                    return Some(self.teardown(run, RunState::Failed, going.since).await);
                }
            }
        }
        None
    }

    /// Waits until every query of the tasks `task` depends on has started in `run` (or one of
    /// them ended: its failure is the job's to handle, not a reason to hold this task back).
    async fn await_upstream(&self, task: &crate::topology::TaskSpec, run: u32, since: usize) {
        if task.program.is_some() && !task.depends_on.is_empty() {
            // A program says nothing about its queries: its upstream is up once its processes
            // have started.
            let mut waiting: std::collections::BTreeSet<&String> = task.depends_on.iter().collect();
            let what = format!("the tasks {} depends on to start", task.name);
            let _ = self
                .cfg
                .history
                .wait_for(since, Duration::from_secs(60), &what, |r| match &r.event {
                    Event::ProcessStarted { name, run: rn, .. } if *rn == run => {
                        waiting.remove(name);
                        waiting.is_empty().then_some(())
                    }
                    _ => None,
                })
                .await;
            return;
        }
        let upstream: std::collections::BTreeSet<String> = self
            .cfg
            .job
            .tasks
            .iter()
            .filter(|t| task.depends_on.contains(&t.name))
            .flat_map(|t| t.queries.iter().cloned())
            .collect();
        if upstream.is_empty() {
            return;
        }
        let mut started = std::collections::BTreeSet::new();
        let what = format!("the tasks {} depends on to start", task.name);
        let _ = self
            .cfg
            .history
            .wait_for(since, Duration::from_secs(60), &what, |r| match &r.event {
                Event::QueryStarted { query, run: rn, .. } if *rn == run && upstream.contains(query) => {
                    started.insert(query.clone());
                    (started.len() == upstream.len()).then_some(())
                }
                Event::ProcessExited { role: Role::Task, run: rn, .. } if *rn == run => Some(()),
                _ => None,
            })
            .await;
    }

    /// Starts a cluster and waits until it listens. The error is the reason its tasks fail.
    async fn start_cluster(&mut self, cluster: &str, run: u32) -> std::result::Result<(), String> {
        let h = self.cfg.history.clone();
        let from = h.len();
        let args = self.cluster_args(cluster, run);
        if let Err(e) = self.spawn(Role::Cluster, cluster, run, 1, args) {
            h.record(Event::harness_error(&e));
            return Err(e.to_string());
        }
        let what = format!("cluster {cluster} to listen");
        let port = self.cfg.job.clusters.iter().find(|c| c.name == cluster).and_then(|c| c.port);
        // A program's cluster says nothing: it is ready when its port takes connections. The
        // probe stops when the wait below ends, however (ready, the cluster exited, timed out).
        let probe = port.map(|port| {
            let (h, name) = (h.clone(), cluster.to_string());
            tokio::spawn(async move {
                while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                h.record(Event::ClusterReady { cluster: name, run });
            })
        });
        let ready = h.wait_for(from, self.cfg.start_within, &what, |r| match &r.event {
            Event::ClusterReady { cluster: c, run: rn } if c == cluster && *rn == run => Some(None),
            Event::ProcessExited { name, run: rn, code, signal, .. } if name == cluster && *rn == run => {
                Some(Some(process::describe_exit(*code, *signal)))
            }
            _ => None,
        });
        let ready = ready.await;
        if let Some(probe) = probe {
            probe.abort();
        }
        match ready {
            Ok((None, _)) => Ok(()),
            Ok((Some(exit), _)) => {
                self.live.remove(cluster);
                Err(format!("cluster {cluster} failed to start ({exit})"))
            }
            Err(e) => {
                h.record(Event::harness_error(&e));
                Err(e.to_string())
            }
        }
    }

    async fn send_control(&mut self, cluster: &str, msg: &Control) -> Result<()> {
        let live = self.live.get_mut(cluster).filter(|l| l.role == Role::Cluster).ok_or_else(|| {
            HarnessError::Process { name: cluster.to_string(), problem: "no such cluster is running".into() }
        })?;
        let stdin = live.stdin.as_mut().ok_or_else(|| HarnessError::Process {
            name: cluster.to_string(),
            problem: "its control channel is closed".into(),
        })?;
        stdin.write_all(&encode(msg)).await.map_err(|e| HarnessError::Process {
            name: cluster.to_string(),
            problem: format!("cannot send a control message: {e}"),
        })
    }

    fn send_signal(&mut self, process: &str, signal: nix::sys::signal::Signal) -> Result<u32> {
        let live = self
            .live
            .get(process)
            .ok_or_else(|| HarnessError::Process { name: process.to_string(), problem: NOT_RUNNING.into() })?;
        // Stamped when it is sent: what it causes (an exit, stamped when waiting on the process
        // returned) must not come before it.
        let at = crate::time::now_us();
        process::signal(live.pid, signal)?;
        let event = Event::Signalled { name: process.to_string(), pid: live.pid, signal: signal as i32 };
        self.cfg.history.append(crate::history::Record { at, event });
        Ok(live.pid)
    }

    /// Kills every process of the run, waits until each is reaped, and records the run's end.
    async fn teardown(&mut self, run: u32, state: RunState, running_since: Instant) -> RunEnd {
        let mut tasks_first: Vec<&Live> = self.live.values().collect();
        tasks_first.sort_by_key(|l| l.role == Role::Cluster);
        for l in tasks_first {
            let _ = process::signal(l.pid, nix::sys::signal::Signal::SIGKILL);
        }
        while !self.live.is_empty() {
            match self.exits.recv().await {
                Some(exit) => {
                    if let Some(l) = self.live.get(&exit.name).filter(|l| l.pid == exit.pid) {
                        if l.role == Role::Task {
                            self.task_state(
                                run,
                                &l.name,
                                l.attempt,
                                TaskState::Terminated,
                                Some("run torn down".into()),
                            );
                        }
                        self.live.remove(&exit.name);
                    }
                }
                None => break,
            }
        }
        self.cfg.history.record(Event::RunState { run, state });
        RunEnd::Failed { healthy_for: running_since.elapsed() }
    }
}

/// The continuous job's backoff after a failed run, in nominal time: the wait before the next
/// run, and the backoff after that. It doubles up to `backoff_max`, and starts over when the
/// failed run had been healthy for `backoff_reset_after`.
pub fn backoff_after_failure(current: Duration, healthy_for: Duration, t: &Timings) -> (Duration, Duration) {
    let wait = if healthy_for >= t.backoff_reset_after { t.backoff_initial } else { current };
    (wait, (wait * 2).min(t.backoff_max))
}

impl Cmd {
    /// Answers a command that needs a run while none is active.
    fn refuse(self) {
        match self {
            Cmd::Control { reply, .. } => {
                let _ = reply.send(Err(no_run()));
            }
            Cmd::Signal { process, reply, .. } => {
                let _ = reply.send(Err(HarnessError::Process { name: process, problem: NOT_RUNNING.into() }));
            }
            Cmd::Pid { reply, .. } => {
                let _ = reply.send(None);
            }
            Cmd::OperatorRestart { .. } | Cmd::Stop { .. } => {}
        }
    }
}

/// What the supervisor says of a process that is not running now.
pub const NOT_RUNNING: &str = "no such process is running";

fn no_run() -> HarnessError {
    HarnessError::Process { name: "supervisor".into(), problem: "no run is active (the job is backing off)".into() }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_healthy_run() {
        let t = Timings::default();
        let mut b = t.backoff_initial;
        let mut waits = Vec::new();
        for _ in 0..7 {
            let (wait, next) = backoff_after_failure(b, Duration::ZERO, &t);
            waits.push(wait.as_secs());
            b = next;
        }
        assert_eq!(waits, vec![30, 60, 120, 240, 300, 300, 300]);
        let (wait, next) = backoff_after_failure(b, t.backoff_reset_after, &t);
        assert_eq!((wait.as_secs(), next.as_secs()), (30, 60));
    }
}
