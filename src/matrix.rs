//! The `matrix` command: the expected matrix, each cell against its expectation.

use crate::*;
use futures::StreamExt;

#[derive(Debug, Args)]
pub(crate) struct MatrixArgs {
    /// Only these cells: comma-separated cell ids (`driver-oom/shared-cluster`), fault names or
    /// layout names (`monitored`), among every cell of `--all`. Default: DESIGN.md's 15 cells.
    #[arg(long)]
    pub(crate) only: Option<String>,
    /// A program of your own, described by a spec file: its matrix is every fault that fits a
    /// program, under multi-query (awaiting each query, and any), its [cluster] shared by its
    /// tasks (when the spec has one) and cluster-per-task, each against its expectation. When
    /// the spec names the engine pipeline it is a version of (`model`), that pipeline's verdict
    /// in the same cell is shown beside.
    #[arg(long, value_name = "PATH", conflicts_with = "pipeline")]
    pub(crate) pipeline_file: Option<PathBuf>,
    /// A program loudfail ships, by name (`spark-telemetry`): as --pipeline-file with its spec.
    #[arg(long)]
    pub(crate) pipeline: Option<String>,
    /// Every fault of the catalogue in every layout (80 cells): DESIGN.md's matrix, plus the
    /// quiet external-location mismatch, driver-crash, driver-hang, catalog-blip and
    /// checkpoint-corruption.
    #[arg(long)]
    pub(crate) all: bool,
    /// Seed of every cell.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Parent directory of the cells' run directories (must be new or empty).
    /// Default: target/loudfail/matrix-<pid>.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) spread: Spread,
}

pub(crate) async fn matrix(args: MatrixArgs) -> Result<i32, HarnessError> {
    args.spread.check()?;
    let shipped = match args.pipeline.as_deref() {
        None => None,
        Some(name) => match suites::shipped_program(name) {
            Some(path) => Some(path),
            None => {
                let names: Vec<&str> = suites::SHIPPED_PROGRAMS.iter().map(|(n, _)| *n).collect();
                return Err(HarnessError::bad_input(
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
    let cells = cells?;
    let parent = parent_dir(args.dir, "matrix")?;
    let shard = args.spread.shard();
    let cells = shard.of(cells);
    let started = std::time::Instant::now();
    println!(
        "{:<50} {:<15} {:<22} {:>7} {:>7} {:>8} {:>8}  {:<22} {:>4} {:>4} {:>5}",
        "cell", "expected", "actual", "detect", "restart", "silent", "retrying", "blast radius", "loss", "dup", "MiB"
    );
    let (mut differ, mut errors, mut peak, mut cases) = (Vec::new(), 0, 0u64, Vec::new());
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let (seed, parent_ref, done_ref, total) = (args.seed, &parent, &done, cells.len());
    // Each cell with its engine run beside it; `jobs` cells at a time, reported in order.
    let mut runs = futures::stream::iter(cells.iter())
        .map(|cell| async move {
            let dir = parent_ref.join(cell.id.replace('/', "__"));
            let report = match cell.scenario(seed) {
                Ok(s) => s.dir(dir).run().await,
                Err(e) => Err(e),
            };
            // The engine's own run of the cell, when the program names the job it is a version
            // of: for comparison, so its failure to run is said in the row (and in the exit
            // code), not the end of the matrix.
            let model = match (cell.model.is_some(), cell.model_scenario(seed)) {
                (false, _) => None,
                (true, None) => Some(Ok("— (the fault does not fit it)".to_string())),
                (true, Some(s)) => {
                    let dir = parent_ref.join(format!("{}__engine", cell.id.replace('/', "__")));
                    Some(s.dir(dir).run().await.map(|r| r.verdict().to_string()))
                }
            };
            let n = done_ref.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if terminal {
                // Progress, on the terminal only: the next row replaces it.
                let elapsed = harness::time::human(started.elapsed());
                eprint!("\x1b[2K\r[{n}/{total}] cells done (elapsed {elapsed})…\r");
            }
            (cell, report, model)
        })
        .buffered(args.spread.jobs as usize);
    while let Some((cell, report, model)) = runs.next().await {
        if terminal {
            eprint!("\x1b[2K\r");
        }
        let report = report?;
        let model = model.map(|m| {
            m.unwrap_or_else(|e| {
                errors += 1;
                format!("ERROR({})", e.to_string().lines().next().unwrap_or_default())
            })
        });
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
    drop(runs);
    let junit = parent.join("junit.xml");
    let suite =
        if shard.is_whole() { "loudfail matrix".to_string() } else { format!("loudfail matrix (shard {shard})") };
    harness::junit::write(&junit, &suite, cases)?;
    println!(
        "\n{} cells{} in {} (seed {}, {} at a time); peak memory of one cell's processes together: {} MiB; artifacts: {} (junit.xml)",
        cells.len(),
        if shard.is_whole() { String::new() } else { format!(" (shard {shard})") },
        human(started.elapsed()),
        args.seed,
        args.spread.jobs,
        peak >> 20,
        parent.display()
    );
    for (id, replay, dir) in &differ {
        println!("  {id} differs from its expectation: {}  replay: {replay}", dir.display());
    }
    Ok(if errors > 0 {
        2
    } else if differ.is_empty() {
        0
    } else {
        1
    })
}
