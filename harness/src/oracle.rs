//! Oracles: pure functions of the history, run after the run (Jepsen's checkers). They compose
//! into one verdict; a harness problem is an `ERROR`, never a pass.
//!
//! | oracle | question |
//! |---|---|
//! | loud | is every fault followed, within the detection bound, by a state a user sees (task or run FAILED, task RETRYING)? |
//! | restarted | after that, does every affected query progress again within the restart bound? |
//! | silent window | what is the longest interval in which a query made no progress while its source had lag and every state said RUNNING? |
//! | no loss, no duplicates | is every produced record in its sink exactly once? |
//! | alerts resolved | is every alert that received a RESOLVE closed? |

use crate::fault::Scope;
use crate::history::{Event, Positions, Record, RunState, TableAudit, TaskState};
use crate::observer::lagging;
use crate::topology::JobSpec;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// The position key of a program flow's records: its source's end is how many records were
/// produced to it (`source_observed`), its consumed position how many of them landed
/// (`flow_landed`). Lag is produced but not landed.
pub const FLOW_RECORDS: &str = "records/produced";

/// The bounds the oracles judge by, in real microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Fault effect → loud state.
    pub detection_us: i64,
    /// Loud state → affected queries progressing again.
    pub restart_us: i64,
    /// Longest stall tolerated in a run without faults.
    pub silence_us: i64,
}

impl Bounds {
    /// The bounds of a run, from its `run_started` record; a program's restart bound is never
    /// below one and a half of its measured cold start (`started`).
    pub fn of(records: &[Record]) -> Option<Bounds> {
        let started = records.iter().find_map(|r| match &r.event {
            Event::Started { took_us } => Some(*took_us),
            _ => None,
        });
        records.iter().find_map(|r| match &r.event {
            Event::RunStarted { scale, timings, .. } => {
                let us = |d: Duration| (d.as_secs_f64() * scale * 1e6) as i64;
                Some(Bounds {
                    detection_us: us(timings.detection_bound),
                    restart_us: program_restart_bound(
                        Duration::from_micros(us(timings.restart_bound).max(0) as u64),
                        started.map(|t| Duration::from_micros(t.max(0) as u64)),
                    )
                    .as_micros() as i64,
                    silence_us: us(timings.restart_bound),
                })
            }
            _ => None,
        })
    }
}

/// The restart bound a run is judged by: `bound` (real), and for a program never below one and
/// a half of its measured cold start (a restart cannot be faster than a start).
pub fn program_restart_bound(bound: Duration, cold_start: Option<Duration>) -> Duration {
    bound.max(cold_start.unwrap_or_default().mul_f64(1.5))
}

/// What the oracles found about one fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultFinding {
    /// The fault.
    pub fault: String,
    /// The query it broke.
    pub query: String,
    /// The error it caused.
    pub error_kind: String,
    /// When it took effect.
    pub effect_at: i64,
    /// The first loud state after it: when, and what.
    pub loud_at: Option<i64>,
    /// What that state was (`task main FAILED`).
    pub loud_state: Option<String>,
    /// Effect → loud state, in µs.
    pub detection_us: Option<i64>,
    /// Loud state → every affected query progressing again, in µs.
    pub restart_us: Option<i64>,
    /// The queries the fault stopped (its target, and every query whose cluster died).
    pub affected: Vec<String>,
    /// Tasks whose queries it disrupted.
    pub blast_radius: Vec<String>,
    /// Of those, the tasks beyond its reach (its query's task, or its cluster's tasks).
    pub collateral: Vec<String>,
    /// Loud within the detection bound.
    pub loud: bool,
    /// Restarted within the restart bound.
    pub restarted: bool,
    /// A degradation meant to be ridden out, and nothing failed because of it: the run is
    /// judged as if it had not happened (see [`crate::Fault::absorbable`]).
    #[serde(default)]
    pub absorbed: bool,
}

/// The longest silent interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// The query that stalled.
    pub query: String,
    /// From.
    pub from: i64,
    /// To.
    pub to: i64,
}

impl Silence {
    /// Its length.
    pub fn duration(&self) -> Duration {
        Duration::from_micros((self.to - self.from).max(0) as u64)
    }
}

/// A cell's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "detail")]
pub enum Verdict {
    /// Every fault failed loudly and the job restarted; nothing lost or duplicated.
    #[serde(rename = "LOUD+RESTARTED")]
    LoudRestarted,
    /// A fault went unnoticed; the longest silent window, in µs.
    #[serde(rename = "SILENT")]
    Silent(i64),
    /// Loud, but the affected queries did not progress again in time.
    #[serde(rename = "LOUD-NOT-RESTARTED")]
    LoudNotRestarted,
    /// Records missing from their sinks.
    #[serde(rename = "LOSS")]
    Loss(u64),
    /// Records in their sinks more than once.
    #[serde(rename = "DUPLICATES")]
    Duplicates(u64),
    /// The fault disrupted tasks beyond its reach.
    #[serde(rename = "COLLATERAL")]
    Collateral(Vec<String>),
    /// No fault, no silence, nothing lost or duplicated.
    #[serde(rename = "CLEAN")]
    Clean,
    /// A harness or infrastructure problem: no verdict on the pipeline.
    #[serde(rename = "ERROR")]
    Error(String),
}

impl Verdict {
    /// True for the verdicts a user's gate accepts.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::LoudRestarted | Verdict::Clean)
    }

    /// The verdict's name without figures.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::LoudRestarted => "LOUD+RESTARTED",
            Verdict::Silent(_) => "SILENT",
            Verdict::LoudNotRestarted => "LOUD-NOT-RESTARTED",
            Verdict::Loss(_) => "LOSS",
            Verdict::Duplicates(_) => "DUPLICATES",
            Verdict::Collateral(_) => "COLLATERAL",
            Verdict::Clean => "CLEAN",
            Verdict::Error(_) => "ERROR",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Silent(us) => write!(f, "SILENT({})", crate::time::human(Duration::from_micros(*us as u64))),
            Verdict::Loss(n) => write!(f, "LOSS({n})"),
            Verdict::Duplicates(n) => write!(f, "DUPLICATES({n})"),
            Verdict::Collateral(tasks) => write!(f, "COLLATERAL({})", tasks.join(", ")),
            Verdict::Error(e) => write!(f, "ERROR({e})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Everything the oracles found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Per fault.
    pub faults: Vec<FaultFinding>,
    /// The longest silent window, if any query ever stalled.
    pub silence: Option<Silence>,
    /// States the job showed during that window.
    pub states_during_silence: Vec<String>,
    /// Records missing from their sinks.
    pub missing: u64,
    /// Records in their sinks more than once.
    pub duplicated: u64,
    /// Rows where no record should be.
    pub unexpected: u64,
    /// Resolved alerts still open.
    pub unresolved: u64,
    /// The audits.
    pub audits: Vec<TableAudit>,
    /// Harness errors.
    pub errors: Vec<String>,
    /// How many runs of the job there were.
    pub runs: u32,
    /// The longest time a task spent RETRYING while its run said RUNNING, in µs.
    pub retrying_while_running_us: i64,
    /// The verdict.
    pub verdict: Verdict,
}

/// Runs every oracle on a history.
pub fn analyze(records: &[Record]) -> Analysis {
    let mut records = records.to_vec();
    records.sort_by_key(|r| r.at);
    let bounds = Bounds::of(&records);
    let mut errors: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::HarnessError { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    let bounds = bounds.unwrap_or_else(|| {
        errors.push("the history has no run_started record".into());
        Bounds { detection_us: 0, restart_us: 0, silence_us: 0 }
    });
    let job = job_of(&records);
    let faults = fault_findings(&records, &bounds, &job);
    // With faults, silence is what follows them: a stall while the pipeline starts up is not
    // the fault's doing.
    // Without, what follows the warm-up: a program's start (a Spark session, its first batch)
    // is no silence either.
    let first_effect = faults.iter().map(|f| f.effect_at).min().or_else(|| warmed_up(&records));
    let (silence, states_during_silence) = silent_window(&records, first_effect);
    let audits: Vec<TableAudit> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::TableAudit(a) => Some(a.clone()),
            _ => None,
        })
        .collect();
    if audits.is_empty() && errors.is_empty() {
        errors.push("no table was audited: the run ended before its checks".into());
    }
    let sum = |f: fn(&TableAudit) -> u64| audits.iter().map(f).sum::<u64>();
    let (missing, duplicated, unexpected, unresolved) =
        (sum(|a| a.missing), sum(|a| a.duplicated), sum(|a| a.unexpected), sum(|a| a.unresolved));
    let runs = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::RunState { run, .. } => Some(*run),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let silent_us = silence.as_ref().map(|s| s.to - s.from).unwrap_or(0);
    let verdict = Findings {
        error: errors.first().cloned(),
        lost: missing + unresolved,
        duplicated,
        faults: faults.iter().any(|f| !f.absorbed),
        quiet: faults.iter().any(|f| !f.loud && !f.absorbed),
        silent_us,
        not_restarted: faults.iter().any(|f| f.loud && !f.restarted),
        collateral: faults.iter().find(|f| !f.collateral.is_empty()).map(|f| f.collateral.clone()),
    }
    .verdict(&bounds);
    let retrying_while_running_us = retrying_while_running(&records);
    Analysis {
        faults,
        silence,
        states_during_silence,
        missing,
        duplicated,
        unexpected,
        unresolved,
        audits,
        errors,
        runs,
        retrying_while_running_us,
        verdict,
    }
}

/// What a verdict is decided from: each oracle's finding, reduced to what the precedence needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// The first harness error.
    pub error: Option<String>,
    /// Records missing from their sinks, or resolved alerts still open.
    pub lost: u64,
    /// Records in their sinks more than once.
    pub duplicated: u64,
    /// Whether any fault took effect.
    pub faults: bool,
    /// Whether a fault was not followed, within the detection bound, by a loud state.
    pub quiet: bool,
    /// The longest silent window, in µs.
    pub silent_us: i64,
    /// Whether a loud fault's queries did not progress again within the restart bound.
    pub not_restarted: bool,
    /// Tasks a fault disrupted beyond its reach.
    pub collateral: Option<Vec<String>>,
}

impl Findings {
    /// The verdict, by precedence: a harness error is no verdict at all; then what the world
    /// lost or holds twice, whatever else happened (a write that landed where no reader looks
    /// is LOSS, a replay that landed twice is DUPLICATES, loud or not); then a fault nobody saw
    /// that stalled a query (SILENT); then a loud fault the job did not recover from; then a
    /// fault nobody saw that did no visible harm (still SILENT, with its short window: every
    /// fault must fail loudly); then collateral; then a run without faults that stalled.
    pub fn verdict(&self, bounds: &Bounds) -> Verdict {
        if let Some(e) = &self.error {
            Verdict::Error(e.clone())
        } else if self.lost > 0 {
            Verdict::Loss(self.lost)
        } else if self.duplicated > 0 {
            Verdict::Duplicates(self.duplicated)
        } else if self.quiet && self.silent_us > bounds.detection_us {
            Verdict::Silent(self.silent_us)
        } else if self.not_restarted {
            Verdict::LoudNotRestarted
        } else if self.quiet {
            Verdict::Silent(self.silent_us)
        } else if let Some(c) = &self.collateral {
            Verdict::Collateral(c.clone())
        } else if !self.faults && self.silent_us > bounds.silence_us {
            Verdict::Silent(self.silent_us)
        } else if !self.faults {
            Verdict::Clean
        } else {
            Verdict::LoudRestarted
        }
    }
}

fn loud_state(event: &Event) -> Option<String> {
    match event {
        Event::TaskState { task, state: s @ (TaskState::Failed | TaskState::Retrying), .. } => {
            Some(format!("task {task} {}", s.name()))
        }
        Event::RunState { run, state: RunState::Failed } => Some(format!("run {run} FAILED")),
        _ => None,
    }
}

/// The job and the faults' scopes, as the run recorded them.
#[derive(Debug, Default)]
struct JobView {
    job: Option<JobSpec>,
    scopes: BTreeMap<String, Scope>,
    persistent: BTreeSet<String>,
    absorbable: BTreeSet<String>,
}

impl JobView {
    fn program_task(&self, task: &str) -> Option<&crate::topology::TaskSpec> {
        self.job.as_ref()?.tasks.iter().find(|t| t.name == task && t.program.is_some())
    }

    fn task_of(&self, query: &str) -> Option<String> {
        self.job.as_ref()?.task_of(query).map(|t| t.name.clone())
    }

    /// The tasks a fault on `query` may reach by its scope.
    fn reach(&self, fault: &str, query: &str) -> BTreeSet<String> {
        let Some(job) = &self.job else { return BTreeSet::new() };
        self.scopes.get(fault).copied().unwrap_or(Scope::Query).reach(job, query).into_iter().collect()
    }
}

fn job_of(records: &[Record]) -> JobView {
    let Some(scenario) = records.iter().find_map(|r| match &r.event {
        Event::RunStarted { scenario, .. } => Some(scenario),
        _ => None,
    }) else {
        return JobView::default();
    };
    let mut view =
        JobView { job: scenario.get("job").and_then(|j| serde_json::from_value(j.clone()).ok()), ..JobView::default() };
    for f in scenario.get("faults").and_then(|f| f.as_array()).into_iter().flatten() {
        let Some(name) = f.get("name").and_then(|n| n.as_str()) else { continue };
        if let Some(scope) = f.get("scope").and_then(|s| serde_json::from_value(s.clone()).ok()) {
            view.scopes.insert(name.to_string(), scope);
        }
        if f.get("persistent").and_then(|p| p.as_bool()).unwrap_or(false) {
            view.persistent.insert(name.to_string());
        }
        if f.get("absorbable").and_then(|p| p.as_bool()).unwrap_or(false) {
            view.absorbable.insert(name.to_string());
        }
    }
    view
}

/// The longest time a task spent RETRYING while its run said RUNNING.
fn retrying_while_running(records: &[Record]) -> i64 {
    let mut run_running = false;
    let mut since: BTreeMap<String, i64> = BTreeMap::new();
    let mut longest = 0;
    for r in records {
        match &r.event {
            Event::RunState { state, .. } => {
                run_running = *state == RunState::Running;
                if !run_running {
                    for (_, from) in std::mem::take(&mut since) {
                        longest = longest.max(r.at - from);
                    }
                }
            }
            Event::TaskState { task, state, .. } => {
                if let Some(from) = since.remove(task) {
                    longest = longest.max(r.at - from);
                }
                if *state == TaskState::Retrying && run_running {
                    since.insert(task.clone(), r.at);
                }
            }
            _ => {}
        }
    }
    longest
}

fn fault_findings(records: &[Record], bounds: &Bounds, job: &JobView) -> Vec<FaultFinding> {
    let mut out: Vec<FaultFinding> = Vec::new();
    let stalled = stalls(records, false);
    let schedule = records.iter().filter(|r| matches!(r.event, Event::FaultEffect { .. })).count() > 1;
    for (i, r) in records.iter().enumerate() {
        let Event::FaultEffect { fault, query, error_kind, .. } = &r.event else { continue };
        let t0 = r.at;
        let loud = records[i..].iter().find_map(|r| loud_state(&r.event).map(|s| (r.at, s)));
        // In a schedule, what happens after the next fault is injected is that fault's doing.
        let until =
            records[i..].iter().find(|r| matches!(r.event, Event::FaultInjected { .. })).map_or(i64::MAX, |r| r.at);
        // A query that made no progress for longer than a restart may take has stopped; a shorter
        // lull is a busy machine, not a disruption. One an earlier fault broke and that has not
        // progressed since is that fault's, not this one's.
        let broken: BTreeSet<String> = out
            .iter()
            .flat_map(|f| f.affected.iter().filter(move |q| !progressed(records, q, f.effect_at, t0)))
            .filter(|q| *q != query)
            .cloned()
            .collect();
        let affected: Vec<String> = affected_queries(records, t0, until, query, &stalled, bounds.restart_us, job)
            .into_iter()
            .filter(|q| !broken.contains(q))
            .collect();
        let (mut restart_us, mut restarted) = (None, false);
        if let Some((loud_at, _)) = &loud {
            // A fault that lasts until healed can only be recovered from after the heal.
            let healed_at = records.iter().find_map(|r| match &r.event {
                Event::FaultHealed { fault: f } if f == fault && r.at > t0 => Some(r.at),
                _ => None,
            });
            let from = match healed_at {
                Some(h) if job.persistent.contains(fault) => h.max(*loud_at),
                _ => *loud_at,
            };
            let loud_at = &from;
            let mut latest = Some(0i64);
            for q in &affected {
                let before = best_mark(records.iter().filter(|r| r.at <= *loud_at), q);
                let again = records
                    .iter()
                    .find(|r| r.at > *loud_at && sink_mark(&r.event, q).is_some_and(|t| before.is_none_or(|b| t > b)));
                // In a schedule, a query started again with nothing to read (its upstream still
                // broken by another fault) is back too: it has no commit to make. Alone, a fault
                // is recovered from by a commit, the stricter measure.
                let idle = records.iter().find(|r| {
                    schedule
                        && r.at > *loud_at
                        && matches!(&r.event, Event::QueryStarted { query: rq, .. } if rq == q)
                        && !stalled.iter().any(|s| s.query == *q && s.from <= r.at && r.at < s.to)
                });
                let back = match (again, idle) {
                    (Some(a), Some(i)) => Some(a.at.min(i.at)),
                    (a, i) => a.or(i).map(|r| r.at),
                };
                latest = match (latest, back) {
                    (Some(l), Some(a)) => Some(l.max(a - loud_at)),
                    _ => None,
                };
            }
            restart_us = latest;
            restarted = latest.is_some_and(|us| us <= bounds.restart_us);
        }
        let detection_us = loud.as_ref().map(|(at, _)| at - t0);
        let blast: BTreeSet<String> = affected.iter().filter_map(|q| job.task_of(q)).collect();
        let reach = job.reach(fault, query);
        out.push(FaultFinding {
            collateral: blast.difference(&reach).cloned().collect(),
            blast_radius: blast.into_iter().collect(),
            fault: fault.clone(),
            query: query.clone(),
            error_kind: error_kind.clone(),
            effect_at: t0,
            loud_at: loud.as_ref().map(|(at, _)| *at),
            loud_state: loud.map(|(_, s)| s),
            detection_us,
            restart_us,
            affected,
            loud: detection_us.is_some_and(|us| us <= bounds.detection_us),
            restarted,
            absorbed: job.absorbable.contains(fault) && error_kind == crate::fault::UNSEEN,
        });
    }
    out
}

/// How far `query`'s sink has come, as the world shows it: its txn version (an engine query's
/// last batch), or how many of a flow's records have landed (a program's flow).
fn sink_mark(event: &Event, query: &str) -> Option<i64> {
    match event {
        Event::SinkObserved { query: q, txn: Some(t), .. } if q == query => Some(*t),
        Event::FlowLanded { flow, landed, .. } if flow == query && *landed > 0 => Some(*landed as i64),
        _ => None,
    }
}

/// Whether `query`'s sink showed progress in `(from, to]` beyond what it had shown by `from`.
fn progressed(records: &[Record], query: &str, from: i64, to: i64) -> bool {
    let before = best_mark(records.iter().filter(|r| r.at <= from), query);
    records
        .iter()
        .filter(|r| r.at > from && r.at <= to)
        .any(|r| sink_mark(&r.event, query).is_some_and(|t| before.is_none_or(|b| t > b)))
}

/// How far `query`'s sink had come by the end of `records`: what the world showed, and what an
/// engine query reported committed (its batch id is its txn version) — a commit made before a
/// moment but observed only after it is not progress after it.
fn best_mark<'a>(records: impl Iterator<Item = &'a Record>, query: &str) -> Option<i64> {
    records
        .filter_map(|r| match &r.event {
            Event::BatchCommitted { query: q, batch, skipped: false, .. } if q == query => Some(*batch),
            e => sink_mark(e, query),
        })
        .max()
}

/// The fault's target, and every query the system stopped after the fault: those that
/// terminated (with their task, or on their own), those on a cluster that died, and those that
/// stopped progressing without a sound (on a hung driver) for longer than `stall_us` while their
/// source had lag. Only what happened before `until` (the next fault of a schedule) and before
/// the harness stepped in (an operator restart, or the drain at the end) counts.
fn affected_queries(
    records: &[Record],
    t0: i64,
    until: i64,
    target: &str,
    stalls: &[Silence],
    stall_us: i64,
    job: &JobView,
) -> Vec<String> {
    let mut out = BTreeSet::from([target.to_string()]);
    let mut on_cluster: BTreeMap<(String, u32), BTreeSet<String>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.at <= t0) {
        if let Event::QueryStarted { cluster, query, run } = &r.event {
            on_cluster.entry((cluster.clone(), *run)).or_default().insert(query.clone());
        }
    }
    let harness_steps_in =
        |e: &Event| matches!(e, Event::OperatorRestart { .. }) || matches!(e, Event::Phase { name } if name == "drain");
    let stepped_in = records
        .iter()
        .filter(|r| r.at >= t0)
        .find(|r| harness_steps_in(&r.event))
        .map(|r| r.at)
        .unwrap_or(i64::MAX)
        .min(until);
    for s in stalls {
        if s.to.min(stepped_in) - s.from.max(t0) > stall_us {
            out.insert(s.query.clone());
        }
    }
    for r in records.iter().filter(|r| r.at >= t0).take_while(|r| r.at < stepped_in) {
        match &r.event {
            Event::QueryTerminated { query, .. } => {
                out.insert(query.clone());
            }
            Event::ProcessExited { role: crate::history::Role::Cluster, name, run, .. } => {
                if let Some(qs) = on_cluster.get(&(name.clone(), *run)) {
                    out.extend(qs.iter().cloned());
                }
            }
            // A program is its own driver: its flows end with its process.
            Event::ProcessExited { role: crate::history::Role::Task, name, .. } => {
                if let Some(t) = job.program_task(name) {
                    out.extend(t.queries.iter().cloned());
                }
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

#[derive(Default)]
struct QueryTrack {
    end: Positions,
    consumed: Option<Positions>,
    best: Option<i64>,
    open: Option<i64>,
    /// When the query reported each batch committed. The world (the sink's txn) says whether a
    /// commit happened; the report says when, since the observer only samples.
    reported: BTreeMap<i64, i64>,
}

/// When the warm-up ended: the first phase after the `warmup` phase.
fn warmed_up(records: &[Record]) -> Option<i64> {
    let warmup = records.iter().position(|r| matches!(&r.event, Event::Phase { name } if name == "warmup"))?;
    records[warmup + 1..].iter().find(|r| matches!(r.event, Event::Phase { .. })).map(|r| r.at)
}

/// The longest interval in which some query made no progress while its source had lag and
/// every state said RUNNING, among those still open at `after` (all, when None); and the states
/// shown during it.
pub fn silent_window(records: &[Record], after: Option<i64>) -> (Option<Silence>, Vec<String>) {
    // Silence ends where the harness steps in (the on-call engineer's restart, the drain): a
    // program's cold start after that restart is the restart's, not the fault's.
    let stepped_in = records
        .iter()
        .filter(|r| after.is_none_or(|a| r.at >= a))
        .find(|r| {
            matches!(&r.event, Event::OperatorRestart { .. })
                || matches!(&r.event, Event::Phase { name } if name == "drain")
        })
        .map_or(i64::MAX, |r| r.at);
    let clipped = stalls(records, true)
        .into_iter()
        .filter(|s| s.from < stepped_in)
        .map(|s| Silence { to: s.to.min(stepped_in), ..s });
    let best = clipped.filter(|s| after.is_none_or(|a| s.to > a)).fold(None::<Silence>, |best, s| match best {
        Some(b) if b.to - b.from >= s.to - s.from => Some(b),
        _ => Some(s),
    });
    let states = match &best {
        None => Vec::new(),
        Some(s) => states_during(records, s.from, s.to),
    };
    (best, states)
}

/// Every interval in which a query made no progress while its source had lag — only those in
/// which every state also said RUNNING when `while_running` — in the order they closed. An
/// interval still open at the end of the history closes there.
pub fn stalls(records: &[Record], while_running: bool) -> Vec<Silence> {
    let mut tracks: BTreeMap<String, QueryTrack> = BTreeMap::new();
    let mut run_state: Option<(u32, RunState)> = None;
    let mut tasks: BTreeMap<String, TaskState> = BTreeMap::new();
    let mut out: Vec<Silence> = Vec::new();
    let close = |q: &str, from: i64, to: i64, out: &mut Vec<Silence>| {
        out.push(Silence { query: q.to_string(), from, to });
    };
    for r in records {
        // A query whose sink showed progress, and when that progress happened.
        let mut progressed: Option<(&str, i64)> = None;
        match &r.event {
            Event::RunState { run, state } => {
                if run_state.is_none_or(|(n, _)| *run > n) {
                    tasks.clear();
                }
                run_state = Some((*run, *state));
            }
            Event::TaskState { run, task, state, .. } if run_state.is_some_and(|(n, _)| n == *run) => {
                tasks.insert(task.clone(), *state);
            }
            // Source ends only grow. A query that failed inside a batch had read its source as
            // far as that batch's end: the source had lag at the failure itself, whenever the
            // observer's next sample came.
            Event::SourceObserved { query, end } | Event::QueryTerminated { query, pending: Some(end), .. } => {
                let tr = tracks.entry(query.clone()).or_default();
                for (k, v) in end {
                    let e = tr.end.entry(k.clone()).or_insert(*v);
                    *e = (*e).max(*v);
                }
            }
            Event::CheckpointObserved { query, end, .. } => {
                tracks.entry(query.clone()).or_default().consumed = Some(end.clone())
            }
            Event::BatchCommitted { query, batch, skipped: false, .. } => {
                tracks.entry(query.clone()).or_default().reported.entry(*batch).or_insert(r.at);
            }
            Event::FlowLanded { flow, landed, .. } => {
                let tr = tracks.entry(flow.clone()).or_default();
                let landed = *landed as i64;
                tr.consumed = Some(Positions::from([(FLOW_RECORDS.to_string(), landed)]));
                if landed > 0 && tr.best.is_none_or(|b| landed > b) {
                    tr.best = Some(landed);
                    progressed = Some((flow.as_str(), r.at));
                }
            }
            Event::SinkObserved { query, txn: Some(t), .. } => {
                let tr = tracks.entry(query.clone()).or_default();
                if tr.best.is_none_or(|b| *t > b) {
                    tr.best = Some(*t);
                    let when = tr.reported.get(t).copied().filter(|c| *c < r.at).unwrap_or(r.at);
                    progressed = Some((query.as_str(), when));
                }
            }
            _ => {}
        }
        let all_running = run_state.is_some_and(|(_, s)| s == RunState::Running)
            && !tasks.is_empty()
            && tasks.values().all(|s| *s == TaskState::Running);
        for (q, tr) in tracks.iter_mut() {
            let stalled = (all_running || !while_running) && lagging(&tr.end, tr.consumed.as_ref());
            if let Some((_, when)) = progressed.filter(|(p, _)| *p == q.as_str()) {
                match tr.open {
                    // Progress made before this stall began (seen late) does not end it.
                    Some(from) if from >= when => {
                        if !stalled {
                            close(q, from, r.at, &mut out);
                            tr.open = None;
                        }
                    }
                    Some(from) => {
                        close(q, from, when, &mut out);
                        tr.open = stalled.then_some(when);
                    }
                    None => tr.open = stalled.then_some(r.at),
                }
            } else if stalled && tr.open.is_none() {
                tr.open = Some(r.at);
            } else if !stalled && let Some(from) = tr.open.take() {
                close(q, from, r.at, &mut out);
            }
        }
    }
    let end = records.last().map(|r| r.at).unwrap_or(0);
    for (q, tr) in tracks.iter_mut() {
        if let Some(from) = tr.open.take() {
            close(q, from, end, &mut out);
        }
    }
    out
}

/// The run and task states in effect at any time in `[from, to)`: those in effect at `from`,
/// and every change before `to`.
fn states_during(records: &[Record], from: i64, to: i64) -> Vec<String> {
    let mut run: Option<(u32, &str)> = None;
    let mut tasks: BTreeMap<String, &str> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for r in records.iter().take_while(|r| r.at < to) {
        match &r.event {
            Event::RunState { run: n, state } => {
                if run.as_ref().is_none_or(|(m, _)| n > m) {
                    tasks.clear();
                }
                run = Some((*n, state.name()));
            }
            Event::TaskState { task, state, .. } => {
                tasks.insert(task.clone(), state.name());
            }
            _ => continue,
        }
        if r.at >= from {
            if let Some((n, s)) = &run {
                seen.insert(format!("run {n} {s}"));
            }
            seen.extend(tasks.iter().map(|(t, s)| format!("task {t} {s}")));
        }
    }
    if seen.is_empty() {
        if let Some((n, s)) = &run {
            seen.insert(format!("run {n} {s}"));
        }
        seen.extend(tasks.iter().map(|(t, s)| format!("task {t} {s}")));
    }
    seen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{TimeScale, Timings};

    /// A hand-made history, in milliseconds at the test scale (detection bound 250 ms, restart
    /// bound 1 s).
    struct H(Vec<Record>);

    impl H {
        fn new() -> H {
            let mut h = H(Vec::new());
            h.at(
                0,
                Event::RunStarted {
                    run_id: "t".into(),
                    seed: 1,
                    scenario: serde_json::Value::Null,
                    scale: TimeScale::TEST.factor,
                    timings: Timings::default(),
                },
            );
            h.at(1, Event::RunState { run: 1, state: RunState::Pending });
            h.at(2, Event::QueryStarted { cluster: "driver".into(), query: "resolver".into(), run: 1 });
            h.at(
                3,
                Event::TaskState { run: 1, task: "main".into(), attempt: 1, state: TaskState::Running, reason: None },
            );
            h.at(4, Event::RunState { run: 1, state: RunState::Running });
            h
        }
        fn at(&mut self, ms: i64, event: Event) -> &mut H {
            self.0.push(Record { at: ms * 1000, event });
            self
        }
        /// The resolver fails inside a batch that had planned to read up to `pending`.
        fn fails(&mut self, ms: i64, pending: i64) -> &mut H {
            self.at(
                ms,
                Event::QueryTerminated {
                    query: "resolver".into(),
                    error: Some("Commit failed".into()),
                    error_kind: Some("ConcurrentAppend".into()),
                    pending: Some([("alerts/0".to_string(), pending)].into()),
                },
            )
        }
        fn source(&mut self, ms: i64, end: i64) -> &mut H {
            self.at(ms, Event::SourceObserved { query: "resolver".into(), end: [("alerts/0".to_string(), end)].into() })
        }
        fn commit(&mut self, ms: i64, batch: i64, end: i64) -> &mut H {
            self.at(
                ms,
                Event::SinkObserved {
                    query: "resolver".into(),
                    table: "alerts".into(),
                    version: batch,
                    txn: Some(batch),
                },
            );
            self.at(
                ms,
                Event::CheckpointObserved {
                    query: "resolver".into(),
                    batch,
                    end: [("alerts/0".to_string(), end)].into(),
                },
            )
        }
        fn effect(&mut self, ms: i64) -> &mut H {
            self.at(
                ms,
                Event::FaultEffect {
                    fault: "concurrent-append".into(),
                    query: "resolver".into(),
                    error_kind: "ConcurrentAppend".into(),
                    error: "Commit failed".into(),
                },
            )
        }
        fn audit(&mut self, ms: i64, missing: u64, duplicated: u64) -> &mut H {
            self.at(
                ms,
                Event::TableAudit(TableAudit {
                    table: "alerts".into(),
                    query: "resolver".into(),
                    expected: 100,
                    present: 100 - missing,
                    missing,
                    duplicated,
                    ..TableAudit::default()
                }),
            )
        }
        fn analyze(&self) -> Analysis {
            analyze(&self.0)
        }
        fn clone_records(&self) -> Vec<Record> {
            let mut records = self.0.clone();
            records.push(Record { at: 3_000_000, event: Event::Phase { name: "drain".into() } });
            records.push(Record {
                at: 3_050_000,
                event: Event::TableAudit(TableAudit {
                    table: "alerts".into(),
                    query: "resolver".into(),
                    expected: 100,
                    present: 100,
                    ..TableAudit::default()
                }),
            });
            records
        }
    }

    /// A degradation meant to be ridden out that nothing failed on is judged as if absent:
    /// CLEAN when the query kept progressing, SILENT when it stalled past the silence bound;
    /// the same unseen effect of a fault that is not absorbable is SILENT.
    #[test]
    fn an_absorbed_degradation_is_clean_unless_the_world_shows_harm() {
        let run = |absorbable: bool, stall: bool| {
            let mut h = H::new();
            if let Event::RunStarted { scenario, .. } = &mut h.0[0].event {
                *scenario = serde_json::json!({"faults": [{"name": "broker-latency", "absorbable": absorbable}]});
            }
            h.source(10, 5).commit(20, 0, 5).at(
                40,
                Event::FaultEffect {
                    fault: "broker-latency".into(),
                    query: "resolver".into(),
                    error_kind: crate::fault::UNSEEN.into(),
                    error: "nothing failed".into(),
                },
            );
            for ms in (100..3000).step_by(100) {
                h.source(ms, 5 + ms / 100);
                if !stall {
                    h.commit(ms + 50, ms / 100, 5 + ms / 100);
                }
            }
            h.audit(3100, 0, 0).analyze().verdict
        };
        assert_eq!(run(true, false), Verdict::Clean);
        assert!(matches!(run(true, true), Verdict::Silent(_)));
        assert!(matches!(run(false, false), Verdict::Silent(_)));
    }

    #[test]
    fn a_stalled_query_under_running_states_is_silent() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).source(30, 10).effect(40);
        for ms in (100..3000).step_by(100) {
            h.source(ms, 10 + ms / 100);
        }
        h.audit(3100, 0, 0);
        let a = h.analyze();
        assert_eq!(a.verdict.name(), "SILENT", "{a:?}");
        let s = a.silence.unwrap();
        assert_eq!(s.query, "resolver");
        assert_eq!((s.from, s.to), (30_000, 3_100_000));
        assert_eq!(a.states_during_silence, vec!["run 1 RUNNING".to_string(), "task main RUNNING".to_string()]);
        assert!(!a.faults[0].loud);
    }

    #[test]
    fn a_query_that_fails_inside_a_batch_is_stalled_from_the_failure_not_the_next_sample() {
        let mut h = H::new();
        // Caught up at 20 ms; the batch it then planned (up to 7) fails at 40 ms, before any
        // sample showed the source past 5. The next sample comes at 100 ms.
        h.source(10, 5).commit(20, 0, 5).effect(40);
        h.fails(40, 7);
        h.source(100, 6).source(200, 9).audit(1000, 0, 0);
        let s = h.analyze().silence.unwrap();
        assert_eq!((s.from, s.to), (40_000, 1_000_000), "the source ends only grow: 6 < 7 is still lag");
    }

    #[test]
    fn in_a_schedule_each_fault_answers_for_its_own_disruption() {
        let mut h = H::new();
        h.at(2, Event::QueryStarted { cluster: "other".into(), query: "ingest".into(), run: 1 });
        let effect = |h: &mut H, ms: i64, fault: &str, query: &str| {
            let (fault, query) = (fault.to_string(), query.to_string());
            h.at(ms, Event::FaultInjected { fault: fault.clone(), target: query.clone() });
            h.at(ms, Event::FaultEffect { fault, query, error_kind: "E".into(), error: "e".into() });
        };
        h.source(10, 5).commit(20, 0, 5);
        // The resolver fails for good at 40 ms; at 300 ms another fault kills the cluster of
        // ingest. Neither answers for the other's query.
        effect(&mut h, 40, "poison-record", "resolver");
        h.fails(40, 7);
        effect(&mut h, 300, "driver-crash", "ingest");
        h.at(
            300,
            Event::ProcessExited {
                role: crate::history::Role::Cluster,
                name: "other".into(),
                run: 1,
                pid: 9,
                code: None,
                signal: Some(9),
                memory_peak: None,
            },
        );
        h.source(400, 9).audit(1000, 0, 0);
        let a = h.analyze();
        assert_eq!(a.faults[0].affected, vec!["resolver"]);
        assert_eq!(a.faults[1].affected, vec!["ingest"], "the resolver was already broken");
    }

    #[test]
    fn a_commit_the_observer_sees_late_ends_a_stall_when_it_was_made_not_when_it_was_seen() {
        let mut h = H::new();
        // Batch 1 (up to 7) commits at 30 ms; batch 2 (up to 9) fails at 40 ms. The observer
        // sees the sink reach txn 1 only at 100 ms: the resolver has been stalled since 30 ms,
        // not since that sample.
        h.source(10, 5).commit(20, 0, 5).source(25, 7);
        h.at(
            30,
            Event::BatchCommitted { query: "resolver".into(), batch: 1, rows: 2, replayed: false, skipped: false },
        );
        h.effect(40);
        h.fails(40, 9);
        h.commit(100, 1, 7).source(200, 9).audit(1000, 0, 0);
        let s = h.analyze().silence.unwrap();
        assert_eq!((s.from, s.to), (30_000, 1_000_000));
    }

    #[test]
    fn a_query_that_stops_progressing_without_a_sound_is_affected_and_a_brief_lull_is_not() {
        let mut h = H::new();
        let other = |h: &mut H, ms: i64, source: i64, committed: Option<i64>| {
            h.at(ms, Event::SourceObserved { query: "bronze".into(), end: [("t/0".to_string(), source)].into() });
            if let Some(c) = committed {
                let end = [("t/0".to_string(), c)].into();
                h.at(ms, Event::SinkObserved { query: "bronze".into(), table: "b".into(), version: c, txn: Some(c) });
                h.at(ms, Event::CheckpointObserved { query: "bronze".into(), batch: c, end });
            }
        };
        // A hung driver: the resolver (the target) and bronze both stop at 40 ms, no query ends.
        h.source(10, 5).commit(20, 0, 5);
        other(&mut h, 20, 5, Some(5));
        h.effect(40);
        for ms in (100..1500).step_by(100) {
            h.source(ms, 10 + ms / 100);
            other(&mut h, ms, 10 + ms / 100, None);
        }
        h.audit(1500, 0, 0);
        assert_eq!(h.analyze().faults[0].affected, vec!["bronze", "resolver"]);

        // The same, but bronze keeps committing within the restart bound: not affected.
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5);
        other(&mut h, 20, 5, Some(5));
        h.effect(40);
        for ms in (100..1500).step_by(100) {
            // Committing, with one lull of 600 ms.
            let committed = (!(500..1100).contains(&ms)).then_some(9 + ms / 100);
            h.source(ms, 10 + ms / 100);
            other(&mut h, ms, 10 + ms / 100, committed);
        }
        h.audit(1000, 0, 0);
        assert_eq!(h.analyze().faults[0].affected, vec!["resolver"]);
    }

    #[test]
    fn a_loud_failure_followed_by_progress_is_loud_and_restarted() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).source(30, 10).effect(40);
        h.at(
            45,
            Event::TaskState {
                run: 1,
                task: "main".into(),
                attempt: 1,
                state: TaskState::Failed,
                reason: Some("boom".into()),
            },
        );
        h.at(46, Event::RunState { run: 1, state: RunState::Failed });
        h.at(100, Event::RunState { run: 2, state: RunState::Pending });
        h.at(
            200,
            Event::TaskState { run: 2, task: "main".into(), attempt: 1, state: TaskState::Running, reason: None },
        );
        h.at(201, Event::RunState { run: 2, state: RunState::Running });
        h.commit(400, 1, 10).audit(500, 0, 0);
        let a = h.analyze();
        assert_eq!(a.verdict, Verdict::LoudRestarted, "{a:?}");
        let f = &a.faults[0];
        assert_eq!(f.detection_us, Some(5_000));
        assert_eq!(f.restart_us, Some(355_000));
        assert_eq!(f.loud_state.as_deref(), Some("task main FAILED"));
    }

    #[test]
    fn a_loud_failure_that_never_progresses_again_is_not_restarted() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).effect(40);
        h.at(45, Event::TaskState { run: 1, task: "main".into(), attempt: 1, state: TaskState::Failed, reason: None });
        h.audit(3000, 0, 0);
        assert_eq!(h.analyze().verdict, Verdict::LoudNotRestarted);
    }

    #[test]
    fn a_lost_record_is_loss() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).audit(100, 1, 0);
        assert_eq!(h.analyze().verdict, Verdict::Loss(1));
    }

    #[test]
    fn a_duplicate_is_duplicates() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).audit(100, 0, 2);
        assert_eq!(h.analyze().verdict, Verdict::Duplicates(2));
    }

    #[test]
    fn a_query_fault_that_stops_another_task_is_collateral() {
        let mut h = H::new();
        let job = serde_json::json!({
            "clusters": [{"name": "shared"}],
            "tasks": [
                {"name": "ingest", "cluster": "shared", "queries": ["bronze"], "await_policy": "any", "max_retries": 0},
                {"name": "alerts", "cluster": "shared", "queries": ["resolver"], "await_policy": "any", "max_retries": 0}
            ]
        });
        if let Event::RunStarted { scenario, .. } = &mut h.0[0].event {
            *scenario = serde_json::json!({"job": job, "faults": [{"name": "concurrent-append", "scope": "query"}]});
        }
        h.source(10, 5).commit(20, 0, 5).source(30, 10).effect(40);
        h.at(42, Event::QueryTerminated { query: "bronze".into(), error: None, error_kind: None, pending: None });
        h.at(
            45,
            Event::TaskState { run: 1, task: "alerts".into(), attempt: 1, state: TaskState::Retrying, reason: None },
        );
        h.at(
            200,
            Event::TaskState { run: 1, task: "alerts".into(), attempt: 2, state: TaskState::Running, reason: None },
        );
        h.at(250, Event::SinkObserved { query: "bronze".into(), table: "bronze".into(), version: 1, txn: Some(1) });
        h.commit(300, 1, 10).audit(400, 0, 0);
        let a = h.analyze();
        assert_eq!(a.verdict, Verdict::Collateral(vec!["ingest".into()]), "{a:?}");
        assert_eq!(a.faults[0].blast_radius, vec!["alerts".to_string(), "ingest".to_string()]);
        assert_eq!(a.retrying_while_running_us, 155_000);
    }

    /// Every finding alone, then every pair: the graver one decides, in the documented order
    /// ERROR > LOSS > DUPLICATES > SILENT (a stall) > LOUD-NOT-RESTARTED > SILENT (no harm seen)
    /// > COLLATERAL > LOUD+RESTARTED; a run without faults is CLEAN unless it stalled.
    #[test]
    fn the_verdict_is_a_precedence_over_findings() {
        let bounds = Bounds { detection_us: 250_000, restart_us: 1_000_000, silence_us: 1_000_000 };
        let base = Findings { faults: true, ..Findings::default() };
        let findings: Vec<(&str, Findings)> = vec![
            ("ERROR", Findings { error: Some("broker died".into()), ..base.clone() }),
            ("LOSS", Findings { lost: 3, ..base.clone() }),
            ("DUPLICATES", Findings { duplicated: 2, ..base.clone() }),
            ("SILENT", Findings { quiet: true, silent_us: 2_000_000, ..base.clone() }),
            ("LOUD-NOT-RESTARTED", Findings { not_restarted: true, ..base.clone() }),
            ("SILENT", Findings { quiet: true, silent_us: 1_000, ..base.clone() }),
            ("COLLATERAL", Findings { collateral: Some(vec!["other".into()]), ..base.clone() }),
            ("LOUD+RESTARTED", base.clone()),
        ];
        let merge = |a: &Findings, b: &Findings| Findings {
            error: a.error.clone().or(b.error.clone()),
            lost: a.lost + b.lost,
            duplicated: a.duplicated + b.duplicated,
            faults: true,
            quiet: a.quiet || b.quiet,
            silent_us: a.silent_us.max(b.silent_us),
            not_restarted: a.not_restarted || b.not_restarted,
            collateral: a.collateral.clone().or(b.collateral.clone()),
        };
        for (i, (name, f)) in findings.iter().enumerate() {
            assert_eq!(f.verdict(&bounds).name(), *name, "{f:?}");
            for (j, (other, g)) in findings.iter().enumerate() {
                let want = if i <= j { name } else { other };
                assert_eq!(merge(f, g).verdict(&bounds).name(), *want, "{name} with {other}");
            }
        }
        let clean = Findings::default();
        assert_eq!(clean.verdict(&bounds), Verdict::Clean);
        assert_eq!(Findings { silent_us: 2_000_000, ..clean.clone() }.verdict(&bounds).name(), "SILENT");
        assert_eq!(Findings { duplicated: 1, ..clean }.verdict(&bounds).name(), "DUPLICATES");
    }

    /// A program's flow is judged by the ids landing in its sink: produced but not landed is
    /// lag, new ids landing is progress, whatever wrote them.
    #[test]
    fn a_program_flow_stalls_while_produced_records_do_not_land() {
        let mut h = H::new();
        let landed = |h: &mut H, ms: i64, n: u64, added: u64| {
            h.at(
                ms,
                Event::FlowLanded { flow: "ingest".into(), table: "t".into(), version: 1, landed: n, rows: n, added },
            );
        };
        let produced = |h: &mut H, ms: i64, n: i64| {
            h.at(
                ms,
                Event::SourceObserved { query: "ingest".into(), end: Positions::from([(FLOW_RECORDS.into(), n)]) },
            );
        };
        produced(&mut h, 10, 10);
        landed(&mut h, 20, 10, 10);
        produced(&mut h, 30, 20);
        landed(&mut h, 1500, 20, 10);
        let stalls = stalls(&h.0, true);
        // Produced and not landed yet (10 ms), then produced and stuck until more landed.
        let spans: Vec<(i64, i64)> = stalls.iter().map(|s| (s.from, s.to)).collect();
        assert_eq!(spans, vec![(10_000, 20_000), (30_000, 1_500_000)]);
    }

    /// A commit made before a fault took effect, observed only after it, is no progress after
    /// it: a query the fault broke stays broken for the next fault of a schedule.
    #[test]
    fn a_commit_seen_late_is_dated_by_its_report() {
        let mut h = H::new();
        h.commit(10, 4, 5);
        h.at(
            40,
            Event::BatchCommitted { query: "resolver".into(), batch: 5, rows: 1, replayed: false, skipped: false },
        );
        h.at(47, Event::Phase { name: "the fault's effect".into() });
        h.at(54, Event::SinkObserved { query: "resolver".into(), table: "alerts".into(), version: 6, txn: Some(5) });
        assert!(!progressed(&h.0, "resolver", 47_000, 1_000_000), "batch 5 was committed before the effect");
        h.at(90, Event::SinkObserved { query: "resolver".into(), table: "alerts".into(), version: 7, txn: Some(6) });
        assert!(progressed(&h.0, "resolver", 47_000, 1_000_000));
    }

    #[test]
    fn a_harness_error_is_never_a_pass() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).audit(100, 0, 0);
        h.at(101, Event::HarnessError { message: "broker died".into() });
        assert_eq!(h.analyze().verdict, Verdict::Error("broker died".into()));
    }

    #[test]
    fn a_run_without_audit_is_an_error() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5);
        assert_eq!(h.analyze().verdict.name(), "ERROR");
    }

    #[test]
    fn a_clean_run_has_only_short_stalls() {
        let mut h = H::new();
        for i in 0..20 {
            h.source(10 + i * 50, 5 * (i + 1)).commit(40 + i * 50, i, 5 * (i + 1));
        }
        h.audit(2000, 0, 0);
        let a = h.analyze();
        assert_eq!(a.verdict, Verdict::Clean, "{a:?}");
        assert_eq!(a.silence.unwrap().duration(), Duration::from_millis(30));
    }

    /// A program's cold start (before the warm-up ends) is no silence, nor is its cold start
    /// after the on-call engineer's restart: silence is measured between the two.
    #[test]
    fn silence_is_measured_between_the_warm_up_and_the_harness_stepping_in() {
        let mut h = H::new();
        h.at(5, Event::Phase { name: "warmup".into() });
        // Two seconds to start: lag and no progress, every state RUNNING.
        h.source(10, 5).source(1000, 10).commit(2000, 0, 10);
        h.at(2100, Event::Phase { name: "observe".into() });
        for i in 1..10 {
            h.source(2100 + i * 100, 10 + i).commit(2150 + i * 100, i, 10 + i);
        }
        let fault_free = h.clone_records();
        assert_eq!(analyze(&fault_free).verdict, Verdict::Clean, "the start is not a silence");
        // The query dies silently at 3.1 s; the on-call engineer restarts the job at 4 s, and the
        // restarted program takes 3 s more before it lands anything.
        h.source(3100, 30).effect(3100);
        h.at(4000, Event::OperatorRestart { reason: "no progress".into() });
        h.source(5000, 40).commit(7000, 10, 40).audit(7100, 0, 0);
        let a = h.analyze();
        let silence = a.silence.clone().expect("a silent window");
        assert_eq!((silence.from, silence.to), (3_100_000, 4_000_000), "{a:?}");
    }
}
