//! Memory limits for cluster processes, so a driver that outgrows its memory is really killed.
//!
//! Where this process's memory cgroup lets us create a child, each limited process gets its own
//! cgroup with a limit; past it the kernel OOM-kills with SIGKILL and counts the kill. Both
//! hierarchies are spoken: cgroup v1 (`memory.limit_in_bytes`, `memory.oom_control`, this
//! machine's) and v2 (`memory.max`, `memory.events`, most CI hosts'); a cgroup's files say which
//! it is. Elsewhere the process runs under `RLIMIT_AS`, where an allocation past the limit fails
//! and a Rust program aborts (SIGABRT). Which mechanism a run used is recorded in its history;
//! every cgroup is removed when its process is gone.

use crate::error::{HarnessError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The limit of [`MemoryLimit::watch`]: none.
pub const UNLIMITED: u64 = u64::MAX;

/// Set to `rlimit-as` to enforce memory limits with `RLIMIT_AS` even where a cgroup would do.
pub const MECHANISM_ENV: &str = "LOUDFAIL_MEMORY_MECHANISM";

/// How a limit is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// A memory cgroup (v1): the kernel OOM-kills with SIGKILL.
    Cgroup,
    /// `RLIMIT_AS`: allocation fails and the process aborts with SIGABRT.
    RlimitAs,
}

/// A memory limit and the way this machine enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// How.
    pub mechanism: Mechanism,
    parent: Option<PathBuf>,
}

impl MemoryLimit {
    /// A limit of `bytes`, enforced by the best mechanism this machine offers — or by
    /// `RLIMIT_AS` when `LOUDFAIL_MEMORY_MECHANISM=rlimit-as` asks for it (to see how a pipeline
    /// fares where no cgroup can be made).
    pub fn new(bytes: u64) -> MemoryLimit {
        if std::env::var(MECHANISM_ENV).is_ok_and(|v| v == "rlimit-as") {
            return MemoryLimit { bytes, mechanism: Mechanism::RlimitAs, parent: None };
        }
        match cgroup_parent() {
            Some(parent) => MemoryLimit { bytes, mechanism: Mechanism::Cgroup, parent: Some(parent) },
            None => MemoryLimit { bytes, mechanism: Mechanism::RlimitAs, parent: None },
        }
    }

    /// No limit, in a cgroup of its own where the machine offers one (None elsewhere): what
    /// the process is charged is measured, and a fault can lower the limit later ([`squeeze`]).
    pub fn watch() -> Option<MemoryLimit> {
        let parent = cgroup_parent()?;
        Some(MemoryLimit { bytes: UNLIMITED, mechanism: Mechanism::Cgroup, parent: Some(parent) })
    }

    /// Whether it limits anything.
    pub fn is_limited(&self) -> bool {
        self.bytes != UNLIMITED
    }

    /// Creates the cgroup for one process (None under `RLIMIT_AS`).
    pub fn cgroup(&self, name: &str) -> Result<Option<PathBuf>> {
        let Some(parent) = &self.parent else { return Ok(None) };
        let dir = parent.join(own_name(name));
        if dir.exists() {
            remove(&dir);
        }
        std::fs::create_dir(&dir).map_err(|e| HarnessError::io(&dir, e))?;
        if !self.is_limited() {
            return Ok(Some(dir));
        }
        let version = Version::of(parent);
        let limit = dir.join(version.limit_file());
        std::fs::write(&limit, self.bytes.to_string()).map_err(|e| HarnessError::io(&limit, e))?;
        // Without swap accounting the limit would let the process swap instead of dying.
        match version {
            Version::V1 => {
                let memsw = dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    let _ = std::fs::write(&memsw, self.bytes.to_string());
                }
            }
            Version::V2 => {
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            }
        }
        Ok(Some(dir))
    }
}

/// Which cgroup hierarchy a memory cgroup belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1: a `memory` hierarchy of its own.
    V1,
    /// cgroup v2: the unified hierarchy.
    V2,
}

impl Version {
    /// The hierarchy of the cgroup at `dir`, from the files it holds (v2's `cgroup.controllers`
    /// is in every cgroup of the unified hierarchy, its root included).
    pub fn of(dir: &Path) -> Version {
        if dir.join("cgroup.controllers").exists() { Version::V2 } else { Version::V1 }
    }

    /// The file that holds the limit.
    fn limit_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.limit_in_bytes",
            Version::V2 => "memory.max",
        }
    }
}

/// One `key value` line of a flat-keyed cgroup file (`memory.stat`, `memory.events`).
fn keyed(cgroup: &Path, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(cgroup.join(file)).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A number a cgroup file holds alone.
fn number(cgroup: &Path, file: &str) -> Option<u64> {
    std::fs::read_to_string(cgroup.join(file)).ok()?.trim().parse().ok()
}

/// Where the cgroup file systems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The memory cgroup directory of process `pid` (`self` for this one), from
/// `/proc/<pid>/cgroup`.
fn memory_cgroup(pid: &str) -> Option<PathBuf> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    memory_cgroup_in(&own, Path::new(CGROUP_ROOT))
}

/// The memory cgroup a `/proc/<pid>/cgroup` text names, under the cgroup mount `root`: the v1
/// `memory` hierarchy's line (`4:memory:/a/b` → `root/memory/a/b`), or else, on a unified
/// hierarchy, its only line (`0::/a/b` → `root/a/b`).
fn memory_cgroup_in(text: &str, root: &Path) -> Option<PathBuf> {
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((controllers, path.trim_start_matches('/')))
        })
        .collect();
    if let Some((_, rel)) = lines.iter().find(|(c, _)| c.split(',').any(|c| c == "memory")) {
        return Some(root.join("memory").join(rel));
    }
    let (_, rel) = lines.iter().find(|(c, _)| c.is_empty())?;
    root.join("cgroup.controllers").exists().then(|| root.join(rel))
}

/// This process's memory cgroup, if a child with a memory limit can be created in it (on v2,
/// when the memory controller is delegated to its children: `cgroup.subtree_control`).
fn cgroup_parent() -> Option<PathBuf> {
    usable_parent(memory_cgroup("self")?)
}

/// A cgroup name no other of this process has, `loudfail-<pid>-<n>-<what>`: runs in parallel
/// (`--jobs`) name their clusters alike, and probe for a usable parent at the same moment. The
/// pid first, so that [`sweep`] finds what a process killed with SIGKILL left.
fn own_name(what: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("loudfail-{}-{n}-{what}", std::process::id())
}

/// `dir`, if a child with a memory limit can be created in it.
fn usable_parent(dir: PathBuf) -> Option<PathBuf> {
    if Version::of(&dir) == Version::V2 {
        // Children get a memory controller only where it is delegated to them. Where this
        // cgroup may hold processes and delegate (a container's root), delegate it; elsewhere
        // the write is refused and RLIMIT_AS it is.
        let control = dir.join("cgroup.subtree_control");
        let delegated = std::fs::read_to_string(&control).is_ok_and(|t| t.split_whitespace().any(|c| c == "memory"));
        if !delegated {
            let _ = std::fs::write(&control, "+memory");
        }
    }
    let probe = dir.join(own_name("probe"));
    std::fs::create_dir(&probe).ok()?;
    let usable = probe.join(Version::of(&dir).limit_file()).exists();
    let _ = std::fs::remove_dir(&probe);
    usable.then_some(dir)
}

/// The cgroups loudfail processes made beside this one (in this process's memory cgroup), each
/// with the pid of the process that made it.
pub fn loudfail_cgroups() -> Vec<(u32, PathBuf)> {
    let Some(dir) = memory_cgroup("self") else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let pid = name.strip_prefix("loudfail-")?.split('-').next()?.parse().ok()?;
            Some((pid, e.path()))
        })
        .collect()
}

/// Removes the cgroups a loudfail process that is gone left behind (killed with SIGKILL, it
/// could not remove them), killing what is still in them. Returns how many it removed.
pub fn sweep() -> usize {
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    loudfail_cgroups().into_iter().filter(|(pid, dir)| !alive(*pid) && clear_blocking(dir)).count()
}

/// Removes every cgroup this process made, killing what is still in them: the way out of a
/// process that is about to exit (Ctrl-C).
pub fn remove_own() {
    remove_of(std::process::id());
}

/// Removes every cgroup the loudfail process `pid` made beside this one, killing what is still
/// in them (its reaper's work, once it has died).
pub fn remove_of(pid: u32) {
    for (_, dir) in loudfail_cgroups().into_iter().filter(|(p, _)| *p == pid) {
        clear_blocking(&dir);
    }
}

/// [`clear`] for code that cannot wait asynchronously; at most 2 s.
fn clear_blocking(cgroup: &Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !kill_and_remove(cgroup) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

/// One step of emptying a cgroup: SIGKILL to every process it holds, then an attempt to remove
/// it. Returns whether it is gone.
fn kill_and_remove(cgroup: &Path) -> bool {
    for pid in members(cgroup) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    std::fs::remove_dir(cgroup).is_ok() || !cgroup.exists()
}

/// Moves a process into a cgroup.
pub fn attach(cgroup: &Path, pid: u32) -> Result<()> {
    let procs = cgroup.join("cgroup.procs");
    std::fs::write(&procs, pid.to_string()).map_err(|e| HarnessError::io(&procs, e))
}

/// How many processes the kernel OOM-killed in a cgroup.
pub fn oom_kills(cgroup: &Path) -> u64 {
    match Version::of(cgroup) {
        Version::V1 => keyed(cgroup, "memory.oom_control", "oom_kill"),
        Version::V2 => keyed(cgroup, "memory.events", "oom_kill"),
    }
    .unwrap_or(0)
}

/// The most memory a cgroup was ever charged, in bytes (on v2, where the kernel keeps
/// `memory.peak`: 5.19 and later).
pub fn peak_usage(cgroup: &Path) -> Option<u64> {
    match Version::of(cgroup) {
        Version::V1 => number(cgroup, "memory.max_usage_in_bytes"),
        Version::V2 => number(cgroup, "memory.peak"),
    }
}

/// The memory cgroup (v1) a process is in, when it is one this process made.
pub fn cgroup_of(pid: u32) -> Option<PathBuf> {
    let dir = memory_cgroup(&pid.to_string())?;
    let mine = format!("loudfail-{}-", std::process::id());
    dir.file_name()?.to_str()?.starts_with(&mine).then_some(dir)
}

/// What a cgroup is charged now, in bytes: `(everything, anonymous memory)`. The rest is page
/// cache, which the kernel reclaims before it kills.
pub fn charge(cgroup: &Path) -> Option<(u64, u64)> {
    match Version::of(cgroup) {
        Version::V1 => Some((number(cgroup, "memory.usage_in_bytes")?, keyed(cgroup, "memory.stat", "total_rss")?)),
        Version::V2 => Some((number(cgroup, "memory.current")?, keyed(cgroup, "memory.stat", "anon")?)),
    }
}

/// Lowers a cgroup's limit to just above what its processes cannot do without, so that their
/// own next allocations get them killed by the kernel. On cgroup v1 a limit is accepted once the
/// kernel has reclaimed the charge below it (page cache, pages of mapped files not in use), and
/// refused with EBUSY when it cannot — never a kill. So the lowest accepted limit is searched
/// for between the processes' anonymous memory and their charge (each accepted step reclaims),
/// and `margin` is added to it. On v2 a limit below the charge is always accepted, and the
/// kernel reclaims towards it (killing if it cannot): the limit is set to the anonymous memory
/// and `margin`, which the page cache is reclaimed to meet. Returns the limit set.
pub fn squeeze(cgroup: &Path, margin: u64) -> Result<u64> {
    if Version::of(cgroup) == Version::V2 {
        let (_, anon) = charge(cgroup).ok_or_else(|| HarnessError::Check {
            what: cgroup.display().to_string(),
            problem: "cannot read what the cgroup is charged".into(),
        })?;
        let limit = anon + 2 * margin;
        let file = cgroup.join("memory.max");
        let _ = std::fs::write(cgroup.join("memory.swap.max"), "0");
        std::fs::write(&file, limit.to_string()).map_err(|e| HarnessError::io(&file, e))?;
        return Ok(limit);
    }
    let limit_file = cgroup.join("memory.limit_in_bytes");
    let set = |bytes: u64| -> std::io::Result<()> {
        // Swap accounting, where there is any, follows; it must stay at least the limit, so it
        // goes first when the limit rises and after it when the limit falls.
        let memsw = cgroup.join("memory.memsw.limit_in_bytes");
        let swap = memsw.exists();
        if swap {
            let _ = std::fs::write(&memsw, bytes.to_string());
        }
        std::fs::write(&limit_file, bytes.to_string())?;
        if swap {
            let _ = std::fs::write(&memsw, bytes.to_string());
        }
        Ok(())
    };
    let (usage, rss) = charge(cgroup).ok_or_else(|| HarnessError::Check {
        what: cgroup.display().to_string(),
        problem: "cannot read what the cgroup is charged".into(),
    })?;
    let page = 4096;
    let (mut lo, mut hi) = (rss, usage.max(rss) + margin);
    set(hi).map_err(|e| HarnessError::io(&limit_file, e))?;
    while hi - lo > 256 * 1024 {
        let mid = (lo + (hi - lo) / 2) / page * page;
        match set(mid) {
            Ok(()) => hi = mid,
            Err(_) => lo = mid,
        }
    }
    let limit = hi + margin;
    set(limit).map_err(|e| HarnessError::io(&limit_file, e))?;
    Ok(limit)
}

/// The processes a cgroup holds now.
pub fn members(cgroup: &Path) -> Vec<i32> {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Kills what is left in a cgroup whose process has exited (what it started and left behind:
/// a JVM, its Python workers) and removes the cgroup once the kernel has emptied it, waiting
/// at most `within`. Returns whether it is gone.
pub async fn clear(cgroup: &Path, within: std::time::Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while !kill_and_remove(cgroup) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        // A killed process leaves its cgroup when it is reaped, and a large one (a JVM) takes
        // a while to be torn down.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}

/// Removes a cgroup (its processes must be gone).
pub fn remove(cgroup: &Path) {
    for _ in 0..50 {
        if std::fs::remove_dir(cgroup).is_ok() || !cgroup.exists() {
            return;
        }
        // The kernel empties a cgroup shortly after its last process is reaped.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Parses `512`, `512M`, `1G` (MiB when no unit).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'G' | 'g') => (&s[..i], 1u64 << 30),
        (i, 'M' | 'm') => (&s[..i], 1 << 20),
        (i, 'K' | 'k') => (&s[..i], 1 << 10),
        _ => (s, 1 << 20),
    };
    num.trim().parse::<u64>().ok().filter(|n| *n > 0).map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory laid out like a cgroup: `files` written into it.
    /// Removed when dropped.
    fn fake(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in files {
            std::fs::write(dir.path().join(file), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_process_memory_cgroup_is_found_in_either_hierarchy() {
        let fake_v2 = fake(&[("cgroup.controllers", "cpu memory pids")]);
        let v2 = fake_v2.path();
        let hybrid = "12:pids:/user.slice\n4:memory:/process_api/abc\n0::/user.slice/x.scope\n";
        assert_eq!(memory_cgroup_in(hybrid, v2), Some(v2.join("memory/process_api/abc")), "v1's memory line first");
        let unified = "0::/system.slice/runner.service\n";
        assert_eq!(memory_cgroup_in(unified, v2), Some(v2.join("system.slice/runner.service")));
        let v1_only = fake(&[]);
        assert_eq!(memory_cgroup_in(unified, v1_only.path()), None, "no unified hierarchy mounted there");
    }

    #[test]
    fn a_v2_cgroup_is_limited_without_swap_and_read_through_its_own_files() {
        let parent = fake(&[("cgroup.controllers", "memory"), ("cgroup.subtree_control", "memory")]);
        let limit = MemoryLimit { bytes: 256 << 20, mechanism: Mechanism::Cgroup, parent: Some(parent.path().into()) };
        let cg = limit.cgroup("driver-run1-attempt1").unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(cg.join("memory.max")).unwrap(), (256u64 << 20).to_string());
        assert_eq!(std::fs::read_to_string(cg.join("memory.swap.max")).unwrap(), "0");
        // What the kernel writes in a v2 cgroup.
        for (file, text) in [
            ("cgroup.controllers", "memory"),
            ("memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n"),
            ("memory.current", "104857600\n"),
            ("memory.peak", "209715200\n"),
            ("memory.stat", "anon 73400320\nfile 31457280\nanon_thp 0\n"),
            ("cgroup.procs", "101\n102\n"),
        ] {
            std::fs::write(cg.join(file), text).unwrap();
        }
        assert_eq!(Version::of(&cg), Version::V2);
        assert_eq!(oom_kills(&cg), 1);
        assert_eq!(peak_usage(&cg), Some(200 << 20));
        assert_eq!(charge(&cg), Some((100 << 20, 70 << 20)));
        assert_eq!(members(&cg), [101, 102]);
        // Squeezed to its anonymous memory and a margin: the page cache is reclaimed to meet it.
        assert_eq!(squeeze(&cg, 1 << 20).unwrap(), (70 << 20) + (2 << 20));
        assert_eq!(std::fs::read_to_string(cg.join("memory.max")).unwrap(), ((70u64 << 20) + (2 << 20)).to_string());
    }

    #[test]
    fn a_v1_cgroup_is_read_through_its_own_files() {
        let fake_v1 = fake(&[
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            ("memory.max_usage_in_bytes", "4096\n"),
            ("memory.usage_in_bytes", "3072\n"),
            ("memory.stat", "cache 1024\nrss 2048\nrss_huge 0\ntotal_rss_huge 0\ntotal_rss 2048\n"),
        ]);
        let cg = fake_v1.path();
        assert_eq!(Version::of(cg), Version::V1);
        assert_eq!(oom_kills(cg), 2);
        assert_eq!(peak_usage(cg), Some(4096));
        assert_eq!(charge(cg), Some((3072, 2048)));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Some(512 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("lots"), None);
    }
}

/// The argument that makes loudfail's binary a [`Balloon`].
const BALLOON_ARG: &str = "__balloon";

/// Memory charged to another process's cgroup: a process of loudfail's own (`BINARY __balloon
/// CGROUP BYTES`) joins the cgroup, touches `BYTES` of memory and holds them until it is
/// dropped. Under a squeezed limit it is what outgrows the cgroup, as a query's growing state or
/// a neighbour's `collect()` would on a real driver; the kernel's OOM killer then kills the
/// largest process there (a JVM, a Python driver), never the balloon (its `oom_score_adj` is
/// -1000). It exits when dropped, and by itself should the harness die (its stdin closes).
#[derive(Debug)]
pub struct Balloon {
    child: std::process::Child,
}

impl Balloon {
    /// Starts a balloon of `bytes` in `cgroup`; returns once it has joined the cgroup (its
    /// memory is being touched, or the kernel is already killing for it).
    pub fn inflate(bin: &Path, cgroup: &Path, bytes: u64, run_dir: &Path) -> Result<Balloon> {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(bin);
        cmd.arg(BALLOON_ARG)
            .arg(cgroup)
            .arg(bytes.to_string())
            .arg("--run-dir")
            .arg(run_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        let mut child = crate::forks::spawning(|| cmd.spawn()).map_err(|e| HarnessError::io(bin, e))?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let balloon = Balloon { child };
        match line.trim() {
            "joined" => Ok(balloon),
            other => Err(HarnessError::Check {
                what: cgroup.display().to_string(),
                problem: format!("the memory balloon could not join it: {other:?}"),
            }),
        }
    }
}

impl Drop for Balloon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves as a [`Balloon`] when the process was started as one; None otherwise.
pub fn serve_if_balloon() -> Option<i32> {
    use std::io::{Read, Write};
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(BALLOON_ARG) {
        return None;
    }
    let (Some(cgroup), Some(bytes)) = (args.next(), args.next().and_then(|b| b.parse::<usize>().ok())) else {
        eprintln!("usage: {BALLOON_ARG} CGROUP BYTES [--run-dir DIR]");
        return Some(2);
    };
    // Never the OOM killer's choice: the processes it is charged beside are (needs
    // CAP_SYS_RESOURCE; without it the balloon, small beside a driver, is chosen last anyway).
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
    let mut out = std::io::stdout();
    if let Err(e) = attach(Path::new(&cgroup), std::process::id()) {
        let _ = writeln!(out, "{e}");
        return Some(1);
    }
    let _ = writeln!(out, "joined");
    let _ = out.flush();
    let page = 4096;
    let mut held: Vec<Vec<u8>> = Vec::new();
    let chunk = 1 << 20;
    for _ in 0..bytes.div_ceil(chunk) {
        let mut block = vec![0u8; chunk];
        // Touch every page so it is charged (a zeroed allocation maps no page until written).
        for i in (0..chunk).step_by(page) {
            block[i] = 1;
        }
        held.push(std::hint::black_box(block));
    }
    // Held until the harness drops it, or dies: stdin closes either way.
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    drop(held);
    Some(0)
}
