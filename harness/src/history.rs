//! The history: one append-only list of timestamped events, written as JSON lines to
//! `history.jsonl` in the run directory and kept in memory for the oracles.
//!
//! Four voices write to it: the harness (what it did), the supervisor (what the system says),
//! the processes (what they report about themselves) and the observer (what the world shows).
//! Oracles read only this; nothing else survives a run.

use crate::error::{HarnessError, Result};
pub use crate::error_kind::ErrorKind;
use crate::time::{Timings, now_us};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Positions in a source: `topic/partition` → next offset, or a table name → last batch.
pub type Positions = BTreeMap<String, i64>;

/// True when `end` is past `consumed` anywhere. A missing Kafka position is 0; a missing Delta
/// position is -1 (before batch 0).
pub fn lagging(end: &Positions, consumed: Option<&Positions>) -> bool {
    end.iter().any(|(k, v)| {
        let start = if k.contains('/') { 0 } else { -1 };
        *v > consumed.and_then(|c| c.get(k)).copied().unwrap_or(start)
    })
}

/// What was run, as the first line of every history says it: all the oracles know of the
/// scenario. Typed, so that a history whose record drifted from this shape is refused when read
/// (an ERROR naming the line), never judged with a default standing in for what it lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// The pipeline's name.
    pub pipeline: String,
    /// Its options, as given.
    pub options: serde_json::Value,
    /// The topology (`multi-query`, its await policy, retries).
    pub topology: crate::topology::Topology,
    /// The faults, in the order they strike.
    pub faults: Vec<FaultRecord>,
    /// The job's layout: its clusters and tasks, and what each task runs.
    pub job: crate::topology::JobSpec,
}

/// What the oracles need to know of a fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Its name.
    pub name: String,
    /// How far it reaches.
    pub scope: crate::topology::Scope,
    /// It lasts until healed ([`crate::fault::FaultInfo::persists_until_healed`]).
    pub persistent: bool,
    /// A degradation a healthy pipeline rides out ([`crate::fault::FaultInfo::absorbable`]).
    pub absorbable: bool,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it happened, in microseconds since the Unix epoch (every process uses this clock).
    pub at: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// States of a run, as a jobs UI shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Being set up: clusters starting.
    Pending,
    /// Every task started.
    Running,
    /// A task failed past its retries, or the run was torn down after a failure.
    Failed,
    /// Every task ended by itself with exit code 0 (a continuous job then starts a new run).
    Succeeded,
    /// Ended on request (stop, or an operator restart).
    Terminated,
}

impl RunState {
    /// The name a jobs UI shows.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Pending => "PENDING",
            RunState::Running => "RUNNING",
            RunState::Failed => "FAILED",
            RunState::Succeeded => "SUCCEEDED",
            RunState::Terminated => "TERMINATED",
        }
    }
}

impl TaskState {
    /// The name a jobs UI shows.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Running => "RUNNING",
            TaskState::Retrying => "RETRYING",
            TaskState::Failed => "FAILED",
            TaskState::Succeeded => "SUCCEEDED",
            TaskState::Terminated => "TERMINATED",
        }
    }
}

/// States of a task, as a jobs UI shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Waiting for its cluster.
    Pending,
    /// Its process runs.
    Running,
    /// It failed and waits for its next attempt.
    Retrying,
    /// It failed and has no retries left.
    Failed,
    /// Its process ended by itself with exit code 0. For a streaming task that is a stream
    /// stopped, not a failure: nothing in a jobs UI turns red.
    Succeeded,
    /// It ended on request.
    Terminated,
}

/// Which kind of process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A cluster (driver) process executing queries.
    Cluster,
    /// A task process starting queries and awaiting them.
    Task,
}

/// Everything that can happen in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    // ---- the harness ----
    /// First line of every history: what was run.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// The seed its schedule derives from.
        seed: u64,
        /// What was run.
        scenario: Box<ScenarioRecord>,
        /// Real seconds per nominal second.
        scale: f64,
        /// Every interval, nominal.
        timings: Timings,
    },
    /// The harness moved to a phase: `warmup`, `fault`, `observe`, `heal`, `drain`, `audit`.
    Phase {
        /// Its name.
        name: String,
    },
    /// A fault was injected.
    FaultInjected {
        /// The fault.
        fault: String,
        /// Its target.
        target: String,
    },
    /// The fault took effect: the error it was designed to cause happened.
    FaultEffect {
        /// The fault.
        fault: String,
        /// The query it broke.
        query: String,
        /// The error's class (`ConcurrentAppend`, ...).
        error_kind: ErrorKind,
        /// The error's message.
        error: String,
    },
    /// The fault was healed.
    FaultHealed {
        /// The fault.
        fault: String,
    },
    /// Every query (a program's every flow) had committed its first batches this long after the
    /// job started: its cold start, measured (processes, the first batches; a JVM and a Spark
    /// session for a program). A restart is a start, so the restart bound holds it on top, and
    /// is never below one and a half of it.
    Started {
        /// Microseconds from the start of the warm-up.
        took_us: i64,
    },
    /// The harness restarted the job by hand, as the on-call engineer eventually does.
    OperatorRestart {
        /// Why.
        reason: String,
    },
    /// The workload produced records `first..=last` of a stream.
    Produced {
        /// The stream (a topic, or a writer's table).
        stream: String,
        /// First id.
        first: u64,
        /// Last id.
        last: u64,
    },
    /// A harness or infrastructure problem: the run's verdict is ERROR.
    HarnessError {
        /// What went wrong.
        message: String,
        /// What the user can do about it, when the harness knows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        help: Option<String>,
    },
    /// The last line: the harness stopped everything.
    RunEnded,

    // ---- the supervisor ----
    /// A run of the job changed state.
    RunState {
        /// Run number, from 1.
        run: u32,
        /// The new state.
        state: RunState,
    },
    /// A task changed state.
    TaskState {
        /// Run number.
        run: u32,
        /// The task.
        task: String,
        /// Attempt within the run, from 1.
        attempt: u32,
        /// The new state.
        state: TaskState,
        /// Why, for failures.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A process started.
    ProcessStarted {
        /// Cluster or task.
        role: Role,
        /// Its name.
        name: String,
        /// Run number.
        run: u32,
        /// OS process id.
        pid: u32,
    },
    /// A process ended.
    ProcessExited {
        /// Cluster or task.
        role: Role,
        /// Its name.
        name: String,
        /// Run number.
        run: u32,
        /// OS process id.
        pid: u32,
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Signal, when it was killed.
        signal: Option<i32>,
        /// The most memory its cgroup was ever charged, in bytes (processes in a memory cgroup).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory_peak: Option<u64>,
    },

    /// The harness sent a signal to a process (a fault: SIGKILL, SIGSTOP, SIGCONT).
    Signalled {
        /// The process.
        name: String,
        /// OS process id.
        pid: u32,
        /// The signal's number.
        signal: i32,
    },
    /// A process runs under a memory limit.
    MemoryLimit {
        /// The process.
        name: String,
        /// Run number.
        run: u32,
        /// Bytes.
        bytes: u64,
        /// `cgroup` or `rlimit-as`.
        mechanism: crate::memlimit::Mechanism,
    },
    /// A process ended because it ran out of memory.
    OutOfMemory {
        /// The process.
        name: String,
        /// Run number.
        run: u32,
        /// How it was stopped.
        mechanism: crate::memlimit::Mechanism,
    },

    // ---- the processes ----
    /// A cluster listens for tasks.
    ClusterReady {
        /// The cluster.
        cluster: String,
        /// Run number.
        run: u32,
    },
    /// A query started on a cluster.
    QueryStarted {
        /// The cluster.
        cluster: String,
        /// The query.
        query: String,
        /// Run number.
        run: u32,
    },
    /// A query committed a micro-batch (or skipped one its sink already had).
    BatchCommitted {
        /// The query.
        query: String,
        /// Batch id.
        batch: i64,
        /// Rows read from the source.
        rows: u64,
        /// True when the batch was planned by an earlier attempt and replayed.
        replayed: bool,
        /// True when the sink already held the batch (its txn) and only the checkpoint moved.
        skipped: bool,
    },
    /// A query ended.
    QueryTerminated {
        /// The query.
        query: String,
        /// The error, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The error's class.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_kind: Option<ErrorKind>,
        /// When it failed inside a micro-batch: the source positions that batch had planned to
        /// reach and never committed (proof that the source had lag at this moment).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending: Option<Positions>,
    },
    /// A failpoint was reached.
    FailpointHit {
        /// The failpoint.
        name: String,
        /// What the code passed along (for a resolver: the key range it read).
        context: serde_json::Value,
    },
    /// A program flow's consumer group committed offsets (as the broker shows them), when the
    /// spec names its group.
    GroupCommitted {
        /// The flow.
        flow: String,
        /// The group.
        group: String,
        /// Committed offset per `topic/partition`.
        offsets: Positions,
    },
    /// A program flow's Spark-style checkpoint committed a batch (`commits/<batch>`), when the
    /// spec names its checkpoint.
    CheckpointCommitted {
        /// The flow.
        flow: String,
        /// The last committed batch.
        batch: i64,
        /// What `offsets/<batch>` says the batch read up to (its last line, as JSON).
        offsets: serde_json::Value,
    },
    /// A task began to await a query.
    TaskAwaiting {
        /// The task.
        task: String,
        /// The query it awaits.
        query: String,
    },
    /// A task lost the connection to its cluster (the driver died under it).
    DriverLost {
        /// The task.
        task: String,
        /// Its cluster.
        cluster: String,
    },
    /// A task raised and is about to exit non-zero.
    TaskFailed {
        /// The task.
        task: String,
        /// The error it raised.
        error: String,
    },

    // ---- the world ----
    /// A sink table was seen at a version, with its query's txn version.
    SinkObserved {
        /// The query writing it.
        query: String,
        /// The table.
        table: String,
        /// Delta version.
        version: i64,
        /// The query's `txn` version (its last committed batch id).
        txn: Option<i64>,
    },
    /// A query's source was seen to end at these positions.
    SourceObserved {
        /// The query reading it.
        query: String,
        /// End positions.
        end: Positions,
    },
    /// A query's checkpoint was seen with this last committed batch.
    CheckpointObserved {
        /// The query.
        query: String,
        /// Its last committed batch.
        batch: i64,
        /// The source positions that batch ended at.
        end: Positions,
    },
    /// Records of a flow were seen in its sink (program pipelines: the ids the table's live
    /// files hold, whatever wrote them). Recorded when anything changes.
    FlowLanded {
        /// The flow.
        flow: String,
        /// Its sink table.
        table: String,
        /// The table's version (-1: no table yet).
        version: i64,
        /// Distinct ids produced to the flow's source that the table holds.
        landed: u64,
        /// Rows holding those ids (more than `landed`: some are there twice).
        rows: u64,
        /// Ids that landed since the last observation: progress.
        added: u64,
    },
    /// A line a program wrote to its events file (`{events}`): what it says about itself,
    /// kept for people reading the history. No verdict depends on it.
    ProgramSaid {
        /// The task whose events file it is.
        task: String,
        /// The line, parsed as JSON (or as a string when it is not JSON).
        said: serde_json::Value,
    },
    /// What a sink table holds at the end, against what the workload produced.
    TableAudit(TableAudit),
}

/// The steps of a run the oracles read the history by. Each starts with a `phase` record of its
/// name; other phases (`inject driver-oom`, `wait 2m before …`) are for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Every query commits its first batches.
    Warmup,
    /// The faults struck: the job is watched until the horizon.
    Observe,
    /// The workload stopped: the queries catch up with their sources.
    Drain,
    /// Every sink is audited.
    Audit,
}

impl Step {
    /// Its name in the history.
    pub fn name(self) -> &'static str {
        match self {
            Step::Warmup => "warmup",
            Step::Observe => "observe",
            Step::Drain => "drain",
            Step::Audit => "audit",
        }
    }
}

impl Event {
    /// A harness error, its problem and its help apart (the verdict's `ERROR(...)` holds the
    /// problem; the report prints the help on a line of its own).
    pub fn harness_error(e: &HarnessError) -> Event {
        Event::harness_problem(e.problem(), e.help())
    }

    /// A harness error met while `doing` something: `doing: problem`, and its help.
    pub fn harness_error_while(doing: &str, e: &HarnessError) -> Event {
        Event::harness_problem(format!("{doing}: {}", e.problem()), e.help())
    }

    /// A harness problem found by the harness itself, with what to do about it.
    pub fn harness_problem(message: impl Into<String>, help: impl Into<String>) -> Event {
        Event::HarnessError { message: message.into(), help: Some(help.into()) }
    }

    /// The record that starts `step`.
    pub fn step(step: Step) -> Event {
        Event::Phase { name: step.name().into() }
    }

    /// True for the record that starts `step`.
    pub fn starts(&self, step: Step) -> bool {
        matches!(self, Event::Phase { name } if name == step.name())
    }

    /// A sample of the world or of the workload, recorded many times a second: diagnostics
    /// print these only at `trace`.
    pub fn is_sample(&self) -> bool {
        matches!(
            self,
            Event::Produced { .. }
                | Event::SourceObserved { .. }
                | Event::SinkObserved { .. }
                | Event::CheckpointObserved { .. }
                | Event::FlowLanded { .. }
                | Event::GroupCommitted { .. }
                | Event::CheckpointCommitted { .. }
        )
    }

    /// The query (or flow) this event shows progressing: a batch its sink committed (an engine
    /// query's report, dated by it), or new records seen landed in a flow's sink (the world).
    pub fn progress_of(&self) -> Option<&str> {
        match self {
            Event::BatchCommitted { query, skipped: false, .. } => Some(query),
            Event::FlowLanded { flow, added, .. } if *added > 0 => Some(flow),
            _ => None,
        }
    }
}

/// What a table holds at the end of a run compared with what should be there.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TableAudit {
    /// The table (catalog name).
    pub table: String,
    /// The query responsible for it (or the writer).
    pub query: String,
    /// How many records should be there.
    pub expected: u64,
    /// How many distinct expected records are there.
    pub present: u64,
    /// How many expected records are missing.
    pub missing: u64,
    /// How many records are there more than once (each counted once).
    pub duplicated: u64,
    /// Rows that should not be there at all.
    pub unexpected: u64,
    /// Records that received a RESOLVE and are still open (where [`Self::resolutions`] were
    /// checked).
    #[serde(default)]
    pub unresolved: u64,
    /// Whether the audit checked that what was resolved is closed (an alerts table of a
    /// reference pipeline); a program's table, whatever its name, is audited by its ids alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolutions: bool,
    /// Up to 20 ids of each problem, for the report.
    #[serde(default)]
    pub samples: BTreeMap<String, Vec<String>>,
}

struct Inner {
    path: Option<PathBuf>,
    file: Mutex<Option<std::io::BufWriter<File>>>,
    records: Mutex<Vec<Record>>,
    appended: Notify,
}

/// A shared handle on the history of one run.
#[derive(Clone)]
pub struct History {
    inner: Arc<Inner>,
}

impl History {
    /// What tells this history (and so its run) from any other alive in this process.
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.inner.path).finish()
    }
}

impl History {
    /// A history written to `path` (created, or truncated).
    pub fn create(path: &Path) -> Result<History> {
        let file = File::create(path).map_err(|e| HarnessError::io(path, e))?;
        Ok(Self::with(Some(path.to_path_buf()), Some(std::io::BufWriter::new(file))))
    }

    /// A history kept in memory only (for tests of oracles).
    pub fn in_memory() -> History {
        Self::with(None, None)
    }

    fn with(path: Option<PathBuf>, file: Option<std::io::BufWriter<File>>) -> History {
        History {
            inner: Arc::new(Inner {
                path,
                file: Mutex::new(file),
                records: Mutex::new(Vec::new()),
                appended: Notify::new(),
            }),
        }
    }

    /// Appends an event stamped now.
    pub fn record(&self, event: Event) {
        self.append(Record { at: now_us(), event });
    }

    /// Appends a record with its own timestamp (a process's report).
    pub fn append(&self, record: Record) {
        {
            let mut file = self.inner.file.lock().expect("history file lock");
            if let Some(f) = file.as_mut() {
                // A history line that cannot be written is a harness problem, but panicking here
                // would lose the rest of the run: write what can be written, and flush per line
                // so a crash leaves a readable history.
                if let Ok(line) = serde_json::to_string(&record) {
                    let _ = writeln!(f, "{line}");
                    let _ = f.flush();
                    trace(&record.event, &line);
                }
            }
        }
        self.inner.records.lock().expect("history lock").push(record);
        self.inner.appended.notify_waiters();
    }

    /// A copy of every record so far.
    pub fn snapshot(&self) -> Vec<Record> {
        self.inner.records.lock().expect("history lock").clone()
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.inner.records.lock().expect("history lock").len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the first record at index `from` or later for which `pick` returns something,
    /// and returns it with the index after it. Events are awaited, never polled.
    pub async fn wait_for<T>(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        mut pick: impl FnMut(&Record) -> Option<T>,
    ) -> Result<(T, usize)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut next = from;
        loop {
            let notified = self.inner.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The new records are taken out under the lock and looked at outside it: `pick` may
            // take its time, or read the history itself, without holding up every writer.
            let fresh: Vec<Record> = {
                let records = self.inner.records.lock().expect("history lock");
                records.get(next..).map(<[Record]>::to_vec).unwrap_or_default()
            };
            for record in &fresh {
                next += 1;
                if let Some(t) = pick(record) {
                    return Ok((t, next));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(HarnessError::Timeout { what: what.to_string(), waited_ms: timeout.as_millis() as u64 });
            }
        }
    }

    /// Reads a history file back.
    pub fn read(path: &Path) -> Result<Vec<Record>> {
        let file = File::open(path).map_err(|e| HarnessError::io(path, e))?;
        let mut out = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| HarnessError::io(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let rec = serde_json::from_str(&line)
                .map_err(|e| HarnessError::json(format!("{} line {}", path.display(), i + 1), e))?;
            out.push(rec);
        }
        Ok(out)
    }
}

/// Says what a history record tells: the job's runs, tasks and processes at `info` (target
/// `harness::supervisor`), the run's steps and its faults at `info` (target `harness::run`), a
/// harness error at `warn`, and every record as its JSON `line` at `debug` (samples at `trace`;
/// target `harness::history`). Every record passes here, so no record site logs on its own.
fn trace(event: &Event, line: &str) {
    const RUN: &str = "harness::run";
    const SUPERVISOR: &str = "harness::supervisor";
    match event {
        Event::RunState { run, state } => tracing::info!(target: SUPERVISOR, "run {run} {}", state.name()),
        Event::TaskState { run, task, attempt, state, reason } => tracing::info!(
            target: SUPERVISOR,
            run,
            attempt,
            "task {task} {}{}",
            state.name(),
            reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        ),
        Event::ProcessStarted { role, name, run, pid } => {
            tracing::info!(target: SUPERVISOR, run, pid, "{role:?} {name} started")
        }
        Event::ProcessExited { role, name, run, pid, code, signal, .. } => tracing::info!(
            target: SUPERVISOR,
            run,
            pid,
            "{role:?} {name} ended: {}",
            describe_exit(*code, *signal)
        ),
        Event::ClusterReady { cluster, run } => {
            tracing::info!(target: SUPERVISOR, "cluster {cluster} ready (run {run})")
        }
        Event::OperatorRestart { reason } => tracing::info!(target: SUPERVISOR, "operator restart: {reason}"),
        Event::Phase { name } => tracing::info!(target: RUN, "{name}"),
        Event::FaultInjected { fault, target } => tracing::info!(target: RUN, "fault {fault} injected: {target}"),
        Event::FaultEffect { fault, query, error_kind, error } => {
            tracing::info!(target: RUN, "fault {fault} took effect in {query}: {error_kind}: {error}")
        }
        Event::FaultHealed { fault } => tracing::info!(target: RUN, "fault {fault} healed"),
        Event::HarnessError { message, .. } => tracing::warn!(target: RUN, "harness error: {message}"),
        _ => {}
    }
    if event.is_sample() {
        tracing::trace!(target: "harness::history", "{line}");
    } else {
        tracing::debug!(target: "harness::history", "{line}");
    }
}

/// How a process ended, in words: `exit code 1`, `killed by SIGKILL`.
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => match nix::sys::signal::Signal::try_from(s) {
            Ok(sig) => format!("killed by {sig}"),
            Err(_) => format!("killed by signal {s}"),
        },
        (None, None) => "ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_as_json_lines() {
        let rec = Record {
            at: 42,
            event: Event::TaskState {
                run: 1,
                task: "main".into(),
                attempt: 1,
                state: TaskState::Running,
                reason: None,
            },
        };
        let line = serde_json::to_string(&rec).unwrap();
        assert!(line.contains(r#""event":"task_state""#), "{line}");
        assert!(line.contains(r#""state":"RUNNING""#), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), rec);
    }

    #[tokio::test]
    async fn wait_for_sees_an_event_appended_later() {
        let h = History::in_memory();
        let h2 = h.clone();
        let waiter = tokio::spawn(async move {
            h2.wait_for(0, Duration::from_secs(5), "phase", |r| match &r.event {
                Event::Phase { name } if name == "go" => Some(r.at),
                _ => None,
            })
            .await
        });
        tokio::task::yield_now().await;
        h.record(Event::Phase { name: "wait".into() });
        h.record(Event::Phase { name: "go".into() });
        let (_, next) = waiter.await.unwrap().unwrap();
        assert_eq!(next, 2);
    }

    #[tokio::test]
    async fn wait_for_times_out_as_an_error() {
        let h = History::in_memory();
        let err = h.wait_for(0, Duration::from_millis(10), "nothing", |_| Some(())).await;
        assert!(matches!(err, Err(HarnessError::Timeout { .. })));
    }
}
