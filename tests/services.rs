//! Faults in a service every task depends on: the catalog (a metastore outage).

use crate::support::{assert_loud_restarted, run_scenario};
use harness::history::{Event, History};
use harness::{AwaitPolicy, Topology, Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_outage_fails_every_query_it_meets_loudly_and_the_job_comes_back() {
    // Awaiting each query in order is loud here only because the first query awaited has data
    // during the outage and fails too.
    let report =
        run_scenario("features-inference", "catalog-blip", Topology::multi_query(AwaitPolicy::Each), 31, "blip-each")
            .await;
    let a = assert_loud_restarted(&report);
    assert_eq!(a.faults[0].error_kind, "CatalogUnavailable");
    assert_eq!(a.faults[0].affected, vec!["features", "inference"], "{}", report.render());
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
    // The outage ended on its own, before the horizon; the catalog is back in place.
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    let healed = history.iter().filter(|r| matches!(&r.event, Event::FaultHealed { .. })).count();
    assert_eq!(healed, 1, "one end of the outage");
    assert!(report.dir.join("catalog.json").is_file() && !report.dir.join("catalog.json.unreachable").exists());

    // Every task depends on the catalog: whatever it reaches is within its reach.
    let shared = Topology::shared_cluster(AwaitPolicy::Any);
    let report = run_scenario("features-inference", "catalog-blip", shared, 31, "blip-shared").await;
    let a = assert_loud_restarted(&report);
    assert!(a.faults[0].collateral.is_empty(), "{}", report.render());
    assert!(a.retrying_while_running_us > 0, "the failed task retried while the run said RUNNING");
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_stalls_every_query_without_a_sound_and_loses_nothing() {
    // Three nominal minutes: shorter than the engine's Kafka source waits. Nothing fails, every
    // query stops reading, every state says RUNNING; the harness's own producers ride it out.
    let report =
        run_scenario("telemetry", "broker-outage", Topology::shared_cluster(AwaitPolicy::Any), 7, "outage").await;
    let a = &report.analysis;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert_eq!(a.faults[0].error_kind, harness::fault::ErrorKind::Unseen, "{}", report.render());
    assert!(a.states_during_silence.iter().all(|s| s.ends_with("RUNNING")), "{}", report.render());
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
    assert!(a.errors.is_empty(), "{}", report.render());
}
