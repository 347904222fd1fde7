//! What a binary built on loudfail needs around its runs, so that a pipeline of your own is a
//! pipeline, a query's logic and a `main` of one line ([`main`]): serving as its own cluster
//! and task processes, every child reaped on Ctrl-C, SIGTERM and panic, the async runtime, and
//! the run of a scenario named on the command line with its report and exit code.

use crate::error::{HarnessError, Result};
use crate::pipeline::Registry;
use crate::{FaultCatalog, Scenario, Topology};

/// Ctrl-C and SIGTERM are taken by a thread of their own, which kills every child and exits
/// with 130, whatever the async runtime is doing (even stuck). Call before any other thread
/// starts, so that every thread inherits the blocked signals and only that one receives them.
pub fn reap_on_signal() {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_err() {
        return;
    }
    let _ = std::thread::Builder::new().name("loudfail-signals".into()).spawn(move || {
        if let Ok(sig) = set.wait() {
            crate::process::kill_all();
            eprintln!(
                "loudfail: interrupted by {sig}; every process of the run was stopped; its directory keeps what was recorded"
            );
            std::process::exit(130);
        }
    });
}

/// A panic on the main thread ends the process, and its children go with it. Anywhere else (a
/// runtime worker) the runtime catches it and the harness reports it where it awaits that task;
/// killing the run's processes then would only hide what happened. Such a panic is said once
/// per place, in a line: a dependency that panics on every write while storage is read-only
/// would otherwise bury the report.
pub fn reap_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            crate::process::kill_all();
            default_hook(info);
            return;
        }
        static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let place = info.location().map(|l| l.to_string()).unwrap_or_default();
        let message = crate::error::panic_message(info.payload());
        if caught_by_design(info.location().map_or("", |l| l.file()), &message) {
            tracing::debug!(%place, %message, "a dependency panicked where it catches the panic itself");
            return;
        }
        let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
        if !said.contains(&place) {
            eprintln!(
                "loudfail: a runtime task panicked at {place}: {message} (further panics there go unsaid; the run reports what they broke)"
            );
            said.push(place);
        }
    }));
}

/// In a cluster or task process: a panic a dependency raises on purpose and catches itself
/// ([`caught_by_design`]) is not printed; every other goes to the default hook, with the
/// backtrace `RUST_BACKTRACE` asks for. Under `storage-read-only` every data file write raises
/// one, and with `RUST_BACKTRACE=1` the default hook printed a symbolized backtrace of each
/// into the cluster's log: panics that broke nothing, read out of the debug info at a cost.
pub fn quiet_designed_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = crate::error::panic_message(info.payload());
        if !caught_by_design(info.location().map_or("", |l| l.file()), &message) {
            default_hook(info);
        }
    }));
}

/// Whether a panic is one a dependency raises on purpose and catches itself, which says nothing
/// is wrong: object_store's `BufWriter::abort` panics ("Already shut down") once its upload has
/// begun to complete, and delta-rs calls it under `catch_unwind` after a failed finish
/// (deltalake-core's `datafile/writer.rs`), as every data file write does while storage refuses
/// it (`storage-read-only`). A panic hook runs before the unwinding that catch stops, so without
/// this it would tell the user of a panic that broke nothing. Where such a panic is not caught
/// there, the task that awaited it reports what it broke (a query's panic, the workload's).
fn caught_by_design(file: &str, message: &str) -> bool {
    file.contains("/object_store-") && file.ends_with("/src/buffered.rs") && message == "Already shut down"
}

/// The runtime runs are driven on: two workers, like the CI machine's two cores.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| HarnessError::io("the async runtime", e))
}

/// Runs `body` on the runtime with every child reaped however the process ends, and exits with
/// the code it returns. Starts nothing when the process was started as one of a run's cluster
/// or task processes: then it serves that role with `registry` and exits.
pub fn run_main<F, Fut>(registry: &Registry, body: F) -> !
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    if let Some(code) = crate::reaper::serve_if_reaper().or_else(crate::memlimit::serve_if_balloon) {
        std::process::exit(code);
    }
    if let Err(e) = crate::diagnostics::init() {
        eprintln!("loudfail: {e}");
        std::process::exit(crate::report::EXIT_ERROR);
    }
    if let Some(code) = crate::worker::serve_if_worker(registry) {
        std::process::exit(code);
    }
    reap_on_signal();
    reap_on_panic();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loudfail: {e}");
            std::process::exit(crate::report::EXIT_ERROR);
        }
    };
    let code = rt.block_on(body());
    // Dropped before exiting, so every child handle is reaped.
    drop(rt);
    std::process::exit(code);
}

/// Runs a scenario, prints its report (or its error) and returns the exit code: 0 for a
/// passing verdict, 1 for a failing one, 2 for bad input or a harness error.
pub async fn run_scenario(scenario: Result<Scenario>) -> i32 {
    let result = match scenario {
        Ok(s) => s.run().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(report) => {
            print!("{}", report.render());
            report.exit_code()
        }
        Err(e) => {
            eprintln!("{e}");
            crate::report::EXIT_ERROR
        }
    }
}

/// The whole `main` of a binary with pipelines of its own:
/// `BINARY [FAULT[,FAULT@GAP...]|none] [DIR]` runs the registry's first pipeline under the
/// faults (default `default_fault`; `none` is the fault-free baseline) on one task awaiting
/// any of its queries, artifacts in DIR (default `target/loudfail/<run-id>`), and exits 0, 1
/// or 2 as [`run_scenario`] says. The report's replay line names this binary.
pub fn main(registry: Registry, catalog: FaultCatalog, default_fault: &str) -> ! {
    let default_fault = default_fault.to_string();
    run_main(&registry.clone(), move || {
        // Read only now: started as a cluster or task process, the arguments are the run's.
        let mut args = std::env::args().skip(1);
        let faults = args.next().unwrap_or(default_fault);
        let dir = args.next();
        if faults == "-h" || faults == "--help" || args.next().is_some() {
            let me = std::env::args().next().unwrap_or_default();
            eprintln!("usage: {me} [FAULT[,FAULT@GAP...]|none] [DIR]\nfaults: {}", catalog.names().join(", "));
            std::process::exit(crate::report::EXIT_ERROR);
        }
        let scenario = (|| {
            let pipeline = registry.all().first().cloned().ok_or_else(|| {
                HarnessError::bad_input("the registry holds no pipeline", "add one with Registry::new().with(...)")
            })?;
            let exe = std::env::current_exe().map_err(|e| HarnessError::io("this executable", e))?;
            let mut s = Scenario::new(pipeline)
                .topology(Topology::multi_query(crate::AwaitPolicy::Any))
                .schedule(catalog.schedule(&[faults.as_str()])?)
                .bin(exe.clone());
            s.replay = Some(format!("{} {faults}", exe.display()));
            if let Some(dir) = dir {
                s = s.dir(dir);
            }
            Ok(s)
        })();
        run_scenario(scenario)
    })
}

#[cfg(test)]
mod tests {
    use super::caught_by_design;

    #[test]
    fn only_object_stores_abort_after_shutdown_is_caught_by_design() {
        let buffered = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/object_store-0.13.2/src/buffered.rs";
        assert!(caught_by_design(buffered, "Already shut down"));
        assert!(!caught_by_design(buffered, "index out of bounds"));
        assert!(!caught_by_design("harness/src/buffered.rs", "Already shut down"));
        assert!(!caught_by_design("/x/object_store-0.13.2/src/local.rs", "Already shut down"));
    }
}
