//! The `loudfail` command: runs chaos scenarios against streaming pipelines, and (started with
//! `__cluster` or `__task`, see `harness::worker::serve_if_worker`) is itself the cluster and
//! task processes those scenarios start.

use clap::{Args, Parser, Subcommand};
use harness::junit::Outcome;
use harness::report::EXIT_ERROR;
use harness::time::human;
use harness::{AwaitPolicy, HarnessError, PipelineOptions, Scenario, TimeScale, Topology, TopologyKind};
use std::path::PathBuf;
use std::time::Duration;

/// loudfail: every fault must fail loudly.
///
/// Starts a local Kafka and Delta storage, runs a reference pipeline under a topology, injects a
/// fault, records a history of everything, and checks that the fault produced a loud failure and
/// a restart, and that every record still landed exactly once.
#[derive(Debug, Parser)]
#[command(name = "loudfail", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario and print its verdict. Exit 0: LOUD+RESTARTED (or CLEAN) with nothing
    /// lost or duplicated; 1: a failing verdict (SILENT, LOSS, DUPLICATES, LOUD-NOT-RESTARTED);
    /// 2: bad input or a harness error.
    Run(RunArgs),
    /// Run a scenario repeatedly and print detection latency, restart latency and wall time.
    Bench(BenchArgs),
    /// Run DESIGN.md's expected matrix (concurrent-append, external-location-mismatch,
    /// driver-oom × multi-query each/any, shared-cluster, cluster-per-task, monitored; `--all`
    /// adds every other fault of the catalogue) and print expected against actual per cell. Exit 0 when every cell is as expected, 1 when one is
    /// not, 2 for bad input or a harness error.
    Matrix(MatrixArgs),
    /// Explore generated scenarios (pipeline, layout, a schedule of faults, seed) with
    /// proptest: run each, check a property, shrink the first that breaks it to the simplest
    /// scenario that still does, and keep it as a regression. Exit 0 when every run held the
    /// property, 1 when one broke it (the minimal one is printed with its replay line), 2 for bad
    /// input or a harness error.
    Explore(ExploreArgs),
    /// Judge a finished run again from its directory, offline: its history analysed afresh by
    /// this version's oracles, the same report printed. Exit codes as `run`'s.
    Judge(JudgeArgs),
    /// List pipelines, topologies and faults.
    List,
}

#[derive(Debug, Args)]
struct JudgeArgs {
    /// The run directory (it holds history.jsonl and report.json).
    dir: PathBuf,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

fn judge(args: JudgeArgs) -> i32 {
    match harness::Report::judge(&args.dir) {
        Ok(report) => print_report(&report, args.json),
        Err(e) => fail(&e),
    }
}

/// Prints a report (the table, or JSON) and returns its exit code.
fn print_report(report: &harness::Report, json: bool) -> i32 {
    if json {
        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
    } else {
        print!("{}", report.render());
    }
    report.exit_code()
}

#[derive(Debug, Clone, Args)]
struct ScenarioArgs {
    /// Reference pipeline to run (see `loudfail list`).
    #[arg(long, default_value = "telemetry")]
    pipeline: String,
    /// A program of your own, described by a spec file (TOML: topics, tables, flows, tasks;
    /// see "Your pipeline, as it is" in the README). Runs it as it is and judges it from what
    /// the world shows. Replaces --pipeline.
    #[arg(long, value_name = "PATH", conflicts_with = "pipeline")]
    pipeline_file: Option<PathBuf>,
    /// How queries are laid out on tasks and clusters: multi-query (one cluster, one task
    /// running every query), shared-cluster (one cluster, a process per task), cluster-per-task.
    #[arg(long, default_value = "multi-query")]
    topology: String,
    /// How the task waits on its queries: `each` (awaitTermination of each in order, the
    /// incident) or `any` (awaitAnyTermination, the band-aid).
    #[arg(long = "await", default_value = "any")]
    await_policy: String,
    /// Fault to inject (see `loudfail list`), or `none` for a fault-free baseline. Repeat it
    /// for a schedule of faults, injected in order; `NAME@GAP` waits GAP (nominal: `30s`, `2m`)
    /// after the previous fault took effect: `--fault poison-record --fault driver-crash@2m`.
    /// Default: concurrent-append for a reference pipeline, driver-crash for a program.
    #[arg(long)]
    fault: Vec<String>,
    /// Seed of the run: the workload's data and the fault's timing derive from it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of domain queries of the telemetry pipeline (1 to 6).
    #[arg(long, default_value_t = 2)]
    domains: usize,
    /// Time scale: `test` (10 nominal minutes take 1 s), `real`, `N:1` (N nominal seconds take
    /// one), or a factor in (0, 1]. Default: test, or the program spec's own (60:1).
    #[arg(long)]
    scale: Option<String>,
    /// Retries of each task before its run fails (Databricks' task `max_retries`). Default: 0
    /// for multi-query, 3 for shared-cluster and cluster-per-task.
    #[arg(long)]
    max_retries: Option<u32>,
    /// The job watches every query and fails the task whose query terminates with an error
    /// (what Databricks documents that jobs do).
    #[arg(long)]
    monitor_queries: bool,
    /// Memory limit of every cluster (`512M`, `1G`; MiB without a unit), enforced with a memory
    /// cgroup where the machine allows one, else RLIMIT_AS. Default: none, or what the fault
    /// needs (driver-oom).
    #[arg(long)]
    memory_limit: Option<String>,
    /// A catalog file placing some of the pipeline's tables at locations of your own (external
    /// locations): JSON `{"tables": {"<table>": "<absolute path>"}}`. The others live in the
    /// run directory.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Bootstrap address of an external Kafka instead of the embedded broker.
    #[arg(long)]
    broker: Option<String>,
}

#[derive(Debug, Args)]
struct ExploreArgs {
    /// What every run must satisfy: `gate` (it passes, as `loudfail run` exits 0), `model` (it
    /// comes out as its fault is expected to; one fault per scenario) or `sound` (it reaches a
    /// verdict, whatever it is: no ERROR).
    #[arg(long, default_value = "gate")]
    property: String,
    /// Seed of the exploration: the same seed generates the same scenarios.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many scenarios to generate (kept regressions are replayed on top).
    #[arg(long, default_value_t = 20)]
    budget: u32,
    /// Wall-time budget (`30m`, `2h`): no new scenario starts once it is spent. The replay line
    /// then gives the number of scenarios that ran as the budget.
    #[arg(long)]
    time: Option<String>,
    /// Explore a program of your own, described by a spec file: every fault that fits it, in
    /// the layouts a program runs in (multi-query, cluster-per-task), at its spec's scale.
    #[arg(long, value_name = "PATH")]
    pipeline_file: Option<PathBuf>,
    /// At most this many faults per scenario (a schedule), for the gate property.
    #[arg(long, default_value_t = 2)]
    max_faults: usize,
    /// At most this many runs spent shrinking a scenario that broke the property.
    #[arg(long, default_value_t = 16)]
    shrink_runs: u32,
    /// File of kept regressions (JSON lines): replayed first, and the minimal failing scenario
    /// appended. Default: regressions.jsonl in the exploration's directory.
    #[arg(long)]
    regressions: Option<PathBuf>,
    /// Directory for every scenario's run directory (must be new or empty).
    /// Default: target/loudfail/explore-<pid>.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Run directory for the artifacts (must be new or empty). Default: target/loudfail/<run-id>.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct MatrixArgs {
    /// Only these cells: comma-separated cell ids (`driver-oom/shared-cluster`), fault names or
    /// layout names (`monitored`), among every cell of `--all`. Default: DESIGN.md's 15 cells.
    #[arg(long)]
    only: Option<String>,
    /// A program of your own, described by a spec file: its matrix is every fault that fits a
    /// program, under multi-query (awaiting each query, and any), its [cluster] shared by its
    /// tasks (when the spec has one) and cluster-per-task, each against its expectation. When
    /// the spec names the engine pipeline it is a version of (`model`), that pipeline's verdict
    /// in the same cell is shown beside.
    #[arg(long, value_name = "PATH", conflicts_with = "pipeline")]
    pipeline_file: Option<PathBuf>,
    /// A program loudfail ships, by name (`spark-telemetry`): as --pipeline-file with its spec.
    #[arg(long)]
    pipeline: Option<String>,
    /// Every fault of the catalogue in every layout (80 cells): DESIGN.md's matrix, plus the
    /// quiet external-location mismatch, driver-crash, driver-hang, catalog-blip and
    /// checkpoint-corruption.
    #[arg(long)]
    all: bool,
    /// Seed of every cell.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Parent directory of the cells' run directories (must be new or empty).
    /// Default: target/loudfail/matrix-<pid>.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// How many runs.
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Parent directory of the runs' directories (must be new or empty).
    /// Default: target/loudfail/bench-<pid>.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn scenario(a: &ScenarioArgs) -> Result<Scenario, HarnessError> {
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
    let kind = TopologyKind::parse(&a.topology)?;
    let await_policy = AwaitPolicy::parse(&a.await_policy)?;
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

fn fail(e: &HarnessError) -> i32 {
    eprintln!("loudfail: {e}");
    EXIT_ERROR
}

async fn run(args: RunArgs) -> i32 {
    let mut s = match scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    if let Some(d) = &args.dir {
        s = s.dir(d);
    }
    match s.run().await {
        Ok(report) => print_report(&report, args.json),
        Err(e) => fail(&e),
    }
}

async fn bench(args: BenchArgs) -> i32 {
    let base = scenario(&args.scenario);
    let mut base = match base {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let parent = match parent_dir(args.dir.clone(), "bench") {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    base.replay = None;
    let (mut detection, mut restart, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_harness, mut cpu_processes, mut memory, mut memory_harness, mut landed_per_s) =
        (Vec::new(), Vec::new(), 0u64, 0u64, Vec::new());
    let mut failures = 0;
    for i in 0..args.runs {
        let s = base.clone().seed(args.scenario.seed + i as u64).dir(parent.join(format!("run-{i}")));
        match s.run().await {
            Ok(r) => {
                println!(
                    "run {i}: {}  detection {}  restart {}  wall {}",
                    r.verdict(),
                    opt(r.detection()),
                    opt(r.restart()),
                    human(r.wall)
                );
                if !r.verdict().passed() {
                    failures += 1;
                }
                detection.extend(r.detection());
                restart.extend(r.restart());
                wall.push(r.wall);
                cpu_harness.push(Duration::from_micros(r.cpu_us.harness));
                cpu_processes.push(Duration::from_micros(r.cpu_us.processes));
                memory = memory.max(r.peak_memory);
                memory_harness = memory_harness.max(r.harness_memory);
                landed_per_s.extend(landing_rate(&r));
            }
            Err(e) => return fail(&e),
        }
    }
    println!(
        "\n{} runs (seeds {}..={}) of: {}",
        args.runs,
        args.scenario.seed,
        args.scenario.seed + args.runs.saturating_sub(1) as u64,
        base.replay_line()
    );
    println!("  {:<20} {:>10} {:>10}   target", "", "median", "max");
    let bound = |d: Duration| format!("<= {}", human(base.scale.real(d)));
    row("detection latency", &detection, &bound(base.timings.detection_bound));
    row("restart latency", &restart, &bound(base.timings.restart_bound));
    row("wall time per run", &wall, "");
    row("cpu, harness", &cpu_harness, "");
    row("cpu, run's processes", &cpu_processes, "");
    println!("  peak memory: {} MiB every process together, {} MiB the harness", memory >> 20, memory_harness >> 20);
    if let Some(max) = landed_per_s.iter().copied().reduce(f64::max) {
        println!("  records landed per second (a flow's fastest second): {max:.0}");
    }
    println!("  artifacts: {}", parent.display());
    if failures > 0 { 1 } else { 0 }
}

async fn explore(args: ExploreArgs) -> i32 {
    use suites::explore::{Exploration, Property, Space, default_regressions};
    let property = match Property::parse(&args.property) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if args.budget == 0 || args.max_faults == 0 {
        return fail(&HarnessError::bad_input(
            "a budget or a fault count of 0 explores nothing",
            "pass --budget and --max-faults of at least 1",
        ));
    }
    let time = match &args.time {
        None => None,
        Some(t) => match harness::time::parse_human(t).filter(|d| !d.is_zero()) {
            Some(d) => Some(d),
            None => {
                return fail(&HarnessError::bad_input(
                    format!("time budget {t:?} is not a duration"),
                    "pass --time like 45m or 2h (wall time)",
                ));
            }
        },
    };
    let dir = match parent_dir(args.dir.clone(), "explore") {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let space = match &args.pipeline_file {
        None => suites::explore::Space::reference(),
        Some(path) => harness::program::ProgramPipeline::load(path).and_then(|p| {
            p.spec().check_startable()?;
            Ok(Space::program(std::sync::Arc::new(p)))
        }),
    };
    let space = match space {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let exploration = Exploration {
        space,
        property,
        seed: args.seed,
        budget: args.budget,
        time,
        max_faults: args.max_faults,
        shrink_runs: args.shrink_runs,
        regressions: Some(args.regressions.clone().unwrap_or_else(|| default_regressions(&dir))),
        dir: dir.clone(),
        bin: None,
    };
    // Bad input before anything is created.
    if let Err(e) = exploration.load_regressions() {
        return fail(&e);
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail(&HarnessError::io(&dir, e));
    }
    println!("exploring: property {}, seed {}, budget {}\n", property.name(), args.seed, args.budget);
    let handle = tokio::runtime::Handle::current();
    let e = exploration.clone();
    let found = tokio::task::spawn_blocking(move || {
        e.run(&handle, &|o| {
            let mark = if o.broke.is_some() { "✗" } else { "✓" };
            println!("{mark} case {:<3} {:<10} {:<60} {}", o.n, o.stage, o.case.describe(), o.verdict);
        })
    })
    .await;
    let found = match found {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return fail(&e),
        Err(e) => return fail(&HarnessError::bad_input(format!("the exploration panicked: {e}"), "report this")),
    };
    let replay_self = format!(
        "loudfail explore{} --property {} --seed {} --budget {} --max-faults {}",
        args.pipeline_file.as_ref().map(|p| format!(" --pipeline-file {}", p.display())).unwrap_or_default(),
        property.name(),
        args.seed,
        found.generated,
        args.max_faults
    );
    let junit = match suites::explore::write_junit(&dir, property, &found.runs) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    println!(
        "\n{} runs ({} generated{}); artifacts: {} ({})",
        found.runs.len(),
        found.generated,
        if time.is_some() && found.minimal.is_none() && found.generated < args.budget {
            ", the time budget spent"
        } else {
            ""
        },
        dir.display(),
        junit.display()
    );
    for case in &found.regressions_failing {
        println!("kept regression still fails: {}\n  replay  {}", case.describe(), exploration.space.replay(case));
    }
    match &found.minimal {
        None if found.regressions_failing.is_empty() => {
            println!("every run held the property ({})\n  explore  {replay_self}", property.name());
            0
        }
        None => 1,
        Some((case, why)) => {
            println!("\nsimplest scenario breaking the property ({why}):\n  {}", case.describe());
            if found.shrink_cut {
                println!(
                    "  (shrinking stopped after {} runs, its limit: a simpler scenario may break the property too; raise --shrink-runs to look further)",
                    args.shrink_runs
                );
            }
            println!("  replay   {}", exploration.space.replay(case));
            println!(
                "  kept in  {}",
                exploration.regressions.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            );
            println!("  explore  {replay_self}");
            1
        }
    }
}

/// A parent directory for several runs: new or empty.
fn parent_dir(dir: Option<PathBuf>, default: &str) -> Result<PathBuf, HarnessError> {
    let parent =
        dir.unwrap_or_else(|| PathBuf::from("target/loudfail").join(format!("{default}-{}", std::process::id())));
    if parent.exists() && std::fs::read_dir(&parent).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(HarnessError::bad_input(
            format!("directory {} exists and is not empty", parent.display()),
            "pass --dir with a new or empty directory",
        ));
    }
    Ok(parent)
}

async fn matrix(args: MatrixArgs) -> i32 {
    let shipped = match args.pipeline.as_deref() {
        None => None,
        Some(name) => match suites::shipped_program(name) {
            Some(path) => Some(path),
            None => {
                let names: Vec<&str> = suites::SHIPPED_PROGRAMS.iter().map(|(n, _)| *n).collect();
                return fail(&HarnessError::bad_input(
                    format!("matrix --pipeline {name:?}: not a program loudfail ships"),
                    format!(
                        "name one of {} (the engine's pipelines have their matrix without --pipeline), or pass --pipeline-file",
                        names.join(", ")
                    ),
                ));
            }
        },
    };
    let cells = match args.pipeline_file.as_ref().or(shipped.as_ref()) {
        Some(path) => harness::program::ProgramPipeline::load(path)
            .and_then(|p| suites::matrix::program_cells(std::sync::Arc::new(p)))
            .and_then(|all| match args.only.as_deref() {
                Some(filter) => suites::matrix::filter_cells(all, filter),
                None => Ok(all),
            }),
        None => suites::matrix::select(args.only.as_deref(), args.all),
    };
    let cells = match cells {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let parent = match parent_dir(args.dir, "matrix") {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let started = std::time::Instant::now();
    println!(
        "{:<50} {:<15} {:<22} {:>7} {:>7} {:>8} {:>8}  {:<22} {:>4} {:>4} {:>5}",
        "cell", "expected", "actual", "detect", "restart", "silent", "retrying", "blast radius", "loss", "dup", "MiB"
    );
    let (mut differ, mut errors, mut peak, mut cases) = (Vec::new(), 0, 0u64, Vec::new());
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for (i, cell) in cells.iter().enumerate() {
        if terminal {
            // Progress, on the terminal only: the row replaces it when the cell is done.
            let elapsed = harness::time::human(started.elapsed());
            eprint!("[{}/{}] {} running (elapsed {elapsed})…\r", i + 1, cells.len(), cell.id);
        }
        let scenario = match cell.scenario(args.seed) {
            Ok(s) => s.dir(parent.join(cell.id.replace('/', "__"))),
            Err(e) => return fail(&e),
        };
        let report = scenario.run().await;
        if terminal {
            eprint!("\x1b[2K\r");
        }
        let report = match report {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let a = &report.analysis;
        let blast: Vec<String> = a.faults.first().map(|f| f.blast_radius.clone()).unwrap_or_default();
        let differs = cell.differs(&report);
        let outcome = match (report.verdict(), &differs) {
            (harness::Verdict::Error(e), _) => {
                errors += 1;
                Outcome::Error(e.clone())
            }
            (_, Some(why)) => {
                differ.push((cell.id.clone(), report.replay.clone(), report.dir.clone()));
                Outcome::Failed(why.clone())
            }
            (_, None) => Outcome::Passed,
        };
        cases.push(harness::junit::case(&report, &cell.id, outcome));
        peak = peak.max(report.peak_memory);
        // The engine's own run of the cell, when the program names the job it is a version of.
        // The engine's run beside it is for comparison: its failure to run is said in the row
        // (and in the exit code), not the end of the matrix.
        let model = match (cell.model.is_some(), cell.model_scenario(args.seed)) {
            (false, _) => None,
            (true, None) => Some("— (the fault does not fit it)".to_string()),
            (true, Some(s)) => {
                match s.dir(parent.join(format!("{}__engine", cell.id.replace('/', "__")))).run().await {
                    Ok(r) => Some(r.verdict().to_string()),
                    Err(e) => {
                        errors += 1;
                        Some(format!("ERROR({})", e.to_string().lines().next().unwrap_or_default()))
                    }
                }
            }
        };
        let verdict = report.verdict().to_string();
        println!(
            "{:<50} {:<15} {:<22} {:>7} {:>7} {:>8} {:>8}  {:<22} {:>4} {:>4} {:>5}  {}",
            cell.id,
            cell.expected().to_string(),
            if verdict.len() > 22 { format!("{}…", &verdict[..21]) } else { verdict },
            opt(report.detection()),
            opt(report.restart()),
            human(report.silent_window()),
            human(Duration::from_micros(a.retrying_while_running_us.max(0) as u64)),
            format!("{} ({})", blast.len(), blast.join(",")),
            a.missing + a.unresolved,
            a.duplicated,
            report.peak_memory >> 20,
            differs.map(|why| format!("DIFFERS: {why}")).unwrap_or_else(|| "as expected".into())
                + &model.map(|v| format!("; engine: {v}")).unwrap_or_default()
        );
    }
    let junit = parent.join("junit.xml");
    if let Err(e) = harness::junit::write(&junit, "loudfail matrix", cases) {
        return fail(&e);
    }
    println!(
        "\n{} cells in {} (seed {}); peak memory of one cell's processes together: {} MiB; artifacts: {} (junit.xml)",
        cells.len(),
        human(started.elapsed()),
        args.seed,
        peak >> 20,
        parent.display()
    );
    for (id, replay, dir) in &differ {
        println!("  {id} differs from its expectation: {}  replay: {replay}", dir.display());
    }
    if errors > 0 {
        2
    } else if differ.is_empty() {
        0
    } else {
        1
    }
}

/// The most records a run's flows landed in one second of wall time, from its history (program
/// pipelines only: `flow_landed`).
fn landing_rate(report: &harness::Report) -> Option<f64> {
    let records = harness::history::History::read(&report.dir.join("history.jsonl")).ok()?;
    let landed: Vec<(i64, u64)> = records
        .iter()
        .filter_map(|r| match &r.event {
            harness::history::Event::FlowLanded { landed, .. } => Some((r.at, *landed)),
            _ => None,
        })
        .collect();
    landed
        .iter()
        .filter_map(|(at, n)| {
            let before = landed.iter().rev().find(|(t, _)| *t <= at - 1_000_000)?;
            Some((n - before.1.min(*n)) as f64 * 1e6 / (at - before.0) as f64)
        })
        .reduce(f64::max)
}

fn opt(d: Option<Duration>) -> String {
    d.map(human).unwrap_or_else(|| "—".into())
}

fn row(name: &str, v: &[Duration], target: &str) {
    let mut v = v.to_vec();
    v.sort();
    let median = v.get(v.len() / 2).copied();
    let max = v.last().copied();
    println!("  {name:<20} {:>10} {:>10}   {target}", opt(median), opt(max));
}

fn list() -> i32 {
    println!("pipelines:");
    let registry = suites::registry();
    let names = registry.all().iter().map(|p| p.name()).chain(suites::SHIPPED_PROGRAMS.iter().map(|(n, _)| *n));
    let w = names.map(str::len).max().unwrap_or(0).max(20);
    for p in registry.all() {
        println!("  {:<w$}  {}", p.name(), p.about());
    }
    for (name, path) in suites::SHIPPED_PROGRAMS {
        println!("  {name:<w$}  a program with its spec file ({path}); needs its venv (ci/setup.sh)");
    }
    println!("topologies:");
    for (n, _) in TopologyKind::ALL {
        println!("  {n}");
    }
    println!("await policies:");
    println!("  {:<w$}  await each query in order (the incident)", "each");
    println!("  {:<w$}  await any termination (the band-aid)", "any");
    println!("faults (fits: the pipelines each works on; a program is one run from --pipeline-file):");
    let faults = suites::faults();
    let width = faults.all().iter().map(|f| f.name().len()).max().unwrap_or(0);
    let plans: Vec<_> =
        suites::registry().all().iter().filter_map(|p| p.plan("list", &PipelineOptions::default()).ok()).collect();
    for f in faults.all() {
        let engine = plans.iter().any(|plan| f.check(plan).is_ok());
        let fits = match (engine, f.fits_programs()) {
            (true, true) => "any pipeline",
            (true, false) => "engine pipelines",
            (false, true) => "programs",
            (false, false) => "none here",
        };
        println!("  {:<width$}  {:<17} {}", f.name(), fits, f.about());
    }
    0
}

fn main() {
    // Started by a run as one of its cluster or task processes, it serves that role instead.
    harness::entry::run_main(&suites::registry(), || {
        let cli = Cli::parse();
        async move {
            match cli.command {
                Command::List => list(),
                Command::Judge(args) => judge(args),
                Command::Run(args) => run(args).await,
                Command::Bench(args) => bench(args).await,
                Command::Matrix(args) => matrix(args).await,
                Command::Explore(args) => explore(args).await,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
