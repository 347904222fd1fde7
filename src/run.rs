//! The `run` command: one scenario, its report and exit code.

use crate::*;

#[derive(Debug, Clone, Args)]
pub(crate) struct ScenarioArgs {
    /// Reference pipeline to run (see `loudfail list`).
    #[arg(long, default_value = "telemetry")]
    pub(crate) pipeline: String,
    /// A program of your own, described by a spec file (TOML: topics, tables, flows, tasks;
    /// see "Your pipeline, as it is" in the README). Runs it as it is and judges it from what
    /// the world shows. Replaces --pipeline.
    #[arg(long, value_name = "PATH", conflicts_with = "pipeline")]
    pub(crate) pipeline_file: Option<PathBuf>,
    /// How queries are laid out on tasks and clusters.
    #[arg(long, value_enum, default_value_t = TopologyKind::MultiQuery)]
    pub(crate) topology: TopologyKind,
    /// How the task waits on its queries.
    #[arg(long = "await", value_enum, default_value_t = AwaitPolicy::Any)]
    pub(crate) await_policy: AwaitPolicy,
    /// Fault to inject (see `loudfail list`), or `none` for a fault-free baseline. Repeat it
    /// for a schedule of faults, injected in order; `NAME@GAP` waits GAP (nominal: `30s`, `2m`)
    /// after the previous fault took effect: `--fault poison-record --fault driver-crash@2m`.
    /// Default: concurrent-append for a reference pipeline, driver-crash for a program.
    #[arg(long)]
    pub(crate) fault: Vec<String>,
    /// Seed of the run: the workload's data and the fault's timing derive from it.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Number of domain queries of the telemetry pipeline (1 to 6).
    #[arg(long, default_value_t = 2)]
    pub(crate) domains: usize,
    /// Time scale: `test` (10 nominal minutes take 1 s), `real`, `N:1` (N nominal seconds take
    /// one), or a factor in (0, 1]. Default: test, or the program spec's own (60:1).
    #[arg(long)]
    pub(crate) scale: Option<String>,
    /// Retries of each task before its run fails (Databricks' task `max_retries`). Default: 0
    /// for multi-query, 3 for shared-cluster and cluster-per-task.
    #[arg(long)]
    pub(crate) max_retries: Option<u32>,
    /// The job watches every query and fails the task whose query terminates with an error
    /// (what Databricks documents that jobs do).
    #[arg(long)]
    pub(crate) monitor_queries: bool,
    /// Memory limit of every cluster (`512M`, `1G`; MiB without a unit), enforced with a memory
    /// cgroup where the machine allows one, else RLIMIT_AS. Default: none, or what the fault
    /// needs (driver-oom).
    #[arg(long)]
    pub(crate) memory_limit: Option<String>,
    /// A catalog file placing some of the pipeline's tables at locations of your own (external
    /// locations): JSON `{"tables": {"<table>": "<absolute path>"}}`. The others live in the
    /// run directory.
    #[arg(long)]
    pub(crate) catalog: Option<PathBuf>,
    /// Bootstrap address of an external Kafka instead of the embedded broker.
    #[arg(long)]
    pub(crate) broker: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) scenario: ScenarioArgs,
    /// Run directory for the artifacts (must be new or empty). Default: target/loudfail/<run-id>.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn scenario(a: &ScenarioArgs) -> Result<Scenario, HarnessError> {
    let shipped = a.pipeline_file.is_none().then(|| suites::shipped_program(&a.pipeline)).flatten();
    let (pipeline, default_scale, default_fault): (std::sync::Arc<dyn harness::Pipeline>, _, _) =
        match a.pipeline_file.as_ref().or(shipped.as_ref()) {
            Some(path) => {
                let p = harness::program::ProgramPipeline::load(path)?;
                let scale = p.spec().time_scale();
                (std::sync::Arc::new(p), scale, "driver-crash")
            }
            None => (suites::registry().get(&a.pipeline)?, TimeScale::TEST, "concurrent-append"),
        };
    let (kind, await_policy) = (a.topology, a.await_policy);
    let scale = match &a.scale {
        None => default_scale,
        Some(text) => harness::program::parse_scale(text).ok_or_else(|| {
            HarnessError::bad_input(
                format!("unknown time scale {text:?}"),
                "use test, real, N:1 (nominal:real) or a factor between 0 and 1",
            )
        })?,
    };
    let default_faults = vec![default_fault.to_string()];
    let faults_asked = if a.fault.is_empty() { &default_faults } else { &a.fault };
    let mut s = Scenario::new(pipeline)
        .topology(Topology {
            kind,
            await_policy,
            max_retries: a.max_retries.unwrap_or(kind.default_retries()),
            monitor_queries: a.monitor_queries,
        })
        .seed(a.seed)
        .scale(scale)
        .options(PipelineOptions { domains: a.domains, ..PipelineOptions::default() });
    s = s.schedule(suites::faults().schedule(faults_asked)?);
    s.broker = a.broker.clone();
    if let Some(path) = &a.catalog {
        s.catalog = Some(harness::catalog::Catalog::load(path)?);
    }
    if let Some(m) = &a.memory_limit {
        s.cluster_memory = Some(harness::memlimit::parse_size(m).ok_or_else(|| {
            HarnessError::bad_input(format!("memory limit {m:?} is not a size"), "pass --memory-limit like 512M or 1G")
        })?);
    }
    Ok(s)
}

pub(crate) async fn run(args: RunArgs) -> Result<i32, HarnessError> {
    let mut s = scenario(&args.scenario)?;
    if let Some(d) = &args.dir {
        s = s.dir(d);
    }
    Ok(print_report(&s.run().await?, args.json))
}
