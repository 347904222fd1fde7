//! Storage that stops taking writes: the sink's own writes fail (EPERM, root included) until
//! the heal puts the storage back.

use crate::support::{assert_silent_in, effect_error, run_scenario};
use harness::{AwaitPolicy, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_alerts_storage_kills_the_resolver_behind_await_each_without_a_sound() {
    let report =
        run_scenario("telemetry", "storage-read-only", Topology::multi_query(AwaitPolicy::Each), 61, "read-only-each")
            .await;
    let a = &report.analysis;
    assert_silent_in(&report, "resolver");
    assert_eq!(a.faults[0].query, "resolver");
    // delta-rs's own write was refused by the filesystem.
    let error = effect_error(&report);
    assert!(error.contains("not permitted"), "{error}");
    // Every directory was put back, and after the heal everything landed once.
    assert_eq!(harness::storage::frozen_count(), 0);
    let probe = report.dir.join("tables/alerts/_delta_log/probe");
    std::fs::write(&probe, b"x").expect("the alerts log is writable again");
    std::fs::remove_file(&probe).unwrap();
    assert_eq!((a.missing, a.duplicated, a.unexpected, a.unresolved), (0, 0, 0, 0), "{}", report.render());
    // Each refused data file write made object_store panic on purpose, and delta-rs caught it:
    // nothing broke, so the cluster's log says nothing of it.
    let logs = std::fs::read_dir(report.dir.join("logs")).unwrap().flatten();
    let said: Vec<_> = logs
        .filter(|e| std::fs::read_to_string(e.path()).unwrap_or_default().contains("Already shut down"))
        .map(|e| e.path())
        .collect();
    assert!(said.is_empty(), "a panic caught by design was printed in {said:?}");
}
