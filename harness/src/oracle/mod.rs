//! Oracles: pure functions of the history, run after the run (Jepsen's checkers). They compose
//! into one verdict; a harness problem is an `ERROR`, never a pass.
//!
//! | oracle | module | question |
//! |---|---|---|
//! | loud | `loud` | is every fault followed, within the detection bound, by a state a user sees (task or run FAILED, task RETRYING)? |
//! | restarted | `loud` | after that, does every affected query progress again within the restart bound? |
//! | silent window | `silence` | what is the longest interval in which a query made no progress while its source had lag and every state said RUNNING? |
//! | no loss, no duplicates | the audits (the audit module, recorded in the history) | is every produced record in its sink exactly once? |
//! | alerts resolved | the audits | is every alert that received a RESOLVE closed? |
//!
//! Each is a pure function of the history's records: nothing here reads the world, a clock or
//! the runtime. [`analyze`] runs them all and [`Findings::verdict`] (in `verdict`) decides by a
//! precedence. What was run comes from the history's typed first record
//! ([`crate::history::ScenarioRecord`]).

mod loud;
mod silence;
mod verdict;

pub use loud::FaultFinding;
pub use silence::{Silence, silent_window, stalls};
pub use verdict::{Findings, Verdict};

use crate::history::{Event, FaultRecord, Record, Step, TableAudit};
use crate::topology::{JobSpec, Scope};
use loud::fault_findings;
use serde::{Deserialize, Serialize};
use silence::{retrying_while_running, warmed_up};
use std::collections::{BTreeMap, BTreeSet};
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
    /// A query that made no progress for longer than this while its source had lag has stopped
    /// (on a hung driver, say): the restart bound without the cold start on top, since a query
    /// that stalls has not restarted (still never below one and a half of the cold start: a
    /// lull that long is the machine's).
    pub stall_us: i64,
    /// Longest stall tolerated in a run without faults.
    pub silence_us: i64,
}

impl Bounds {
    /// The bounds of a run, from its `run_started` record; the restart bound holds the job's
    /// measured cold start (`started`) on top ([`restart_bound`]).
    pub fn of(records: &[Record]) -> Option<Bounds> {
        let started = records.iter().find_map(|r| match &r.event {
            Event::Started { took_us } => Some(*took_us),
            _ => None,
        });
        records.iter().find_map(|r| match &r.event {
            Event::RunStarted { scale, timings, .. } => {
                let us = |d: Duration| (d.as_secs_f64() * scale * 1e6) as i64;
                let cold = started.map(|t| Duration::from_micros(t.max(0) as u64)).unwrap_or_default();
                let bound = Duration::from_micros(us(timings.restart_bound).max(0) as u64);
                Some(Bounds {
                    detection_us: us(timings.detection_bound),
                    restart_us: restart_bound(bound, cold).as_micros() as i64,
                    stall_us: stall_bound(bound, cold).as_micros() as i64,
                    silence_us: us(timings.restart_bound),
                })
            }
            _ => None,
        })
    }
}

/// The restart bound a run is judged by: `bound` (real) plus the job's measured cold start, and
/// never below one and a half of that cold start. A restart is a start, and a start's fixed
/// costs (processes, a runtime, the first batches; a JVM and a Spark session for a program) are
/// real time the time scale does not compress: at 600:1 the engine's cold start (about 0.4 s
/// here) is 4 nominal minutes, and a job whose retry waited its largest backoff (5 of the 10
/// nominal minutes, so that it can be back within the bound once a fault is healed) would
/// otherwise pass or fail the bound by milliseconds, as the machine's load fell. A loaded
/// machine stretches the start and the bound alike.
pub fn restart_bound(bound: Duration, cold_start: Duration) -> Duration {
    stall_bound(bound, cold_start).max(bound + cold_start)
}

/// How long a query may make no progress before it counts as stopped ([`Bounds::stall_us`]):
/// `bound`, never below one and a half of the job's cold start.
fn stall_bound(bound: Duration, cold: Duration) -> Duration {
    bound.max(cold.mul_f64(1.5))
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
    /// Harness errors: what went wrong.
    pub errors: Vec<String>,
    /// What to do about them, as the harness knows (each once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_help: Vec<String>,
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
    let mut errors: Vec<String> = Vec::new();
    let mut error_help: Vec<String> = Vec::new();
    for r in &records {
        if let Event::HarnessError { message, help } = &r.event {
            errors.push(message.clone());
            if let Some(help) = help.as_ref().filter(|h| !error_help.contains(h)) {
                error_help.push(help.clone());
            }
        }
    }
    let bounds = bounds.unwrap_or_else(|| {
        errors.push("the history has no run_started record".into());
        Bounds { detection_us: 0, restart_us: 0, stall_us: 0, silence_us: 0 }
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
    let relapsed_us = relapse(&records, &faults);
    let verdict = Findings {
        error: errors.first().cloned(),
        lost: missing + unresolved,
        duplicated,
        faults: faults.iter().any(|f| !f.absorbed),
        quiet: faults.iter().any(|f| !f.loud && !f.absorbed),
        silent_us,
        not_restarted: faults.iter().any(|f| f.loud && !f.restarted),
        collateral: faults.iter().find(|f| !f.collateral.is_empty()).map(|f| f.collateral.clone()),
        relapsed_us,
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
        error_help,
        runs,
        retrying_while_running_us,
        verdict,
    }
}

/// The longest stall without a sound (every state RUNNING, lag, no progress) that began once
/// the job had recovered from every fault, up to where the harness stepped in (the on-call
/// engineer's restart, the drain), in µs; 0 when a fault was not recovered from (or none took
/// effect), whose own findings judge the run.
fn relapse(records: &[Record], faults: &[FaultFinding]) -> i64 {
    let struck: Vec<&FaultFinding> = faults.iter().filter(|f| !f.absorbed).collect();
    let recovered = struck.iter().map(|f| f.recovered_at).collect::<Option<Vec<i64>>>();
    let Some(at) = recovered.and_then(|r| r.into_iter().max()) else { return 0 };
    let stepped_in = records
        .iter()
        .filter(|r| r.at >= at)
        .find(|r| matches!(r.event, Event::OperatorRestart { .. }) || r.event.starts(Step::Drain))
        .map_or(i64::MAX, |r| r.at);
    stalls(records, true)
        .iter()
        .filter(|s| s.from >= at && s.from < stepped_in)
        .map(|s| s.to.min(stepped_in) - s.from)
        .max()
        .unwrap_or(0)
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
    let named = |keep: fn(&FaultRecord) -> bool| -> BTreeSet<String> {
        scenario.faults.iter().filter(|f| keep(f)).map(|f| f.name.clone()).collect()
    };
    JobView {
        job: Some(scenario.job.clone()),
        scopes: scenario.faults.iter().map(|f| (f.name.clone(), f.scope)).collect(),
        persistent: named(|f| f.persistent),
        absorbable: named(|f| f.absorbable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ErrorKind, Positions, RunState, Step, TaskState};
    use crate::time::{TimeScale, Timings};
    use loud::progressed;

    #[test]
    fn the_restart_bound_holds_the_cold_start_on_top() {
        let ms = Duration::from_millis;
        assert_eq!(restart_bound(ms(1000), Duration::ZERO), ms(1000));
        // The engine at 600:1: a start of 0.4 s on top of the scaled 10 minutes.
        assert_eq!(restart_bound(ms(1000), ms(400)), ms(1400));
        // A Spark session: one and a half of its start, which is longer than both together.
        assert_eq!(restart_bound(ms(1000), ms(30_000)), ms(45_000));
    }

    /// A scenario record of `faults` (name, scope, persistent, absorbable) on `job`.
    fn scenario(faults: Vec<(&str, Scope, bool, bool)>, job: serde_json::Value) -> crate::history::ScenarioRecord {
        crate::history::ScenarioRecord {
            pipeline: "test".into(),
            options: serde_json::Value::Null,
            topology: crate::topology::Topology::multi_query(crate::topology::AwaitPolicy::Any),
            faults: faults
                .into_iter()
                .map(|(name, scope, persistent, absorbable)| FaultRecord {
                    name: name.into(),
                    scope,
                    persistent,
                    absorbable,
                })
                .collect(),
            job: serde_json::from_value(job).expect("a job"),
        }
    }

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
                    scenario: Box::new(scenario(Vec::new(), serde_json::json!({"clusters": [], "tasks": []}))),
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
                    error_kind: Some(ErrorKind::ConcurrentAppend),
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
                    error_kind: ErrorKind::ConcurrentAppend,
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
            records.push(Record { at: 3_000_000, event: Event::step(Step::Drain) });
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
                let job = serde_json::json!({"clusters": [], "tasks": []});
                **scenario = super::tests::scenario(vec![("broker-latency", Scope::Query, false, absorbable)], job);
            }
            h.source(10, 5).commit(20, 0, 5).at(
                40,
                Event::FaultEffect {
                    fault: "broker-latency".into(),
                    query: "resolver".into(),
                    error_kind: ErrorKind::Unseen,
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
            h.at(ms, Event::FaultEffect { fault, query, error_kind: ErrorKind::from_name("E"), error: "e".into() });
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

    /// A program's task fails as its process exits, and its effect is that exit: both carry
    /// the exit's moment, and the effect may be written after the state. The state still makes
    /// the fault loud, at once.
    #[test]
    fn a_loud_state_stamped_with_the_effect_and_written_before_it_is_found() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).source(30, 10);
        let failed = TaskState::Failed;
        h.at(
            40,
            Event::TaskState { run: 1, task: "main".into(), attempt: 1, state: failed, reason: Some("exit".into()) },
        );
        h.effect(40);
        h.at(46, Event::RunState { run: 1, state: RunState::Failed });
        h.at(100, Event::RunState { run: 2, state: RunState::Running });
        h.commit(400, 1, 10).audit(500, 0, 0);
        let a = h.analyze();
        assert_eq!(a.verdict, Verdict::LoudRestarted, "{a:?}");
        assert_eq!(a.faults[0].detection_us, Some(0));
        assert_eq!(a.faults[0].loud_state.as_deref(), Some("task main FAILED"));
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
            **scenario = super::tests::scenario(vec![("concurrent-append", Scope::Query, false, false)], job);
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
    /// > SILENT (a relapse after recovery) > COLLATERAL > LOUD+RESTARTED; a run without faults is CLEAN unless it stalled.
    #[test]
    fn the_verdict_is_a_precedence_over_findings() {
        let bounds =
            Bounds { detection_us: 250_000, restart_us: 1_000_000, stall_us: 1_000_000, silence_us: 1_000_000 };
        let base = Findings { faults: true, ..Findings::default() };
        let findings: Vec<(&str, Findings)> = vec![
            ("ERROR", Findings { error: Some("broker died".into()), ..base.clone() }),
            ("LOSS", Findings { lost: 3, ..base.clone() }),
            ("DUPLICATES", Findings { duplicated: 2, ..base.clone() }),
            ("SILENT", Findings { quiet: true, silent_us: 2_000_000, ..base.clone() }),
            ("LOUD-NOT-RESTARTED", Findings { not_restarted: true, ..base.clone() }),
            ("SILENT", Findings { quiet: true, silent_us: 1_000, ..base.clone() }),
            ("SILENT", Findings { relapsed_us: 2_000_000, ..base.clone() }),
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
            relapsed_us: a.relapsed_us.max(b.relapsed_us),
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
        h.at(101, Event::HarnessError { message: "broker died".into(), help: None });
        assert_eq!(h.analyze().verdict, Verdict::Error("broker died".into()));
    }

    #[test]
    fn a_harness_errors_help_is_kept_apart_from_its_problem_and_said_once() {
        let mut h = H::new();
        h.source(10, 5).commit(20, 0, 5).audit(100, 0, 0);
        let e = crate::error::HarnessError::Timeout { what: "the cluster".into(), waited_ms: 5 };
        h.at(101, Event::harness_error(&e));
        h.at(102, Event::harness_error_while("draining", &e));
        let a = h.analyze();
        assert_eq!(a.verdict, Verdict::Error("timed out after 5 ms waiting for the cluster".into()));
        assert_eq!(a.errors[1], "draining: timed out after 5 ms waiting for the cluster");
        assert_eq!(a.error_help, vec![e.help()]);
        assert!(!a.verdict.to_string().contains('\n'), "one line: {}", a.verdict);
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
        h.at(5, Event::step(Step::Warmup));
        // Two seconds to start: lag and no progress, every state RUNNING.
        h.source(10, 5).source(1000, 10).commit(2000, 0, 10);
        h.at(2100, Event::step(Step::Observe));
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
