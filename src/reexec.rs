//! `supervisor reexec`: the guardian replaces its own binary (say, after a package
//! upgrade) without touching the app (issue 8). exec(2) keeps the PID, so the app's
//! processes stay our children, the pidfile stays true and the init system above sees
//! nothing; what the new image needs besides is passed in one environment variable.
//!
//! The name lock is kept across the exec (its descriptor is inherited), so no other
//! guardian of this name can start in between. Everything else (signalfd, control
//! socket, pidfds) is close-on-exec and made anew; blocked signals stay pending.

use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use serde::{Deserialize, Serialize};

use crate::state::Stats;

/// The environment variable that carries [`Resume`] to the new image.
pub const ENV: &str = "SUPERVISOR_REEXEC";

/// What the new image resumes with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub main: i32,
    /// The descriptor of the held name lock.
    pub lock_fd: RawFd,
    pub stats: Stats,
    /// How long the current run had lasted.
    pub run_seconds: f64,
}

/// Reads [`Resume`] from the environment, and removes it there so the app never sees it.
/// `None` for an ordinary start (or a value that is not ours).
pub fn take_from_env() -> Option<Resume> {
    let value = std::env::var_os(ENV)?;
    // SAFETY: called first thing in main, before any thread exists: nothing else can
    // read the environment at the same time (std::env::remove_var's requirement).
    unsafe { std::env::remove_var(ENV) };
    serde_json::from_slice(value.as_bytes()).ok()
}

/// Re-executes `program` with `argv` and `resume`. Returns only if exec failed, with the
/// lock descriptor closed-on-exec again.
pub fn exec(program: &Path, argv: &[OsString], resume: &Resume) -> Errno {
    let (Ok(program), Ok(argv), Ok(value)) = (
        CString::new(program.as_os_str().as_bytes()),
        argv.iter()
            .map(|arg| CString::new(arg.as_bytes()))
            .collect::<Result<Vec<_>, _>>(),
        serde_json::to_string(resume),
    ) else {
        return Errno::EINVAL;
    };
    if let Err(errno) = set_close_on_exec(resume.lock_fd, false) {
        return errno;
    }
    // SAFETY: the guardian is single-threaded; the variable is read and removed by the
    // new image before anything else.
    unsafe { std::env::set_var(ENV, value) };
    let errno = match nix::unistd::execv(&program, &argv) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    // SAFETY: as above.
    unsafe { std::env::remove_var(ENV) };
    let _ = set_close_on_exec(resume.lock_fd, true);
    errno
}

fn set_close_on_exec(fd: RawFd, on: bool) -> Result<(), Errno> {
    // SAFETY: the lock's descriptor lives as long as the guardian; it is only borrowed
    // for the fcntl.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags)).map(drop)
}
