//! DESIGN.md's expected matrix, every cell at the test time scale: its verdict and its blast
//! radius, as `loudfail matrix` judges them.

use crate::support::{SERIAL, assert_nothing_left, bin, scratch};
use suites::matrix::select;

async fn check_row(fault: &str) {
    let _serial = SERIAL.lock().await;
    let mut differ = Vec::new();
    for cell in select(Some(fault), false).unwrap() {
        let dir = scratch(&cell.id.replace('/', "__"));
        let report = cell.scenario(3).unwrap().bin(bin()).dir(&dir).run().await.expect("valid cell");
        assert_nothing_left(&dir);
        if let Some(why) = cell.differs(&report) {
            differ.push(format!("{}: {why}\n{}", cell.id, report.render()));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_append_in_every_layout() {
    check_row("concurrent-append").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_location_mismatch_in_every_layout() {
    check_row("external-location-mismatch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driver_oom_in_every_layout() {
    check_row("driver-oom").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_that_start_in_the_data_in_every_layout() {
    check_row("poison-record").await;
    check_row("schema-mismatch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_read_only_in_every_layout() {
    check_row("storage-read-only").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_that_fit_any_program_in_every_layout() {
    check_row("crash-after-commit").await;
    check_row("concurrent-metadata-change").await;
}
