//! Incident 2: a catalog entry points inference's output at location A while the data sits at
//! B. Loud in the write, it spreads on a shared cluster and stays in its task with a cluster per
//! task; quiet, it loses records without a sound.

use crate::support::{assert_loud_restarted, assert_silent_in, run_scenario};
use harness::{AwaitPolicy, Report, Topology, Verdict};

async fn run(fault: &str, topology: Topology, name: &str) -> Report {
    run_scenario("features-inference", fault, topology, 5, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_awaited_in_order_is_silent() {
    let report = run("external-location-mismatch", Topology::multi_query(AwaitPolicy::Each), "elm-each").await;
    assert_silent_in(&report, "inference");
    assert_eq!(report.analysis.faults[0].query, "inference");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_on_a_shared_cluster_retries_while_running_then_spreads() {
    let report = run("external-location-mismatch", Topology::shared_cluster(AwaitPolicy::Any), "elm-shared").await;
    let a = &report.analysis;
    assert_eq!(*report.verdict(), Verdict::Collateral(vec!["features".into()]), "{}", report.render());
    assert_eq!(report.as_expected(), Some(true));
    assert_eq!(a.faults[0].loud_state.as_deref(), Some("task inference RETRYING"));
    assert!(a.retrying_while_running_us > 0);
    assert!(a.runs >= 2, "past its retries the task failed the run: {}", report.render());
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_with_a_cluster_per_task_stays_in_its_task() {
    let report = run("external-location-mismatch", Topology::cluster_per_task(AwaitPolicy::Any), "elm-cpt").await;
    let a = assert_loud_restarted(&report);
    assert_eq!(a.faults[0].blast_radius, vec!["inference"]);
    assert_eq!(a.runs, 1, "the run never failed: {}", report.render());
    // Inference depends on features: it started only once features' query was up.
    let history = harness::History::read(&report.dir.join("history.jsonl")).unwrap();
    let at = |f: &dyn Fn(&harness::Event) -> bool| history.iter().find(|r| f(&r.event)).map(|r| r.at).unwrap();
    let features_up = at(&|e| matches!(e, harness::Event::QueryStarted { query, .. } if query == "features"));
    let inference_running = at(
        &|e| matches!(e, harness::Event::TaskState { task, state: harness::history::TaskState::Running, .. } if task == "inference"),
    );
    assert!(inference_running >= features_up, "inference started before features was up");
    assert!(a.retrying_while_running_us > 0);
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_creates_a_table_elsewhere_is_loss_never_success() {
    let report =
        run("external-location-mismatch-quiet", Topology::cluster_per_task(AwaitPolicy::Any), "elm-quiet").await;
    let a = &report.analysis;
    let Verdict::Loss(n) = report.verdict() else { panic!("{}", report.render()) };
    assert!(*n > 0);
    assert_eq!(report.as_expected(), Some(true));
    let f = &a.faults[0];
    assert_eq!(f.error_kind, "WroteElsewhere");
    assert!(!f.loud, "nothing failed: {f:?}");
    // The records are missing from the table the catalog names, and they sit in the stray one.
    let predictions = a.audits.iter().find(|t| t.table == "predictions").unwrap();
    assert_eq!(predictions.missing, *n);
    assert!(report.dir.join("elsewhere/predictions/_delta_log").is_dir());
}
