//! The expected matrix of DESIGN.md as runnable cells: three faults, each on the pipeline of its
//! incident, in five layouts.
//!
//! | fault \ layout | multi-query each | multi-query any | shared-cluster | cluster-per-task | monitored |
//! |---|---|---|---|---|---|
//! | concurrent-append (telemetry) | SILENT | LOUD+RESTARTED | LOUD+RESTARTED | LOUD+RESTARTED | LOUD+RESTARTED |
//! | external-location-mismatch (features-inference) | SILENT | LOUD+RESTARTED | COLLATERAL | LOUD+RESTARTED | LOUD+RESTARTED |
//! | driver-oom (features-inference) | LOUD+RESTARTED | LOUD+RESTARTED | LOUD+RESTARTED | LOUD+RESTARTED | LOUD+RESTARTED |
//!
//! `loudfail matrix --all` adds a row for every other fault of the catalogue: the quiet
//! external-location mismatch (LOSS everywhere), driver-crash (LOUD+RESTARTED everywhere),
//! driver-hang (SILENT everywhere, monitored or not), catalog-blip (LOUD+RESTARTED everywhere),
//! checkpoint-corruption (SILENT behind `await each`, else LOUD+RESTARTED), poison-record and
//! schema-mismatch (on features-inference the failing query is the first awaited: LOUD+RESTARTED,
//! and COLLATERAL on the shared cluster once retries are exhausted), storage-read-only (inference's
//! sink: SILENT behind `await each`, COLLATERAL on the shared cluster, else LOUD+RESTARTED),
//! crash-after-commit (LOUD+RESTARTED everywhere: the engine's sinks are exactly once),
//! concurrent-metadata-change (one of inference's commits refused: SILENT behind `await each`,
//! else LOUD+RESTARTED), broker-latency and broker-errors (CLEAN everywhere: absorbed),
//! broker-outage (SILENT everywhere: shorter than the sources' patience, it fails nothing and
//! stalls everything).
//!
//! "monitored" is multi-query awaiting each query, with the job monitoring every query (what
//! Databricks documents). Shared-cluster and cluster-per-task tasks await any query and have 3
//! retries. Each cell's expected blast radius is the fault's reach in its layout (its task, or
//! every task on its cluster), or every task where the failure is expected to spread.

use harness::fault::{Expectation, Fault, Scope};
use harness::pipeline::PipelineOptions;
use harness::{AwaitPolicy, HarnessError, Result, Scenario, Topology};
use std::sync::Arc;

/// One cell.
#[derive(Debug, Clone)]
pub struct Cell {
    /// `<fault>/<layout>`.
    pub id: String,
    /// The pipeline.
    pub pipeline: Arc<dyn harness::Pipeline>,
    /// The time scale it runs at.
    pub scale: harness::TimeScale,
    /// The fault.
    pub fault: Arc<dyn Fault>,
    /// The layout's column name.
    pub layout: &'static str,
    /// The topology.
    pub topology: Topology,
    /// The pipeline's plan with default options (where the fault's target sits).
    pub plan: harness::pipeline::PipelinePlan,
    /// For a program that names the engine pipeline it is a version of (its spec's `model`):
    /// that pipeline, whose run of the same fault in the same layout is shown beside.
    pub model: Option<Arc<dyn harness::Pipeline>>,
}

impl Cell {
    /// What the cell is expected to show.
    pub fn expected(&self) -> Expectation {
        self.fault.expectation(&self.topology, &self.plan)
    }

    /// The tasks a fault in `query` is expected to disrupt: its reach in this layout (its
    /// task, or every task on its cluster), or every task where the failure is expected to
    /// spread. None for a fault that may reach every task (the catalog): whatever it disrupts
    /// is within its reach.
    pub fn expected_blast(&self, query: &str) -> Option<Vec<String>> {
        let job = self.plan.job(&self.topology);
        match (self.expected(), self.fault.scope()) {
            (_, Scope::All) => None,
            (Expectation::Collateral, _) => Some(Scope::All.reach(&job, query)),
            (_, scope) => Some(scope.reach(&job, query)),
        }
    }

    /// What differs between a run of the cell and its expectation (verdict, then blast
    /// radius); None when it came out as expected.
    pub fn differs(&self, report: &harness::Report) -> Option<String> {
        if report.as_expected() != Some(true) {
            return Some(format!("expected {}, got {}", self.expected(), report.verdict()));
        }
        let Some(first) = report.analysis.faults.first() else {
            return Some("no fault took effect".into());
        };
        match self.expected_blast(&first.query) {
            Some(want) if want != first.blast_radius => {
                Some(format!("expected blast radius {}, got {}", want.join(","), first.blast_radius.join(",")))
            }
            _ => None,
        }
    }

    /// The same fault in the same layout on the engine pipeline the program is a version of,
    /// at the engine's scale: what loudfail's model of the job says the cell shows. None when
    /// the program names no model, or the fault does not fit it (one made for programs alone).
    pub fn model_scenario(&self, seed: u64) -> Option<Scenario> {
        let model = self.model.clone()?;
        // A fault made for programs alone (bad-record) has no run on the engine.
        let plan = model.plan("matrix", &PipelineOptions::default()).ok()?;
        if self.fault.check(&plan).is_err() {
            return None;
        }
        Some(
            Scenario::new(model)
                .topology(self.topology.clone())
                .fault(self.fault.clone())
                .seed(seed)
                .scale(harness::TimeScale::TEST)
                .options(PipelineOptions::default()),
        )
    }

    /// The scenario that runs it.
    pub fn scenario(&self, seed: u64) -> Result<Scenario> {
        let mut s = Scenario::new(self.pipeline.clone())
            .topology(self.topology.clone())
            .fault(self.fault.clone())
            .seed(seed)
            .scale(self.scale)
            .options(PipelineOptions::default());
        let program = if self.plan.is_program() {
            format!("{} ", self.pipeline.replay_args(&PipelineOptions::default()))
        } else {
            String::new()
        };
        s.replay = Some(format!("loudfail matrix {program}--only {} --seed {seed}", self.id));
        Ok(s)
    }
}

/// The layouts, in column order.
pub fn layouts() -> Vec<(&'static str, Topology)> {
    vec![
        ("multi-query-each", Topology::multi_query(AwaitPolicy::Each)),
        ("multi-query-any", Topology::multi_query(AwaitPolicy::Any)),
        ("shared-cluster", Topology::shared_cluster(AwaitPolicy::Any)),
        ("cluster-per-task", Topology::cluster_per_task(AwaitPolicy::Any)),
        ("monitored", Topology::multi_query(AwaitPolicy::Each).monitored()),
    ]
}

/// The layouts a program runs in: its tasks under one driver, or each on its own cluster (a
/// program is its own driver: there is no shared cluster to attach it to).
pub fn program_layouts() -> Vec<(&'static str, Topology)> {
    vec![
        ("multi-query", Topology::multi_query(AwaitPolicy::Any)),
        ("cluster-per-task", Topology::cluster_per_task(AwaitPolicy::Any)),
    ]
}

/// The layouts of a program's matrix: its tasks under one driver awaiting each query (the
/// `{await}` placeholder) or any, the spec's `[cluster]` shared by every task (when it has one),
/// and each task on a cluster of its own. ("monitored" needs the job to see each query end,
/// which a program does not tell it.)
pub fn program_matrix_layouts(spec: &harness::program::ProgramSpec) -> Vec<(&'static str, Topology)> {
    let mut out = vec![
        ("multi-query-each", Topology::multi_query(AwaitPolicy::Each)),
        ("multi-query-any", Topology::multi_query(AwaitPolicy::Any)),
    ];
    if spec.cluster.is_some() {
        out.push(("shared-cluster", Topology::shared_cluster(AwaitPolicy::Any)));
    }
    out.push(("cluster-per-task", Topology::cluster_per_task(AwaitPolicy::Any)));
    out
}

/// DESIGN.md's rows: fault, and the pipeline of its incident.
const DESIGN_ROWS: [(&str, &str); 3] = [
    ("concurrent-append", "telemetry"),
    ("external-location-mismatch", "features-inference"),
    ("driver-oom", "features-inference"),
];

/// The rest of the catalogue, beyond DESIGN.md's matrix (`loudfail matrix --all`).
const CATALOGUE_ROWS: [(&str, &str); 13] = [
    ("external-location-mismatch-quiet", "features-inference"),
    ("driver-crash", "features-inference"),
    ("driver-hang", "features-inference"),
    ("catalog-blip", "features-inference"),
    ("checkpoint-corruption", "features-inference"),
    ("poison-record", "features-inference"),
    ("schema-mismatch", "features-inference"),
    ("storage-read-only", "features-inference"),
    ("crash-after-commit", "features-inference"),
    ("concurrent-metadata-change", "features-inference"),
    ("broker-latency", "telemetry"),
    ("broker-errors", "telemetry"),
    ("broker-outage", "telemetry"),
];

/// DESIGN.md's expected matrix, row by row (15 cells).
pub fn cells() -> Vec<Cell> {
    rows(&DESIGN_ROWS)
}

/// DESIGN.md's matrix and a row for every other fault of the catalogue (80 cells).
pub fn all_cells() -> Vec<Cell> {
    let mut out = cells();
    out.extend(rows(&CATALOGUE_ROWS));
    out
}

fn rows(rows: &[(&str, &'static str)]) -> Vec<Cell> {
    let faults = crate::faults();
    let mut out = Vec::new();
    for &(fault, pipeline) in rows {
        let fault = faults.get(fault).expect("the catalogue has every matrix fault");
        let pipeline = crate::registry().get(pipeline).expect("the registry has every matrix pipeline");
        let plan = pipeline.plan("matrix", &PipelineOptions::default()).expect("it plans with default options");
        for (layout, topology) in layouts() {
            out.push(Cell {
                id: format!("{}/{layout}", fault.name()),
                pipeline: pipeline.clone(),
                scale: harness::TimeScale::TEST,
                fault: fault.clone(),
                layout,
                topology,
                plan: plan.clone(),
                model: None,
            });
        }
    }
    out
}

/// A program's matrix (`loudfail matrix --pipeline-file`): every fault of the catalogue that
/// fits a program, in the layouts a program can run in — `multi-query` (a failing task fails
/// the run) and `cluster-per-task` (it fails alone) — at the program's own time scale, each with
/// the expectation its fault gives for where the program's flows sit.
pub fn program_cells(pipeline: Arc<harness::program::ProgramPipeline>) -> Result<Vec<Cell>> {
    let scale = pipeline.spec().time_scale();
    let layouts = program_matrix_layouts(pipeline.spec());
    let model = match &pipeline.spec().model {
        Some(name) => Some(crate::registry().get(name).map_err(|_| {
            HarnessError::bad_input(
                format!("{}: model {name:?} is not one of loudfail's engine pipelines", pipeline.spec().path.display()),
                format!("name one of {} as the spec's model, or leave it out", crate::registry().names().join(", ")),
            )
        })?),
        None => None,
    };
    let pipeline: Arc<dyn harness::Pipeline> = pipeline;
    let plan = pipeline.plan("matrix", &PipelineOptions::default())?;
    let mut out = Vec::new();
    for fault in crate::faults().all().iter().filter(|f| f.fits_programs()) {
        if fault.check(&plan).is_err() {
            continue;
        }
        for (layout, topology) in layouts.iter() {
            out.push(Cell {
                id: format!("{}/{layout}", fault.name()),
                pipeline: pipeline.clone(),
                scale,
                fault: fault.clone(),
                layout,
                topology: topology.clone(),
                plan: plan.clone(),
                model: model.clone(),
            });
        }
    }
    Ok(out)
}

/// The cells a filter names: comma-separated cell ids, fault names or layout names, among every
/// cell; without a filter, DESIGN.md's matrix, or every cell when `everything`. An unknown name
/// is bad input listing the cells.
pub fn select(filter: Option<&str>, everything: bool) -> Result<Vec<Cell>> {
    let all = all_cells();
    match filter {
        None => Ok(if everything { all } else { cells() }),
        Some(filter) => filter_cells(all, filter),
    }
}

/// The cells of `all` a filter names: comma-separated cell ids, fault names or layout names.
pub fn filter_cells(all: Vec<Cell>, filter: &str) -> Result<Vec<Cell>> {
    let mut out: Vec<Cell> = Vec::new();
    for part in filter.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let hit: Vec<Cell> =
            all.iter().filter(|c| c.id == part || c.fault.name() == part || c.layout == part).cloned().collect();
        if hit.is_empty() {
            let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
            return Err(HarnessError::bad_input(
                format!("no matrix cell matches {part:?}"),
                format!("name cells, faults or layouts; the cells are: {}", ids.join(", ")),
            ));
        }
        for c in hit {
            if !out.iter().any(|o| o.id == c.id) {
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        return Err(HarnessError::bad_input(
            "the cell filter is empty",
            "pass --only with cell, fault or layout names",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_has_fifteen_cells_and_filters_by_name() {
        assert_eq!(cells().len(), 15);
        assert_eq!(select(None, true).unwrap().len(), 80);
        assert_eq!(select(Some("driver-oom"), false).unwrap().len(), 5);
        assert_eq!(select(Some("driver-hang"), false).unwrap().len(), 5, "a filter reaches every row");
        assert_eq!(select(Some("monitored,concurrent-append/shared-cluster"), false).unwrap().len(), 17);
        let err = select(Some("meteor/everywhere"), false).unwrap_err().to_string();
        assert!(err.contains("no matrix cell matches") && err.contains("concurrent-append/multi-query-each"), "{err}");
    }

    /// Every cell of `loudfail matrix --all`, as a table: what each fault is expected to come
    /// out as in each layout (multi-query each, any, shared-cluster, cluster-per-task,
    /// monitored). A change to a fault's expectation rule, a topology or a reference pipeline
    /// that moves any cell fails here, naming the cell.
    #[test]
    fn every_expectation_of_the_whole_matrix_is_the_table() {
        const S: &str = "SILENT";
        const R: &str = "LOUD+RESTARTED";
        const C: &str = "COLLATERAL";
        const TABLE: [(&str, [&str; 5]); 16] = [
            ("concurrent-append", [S, R, R, R, R]),
            ("external-location-mismatch", [S, R, C, R, R]),
            ("driver-oom", [R, R, R, R, R]),
            ("external-location-mismatch-quiet", ["LOSS"; 5]),
            ("driver-crash", [R, R, R, R, R]),
            ("driver-hang", [S, S, S, S, S]),
            ("catalog-blip", [R, R, R, R, R]),
            ("checkpoint-corruption", [S, R, R, R, R]),
            ("poison-record", [R, R, C, R, R]),
            ("schema-mismatch", [R, R, C, R, R]),
            ("storage-read-only", [S, R, C, R, R]),
            ("crash-after-commit", [R, R, R, R, R]),
            ("concurrent-metadata-change", [S, R, R, R, R]),
            ("broker-latency", ["CLEAN"; 5]),
            ("broker-errors", ["CLEAN"; 5]),
            ("broker-outage", [S, S, S, S, S]),
        ];
        let cells = all_cells();
        assert_eq!(cells.len(), TABLE.len() * 5);
        let layouts: Vec<&str> = layouts().into_iter().map(|(name, _)| name).collect();
        let mut wrong = Vec::new();
        for (fault, row) in TABLE {
            for (layout, want) in layouts.iter().zip(row) {
                let id = format!("{fault}/{layout}");
                let cell = cells.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no cell {id}"));
                if cell.expected().to_string() != want {
                    wrong.push(format!("{id}: expected {}, the table says {want}", cell.expected()));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_expectations_are_designs() {
        let e = |id: &str| cells().into_iter().find(|c| c.id == id).unwrap().expected();
        assert_eq!(e("concurrent-append/multi-query-each"), Expectation::Silent);
        assert_eq!(e("concurrent-append/monitored"), Expectation::LoudRestarted);
        assert_eq!(e("external-location-mismatch/multi-query-each"), Expectation::Silent);
        assert_eq!(e("external-location-mismatch/shared-cluster"), Expectation::Collateral);
        assert_eq!(e("driver-oom/multi-query-each"), Expectation::LoudRestarted);
        let all = |id: &str| all_cells().into_iter().find(|c| c.id == id).unwrap().expected();
        assert_eq!(all("checkpoint-corruption/multi-query-each"), Expectation::Silent);
        assert_eq!(all("poison-record/multi-query-each"), Expectation::LoudRestarted, "features is awaited first");
        assert_eq!(all("poison-record/shared-cluster"), Expectation::Collateral);
        assert_eq!(all("schema-mismatch/cluster-per-task"), Expectation::LoudRestarted);
    }

    #[test]
    fn a_lost_driver_spreads_only_where_a_failed_task_fails_the_run_and_others_have_drivers_of_their_own() {
        let spec = harness::program::ProgramSpec::load(&crate::shipped_program("spark-features-inference").unwrap());
        let program = Arc::new(harness::program::ProgramPipeline::from_spec(spec.unwrap()).unwrap());
        let cells = program_cells(program).unwrap();
        let e = |id: &str| cells.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id}")).expected();
        // Two tasks, each its own driver: under multi-query inference's lost driver fails the
        // run, and the new run restarts features too.
        for fault in ["driver-crash", "driver-oom"] {
            assert_eq!(e(&format!("{fault}/multi-query-each")), Expectation::Collateral, "{fault}");
            assert_eq!(e(&format!("{fault}/multi-query-any")), Expectation::Collateral, "{fault}");
            // Both clients of one Connect server: both in reach. A driver each, retried alone.
            assert_eq!(e(&format!("{fault}/shared-cluster")), Expectation::LoudRestarted, "{fault}");
            assert_eq!(e(&format!("{fault}/cluster-per-task")), Expectation::LoudRestarted, "{fault}");
        }
        assert_eq!(e("external-location-mismatch/shared-cluster"), Expectation::Collateral);
        // Its model runs beside each cell, but for a fault made for programs alone.
        let cell = |id: &str| cells.iter().find(|c| c.id == id).unwrap();
        assert!(cell("driver-crash/shared-cluster").model_scenario(1).is_some());
        assert!(cell("bad-record/cluster-per-task").model_scenario(1).is_none());
        // The engine's features-inference runs both queries in one driver under multi-query.
        let engine = |id: &str| all_cells().into_iter().find(|c| c.id == id).unwrap().expected();
        assert_eq!(engine("driver-crash/multi-query-each"), Expectation::LoudRestarted);
        assert_eq!(engine("driver-oom/shared-cluster"), Expectation::LoudRestarted);
    }

    fn spark_spec() -> harness::program::ProgramSpec {
        harness::program::ProgramSpec::load(&crate::shipped_program("spark-telemetry").unwrap()).unwrap()
    }

    #[test]
    fn a_program_with_a_cluster_has_the_shared_cluster_column_and_its_model_beside() {
        let names = |spec: &harness::program::ProgramSpec| -> Vec<&str> {
            program_matrix_layouts(spec).into_iter().map(|(n, _)| n).collect()
        };
        let mut spec = spark_spec();
        assert_eq!(names(&spec), ["multi-query-each", "multi-query-any", "shared-cluster", "cluster-per-task"]);
        let cells =
            program_cells(Arc::new(harness::program::ProgramPipeline::from_spec(spec.clone()).unwrap())).unwrap();
        let cell = cells.iter().find(|c| c.id == "concurrent-append/multi-query-each").unwrap();
        assert_eq!(cell.expected(), Expectation::Silent);
        assert_eq!(cell.model.as_ref().map(|m| m.name()), Some("telemetry"));
        assert!(cell.model_scenario(1).is_some());
        spec.cluster = None;
        assert_eq!(names(&spec), ["multi-query-each", "multi-query-any", "cluster-per-task"]);
        spec.model = Some("sparkle".into());
        let err = program_cells(Arc::new(harness::program::ProgramPipeline::from_spec(spec).unwrap())).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("model \"sparkle\" is not one of loudfail's engine pipelines") && err.contains("telemetry"),
            "{err}"
        );
    }
}
