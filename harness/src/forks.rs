//! Starting a child, against closing a socket and binding its port again: the two exclude each
//! other, so that no child between its fork and its exec holds a copy of a socket being rebound.

/// Children being started, against a socket being closed and bound again. A child between its
/// fork and its exec holds a copy of every descriptor of this process: a socket closed here
/// meanwhile stays open there, its port taken, until the exec closes it. librdkafka's mock
/// broker, taken down, closes its listener and binds a new one to the same port at once, and
/// aborts the process when that bind fails — which a child being started by another run
/// (`--jobs`) or by a restart made happen (`matrix --all --jobs 2`, session 11). Starting a
/// child holds this for reading until its exec is done; such a close-and-bind holds it for
/// writing.
static FORKS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Starts a child (`spawn` returns once it has exec'd, or failed to), never while a socket
/// is being closed and bound again ([`closing_sockets`]).
pub(crate) fn spawning<T>(spawn: impl FnOnce() -> T) -> T {
    let _forks = FORKS.read().unwrap_or_else(|e| e.into_inner());
    spawn()
}

/// Closes a socket and binds its port again (`rebind`), with no child between fork and exec.
pub(crate) fn closing_sockets<T>(rebind: impl FnOnce() -> T) -> T {
    let _forks = FORKS.write().unwrap_or_else(|e| e.into_inner());
    rebind()
}
