//! The same fault in the other layouts: tasks as separate processes on one cluster, a cluster
//! per task, and a job that monitors every query.

use crate::support::{assert_loud_restarted, run_scenario};
use harness::history::{Event, History, TaskState};
use harness::{AwaitPolicy, Report, Topology, TopologyKind, Verdict};

async fn run(topology: Topology, name: &str) -> (Report, Vec<harness::Record>) {
    let report = run_scenario("telemetry", "concurrent-append", topology, 11, name).await;
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    (report, history)
}

/// Every state the `ingest` task was given.
fn ingest_states(history: &[harness::Record]) -> Vec<TaskState> {
    history
        .iter()
        .filter_map(|r| match &r.event {
            Event::TaskState { task, state, .. } if task == "ingest" => Some(*state),
            _ => None,
        })
        .collect()
}

async fn contained_in_its_task(kind: TopologyKind, name: &str) {
    let (report, history) = run(Topology::new(kind, AwaitPolicy::Any), name).await;
    let a = assert_loud_restarted(&report);
    let f = &a.faults[0];
    assert_eq!(f.loud_state.as_deref(), Some("task alerts RETRYING"));
    assert_eq!(f.affected, vec!["resolver"]);
    assert_eq!(f.blast_radius, vec!["alerts"]);
    assert!(f.collateral.is_empty());
    // The ingest task never stopped: one run, and it was only ever pending, running, then
    // stopped by the harness at the end.
    assert_eq!(a.runs, 1, "{}", report.render());
    assert_eq!(ingest_states(&history), vec![TaskState::Pending, TaskState::Running, TaskState::Terminated]);
    assert!(a.retrying_while_running_us > 0, "the alerts task retried while the run said RUNNING");
    assert_eq!((a.missing, a.duplicated, a.unresolved), (0, 0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_cluster_retries_the_failed_task_and_leaves_the_other_running() {
    contained_in_its_task(TopologyKind::SharedCluster, "shared").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_per_task_keeps_the_blast_radius_to_one_task() {
    contained_in_its_task(TopologyKind::ClusterPerTask, "per-task").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_every_query_makes_the_incident_loud() {
    let (report, history) = run(Topology::multi_query(AwaitPolicy::Each).monitored(), "monitored").await;
    assert_eq!(*report.verdict(), Verdict::LoudRestarted, "{}", report.render());
    assert_eq!(report.as_expected(), Some(true));
    let reason = history.iter().find_map(|r| match &r.event {
        Event::TaskState { state: TaskState::Failed, reason, .. } => reason.clone(),
        _ => None,
    });
    assert!(reason.as_deref().is_some_and(|r| r.starts_with("query resolver terminated with an error")), "{reason:?}");
}
