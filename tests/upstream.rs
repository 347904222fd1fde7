//! Faults that start in the data: a poison record and a new field. The query's own code fails
//! on them at every start, until the heal deploys a fix; then the failed batch lands once.

use crate::support::{assert_loud_restarted, assert_silent_in, effect_error, run_scenario};
use harness::history::{Event, History};
use harness::pipeline::{Deployments, Oddity};
use harness::{AwaitPolicy, Topology};

fn phase(report: &harness::Report, prefix: &str) -> bool {
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    history.iter().any(|r| matches!(&r.event, Event::Phase { name } if name.starts_with(prefix)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_kills_the_resolver_behind_await_each_without_a_sound() {
    let report =
        run_scenario("telemetry", "poison-record", Topology::multi_query(AwaitPolicy::Each), 51, "poison-each").await;
    let a = &report.analysis;
    assert_silent_in(&report, "resolver");
    // The resolver's own deserializer failed on the null, nothing the harness raised.
    assert_eq!((a.faults[0].query.as_str(), a.faults[0].error_kind.name()), ("resolver", "Parse"));
    let error = effect_error(&report);
    assert!(error.contains("null"), "{error}");
    // The fix was deployed as the heal; the restarted resolver skipped the poison and resolved
    // every other alert.
    assert!(phase(&report, "sent RESOLVE event -1 with a null alert id") && phase(&report, "deployed the fix"));
    assert!(Deployments::load(&report.dir).fixes.contains(&Oddity::Poison));
    assert_eq!((a.missing, a.duplicated, a.unexpected, a.unresolved), (0, 0, 0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_field_fails_every_write_until_schema_evolution_is_deployed() {
    let per_task = Topology::cluster_per_task(AwaitPolicy::Any);
    let report = run_scenario("features-inference", "schema-mismatch", per_task, 52, "new-field").await;
    let a = assert_loud_restarted(&report);
    assert_eq!(a.faults[0].query, "features");
    assert_eq!(a.faults[0].blast_radius, vec!["features"], "{}", report.render());
    // delta-rs refused the batch for its schema.
    let error = effect_error(&report);
    assert!(error.contains("schema"), "{error}");
    // After the fix the table took the new column, and every reading landed once.
    let log = report.dir.join("tables/features/_delta_log");
    let evolved = std::fs::read_dir(&log).unwrap().any(|e| {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
        text.contains("\"metaData\"") && text.contains("firmware")
    });
    assert!(evolved, "no metaData action in {} added the new column", log.display());
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
}
