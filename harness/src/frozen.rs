//! A directory made unwritable, and how it is put back: the primitive under [`crate::storage`]
//! (which freezes for a fault) and [`crate::reaper`] (which thaws what a dead harness left).

use nix::libc::{c_int, c_long};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// How a directory was made read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// The inode's immutable attribute (`chattr +i`): binds root too.
    Immutable,
    /// The write permission bits removed (only binds a process that is not root).
    Permissions {
        /// The mode to put back.
        mode: u32,
    },
}

impl Mechanism {
    /// Its name for the history and the report.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::Immutable => "immutable attribute",
            Mechanism::Permissions { .. } => "write permission removed",
        }
    }
}

const FS_IMMUTABLE_FL: c_int = 0x10;

mod ioctl {
    // The kernel declares these with a `long` in the request number and reads an `int`.
    nix::ioctl_read_bad!(
        get_flags,
        nix::request_code_read!(b'f', 1, std::mem::size_of::<super::c_long>()),
        super::c_int
    );
    nix::ioctl_write_ptr_bad!(
        set_flags,
        nix::request_code_write!(b'f', 2, std::mem::size_of::<super::c_long>()),
        super::c_int
    );
}

/// Sets or clears the immutable attribute of `dir`.
#[allow(unsafe_code)]
pub(crate) fn set_immutable(dir: &Path, on: bool) -> std::io::Result<()> {
    let f = std::fs::File::open(dir)?;
    let mut flags: c_int = 0;
    // SAFETY: `f` is an open descriptor for the call's duration; both ioctls read or write one
    // int through a pointer to a live local.
    unsafe { ioctl::get_flags(f.as_raw_fd(), &mut flags) }.map_err(std::io::Error::from)?;
    let flags = if on { flags | FS_IMMUTABLE_FL } else { flags & !FS_IMMUTABLE_FL };
    unsafe { ioctl::set_flags(f.as_raw_fd(), &flags) }.map_err(std::io::Error::from)?;
    Ok(())
}

/// Makes `dir` writable again by undoing `mechanism`.
pub fn undo(dir: &Path, mechanism: Mechanism) -> std::io::Result<()> {
    match mechanism {
        Mechanism::Immutable => set_immutable(dir, false),
        Mechanism::Permissions { mode } => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)),
    }
}
