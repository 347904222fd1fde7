//! The `bench` command: a scenario run repeatedly, its latencies and wall time.

use crate::run::{ScenarioArgs, scenario};
use crate::*;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) scenario: ScenarioArgs,
    /// How many runs.
    #[arg(long, default_value_t = 5)]
    pub(crate) runs: u32,
    /// Parent directory of the runs' directories (must be new or empty).
    /// Default: target/loudfail/bench-<pid>.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
}

pub(crate) async fn bench(args: BenchArgs) -> Result<i32, HarnessError> {
    let mut base = scenario(&args.scenario)?;
    let parent = parent_dir(args.dir.clone(), "bench")?;
    base.replay = None;
    let (mut detection, mut restart, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_harness, mut cpu_processes, mut memory, mut memory_harness, mut landed_per_s) =
        (Vec::new(), Vec::new(), 0u64, 0u64, Vec::new());
    let mut failures = 0;
    for i in 0..args.runs {
        let s = base.clone().seed(args.scenario.seed + i as u64).dir(parent.join(format!("run-{i}")));
        let r = s.run().await?;
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
    Ok(if failures > 0 { 1 } else { 0 })
}

/// The most records a run's flows landed in one second of wall time, from its history (program
/// pipelines only: `flow_landed`).
pub(crate) fn landing_rate(report: &harness::Report) -> Option<f64> {
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

pub(crate) fn row(name: &str, v: &[Duration], target: &str) {
    let mut v = v.to_vec();
    v.sort();
    let median = v.get(v.len() / 2).copied();
    let max = v.last().copied();
    println!("  {name:<20} {:>10} {:>10}   {target}", opt(median), opt(max));
}
