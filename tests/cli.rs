//! The `loudfail` command as a user meets it: exit codes, bad input, and nothing left behind.

use crate::support::{SERIAL, assert_nothing_left, bin, interrupt, scratch, spec_with};
use std::process::{Command, Output};

fn loudfail(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("loudfail runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Bad input: `loudfail ARGS --dir D` exits 2 with a message naming the problem and the fix,
/// and creates no run directory. Returns what it said.
fn refused(args: &[&str], problem: &str, fix: &str) -> String {
    let dir = scratch("bad");
    let o = Command::new(bin()).args(args).args(["--dir", dir.to_str().unwrap()]).output().expect("loudfail runs");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
    assert!(t.contains(problem), "{args:?} should name {problem:?}: {t}");
    assert!(t.contains(fix), "{args:?} should say {fix:?}: {t}");
    assert!(!dir.exists(), "{args:?} created {}", dir.display());
    t
}

/// [`refused`], for `loudfail run ARGS`.
fn rejects(args: &[&str], problem: &str, fix: &str) {
    refused(&[&["run"][..], args].concat(), problem, fix);
}

#[test]
fn unknown_names_are_rejected_with_the_known_ones() {
    rejects(&["--pipeline", "nope"], "unknown pipeline \"nope\"", "telemetry");
    rejects(
        &["--topology", "mesh"],
        "invalid value 'mesh' for '--topology",
        "possible values: multi-query, shared-cluster, cluster-per-task",
    );
    rejects(&["--fault", "meteor"], "unknown fault \"meteor\"", "concurrent-append");
    rejects(&["--await", "some"], "invalid value 'some' for '--await", "possible values: each, any");
    rejects(&["--domains", "9"], "1 to 6 domain queries", "--domains between 1 and 6");
    rejects(&["--scale", "fast"], "unknown time scale", "test, real");
}

#[test]
fn more_jobs_than_cores_and_a_bad_shard_are_refused_before_anything_runs() {
    for (args, problem, fix) in [
        (&["matrix", "--jobs", "64"][..], "--jobs 64 needs 64 cores and this machine has", "--shard K/N"),
        (&["explore", "--jobs", "64"][..], "--jobs 64 needs 64 cores and this machine has", "--shard K/N"),
        (&["matrix", "--shard", "3/2"][..], "is not K/N", "--shard like 2/4"),
    ] {
        refused(args, problem, fix);
    }
}

#[test]
fn rust_log_tells_the_run_and_a_bad_one_is_refused() {
    let dir = scratch("rust-log-bad");
    let o = Command::new(bin()).args(["run", "--dir", dir.to_str().unwrap()]).env("RUST_LOG", "harness=loud").output();
    let (o, t) = (o.as_ref().unwrap(), text(o.as_ref().unwrap()));
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("RUST_LOG=\"harness=loud\" does not parse") && t.contains("Help:"), "{t}");
    assert!(!dir.exists());
    let dir = scratch("rust-log");
    let o = Command::new(bin())
        .args(["run", "--pipeline", "features-inference", "--fault", "driver-crash", "--dir", dir.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for line in ["harness::supervisor", "started", "harness::run", "fault driver-crash took effect", "healed"] {
        assert!(err.contains(line), "RUST_LOG=info should say {line:?}: {err}");
    }
    // Dependencies stay quiet under a bare level.
    assert!(!err.contains("buoyant_kernel") && !err.contains("deltalake"), "{err}");
    assert_nothing_left(&dir);
}

#[test]
fn a_foreign_directory_is_refused_and_left_untouched() {
    let dir = scratch("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let o = loudfail(&["run", "--dir", dir.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("is not a loudfail run directory") && t.contains("Help:"), "{t}");
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("notes.txt")]);
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
}

#[test]
fn a_fault_that_acts_on_the_broker_is_refused_with_an_external_one_before_anything_runs() {
    // Nothing needs to listen there: the refusal comes before the broker is asked anything.
    for fault in ["broker-outage", "broker-latency", "broker-errors"] {
        rejects(
            &["--broker", "127.0.0.1:1", "--fault", fault],
            &format!("fault {fault} acts on the broker itself"),
            "drop --broker",
        );
    }
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-pipeline/loudfail.toml");
    rejects(
        &["--pipeline-file", spec.to_str().unwrap(), "--broker", "127.0.0.1:1", "--fault", "crash-after-offset-commit"],
        "only to its embedded broker",
        "drop --broker",
    );
}

#[test]
fn a_broker_that_does_not_answer_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let t = refused(&["run", "--broker", "127.0.0.1:1"], "the broker at 127.0.0.1:1 did not answer", "drop --broker");
    // One Help, about the broker the user chose, none about the embedded one.
    assert_eq!(t.matches("Help:").count(), 1, "{t}");
    assert!(!t.contains("mock cluster"), "{t}");
}

#[test]
fn help_explains_every_option() {
    let t = text(&loudfail(&["run", "--help"]));
    for opt in ["--pipeline", "--topology", "--await", "--fault", "--seed", "--dir", "--domains", "--scale", "--broker"]
    {
        assert!(t.contains(opt), "run --help lacks {opt}: {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_configuration_exits_1_and_leaves_nothing_running() {
    let _serial = SERIAL.lock().await;
    let dir = scratch("cli-each");
    let o = loudfail(&["run", "--await", "each", "--seed", "3", "--dir", dir.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("VERDICT     SILENT(") && t.contains("(as expected)"), "{t}");
    assert!(
        t.contains("replay      loudfail run --pipeline telemetry --domains 2 --topology multi-query --await each"),
        "{t}"
    );
    assert!(dir.join("history.jsonl").is_file() && dir.join("report.json").is_file());
    // CI systems read the same verdict from junit.xml: one case, failed as SILENT.
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"tests="1" failures="1" errors="0""#), "{junit}");
    assert!(junit.contains(r#"<failure message="SILENT("#) && junit.contains(r#"type="SILENT""#), "{junit}");
    // People look at the timeline: a lane per task and query, the silent window on the resolver.
    let timeline = std::fs::read_to_string(dir.join("timeline.html")).unwrap();
    for lane in ["task main", "cluster driver", "query bronze", "query resolver"] {
        assert!(timeline.contains(&format!(">{lane}</text>")), "no lane {lane}");
    }
    assert!(
        timeline.contains("<title>silent window ") && timeline.contains("in resolver while every state said RUNNING")
    );
    assert_nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_cell_as_expected_passes_and_is_reported_in_junit() {
    let _serial = SERIAL.lock().await;
    let dir = scratch("cli-matrix");
    let cell = "concurrent-append/multi-query-each";
    let o = loudfail(&["matrix", "--only", cell, "--seed", "3", "--dir", dir.to_str().unwrap()]);
    let t = text(&o);
    // The incident's cell is SILENT, and SILENT is what it is expected to be: the matrix passes.
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("as expected"), "{t}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="loudfail matrix" tests="1""#) && junit.contains(r#"failures="0""#),
        "{junit}"
    );
    assert!(junit.contains(&format!(r#"<testcase name="{cell}""#)), "{junit}");
    assert_nothing_left(&dir);

    // The first of two shares of the row (cells 1, 3 and 5): reported in matrix order, each as
    // expected, the incident's cell SILENT as above. (One at a time: the exploration's test runs
    // two at once.)
    let dir = scratch("cli-matrix-jobs");
    let args = ["matrix", "--only", "concurrent-append", "--shard", "1/2", "--seed", "3"];
    let o = loudfail(&[&args[..], &["--dir", dir.to_str().unwrap()][..]].concat());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("concurrent-append/")).collect();
    let ids: Vec<&str> = rows.iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(
        ids,
        ["concurrent-append/multi-query-each", "concurrent-append/shared-cluster", "concurrent-append/monitored"],
        "{t}"
    );
    assert!(rows[0].contains("SILENT") && rows.iter().all(|r| r.contains("as expected")), "{t}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"<testsuite name="loudfail matrix (shard 1/2)" tests="3""#), "{junit}");
    assert_nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_run_stops_everything_and_keeps_the_directory() {
    let _serial = SERIAL.lock().await;
    // The moment the cluster has started its queries (the history says so).
    interrupt("ctrl-c", &["--await", "each"], "\"event\":\"query_started\"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_storage_is_read_only_puts_it_back() {
    let _serial = SERIAL.lock().await;
    let args = ["--pipeline", "features-inference", "--await", "each", "--fault", "storage-read-only"];
    let (dir, _) = interrupt("ctrl-c-read-only", &args, "\"name\":\"read-only: ").await;
    // Immutable directories left behind could not even be deleted: each takes a new entry again.
    for sub in ["tables/predictions", "tables/predictions/_delta_log"] {
        let probe = dir.join(sub).join("probe");
        std::fs::write(&probe, b"x").unwrap_or_else(|e| panic!("{} is still read-only: {e}", dir.join(sub).display()));
        std::fs::remove_file(&probe).unwrap();
    }
}

#[test]
fn a_memory_limit_too_small_for_a_cluster_is_refused() {
    rejects(&["--memory-limit", "8M"], "too small for a cluster to start", "--memory-limit of at least");
    rejects(&["--memory-limit", "lots"], "is not a size", "Help:");
}

#[test]
fn an_unknown_matrix_cell_is_refused_with_the_cells() {
    refused(
        &["matrix", "--only", "meteor/everywhere"],
        "no matrix cell matches \"meteor/everywhere\"",
        "driver-oom/shared-cluster",
    );
}

#[test]
fn a_catalog_file_that_does_not_parse_or_does_not_fit_is_refused() {
    let dir = scratch("catalog");
    let file = scratch("catalog-file");
    std::fs::create_dir_all(&file).unwrap();
    let catalog = file.join("catalog.json");
    let run = |c: &str| {
        std::fs::write(&catalog, c).unwrap();
        let o = loudfail(&["run", "--catalog", catalog.to_str().unwrap(), "--dir", dir.to_str().unwrap()]);
        (o.status.code(), text(&o))
    };
    let (code, t) = run("{tables: nope");
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("catalog.json does not parse") && t.contains("Help:"), "{t}");
    let (code, t) = run(r#"{"tables": {"gold": "/tmp/x"}}"#);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("does not have") && t.contains("bronze"), "{t}");
    let (code, t) = run(r#"{"tables": {"bronze": "relative/place"}}"#);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("not an absolute path"), "{t}");
    let (code, t) = run(&format!(r#"{{"tables": {{"bronze": "{}"}}}}"#, file.display()));
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("already holds something"), "{t}");
    assert!(!dir.exists(), "nothing was created");
    assert_eq!(std::fs::read_dir(&file).unwrap().count(), 1, "the user's directory is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driver_oom_under_rlimit_as_where_no_cgroup_is_used() {
    // Where no memory cgroup can be made, the cluster runs under RLIMIT_AS: the growing query's
    // allocation fails and the driver aborts. Forced here, on a machine that has cgroups.
    let _serial = SERIAL.lock().await;
    let dir = scratch("rlimit");
    let o = Command::new(bin())
        .args(["run", "--pipeline", "features-inference", "--fault", "driver-oom", "--dir", dir.to_str().unwrap()])
        .env(harness::memlimit::MECHANISM_ENV, "rlimit-as")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("AllocationFailed in inference"), "{t}");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.contains(r#""mechanism":"rlimit-as""#));
    assert_nothing_left(&dir);
}

#[test]
fn a_bad_pipeline_spec_is_rejected_naming_the_key_and_creating_nothing() {
    let unknown = spec_with("spec-key", |t| t.replace("[workload]", "[workload]\nburst = 3"));
    rejects(&["--pipeline-file", unknown.to_str().unwrap()], "unknown field `burst`", "README");
    let placeholder = spec_with("spec-ph", |t| t.replace("{bootstrap}", "{brokers}"));
    rejects(&["--pipeline-file", placeholder.to_str().unwrap()], "unknown placeholder {brokers}", "Help:");
    let missing =
        spec_with("spec-cmd", |t| t.replace("command = [\".venv/bin/python\"", "command = [\"./no-such-program\""));
    rejects(&["--pipeline-file", missing.to_str().unwrap()], "program ./no-such-program does not exist", "Help:");
    rejects(&["--pipeline-file", "/no/such/loudfail.toml"], "cannot read pipeline spec", "--pipeline-file");
    // A fault that acts inside a query does not fit a program.
    let ok = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-pipeline/loudfail.toml");
    rejects(
        &["--pipeline-file", ok.to_str().unwrap(), "--fault", "concurrent-append"],
        "concurrent-append needs a flow named resolver",
        "choose concurrent-writer",
    );
    rejects(
        &["--pipeline-file", ok.to_str().unwrap(), "--fault", "checkpoint-corruption"],
        "needs the cooperation of loudfail's engine",
        "fits any program",
    );
    rejects(
        &["--pipeline-file", ok.to_str().unwrap(), "--topology", "shared-cluster"],
        "cannot run on a shared cluster",
        "cluster-per-task",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_exits_at_once_is_a_clear_error_not_an_endless_wait() {
    let _serial = SERIAL.lock().await;
    let spec = spec_with("spec-false", |t| {
        t.replace("command = [\".venv/bin/python\", \"pipeline.py\"]", "command = [\"/bin/false\"]")
    });
    let dir = scratch("cli-false");
    let o = loudfail(&[
        "run",
        "--pipeline-file",
        spec.to_str().unwrap(),
        "--fault",
        "none",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("the program exited 3 times before any of its flows landed a record (last: exit code 1)"),
        "{t}"
    );
    assert!(t.contains("run its command by hand"), "{t}");
    assert_nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judge_prints_again_the_report_each_run_printed() {
    use harness::{AwaitPolicy, Topology};
    let cases = [
        ("telemetry", "concurrent-append", Topology::multi_query(AwaitPolicy::Each), "judge-silent"),
        ("telemetry", "concurrent-append", Topology::multi_query(AwaitPolicy::Any), "judge-loud"),
        (
            "features-inference",
            "external-location-mismatch-quiet",
            Topology::multi_query(AwaitPolicy::Any),
            "judge-loss",
        ),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for (pipeline, fault, topology, name) in cases {
        let report = crate::support::run_scenario(pipeline, fault, topology, 1, name).await;
        // The history analysed afresh, offline: the same report, the same exit code.
        let o = loudfail(&["judge", report.dir.to_str().unwrap()]);
        assert_eq!(String::from_utf8_lossy(&o.stdout), report.render(), "{name}");
        assert_eq!(o.status.code(), Some(report.exit_code()), "{name}");
        kinds.insert(report.verdict().to_string().split('(').next().unwrap().to_string());
    }
    assert_eq!(kinds.len(), 3, "three kinds of verdict: {kinds:?}");
    // A directory that holds no run is bad input, naming the fix.
    let empty = scratch("judge-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = loudfail(&["judge", empty.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("is not a run directory that can be judged: it has no history.jsonl") && t.contains("Help:"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_harness_leaves_nothing_its_reaper_does_not_clean_up() {
    let _serial = SERIAL.lock().await;
    let dir = scratch("sigkill-read-only");
    let mut child = Command::new(bin())
        .args(["run", "--pipeline", "features-inference", "--await", "each", "--fault", "storage-read-only"])
        .args(["--dir", dir.to_str().unwrap()])
        .spawn()
        .expect("loudfail runs");
    // The moment the sink is frozen: a SIGKILL now gives the harness no chance to put it back.
    let history = dir.join("history.jsonl");
    let frozen =
        crate::support::await_file_contains(&history, "\"name\":\"read-only: ", std::time::Duration::from_secs(60));
    assert!(frozen.await, "the fault never froze the sink");
    assert!(!crate::support::processes_mentioning(&dir).is_empty(), "cluster and task should be running");
    // Its reaper notices and cleans up, the frozen sink last.
    let sink = dir.join("tables/predictions");
    let writable = || {
        let probe = sink.join("probe");
        std::fs::write(&probe, b"x").is_ok() && std::fs::remove_file(&probe).is_ok()
    };
    crate::support::sigkill_and_await_reaper(&mut child, &dir, writable).await;
    assert!(writable(), "{} is still read-only after the harness was killed", sink.display());
    // And the run directory can be deleted like any other.
    std::fs::remove_dir_all(&dir).expect("the run directory deletes");
}
