//! Storage made read-only for a while (the `storage-read-only` fault), and put back on every way
//! out of the run.
//!
//! Permission bits do not stop root, and CI runs as root. So the mechanism is the immutable
//! attribute of the directory's inode (`FS_IMMUTABLE_FL`, what `chattr +i` sets): nobody, root
//! included, may create, rename or remove an entry in an immutable directory. A Delta commit into
//! `_delta_log`, or a data file written into the table, then fails with EPERM — what a writer sees
//! when a storage account's write permission is pulled. Where the attribute cannot be set (a
//! filesystem without it, no `CAP_LINUX_IMMUTABLE`) and the process is not root, the directory's
//! write permission bits are removed instead; as root without the attribute, there is no honest
//! way to make storage read-only, and [`freeze`] says so.
//!
//! Every frozen directory is registered until it is thawed: [`thaw_all`] (called on Ctrl-C and
//! on panics, through [`crate::process::kill_all`]) puts each back, since an immutable directory
//! left behind could not even be deleted by its owner.

use crate::error::{HarnessError, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use crate::frozen::Mechanism;
use crate::frozen::{set_immutable, undo};

static FROZEN: Mutex<Vec<(PathBuf, Mechanism)>> = Mutex::new(Vec::new());

/// Makes `dir` read-only (no entry may be created, renamed or removed in it) until [`thaw`].
/// Returns how.
pub fn freeze(dir: &Path) -> Result<Mechanism> {
    let mechanism = match set_immutable(dir, true) {
        Ok(()) => Mechanism::Immutable,
        Err(_) if !nix::unistd::geteuid().is_root() => {
            let meta = std::fs::metadata(dir).map_err(|e| HarnessError::io(dir, e))?;
            let mode = meta.permissions().mode();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & !0o222))
                .map_err(|e| HarnessError::io(dir, e))?;
            Mechanism::Permissions { mode }
        }
        Err(e) => {
            return Err(HarnessError::unsupported(
                format!(
                    "cannot make {} read-only: the immutable attribute cannot be set here ({e}), and this process is root, which permission bits do not stop",
                    dir.display()
                ),
                "run on a filesystem that supports `chattr +i` (ext4, xfs, btrfs) with CAP_LINUX_IMMUTABLE, or as a user that is not root",
            ));
        }
    };
    FROZEN.lock().expect("frozen").push((dir.to_path_buf(), mechanism));
    crate::reaper::watch_frozen(dir, mechanism);
    Ok(mechanism)
}

/// Makes `dir` writable again, as it was before [`freeze`]. A directory not frozen is left alone.
pub fn thaw(dir: &Path) -> Result<()> {
    let entry = {
        let mut frozen = FROZEN.lock().expect("frozen");
        frozen.iter().position(|(d, _)| d == dir).map(|i| frozen.remove(i))
    };
    match entry {
        Some((dir, mechanism)) => {
            undo(&dir, mechanism).map_err(|e| HarnessError::io(&dir, e))?;
            crate::reaper::thawed(&dir);
            Ok(())
        }
        None => Ok(()),
    }
}

/// Thaws every frozen directory (best effort: safe to call from a signal thread or a panic hook).
pub fn thaw_all() {
    let all: Vec<(PathBuf, Mechanism)> = FROZEN.lock().map(|mut f| f.drain(..).collect()).unwrap_or_default();
    for (dir, mechanism) in all {
        if undo(&dir, mechanism).is_ok() {
            crate::reaper::thawed(&dir);
        }
    }
}

/// Puts back every directory frozen inside any of `roots` (a run's directory and its tables'
/// locations): every way out of a run, an ERROR included, leaves its storage writable, whatever
/// the faults' heals managed to do.
pub fn thaw_within(roots: &[PathBuf]) {
    let mine: Vec<(PathBuf, Mechanism)> = FROZEN
        .lock()
        .map(|mut f| {
            let (mine, rest): (Vec<_>, Vec<_>) = f.drain(..).partition(|(d, _)| roots.iter().any(|r| d.starts_with(r)));
            *f = rest;
            mine
        })
        .unwrap_or_default();
    for (dir, mechanism) in mine {
        if undo(&dir, mechanism).is_ok() {
            crate::reaper::thawed(&dir);
        }
    }
}

/// How many directories are frozen now.
pub fn frozen_count() -> usize {
    FROZEN.lock().map(|f| f.len()).unwrap_or(0)
}

/// Waits for the next Delta commit to land in the table at `location`: a new `<version>.json`
/// renamed into its `_delta_log` (how delta-rs, Spark and every other writer commit). Returns
/// its version, microseconds after the rename (the kernel says it through inotify, on a thread
/// of its own), or an error after `timeout`. A fault uses it to strike between a commit and
/// whatever a writer does next.
pub async fn await_commit(location: &Path, timeout: std::time::Duration) -> Result<i64> {
    let name = await_entry(&location.join("_delta_log"), timeout, |name| {
        name.strip_suffix(".json").is_some_and(|v| v.parse::<i64>().is_ok())
    })
    .await?;
    Ok(name.trim_end_matches(".json").parse().unwrap_or(-1))
}

/// Waits for the next data file a writer of the table at `location` starts to write (a Parquet
/// file appearing in the table's directory: the writer has read its snapshot and not committed
/// yet), other than one this process writes itself (a workload's own writer). Returns the
/// file's name, as the table's log will name it.
pub async fn await_data_file(location: &Path, timeout: std::time::Duration) -> Result<String> {
    await_data_file_then(location, timeout, || {}).await
}

/// [`await_data_file`], calling `then` on the watching thread the moment the file appears
/// (before anything returns to the runtime): what a fault does there happens within
/// microseconds of the write.
pub async fn await_data_file_then(
    location: &Path,
    timeout: std::time::Duration,
    then: impl FnOnce() + Send + 'static,
) -> Result<String> {
    let mut then = Some(then);
    let dir = location.to_path_buf();
    let name = await_entry(location, timeout, move |name| {
        // A data file this process is writing is a writer of the harness's own (a workload's
        // job appending to the table), not the one awaited.
        let hit = name.contains(".parquet") && !open_here(&dir.join(name));
        if hit && let Some(f) = then.take() {
            f();
        }
        hit
    })
    .await?;
    // object_store writes `<name>#<n>` and renames it into place.
    Ok(name.split('#').next().unwrap_or(&name).to_string())
}

/// Whether this process has `path` open.
fn open_here(path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// Waits for an entry whose name `wanted` accepts to be created in, or renamed into, `dir`.
async fn await_entry(
    dir: &Path,
    timeout: std::time::Duration,
    mut wanted: impl FnMut(&str) -> bool + Send + 'static,
) -> Result<String> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let log = dir.to_path_buf();
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(|e| {
        HarnessError::unsupported(
            format!("cannot watch {}: {e}", log.display()),
            "raise fs.inotify.max_user_instances (sysctl), or run fewer runs at once",
        )
    })?;
    inotify
        .add_watch(&log, AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE)
        .map_err(|e| HarnessError::io(&log, std::io::Error::from(e)))?;
    let what = format!("a new entry in {}", log.display());
    tokio::task::spawn_blocking(move || {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(HarnessError::Timeout { what, waited_ms: timeout.as_millis() as u64 });
            }
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(HarnessError::io(&log, std::io::Error::from(e))),
            }
            let events = match inotify.read_events() {
                Ok(events) => events,
                Err(nix::errno::Errno::EAGAIN) => continue,
                Err(e) => return Err(HarnessError::io(&log, std::io::Error::from(e))),
            };
            for e in events {
                let Some(name) = e.name.as_ref().and_then(|n| n.to_str()) else { continue };
                if wanted(name) {
                    return Ok(name.to_string());
                }
            }
        }
    })
    .await
    .map_err(|e| HarnessError::Process { name: "storage watcher".into(), problem: e.to_string() })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_file_this_process_writes_is_told_from_another_writers() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let (mine, theirs) = (dir.join("part-0-mine.parquet#1"), dir.join("part-1-theirs.parquet#1"));
        // Written here (a workload's own writer), and by another process.
        let held = std::fs::File::create(&mine).unwrap();
        assert!(std::process::Command::new("touch").arg(&theirs).status().unwrap().success());
        assert!(open_here(&mine), "a file this process is writing is its own");
        assert!(!open_here(&theirs), "a file another process wrote is not");
        drop(held);
        assert!(!open_here(&mine), "closed, it is no longer told apart");
    }

    #[test]
    fn a_frozen_directory_takes_no_new_entry_until_thawed() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let mechanism = match freeze(dir) {
            Ok(m) => m,
            // A machine where storage cannot be made read-only says so; nothing to test here.
            Err(e @ HarnessError::Unsupported { .. }) => {
                eprintln!("skipped: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let refused = std::fs::write(dir.join("x"), b"x").unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied, "{mechanism:?}: {refused}");
        thaw(dir).unwrap();
        std::fs::write(dir.join("x"), b"x").unwrap();
        assert_eq!(frozen_count(), 0);
    }
}
