//! A watchdog that outlives the harness: what a SIGKILL of the harness would leave behind is
//! cleaned up by it (the pattern of testcontainers' reaper).
//!
//! The harness cleans up after itself on success, failure, panic, Ctrl-C and SIGTERM. A SIGKILL
//! leaves it no moment to: its children die by their parent-death signal, but what they started
//! (a JVM, Python workers) lives on, the memory cgroups stay, and a directory a fault made
//! immutable cannot even be deleted. So the first run of a process starts a reaper — the same
//! binary as `BINARY __reaper`, in a session of its own, reading a pipe from the harness. The
//! harness tells it what it starts and freezes, and what it has cleaned up itself; when the pipe
//! closes (the harness has exited, however), the reaper kills the process groups still listed
//! and every process carrying the harness's mark (what left those groups), puts back the
//! directories still frozen, removes the harness's memory cgroups, and exits.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The argument that makes a loudfail binary serve as the reaper.
pub const ARG: &str = "__reaper";

/// What the harness tells its reaper, a JSON line each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Msg {
    /// A child's process group (its pid) to kill if the harness dies.
    Group(i32),
    /// That group is gone: the harness reaped it.
    Reaped(i32),
    /// A directory made read-only, and how.
    Frozen(PathBuf, crate::frozen::Mechanism),
    /// That directory is writable again.
    Thawed(PathBuf),
}

/// The pipe to this process's reaper, once started.
static LINK: Mutex<Option<std::process::ChildStdin>> = Mutex::new(None);

/// Starts this process's reaper from `bin` (a loudfail binary, or one built on loudfail) unless
/// it runs already. Without one (it cannot be started) a SIGKILL of the harness leaves what it
/// leaves, and every other way out still cleans up.
#[allow(unsafe_code)]
pub fn ensure(bin: &Path) {
    let Ok(mut link) = LINK.lock() else { return };
    if link.is_some() {
        return;
    }
    let mut cmd = std::process::Command::new(bin);
    cmd.arg(ARG)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec: setsid, sigprocmask.
    unsafe {
        cmd.pre_exec(|| {
            // Out of the harness's session: a Ctrl-C or a hangup of its terminal is not its.
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            nix::sys::signal::SigSet::all().thread_unblock().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    if let Ok(mut child) = crate::forks::spawning(|| cmd.spawn()) {
        *link = child.stdin.take();
        // Not waited for: it outlives this process by design, and is reaped by init.
        std::mem::forget(child);
    }
}

fn say(msg: Msg) {
    let Ok(mut link) = LINK.lock() else { return };
    let Some(pipe) = link.as_mut() else { return };
    let Ok(mut line) = serde_json::to_string(&msg) else { return };
    line.push('\n');
    if pipe.write_all(line.as_bytes()).is_err() {
        // The reaper is gone (killed by hand): nothing to tell.
        *link = None;
    }
}

/// A child's process group to kill should the harness die.
pub fn watch_group(pid: u32) {
    say(Msg::Group(pid as i32));
}

/// The child's process group is gone.
pub fn reaped_group(pid: u32) {
    say(Msg::Reaped(pid as i32));
}

/// A directory made read-only, to put back should the harness die.
pub fn watch_frozen(dir: &Path, mechanism: crate::frozen::Mechanism) {
    say(Msg::Frozen(dir.to_path_buf(), mechanism));
}

/// The directory is writable again.
pub fn thawed(dir: &Path) {
    say(Msg::Thawed(dir.to_path_buf()));
}

/// Serves as the reaper when the process was started as one: returns its exit code.
pub fn serve_if_reaper() -> Option<i32> {
    if std::env::args().nth(1).as_deref() != Some(ARG) {
        return None;
    }
    // Signals meant for the harness's terminal are not its own: blocked, they are never taken.
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGINT);
    set.add(nix::sys::signal::Signal::SIGHUP);
    let _ = set.thread_block();
    let harness = nix::unistd::getppid().as_raw() as u32;
    let left = listen(std::io::stdin().lock());
    clean_up(&left, harness);
    Some(0)
}

/// What the harness left when its pipe closed.
#[derive(Debug, Default, PartialEq)]
struct Left {
    groups: Vec<i32>,
    frozen: Vec<(PathBuf, crate::frozen::Mechanism)>,
}

/// Reads the harness's messages until the pipe closes.
fn listen(input: impl BufRead) -> Left {
    let mut left = Left::default();
    for line in input.lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Msg>(&line) {
            Ok(Msg::Group(pid)) => left.groups.push(pid),
            Ok(Msg::Reaped(pid)) => left.groups.retain(|p| *p != pid),
            Ok(Msg::Frozen(dir, mechanism)) => left.frozen.push((dir, mechanism)),
            Ok(Msg::Thawed(dir)) => left.frozen.retain(|(d, _)| *d != dir),
            Err(_) => {}
        }
    }
    left
}

/// Kills what is left, puts back what is frozen, removes the harness's memory cgroups.
fn clean_up(left: &Left, harness: u32) {
    for &pgid in &left.groups {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
    }
    // What they started that left their groups: a helper in a session of its own.
    let marks = crate::process::marks_of(harness);
    crate::process::kill_marked(|m| m.starts_with(&marks));
    for (dir, mechanism) in &left.frozen {
        let _ = crate::frozen::undo(dir, *mechanism);
    }
    crate::memlimit::remove_of(harness);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_is_what_was_started_and_not_cleaned_up() {
        let lines = [
            Msg::Group(10),
            Msg::Group(11),
            Msg::Frozen("/run/a".into(), crate::frozen::Mechanism::Immutable),
            Msg::Reaped(10),
            Msg::Frozen("/run/b".into(), crate::frozen::Mechanism::Permissions { mode: 0o755 }),
            Msg::Thawed("/run/a".into()),
        ]
        .iter()
        .map(|m| serde_json::to_string(m).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
        let left = listen(std::io::Cursor::new(format!("{lines}\nnot a message\n")));
        assert_eq!(left.groups, [11]);
        assert_eq!(left.frozen, [("/run/b".into(), crate::frozen::Mechanism::Permissions { mode: 0o755 })]);
    }
}
