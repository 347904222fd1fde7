//! Any program as a pipeline: the Python pipeline of `examples/python-pipeline` (confluent-kafka
//! and deltalake, in a venv of its own), run as it is from its spec file and judged from the
//! world alone. The healthy program gets its documented expectation under every fault that fits
//! it; each planted defect gets the verdict that is true of it, never ERROR, never a pass.

use crate::support::{SERIAL, assert_nothing_left, scratch, spec_with};
use harness::Verdict;
use std::path::{Path, PathBuf};

/// The example's directory, its venv made (once per test binary) by its own setup script: the
/// same one `ci/setup.sh` runs, so `cargo test` alone works on a fresh machine.
pub(crate) fn example_dir() -> PathBuf {
    static VENV: std::sync::Once = std::sync::Once::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-pipeline");
    crate::support::setup_example(&dir, &VENV);
    dir
}

/// Runs the spec (`loudfail.toml`, or `defects/<defect>.toml`) under `faults`, holding the
/// serial lock; checks nothing of it is left running.
async fn run(spec: &str, faults: &[&str], topology: harness::Topology, seed: u64) -> harness::Report {
    let path = example_dir().join(spec);
    let _serial = SERIAL.lock().await;
    let dir = scratch(&format!("program-{}", spec.replace(['/', '.'], "-")));
    let pipeline = harness::program::ProgramPipeline::load(&path).expect("the spec loads");
    let scale = pipeline.spec().time_scale();
    let mut s = harness::Scenario::new(std::sync::Arc::new(pipeline))
        .topology(topology)
        .scale(scale)
        .seed(seed)
        .bin(crate::support::bin())
        .dir(&dir);
    for f in faults {
        s = s.fault(suites::faults().get(f).unwrap());
    }
    let report = s.run().await.expect("valid input");
    assert_nothing_left(&dir);
    assert_eq!(harness::process::live_count(), 0, "the process registry still lists children");
    report
}

fn multi() -> harness::Topology {
    harness::Topology::multi_query(harness::AwaitPolicy::Any)
}

fn audit(report: &harness::Report) -> &harness::history::TableAudit {
    assert_eq!(report.analysis.audits.len(), 1, "{}", report.render());
    &report.analysis.audits[0]
}

/// Every record the flow was fed landed, once: nothing missing, nothing twice.
fn landed_once(report: &harness::Report, why: &str) {
    let a = audit(report);
    assert_eq!((a.missing, a.duplicated), (0, 0), "{why}\n{}", report.render());
}

/// The healthy program (`loudfail.toml`, multi-query, seed 1) under `fault`: `verdict`, and every
/// record landed once.
async fn healthy(fault: &str, verdict: Verdict) -> harness::Report {
    let report = run("loudfail.toml", &[fault], multi(), 1).await;
    assert_eq!(report.verdict(), &verdict, "{}", report.render());
    landed_once(&report, "");
    report
}

/// A defective version of it (`defects/<defect>.toml`, multi-query, seed 1) under `fault`: LOSS.
async fn lossy(defect: &str, fault: &str) -> harness::Report {
    let report = run(&format!("defects/{defect}.toml"), &[fault], multi(), 1).await;
    assert!(matches!(report.verdict(), Verdict::Loss(n) if *n > 0), "{}", report.render());
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_pipeline_killed_is_loud_restarted_and_exactly_once() {
    let report = run("loudfail.toml", &["driver-crash"], multi(), 1).await;
    assert_eq!(report.verdict(), &Verdict::LoudRestarted, "{}", report.render());
    let a = audit(&report);
    assert!(a.present > 100, "{}", report.render());
    assert_eq!((a.missing, a.duplicated, a.unexpected), (0, 0, 0), "{}", report.render());
    // Its output went to its log, not into the history.
    let logs: Vec<_> = std::fs::read_dir(report.dir.join("logs")).unwrap().flatten().collect();
    assert!(
        logs.iter().any(|l| std::fs::read_to_string(l.path()).unwrap_or_default().contains("pipeline: started")),
        "the program's own output is in logs/"
    );
    // Its replay line names what shapes it: --domains shapes the telemetry pipeline alone.
    assert!(!report.replay.contains("--domains"), "{}", report.replay);
    assert!(report.replay.contains("--pipeline-file "), "{}", report.replay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_pipeline_with_nothing_wrong_is_clean() {
    // No false alarm over ten seeds.
    for seed in 1..=10 {
        let report = run("loudfail.toml", &[], multi(), seed).await;
        assert_eq!(report.verdict(), &Verdict::Clean, "seed {seed}\n{}", report.render());
        assert_eq!(audit(&report).missing, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_pipeline_squeezed_out_of_memory_is_killed_by_the_kernel_loud_and_restarted() {
    let report = run("loudfail.toml", &["driver-oom"], multi(), 1).await;
    assert_eq!(report.verdict(), &Verdict::LoudRestarted, "{}", report.render());
    // The kernel killed it (SIGKILL) for what grew in its cgroup past the squeezed limit (the
    // balloon, gone with it: assert_nothing_left).
    let history = harness::history::History::read(&report.dir.join("history.jsonl")).unwrap();
    assert!(
        history
            .iter()
            .any(|r| matches!(&r.event, harness::history::Event::OutOfMemory { name, .. } if name == "ingest")),
        "{}",
        report.render()
    );
    landed_once(&report, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_storage_is_loud_for_the_healthy_pipeline_and_exactly_once_after_the_heal() {
    let report =
        run("loudfail.toml", &["storage-read-only"], harness::Topology::cluster_per_task(harness::AwaitPolicy::Any), 1)
            .await;
    assert_eq!(report.verdict(), &Verdict::LoudRestarted, "{}", report.render());
    landed_once(&report, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_swallows_its_write_errors_loses_records() {
    // A healthy pipeline fails on the refused commit and replays it.
    healthy("concurrent-metadata-change", Verdict::LoudRestarted).await;
    let report = lossy("swallow-write-errors", "concurrent-metadata-change").await;
    assert!(audit(&report).missing > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_retries_in_place_forever_is_silent() {
    let report = run("defects/retry-forever.toml", &["storage-read-only"], multi(), 1).await;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert!(report.silent_window() >= report.horizon, "{}", report.render());
    // It recovered once the storage was back: nothing lost, nothing twice.
    landed_once(&report, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_deadlocks_with_no_fault_is_silent_and_loses_nothing() {
    let report = run("defects/deadlock.toml", &[], multi(), 1).await;
    // Alive and RUNNING while nothing landed: a stall nobody heard, for longer than a run
    // without faults tolerates (the restart bound, without the cold start on top).
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    let tolerated = report.scale.real(harness::time::Timings::default().restart_bound);
    assert!(report.silent_window() > tolerated, "{}", report.render());
    // The engineer restarted it, and what it had not written landed then: the records waited
    // in Kafka, none is lost.
    let history = harness::history::History::read(&report.dir.join("history.jsonl")).unwrap();
    assert!(history.iter().any(|r| matches!(r.event, harness::history::Event::OperatorRestart { .. })));
    landed_once(&report, "the restarted program lands what the deadlocked one never wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_deadlocks_after_it_recovered_from_a_crash_is_silent_and_loses_nothing() {
    let report = run("defects/deadlock.toml", &["driver-crash"], multi(), 1).await;
    // The crash was loud and the job came back; then, 8 s into its new start, it stalled
    // without a sound: a relapse the crash does not explain.
    let f = &report.analysis.faults[0];
    assert!(f.loud && f.restarted, "{}", report.render());
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    landed_once(&report, "the restarted program lands what the deadlocked one never wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_exits_0_on_a_failed_write_succeeds_into_silence() {
    let report = run("defects/exit-zero.toml", &["storage-read-only"], multi(), 1).await;
    // Each run's task SUCCEEDED, as a jobs UI shows a stream that stopped by itself, and the
    // continuous job started the next run: nothing turned red while nothing landed.
    let history = harness::history::History::read(&report.dir.join("history.jsonl")).unwrap();
    let succeeded = history
        .iter()
        .filter(|r| {
            matches!(&r.event, harness::history::Event::TaskState { state: harness::history::TaskState::Succeeded, .. })
        })
        .count();
    assert!(succeeded >= 1 && report.analysis.runs >= 2, "{}", report.render());
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    landed_once(&report, "it catches up after the heal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_schema_drift_is_ridden_out_by_schema_evolution_and_loses_records_without_it() {
    healthy("schema-drift", Verdict::Clean).await;
    // Loud — it fails at every start — but nothing produced since the drift ever lands.
    let strict = lossy("strict-schema", "schema-drift").await;
    assert!(strict.analysis.faults[0].loud, "{}", strict.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_is_not_json_is_dead_lettered_or_blocks_everything_behind_it() {
    let healthy = healthy("bad-record", Verdict::Clean).await;
    let logs: Vec<_> = std::fs::read_dir(healthy.dir.join("logs")).unwrap().flatten().collect();
    assert!(
        logs.iter().any(|l| std::fs::read_to_string(l.path()).unwrap_or_default().contains("dead letter")),
        "the program dead-lettered it"
    );
    let strict = lossy("no-dead-letters", "bad-record").await;
    assert!(strict.analysis.faults[0].loud, "{}", strict.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_program_is_silent() {
    let report = run("loudfail.toml", &["driver-hang"], multi(), 1).await;
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    assert_eq!(report.analysis.silence.as_ref().unwrap().query, "ingest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_right_after_a_commit_duplicates_only_a_sink_without_txn() {
    healthy("crash-after-commit", Verdict::LoudRestarted).await;
    let report = run("defects/no-txn.toml", &["crash-after-commit"], multi(), 1).await;
    // Loud and restarted, but the replayed batch landed twice: the duplicates decide.
    assert!(matches!(report.verdict(), Verdict::Duplicates(n) if *n > 0), "{}", report.render());
    assert_eq!(audit(&report).missing, 0, "{}", report.render());
    // Its spec names the consumer group it keeps its progress in: the broker's view of it is in
    // the history, never more than what was produced.
    let history = harness::history::History::read(&report.dir.join("history.jsonl")).unwrap();
    let committed: Vec<i64> = history
        .iter()
        .filter_map(|r| match &r.event {
            harness::history::Event::GroupCommitted { offsets, .. } => Some(offsets.values().sum()),
            _ => None,
        })
        .collect();
    assert!(committed.len() > 1, "{}", report.render());
    assert!(*committed.last().unwrap() as u64 <= audit(&report).expected, "{committed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_pipeline_rides_out_a_slow_broker_and_retriable_errors() {
    for fault in ["broker-latency", "broker-errors"] {
        let report = run("loudfail.toml", &[fault], multi(), 1).await;
        // Nothing failed, nothing stalled for long, nothing lost: absorbed, as it should be.
        assert_eq!(report.verdict(), &Verdict::Clean, "{fault}\n{}", report.render());
        assert_eq!(report.as_expected(), Some(true), "{fault}\n{}", report.render());
        landed_once(&report, fault);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_job_appending_to_the_sink_is_ridden_out_and_its_rows_survive() {
    let report = run("loudfail.toml", &["concurrent-writer"], multi(), 1).await;
    assert_eq!(report.verdict(), &Verdict::Clean, "{}", report.render());
    let audits = &report.analysis.audits;
    assert_eq!(audits.len(), 2, "the flow's audit and the other job's\n{}", report.render());
    let foreign = audits.iter().find(|a| a.query == "concurrent-writer").expect("the other job's rows are audited");
    assert_eq!((foreign.expected, foreign.present, foreign.missing), (100, 100, 0), "{}", report.render());
    let flow = audits.iter().find(|a| a.query == "ingest").unwrap();
    // Told apart: the other job's rows are not the flow's unexpected rows.
    assert_eq!((flow.missing, flow.duplicated, flow.unexpected), (0, 0, 0), "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_goes_unnoticed_by_a_program_that_waits_for_it() {
    let report = run("loudfail.toml", &["broker-outage"], multi(), 1).await;
    // librdkafka retries forever: no process fails, the job says RUNNING while nothing lands.
    assert!(matches!(report.verdict(), Verdict::Silent(_)), "{}", report.render());
    landed_once(&report, "it catches up once the broker is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exploration_draws_from_the_faults_that_fit_the_program() {
    let spec = example_dir().join("loudfail.toml");
    let _serial = SERIAL.lock().await;
    let dir = scratch("program-explore");
    let o = std::process::Command::new(crate::support::bin())
        .args(["explore", "--pipeline-file", spec.to_str().unwrap(), "--property", "model", "--budget", "1"])
        .args(["--seed", "1", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let t = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{t}");
    // The case drawn is the program, in a layout a program runs in, under a fault that fits it.
    let case = t.lines().find(|l| l.contains(" generated ")).expect("a generated case");
    let words: Vec<&str> = case.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "python-ingest").expect("the program's case");
    assert!(["multi-query", "cluster-per-task"].contains(&words[at + 1]), "{case}");
    let fits: Vec<&str> = suites::faults().all().iter().filter(|f| f.fits_programs()).map(|f| f.name()).collect();
    assert!(fits.contains(&words[at + 2].trim_end_matches(',')), "{case}");
    assert!(t.contains("every run held the property (model)"), "{t}");
    assert!(t.contains("loudfail explore --pipeline-file"), "the replay line names the spec: {t}");
    assert_nothing_left(&dir);
}

/// The Python example's spec with its task's command replaced by `bash -c SCRIPT`, where
/// `{python}` and `{script}` in SCRIPT stand for the venv's Python and the pipeline's script,
/// written in a scratch directory named for `name`.
fn launched_by(name: &str, script: &str) -> String {
    let example = example_dir();
    let script = script
        .replace("{python}", &example.join(".venv/bin/python").display().to_string())
        .replace("{script}", &example.join("pipeline.py").display().to_string());
    let command = format!("command = [\"bash\", \"-c\", \"{script}\"]");
    let spec = spec_with(name, |spec| {
        spec.lines()
            .map(|l| if l.starts_with("command = ") { command.clone() } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n")
    });
    spec.display().to_string()
}

/// A program that starts a helper in a session of its own (`setsid`, as a daemon does): the
/// helper has left the program's process group, yet it goes with the program, under a crash of
/// its driver and at the end of the run alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_program_starts_in_a_session_of_its_own_goes_with_it() {
    let spec = launched_by("program-with-a-daemon", "setsid sleep 600 & exec {python} {script}");
    // Every helper carries the run's table location in its environment: `run` finds any left.
    let report = run(&spec, &["driver-crash"], multi(), 1).await;
    assert_eq!(report.verdict(), &Verdict::LoudRestarted, "{}", report.render());
}

/// A program whose driver runs in a session of its own, behind a launcher that waits for it: a
/// hung driver is the whole of it, the launcher and what it launched. Silent for as long as the
/// hang lasts (before, only the launcher stopped, and the window was one batch's gap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_behind_a_launcher_hangs_whole() {
    let spec = launched_by("program-behind-a-launcher", "setsid {python} {script} & wait $!");
    let report = run(&spec, &["driver-hang"], multi(), 1).await;
    let Verdict::Silent(us) = report.verdict() else { panic!("{}", report.render()) };
    assert!(*us as u128 >= report.horizon.as_micros() / 2, "{}", report.render());
}

/// A crash right after the broker takes an offset commit, before the program hears back, loses
/// only what a program claimed there before writing it. One that commits after its write comes
/// back with every record once; one that commits first loses the batch it claimed. The healthy
/// program keeps its progress in its sink and commits no offsets: it is killed without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_right_after_an_offset_commit_loses_what_was_claimed_before_it_was_written() {
    let after = run("defects/no-txn.toml", &["crash-after-offset-commit"], multi(), 1).await;
    assert_eq!(after.verdict(), &Verdict::LoudRestarted, "{}", after.render());
    landed_once(&after, "offsets committed after the write: nothing was claimed unwritten");
    let first = lossy("offsets-first", "crash-after-offset-commit").await;
    assert_eq!(audit(&first).duplicated, 0, "{}", first.render());
    let healthy = healthy("crash-after-offset-commit", Verdict::LoudRestarted).await;
    let effect = healthy.analysis.faults[0].error_kind.clone();
    assert_eq!(effect, harness::history::ErrorKind::DriverCrashed, "killed without a commit: {}", healthy.render());
}
