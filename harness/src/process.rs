//! Child processes: each in its own process group, killed by the kernel if the harness thread
//! that started it dies (`PR_SET_PDEATHSIG`), killed on drop, and listed in a process-wide
//! registry so a Ctrl-C handler can reap them all ([`kill_all`]). Each carries a mark in its
//! environment ([`MARK`]) that whatever it starts inherits: what left its process group (a
//! helper in a session of its own, a daemon) is found by it and goes with the child.
//!
//! A child's stdout is the history channel: every line that is a [`Record`] is appended to the
//! history, any other line goes to its log file in the run directory, with its stderr.

use crate::error::{HarnessError, Result};
use crate::history::{Event, History, Record, Role};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;

/// Every live child (its pid, which is also its process group), with the run that started it
/// (the key of that run's history, [`History::key`]) and its [`MARK`].
static LIVE: Mutex<BTreeMap<i32, (usize, String)>> = Mutex::new(BTreeMap::new());

/// Kills every live child process of this process (with SIGKILL, to its whole group), and puts
/// back every directory a fault made read-only ([`crate::storage::thaw_all`]).
/// Safe to call from a signal-handling task or a panic hook.
pub fn kill_all() {
    // A child started from now on is killed as soon as it is registered (see `spawn`).
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
    let pids: Vec<i32> = LIVE.lock().map(|l| l.keys().copied().collect()).unwrap_or_default();
    for &pid in &pids {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    // What they started that left their groups.
    let mine = marks_of(std::process::id());
    kill_marked(|m| m.starts_with(&mine));
    crate::storage::thaw_all();
    // A process sent SIGKILL is not gone yet: wait (boundedly) until each has died, so that
    // whoever started this one finds nothing of it running once it has exited.
    let gone = |pid: i32| std::fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |c| c.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline && !pids.iter().all(|p| gone(*p)) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Their memory cgroups: the tasks that would remove them will not run again.
    crate::memlimit::remove_own();
}

/// The environment variable every child carries, and what it starts inherits: `<harness
/// pid>/<n>`, one `n` per child.
pub const MARK: &str = "LOUDFAIL_PROCESS";

/// The number of the next child's mark.
static NEXT_MARK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The marks of every child of the harness `pid` start so.
pub(crate) fn marks_of(pid: u32) -> String {
    format!("{pid}/")
}

/// Kills (SIGKILL) every process whose environment carries a [`MARK`] that `matches`, until a
/// look at every process finds none (what one forks while it is being killed is found the next
/// time). Returns how many it killed. Processes of other users, and this one, are passed over.
pub(crate) fn kill_marked(matches: impl Fn(&str) -> bool) -> usize {
    signal_marked(matches, nix::sys::signal::Signal::SIGKILL, 20)
}

/// Sends `sig` to every process whose environment carries a [`MARK`] that `matches`, looking
/// again (at most `rounds` times) until a look finds none. Returns how many it signalled.
fn signal_marked(matches: impl Fn(&str) -> bool, sig: nix::sys::signal::Signal, rounds: usize) -> usize {
    let me = std::process::id().to_string();
    let key = format!("{MARK}=");
    let mut killed = 0;
    for _ in 0..rounds {
        let Ok(entries) = std::fs::read_dir("/proc") else { return killed };
        let found: Vec<i32> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let pid: i32 = name.parse().ok()?;
                if name == me {
                    return None;
                }
                let environ = std::fs::read(format!("/proc/{name}/environ")).ok()?;
                environ
                    .split(|b| *b == 0)
                    .filter_map(|v| std::str::from_utf8(v).ok()?.strip_prefix(key.as_str()))
                    .any(&matches)
                    .then_some(pid)
            })
            .collect();
        if found.is_empty() {
            break;
        }
        for pid in found {
            if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok() {
                killed += 1;
            }
        }
        if rounds == 1 {
            break;
        }
        // A process killed is gone from /proc once its parent (or init) has reaped it; until
        // then its environment reads empty.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    killed
}

/// Set once every child is being killed: the process is about to exit.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How many children are alive now.
pub fn live_count() -> usize {
    LIVE.lock().map(|l| l.len()).unwrap_or(0)
}

/// Memory of this process and every live child together, in bytes: the sum of their
/// proportional set sizes (PSS, as `smem` reports), so pages they share — the binary's text,
/// above all — count once, not once per process. Falls back to RSS where PSS is not available.
pub fn resident_memory() -> u64 {
    let (own, children) = resident_memory_of(|_| true);
    own + children
}

/// CPU time (user and system) this process has used, and its children that have ended.
pub fn cpu_times() -> (std::time::Duration, std::time::Duration) {
    use nix::sys::resource::{UsageWho, getrusage};
    let of = |who| {
        getrusage(who)
            .map(|u| {
                let t = |tv: nix::sys::time::TimeVal| {
                    std::time::Duration::from_micros((tv.tv_sec() as u64) * 1_000_000 + tv.tv_usec() as u64)
                };
                t(u.user_time()) + t(u.system_time())
            })
            .unwrap_or_default()
    };
    (of(UsageWho::RUSAGE_SELF), of(UsageWho::RUSAGE_CHILDREN))
}

/// [`resident_memory`] of this process, and of the live children one run started (`history`
/// is that run's): with several runs at once (`--jobs`), a run's figure holds its own processes
/// only, and its sampler reads no other run's.
pub fn run_memory_split(history: &History) -> (u64, u64) {
    let key = history.key();
    resident_memory_of(|run| run == key)
}

fn resident_memory_of(runs: impl Fn(usize) -> bool) -> (u64, u64) {
    let pss = |pid: &str| -> Option<u64> {
        let t = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        t.lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    let rss = |pid: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/statm"))
            .ok()
            .and_then(|t| t.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
            .map(|pages| pages * 4096)
            .unwrap_or(0)
    };
    let of = |p: &str| pss(p).unwrap_or_else(|| rss(p));
    let groups: BTreeSet<i32> = LIVE
        .lock()
        .map(|l| l.iter().filter(|(_, (run, _))| runs(*run)).map(|(pid, _)| *pid).collect())
        .unwrap_or_default();
    (of("self"), descendants(&groups).into_iter().map(|p| of(&p.to_string())).sum())
}

/// Every process of `groups` (live children, each its own group): what a program started (a
/// JVM, its Python workers) is charged to it.
fn descendants(groups: &BTreeSet<i32>) -> Vec<i32> {
    if groups.is_empty() {
        return Vec::new();
    }
    let group_of = |pid: &str| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
        stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
    };
    let Ok(entries) = std::fs::read_dir("/proc") else { return groups.iter().copied().collect() };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let pid: i32 = name.to_str()?.parse().ok()?;
            (groups.contains(&pid) || group_of(name.to_str()?).is_some_and(|g| groups.contains(&g))).then_some(pid)
        })
        .collect()
}

pub use nix::sys::signal::Signal;

/// Sends a signal to a child's process group, and to what the child started that left the
/// group (by its [`MARK`]): a driver stopped or killed is the whole of it.
pub fn signal(pid: u32, sig: nix::sys::signal::Signal) -> Result<()> {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), sig)
        .map_err(|e| HarnessError::Process { name: pid.to_string(), problem: format!("cannot send {sig}: {e}") })?;
    let mark = LIVE.lock().ok().and_then(|l| l.get(&(pid as i32)).map(|(_, m)| m.clone()));
    if let Some(mark) = mark {
        // One look: once the child has ended, what is left of it is killed (see `spawn`).
        signal_marked(|m| m == mark, sig, 1);
    }
    Ok(())
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Cluster or task.
    pub role: Role,
    /// Its name.
    pub name: String,
    /// Run number.
    pub run: u32,
    /// Attempt within the run.
    pub attempt: u32,
    /// Its pid.
    pub pid: u32,
    /// Exit code.
    pub code: Option<i32>,
    /// Killing signal.
    pub signal: Option<i32>,
    /// It ran out of memory.
    pub out_of_memory: bool,
    /// What it raised before it ended: the error of the last failure it reported (a task's).
    pub raised: Option<String>,
    /// When it exited (µs since the epoch): when waiting on it returned, before the harness
    /// cleaned up after it. What follows from the exit is stamped with this time, so the
    /// harness's own work (killing what the process left, emptying its cgroup) on a loaded
    /// machine is never counted against the pipeline's detection or restart.
    pub at: i64,
}

impl Exit {
    /// Why it ended: what it raised, or how its process ended.
    pub fn reason(&self) -> String {
        match &self.raised {
            Some(e) if !e.is_empty() => e.clone(),
            _ => format!("process {}", self.describe()),
        }
    }

    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit code 1`, `killed by SIGKILL`.
    pub fn describe(&self) -> String {
        describe_exit(self.code, self.signal)
    }
}

pub use crate::history::describe_exit;

/// A started child.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid (also its process group).
    pub pid: u32,
    /// Its stdin (the control channel of a cluster).
    pub stdin: Option<ChildStdin>,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Cluster or task.
    pub role: Role,
    /// Its name.
    pub name: &'a str,
    /// Run number.
    pub run: u32,
    /// Attempt within the run.
    pub attempt: u32,
    /// Program.
    pub program: &'a Path,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Where its stderr goes.
    pub log: &'a Path,
    /// Its memory limit, if any.
    pub memory: Option<crate::memlimit::MemoryLimit>,
    /// Its working directory (default: the harness's).
    pub workdir: Option<&'a Path>,
    /// True for loudfail's own processes, whose stdout carries history records. A program
    /// under test is a black box: what it prints goes to its log, never into the history.
    pub reports: bool,
}

/// A query that terminated with an error, as a child reported it (what a job that monitors its
/// queries reacts to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFailure {
    /// Run number of the reporting process.
    pub run: u32,
    /// The query.
    pub query: String,
    /// Its error.
    pub error: String,
}

/// Who hears what a child reports, besides the history: its supervisor.
#[derive(Debug, Clone)]
pub struct Listeners {
    /// Its exit, sent after every line it printed was read.
    pub exits: mpsc::UnboundedSender<Exit>,
    /// Every query failure it reports.
    pub failures: mpsc::UnboundedSender<QueryFailure>,
    /// The latest run any child reported a committed batch in.
    pub committed_run: Arc<std::sync::atomic::AtomicU32>,
}

/// Starts a child. Its exit is recorded in the history (after every line it printed) and sent
/// to its listeners, with what it raised; every query failure it reports is sent as it comes,
/// and every batch it commits marks its run.
#[allow(unsafe_code)]
pub fn spawn(spec: Spec<'_>, history: &History, listeners: Listeners) -> Result<Spawned> {
    let Listeners { exits, failures, committed_run } = listeners;
    let err = |problem: String| HarnessError::Process { name: spec.name.to_string(), problem };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.log)
        .map_err(|e| HarnessError::io(spec.log, e))?;
    let mut cmd = Command::new(spec.program);
    let log_copy = || log.try_clone().map_err(|e| HarnessError::io(spec.log, e));
    // What a loudfail process prints that is not a record (a pipeline's own println!) goes to
    // its log too.
    let mut chatter = if spec.reports { Some(log_copy()?) } else { None };
    let stdout = if spec.reports { Stdio::piped() } else { Stdio::from(log_copy()?) };
    if let Some(dir) = spec.workdir {
        cmd.current_dir(dir);
    }
    let mark =
        format!("{}{}", marks_of(std::process::id()), NEXT_MARK.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(MARK, &mark)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .process_group(0);
    let rlimit = spec.memory.as_ref().filter(|m| m.mechanism == crate::memlimit::Mechanism::RlimitAs).map(|m| m.bytes);
    let cgroup = match &spec.memory {
        Some(m) => m.cgroup(&format!("{}-run{}-attempt{}", spec.name, spec.run, spec.attempt))?,
        None => None,
    };
    // SAFETY: only async-signal-safe work between fork and exec: prctl, sigprocmask, setrlimit.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)?;
            // A harness that takes its signals on one thread blocks them everywhere else; the
            // child must not inherit that.
            nix::sys::signal::SigSet::all().thread_unblock().map_err(std::io::Error::from)?;
            if let Some(bytes) = rlimit {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_AS, bytes, bytes)
                    .map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    let mut child = crate::forks::spawning(|| cmd.spawn()).map_err(|e| {
        if let Some(cg) = &cgroup {
            crate::memlimit::remove(cg);
        }
        err(format!("cannot start {}: {e}", spec.program.display()))
    })?;
    let pid = child.id().ok_or_else(|| err("started and vanished".into()))?;
    if let Some(cg) = &cgroup {
        // Before the process has done anything worth measuring: it is still loading.
        crate::memlimit::attach(cg, pid)?;
    }
    if let Some(m) = spec.memory.as_ref().filter(|m| m.is_limited()) {
        history.record(Event::MemoryLimit {
            name: spec.name.to_string(),
            run: spec.run,
            bytes: m.bytes,
            mechanism: m.mechanism,
        });
    }
    LIVE.lock().map_err(|_| err("process registry poisoned".into()))?.insert(pid as i32, (history.key(), mark.clone()));
    crate::reaper::watch_group(pid);
    if STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
        // Started while everything is being killed (Ctrl-C): it goes too.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    }
    history.record(Event::ProcessStarted { role: spec.role, name: spec.name.to_string(), run: spec.run, pid });

    let stdout = child.stdout.take();
    let stdin = child.stdin.take();
    let h = history.clone();
    let run = spec.run;
    let reader = tokio::spawn(async move {
        let mut raised = None;
        let Some(stdout) = stdout else { return raised };
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // A line that is not a record is the child's own chatter; it belongs in its log,
            // not in the history.
            match serde_json::from_str::<Record>(&line) {
                Ok(rec) => {
                    match &rec.event {
                        Event::QueryTerminated { query, error: Some(error), .. } => {
                            let _ = failures.send(QueryFailure { run, query: query.clone(), error: error.clone() });
                        }
                        Event::TaskFailed { error, .. } => raised = Some(error.clone()),
                        Event::BatchCommitted { .. } => {
                            committed_run.fetch_max(run, std::sync::atomic::Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    h.append(rec);
                }
                Err(_) => {
                    if let Some(log) = chatter.as_mut() {
                        use std::io::Write;
                        let _ = writeln!(log, "{line}");
                    }
                }
            }
        }
        raised
    });
    let (role, name, attempt) = (spec.role, spec.name.to_string(), spec.attempt);
    let h = history.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        let at = crate::time::now_us();
        // What the process started and left behind (a JVM, its Python workers) goes with it:
        // its process group, and what left the group (a helper in a session of its own) by its
        // mark.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        let _ = tokio::task::spawn_blocking(move || kill_marked(|m| m == mark)).await;
        crate::reaper::reaped_group(pid);
        let raised = reader.await.ok().flatten();
        if let Ok(mut l) = LIVE.lock() {
            l.remove(&(pid as i32));
        }
        use std::os::unix::process::ExitStatusExt;
        let (code, signal) = match status {
            Ok(s) => (s.code(), s.signal()),
            Err(_) => (None, None),
        };
        let memory_peak = cgroup.as_deref().and_then(crate::memlimit::peak_usage);
        let oom = match &cgroup {
            Some(cg) => {
                let killed = crate::memlimit::oom_kills(cg) > 0;
                if !crate::memlimit::clear(cg, std::time::Duration::from_secs(10)).await {
                    eprintln!(
                        "loudfail: warning: memory cgroup {} still holds processes 10 s after {name} exited; \
                         it is left behind (rmdir it once they are gone)",
                        cg.display()
                    );
                }
                killed.then_some(crate::memlimit::Mechanism::Cgroup)
            }
            // Under RLIMIT_AS an allocation that fails aborts a Rust program.
            None if rlimit.is_some() && signal == Some(6) => Some(crate::memlimit::Mechanism::RlimitAs),
            None => None,
        };
        if let Some(mechanism) = oom {
            h.append(Record { at, event: Event::OutOfMemory { name: name.clone(), run, mechanism } });
        }
        h.append(Record {
            at,
            event: Event::ProcessExited { role, name: name.clone(), run, pid, code, signal, memory_peak },
        });
        let _ =
            exits.send(Exit { role, name, run, attempt, pid, code, signal, out_of_memory: oom.is_some(), raised, at });
    });
    Ok(Spawned { pid, stdin })
}
