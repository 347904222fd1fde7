//! Named failpoints in pipeline code, in the manner of tikv/fail-rs, working across processes.
//!
//! Pipeline code calls [`Failpoints::hit`] at a named place. What happens there is set by the
//! harness, either when the process starts (the `LOUDFAIL_FAILPOINTS` environment variable) or
//! while it runs (a [`Control`](crate::proto::Control) message on the cluster's stdin).
//!
//! Grammar: `name=action[;name=action...]`, where an action is `[N*]kind[(arg)]`:
//!
//! | kind | effect |
//! |---|---|
//! | `off` | nothing |
//! | `pause` | report `failpoint_hit` (with the caller's context) and wait for a release |
//! | `panic(msg)` | panic |
//! | `error(msg)` | return an error to the caller |
//! | `alloc(MiB)` | grow the process's memory by MiB, touching every page, and keep it (a query's state outgrowing its driver) |
//!
//! `N*` limits the action to the next N hits, after which the failpoint is off again.
//! A paused caller is how a fault makes a race deterministic: the resolver holds between reading
//! its snapshot and committing while the fault commits.

use crate::history::Event;
use crate::proto::report;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The environment variable that arms failpoints in a child process at start.
pub const ENV: &str = "LOUDFAIL_FAILPOINTS";

/// What a failpoint does when hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    Off,
    /// Report and wait for a release.
    Pause,
    /// Panic with this message.
    Panic(String),
    /// Return this error.
    Error(String),
    /// Allocate and keep this many bytes.
    Alloc(u64),
}

/// An armed failpoint: an action and how many more hits it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Armed {
    /// The action.
    pub action: Action,
    /// Hits left, or None for every hit.
    pub remaining: Option<u32>,
}

/// A failpoint that returned an error to its caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failpoint {name}: {message}")]
pub struct FailpointError {
    /// The failpoint.
    pub name: String,
    /// The message it was armed with.
    pub message: String,
}

/// Parses one action: `pause`, `1*pause`, `error(boom)`, `off`.
pub fn parse_action(s: &str) -> Result<Armed, String> {
    let s = s.trim();
    let (remaining, body) = match s.split_once('*') {
        Some((n, rest)) => {
            let n: u32 = n.trim().parse().map_err(|_| format!("bad count {n:?} in failpoint action {s:?}"))?;
            (Some(n), rest.trim())
        }
        None => (None, s),
    };
    let (kind, arg) = match body.split_once('(') {
        Some((k, rest)) => {
            let arg = rest.strip_suffix(')').ok_or_else(|| format!("missing ')' in failpoint action {s:?}"))?;
            (k, Some(arg.to_string()))
        }
        None => (body, None),
    };
    let action = match kind {
        "off" => Action::Off,
        "pause" => Action::Pause,
        "panic" => Action::Panic(arg.unwrap_or_else(|| "failpoint panic".into())),
        "error" => Action::Error(arg.unwrap_or_else(|| "failpoint error".into())),
        "alloc" => Action::Alloc(
            arg.as_deref()
                .and_then(|a| a.trim().parse::<u64>().ok())
                .map(|mib| mib << 20)
                .ok_or_else(|| format!("alloc needs a size in MiB: alloc(512), not {s:?}"))?,
        ),
        other => {
            return Err(format!("unknown failpoint action {other:?} (expected off, pause, panic(msg) or error(msg))"));
        }
    };
    Ok(Armed { action, remaining })
}

/// Parses a whole specification: `a=pause;b=1*error(x)`.
pub fn parse_spec(spec: &str) -> Result<Vec<(String, Armed)>, String> {
    spec.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (name, action) =
                part.split_once('=').ok_or_else(|| format!("failpoint {part:?} needs the form name=action"))?;
            Ok((name.trim().to_string(), parse_action(action)?))
        })
        .collect()
}

#[derive(Debug, Default)]
struct State {
    armed: HashMap<String, Armed>,
    /// Per failpoint, how many releases were issued; a paused caller waits for the count to pass
    /// the one it saw when it paused.
    releases: HashMap<String, u64>,
}

/// The failpoints of one process.
#[derive(Debug, Clone, Default)]
pub struct Failpoints {
    state: Arc<Mutex<State>>,
    released: Arc<Notify>,
}

impl Failpoints {
    /// Failpoints armed from `LOUDFAIL_FAILPOINTS`, if set.
    pub fn from_env() -> Result<Failpoints, String> {
        let fp = Failpoints::default();
        if let Ok(spec) = std::env::var(ENV) {
            for (name, armed) in parse_spec(&spec)? {
                fp.arm(&name, armed);
            }
        }
        Ok(fp)
    }

    /// Arms a failpoint.
    pub fn arm(&self, name: &str, armed: Armed) {
        self.state.lock().expect("failpoints").armed.insert(name.to_string(), armed);
    }

    /// Releases every caller paused at `name`.
    pub fn release(&self, name: &str) {
        *self.state.lock().expect("failpoints").releases.entry(name.to_string()).or_default() += 1;
        self.released.notify_waiters();
    }

    /// Runs the failpoint `name`. `context` travels with the `failpoint_hit` report.
    pub async fn hit(&self, name: &str, context: serde_json::Value) -> Result<(), FailpointError> {
        let (action, seen) = {
            let mut st = self.state.lock().expect("failpoints");
            let action = match st.armed.get_mut(name) {
                None => return Ok(()),
                Some(armed) => {
                    let action = armed.action.clone();
                    match armed.remaining.as_mut() {
                        Some(0) => Action::Off,
                        Some(n) => {
                            *n -= 1;
                            action
                        }
                        None => action,
                    }
                }
            };
            (action, st.releases.get(name).copied().unwrap_or(0))
        };
        match action {
            Action::Off => Ok(()),
            Action::Panic(msg) => panic!("failpoint {name}: {msg}"),
            Action::Error(message) => Err(FailpointError { name: name.to_string(), message }),
            Action::Alloc(bytes) => {
                grow(bytes);
                Ok(())
            }
            Action::Pause => {
                report(Event::FailpointHit { name: name.to_string(), context });
                loop {
                    let notified = self.released.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    if self.state.lock().expect("failpoints").releases.get(name).copied().unwrap_or(0) > seen {
                        return Ok(());
                    }
                    notified.await;
                }
            }
        }
    }
}

/// Memory grown by `alloc`, kept for the life of the process.
static GROWN: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Grows the process by `bytes` in 16 MiB steps, making every page resident. An allocation
/// that fails aborts the process (Rust's allocation-error handler: SIGABRT), in the growing
/// query itself.
fn grow(bytes: u64) {
    const STEP: usize = 16 << 20;
    let mut left = bytes as usize;
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_AS).ok().map(|(soft, _)| soft);
    while left > 0 {
        let n = left.min(STEP);
        // Under RLIMIT_AS, whichever allocation meets the limit first fails — often a small one
        // in a library thread, which hangs rather than aborts. The growing query checks its own
        // step against the limit first, and aborts as a failed allocation would.
        if let Some(limit) = limit.filter(|l| *l != nix::sys::resource::RLIM_INFINITY)
            && address_space().is_some_and(|used| used + (n as u64) + (64 << 20) > limit)
        {
            eprintln!("memory allocation of {n} bytes failed (failpoint alloc: address space limit {limit} reached)");
            std::process::abort();
        }
        // Zeroed memory comes lazily from the kernel (calloc); one write per page makes it
        // resident (a byte-by-byte fill is slow in a debug build).
        let mut chunk = vec![0u8; n];
        for page in (0..n).step_by(4096) {
            chunk[page] = 0xA5;
        }
        if let Ok(mut g) = GROWN.lock() {
            g.push(chunk);
        }
        left -= n;
    }
}

/// This process's address space (VmSize), in bytes.
fn address_space() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grammar() {
        assert_eq!(parse_action("pause").unwrap(), Armed { action: Action::Pause, remaining: None });
        assert_eq!(parse_action("1*pause").unwrap().remaining, Some(1));
        assert_eq!(parse_action("error(boom)").unwrap().action, Action::Error("boom".into()));
        assert!(parse_action("explode").unwrap_err().contains("unknown failpoint action"));
        assert!(parse_action("x*pause").is_err());
        let spec = parse_spec("a=off; b=2*error(x)").unwrap();
        assert_eq!(spec.len(), 2);
        assert!(parse_spec("nonsense").is_err());
        assert_eq!(parse_action("1*alloc(64)").unwrap().action, Action::Alloc(64 << 20));
        assert!(parse_action("alloc(lots)").is_err());
    }

    #[tokio::test]
    async fn counted_error_fires_then_turns_off() {
        let fp = Failpoints::default();
        fp.arm("x", parse_action("1*error(no)").unwrap());
        assert!(fp.hit("x", serde_json::Value::Null).await.is_err());
        assert!(fp.hit("x", serde_json::Value::Null).await.is_ok());
    }

    #[tokio::test]
    async fn pause_waits_for_release() {
        let fp = Failpoints::default();
        fp.arm("p", parse_action("1*pause").unwrap());
        let fp2 = fp.clone();
        let paused = tokio::spawn(async move { fp2.hit("p", serde_json::Value::Null).await });
        tokio::task::yield_now().await;
        assert!(!paused.is_finished());
        fp.release("p");
        tokio::time::timeout(Duration::from_secs(5), paused).await.unwrap().unwrap().unwrap();
    }
}
