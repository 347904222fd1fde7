//! A torn checkpoint after a crash: the restarted query fails at every start until the damaged
//! entry is deleted, then replays the batch exactly once.

use crate::support::{assert_loud_restarted, run_scenario};
use harness::history::{Event, History};
use harness::{AwaitPolicy, Topology, Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_offsets_entry_is_silent_behind_await_each_and_loud_with_a_cluster_per_task() {
    let each = Topology::multi_query(AwaitPolicy::Each);
    let report = run_scenario("features-inference", "checkpoint-corruption", each, 41, "torn-each").await;
    // The crash restarted the job; the new run says RUNNING with inference dead on its torn entry.
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert_eq!(report.analysis.faults[0].error_kind, "Checkpoint");
    assert_eq!((report.analysis.missing, report.analysis.duplicated), (0, 0), "{}", report.render());

    let per_task = Topology::cluster_per_task(AwaitPolicy::Any);
    let report = run_scenario("features-inference", "checkpoint-corruption", per_task, 41, "torn-cpt").await;
    let a = assert_loud_restarted(&report);
    assert_eq!(a.faults[0].blast_radius, vec!["inference"], "{}", report.render());
    // The heal deleted the torn entry; the batch was planned afresh and landed once.
    let history = History::read(&report.dir.join("history.jsonl")).unwrap();
    let phase = |p: &str| history.iter().any(|r| matches!(&r.event, Event::Phase { name } if name.starts_with(p)));
    assert!(phase("tore ") && phase("deleted the torn "));
    assert_eq!((a.missing, a.duplicated), (0, 0), "{}", report.render());
}
