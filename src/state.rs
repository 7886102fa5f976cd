//! The guardian's pure state machine: `(state, event) -> (state, actions)`.
//!
//! It never makes a syscall; the event loop gathers facts into [`Event`]s and carries out
//! the [`Action`]s. (The table of states x events goes here, as Markdown.)

use std::fmt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::backoff::Backoff;
use crate::main_pid::Successor;
use crate::policy::{AppStatus, ExitKind, RestartPolicy};

/// Why a spawn failed, as far as the state machine cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnFailure {
    /// The program does not exist (a shell exits 127).
    NotFound,
    /// The program exists but cannot be executed (a shell exits 126).
    NotExecutable,
    /// Anything else: fork, cgroup entry, privilege drop (exit code 1).
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A spawn is under way; `first` until the app has started once.
    Spawning {
        first: bool,
    },
    Running {
        main: Pid,
        since: Instant,
    },
    /// The main process failed and left processes behind: the cgroup is being killed
    /// before the restart policy applies to `status`.
    Clearing {
        status: AppStatus,
        kind: ExitKind,
        since: Instant,
    },
    BackingOff {
        until: Instant,
    },
    /// A stop was asked for. `main` until it exits; `kill_at` is when the whole cgroup
    /// gets SIGKILL (`None`: already killed, or a graceful QUIT that waits for the app).
    Stopping {
        main: Option<Pid>,
        kill_at: Option<Instant>,
    },
    /// The guardian is done and exits with `code`.
    Exited {
        code: i32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Spawned {
        main: Pid,
    },
    SpawnFailed(SpawnFailure),
    /// The main process exited. `successor` was chosen by `main_pid::choose_successor`;
    /// `populated` tells whether the cgroup still held processes at that moment.
    MainExited {
        pid: Pid,
        status: AppStatus,
        successor: Option<Successor>,
        populated: bool,
    },
    CgroupEmptied,
    DeadlinePassed,
    /// SIGTERM or SIGINT reached the guardian.
    StopRequested,
    /// A signal to forward to the main process (HUP, USR1, USR2, WINCH, ALRM, TTIN,
    /// TTOU, CONT, QUIT).
    SignalReceived(Signal),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the app; the loop answers with `Spawned` or `SpawnFailed`.
    Spawn,
    /// Watch this PID as the main process (pidfd) from now on.
    WatchMain(Pid),
    /// Send `signal` to the main process `to` (through its pidfd).
    Forward {
        signal: Signal,
        to: Pid,
    },
    /// Kill every process of the app's cgroup; the loop answers `CgroupEmptied` once empty.
    KillCgroup,
    Log(Notice),
    /// Leave the loop; the guardian exits with this code.
    Exit(i32),
}

/// What happened, for the log. The event loop picks the output from [`Notice::is_warning`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Started {
        pid: Pid,
    },
    HandedOver {
        from: Pid,
        to: Successor,
    },
    Ended {
        pid: Pid,
        status: AppStatus,
        kind: ExitKind,
    },
    KillingLeftovers,
    Restarting {
        delay: Duration,
        failures: u32,
    },
    SpawnFailed(SpawnFailure),
    Stopping {
        signal: Signal,
    },
    StopTimedOut,
    NothingToSignal(Signal),
}

impl Notice {
    pub fn is_warning(&self) -> bool {
        todo!()
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("{f:p}")
    }
}

/// Settings the machine needs from `Config`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub policy: RestartPolicy,
    pub backoff: Backoff,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
}

#[derive(Debug)]
pub struct Machine {
    state: State,
    /// Failures in a row; reset by a stable run (see `Backoff::failures_after`).
    failures: u32,
    settings: Settings,
}

impl Machine {
    /// A machine in `Spawning { first: true }`, with the actions to carry out first
    /// (`[Spawn]`).
    pub fn start(settings: Settings) -> (Machine, Vec<Action>) {
        todo!("{settings:?}")
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// When the loop must wake up with `DeadlinePassed` if nothing else happens.
    pub fn deadline(&self) -> Option<Instant> {
        todo!()
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        todo!("{event:?} {now:?}")
    }
}
