//! Incident 1 end to end: eight queries in one driver, the alert resolver dies on a Delta
//! ConcurrentAppend. Awaiting each query in order hides it (SILENT); awaiting any query makes it
//! loud, and the job restarts with every record landing exactly once.

use crate::support::{assert_loud_restarted, assert_silent_in, run_scenario};
use harness::history::{Event, History, RunState, TaskState};
use harness::{AwaitPolicy, Report, Topology, Verdict};

async fn run(await_policy: AwaitPolicy, name: &str) -> Report {
    run_in(Topology::multi_query(await_policy), name).await
}

async fn run_in(topology: Topology, name: &str) -> Report {
    run_scenario("telemetry", "concurrent-append", topology, 7, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaiting_each_query_hides_the_resolver_failure() {
    let report = run(AwaitPolicy::Each, "each").await;
    let a = &report.analysis;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert_eq!(report.as_expected(), Some(true));
    assert_eq!(report.exit_code(), 1);

    // The fault really happened, as delta-rs's own error.
    let f = &a.faults[0];
    assert_eq!(f.error_kind, "ConcurrentAppend");
    assert_eq!(f.affected, vec!["resolver"], "the other queries ran on, as in the incident");
    assert!(!f.loud && f.loud_state.as_ref().is_none_or(|s| !s.contains("run 1")), "{f:?}");

    // The silent window covers at least the observation horizon, in the resolver, and every
    // state the job showed meanwhile was RUNNING.
    assert_silent_in(&report, "resolver");
    assert_eq!(a.states_during_silence, vec!["run 1 RUNNING".to_string(), "task main RUNNING".to_string()]);

    // Between the fault and the operator's restart nothing but RUNNING was ever said.
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    let effect = history.iter().position(|r| matches!(r.event, Event::FaultEffect { .. })).unwrap();
    let restart = history
        .iter()
        .position(|r| matches!(r.event, Event::OperatorRestart { .. }))
        .expect("the operator restarted the job");
    for r in &history[effect..restart] {
        match &r.event {
            Event::RunState { state, .. } => assert_eq!(*state, RunState::Running, "{r:?}"),
            Event::TaskState { state, .. } => assert_eq!(*state, TaskState::Running, "{r:?}"),
            _ => {}
        }
    }

    // After the operator's restart, nothing was lost or duplicated: the incident was silence,
    // not loss.
    assert_eq!((a.missing, a.duplicated, a.unresolved), (0, 0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaiting_any_query_makes_it_loud_and_restarts_exactly_once() {
    let report = run(AwaitPolicy::Any, "any").await;
    let a = assert_loud_restarted(&report);
    assert_eq!(report.as_expected(), Some(true));
    assert_eq!(report.exit_code(), 0);
    let f = &a.faults[0];
    assert_eq!(f.error_kind, "ConcurrentAppend");
    assert_eq!(f.loud_state.as_deref(), Some("task main FAILED"));
    assert!(report.detection().unwrap() <= report.detection_bound);
    assert!(report.restart().unwrap() <= report.restart_bound);
    // Every query restarted with the driver.
    assert_eq!(f.affected, vec!["bronze", "domain_pressure", "domain_temperature", "resolver"]);
    assert!(a.runs >= 2, "a new run started");
    // Exactly once, every resolved alert closed.
    assert_eq!((a.missing, a.duplicated, a.unexpected, a.unresolved), (0, 0, 0, 0), "{}", report.render());
    assert!(a.audits.iter().all(|t| t.expected > 0 && t.present == t.expected), "{:?}", a.audits);
    // The resolver replayed the batch whose commit failed, and the sink took it once.
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    assert!(
        history
            .iter()
            .any(|r| matches!(&r.event, Event::BatchCommitted { query, replayed: true, .. } if query == "resolver"))
    );
    // The report on disk is the one returned.
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(on_disk["analysis"]["verdict"]["verdict"], "LOUD+RESTARTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_retry_restarts_the_queries_on_the_same_cluster() {
    let topology = Topology { max_retries: 1, ..Topology::multi_query(AwaitPolicy::Any) };
    let report = run_in(topology, "retry").await;
    let a = assert_loud_restarted(&report);
    assert_eq!(a.faults[0].loud_state.as_deref(), Some("task main RETRYING"));
    // A retried task restarts every query it owns, on the cluster that survived.
    assert_eq!(a.faults[0].affected, vec!["bronze", "domain_pressure", "domain_temperature", "resolver"]);
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    // One run, one cluster process; the task's second attempt ran on it.
    let clusters = history
        .iter()
        .filter(|r| matches!(&r.event, Event::ProcessStarted { role: harness::history::Role::Cluster, .. }))
        .count();
    let attempts: Vec<u32> = history
        .iter()
        .filter_map(|r| match &r.event {
            Event::TaskState { attempt, state: TaskState::Running, run: 1, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!((a.runs, clusters), (1, 1), "{}", report.render());
    assert!(attempts.contains(&2), "attempts {attempts:?}");
    assert_eq!((a.missing, a.duplicated, a.unresolved), (0, 0, 0), "{}", report.render());
}
