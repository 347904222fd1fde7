//! Driver faults by signal: a crash (SIGKILL) is loud in every layout; a hang (SIGSTOP) is silent
//! in every layout — even with every query monitored, because nothing terminates.

use crate::support::{assert_loud_restarted, run_scenario};
use harness::history::{Event, History};
use harness::{AwaitPolicy, Report, Topology, Verdict};

async fn run(fault: &str, topology: Topology, name: &str) -> Report {
    run_scenario("features-inference", fault, topology, 21, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_driver_is_loud_and_restarts_in_one_process_and_alone_with_a_cluster_per_task() {
    let report = run("driver-crash", Topology::multi_query(AwaitPolicy::Each), "crash-each").await;
    let a = &report.analysis;
    // Even the incident's await policy cannot hide a dead driver: the task loses it.
    assert_eq!(*report.verdict(), Verdict::LoudRestarted, "{}", report.render());
    assert_eq!(a.faults[0].error_kind, "DriverCrashed");
    assert_eq!(a.faults[0].affected, vec!["features", "inference"], "both queries ran on the dead driver");
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());

    let report = run("driver-crash", Topology::cluster_per_task(AwaitPolicy::Any), "crash-cpt").await;
    let a = assert_loud_restarted(&report);
    assert_eq!(a.faults[0].blast_radius, vec!["inference"], "{}", report.render());
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}

async fn silent_hang(topology: Topology, name: &str, blast_radius: &[&str]) {
    let report = run("driver-hang", topology, name).await;
    let a = &report.analysis;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert_eq!(report.as_expected(), Some(true));
    assert!(!a.faults[0].loud, "{}", report.render());
    assert_eq!(a.faults[0].blast_radius, blast_radius, "{}", report.render());
    // Every state said RUNNING while the driver was stopped.
    assert!(!a.states_during_silence.is_empty());
    assert!(a.states_during_silence.iter().all(|s| s.ends_with("RUNNING")), "{:?}", a.states_during_silence);
    assert!(report.silent_window() > report.horizon / 2, "{}", report.render());
    // The harness stopped the driver and resumed it; nothing was lost once it ran again.
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    let signals: Vec<i32> = history
        .iter()
        .filter_map(|r| match &r.event {
            Event::Signalled { signal, .. } => Some(*signal),
            _ => None,
        })
        .collect();
    use harness::process::Signal::{SIGCONT, SIGSTOP};
    assert_eq!(signals, vec![SIGSTOP as i32, SIGCONT as i32]);
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_driver_is_silent_even_when_every_query_is_monitored() {
    silent_hang(Topology::multi_query(AwaitPolicy::Any).monitored(), "hang-monitored", &["main"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_driver_with_a_cluster_per_task_is_silent_in_its_task_only() {
    silent_hang(Topology::cluster_per_task(AwaitPolicy::Any), "hang-cpt", &["inference"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_shared_driver_stops_every_task_on_it_without_a_sound() {
    // No query ends, yet both tasks' queries stopped: the blast radius counts what stopped
    // progressing, not only what failed.
    let topology = Topology::shared_cluster(AwaitPolicy::Any);
    silent_hang(topology, "hang-shared", &["features", "inference"]).await;
}
