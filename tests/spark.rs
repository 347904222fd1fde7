//! Incident 1 on real Spark Structured Streaming: `spark-telemetry` (PySpark in local mode, its
//! Kafka source on Spark's Python Data Source API, Delta written by delta-rs from
//! `foreachBatch`), run as a black box from its spec file. Another job appends to the alerts
//! table while the resolver MERGEs into it; delta-rs refuses the MERGE's commit.

use crate::support::{SERIAL, assert_nothing_left, scratch};
use harness::{AwaitPolicy, Topology, Verdict};

/// The Spark pipeline's spec, its venv made (once per test binary) by its own setup script: the
/// same one `ci/setup.sh` runs, so `cargo test` alone works on a fresh machine.
fn spec() -> std::path::PathBuf {
    shipped("spark-telemetry")
}

/// A shipped Spark pipeline's spec, its venv made.
fn shipped(name: &str) -> std::path::PathBuf {
    static VENV: std::sync::Once = std::sync::Once::new();
    let path = suites::shipped_program(name).expect("shipped");
    crate::support::setup_example(path.parent().unwrap(), &VENV);
    path
}

async fn run(await_policy: AwaitPolicy, name: &str) -> harness::Report {
    let pipeline = harness::program::ProgramPipeline::load(&spec()).expect("the spec loads");
    run_on(pipeline, Topology::multi_query(await_policy), "concurrent-append", name).await
}

async fn run_on(
    pipeline: harness::program::ProgramPipeline,
    topology: Topology,
    fault: &str,
    name: &str,
) -> harness::Report {
    let _serial = SERIAL.lock().await;
    let dir = scratch(name);
    let scale = pipeline.spec().time_scale();
    let report = harness::Scenario::new(std::sync::Arc::new(pipeline))
        .topology(topology)
        .scale(scale)
        .seed(1)
        .bin(crate::support::bin())
        .dir(&dir)
        .fault(suites::faults().get(fault).unwrap())
        .run()
        .await
        .expect("valid input");
    // The JVM and its Python workers are the program's descendants: none is left.
    assert_nothing_left(&dir);
    // The driver's scratch (Spark's block manager) is in the run directory, each process's
    // TMPDIR, not in /tmp where a killed JVM would leave it.
    let tmp = dir.join("tmp");
    let scratch = std::fs::read_dir(&tmp).into_iter().flatten().flatten();
    let entries = scratch.flat_map(|task| std::fs::read_dir(task.path()).into_iter().flatten().flatten());
    let block_managers = entries.filter(|e| e.file_name().to_string_lossy().starts_with("blockmgr-")).count();
    assert!(block_managers > 0, "no Spark block manager directory under {}", tmp.display());
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_spark_awaiting_each_query_hides_the_resolver_failure() {
    let report = run(AwaitPolicy::Each, "spark-each").await;
    let a = &report.analysis;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    let silence = a.silence.as_ref().expect("a silent window");
    assert_eq!(silence.query, "resolver", "{}", report.render());
    assert!(a.states_during_silence.iter().all(|s| s.ends_with("RUNNING")), "{}", report.render());
    assert_eq!(a.runs, 2, "one run, and the on-call engineer's restart: {}", report.render());
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_spark_awaiting_any_query_is_loud_and_restarts_exactly_once() {
    let report = run(AwaitPolicy::Any, "spark-any").await;
    let a = &report.analysis;
    assert_eq!(report.verdict(), &Verdict::LoudRestarted, "{}", report.render());
    assert_eq!(a.faults[0].query, "resolver", "{}", report.render());
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
    // The other job's rows all survived.
    let alerts = a.audits.iter().find(|t| t.table == "alerts").unwrap();
    assert_eq!(alerts.unexpected, 0, "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_spark_run_leaves_no_jvm_and_no_python_worker() {
    spec();
    let _serial = SERIAL.lock().await;
    // Once the world shows a flow's records landed, Spark has run batches: its JVM and the
    // Python workers that read the Kafka source are up.
    let args = ["--pipeline", "spark-telemetry", "--fault", "none"];
    let (_, running) = crate::support::interrupt("spark-ctrl-c", &args, "\"event\":\"flow_landed\"").await;
    // (`interrupt` has asserted that none of them is left.)
    assert!(running.iter().any(|(_, cmd)| cmd.contains("java")), "no JVM was running: {running:?}");
    assert!(
        running.iter().any(|(_, cmd)| cmd.contains("pyspark.daemon") || cmd.contains("pyspark.worker")),
        "no Python worker was running: {running:?}"
    );
}

// The tests below run nightly (`ci/nightly.sh`: `cargo test -- --ignored`), not in `.ci/run`:
// each takes 2-5 minutes of a 2-core CI machine's 60, and a Connect server's Python workers
// must connect back to it within Spark's fixed 10 s, which CI's load sometimes denies them.

/// `spark-telemetry` on a shared cluster: a Spark Connect server, the task its client.
fn on_connect(retries: Option<&str>) -> harness::program::ProgramPipeline {
    let mut spec = harness::program::ProgramSpec::load(&spec()).expect("the spec loads");
    if let Some(n) = retries {
        spec.tasks[0].env.insert("LF_CONNECT_RETRIES".into(), n.into());
    }
    harness::program::ProgramPipeline::from_spec(spec).expect("the variant is a valid spec")
}

fn shared_cluster() -> Topology {
    Topology::shared_cluster(AwaitPolicy::Any)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "nightly (ci/nightly.sh)"]
async fn on_a_spark_connect_shared_cluster_a_lost_driver_goes_unnoticed() {
    // The Connect client's default policy retries an unreachable server for about 10 minutes:
    // the server (the driver) is killed, and the client waits on with no error and no progress.
    let report = run_on(on_connect(None), shared_cluster(), "driver-crash", "spark-connect-lost").await;
    let a = &report.analysis;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert!(a.states_during_silence.iter().all(|s| s.ends_with("RUNNING")), "{}", report.render());
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "nightly (ci/nightly.sh)"]
async fn a_connect_client_that_gives_up_makes_a_lost_driver_loud() {
    // Three retries (backoff at most 2 s): the client raises within seconds, the task fails
    // and is retried on a new server.
    let report = run_on(on_connect(Some("3")), shared_cluster(), "driver-crash", "spark-connect-loud").await;
    let a = &report.analysis;
    assert_eq!(report.verdict(), &Verdict::LoudRestarted, "{}", report.render());
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
}

fn features_inference() -> harness::program::ProgramPipeline {
    harness::program::ProgramPipeline::load(&shipped("spark-features-inference")).expect("the spec loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "nightly (ci/nightly.sh)"]
async fn incident_2_on_spark_a_moved_catalog_entry_on_a_shared_cluster_takes_the_other_task_down() {
    // Both tasks are clients of one Connect server; the catalog moves predictions where no
    // table can be. Inference fails its writes and is retried while features runs on, RUNNING;
    // past its retries the run fails, and the new run restarts features too.
    let report = run_on(features_inference(), shared_cluster(), "external-location-mismatch", "spark-elm-shared").await;
    let a = &report.analysis;
    assert!(
        matches!(report.verdict(), Verdict::Collateral(q) if q.contains(&"features".to_string())),
        "{}",
        report.render()
    );
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "nightly (ci/nightly.sh)"]
async fn incident_2_on_spark_a_catalog_entry_moved_to_an_empty_place_loses_records_quietly() {
    // saveAsTable into the new place creates a fresh table there: no error anywhere, and what
    // inference wrote meanwhile never reaches the predictions table the catalog names.
    let topology = Topology::cluster_per_task(AwaitPolicy::Any);
    let report = run_on(features_inference(), topology, "external-location-mismatch-quiet", "spark-elm-quiet").await;
    let a = &report.analysis;
    assert!(matches!(report.verdict(), Verdict::Loss(n) if *n > 0), "{}", report.render());
    assert_eq!(a.duplicated, 0, "{}", report.render());
    assert!(a.states_during_silence.iter().all(|s| s.ends_with("RUNNING")), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_harness_leaves_no_jvm_its_reaper_does_not_kill() {
    spec();
    let _serial = SERIAL.lock().await;
    let dir = scratch("spark-sigkill");
    let mut child = std::process::Command::new(crate::support::bin())
        .args(["run", "--pipeline", "spark-telemetry", "--fault", "none", "--dir", dir.to_str().unwrap()])
        .spawn()
        .expect("loudfail runs");
    // The moment the driver's JVM is up (a few seconds in): waiting for batches would only cost.
    let jvm = || crate::support::processes_mentioning(&dir).iter().any(|(_, cmd)| cmd.contains("java"));
    assert!(crate::support::await_condition(std::time::Duration::from_secs(120), jvm).await, "no JVM was started");
    // The driver dies by its parent-death signal; the JVM and the Python workers it started do
    // not: the reaper kills their process group.
    crate::support::sigkill_and_await_reaper(&mut child, &dir, || true).await;
}
