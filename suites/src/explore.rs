//! Property-based exploration: proptest generates scenarios — a pipeline, a layout, a schedule
//! of faults the pipeline supports, a seed — runs each for real, and checks a property of its
//! report. When one breaks the property, proptest shrinks it (fewer faults, no gaps, the first
//! layout and pipeline, a smaller seed) to the simplest scenario that still does, which is kept
//! as a regression and replayed first by the next exploration.
//!
//! Two properties:
//! - [`Property::Gate`]: every run passes as `loudfail run` judges it (exit 0): what a team's CI
//!   gate asks. Exploration finds the configurations that fail silently.
//! - [`Property::Model`]: every run comes out as its fault's expectation says (one fault per
//!   scenario): the harness's model of the failure modes checked against real runs.
//! - [`Property::Sound`]: every run reaches a verdict, whatever it is — no ERROR: the harness
//!   checked against schedules of faults, where no expectation is exact.

use crate::matrix::layouts;
use harness::fault::Fault;
use harness::pipeline::PipelineOptions;
use harness::{HarnessError, Pipeline, Report, Result, Scenario, TimeScale, Topology};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The pipelines exploration draws from, simplest first (shrinking goes towards the front).
pub const PIPELINES: [&str; 2] = ["features-inference", "telemetry"];

/// What every explored run must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    /// The run passes (LOUD+RESTARTED, or clean), as `loudfail run` exits 0.
    Gate,
    /// The run comes out as its fault is expected to (one fault per scenario).
    Model,
    /// The run reaches a verdict (no ERROR).
    Sound,
}

impl Property {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Property::Gate => "gate",
            Property::Model => "model",
            Property::Sound => "sound",
        }
    }

    /// Why `report` breaks the property, if it does.
    pub fn broken_by(self, report: &Report) -> Option<String> {
        match self {
            Property::Gate if report.exit_code() != 0 => Some(format!("{}", report.verdict())),
            Property::Sound if matches!(report.verdict(), harness::Verdict::Error(_)) => {
                Some(report.verdict().to_string())
            }
            Property::Model if report.as_expected() != Some(true) => Some(format!(
                "expected {}, got {}",
                report.expected.map(|e| e.to_string()).unwrap_or_else(|| "nothing".into()),
                report.verdict()
            )),
            _ => None,
        }
    }
}

/// One generated scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The pipeline.
    pub pipeline: String,
    /// The layout (a column of the matrix: `multi-query-each`, ...).
    pub layout: String,
    /// The faults in order, each with the nominal minutes to wait after the one before.
    pub faults: Vec<(String, u64)>,
    /// The run's seed.
    pub seed: u64,
}

impl Case {
    /// One line: `telemetry multi-query-each poison-record, driver-crash@2m seed 7`.
    pub fn describe(&self) -> String {
        let faults: Vec<String> =
            self.faults.iter().map(|(f, gap)| if *gap == 0 { f.clone() } else { format!("{f}@{gap}m") }).collect();
        format!("{} {} {} seed {}", self.pipeline, self.layout, faults.join(", "), self.seed)
    }
}

/// What an exploration draws its cases from: pipelines (simplest first: shrinking goes towards
/// the front), layouts, and per pipeline the faults of the catalogue that fit it.
#[derive(Debug, Clone)]
pub struct Space {
    /// The pipelines, each with its time scale.
    pub pipelines: Vec<(Arc<dyn Pipeline>, TimeScale)>,
    /// The layouts (columns of the matrix).
    pub layouts: Vec<(&'static str, Topology)>,
}

impl Space {
    /// The reference pipelines in every layout of the matrix.
    pub fn reference() -> Result<Space> {
        let registry = crate::registry();
        let pipelines =
            PIPELINES.iter().map(|p| Ok((registry.get(p)?, TimeScale::TEST))).collect::<Result<Vec<_>>>()?;
        Ok(Space { pipelines, layouts: layouts() })
    }

    /// A program described by a spec file, in the layouts a program runs in, at its spec's scale.
    pub fn program(pipeline: Arc<harness::program::ProgramPipeline>) -> Space {
        let scale = pipeline.spec().time_scale();
        Space { pipelines: vec![(pipeline, scale)], layouts: crate::matrix::program_layouts() }
    }

    fn pipeline(&self, name: &str) -> Result<&(Arc<dyn Pipeline>, TimeScale)> {
        self.pipelines.iter().find(|(p, _)| p.name() == name).ok_or_else(|| {
            let names: Vec<&str> = self.pipelines.iter().map(|(p, _)| p.name()).collect();
            HarnessError::bad_input(
                format!("unknown pipeline {name:?} in this exploration"),
                format!("its cases draw from: {} (a kept case of another exploration?)", names.join(", ")),
            )
        })
    }

    /// The faults of the catalogue the pipeline supports, in catalogue order.
    pub fn faults_for(&self, pipeline: &dyn Pipeline) -> Vec<Arc<dyn Fault>> {
        let Ok(plan) = pipeline.plan("explore", &PipelineOptions::default()) else {
            return Vec::new();
        };
        crate::faults()
            .all()
            .iter()
            .filter(|f| f.check(&plan).is_ok() && (!plan.is_program() || f.fits_programs()))
            .cloned()
            .collect()
    }

    /// The scenario that runs a case.
    pub fn scenario(&self, case: &Case) -> Result<Scenario> {
        let topology =
            self.layouts.iter().find(|(name, _)| *name == case.layout).map(|(_, t)| t.clone()).ok_or_else(|| {
                HarnessError::bad_input(format!("unknown layout {:?}", case.layout), "see loudfail matrix")
            })?;
        let catalogue = crate::faults();
        let (pipeline, scale) = self.pipeline(&case.pipeline)?;
        let mut s = Scenario::new(pipeline.clone())
            .topology(topology)
            .seed(case.seed)
            .scale(*scale)
            .options(PipelineOptions::default());
        for (name, gap) in &case.faults {
            s = s.fault_after(Duration::from_secs(60 * gap), catalogue.get(name)?);
        }
        Ok(s)
    }

    /// The replay line of a case, for `loudfail run`.
    pub fn replay(&self, case: &Case) -> String {
        self.scenario(case).map(|s| s.replay_line()).unwrap_or_else(|e| e.to_string())
    }

    /// The strategy: up to `max_faults` faults (at least one) with gaps of 0 to 3 nominal
    /// minutes.
    ///
    /// A fault that lasts until healed comes last, and only one does: while it lasts, the
    /// queries downstream of its target have nothing to do, and a later fault that needs them to
    /// act (a commit to land elsewhere, a write to be refused) could never take effect.
    pub fn cases(&self, max_faults: usize) -> impl Strategy<Value = Case> + use<> {
        let layouts: Vec<&'static str> = self.layouts.iter().map(|(n, _)| *n).collect();
        let names: Vec<&'static str> = self.pipelines.iter().map(|(p, _)| p.name()).collect();
        let supported: Vec<Vec<Arc<dyn Fault>>> = self.pipelines.iter().map(|(p, _)| self.faults_for(&**p)).collect();
        (0..names.len(), 0..layouts.len(), 1..1000u64).prop_flat_map(move |(p, l, seed)| {
            let pipeline = names[p];
            let faults = supported[p].clone();
            let layout = layouts[l].to_string();
            proptest::collection::vec((0..faults.len(), 0..4u64), 1..=max_faults.max(1)).prop_map(move |picks| {
                let (mut once, lasting): (Vec<_>, Vec<_>) =
                    picks.into_iter().partition(|(f, _)| !faults[*f].persists_until_healed());
                once.extend(lasting.into_iter().take(1));
                Case {
                    pipeline: pipeline.to_string(),
                    layout: layout.clone(),
                    faults: once.into_iter().map(|(f, gap)| (faults[f].name().to_string(), gap)).collect(),
                    seed,
                }
            })
        })
    }
}

/// How an exploration goes.
#[derive(Debug, Clone)]
pub struct Exploration {
    /// What its cases are drawn from.
    pub space: Space,
    /// The property every run must satisfy.
    pub property: Property,
    /// The seed every generated case derives from.
    pub seed: u64,
    /// How many cases to generate (regressions replayed first come on top).
    pub budget: u32,
    /// Wall-time budget: once spent, no new case is run (a nightly run's limit). The case in
    /// progress finishes; so does the shrinking of a failure found in time.
    pub time: Option<Duration>,
    /// At most this many faults per case (1 for the model property).
    pub max_faults: usize,
    /// At most this many runs spent shrinking a case that broke the property.
    pub shrink_runs: u32,
    /// Where every case's run directory goes (`case-<n>`).
    pub dir: PathBuf,
    /// The file of kept regressions (JSON lines of [`Case`]): replayed first, appended to.
    pub regressions: Option<PathBuf>,
    /// The binary that runs `__cluster` and `__task` (default: this executable).
    pub bin: Option<PathBuf>,
    /// How many cases run at once (each its own processes and broker); 1 or more.
    pub jobs: usize,
    /// The share of the regressions and generated cases this exploration runs.
    pub shard: crate::shard::Shard,
}

/// One run of an exploration.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its number (its directory is `case-<n>`).
    pub n: usize,
    /// What ran.
    pub case: Case,
    /// Its verdict.
    pub verdict: String,
    /// Why it broke the property, if it did.
    pub broke: Option<String>,
    /// Its report (None when the scenario could not run at all).
    pub report: Option<Box<Report>>,
    /// Why it ran.
    pub stage: Stage,
}

/// Why a case ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A kept regression, replayed first.
    Regression,
    /// Generated from the seed.
    Generated,
    /// A simpler case tried while shrinking a failure.
    Shrinking,
    /// A run while shrinking that broke the property another way: not pursued, so shrinking
    /// stays on the first failure.
    Other,
}

impl Stage {
    /// Its name (`shrinking`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Regression => "regression",
            Stage::Generated => "generated",
            Stage::Shrinking => "shrinking",
            Stage::Other => "other",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// The kind of a verdict (`LOSS` of `LOSS(12)`): shrinking keeps to one kind.
fn kind(verdict: &str) -> &str {
    verdict.split('(').next().unwrap_or(verdict)
}

/// What an exploration found.
#[derive(Debug, Clone)]
pub struct Findings {
    /// Every run, in order.
    pub runs: Vec<Outcome>,
    /// The simplest case that broke the property, and why; None when none did.
    pub minimal: Option<(Case, String)>,
    /// Kept regressions that still break the property.
    pub regressions_failing: Vec<Case>,
    /// How many cases were generated and run before the budget (count or time) was spent: the
    /// `--budget` that replays this exploration.
    pub generated: u32,
    /// Shrinking stopped at its limit (`shrink_runs`): a simpler case may break the property too.
    pub shrink_cut: bool,
}

/// What one run of a case gave.
struct Executed {
    verdict: String,
    broke: Option<String>,
    report: Option<Box<Report>>,
    error: Option<HarnessError>,
}

impl Executed {
    /// A case that could not run: the harness error breaks any property.
    fn error(e: HarnessError) -> Executed {
        Executed { verdict: format!("ERROR({e})"), broke: Some(e.to_string()), report: None, error: Some(e) }
    }
}

/// Where an exploration stands, shared by its runs.
struct Progress {
    runs: Vec<Outcome>,
    error: Option<HarnessError>,
    /// The kind of verdict shrinking pursues (that of the first failure).
    pursued: Option<String>,
}

impl Exploration {
    /// Runs it, calling `progress` after every run (in order). Blocks: call it off the async
    /// runtime (it drives each scenario on `runtime`). Kept regressions and generated cases run
    /// [`Exploration::jobs`] at a time; shrinking runs one at a time, each step depending on the
    /// last. Whatever the jobs, the runs, their order and their verdicts are those of one at a
    /// time: cases are generated in one sequence from the seed, a failure stops the cases after
    /// it (any already under way are dropped, their directories removed), and shrinking
    /// replays the same generation up to it.
    pub fn run(&self, runtime: &tokio::runtime::Handle, progress: &(dyn Fn(&Outcome) + Sync)) -> Result<Findings> {
        let started = std::time::Instant::now();
        let state = Mutex::new(Progress { runs: Vec::new(), error: None, pursued: None });
        // Records a run in order; returns whether it broke the property (for what it pursues).
        let record = |case: &Case, ran: Executed, mut stage: Stage| -> Option<String> {
            let mut st = state.lock().expect("state");
            if let Some(e) = ran.error {
                st.error.get_or_insert(e);
            }
            let mut broke = ran.broke;
            if stage == Stage::Shrinking && broke.is_some() && st.pursued.as_deref() != Some(kind(&ran.verdict)) {
                stage = Stage::Other;
            }
            if stage == Stage::Generated && broke.is_some() {
                st.pursued = Some(kind(&ran.verdict).to_string());
            }
            let n = st.runs.len();
            let outcome = Outcome {
                n,
                case: case.clone(),
                verdict: ran.verdict,
                broke: broke.clone(),
                report: ran.report,
                stage,
            };
            progress(&outcome);
            st.runs.push(outcome);
            if stage == Stage::Other {
                broke = None;
            }
            broke
        };

        // Kept regressions first (this shard's): each must still be checked, whatever the budget.
        let regressions = self.shard.of(self.load_regressions()?);
        let mut regressions_failing = Vec::new();
        let ran = self.run_all(runtime, &regressions, 0, false, |_| true);
        for (case, executed) in regressions.iter().zip(ran) {
            let executed = executed.expect("every regression runs");
            if record(case, executed, Stage::Regression).is_some() {
                regressions_failing.push(case.clone());
            }
        }
        if let Some(e) = state.lock().expect("state").error.take() {
            return Err(e);
        }

        // Generated cases, this shard's share, until the first that breaks the property.
        // The sequence is generated in chunks that double, each the next part of it: a time
        // budget usually ends the exploration long before a large count budget would, and the
        // cases it never reaches are never generated.
        let max_faults = if self.property == Property::Model { 1 } else { self.max_faults };
        let in_time = |_: usize| self.time.is_none_or(|t| started.elapsed() < t);
        let (mut generated, mut failed, mut stopped) = (self.budget, None, false);
        let (mut from, mut chunk, mut next_dir) = (0usize, 64usize, regressions.len());
        while from < self.budget as usize && !stopped {
            let upto = (from + chunk).min(self.budget as usize);
            let (indices, cases): (Vec<usize>, Vec<Case>) = self
                .generate(max_faults, upto as u32)?
                .into_iter()
                .enumerate()
                .skip(from)
                .filter(|(i, _)| self.shard.takes(*i))
                .unzip();
            let ran = self.run_all(runtime, &cases, next_dir, true, in_time);
            for ((index, case), executed) in indices.into_iter().zip(&cases).zip(ran) {
                let dir = next_dir;
                next_dir += 1;
                let Some(executed) = executed else {
                    // Not run: out of time, or after the case that stopped the exploration.
                    generated = generated.min(index as u32);
                    stopped = true;
                    continue;
                };
                if stopped {
                    // Run beside the one that stopped the exploration: not one of its runs.
                    let _ = std::fs::remove_dir_all(self.dir.join(format!("case-{dir}")));
                    continue;
                }
                let error = executed.error.is_some();
                if let Some(why) = record(case, executed, Stage::Generated) {
                    failed = Some((index, why));
                }
                if failed.is_some() || error {
                    generated = index as u32 + 1;
                    stopped = true;
                }
            }
            (from, chunk) = (upto, chunk * 2);
        }
        if let Some(e) = state.lock().expect("state").error.take() {
            return Err(e);
        }

        // Shrinking: proptest replays the same generation (passing every case up to the failure
        // unrun, then failing it as it failed) and simplifies it, one real run at a time.
        let (mut minimal, mut shrink_cut) = (None, false);
        if let Some((index, why)) = failed {
            let (minimal_case, cut) = self.shrink(max_faults, index, &why, &|case| {
                let executed = self.execute(runtime, case, state.lock().expect("state").runs.len());
                record(case, executed, Stage::Shrinking)
            })?;
            if let Some(e) = state.lock().expect("state").error.take() {
                return Err(e);
            }
            shrink_cut = cut;
            self.keep_regression(&minimal_case.0)?;
            minimal = Some(minimal_case);
        }
        Ok(Findings {
            runs: state.into_inner().expect("state").runs,
            minimal,
            regressions_failing,
            generated,
            shrink_cut,
        })
    }

    /// The proptest runner every generation and shrinking starts from: the same seed, the same
    /// configuration, so the same sequence of cases.
    fn runner(&self, cases: u32) -> TestRunner {
        let config = Config {
            cases,
            // The shrink limit is ours (see `shrink`): proptest's own prints its raw advice when
            // hit. Past ours every case passes unrun, which walks proptest back to the last
            // failing one in steps that cost nothing; this bound only keeps that walk finite.
            max_shrink_iters: self.shrink_runs.saturating_mul(8).max(10_000),
            failure_persistence: None,
            // A case is a real run of seconds: never fork, never time out, never retry.
            ..Config::default()
        };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
    }

    /// The first `count` cases, in the order proptest generates them from the seed (the same
    /// sequence whatever the count: the first of a longer one).
    fn generate(&self, max_faults: usize, count: u32) -> Result<Vec<Case>> {
        let cases = Mutex::new(Vec::new());
        self.runner(count)
            .run(&self.space.cases(max_faults), |case| {
                cases.lock().expect("cases").push(case);
                Ok(())
            })
            .map_err(|e| {
                HarnessError::bad_input(
                    format!("the exploration could not generate cases: {e}"),
                    "report this: the strategy rejects too many cases",
                )
            })?;
        Ok(cases.into_inner().expect("cases"))
    }

    /// Shrinks the case generated at `index`, which broke the property (`why`): proptest
    /// replays the generation to it, then simplifies it, `try_case` running each candidate (and
    /// saying whether it broke the property). Returns the simplest failing case and why, and
    /// whether shrinking stopped at its limit.
    fn shrink(
        &self,
        max_faults: usize,
        index: usize,
        why: &str,
        try_case: &(dyn Fn(&Case) -> Option<String> + Sync),
    ) -> Result<((Case, String), bool)> {
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let shrunk = std::sync::atomic::AtomicU32::new(0);
        let cut = std::sync::atomic::AtomicBool::new(false);
        let result = self.runner(self.budget).run(&self.space.cases(max_faults), |case| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n < index {
                return Ok(()); // it passed (or was another shard's)
            }
            if n == index {
                return Err(TestCaseError::fail(why.to_string()));
            }
            if shrunk.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= self.shrink_runs {
                cut.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
            match try_case(&case) {
                Some(why) => Err(TestCaseError::fail(why)),
                None => Ok(()),
            }
        });
        match result {
            Err(TestError::Fail(why, case)) => Ok(((case, why.message().to_string()), cut.into_inner())),
            Ok(()) => Err(HarnessError::bad_input(
                "shrinking could not replay the generation to the failing case",
                "report this: the exploration's generation is not deterministic",
            )),
            Err(TestError::Abort(why)) => Err(HarnessError::bad_input(
                format!("the exploration could not generate cases: {why}"),
                "report this: the strategy rejects too many cases",
            )),
        }
    }

    /// Runs `cases` [`Exploration::jobs`] at a time, the i-th in `case-<first + i>`, in order;
    /// one that `start(i)` refuses when its turn comes, or (when `stops`) that comes after a
    /// case that broke the property or met a harness error, is not run (None).
    fn run_all(
        &self,
        runtime: &tokio::runtime::Handle,
        cases: &[Case],
        first: usize,
        stops: bool,
        start: impl Fn(usize) -> bool,
    ) -> Vec<Option<Executed>> {
        use futures::StreamExt;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (stop, start) = (&stop, &start);
        runtime.block_on(
            futures::stream::iter(cases.iter().enumerate())
                .map(|(i, case)| async move {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) || !start(i) {
                        return None;
                    }
                    let ran = self.execute_async(case, first + i).await;
                    if stops && (ran.broke.is_some() || ran.error.is_some()) {
                        stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    Some(ran)
                })
                .buffered(self.jobs.max(1))
                .collect(),
        )
    }

    /// Runs one case in `case-<n>`, blocking.
    fn execute(&self, runtime: &tokio::runtime::Handle, case: &Case, n: usize) -> Executed {
        runtime.block_on(self.execute_async(case, n))
    }

    async fn execute_async(&self, case: &Case, n: usize) -> Executed {
        let mut s = match self.space.scenario(case) {
            Ok(s) => s.dir(self.dir.join(format!("case-{n}"))),
            Err(e) => return Executed::error(e),
        };
        if let Some(b) = &self.bin {
            s = s.bin(b);
        }
        match s.run().await {
            Ok(report) => Executed {
                verdict: report.verdict().to_string(),
                broke: self.property.broken_by(&report),
                report: Some(Box::new(report)),
                error: None,
            },
            Err(e) => Executed::error(e),
        }
    }

    /// The kept regressions (none without a file); bad input when a line is not a case.
    pub fn load_regressions(&self) -> Result<Vec<Case>> {
        let Some(path) = &self.regressions else { return Ok(Vec::new()) };
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::io(path, e))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    HarnessError::bad_input(
                        format!("{} line {}: not a kept case: {e}", path.display(), i + 1),
                        "fix or delete that line (each is a JSON case loudfail explore wrote)",
                    )
                })
            })
            .collect()
    }

    fn keep_regression(&self, case: &Case) -> Result<()> {
        let Some(path) = &self.regressions else { return Ok(()) };
        if self.load_regressions()?.contains(case) {
            return Ok(());
        }
        use std::io::Write;
        let mut f =
            std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| HarnessError::io(path, e))?;
        let line = serde_json::to_string(case).expect("serializes");
        writeln!(f, "{line}").map_err(|e| HarnessError::io(path, e))
    }
}

/// Writes `junit.xml` in the exploration's directory: a test case per run, failing when it
/// broke the property (an ERROR verdict errs), its replay line among its properties.
pub fn write_junit(dir: &Path, property: Property, shard: crate::shard::Shard, runs: &[Outcome]) -> Result<PathBuf> {
    use harness::junit::{Outcome as Junit, case, write};
    let cases = runs
        .iter()
        .filter_map(|o| {
            let report = o.report.as_ref()?;
            let outcome = match (&o.broke, report.verdict()) {
                (_, harness::Verdict::Error(e)) => Junit::Error(e.clone()),
                (Some(why), _) => Junit::Failed(why.clone()),
                _ => Junit::Passed,
            };
            Some(case(report, &format!("case-{} {}", o.n, o.case.describe()), outcome))
        })
        .collect();
    let path = dir.join("junit.xml");
    let share = if shard.is_whole() { String::new() } else { format!(", shard {shard}") };
    write(&path, &format!("loudfail explore ({}{share})", property.name()), cases)?;
    Ok(path)
}

/// Where kept regressions go by default: beside the exploration's case directories.
pub fn default_regressions(dir: &Path) -> PathBuf {
    dir.join("regressions.jsonl")
}

#[cfg(test)]
mod tests {
    use super::Property;
    use clap::ValueEnum;

    #[test]
    fn a_property_s_name_in_a_replay_line_is_the_one_the_command_line_reads() {
        for p in Property::value_variants() {
            assert_eq!(Property::from_str(p.name(), false), Ok(*p));
        }
    }
}
