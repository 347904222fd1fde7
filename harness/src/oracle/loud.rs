//! The loud and restarted oracles: for every fault's effect, the first state a user sees after
//! it, what it stopped (the queries it affected, the tasks they run in, those beyond its reach),
//! and whether every affected query progressed again within the restart bound.

use super::{Bounds, JobView, Silence, stalls};
use crate::history::{ErrorKind, Event, Record, RunState, Step, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the oracles found about one fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultFinding {
    /// The fault.
    pub fault: String,
    /// The query it broke.
    pub query: String,
    /// The error it caused.
    pub error_kind: ErrorKind,
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
    /// When every affected query progressed again (restarted faults only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<i64>,
    /// A degradation meant to be ridden out, and nothing failed because of it: the run is
    /// judged as if it had not happened (see [`crate::Fault::absorbable`]).
    #[serde(default)]
    pub absorbed: bool,
}

pub(super) fn loud_state(event: &Event) -> Option<String> {
    match event {
        Event::TaskState { task, state: s @ (TaskState::Failed | TaskState::Retrying), .. } => {
            Some(format!("task {task} {}", s.name()))
        }
        Event::RunState { run, state: RunState::Failed } => Some(format!("run {run} FAILED")),
        _ => None,
    }
}

/// What each fault did, from `records` in time order (`analyze` sorts them): what follows an
/// effect is searched from its moment on, by position.
pub(super) fn fault_findings(records: &[Record], bounds: &Bounds, job: &JobView) -> Vec<FaultFinding> {
    let mut out: Vec<FaultFinding> = Vec::new();
    let stalled = stalls(records, false);
    let schedule = records.iter().filter(|r| matches!(r.event, Event::FaultEffect { .. })).count() > 1;
    for (i, r) in records.iter().enumerate() {
        let Event::FaultEffect { fault, query, error_kind, .. } = &r.event else { continue };
        let t0 = r.at;
        // The first loud state at or after the effect: one stamped the same moment (a program's
        // task failing as its process exits, the effect itself) may stand on either side of it.
        let from = records.partition_point(|r| r.at < t0);
        let loud = records[from..].iter().find_map(|r| loud_state(&r.event).map(|s| (r.at, s)));
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
        let affected: Vec<String> = affected_queries(records, t0, until, query, &stalled, bounds.stall_us, job)
            .into_iter()
            .filter(|q| !broken.contains(q))
            .collect();
        let (mut restart_us, mut restarted, mut recovered_at) = (None, false, None);
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
            recovered_at = latest.filter(|_| restarted).map(|us| loud_at + us);
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
            recovered_at,
            absorbed: job.absorbable.contains(fault) && *error_kind == ErrorKind::Unseen,
        });
    }
    out
}

/// How far `query`'s sink has come, as the world shows it: its txn version (an engine query's
/// last batch), or how many of a flow's records have landed (a program's flow).
pub(super) fn sink_mark(event: &Event, query: &str) -> Option<i64> {
    match event {
        Event::SinkObserved { query: q, txn: Some(t), .. } if q == query => Some(*t),
        Event::FlowLanded { flow, landed, .. } if flow == query && *landed > 0 => Some(*landed as i64),
        _ => None,
    }
}

/// Whether `query`'s sink showed progress in `(from, to]` beyond what it had shown by `from`.
pub(super) fn progressed(records: &[Record], query: &str, from: i64, to: i64) -> bool {
    let before = best_mark(records.iter().filter(|r| r.at <= from), query);
    records
        .iter()
        .filter(|r| r.at > from && r.at <= to)
        .any(|r| sink_mark(&r.event, query).is_some_and(|t| before.is_none_or(|b| t > b)))
}

/// How far `query`'s sink had come by the end of `records`: what the world showed, and what an
/// engine query reported committed (its batch id is its txn version) — a commit made before a
/// moment but observed only after it is not progress after it.
pub(super) fn best_mark<'a>(records: impl Iterator<Item = &'a Record>, query: &str) -> Option<i64> {
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
pub(super) fn affected_queries(
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
    let harness_steps_in = |e: &Event| matches!(e, Event::OperatorRestart { .. }) || e.starts(Step::Drain);
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
