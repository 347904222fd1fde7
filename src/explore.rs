//! The `explore` command: generated scenarios checked against a property, the first failure shrunk and kept.

use crate::*;

#[derive(Debug, Args)]
pub(crate) struct ExploreArgs {
    /// What every run must satisfy.
    #[arg(long, value_enum, default_value_t = suites::explore::Property::Gate)]
    pub(crate) property: suites::explore::Property,
    /// Seed of the exploration: the same seed generates the same scenarios.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// How many scenarios to generate (kept regressions are replayed on top).
    #[arg(long, default_value_t = 20)]
    pub(crate) budget: u32,
    /// Wall-time budget (`30m`, `2h`): no new scenario starts once it is spent. The replay line
    /// then gives the number of scenarios that ran as the budget.
    #[arg(long)]
    pub(crate) time: Option<String>,
    /// Explore a program of your own, described by a spec file: every fault that fits it, in
    /// the layouts a program runs in (multi-query, cluster-per-task), at its spec's scale.
    #[arg(long, value_name = "PATH")]
    pub(crate) pipeline_file: Option<PathBuf>,
    /// At most this many faults per scenario (a schedule), for the gate property.
    #[arg(long, default_value_t = 2)]
    pub(crate) max_faults: usize,
    /// At most this many runs spent shrinking a scenario that broke the property.
    #[arg(long, default_value_t = 16)]
    pub(crate) shrink_runs: u32,
    /// File of kept regressions (JSON lines): replayed first, and the minimal failing scenario
    /// appended. Default: regressions.jsonl in the exploration's directory.
    #[arg(long)]
    pub(crate) regressions: Option<PathBuf>,
    /// Directory for every scenario's run directory (must be new or empty).
    /// Default: target/loudfail/explore-<pid>.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) spread: Spread,
}

pub(crate) async fn explore(args: ExploreArgs) -> Result<i32, HarnessError> {
    use suites::explore::{Exploration, Space, default_regressions};
    args.spread.check()?;
    let property = args.property;
    if args.budget == 0 || args.max_faults == 0 {
        return Err(HarnessError::bad_input(
            "a budget or a fault count of 0 explores nothing",
            "pass --budget and --max-faults of at least 1",
        ));
    }
    let time = match &args.time {
        None => None,
        Some(t) => match harness::time::parse_human(t).filter(|d| !d.is_zero()) {
            Some(d) => Some(d),
            None => {
                return Err(HarnessError::bad_input(
                    format!("time budget {t:?} is not a duration"),
                    "pass --time like 45m or 2h (wall time)",
                ));
            }
        },
    };
    let dir = parent_dir(args.dir.clone(), "explore")?;
    let space = match &args.pipeline_file {
        None => suites::explore::Space::reference()?,
        Some(path) => {
            let p = harness::program::ProgramPipeline::load(path)?;
            p.spec().check_startable()?;
            Space::program(std::sync::Arc::new(p))
        }
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
        jobs: args.spread.jobs as usize,
        shard: args.spread.shard(),
    };
    // Bad input before anything is created.
    exploration.load_regressions()?;
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    println!(
        "exploring: property {}, seed {}, budget {}{}, {} at a time\n",
        property.name(),
        args.seed,
        args.budget,
        args.spread.shard.map(|s| format!(" (shard {s})")).unwrap_or_default(),
        args.spread.jobs
    );
    let handle = tokio::runtime::Handle::current();
    let e = exploration.clone();
    let found = tokio::task::spawn_blocking(move || {
        e.run(&handle, &|o| {
            let mark = if o.broke.is_some() { "✗" } else { "✓" };
            println!("{mark} case {:<3} {:<10} {:<60} {}", o.n, o.stage, o.case.describe(), o.verdict);
        })
    })
    .await;
    let found =
        found.map_err(|e| HarnessError::bad_input(format!("the exploration panicked: {e}"), "report this"))??;
    let replay_self = format!(
        "loudfail explore{} --property {} --seed {} --budget {} --max-faults {}{}",
        args.pipeline_file.as_ref().map(|p| format!(" --pipeline-file {}", p.display())).unwrap_or_default(),
        property.name(),
        args.seed,
        found.generated,
        args.max_faults,
        args.spread.shard.map(|s| format!(" --shard {s}")).unwrap_or_default()
    );
    let junit = suites::explore::write_junit(&dir, property, args.spread.shard(), &found.runs)?;
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
    Ok(match &found.minimal {
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
    })
}
