//! Signals the guardian handles, read through a signalfd (DESIGN.md section 7).
//!
//! Every handled signal is blocked, so it only ever arrives as data on the signalfd and
//! the poll loop sees it like any other event. The app's side resets the mask
//! (`spawn`): a blocked mask survives exec.

use std::os::fd::{AsFd, BorrowedFd};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Forwarded to the main process as they are. QUIT means a graceful stop (nginx).
pub const FORWARDED: [Signal; 9] = [
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGALRM,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGCONT,
    Signal::SIGQUIT,
];

/// Ask the guardian to stop the app and exit.
pub const STOP: [Signal; 2] = [Signal::SIGTERM, Signal::SIGINT];

/// What a signal asks of the guardian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// SIGCHLD: some child changed state; reap.
    ChildExited,
    Stop,
    Forward(Signal),
}

pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks every handled signal and opens a non-blocking, close-on-exec signalfd for
    /// them. Call before anything is spawned, so no signal is lost in between.
    pub fn block_and_open() -> Result<Signals> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGCHLD);
        for signal in STOP.into_iter().chain(FORWARDED) {
            set.add(signal);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
            .context("failed to block the handled signals")?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .context("failed to open a signalfd")?;
        Ok(Signals { fd })
    }

    /// Every signal that is pending, in arrival order (signals of one kind coalesce).
    pub fn drain(&mut self) -> Result<Vec<Incoming>> {
        let mut incoming = Vec::new();
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => {
                    let number = i32::try_from(info.ssi_signo).unwrap_or(0);
                    if let Ok(signal) = Signal::try_from(number) {
                        incoming.push(classify(signal));
                    }
                }
                Ok(None) | Err(Errno::EAGAIN) => return Ok(incoming),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno).context("failed to read the signalfd"),
            }
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn classify(signal: Signal) -> Incoming {
    match signal {
        Signal::SIGCHLD => Incoming::ChildExited,
        Signal::SIGTERM | Signal::SIGINT => Incoming::Stop,
        other => Incoming::Forward(other),
    }
}
