//! `-f`: fork into the background, and let the shell go only once the first start of the
//! app succeeded or failed (DESIGN.md section 2).
//!
//! The parent waits on a pipe. The guardian (the child) writes one byte once the app has
//! started; if it exits before that, the parent sees end-of-file, waits for it and exits
//! with its code. Until then the guardian keeps the caller's stderr, so a start-up error
//! reaches the shell; after it, stdin, stdout and stderr are /dev/null, as daemon(3) does.

use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe2, setsid};

/// The background guardian's end of the pipe.
pub struct Detached {
    report: OwnedFd,
}

/// Forks. Returns in the child (the guardian to be); the parent never returns: it exits
/// with the outcome of the first start.
pub fn detach() -> Result<Detached> {
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).context("failed to create a pipe")?;
    // SAFETY: called before any thread exists; both sides continue as ordinary Rust.
    match unsafe { fork() }.context("failed to fork into the background")? {
        ForkResult::Parent { child } => {
            drop(report_write);
            let mut byte = [0u8; 1];
            let code = loop {
                match nix::unistd::read(&report_read, &mut byte) {
                    Ok(1) => break 0,
                    Err(Errno::EINTR) => continue,
                    _ => break exit_code_of(child),
                }
            };
            std::process::exit(code);
        }
        ForkResult::Child => {
            drop(report_read);
            setsid().context("failed to start a new session")?;
            let null = open_null()?;
            dup2_stdin(&null)
                .and_then(|()| dup2_stdout(&null))
                .context("failed to redirect stdin and stdout to /dev/null")?;
            Ok(Detached {
                report: report_write,
            })
        }
    }
}

impl Detached {
    /// The app has started: release the shell, and stop writing to its stderr.
    pub fn report_started(self) -> Result<()> {
        nix::unistd::write(&self.report, &[0]).context("failed to tell the shell")?;
        let null = open_null()?;
        dup2_stderr(&null).context("failed to redirect stderr to /dev/null")?;
        Ok(())
    }
}

fn exit_code_of(child: nix::unistd::Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as i32,
            Err(Errno::EINTR) | Ok(_) => continue,
            Err(_) => return 1,
        }
    }
}

fn open_null() -> Result<OwnedFd> {
    open(
        Path::new("/dev/null"),
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("failed to open /dev/null")
}
