//! Memory limits for cluster processes, so a driver that outgrows its memory is really killed.
//!
//! Where this process's memory cgroup (v1) lets us create a child, each limited process gets its
//! own cgroup with `memory.limit_in_bytes`; past it the kernel OOM-kills with SIGKILL and
//! `memory.oom_control` counts the kill. Elsewhere the process runs under `RLIMIT_AS`, where an
//! allocation past the limit fails and a Rust program aborts (SIGABRT). Which mechanism a run
//! used is recorded in its history; every cgroup is removed when its process is gone.

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
        let dir = parent.join(format!("loudfail-{}-{name}", std::process::id()));
        if dir.exists() {
            remove(&dir);
        }
        std::fs::create_dir(&dir).map_err(|e| HarnessError::io(&dir, e))?;
        if !self.is_limited() {
            return Ok(Some(dir));
        }
        let limit = dir.join("memory.limit_in_bytes");
        std::fs::write(&limit, self.bytes.to_string()).map_err(|e| HarnessError::io(&limit, e))?;
        // Without swap accounting the limit would let the process swap instead of dying.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            let _ = std::fs::write(&memsw, self.bytes.to_string());
        }
        Ok(Some(dir))
    }
}

/// The memory cgroup (v1) directory of process `pid` (`self` for this one), from
/// `/proc/<pid>/cgroup`.
fn memory_cgroup(pid: &str) -> Option<PathBuf> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let rel = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == "memory").then(|| path.trim_start_matches('/').to_string())
    })?;
    Some(Path::new("/sys/fs/cgroup/memory").join(rel))
}

/// This process's memory cgroup, if a child can be created in it.
fn cgroup_parent() -> Option<PathBuf> {
    let dir = memory_cgroup("self")?;
    let probe = dir.join(format!("loudfail-probe-{}", std::process::id()));
    std::fs::create_dir(&probe).ok()?;
    let usable = probe.join("memory.limit_in_bytes").exists();
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
    let me = std::process::id();
    for (_, dir) in loudfail_cgroups().into_iter().filter(|(pid, _)| *pid == me) {
        clear_blocking(&dir);
    }
}

/// [`clear`] for code that cannot wait asynchronously; at most 2 s.
fn clear_blocking(cgroup: &Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        for pid in members(cgroup) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        if std::fs::remove_dir(cgroup).is_ok() || !cgroup.exists() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Moves a process into a cgroup.
pub fn attach(cgroup: &Path, pid: u32) -> Result<()> {
    let procs = cgroup.join("cgroup.procs");
    std::fs::write(&procs, pid.to_string()).map_err(|e| HarnessError::io(&procs, e))
}

/// How many processes the kernel OOM-killed in a cgroup.
pub fn oom_kills(cgroup: &Path) -> u64 {
    std::fs::read_to_string(cgroup.join("memory.oom_control"))
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok())))
        .unwrap_or(0)
}

/// The most memory a cgroup was ever charged, in bytes.
pub fn peak_usage(cgroup: &Path) -> Option<u64> {
    std::fs::read_to_string(cgroup.join("memory.max_usage_in_bytes")).ok()?.trim().parse().ok()
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
    let usage = std::fs::read_to_string(cgroup.join("memory.usage_in_bytes")).ok()?.trim().parse().ok()?;
    let stat = std::fs::read_to_string(cgroup.join("memory.stat")).ok()?;
    let rss = stat.lines().find_map(|l| l.strip_prefix("total_rss ").and_then(|n| n.trim().parse().ok()))?;
    Some((usage, rss))
}

/// Lowers a cgroup's limit to just above what its processes cannot do without, so that their
/// own next allocations get them killed by the kernel. On cgroup v1 a limit is accepted once the
/// kernel has reclaimed the charge below it (page cache, pages of mapped files not in use), and
/// refused with EBUSY when it cannot — never a kill. So the lowest accepted limit is searched
/// for between the processes' anonymous memory and their charge (each accepted step reclaims),
/// and `margin` is added to it. Returns the limit set.
pub fn squeeze(cgroup: &Path, margin: u64) -> Result<u64> {
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
    loop {
        for pid in members(cgroup) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        if std::fs::remove_dir(cgroup).is_ok() || !cgroup.exists() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        // A killed process leaves its cgroup when it is reaped, and a large one (a JVM) takes
        // a while to be torn down.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
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

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Some(512 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("lots"), None);
    }
}
