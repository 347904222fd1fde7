//! A schedule of faults: each injected a while after the one before took effect, each judged
//! for what it did itself.

use crate::support::{SERIAL, assert_loud_restarted, assert_nothing_left, bin, scratch};
use harness::{AwaitPolicy, Topology, Verdict};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_a_poison_record_is_still_unfixed_is_judged_on_its_own_task() {
    let faults = [("poison-record", 0), ("driver-crash", 120)];
    let report = scheduled("features-inference", Topology::cluster_per_task(AwaitPolicy::Any), &faults, 71).await;
    assert!(report.replay.contains("--fault poison-record --fault driver-crash@2m00s"), "{}", report.replay);
    let a = assert_loud_restarted(&report);
    let found: Vec<(&str, Vec<String>)> = a.faults.iter().map(|f| (f.fault.as_str(), f.blast_radius.clone())).collect();
    assert_eq!(
        found,
        vec![("poison-record", vec!["features".to_string()]), ("driver-crash", vec!["inference".to_string()])],
        "{}",
        report.render()
    );
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_right_after_a_driver_died_waits_for_the_job_to_be_back() {
    // Found by `loudfail explore --property sound`: the second fault armed a failpoint on a
    // cluster that the first had killed, and the run was an ERROR.
    let report = back_to_back("telemetry", AwaitPolicy::Any, &["driver-oom", "concurrent-append"], 412).await;
    assert!(!matches!(report.verdict(), Verdict::Error(_)), "{}", report.render());
    let found: Vec<&str> = report.analysis.faults.iter().map(|f| f.fault.as_str()).collect();
    assert_eq!(found, vec!["driver-oom", "concurrent-append"], "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_whose_target_an_earlier_fault_stopped_finds_nothing_to_strike_and_the_run_is_judged() {
    // Found by `loudfail explore --property sound --seed 7`: behind `await each` the first
    // metadata change silently stops inference; the second waited for inference's next write,
    // which never came, and the run was an ERROR instead of the SILENT the world shows.
    let faults = ["concurrent-metadata-change", "concurrent-metadata-change"];
    let report = back_to_back("features-inference", AwaitPolicy::Each, &faults, 379).await;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    let kinds: Vec<&str> = report.analysis.faults.iter().map(|f| f.error_kind.name()).collect();
    assert_eq!(kinds, vec!["MetadataChanged", "Unseen"], "{}", report.render());
    assert_eq!((report.analysis.missing, report.analysis.duplicated), (0, 0), "{}", report.render());
}

/// `faults` one right after the other on `pipeline` under multi-query, awaiting by `policy`;
/// nothing left running after.
async fn back_to_back(pipeline: &str, policy: AwaitPolicy, faults: &[&str], seed: u64) -> harness::Report {
    let faults: Vec<(&str, u64)> = faults.iter().map(|f| (*f, 0)).collect();
    scheduled(pipeline, Topology::multi_query(policy), &faults, seed).await
}

/// `faults` on `pipeline` in `topology`, each a number of nominal seconds after the one before
/// took effect; nothing left running after.
async fn scheduled(pipeline: &str, topology: Topology, faults: &[(&str, u64)], seed: u64) -> harness::Report {
    let _serial = SERIAL.lock().await;
    let names: Vec<&str> = faults.iter().map(|(f, _)| *f).collect();
    let dir = scratch(&format!("schedule-{}", names.join("-")));
    let catalogue = suites::faults();
    let mut scenario = harness::Scenario::new(suites::registry().get(pipeline).unwrap())
        .topology(topology)
        .seed(seed)
        .bin(bin())
        .dir(&dir);
    for (f, gap) in faults {
        scenario = scenario.fault_after(Duration::from_secs(*gap), catalogue.get(f).unwrap());
    }
    let report = scenario.run().await.expect("valid input");
    assert_nothing_left(&dir);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_change_strikes_the_query_not_the_workloads_own_writer_of_its_sink() {
    // Found by `loudfail explore --seed 1` (3 runs in 16 SILENT): the ML writer appends to the
    // resolver's sink from the harness; a change caught under its write went unseen by the
    // resolver, and the fault waited out its reach.
    let faults = [("concurrent-metadata-change", 60), ("checkpoint-corruption", 60)];
    let report = scheduled("telemetry", Topology::shared_cluster(AwaitPolicy::Any), &faults, 607).await;
    let a = assert_loud_restarted(&report);
    let kinds: Vec<&str> = a.faults.iter().map(|f| f.error_kind.name()).collect();
    assert_eq!(kinds, vec!["MetadataChanged", "Checkpoint"], "{}", report.render());
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}
