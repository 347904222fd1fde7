//! The silent-window oracle: the intervals in which a query made no progress while its source
//! had lag, those in which every state also said RUNNING, and the states shown meanwhile; and
//! how long a task spent RETRYING while its run said RUNNING.

use super::FLOW_RECORDS;
use crate::history::{Event, Record, RunState, Step, TaskState};
use crate::history::{Positions, lagging};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

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

/// The longest time a task spent RETRYING while its run said RUNNING.
pub(super) fn retrying_while_running(records: &[Record]) -> i64 {
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

#[derive(Default)]
pub(super) struct QueryTrack {
    end: Positions,
    consumed: Option<Positions>,
    best: Option<i64>,
    open: Option<i64>,
    /// When the query reported each batch committed. The world (the sink's txn) says whether a
    /// commit happened; the report says when, since the observer only samples.
    reported: BTreeMap<i64, i64>,
}

/// When the warm-up ended: the first phase after the `warmup` phase.
pub(super) fn warmed_up(records: &[Record]) -> Option<i64> {
    let warmup = records.iter().position(|r| r.event.starts(Step::Warmup))?;
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
        .find(|r| matches!(&r.event, Event::OperatorRestart { .. }) || r.event.starts(Step::Drain))
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
pub(super) fn states_during(records: &[Record], from: i64, to: i64) -> Vec<String> {
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
