//! The examples a team copies from: a pipeline of its own, run from its own binary (which is
//! also its cluster and task processes), under a fault of the catalogue.

use crate::support::{SERIAL, assert_nothing_left, scratch};
use std::path::PathBuf;
use std::process::Command;

/// An example Cargo built beside this test binary (`cargo test` builds every example).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let path = deps.parent().unwrap().join("examples").join(name);
    assert!(path.is_file(), "{} is missing: cargo test builds the examples first", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_of_your_own_runs_in_its_own_binary_and_fails_loudly() {
    let _serial = SERIAL.lock().await;
    let dir = scratch("custom-pipeline");
    let out = Command::new(example("custom_pipeline"))
        .args(["driver-oom", dir.to_str().unwrap()])
        .output()
        .expect("the example runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("VERDICT     LOUD+RESTARTED"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let audits = report["analysis"]["audits"].as_array().unwrap();
    assert_eq!(audits.len(), 1, "{report}");
    assert_eq!(audits[0]["table"], "clicks");
    // Its replay line is its own command, not loudfail's (which knows no `clicks`).
    let replay = report["replay"].as_str().unwrap();
    assert!(replay.ends_with("examples/custom_pipeline driver-oom"), "{replay}");
    // What the query printed is in its cluster's log, not lost with the history channel.
    let logs: Vec<_> = std::fs::read_dir(dir.join("logs")).unwrap().flatten().collect();
    assert!(
        logs.iter().any(|l| std::fs::read_to_string(l.path()).unwrap_or_default().contains("clicks: appending")),
        "the query's own output is in logs/"
    );
    assert!(audits[0]["present"].as_u64().unwrap() > 0);
    assert_eq!((audits[0]["missing"].as_u64(), audits[0]["duplicated"].as_u64()), (Some(0), Some(0)));
    // The clusters ran under driver-oom's limit; under a memory cgroup the report says how much
    // of it the dying cluster was charged (all of it).
    let memory = &report["cluster_memory"];
    let limit = memory["limit"].as_u64().expect("a limit");
    if memory["mechanism"] == "cgroup" {
        assert!(memory["peak"].as_u64().unwrap() >= limit * 9 / 10, "{memory}");
    }
    // Its clusters and tasks were this binary, re-executed.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"event\":\"query_started\""), "no query started");
    assert_nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_of_your_own_runs_its_fault_free_baseline() {
    let _serial = SERIAL.lock().await;
    let dir = scratch("custom-pipeline-none");
    let out = Command::new(example("custom_pipeline")).args(["none", dir.to_str().unwrap()]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("VERDICT     CLEAN"), "{text}");
    // A fault the catalogue does not hold is bad input that names the ones it does.
    let out = Command::new(example("custom_pipeline")).args(["no-such-fault", dir.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("unknown fault \"no-such-fault\"") && text.contains("driver-crash"), "{text}");
    assert_nothing_left(&dir);
}
