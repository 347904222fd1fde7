//! The `loudfail` command: runs chaos scenarios against streaming pipelines, and (started with
//! `__cluster` or `__task`, see `harness::entry`) is itself the cluster and
//! task processes those scenarios start.

// The doc comments of the argument structs are `--help` text, written for a terminal: `<pid>`
// and `[cluster]` there are words, not HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use clap::{Args, Parser, Subcommand};
use harness::junit::Outcome;
use harness::report::EXIT_ERROR;
use harness::time::human;
use harness::{AwaitPolicy, HarnessError, PipelineOptions, Scenario, TimeScale, Topology, TopologyKind};
use std::path::PathBuf;
use std::time::Duration;

mod bench;
mod explore;
mod judge;
mod list;
mod matrix;
mod run;

use bench::{BenchArgs, bench};
use explore::{ExploreArgs, explore};
use judge::{JudgeArgs, judge};
use list::list;
use matrix::{MatrixArgs, matrix};
use run::{RunArgs, run};

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

/// Prints a report (the table, or JSON) and returns its exit code.
fn print_report(report: &harness::Report, json: bool) -> i32 {
    if json {
        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
    } else {
        print!("{}", report.render());
    }
    report.exit_code()
}

/// How a long command spreads its runs: several at once on this machine, and shares across
/// machines.
#[derive(Debug, Clone, Args)]
struct Spread {
    /// Runs at once on this machine, each with its own processes and broker: the same runs, in
    /// the same order, as one at a time with the same seeds. A job needs a core (a run's CPU
    /// comes in bursts, and runs that compete for it stretch toward the time bounds they are
    /// judged by): at most the machine's cores.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Only the K-th of N shares (`2/4`), for N CI runners given the same seed: cells (or
    /// generated cases and kept regressions) by position, each judged as it would be alone.
    /// Their JUnit files merge as any do; their kept regressions concatenate.
    #[arg(long, value_name = "K/N")]
    shard: Option<suites::shard::Shard>,
}

impl Spread {
    fn shard(&self) -> suites::shard::Shard {
        self.shard.unwrap_or(suites::shard::Shard::WHOLE)
    }

    /// A run keeps 0.7 of a core busy on average over an exploration, in bursts of up to one
    /// and a half (its harness, its cluster and task processes starting, a MERGE over a
    /// backlog), and its verdict is judged against time bounds: runs that compete for CPU
    /// stretch toward them. Measured on 2 cores (session 10): `matrix --all --jobs 2` gave every
    /// cell the verdict of one at a time in each of 7 repetitions, now that the restart bound
    /// tracks the measured cold start (session 7, before it: 1 cell in 80 flipped in half the
    /// repetitions). More runs than cores is refused: with the refusal lifted (session 18),
    /// `--jobs 4` on 2 cores explored 60 scenarios a minute, but flipped a cell of `matrix --all`
    /// in one of ten repetitions (a restart 1 ms past its bound).
    fn check(&self) -> Result<(), HarnessError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let most = cores.max(1);
        if self.jobs as usize > most {
            return Err(HarnessError::bad_input(
                format!(
                    "--jobs {jobs} needs {jobs} cores and this machine has {cores}: a run keeps up to one and a half cores busy in bursts, and runs that compete for CPU stretch past the time bounds they are judged by, changing verdicts",
                    jobs = self.jobs
                ),
                format!(
                    "pass --jobs {most} or fewer (a job per core); to go wider, split the work across machines with --shard K/N"
                ),
            ));
        }
        Ok(())
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

fn opt(d: Option<Duration>) -> String {
    d.map(human).unwrap_or_else(|| "—".into())
}

fn main() {
    // Started by a run as one of its cluster or task processes, it serves that role instead.
    harness::entry::run_main(&suites::registry(), || {
        let cli = Cli::parse();
        async move {
            let code = match cli.command {
                Command::List => Ok(list()),
                Command::Judge(args) => judge(args),
                Command::Run(args) => run(args).await,
                Command::Bench(args) => bench(args).await,
                Command::Matrix(args) => matrix(args).await,
                Command::Explore(args) => explore(args).await,
            };
            // Bad input or a harness error: its problem and its help, and a non-zero exit.
            code.unwrap_or_else(|e| {
                eprintln!("loudfail: {e}");
                EXIT_ERROR
            })
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
