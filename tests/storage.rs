//! Storage that stops taking writes: the sink's own writes fail (EPERM, root included) until
//! the heal puts the storage back.

use crate::support::run_scenario;
use harness::history::{Event, History};
use harness::{AwaitPolicy, Topology, Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_alerts_storage_kills_the_resolver_behind_await_each_without_a_sound() {
    let report =
        run_scenario("telemetry", "storage-read-only", Topology::multi_query(AwaitPolicy::Each), 61, "read-only-each")
            .await;
    let a = &report.analysis;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert_eq!(a.faults[0].query, "resolver");
    assert!(
        report.silent_window() >= report.horizon,
        "window {:?} < horizon {:?}",
        report.silent_window(),
        report.horizon
    );
    // delta-rs's own write was refused by the filesystem.
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    let error = history
        .iter()
        .find_map(|r| match &r.event {
            Event::FaultEffect { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap();
    assert!(error.contains("not permitted"), "{error}");
    // Every directory was put back, and after the heal everything landed once.
    assert_eq!(harness::storage::frozen_count(), 0);
    let probe = report.dir.join("tables/alerts/_delta_log/probe");
    std::fs::write(&probe, b"x").expect("the alerts log is writable again");
    std::fs::remove_file(&probe).unwrap();
    assert_eq!((a.missing, a.duplicated, a.unexpected, a.unresolved), (0, 0, 0, 0), "{}", report.render());
}
