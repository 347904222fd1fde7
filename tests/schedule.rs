//! A schedule of faults: each injected a while after the one before took effect, each judged
//! for what it did itself.

use crate::support::{SERIAL, assert_loud_restarted, assert_nothing_left, bin, scratch};
use harness::{AwaitPolicy, Topology, Verdict};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_a_poison_record_is_still_unfixed_is_judged_on_its_own_task() {
    let _serial = SERIAL.lock().await;
    let dir = scratch("schedule");
    let faults = suites::faults();
    let scenario = harness::Scenario::new(suites::registry().get("features-inference").unwrap())
        .topology(Topology::cluster_per_task(AwaitPolicy::Any))
        .fault(faults.get("poison-record").unwrap())
        .fault_after(Duration::from_secs(120), faults.get("driver-crash").unwrap())
        .seed(71)
        .bin(bin())
        .dir(&dir);
    assert!(
        scenario.replay_line().contains("--fault poison-record --fault driver-crash@2m00s"),
        "{}",
        scenario.replay_line()
    );
    let report = scenario.run().await.expect("valid input");
    assert_nothing_left(&dir);
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
    let _serial = SERIAL.lock().await;
    let dir = scratch(&format!("schedule-{}", faults.join("-")));
    let catalogue = suites::faults();
    let mut scenario = harness::Scenario::new(suites::registry().get(pipeline).unwrap())
        .topology(Topology::multi_query(policy))
        .seed(seed)
        .bin(bin())
        .dir(&dir);
    for f in faults {
        scenario = scenario.fault(catalogue.get(f).unwrap());
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
    let _serial = SERIAL.lock().await;
    let dir = scratch("schedule-ml-writer");
    let faults = suites::faults();
    let report = harness::Scenario::new(suites::registry().get("telemetry").unwrap())
        .topology(Topology::shared_cluster(AwaitPolicy::Any))
        .fault_after(Duration::from_secs(60), faults.get("concurrent-metadata-change").unwrap())
        .fault_after(Duration::from_secs(60), faults.get("checkpoint-corruption").unwrap())
        .seed(607)
        .bin(bin())
        .dir(&dir)
        .run()
        .await
        .expect("valid input");
    assert_nothing_left(&dir);
    let a = assert_loud_restarted(&report);
    let kinds: Vec<&str> = a.faults.iter().map(|f| f.error_kind.name()).collect();
    assert_eq!(kinds, vec!["MetadataChanged", "Checkpoint"], "{}", report.render());
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}
