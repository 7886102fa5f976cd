//! Starting the app: the child-side steps, exec, and the exec-error pipe (DESIGN.md
//! section 3); clone.rs makes the process.
//!
//! Everything the child needs is prepared before the fork ([`Spawner::new`]): between
//! fork and exec the child makes syscalls only (no allocation, no locks, no NSS), and a
//! failing step writes `(step, errno)` to a close-on-exec pipe that the parent reads. EOF
//! on that pipe means exec succeeded, so "program not found" is a clear start-up error and
//! never a crash loop.

use std::cell::Cell;
use std::convert::Infallible;
use std::ffi::{CString, c_char};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, dup2_stderr, dup2_stdin, dup2_stdout, pipe2, setsid};

use crate::clone::{self, ChildMain, ChildStack};
use crate::config::Config;
use crate::credentials::{PrivilegeStep, Privileges};
use crate::state::SpawnFailure;

/// A child-side step, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    NewSession,
    EnterCgroup,
    RedirectStdio,
    ResetSignals,
    Privileges(PrivilegeStep),
    Exec,
}

impl Step {
    /// Two bytes on the report pipe.
    fn encode(self) -> [u8; 2] {
        match self {
            Step::NewSession => [1, 0],
            Step::EnterCgroup => [2, 0],
            Step::RedirectStdio => [3, 0],
            Step::ResetSignals => [4, 0],
            Step::Privileges(step) => [5, step as u8],
            Step::Exec => [6, 0],
        }
    }

    fn decode(bytes: [u8; 2]) -> Step {
        match bytes {
            [1, _] => Step::NewSession,
            [2, _] => Step::EnterCgroup,
            [3, _] => Step::RedirectStdio,
            [4, _] => Step::ResetSignals,
            [5, sub] => PrivilegeStep::ALL
                .into_iter()
                .find(|step| *step as u8 == sub)
                .map_or(Step::Exec, Step::Privileges),
            _ => Step::Exec,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Step::NewSession => "start a new session",
            Step::EnterCgroup => "enter the app's cgroup",
            Step::RedirectStdio => "redirect stdio to /dev/null",
            Step::ResetSignals => "reset the signal mask",
            Step::Privileges(step) => step.describe(),
            Step::Exec => "execute",
        }
    }
}

/// The child's first byte on the report pipe: it runs. End-of-file without it means the
/// kernel killed the child before its first instruction.
const ALIVE: u8 = 0xA5;
/// The report a failed child writes after `ALIVE`: the step (2 bytes), then errno (4).
const REPORT_LEN: usize = 6;

#[derive(Debug, PartialEq, Eq)]
pub enum SpawnError {
    Fork(Errno),
    /// The child died before its first instruction (see `Spawner::spawn`).
    KilledAtBirth,
    /// A child-side step failed with this errno.
    Child {
        step: Step,
        errno: Errno,
    },
}

impl SpawnError {
    pub fn failure(&self) -> SpawnFailure {
        match self {
            SpawnError::Child {
                step: Step::Exec,
                errno: Errno::ENOENT | Errno::ENOTDIR,
            } => SpawnFailure::NotFound,
            SpawnError::Child {
                step: Step::Exec,
                errno: Errno::EACCES | Errno::ENOEXEC | Errno::EPERM | Errno::EISDIR,
            } => SpawnFailure::NotExecutable,
            _ => SpawnFailure::Other,
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Fork(errno) => write!(f, "fork failed: {}", errno.desc()),
            SpawnError::KilledAtBirth => f.write_str("the new process was killed at birth"),
            SpawnError::Child { step, errno } => {
                write!(f, "failed to {}: {}", step.describe(), errno.desc())
            }
        }
    }
}

/// A started app process.
#[derive(Debug)]
pub struct Spawned {
    pub pid: Pid,
    /// Its pidfd, when clone3 made one along with the process.
    pub pidfd: Option<OwnedFd>,
}

/// Everything a spawn needs, made once; [`Spawner::spawn`] allocates nothing in the child.
pub struct Spawner {
    program: CString,
    /// argv as C strings; `argv_ptrs` points into them and ends with a null.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    privileges: Privileges,
    cgroup_procs: OwnedFd,
    /// v2: the cgroup's directory, for clone3(CLONE_INTO_CGROUP).
    cgroup_dir: Option<OwnedFd>,
    /// v1 with a freezer: the twin freezer cgroup's `cgroup.procs`, entered likewise.
    freezer_procs: Option<OwnedFd>,
    /// clone3 was refused once (an old kernel, a seccomp filter): fork from then on.
    clone3_refused: Cell<bool>,
    /// With `-f` the app gets /dev/null as stdin, stdout and stderr, as daemon(3) does.
    null_stdio: Option<OwnedFd>,
    /// The child's stack while it shares our memory (clone.rs).
    stack: ChildStack,
    /// What the child resets to SIG_DFL (see [`non_default_dispositions`]).
    changed_dispositions: Vec<libc::c_int>,
}

impl Spawner {
    pub fn new(
        config: &Config,
        cgroup_procs: OwnedFd,
        cgroup_dir: Option<OwnedFd>,
        freezer_procs: Option<OwnedFd>,
    ) -> Result<Spawner> {
        let program = c_string(config.program.as_os_str().as_bytes())?;
        let argv = std::iter::once(program.clone())
            .map(Ok)
            .chain(config.args.iter().map(|arg| c_string(arg.as_bytes())))
            .collect::<Result<Vec<_>>>()?;
        let argv_ptrs = argv
            .iter()
            .map(|arg| arg.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let null_stdio = if config.fork {
            Some(
                open(
                    Path::new("/dev/null"),
                    OFlag::O_RDWR | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .context("failed to open /dev/null")?,
            )
        } else {
            None
        };
        Ok(Spawner {
            program,
            _argv: argv,
            argv_ptrs,
            privileges: config.privileges.clone(),
            cgroup_procs,
            cgroup_dir,
            freezer_procs,
            clone3_refused: Cell::new(false),
            null_stdio,
            stack: ChildStack::new().context("failed to map the stack of the app's first frame")?,
            changed_dispositions: non_default_dispositions(),
        })
    }

    /// Forks and executes the app; returns once exec succeeded or a step failed.
    pub fn spawn(&self) -> Result<Spawned, SpawnError> {
        match self.spawn_once() {
            // clone3(CLONE_INTO_CGROUP) into a cgroup that once had `cgroup.kill` written
            // kills the child at birth on some kernels (6.18 here): the kill sequence is
            // read from the parent's cgroup and compared with the target's. Fork and move
            // from then on; the stillborn child is reaped like any other.
            Err(SpawnError::KilledAtBirth) if !self.clone3_refused.get() => {
                self.clone3_refused.set(true);
                self.spawn_once()
            }
            outcome => outcome,
        }
    }

    fn spawn_once(&self) -> Result<Spawned, SpawnError> {
        let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Fork)?;
        let report = report_write.as_raw_fd();
        let mut child = |in_cgroup: bool| -> Infallible { self.run_child(report, in_cgroup) };
        let spawned = self.clone_child(&mut child)?;
        drop(report_write);
        read_report(&report_read).map(|()| spawned)
    }

    /// clone3 into the cgroup where we can, else fork.
    fn clone_child(&self, child: ChildMain<'_>) -> Result<Spawned, SpawnError> {
        if !self.clone3_refused.get() {
            let cgroup = self.cgroup_dir.as_ref().map(AsFd::as_fd);
            match clone::clone3(cgroup, &self.stack, child) {
                Ok(cloned) => {
                    return Ok(Spawned {
                        pid: cloned.pid,
                        pidfd: Some(cloned.pidfd),
                    });
                }
                // Not this kernel's (or a filter's): fork from now on.
                Err(Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL | Errno::EPERM) => {
                    self.clone3_refused.set(true);
                }
                Err(errno) => return Err(SpawnError::Fork(errno)),
            }
        }
        let pid = clone::fork_child(child).map_err(SpawnError::Fork)?;
        Ok(Spawned { pid, pidfd: None })
    }

    /// The child's side: reports that it runs, takes the steps to exec, and reports the
    /// step that failed. Never returns.
    fn run_child(&self, report: RawFd, in_cgroup: bool) -> Infallible {
        let alive = [ALIVE];
        // SAFETY: write(2) of a byte on this stack to a pipe we own.
        unsafe { libc::write(report, alive.as_ptr().cast(), 1) };
        let (step, errno) = self.exec_child(in_cgroup);
        let mut failure = [0u8; REPORT_LEN];
        failure[..2].copy_from_slice(&step.encode());
        failure[2..].copy_from_slice(&(errno as i32).to_ne_bytes());
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer lives on this
        // stack.
        unsafe {
            libc::write(report, failure.as_ptr().cast(), failure.len());
            libc::_exit(127)
        }
    }

    /// The child's side: returns only if a step failed.
    fn exec_child(&self, in_cgroup: bool) -> (Step, Errno) {
        // Its own session, so signals meant for the guardian's terminal or process group
        // (a Ctrl-C) reach the guardian only, which stops the app in order.
        if let Err(errno) = setsid() {
            return (Step::NewSession, errno);
        }
        // clone3 made us inside the cgroup; after a fork, "0" moves the writing process
        // (kernel doc cgroup-v2.rst, cgroup.procs). Either way the app is in its cgroup
        // before a single instruction of its own runs.
        // SAFETY: a write(2) of a static buffer to an fd we own.
        if !in_cgroup
            && unsafe { libc::write(self.cgroup_procs.as_raw_fd(), b"0".as_ptr().cast(), 1) } < 0
        {
            return (Step::EnterCgroup, Errno::last());
        }
        // SAFETY: as above.
        if let Some(freezer) = &self.freezer_procs
            && unsafe { libc::write(freezer.as_raw_fd(), b"0".as_ptr().cast(), 1) } < 0
        {
            return (Step::EnterCgroup, Errno::last());
        }
        if let Some(null) = &self.null_stdio
            && let Err(errno) = dup2_stdin(null)
                .and_then(|()| dup2_stdout(null))
                .and_then(|()| dup2_stderr(null))
        {
            return (Step::RedirectStdio, errno);
        }
        if let Err(errno) = reset_signals(&self.changed_dispositions) {
            return (Step::ResetSignals, errno);
        }
        if let Err((step, errno)) = self.privileges.apply() {
            return (Step::Privileges(step), errno);
        }
        // SAFETY: `program` and `argv_ptrs` are valid, null-terminated, and outlive the
        // call; execv(3) only returns on failure.
        unsafe { libc::execv(self.program.as_ptr(), self.argv_ptrs.as_ptr()) };
        (Step::Exec, Errno::last())
    }
}

/// The signals whose disposition in the guardian is not the default, read once
/// when the spawner is made: Rust's runtime ignores SIGPIPE and handles SIGSEGV and
/// SIGBUS, and whoever started us may have left some ignored (a shell does, for SIGINT
/// and SIGQUIT of a background job). Nothing in the guardian changes a disposition later.
/// The child resets only these: one sigaction(2) each instead of one per signal at every
/// start. glibc refuses its two internal real-time signals (32 and 33), so they are
/// never listed.
fn non_default_dispositions() -> Vec<libc::c_int> {
    (1..=libc::SIGRTMAX())
        .filter(|&number| number != libc::SIGKILL && number != libc::SIGSTOP)
        .filter(|&number| {
            // SAFETY: with a null new action, sigaction(2) only reads the current one
            // into `current`, which is ours.
            let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
            let read = unsafe { libc::sigaction(number, std::ptr::null(), &mut current) };
            read == 0 && current.sa_sigaction != libc::SIG_DFL
        })
        .collect()
}

/// An empty signal mask and default dispositions: the guardian blocks every signal it
/// handles (signalfd) and a blocked mask survives exec (sigprocmask(2)); ignored
/// dispositions survive exec too (signal(7)); handlers would not, but none of the
/// guardian's may run in the child once its mask is empty.
fn reset_signals(changed: &[libc::c_int]) -> Result<(), Errno> {
    for &number in changed {
        // SAFETY: SIG_DFL installs no handler; sigaction(2) is async-signal-safe.
        unsafe { libc::signal(number, libc::SIG_DFL) };
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

/// Reads the child's report: `ALIVE` then end-of-file means exec succeeded; `ALIVE` then
/// a report, that a step failed; nothing at all, that the child never ran. A child killed
/// between `ALIVE` and exec (SIGKILL from outside, a fault) also reads as started: its
/// exit then comes as the main process's, and is handled as a crash.
fn read_report(report: &OwnedFd) -> Result<(), SpawnError> {
    let mut buffer = [0u8; 1 + REPORT_LEN];
    let mut filled = 0;
    while filled < buffer.len() {
        match nix::unistd::read(report, &mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::EINTR) => continue,
            Err(errno) => {
                return Err(SpawnError::Child {
                    step: Step::Exec,
                    errno,
                });
            }
        }
    }
    match filled {
        0 => Err(SpawnError::KilledAtBirth),
        1 if buffer[0] == ALIVE => Ok(()),
        _ => {
            let step = Step::decode([buffer[1], buffer[2]]);
            let mut number = [0u8; 4];
            number.copy_from_slice(&buffer[3..]);
            Err(SpawnError::Child {
                step,
                errno: Errno::from_raw(i32::from_ne_bytes(number)),
            })
        }
    }
}

fn c_string(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).context("an argument of the app contains a NUL byte")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(bytes: &[u8]) -> Result<(), SpawnError> {
        let (read, write) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        nix::unistd::write(&write, bytes).expect("write");
        drop(write);
        read_report(&read)
    }

    #[test]
    fn tells_a_started_app_from_a_failed_step_and_a_stillborn_child() {
        assert_eq!(report_of(&[ALIVE]), Ok(()));
        assert_eq!(report_of(&[]), Err(SpawnError::KilledAtBirth));
        let mut failed = vec![ALIVE];
        failed.extend_from_slice(&Step::Exec.encode());
        failed.extend_from_slice(&(Errno::ENOENT as i32).to_ne_bytes());
        let error = report_of(&failed).unwrap_err();
        assert_eq!(
            error,
            SpawnError::Child {
                step: Step::Exec,
                errno: Errno::ENOENT
            }
        );
        assert_eq!(error.failure(), SpawnFailure::NotFound);
    }
}
