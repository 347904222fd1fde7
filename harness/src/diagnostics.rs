//! Diagnostics with [`tracing`]: what the supervisor, the observer, each fault and every record
//! of the history do, at levels a user turns up with `RUST_LOG` (`RUST_LOG=debug`,
//! `RUST_LOG=harness=debug,faults=info`, `RUST_LOG=harness::history=trace`). A bare level is
//! loudfail's own; dependencies stay quiet unless named (`RUST_LOG=info,deltalake_core=debug`). Lines go to stderr;
//! a run's cluster and task processes inherit the variable, and their stderr is their file in the
//! run directory's `logs/`. Without `RUST_LOG` nothing is printed and nothing is formatted.
//!
//! | target | level | what |
//! |---|---|---|
//! | `harness::supervisor` | info | runs, processes started and ended, task states, restarts |
//! | `harness::run` | info | the run's steps; each fault injected, taking effect, healed |
//! | `harness::observer` | debug | each sample of the world: what was produced, what landed |
//! | `harness::history` | debug | every record of the history as it is written (samples: trace) |
//! | `harness::worker` | info | a cluster's queries starting, committing, failing (in `logs/`) |

use crate::error::{HarnessError, Result};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The variable that sets the levels.
pub const VAR: &str = "RUST_LOG";

/// Installs the subscriber `RUST_LOG` asks for; nothing when it is unset or empty. A value that
/// does not parse is bad input naming the syntax.
pub fn init() -> Result<()> {
    let Ok(spec) = std::env::var(VAR) else { return Ok(()) };
    let targets = parse(&spec)?;
    let Some(targets) = targets else { return Ok(()) };
    use std::io::IsTerminal;
    let layer =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    // A subscriber already installed (a test binary's own) is left as it is.
    let _ = tracing_subscriber::registry().with(layer).with(targets).try_init();
    Ok(())
}

/// loudfail's own targets: a bare level (`RUST_LOG=debug`) is theirs, and the dependencies stay
/// quiet (delta-rs's kernel logs every snapshot at info, and a table looked for before its first
/// commit as an error); name a dependency's target to hear it (`RUST_LOG=debug,deltalake_core=debug`).
const OURS: [&str; 4] = ["harness", "faults", "suites", "loudfail"];

/// The filter a `RUST_LOG` value asks for (None: nothing to print).
fn parse(spec: &str) -> Result<Option<Targets>> {
    if spec.trim().is_empty() {
        return Ok(None);
    }
    let expanded: Vec<String> = spec
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .flat_map(|d| match d.contains('=') {
            true => vec![d.to_string()],
            false => OURS.iter().map(|t| format!("{t}={d}")).collect(),
        })
        .collect();
    expanded.join(",").parse::<Targets>().map(Some).map_err(|e| {
        HarnessError::bad_input(
            format!("{VAR}={spec:?} does not parse: {e}"),
            format!(
                "write a level (error, warn, info, debug, trace) or target=level pairs: {VAR}=debug, {VAR}=harness=debug,faults=info; or unset {VAR}"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn levels_parse_and_bad_ones_name_the_syntax() {
        assert!(parse("").unwrap().is_none());
        let t = parse("harness=debug,faults=info").unwrap().unwrap();
        assert!(t.would_enable("harness::supervisor", &Level::DEBUG));
        assert!(!t.would_enable("faults", &Level::DEBUG));
        // A bare level is loudfail's; its dependencies stay quiet unless named.
        let t = parse("debug").unwrap().unwrap();
        assert!(t.would_enable("harness::observer", &Level::DEBUG) && t.would_enable("faults", &Level::DEBUG));
        assert!(!t.would_enable("buoyant_kernel::snapshot", &Level::ERROR));
        assert!(parse("info,deltalake_core=debug").unwrap().unwrap().would_enable("deltalake_core", &Level::DEBUG));
        let err = parse("harness=loud").unwrap_err().to_string();
        assert!(err.contains("RUST_LOG") && err.contains("Help:") && err.contains("target=level"), "{err}");
    }
}
