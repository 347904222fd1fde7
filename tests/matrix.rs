//! DESIGN.md's expected matrix, every cell at the test time scale: its verdict and its blast
//! radius, as `loudfail matrix` judges them.

use crate::support::{SERIAL, assert_nothing_left, bin, scratch};
use suites::matrix::{Cell, select};

async fn check_row(fault: &str) {
    let _serial = SERIAL.lock().await;
    let mut differ = Vec::new();
    for cell in select(Some(fault)).unwrap() {
        let dir = scratch(&cell.id.replace('/', "__"));
        let report = cell.scenario(3).unwrap().bin(bin()).dir(&dir).run().await.expect("valid cell");
        assert_nothing_left(&dir);
        let f = report
            .analysis
            .faults
            .first()
            .unwrap_or_else(|| panic!("{}: no fault took effect\n{}", cell.id, report.render()));
        let want_blast = expected_blast(&cell, &f.query);
        if report.as_expected() != Some(true) || f.blast_radius != want_blast {
            differ.push(format!(
                "{}: expected {} with blast radius {want_blast:?}, got {} with {:?}\n{}",
                cell.id,
                cell.expected(),
                report.verdict(),
                f.blast_radius,
                report.render()
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

fn expected_blast(cell: &Cell, query: &str) -> Vec<String> {
    cell.expected_blast(query).unwrap()
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
