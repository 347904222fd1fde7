//! JUnit XML, for CI systems that show test results: every run writes `junit.xml` beside its
//! `report.json` (one test case, failing as the run's exit code does), and `loudfail matrix`
//! writes one for all its cells (each failing when it differs from its expectation).

use crate::error::{HarnessError, Result};
use crate::oracle::Verdict;
use crate::report::Report;
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::path::Path;

/// How a test case came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed, for this reason (a failing verdict, a cell that differs).
    Failed(String),
    /// The harness could not tell (an ERROR verdict): never a pass.
    Error(String),
}

impl Outcome {
    /// A run judged by its exit code: a failing verdict fails, a harness error errs.
    pub fn of_run(report: &Report) -> Outcome {
        match report.verdict() {
            Verdict::Error(e) => Outcome::Error(e.clone()),
            v if v.passed() => Outcome::Passed,
            v => Outcome::Failed(v.to_string()),
        }
    }
}

/// The test case of one run: named `name`, its class the pipeline, with the verdict table as
/// its output and the replay line among its properties.
pub fn case(report: &Report, name: &str, outcome: Outcome) -> TestCase {
    let status = match &outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed(why) | Outcome::Error(why) => {
            let kind =
                if matches!(outcome, Outcome::Error(_)) { NonSuccessKind::Error } else { NonSuccessKind::Failure };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(why.as_str()).set_type(report.verdict().name()).set_description(report.render());
            s
        }
    };
    let mut c = TestCase::new(name, status);
    c.set_classname(format!("loudfail.{}", report.pipeline.split(' ').next().unwrap_or_default()))
        .set_time(report.wall)
        .set_system_out(report.render())
        .add_property(Property::new("run_id", report.run_id.as_str()))
        .add_property(Property::new("seed", report.seed.to_string()))
        .add_property(Property::new("verdict", report.verdict().to_string()))
        .add_property(Property::new("artifacts", report.dir.display().to_string()))
        .add_property(Property::new("replay", report.replay.as_str()));
    c
}

/// Writes the run's `junit.xml`, the run as one test case.
pub fn write_run(report: &Report) -> Result<()> {
    let case = case(report, &report.case_name(), Outcome::of_run(report));
    write(&report.dir.join("junit.xml"), "loudfail run", vec![case])
}

/// Writes a JUnit XML file holding one suite of `cases`.
pub fn write(path: &Path, suite: &str, cases: Vec<TestCase>) -> Result<()> {
    let mut s = TestSuite::new(suite);
    s.add_test_cases(cases);
    let mut r = quick_junit::Report::new("loudfail");
    r.add_test_suite(s);
    let xml = r.to_string().map_err(|e| HarnessError::io(path, std::io::Error::other(e.to_string())))?;
    let tmp = path.with_extension("xml.tmp");
    std::fs::write(&tmp, xml).map_err(|e| HarnessError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| HarnessError::io(path, e))
}
