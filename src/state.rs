//! The guardian's pure state machine: `(state, event) -> (state, actions)`.
//!
//! It never makes a syscall; the event loop gathers facts into [`Event`]s and carries out
//! the [`Action`]s. What a status means is `policy`'s, how long to wait is `backoff`'s,
//! and who the next main process is was decided by `main_pid` before the event arrived.
//!
//! `decide` applies the restart policy to a run that ended: if `policy.restarts(kind)`,
//! `failures = backoff.failures_after(failures, now - since)` and
//! `delay = backoff.delay(failures)`; a zero delay goes straight to
//! `Spawning { first: false }` with `[Log(Restarting), Spawn]`, any other to
//! `BackingOff { until: now + delay }` with `[Log(Restarting)]`. Without a restart it is
//! `Exited { code }` with `[Exit(code)]`: the app's `exit_code()`, or 1 for `LostTrack`.
//!
//! SIGTERM and SIGINT arrive as `Requested(Exit)`, like `supervisor exit`.
//!
//! | state | event | next state | actions |
//! | --- | --- | --- | --- |
//! | (start) | | `Spawning { first: true }` | `Spawn` |
//! | `Spawning` | `Spawned { main }` | `Running { main, since: now }` | `WatchMain(main)`, `Log(Started)` |
//! | `Spawning { first: true }` | `SpawnFailed(f)` | `Exited { 127 / 126 / 1 }` | `Exit(code)` |
//! | `Spawning { first: false }` | `SpawnFailed(f)` | `BackingOff { now + delay(max(failures, 2)) }`, failures + 1 | `Log(Restarting)` |
//! | `Spawning` | `Requested(Exit)` | `Stopping { None, None }` | `KillCgroup` |
//! | `Spawning` | `MainExited`, `CgroupEmptied`, `DeadlinePassed` | unchanged | |
//! | `Running { main, since }` | `MainExited { main, successor: Some(s) }` | `Running { s, since }` | `WatchMain(s)`, `Log(HandedOver)`, and `KillStrays { keep: s }` unless the exit was clean |
//! | `Running { main, since }` | `MainExited { main, None, populated: true }` | `Clearing { status, kind, since }`; a clean kind becomes `LostTrack` | `Log(Ended)`, `Log(KillingLeftovers)`, `KillCgroup` |
//! | `Running { main, since }` | `MainExited { main, None, populated: false }` | `decide` | `Log(Ended)`, then `decide`'s |
//! | `Running { main }` | `Requested(Exit)` | `Stopping { main, now + stop_timeout }` | `Log(Stopping)`, `Forward(stop_signal)`, `Forward(CONT)` |
//! | `Running { main }` | `SignalReceived(QUIT)` | `Stopping { main, None }` | `Log(Stopping)`, `Forward(QUIT)` |
//! | `Running { main }` | `SignalReceived(sig)` | unchanged | `Forward(sig)` |
//! | `Running` | `MainExited` of another PID, `CgroupEmptied`, `DeadlinePassed`, `Spawned`, `SpawnFailed` | unchanged | |
//! | `Clearing { status, kind, since }` | `CgroupEmptied` | `decide` | `decide`'s |
//! | `Clearing` | `Requested(Exit)` | `Stopping { None, None }` (the kill is under way) | |
//! | `Clearing` | `MainExited`, `DeadlinePassed`, `Spawned`, `SpawnFailed` | unchanged | |
//! | `BackingOff { until }` | `DeadlinePassed`, `now >= until` | `Spawning { first: false }` | `Spawn` |
//! | `BackingOff` | `Requested(Exit)` | `Exited { 0 }` (the restart is cancelled) | `Exit(0)` |
//! | `BackingOff` | early `DeadlinePassed`, `MainExited`, `CgroupEmptied`, `Spawned`, `SpawnFailed` | unchanged | |
//! | `Stopping { main: Some(main) }` | `MainExited { main, populated: true }` | `Stopping { None, None }` | `KillCgroup` |
//! | `Stopping { main: Some(main) }` | `MainExited { main, populated: false }` | `Exited { 0 }` | `Exit(0)` |
//! | `Stopping` | `CgroupEmptied` | `Exited { 0 }` | `Exit(0)` |
//! | `Stopping { kill_at: Some(t) }` | `DeadlinePassed`, `now >= t` | `Stopping { None, None }` | `Log(StopTimedOut)`, `KillCgroup` |
//! | `Stopping { main: Some(main), kill_at: None }` (after QUIT) | `Requested(Exit)` | `Stopping { main, now + stop_timeout }` | `Log(Stopping)`, `Forward(stop_signal)`, `Forward(CONT)` |
//! | `Stopping { kill_at: Some(_) }` | `Requested(Exit)` | `Stopping { None, None }` | `KillCgroup` |
//! | `Stopping { None, None }` | `Requested(Exit)` | unchanged (the kill is under way) | |
//! | `Stopping { main: Some(main) }` | `SignalReceived(sig)` | unchanged | `Forward(sig)` |
//! | `Stopping` | `MainExited` of another PID, early `DeadlinePassed`, `Spawned`, `SpawnFailed` | unchanged | |
//! | `Spawning`, `Clearing`, `BackingOff`, `Stopping { main: None }` | `SignalReceived(sig)` | unchanged | `Log(NothingToSignal(sig))` |
//! | `Running { main }` | `Requested(Stop / Restart)` | `Stopping { main, now + stop_timeout, then: StayStopped / Start }` | as `Requested(Exit)` |
//! | `Running { main }` | `Requested(Start)` | unchanged | `Answer(Start, Ok)` (already running) |
//! | `Running { main, since }` | `Requested(Upgrade / Reload)` | `Switching { main, since, switch }` | `Log(Switching)`, `BeginSwitch { upgrade/reload signal, main }` |
//! | `Switching` | `DeadlinePassed` at the probe time | `Switching`, next probe | `Probe { main }` |
//! | `Switching` (upgrade, no new master yet) | `Probed { new: Some(n), ready: true }` | `Switching { new: n }` | `Forward(WINCH)` (with `--upgrade-winch`), `Forward(QUIT)` |
//! | `Switching` (upgrade, new master `n`) | `Probed` without `n` | `Running { main }` | `Log(SwitchFailed)`, `Forward(HUP)` if WINCH was sent, `Answer(Err)` |
//! | `Switching` (reload) | `Probed { new: Some(w) }` | `Running { main }` | `Answer(Reload, Ok)` |
//! | `Switching` | `DeadlinePassed` at the deadline | `Running { main }` | `Log(SwitchFailed)`, `Forward(HUP)` if WINCH was sent, `Answer(Err)` |
//! | `Switching` | `MainExited { main }` | as in `Running` | and `Answer(Ok)` with a successor, else `Answer(Err)` |
//! | `Switching` | `Requested(Stop / Restart / Exit)` | as in `Running` | and `Answer(Err)` to the switch |
//! | `Switching` | `SignalReceived(sig)` | unchanged | `Forward(sig)` |
//! | `Stopping { then }` | the app gone (`MainExited` with nothing left, `CgroupEmptied`) | `then`: `Exited { 0 }` / `Stopped` / `Spawning` | `Exit(0)` / `Answer(Stop, Ok)` / `Spawn` |
//! | `Stopping { then: StayStopped / Start }` | `Requested(Stop / Start / Restart)` | `then` changed | |
//! | `BackingOff` | `Requested(Stop)` | `Stopped` | `Answer(Stop, Ok)` |
//! | `BackingOff`, `Stopped` | `Requested(Start / Restart)` | `Spawning { first: false }` | `Spawn`; `Spawned` answers it |
//! | `Stopped` | `Requested(Exit)` | `Exited { 0 }` | `Exit(0)` |
//! | any | a request it cannot serve now | unchanged | `Answer(Err)` saying why |
//! | `Exited` | anything | unchanged | |
//!
//! `Stopping { main: None, kill_at: None }` always means "the cgroup is being killed":
//! only `CgroupEmptied` ends it, and `then` says what follows (rows above that end in
//! `Exited { 0 }` do so for `then: Exit`). A successor is ignored during a stop: nothing of the
//! app survives one (section 7).

use std::fmt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

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
    /// A stop was asked for. `main` until it exits or the cgroup kill starts; `kill_at` is
    /// when the whole cgroup gets SIGKILL (`None`: already killed, or a graceful QUIT that
    /// waits for the app). Both `None`: the kill is under way, `CgroupEmptied` ends it.
    Stopping {
        main: Option<Pid>,
        kill_at: Option<Instant>,
        then: AfterStop,
    },
    /// Stopped on request (`supervisor stop`): the guardian waits for a start.
    Stopped,
    /// An upgrade or a reload is under way (`supervisor upgrade|reload`); the app runs.
    Switching {
        main: Pid,
        since: Instant,
        switch: Switch,
    },
    /// The guardian is done and exits with `code`.
    Exited {
        code: i32,
    },
}

/// What follows a stop once nothing of the app is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterStop {
    /// The guardian exits 0 (SIGTERM, SIGINT, `supervisor exit`).
    Exit,
    /// `Stopped` (`supervisor stop`).
    StayStopped,
    /// A new start (`supervisor restart`).
    Start,
}

/// What an operator asks through the control socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Stop,
    Start,
    Restart,
    Exit,
    Upgrade,
    Reload,
}

/// An upgrade (nginx, unicorn: a new master replaces the main process) or a reload
/// (haproxy -W: the main process stays, its workers are replaced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchKind {
    Upgrade,
    Reload,
}

/// How far a switch got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    pub kind: SwitchKind,
    /// A new master seen before it was ready.
    pub seen: Option<Pid>,
    /// The new master, once seen ready and the old one sent WINCH (optionally) and QUIT.
    pub new: Option<Pid>,
    /// When it is abandoned.
    pub deadline: Instant,
    /// When the loop looks at the main process's children again.
    pub probe_at: Instant,
}

impl Switch {
    fn request(self) -> Request {
        match self.kind {
            SwitchKind::Upgrade => Request::Upgrade,
            SwitchKind::Reload => Request::Reload,
        }
    }
}

/// How often the loop looks for the new master or workers during a switch: there is no
/// kernel event for "a process forked", so this is the one place the guardian polls, and
/// only while a switch is under way.
pub const SWITCH_PROBE_INTERVAL: Duration = Duration::from_millis(50);

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
    /// A signal to forward to the main process (HUP, USR1, USR2, WINCH, ALRM, TTIN,
    /// TTOU, CONT, QUIT).
    SignalReceived(Signal),
    /// A request: from the control socket, or `Requested(Exit)` for SIGTERM and SIGINT.
    Requested(Request),
    /// What the loop saw after `Probe`: a child of the main process that was not there
    /// when the switch began (`new`), and whether it looks ready: it has children of its
    /// own, and the `-P` file names it if there is one.
    Probed {
        new: Option<Pid>,
        ready: bool,
    },
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
    /// Kill every process of the cgroup that is neither `keep` nor a descendant of it:
    /// what a failed main process left beside its successor (an old nginx master's
    /// workers, after the master was killed mid-upgrade).
    KillStrays {
        keep: Pid,
    },
    Log(Notice),
    /// Remember the main process's children, then send it `signal`: a switch begins.
    BeginSwitch {
        signal: Signal,
        main: Pid,
    },
    /// Look for a new child of `main`; the loop answers with `Probed`.
    Probe {
        main: Pid,
    },
    /// Answer the one client whose request is being handled now, and only it: a refusal,
    /// or "already so". Nothing else is waiting for this.
    Reply {
        outcome: Result<String, String>,
    },
    /// Answer every client waiting for `request` to be done: done (`Ok`, with what
    /// happened) or failed.
    Answer {
        request: Request,
        outcome: Result<String, String>,
    },
    /// Leave the loop; the guardian exits with this code.
    Exit(i32),
}

/// What happened, for the log. The event loop picks the output from [`Notice::is_warning`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Started {
        pid: Pid,
    },
    Adopted {
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
    Stopping {
        signal: Signal,
    },
    StopTimedOut,
    NothingToSignal(Signal),
    Switching {
        kind: SwitchKind,
        signal: Signal,
    },
    SwitchFailed {
        kind: SwitchKind,
        reason: String,
    },
}

impl Notice {
    pub fn is_warning(&self) -> bool {
        match self {
            Notice::Ended { kind, .. } => matches!(
                kind,
                ExitKind::Crash | ExitKind::Error | ExitKind::LostTrack
            ),
            Notice::StopTimedOut | Notice::NothingToSignal(_) | Notice::SwitchFailed { .. } => true,
            Notice::Started { .. }
            | Notice::Adopted { .. }
            | Notice::HandedOver { .. }
            | Notice::KillingLeftovers
            | Notice::Restarting { .. }
            | Notice::Stopping { .. }
            | Notice::Switching { .. } => false,
        }
    }
}

/// Completes "supervisor[name]: ...".
impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Started { pid } => write!(f, "started, main PID {pid}"),
            Notice::Adopted { pid } => write!(f, "following the running app, main PID {pid}"),
            Notice::HandedOver { from, to } => {
                let source = match to {
                    Successor::PidFile(_) => "from the pid file",
                    Successor::Cgroup(_) => "the one process left in the cgroup",
                };
                write!(f, "main PID {from} \u{2192} {} ({source})", to.pid())
            }
            Notice::Ended { pid, status, kind } => {
                write!(f, "main PID {pid} {status}")?;
                match kind {
                    ExitKind::Clean => Ok(()),
                    ExitKind::Error => f.write_str(" (an error)"),
                    ExitKind::Deliberate => f.write_str(" (a deliberate kill)"),
                    ExitKind::Crash => f.write_str(" (a crash)"),
                    ExitKind::LostTrack => f.write_str(
                        "; none of the processes it left behind is clearly its successor",
                    ),
                }
            }
            Notice::KillingLeftovers => f.write_str("killing what the app left behind"),
            Notice::Restarting { delay, .. } if delay.is_zero() => f.write_str("restarting now"),
            Notice::Restarting { delay, failures } => write!(
                f,
                "restarting in {}s (failure {failures} in a row)",
                delay.as_secs_f64()
            ),
            Notice::Stopping { signal } => {
                write!(f, "stopping: sent {} to the app", signal.as_str())
            }
            Notice::StopTimedOut => f.write_str("stop timed out: killing the app's cgroup"),
            Notice::NothingToSignal(signal) => {
                write!(f, "no app running to receive {}", signal.as_str())
            }
            Notice::Switching { kind, signal } => {
                write!(
                    f,
                    "{}: sent {} to the app",
                    kind.describe(),
                    signal.as_str()
                )
            }
            Notice::SwitchFailed { kind, reason } => {
                write!(f, "{} failed: {reason}", kind.describe())
            }
        }
    }
}

impl SwitchKind {
    pub fn describe(self) -> &'static str {
        match self {
            SwitchKind::Upgrade => "upgrade",
            SwitchKind::Reload => "reload",
        }
    }
}

impl SpawnFailure {
    /// What a shell would exit with (bash(1), EXIT STATUS).
    fn exit_code(self) -> i32 {
        match self {
            SpawnFailure::NotFound => 127,
            SpawnFailure::NotExecutable => 126,
            SpawnFailure::Other => 1,
        }
    }
}

/// Settings the machine needs from `Config`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub policy: RestartPolicy,
    pub backoff: Backoff,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
    pub upgrade_signal: Signal,
    pub upgrade_timeout: Duration,
    /// Send WINCH to the old master before QUIT (nginx: its workers finish and leave).
    pub upgrade_winch: bool,
    pub reload_signal: Signal,
}

/// Counts for `/status` and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Starts after the first.
    pub restarts: u64,
    /// Handovers: the main PID changed without a restart.
    pub main_pid_changes: u64,
    /// How the last main process ended, and when.
    #[serde(skip)]
    pub last_exit: Option<(AppStatus, Instant)>,
}

#[derive(Debug)]
pub struct Machine {
    state: State,
    /// Failures in a row; reset by a stable run (see `Backoff::failures_after`).
    failures: u32,
    settings: Settings,
    stats: Stats,
    /// The operator's request (start, restart) that the next spawn answers.
    start_requested: Option<Request>,
}

impl Machine {
    /// A machine for an app that already runs: after the guardian died (adoption) or
    /// re-executed itself. It starts in `Running`, watching `main`, with the counts it
    /// had (a re-exec) or none (an adoption).
    pub fn adopt(
        settings: Settings,
        main: Pid,
        stats: Stats,
        now: Instant,
    ) -> (Machine, Vec<Action>) {
        let machine = Machine {
            state: State::Running { main, since: now },
            failures: 0,
            settings,
            stats,
            start_requested: None,
        };
        (
            machine,
            vec![
                Action::WatchMain(main),
                Action::Log(Notice::Adopted { pid: main }),
            ],
        )
    }

    /// A machine in `Spawning { first: true }`, with the actions to carry out first
    /// (`[Spawn]`).
    pub fn start(settings: Settings) -> (Machine, Vec<Action>) {
        let machine = Machine {
            state: State::Spawning { first: true },
            failures: 0,
            settings,
            stats: Stats::default(),
            start_requested: None,
        };
        (machine, vec![Action::Spawn])
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// When the loop must wake up with `DeadlinePassed` if nothing else happens.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::BackingOff { until } => Some(until),
            State::Stopping { kill_at, .. } => kill_at,
            State::Switching { switch, .. } => Some(switch.deadline.min(switch.probe_at)),
            State::Stopped
            | State::Spawning { .. }
            | State::Running { .. }
            | State::Clearing { .. }
            | State::Exited { .. } => None,
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let (state, actions) = self.next(event, now);
        self.state = state;
        actions
    }

    /// The table in the module doc, row by row. No catch-all arm: a new state or event
    /// does not compile until every row for it is written.
    fn next(&mut self, event: Event, now: Instant) -> (State, Vec<Action>) {
        use Action::{Exit, Forward, KillCgroup, Log, Spawn, WatchMain};
        let unchanged = self.state;
        let ignore = (unchanged, Vec::new());
        match (self.state, event) {
            (State::Spawning { first }, Event::Spawned { main }) => {
                if !first {
                    self.stats.restarts += 1;
                }
                let mut actions = vec![WatchMain(main), Log(Notice::Started { pid: main })];
                actions.extend(self.answer_start(Ok(format!("started, main PID {main}"))));
                (State::Running { main, since: now }, actions)
            }
            (State::Spawning { first: true }, Event::SpawnFailed(failure)) => {
                let code = failure.exit_code();
                (State::Exited { code }, vec![Exit(code)])
            }
            (State::Spawning { first: false }, Event::SpawnFailed(_)) => {
                let (state, mut actions) = self.back_off_after_spawn_failure(now);
                actions.extend(self.answer_start(Err("the app failed to start".to_owned())));
                (state, actions)
            }
            // Spawning is synchronous, so nothing else can arrive here; should that change,
            // killing the cgroup catches whatever the spawn left.
            (State::Spawning { .. }, Event::Requested(Request::Exit)) => {
                (kill_under_way(AfterStop::Exit), vec![KillCgroup])
            }
            (State::Spawning { .. }, Event::Requested(_)) => {
                (unchanged, vec![reply_err("the app is starting")])
            }
            (
                State::Spawning { .. },
                Event::MainExited { .. }
                | Event::CgroupEmptied
                | Event::DeadlinePassed
                | Event::Probed { .. },
            ) => ignore,

            (
                State::Running { main, since },
                Event::MainExited {
                    pid,
                    status,
                    successor,
                    populated,
                },
            ) if pid == main => self.main_exited(main, since, status, successor, populated, now),
            // nginx's QUIT: a graceful stop that waits as long as the app needs.
            (State::Running { main, .. }, Event::SignalReceived(Signal::SIGQUIT)) => (
                State::Stopping {
                    main: Some(main),
                    kill_at: None,
                    then: AfterStop::Exit,
                },
                vec![
                    Log(Notice::Stopping {
                        signal: Signal::SIGQUIT,
                    }),
                    Forward {
                        signal: Signal::SIGQUIT,
                        to: main,
                    },
                ],
            ),
            (State::Running { main, .. }, Event::SignalReceived(signal)) => {
                (unchanged, vec![Forward { signal, to: main }])
            }
            (State::Running { main, since }, Event::Requested(request)) => {
                self.request_while_running(main, since, request, now)
            }
            (
                State::Running { .. },
                Event::Spawned { .. }
                | Event::SpawnFailed(_)
                | Event::MainExited { .. }
                | Event::CgroupEmptied
                | Event::DeadlinePassed
                | Event::Probed { .. },
            ) => ignore,

            (
                State::Clearing {
                    status,
                    kind,
                    since,
                },
                Event::CgroupEmptied,
            ) => self.decide(status, kind, since, now, Vec::new()),
            (State::Clearing { .. }, Event::Requested(Request::Stop)) => {
                (kill_under_way(AfterStop::StayStopped), Vec::new())
            }
            (State::Clearing { .. }, Event::Requested(Request::Exit)) => {
                (kill_under_way(AfterStop::Exit), Vec::new())
            }
            (State::Clearing { .. }, Event::Requested(_)) => (
                unchanged,
                vec![reply_err("the app just failed and is being cleared")],
            ),
            (
                State::Clearing { .. },
                Event::Spawned { .. }
                | Event::SpawnFailed(_)
                | Event::MainExited { .. }
                | Event::DeadlinePassed
                | Event::Probed { .. },
            ) => ignore,

            (State::BackingOff { until }, Event::DeadlinePassed) if now >= until => {
                (State::Spawning { first: false }, vec![Spawn])
            }
            (State::BackingOff { .. }, Event::Requested(Request::Exit)) => exit(0),
            (State::BackingOff { .. }, Event::Requested(Request::Stop)) => {
                (State::Stopped, vec![answer_ok(Request::Stop, "stopped")])
            }
            // An operator does not wait out the backoff.
            (
                State::BackingOff { .. },
                Event::Requested(request @ (Request::Start | Request::Restart)),
            ) => {
                self.start_requested = Some(request);
                (State::Spawning { first: false }, vec![Spawn])
            }
            (State::BackingOff { .. }, Event::Requested(_)) => {
                (unchanged, vec![reply_err("no app running")])
            }
            (
                State::BackingOff { .. },
                Event::Spawned { .. }
                | Event::SpawnFailed(_)
                | Event::MainExited { .. }
                | Event::CgroupEmptied
                | Event::DeadlinePassed
                | Event::Probed { .. },
            ) => ignore,

            (
                State::Stopping {
                    main: Some(main),
                    then,
                    ..
                },
                Event::MainExited {
                    pid,
                    status,
                    populated,
                    ..
                },
            ) if pid == main => {
                self.stats.last_exit = Some((status, now));
                if populated {
                    (kill_under_way(then), vec![KillCgroup])
                } else {
                    self.stopped(then)
                }
            }
            (State::Stopping { then, .. }, Event::CgroupEmptied) => self.stopped(then),
            (
                State::Stopping {
                    kill_at: Some(kill_at),
                    then,
                    ..
                },
                Event::DeadlinePassed,
            ) if now >= kill_at => (
                kill_under_way(then),
                vec![Log(Notice::StopTimedOut), KillCgroup],
            ),
            // After a graceful QUIT, a stop request asks for the usual timed stop.
            (
                State::Stopping {
                    main: Some(main),
                    kill_at: None,
                    ..
                },
                Event::Requested(Request::Exit),
            ) => self.stop(main, now, AfterStop::Exit),
            // A second stop request is impatience: kill now rather than at the timeout.
            (
                State::Stopping {
                    kill_at: Some(_), ..
                },
                Event::Requested(Request::Exit),
            ) => (kill_under_way(AfterStop::Exit), vec![KillCgroup]),
            (
                State::Stopping {
                    main: None,
                    kill_at: None,
                    ..
                },
                Event::Requested(Request::Exit),
            ) => (kill_under_way(AfterStop::Exit), Vec::new()),
            // What follows the stop can still change: stop rather than restart, or back.
            (
                State::Stopping {
                    main,
                    kill_at,
                    then: AfterStop::StayStopped | AfterStop::Start,
                },
                Event::Requested(request @ (Request::Stop | Request::Start | Request::Restart)),
            ) => {
                let then = match request {
                    Request::Stop => AfterStop::StayStopped,
                    _ => AfterStop::Start,
                };
                self.start_requested = (then == AfterStop::Start).then_some(request);
                (
                    State::Stopping {
                        main,
                        kill_at,
                        then,
                    },
                    Vec::new(),
                )
            }
            (State::Stopping { .. }, Event::Requested(_)) => {
                (unchanged, vec![reply_err("the app is stopping")])
            }
            // The app is still running while it stops: a HUP or USR1 still means something.
            (
                State::Stopping {
                    main: Some(main), ..
                },
                Event::SignalReceived(signal),
            ) => (unchanged, vec![Forward { signal, to: main }]),
            (
                State::Stopping { .. },
                Event::Spawned { .. }
                | Event::SpawnFailed(_)
                | Event::MainExited { .. }
                | Event::DeadlinePassed
                | Event::Probed { .. },
            ) => ignore,

            (State::Stopped, Event::Requested(request @ (Request::Start | Request::Restart))) => {
                self.start_requested = Some(request);
                (State::Spawning { first: false }, vec![Spawn])
            }
            (State::Stopped, Event::Requested(Request::Stop)) => {
                (unchanged, vec![reply_ok("already stopped")])
            }
            (State::Stopped, Event::Requested(Request::Exit)) => exit(0),
            (State::Stopped, Event::Requested(_)) => {
                (unchanged, vec![reply_err("the app is stopped")])
            }
            (
                State::Stopped,
                Event::Spawned { .. }
                | Event::SpawnFailed(_)
                | Event::MainExited { .. }
                | Event::CgroupEmptied
                | Event::DeadlinePassed
                | Event::Probed { .. },
            ) => ignore,

            (
                State::Switching {
                    main,
                    since,
                    switch,
                },
                event,
            ) => self.while_switching(main, since, switch, event, now),

            (
                State::Spawning { .. }
                | State::Clearing { .. }
                | State::BackingOff { .. }
                | State::Stopping { main: None, .. }
                | State::Stopped,
                Event::SignalReceived(signal),
            ) => (unchanged, vec![Log(Notice::NothingToSignal(signal))]),

            (State::Exited { .. }, _) => ignore,
        }
    }

    /// An operator's request while the app runs.
    fn request_while_running(
        &mut self,
        main: Pid,
        since: Instant,
        request: Request,
        now: Instant,
    ) -> (State, Vec<Action>) {
        match request {
            Request::Stop => self.stop(main, now, AfterStop::StayStopped),
            Request::Restart => {
                self.start_requested = Some(Request::Restart);
                self.stop(main, now, AfterStop::Start)
            }
            Request::Exit => self.stop(main, now, AfterStop::Exit),
            Request::Start => (
                self.state,
                vec![reply_ok(&format!("already running, main PID {main}"))],
            ),
            Request::Upgrade | Request::Reload => {
                let (kind, signal) = match request {
                    Request::Upgrade => (SwitchKind::Upgrade, self.settings.upgrade_signal),
                    _ => (SwitchKind::Reload, self.settings.reload_signal),
                };
                let switch = Switch {
                    kind,
                    seen: None,
                    new: None,
                    deadline: later(now, self.settings.upgrade_timeout),
                    probe_at: later(now, SWITCH_PROBE_INTERVAL),
                };
                (
                    State::Switching {
                        main,
                        since,
                        switch,
                    },
                    vec![
                        Action::Log(Notice::Switching { kind, signal }),
                        Action::BeginSwitch { signal, main },
                    ],
                )
            }
        }
    }

    /// The rows of `Switching`: an upgrade waits for a ready new master, retires the old
    /// one (WINCH, QUIT) and adopts the new one when the old exits; a reload waits for a
    /// new worker. Either is abandoned at its deadline, leaving the old master serving.
    fn while_switching(
        &mut self,
        main: Pid,
        since: Instant,
        switch: Switch,
        event: Event,
        now: Instant,
    ) -> (State, Vec<Action>) {
        let state = |switch| State::Switching {
            main,
            since,
            switch,
        };
        match event {
            Event::DeadlinePassed if now >= switch.deadline => {
                let reason = format!(
                    "no {} within {}s",
                    match switch.kind {
                        SwitchKind::Upgrade => "new master took over",
                        SwitchKind::Reload => "new worker appeared",
                    },
                    self.settings.upgrade_timeout.as_secs_f64()
                );
                self.abandon_switch(main, since, switch, reason)
            }
            Event::DeadlinePassed if now >= switch.probe_at => (
                state(Switch {
                    probe_at: later(now, SWITCH_PROBE_INTERVAL),
                    ..switch
                }),
                vec![Action::Probe { main }],
            ),
            Event::DeadlinePassed => (state(switch), Vec::new()),
            Event::Probed { new, ready } => match (switch.kind, switch.new, new) {
                (SwitchKind::Reload, _, Some(worker)) => (
                    State::Running { main, since },
                    vec![answer_ok(
                        Request::Reload,
                        &format!("reloaded: new worker PID {worker}, main PID {main}"),
                    )],
                ),
                (SwitchKind::Upgrade, None, Some(new)) if ready => {
                    let mut actions = Vec::new();
                    if self.settings.upgrade_winch {
                        actions.push(Action::Forward {
                            signal: Signal::SIGWINCH,
                            to: main,
                        });
                    }
                    actions.push(Action::Forward {
                        signal: Signal::SIGQUIT,
                        to: main,
                    });
                    (
                        state(Switch {
                            new: Some(new),
                            ..switch
                        }),
                        actions,
                    )
                }
                (SwitchKind::Upgrade, None, Some(new)) => (
                    state(Switch {
                        seen: Some(new),
                        ..switch
                    }),
                    Vec::new(),
                ),
                // The new master went away, before it was ready or before the old one left.
                (SwitchKind::Upgrade, expected, seen)
                    if seen.is_none() && (expected.or(switch.seen)).is_some() =>
                {
                    let gone = expected.or(switch.seen).map_or(0, Pid::as_raw);
                    let reason = format!("the new master PID {gone} exited");
                    self.abandon_switch(main, since, switch, reason)
                }
                _ => (state(switch), Vec::new()),
            },
            Event::MainExited {
                pid,
                status,
                successor,
                populated,
            } if pid == main => {
                let (next, mut actions) =
                    self.main_exited(main, since, status, successor, populated, now);
                actions.push(match (next, successor) {
                    (State::Running { .. }, Some(successor)) => answer_ok(
                        switch.request(),
                        &format!("main PID {main} \u{2192} {}", successor.pid()),
                    ),
                    _ => answer_err(
                        switch.request(),
                        &format!("main PID {main} {status} and left no successor"),
                    ),
                });
                (next, actions)
            }
            Event::SignalReceived(signal) => {
                (state(switch), vec![Action::Forward { signal, to: main }])
            }
            Event::Requested(Request::Stop | Request::Restart | Request::Exit) => {
                let then = match event {
                    Event::Requested(Request::Stop) => AfterStop::StayStopped,
                    Event::Requested(Request::Restart) => AfterStop::Start,
                    _ => AfterStop::Exit,
                };
                if then == AfterStop::Start {
                    self.start_requested = Some(Request::Restart);
                }
                let (next, mut actions) = self.stop(main, now, then);
                actions.push(answer_err(
                    switch.request(),
                    "abandoned: the app is stopping",
                ));
                (next, actions)
            }
            Event::Requested(Request::Start) => (
                state(switch),
                vec![reply_ok(&format!("already running, main PID {main}"))],
            ),
            Event::Requested(Request::Upgrade | Request::Reload) => (
                state(switch),
                vec![reply_err(&format!(
                    "an {} is already under way",
                    switch.kind.describe()
                ))],
            ),
            Event::Spawned { .. }
            | Event::SpawnFailed(_)
            | Event::MainExited { .. }
            | Event::CgroupEmptied => (state(switch), Vec::new()),
        }
    }

    /// Gives up a switch: the old master keeps serving (HUP brings its workers back if
    /// WINCH sent them away), and the clients hear why.
    fn abandon_switch(
        &self,
        main: Pid,
        since: Instant,
        switch: Switch,
        reason: String,
    ) -> (State, Vec<Action>) {
        let mut actions = vec![Action::Log(Notice::SwitchFailed {
            kind: switch.kind,
            reason: reason.clone(),
        })];
        if switch.new.is_some() && self.settings.upgrade_winch {
            actions.push(Action::Forward {
                signal: Signal::SIGHUP,
                to: main,
            });
        }
        actions.push(answer_err(switch.request(), &reason));
        (State::Running { main, since }, actions)
    }

    /// The answer for whoever asked for the start that just succeeded or failed.
    fn answer_start(&mut self, outcome: Result<String, String>) -> Option<Action> {
        self.start_requested
            .take()
            .map(|request| Action::Answer { request, outcome })
    }

    /// Nothing of the app is left after a stop: what was asked for follows.
    fn stopped(&self, then: AfterStop) -> (State, Vec<Action>) {
        match then {
            AfterStop::Exit => exit(0),
            AfterStop::StayStopped => (State::Stopped, vec![answer_ok(Request::Stop, "stopped")]),
            AfterStop::Start => (State::Spawning { first: false }, vec![Action::Spawn]),
        }
    }

    fn main_exited(
        &mut self,
        main: Pid,
        since: Instant,
        status: AppStatus,
        successor: Option<Successor>,
        populated: bool,
        now: Instant,
    ) -> (State, Vec<Action>) {
        self.stats.last_exit = Some((status, now));
        if let Some(successor) = successor {
            self.stats.main_pid_changes += 1;
            // The same run goes on under a new PID: a handover is no restart.
            let to = successor.pid();
            let mut actions = vec![
                Action::WatchMain(to),
                Action::Log(Notice::HandedOver {
                    from: main,
                    to: successor,
                }),
            ];
            // A main that failed cannot have retired its own processes; only the
            // successor's tree is the app now (never two instances, section 5).
            if self.settings.policy.classify(status) != ExitKind::Clean {
                actions.push(Action::KillStrays { keep: to });
            }
            return (State::Running { main: to, since }, actions);
        }
        let kind = match self.settings.policy.classify(status) {
            // A clean exit that leaves processes behind without a successor is no clean
            // end: whatever runs now is nobody we can follow (section 5).
            ExitKind::Clean if populated => ExitKind::LostTrack,
            kind => kind,
        };
        let ended = Action::Log(Notice::Ended {
            pid: main,
            status,
            kind,
        });
        if populated {
            // There are never two instances of the app: the rest goes before any restart.
            (
                State::Clearing {
                    status,
                    kind,
                    since,
                },
                vec![
                    ended,
                    Action::Log(Notice::KillingLeftovers),
                    Action::KillCgroup,
                ],
            )
        } else {
            self.decide(status, kind, since, now, vec![ended])
        }
    }

    /// Applies the restart policy to a run that ended; `actions` already says so.
    fn decide(
        &mut self,
        status: AppStatus,
        kind: ExitKind,
        since: Instant,
        now: Instant,
        mut actions: Vec<Action>,
    ) -> (State, Vec<Action>) {
        if !self.settings.policy.restarts(kind) {
            // An exit code of 0 would tell the init system above that all is well.
            let code = match kind {
                ExitKind::LostTrack => 1,
                _ => status.exit_code(),
            };
            actions.push(Action::Exit(code));
            return (State::Exited { code }, actions);
        }
        let backoff = self.settings.backoff;
        self.failures = backoff.failures_after(self.failures, now.saturating_duration_since(since));
        let delay = backoff.delay(self.failures);
        actions.push(Action::Log(Notice::Restarting {
            delay,
            failures: self.failures,
        }));
        if delay.is_zero() {
            actions.push(Action::Spawn);
            (State::Spawning { first: false }, actions)
        } else {
            let until = later(now, delay);
            (State::BackingOff { until }, actions)
        }
    }

    /// After start-up the guardian never dies because of the app (s6): a failed spawn
    /// backs off like a crash. It never restarts at once, because the next spawn would
    /// most likely fail the same way, and it always goes through `BackingOff` so that
    /// the loop polls for a stop between two attempts even with a zero delay limit.
    fn back_off_after_spawn_failure(&mut self, now: Instant) -> (State, Vec<Action>) {
        let backoff = self.settings.backoff;
        self.failures = backoff.failures_after(self.failures, Duration::ZERO);
        let delay = backoff.delay(self.failures.max(2));
        (
            State::BackingOff {
                until: later(now, delay),
            },
            vec![Action::Log(Notice::Restarting {
                delay,
                failures: self.failures,
            })],
        )
    }

    /// The timed stop of section 7: the stop signal, CONT in case the app was stopped
    /// (it could not act on the signal otherwise), and the cgroup kill at the timeout.
    fn stop(&self, main: Pid, now: Instant, then: AfterStop) -> (State, Vec<Action>) {
        let signal = self.settings.stop_signal;
        let mut actions = vec![
            Action::Log(Notice::Stopping { signal }),
            Action::Forward { signal, to: main },
        ];
        if signal != Signal::SIGCONT {
            actions.push(Action::Forward {
                signal: Signal::SIGCONT,
                to: main,
            });
        }
        let state = State::Stopping {
            main: Some(main),
            kill_at: Some(later(now, self.settings.stop_timeout)),
            then,
        };
        (state, actions)
    }
}

/// The stop's last phase: the cgroup is being killed, and `CgroupEmptied` ends it.
fn kill_under_way(then: AfterStop) -> State {
    State::Stopping {
        main: None,
        kill_at: None,
        then,
    }
}

fn reply_ok(message: &str) -> Action {
    Action::Reply {
        outcome: Ok(message.to_owned()),
    }
}

fn reply_err(message: &str) -> Action {
    Action::Reply {
        outcome: Err(message.to_owned()),
    }
}

fn answer_ok(request: Request, message: &str) -> Action {
    Action::Answer {
        request,
        outcome: Ok(message.to_owned()),
    }
}

fn answer_err(request: Request, message: &str) -> Action {
    Action::Answer {
        request,
        outcome: Err(message.to_owned()),
    }
}

fn exit(code: i32) -> (State, Vec<Action>) {
    (State::Exited { code }, vec![Action::Exit(code)])
}

/// `now + delay`, saturating: a limit of years must not panic the guardian.
fn later(now: Instant, delay: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(delay)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    use Action::{Exit, Forward, KillCgroup, Log, Spawn, WatchMain};

    const STOP_TIMEOUT: Duration = Duration::from_secs(10);
    const UPGRADE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Also the delay limit, as by default.
    const STABLE_AFTER: Duration = Duration::from_secs(80);

    fn pid(raw: i32) -> Pid {
        Pid::from_raw(raw)
    }

    fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn restart_on_crash() -> RestartPolicy {
        RestartPolicy {
            on_crash: true,
            ..RestartPolicy::default()
        }
    }

    fn crashed(pid: Pid) -> Event {
        Event::MainExited {
            pid,
            status: AppStatus::Signal(Signal::SIGSEGV),
            successor: None,
            populated: false,
        }
    }

    fn exited(pid: Pid, code: i32) -> Event {
        Event::MainExited {
            pid,
            status: AppStatus::Code(code),
            successor: None,
            populated: false,
        }
    }

    /// A machine driven on a synthetic clock: `at(s)` is `s` seconds after the start.
    struct Scenario {
        machine: Machine,
        base: Instant,
    }

    impl Scenario {
        fn new(policy: RestartPolicy) -> Scenario {
            let settings = Settings {
                policy,
                backoff: Backoff {
                    limit: STABLE_AFTER,
                    stable_after: STABLE_AFTER,
                },
                stop_signal: Signal::SIGTERM,
                stop_timeout: STOP_TIMEOUT,
                upgrade_signal: Signal::SIGUSR2,
                upgrade_timeout: UPGRADE_TIMEOUT,
                upgrade_winch: true,
                reload_signal: Signal::SIGUSR2,
            };
            let (machine, actions) = Machine::start(settings);
            assert_eq!(actions, [Spawn]);
            Scenario {
                machine,
                base: Instant::now(),
            }
        }

        /// Started at second 0 with main PID 100.
        fn running(policy: RestartPolicy) -> Scenario {
            let mut scenario = Scenario::new(policy);
            scenario.handle(Event::Spawned { main: pid(100) }, 0);
            scenario
        }

        fn at(&self, secs: u64) -> Instant {
            self.base + Duration::from_secs(secs)
        }

        fn handle(&mut self, event: Event, secs: u64) -> Vec<Action> {
            let now = self.at(secs);
            self.machine.handle(event, now)
        }

        fn state(&self) -> State {
            self.machine.state()
        }
    }

    fn ended(pid: Pid, status: AppStatus, kind: ExitKind) -> Action {
        Log(Notice::Ended { pid, status, kind })
    }

    fn restarting(delay: u64, failures: u32) -> Action {
        Log(Notice::Restarting {
            delay: secs(delay),
            failures,
        })
    }

    #[test]
    fn runs_what_it_spawned_and_watches_it() {
        let mut scenario = Scenario::new(RestartPolicy::default());
        assert_eq!(scenario.state(), State::Spawning { first: true });
        let actions = scenario.handle(Event::Spawned { main: pid(100) }, 1);
        assert_eq!(
            actions,
            [WatchMain(pid(100)), Log(Notice::Started { pid: pid(100) })]
        );
        let since = scenario.at(1);
        assert_eq!(
            scenario.state(),
            State::Running {
                main: pid(100),
                since
            }
        );
    }

    #[test]
    fn exits_like_a_shell_when_the_first_spawn_fails() {
        for (failure, code) in [
            (SpawnFailure::NotFound, 127),
            (SpawnFailure::NotExecutable, 126),
            (SpawnFailure::Other, 1),
        ] {
            let mut scenario = Scenario::new(restart_on_crash());
            let actions = scenario.handle(Event::SpawnFailed(failure), 0);
            assert_eq!(actions, [Exit(code)]);
            assert_eq!(scenario.state(), State::Exited { code });
        }
    }

    #[test]
    fn restarts_after_crash_with_growing_delay() {
        let mut scenario = Scenario::running(restart_on_crash());
        let segv = AppStatus::Signal(Signal::SIGSEGV);

        let actions = scenario.handle(crashed(pid(100)), 1);
        assert_eq!(
            actions,
            [
                ended(pid(100), segv, ExitKind::Crash),
                restarting(0, 1),
                Spawn
            ]
        );
        assert_eq!(scenario.state(), State::Spawning { first: false });
        scenario.handle(Event::Spawned { main: pid(101) }, 1);

        let actions = scenario.handle(crashed(pid(101)), 2);
        assert_eq!(
            actions,
            [ended(pid(101), segv, ExitKind::Crash), restarting(1, 2)]
        );
        let until = scenario.at(3);
        assert_eq!(scenario.state(), State::BackingOff { until });
        assert_eq!(scenario.handle(Event::DeadlinePassed, 3), [Spawn]);
        scenario.handle(Event::Spawned { main: pid(102) }, 3);

        let actions = scenario.handle(crashed(pid(102)), 4);
        assert_eq!(
            actions,
            [ended(pid(102), segv, ExitKind::Crash), restarting(2, 3)]
        );
        let until = scenario.at(6);
        assert_eq!(scenario.state(), State::BackingOff { until });
    }

    #[test]
    fn comes_back_at_once_after_a_stable_run() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(crashed(pid(100)), 1);
        scenario.handle(Event::Spawned { main: pid(101) }, 1);
        scenario.handle(crashed(pid(101)), 2);
        scenario.handle(Event::DeadlinePassed, 3);
        scenario.handle(Event::Spawned { main: pid(102) }, 3);

        let actions = scenario.handle(crashed(pid(102)), 3 + STABLE_AFTER.as_secs());
        assert_eq!(actions[1..], [restarting(0, 1), Spawn]);
    }

    #[test]
    fn exits_with_the_crash_status_without_restart_on_crash() {
        let mut scenario = Scenario::running(RestartPolicy::default());
        let actions = scenario.handle(crashed(pid(100)), 5);
        let segv = AppStatus::Signal(Signal::SIGSEGV);
        assert_eq!(actions, [ended(pid(100), segv, ExitKind::Crash), Exit(139)]);
        assert_eq!(scenario.state(), State::Exited { code: 139 });
    }

    #[test]
    fn passes_a_success_code_through_without_restart() {
        let policy = RestartPolicy {
            on_error: true,
            on_crash: true,
            success: BTreeSet::from([0, 3]),
        };
        let mut scenario = Scenario::running(policy);
        let actions = scenario.handle(exited(pid(100), 3), 5);
        assert_eq!(
            actions,
            [
                ended(pid(100), AppStatus::Code(3), ExitKind::Clean),
                Exit(3)
            ]
        );
        assert_eq!(scenario.state(), State::Exited { code: 3 });
    }

    #[test]
    fn follows_a_handover_within_the_same_run() {
        let mut scenario = Scenario::running(restart_on_crash());
        // One failure already in the streak, so that the run's length shows in the next.
        scenario.handle(crashed(pid(100)), 1);
        scenario.handle(Event::Spawned { main: pid(101) }, 1);
        let successor = Successor::Cgroup(pid(200));
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(101),
                status: AppStatus::Code(0),
                successor: Some(successor),
                populated: true,
            },
            70,
        );
        assert_eq!(
            actions,
            [
                WatchMain(pid(200)),
                Log(Notice::HandedOver {
                    from: pid(101),
                    to: successor
                })
            ]
        );
        let since = scenario.at(1);
        assert_eq!(
            scenario.state(),
            State::Running {
                main: pid(200),
                since
            }
        );
        // The run began at second 1, not at the handover: by second 81 it was stable, so
        // the streak starts over instead of reaching failure 2.
        let actions = scenario.handle(crashed(pid(200)), 81);
        assert_eq!(actions[1..], [restarting(0, 1), Spawn]);
    }

    #[test]
    fn follows_the_pid_file_even_after_a_crash() {
        let mut scenario = Scenario::running(RestartPolicy::default());
        let successor = Successor::PidFile(pid(300));
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Signal(Signal::SIGSEGV),
                successor: Some(successor),
                populated: true,
            },
            5,
        );
        assert_eq!(actions[0], WatchMain(pid(300)));
        assert_eq!(
            actions.last(),
            Some(&Action::KillStrays { keep: pid(300) }),
            "what the crashed main left beside its successor goes"
        );
        assert!(matches!(scenario.state(), State::Running { main, .. } if main == pid(300)));
    }

    #[test]
    fn kills_the_leftovers_of_a_crash_before_restarting() {
        let mut scenario = Scenario::running(restart_on_crash());
        let segv = AppStatus::Signal(Signal::SIGSEGV);
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: segv,
                successor: None,
                populated: true,
            },
            5,
        );
        assert_eq!(
            actions,
            [
                ended(pid(100), segv, ExitKind::Crash),
                Log(Notice::KillingLeftovers),
                KillCgroup
            ]
        );
        let since = scenario.at(0);
        assert_eq!(
            scenario.state(),
            State::Clearing {
                status: segv,
                kind: ExitKind::Crash,
                since
            }
        );
        assert_eq!(scenario.handle(Event::DeadlinePassed, 6), []);
        let actions = scenario.handle(Event::CgroupEmptied, 6);
        assert_eq!(actions, [restarting(0, 1), Spawn]);
        assert_eq!(scenario.state(), State::Spawning { first: false });
    }

    #[test]
    fn counts_a_clean_exit_that_leaves_strangers_behind_as_lost_track() {
        let leaves_two = Event::MainExited {
            pid: pid(100),
            status: AppStatus::Code(0),
            successor: None,
            populated: true,
        };
        let mut scenario = Scenario::running(RestartPolicy::default());
        let actions = scenario.handle(leaves_two.clone(), 5);
        assert_eq!(
            actions[0],
            ended(pid(100), AppStatus::Code(0), ExitKind::LostTrack)
        );
        assert_eq!(actions[2], KillCgroup);
        // Exit code 1, not the 0 the app gave: the init system above must see a failure.
        assert_eq!(scenario.handle(Event::CgroupEmptied, 6), [Exit(1)]);
        assert_eq!(scenario.state(), State::Exited { code: 1 });

        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(leaves_two, 5);
        assert_eq!(
            scenario.handle(Event::CgroupEmptied, 6),
            [restarting(0, 1), Spawn]
        );
    }

    #[test]
    fn stops_a_running_app_with_the_stop_signal_then_cont() {
        let mut scenario = Scenario::running(restart_on_crash());
        let actions = scenario.handle(Event::Requested(Request::Exit), 5);
        assert_eq!(
            actions,
            [
                Log(Notice::Stopping {
                    signal: Signal::SIGTERM
                }),
                Forward {
                    signal: Signal::SIGTERM,
                    to: pid(100)
                },
                Forward {
                    signal: Signal::SIGCONT,
                    to: pid(100)
                },
            ]
        );
        let kill_at = Some(scenario.at(15));
        assert_eq!(
            scenario.state(),
            State::Stopping {
                then: AfterStop::Exit,
                main: Some(pid(100)),
                kill_at
            }
        );
        // A deliberate death during a stop is no failure and brings no restart.
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Signal(Signal::SIGTERM),
                successor: None,
                populated: false,
            },
            6,
        );
        assert_eq!(actions, [Exit(0)]);
        assert_eq!(scenario.state(), State::Exited { code: 0 });
    }

    #[test]
    fn kills_what_the_main_leaves_behind_when_it_stops() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(Event::Requested(Request::Exit), 5);
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Code(0),
                successor: Some(Successor::Cgroup(pid(200))),
                populated: true,
            },
            6,
        );
        assert_eq!(actions, [KillCgroup]);
        assert_eq!(scenario.state(), kill_under_way(AfterStop::Exit));
        assert_eq!(scenario.handle(Event::CgroupEmptied, 6), [Exit(0)]);
    }

    #[test]
    fn cancels_a_pending_restart_on_stop() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(crashed(pid(100)), 1);
        scenario.handle(Event::Spawned { main: pid(101) }, 1);
        scenario.handle(crashed(pid(101)), 2);
        assert!(matches!(scenario.state(), State::BackingOff { .. }));
        assert_eq!(
            scenario.handle(Event::Requested(Request::Exit), 2),
            [Exit(0)]
        );
        assert_eq!(scenario.state(), State::Exited { code: 0 });
        assert_eq!(scenario.handle(Event::DeadlinePassed, 3), []);
    }

    #[test]
    fn lets_a_cgroup_kill_under_way_finish_on_stop() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Signal(Signal::SIGABRT),
                successor: None,
                populated: true,
            },
            5,
        );
        assert_eq!(scenario.handle(Event::Requested(Request::Exit), 5), []);
        assert_eq!(scenario.state(), kill_under_way(AfterStop::Exit));
        assert_eq!(scenario.machine.deadline(), None);
        assert_eq!(scenario.handle(Event::Requested(Request::Exit), 5), []);
        assert_eq!(scenario.handle(Event::CgroupEmptied, 6), [Exit(0)]);
    }

    #[test]
    fn kills_the_cgroup_when_the_stop_times_out() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(Event::Requested(Request::Exit), 5);
        assert_eq!(scenario.handle(Event::DeadlinePassed, 14), []);
        let actions = scenario.handle(Event::DeadlinePassed, 15);
        assert_eq!(actions, [Log(Notice::StopTimedOut), KillCgroup]);
        assert_eq!(scenario.state(), kill_under_way(AfterStop::Exit));
        assert_eq!(scenario.handle(Event::CgroupEmptied, 15), [Exit(0)]);
    }

    #[test]
    fn kills_at_once_on_a_second_stop_request() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(Event::Requested(Request::Exit), 5);
        assert_eq!(
            scenario.handle(Event::Requested(Request::Exit), 6),
            [KillCgroup]
        );
        assert_eq!(scenario.machine.deadline(), None);
        assert_eq!(scenario.handle(Event::CgroupEmptied, 6), [Exit(0)]);
    }

    #[test]
    fn forwards_quit_as_a_graceful_stop_without_restart() {
        let mut scenario = Scenario::running(restart_on_crash());
        let actions = scenario.handle(Event::SignalReceived(Signal::SIGQUIT), 5);
        assert_eq!(
            actions[1..],
            [Forward {
                signal: Signal::SIGQUIT,
                to: pid(100)
            }]
        );
        assert_eq!(
            scenario.state(),
            State::Stopping {
                then: AfterStop::Exit,
                main: Some(pid(100)),
                kill_at: None
            }
        );
        // Graceful means no timeout: nginx may take as long as its connections need.
        assert_eq!(scenario.machine.deadline(), None);
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Signal(Signal::SIGSEGV),
                successor: None,
                populated: false,
            },
            500,
        );
        assert_eq!(actions, [Exit(0)]);
    }

    #[test]
    fn turns_a_graceful_stop_into_a_timed_one_on_stop_request() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(Event::SignalReceived(Signal::SIGQUIT), 5);
        let actions = scenario.handle(Event::Requested(Request::Exit), 20);
        assert_eq!(
            actions[1],
            Forward {
                signal: Signal::SIGTERM,
                to: pid(100)
            }
        );
        assert_eq!(scenario.machine.deadline(), Some(scenario.at(30)));
        assert_eq!(
            scenario.handle(Event::Requested(Request::Exit), 21),
            [KillCgroup]
        );
    }

    #[test]
    fn forwards_signals_to_the_current_main_after_a_handover() {
        let mut scenario = Scenario::running(restart_on_crash());
        let hup = Event::SignalReceived(Signal::SIGHUP);
        let to_main = |main| {
            [Forward {
                signal: Signal::SIGHUP,
                to: pid(main),
            }]
        };
        assert_eq!(scenario.handle(hup.clone(), 1), to_main(100));
        scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Code(0),
                successor: Some(Successor::PidFile(pid(200))),
                populated: true,
            },
            2,
        );
        assert_eq!(scenario.handle(hup, 3), to_main(200));
    }

    #[test]
    fn has_nothing_to_signal_while_no_app_runs() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(crashed(pid(100)), 1);
        scenario.handle(Event::Spawned { main: pid(101) }, 1);
        scenario.handle(crashed(pid(101)), 2);
        let actions = scenario.handle(Event::SignalReceived(Signal::SIGUSR1), 2);
        assert_eq!(actions, [Log(Notice::NothingToSignal(Signal::SIGUSR1))]);
    }

    #[test]
    fn ignores_the_exit_of_a_process_that_is_no_longer_main() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Code(0),
                successor: Some(Successor::Cgroup(pid(200))),
                populated: true,
            },
            1,
        );
        let before = scenario.state();
        assert_eq!(scenario.handle(crashed(pid(100)), 2), []);
        assert_eq!(scenario.handle(Event::CgroupEmptied, 2), []);
        assert_eq!(scenario.handle(Event::DeadlinePassed, 2), []);
        assert_eq!(scenario.state(), before);
    }

    #[test]
    fn waits_for_the_whole_delay_before_restarting() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(crashed(pid(100)), 1);
        scenario.handle(Event::Spawned { main: pid(101) }, 1);
        scenario.handle(crashed(pid(101)), 2);
        let before = scenario.state();
        assert_eq!(scenario.handle(Event::DeadlinePassed, 2), []);
        assert_eq!(scenario.handle(Event::CgroupEmptied, 2), []);
        assert_eq!(scenario.state(), before);
        assert_eq!(scenario.handle(Event::DeadlinePassed, 3), [Spawn]);
    }

    #[test]
    fn backs_off_when_a_restart_cannot_spawn() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(crashed(pid(100)), 100);
        let failure = SpawnFailure::NotFound;
        // The first failure in a row would restart at once; a spawn failure waits 1 s.
        let actions = scenario.handle(Event::SpawnFailed(failure), 100);
        assert_eq!(actions, [restarting(1, 2)]);
        let until = scenario.at(101);
        assert_eq!(scenario.state(), State::BackingOff { until });
        scenario.handle(Event::DeadlinePassed, 101);
        let actions = scenario.handle(Event::SpawnFailed(failure), 101);
        assert_eq!(actions, [restarting(2, 3)]);
    }

    #[test]
    fn ignores_everything_once_exited() {
        let mut scenario = Scenario::running(RestartPolicy::default());
        scenario.handle(exited(pid(100), 0), 1);
        assert_eq!(scenario.state(), State::Exited { code: 0 });
        for event in [
            Event::Spawned { main: pid(1) },
            Event::SpawnFailed(SpawnFailure::Other),
            crashed(pid(100)),
            Event::CgroupEmptied,
            Event::DeadlinePassed,
            Event::Requested(Request::Exit),
            Event::SignalReceived(Signal::SIGHUP),
        ] {
            assert_eq!(scenario.handle(event, 2), []);
        }
        assert_eq!(scenario.state(), State::Exited { code: 0 });
    }

    #[test]
    fn wakes_up_only_for_a_restart_or_a_stop_timeout() {
        let mut scenario = Scenario::new(restart_on_crash());
        assert_eq!(scenario.machine.deadline(), None);
        scenario.handle(Event::Spawned { main: pid(100) }, 0);
        assert_eq!(scenario.machine.deadline(), None);
        scenario.handle(crashed(pid(100)), 1);
        scenario.handle(Event::Spawned { main: pid(101) }, 1);
        scenario.handle(crashed(pid(101)), 2);
        assert_eq!(scenario.machine.deadline(), Some(scenario.at(3)));
        scenario.handle(Event::DeadlinePassed, 3);
        scenario.handle(Event::Spawned { main: pid(102) }, 3);
        scenario.handle(Event::Requested(Request::Exit), 4);
        assert_eq!(scenario.machine.deadline(), Some(scenario.at(14)));
    }

    #[test]
    fn words_each_notice_to_complete_the_log_prefix() {
        let cases = [
            (Notice::Started { pid: pid(123) }, "started, main PID 123"),
            (
                Notice::HandedOver {
                    from: pid(123),
                    to: Successor::PidFile(pid(456)),
                },
                "main PID 123 \u{2192} 456 (from the pid file)",
            ),
            (
                Notice::HandedOver {
                    from: pid(123),
                    to: Successor::Cgroup(pid(456)),
                },
                "main PID 123 \u{2192} 456 (the one process left in the cgroup)",
            ),
            (
                Notice::Ended {
                    pid: pid(123),
                    status: AppStatus::Signal(Signal::SIGSEGV),
                    kind: ExitKind::Crash,
                },
                "main PID 123 was killed by SIGSEGV (a crash)",
            ),
            (
                Notice::Ended {
                    pid: pid(123),
                    status: AppStatus::Code(0),
                    kind: ExitKind::Clean,
                },
                "main PID 123 exited with code 0",
            ),
            (Notice::KillingLeftovers, "killing what the app left behind"),
            (
                Notice::Restarting {
                    delay: secs(2),
                    failures: 3,
                },
                "restarting in 2s (failure 3 in a row)",
            ),
            (
                Notice::Restarting {
                    delay: Duration::from_millis(1500),
                    failures: 3,
                },
                "restarting in 1.5s (failure 3 in a row)",
            ),
            (
                Notice::Restarting {
                    delay: Duration::ZERO,
                    failures: 1,
                },
                "restarting now",
            ),
            (
                Notice::Stopping {
                    signal: Signal::SIGTERM,
                },
                "stopping: sent SIGTERM to the app",
            ),
            (
                Notice::StopTimedOut,
                "stop timed out: killing the app's cgroup",
            ),
            (
                Notice::NothingToSignal(Signal::SIGHUP),
                "no app running to receive SIGHUP",
            ),
        ];
        for (notice, text) in cases {
            assert_eq!(notice.to_string(), text);
        }
    }

    #[test]
    fn warns_only_about_what_went_wrong() {
        let ended = |kind| Notice::Ended {
            pid: pid(1),
            status: AppStatus::Code(0),
            kind,
        };
        let warnings = [
            ended(ExitKind::Crash),
            ended(ExitKind::Error),
            ended(ExitKind::LostTrack),
            Notice::StopTimedOut,
            Notice::NothingToSignal(Signal::SIGHUP),
        ];
        let news = [
            ended(ExitKind::Clean),
            ended(ExitKind::Deliberate),
            Notice::Started { pid: pid(1) },
            Notice::KillingLeftovers,
            Notice::Restarting {
                delay: Duration::ZERO,
                failures: 1,
            },
            Notice::Stopping {
                signal: Signal::SIGTERM,
            },
        ];
        for notice in warnings {
            assert!(notice.is_warning(), "{notice}");
        }
        for notice in news {
            assert!(!notice.is_warning(), "{notice}");
        }
    }

    fn answered(request: Request, message: &str) -> Action {
        Action::Answer {
            request,
            outcome: Ok(message.to_owned()),
        }
    }

    #[test]
    fn stops_on_request_and_keeps_the_guardian_until_a_start() {
        let mut scenario = Scenario::running(restart_on_crash());
        let actions = scenario.handle(Event::Requested(Request::Stop), 5);
        assert_eq!(
            actions[1..],
            [
                Forward {
                    signal: Signal::SIGTERM,
                    to: pid(100)
                },
                Forward {
                    signal: Signal::SIGCONT,
                    to: pid(100)
                }
            ]
        );
        // A deliberate TERM ends it: no restart, the guardian stays.
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Signal(Signal::SIGTERM),
                successor: None,
                populated: false,
            },
            6,
        );
        assert_eq!(actions, [answered(Request::Stop, "stopped")]);
        assert_eq!(scenario.state(), State::Stopped);
        assert_eq!(
            scenario.machine.deadline(),
            None,
            "a stopped guardian sleeps"
        );

        assert_eq!(
            scenario.handle(Event::Requested(Request::Start), 60),
            [Spawn]
        );
        let actions = scenario.handle(Event::Spawned { main: pid(101) }, 60);
        assert_eq!(
            actions.last(),
            Some(&answered(Request::Start, "started, main PID 101"))
        );
        assert_eq!(scenario.machine.stats().restarts, 1);
    }

    #[test]
    fn restarts_on_request_without_counting_a_failure() {
        let mut scenario = Scenario::running(RestartPolicy::default());
        scenario.handle(Event::Requested(Request::Restart), 5);
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Signal(Signal::SIGTERM),
                successor: None,
                populated: false,
            },
            6,
        );
        assert_eq!(actions, [Spawn], "no policy applies to a requested restart");
        let actions = scenario.handle(Event::Spawned { main: pid(101) }, 6);
        assert_eq!(
            actions.last(),
            Some(&answered(Request::Restart, "started, main PID 101"))
        );
        assert_eq!(scenario.machine.failures, 0);
    }

    #[test]
    fn exit_request_stops_the_app_and_the_guardian() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(Event::Requested(Request::Exit), 5);
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Signal(Signal::SIGTERM),
                successor: None,
                populated: false,
            },
            6,
        );
        assert_eq!(actions, [Exit(0)]);
    }

    #[test]
    fn a_stop_request_during_backoff_cancels_the_restart_and_stays_stopped() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(crashed(pid(100)), 1);
        scenario.handle(Event::Spawned { main: pid(101) }, 1);
        scenario.handle(crashed(pid(101)), 2);
        assert!(matches!(scenario.state(), State::BackingOff { .. }));
        let actions = scenario.handle(Event::Requested(Request::Stop), 2);
        assert_eq!(actions, [answered(Request::Stop, "stopped")]);
        assert_eq!(scenario.state(), State::Stopped);
    }

    fn upgrading() -> Scenario {
        let mut scenario = Scenario::running(restart_on_crash());
        let actions = scenario.handle(Event::Requested(Request::Upgrade), 10);
        assert_eq!(
            actions[1],
            Action::BeginSwitch {
                signal: Signal::SIGUSR2,
                main: pid(100)
            }
        );
        scenario
    }

    #[test]
    fn upgrade_retires_the_old_master_only_once_the_new_one_is_ready() {
        let mut scenario = upgrading();
        let probe_at = scenario.machine.deadline().expect("a probe is due");
        let actions = scenario.machine.handle(Event::DeadlinePassed, probe_at);
        assert_eq!(actions, [Action::Probe { main: pid(100) }]);
        let not_ready = Event::Probed {
            new: Some(pid(200)),
            ready: false,
        };
        assert_eq!(scenario.handle(not_ready, 10), []);
        let ready = Event::Probed {
            new: Some(pid(200)),
            ready: true,
        };
        assert_eq!(
            scenario.handle(ready, 10),
            [
                Forward {
                    signal: Signal::SIGWINCH,
                    to: pid(100)
                },
                Forward {
                    signal: Signal::SIGQUIT,
                    to: pid(100)
                }
            ]
        );
        let actions = scenario.handle(
            Event::MainExited {
                pid: pid(100),
                status: AppStatus::Code(0),
                successor: Some(Successor::Cgroup(pid(200))),
                populated: true,
            },
            11,
        );
        assert_eq!(
            actions.last(),
            Some(&answered(Request::Upgrade, "main PID 100 \u{2192} 200"))
        );
        assert!(matches!(scenario.state(), State::Running { main, .. } if main == pid(200)));
        assert_eq!(scenario.machine.stats().main_pid_changes, 1);
        assert_eq!(scenario.machine.stats().restarts, 0);
    }

    #[test]
    fn an_upgrade_with_no_new_master_is_abandoned_and_the_old_one_keeps_serving() {
        let mut scenario = upgrading();
        let deadline = scenario.at(10) + UPGRADE_TIMEOUT;
        let actions = scenario.machine.handle(Event::DeadlinePassed, deadline);
        assert!(matches!(actions[0], Log(Notice::SwitchFailed { .. })));
        assert!(
            matches!(
                &actions[1],
                Action::Answer {
                    request: Request::Upgrade,
                    outcome: Err(_)
                }
            ),
            "{actions:?}"
        );
        assert_eq!(actions.len(), 2, "no HUP: WINCH was never sent");
        assert!(matches!(scenario.state(), State::Running { main, .. } if main == pid(100)));
    }

    #[test]
    fn an_upgrade_whose_new_master_dies_after_winch_brings_the_old_workers_back() {
        let mut scenario = upgrading();
        scenario.handle(
            Event::Probed {
                new: Some(pid(200)),
                ready: true,
            },
            10,
        );
        let actions = scenario.handle(
            Event::Probed {
                new: None,
                ready: false,
            },
            11,
        );
        assert!(actions.contains(&Forward {
            signal: Signal::SIGHUP,
            to: pid(100)
        }));
    }

    #[test]
    fn an_upgrade_whose_new_master_dies_before_it_is_ready_fails_at_once() {
        let mut scenario = upgrading();
        let seen = Event::Probed {
            new: Some(pid(200)),
            ready: false,
        };
        assert_eq!(scenario.handle(seen, 10), []);
        let gone = Event::Probed {
            new: None,
            ready: false,
        };
        let actions = scenario.handle(gone, 10);
        assert!(
            matches!(
                &actions[..],
                [
                    Log(Notice::SwitchFailed { .. }),
                    Action::Answer {
                        request: Request::Upgrade,
                        outcome: Err(_)
                    }
                ]
            ),
            "{actions:?}"
        );
        assert!(matches!(scenario.state(), State::Running { main, .. } if main == pid(100)));
    }

    #[test]
    fn reload_answers_once_a_new_worker_runs_and_keeps_the_main_pid() {
        let mut scenario = Scenario::running(restart_on_crash());
        scenario.handle(Event::Requested(Request::Reload), 10);
        let actions = scenario.handle(
            Event::Probed {
                new: Some(pid(300)),
                ready: false,
            },
            10,
        );
        assert!(matches!(
            &actions[..],
            [Action::Answer {
                request: Request::Reload,
                outcome: Ok(_)
            }]
        ));
        assert!(matches!(scenario.state(), State::Running { main, .. } if main == pid(100)));
    }

    #[test]
    fn refuses_a_second_upgrade_to_its_asker_alone() {
        let mut scenario = upgrading();
        let actions = scenario.handle(Event::Requested(Request::Upgrade), 10);
        // A `Reply`, not an `Answer`: whoever waits for the first upgrade keeps waiting.
        assert!(
            matches!(&actions[..], [Action::Reply { outcome: Err(_) }]),
            "{actions:?}"
        );
        assert!(matches!(scenario.state(), State::Switching { .. }));
    }
}
