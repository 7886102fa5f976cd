//! The poll loop: turns file descriptors into [`Event`]s for the state machine and carries
//! out the [`Action`]s it returns (DESIGN.md section 3).
//!
//! One thread, one poll(2) over the signalfd, the main process's pidfd, (v2) the
//! cgroup's `cgroup.events` and the control socket with its connections, with one
//! timeout: the earliest deadline. An idle guardian never wakes up, and before a quiet
//! wait it hands back the memory it does not need while asleep (src/footprint.rs). The
//! loop owns every syscall of the running guardian; the machine owns every decision.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rustix::process::{PidfdFlags, pidfd_open, pidfd_send_signal};

use crate::cgroup::{AppCgroup, Version};
use crate::config::Config;
use crate::control::{ConnectionId, ControlSocket};
use crate::detach::Detached;
use crate::footprint::Footprint;
use crate::instance_lock::InstanceLock;
use crate::log::Log;
use crate::main_pid::{HintRejection, choose_successor, read_members, read_pid_hint, strays};
use crate::policy::{AppStatus, ExitKind};
use crate::protocol::{CommandReply, Request as WireRequest, Response, render_metrics};
use crate::reexec::{self, Resume};
use crate::report;
use crate::signals::{Incoming, Signals};
use crate::spawn::Spawner;
use crate::state::{Action, Event, Machine, Request, State, Stats};

/// On v1 there is no `cgroup.kill`: a process may fork between our read of
/// `cgroup.procs` and the kill, so a kill under way is repeated this often until the
/// cgroup is empty. Only while killing; an idle guardian never wakes.
const V1_KILL_RETRY: Duration = Duration::from_millis(100);

/// The loop hands back the memory it does not need (src/footprint.rs) before a wait with
/// nothing due for at least this long and no client connected: then the next wake-up is
/// rare, and the few that come close together (the steps of a restart, a client's
/// request and answer) do not each map the code back in.
const QUIET_WAIT: Duration = Duration::from_secs(1);

/// The process the machine calls the main one.
struct MainProcess {
    pid: Pid,
    /// Tells us when it exits even if it is not our child, and lets signals reach it
    /// without the risk of a recycled PID.
    pidfd: OwnedFd,
}

/// How the loop begins.
pub enum Start {
    /// A new app.
    Spawn,
    /// An app that already runs (its guardian died, or this one re-executed itself):
    /// `main` is its main process, `stats` and `run` what is known of it so far.
    Adopt {
        main: Pid,
        stats: Stats,
        run: Duration,
    },
}

/// What the set-up made for the loop.
pub struct Setup<'a> {
    pub cgroup: &'a AppCgroup,
    pub signals: Signals,
    pub detached: Option<Detached>,
    /// The name lock: a `reexec` hands it to the new image.
    pub lock: &'a InstanceLock,
    pub start: Start,
}

/// Runs the app until the machine says to exit; returns the guardian's exit code.
pub fn run(config: &Config, log: &Log, setup: Setup, control: ControlSocket) -> Result<i32> {
    let cgroup = setup.cgroup;
    let spawner = Spawner::new(
        config,
        cgroup.open_procs_for_entry()?,
        cgroup.open_dir_for_clone()?,
        cgroup.open_freezer_procs_for_entry()?,
    )?;
    let adopted = matches!(setup.start, Start::Adopt { .. });
    let (machine, actions) = match setup.start {
        Start::Spawn => Machine::start(config.settings.clone()),
        Start::Adopt { main, stats, run } => {
            let now = Instant::now();
            let since = now.checked_sub(run).unwrap_or(now);
            Machine::adopt(config.settings.clone(), main, stats, since)
        }
    };
    let mut event_loop = EventLoop {
        config,
        log,
        cgroup,
        cgroup_events: cgroup.open_events()?,
        signals: setup.signals,
        control,
        spawner,
        machine,
        main: None,
        switch_children: Vec::new(),
        killing: false,
        detached: setup.detached,
        asking: None,
        lock: setup.lock,
        guardian: Pid::this(),
        footprint: match Footprint::of_this_process() {
            Ok(footprint) => Some(footprint),
            Err(error) => {
                log.warning(format_args!(
                    "memory is not handed back while idle: {error}"
                ));
                None
            }
        },
        exit: None,
    };
    event_loop.carry_out(actions)?;
    if adopted && let Some(detached) = event_loop.detached.take() {
        detached.report_started()?;
    }
    while event_loop.exit.is_none() {
        event_loop.wait_and_dispatch()?;
    }
    event_loop.reap_children();
    event_loop.control.flush();
    Ok(event_loop.exit.unwrap_or(1))
}

struct EventLoop<'a> {
    config: &'a Config,
    log: &'a Log,
    cgroup: &'a AppCgroup,
    cgroup_events: Option<OwnedFd>,
    signals: Signals,
    control: ControlSocket,
    spawner: Spawner,
    machine: Machine,
    main: Option<MainProcess>,
    /// The main process's children when a switch began: a new master is a child not
    /// among them.
    switch_children: Vec<Pid>,
    /// A `KillCgroup` is under way and the cgroup is not empty yet.
    killing: bool,
    /// With `-f`: the shell waiting for the first start.
    detached: Option<Detached>,
    /// The connection whose request is being dispatched: a `Reply` goes to it.
    asking: Option<ConnectionId>,
    lock: &'a InstanceLock,
    guardian: Pid,
    /// None where /proc could not show what to hand back.
    footprint: Option<Footprint>,
    exit: Option<i32>,
}

impl EventLoop<'_> {
    /// Sleeps until something happens or the deadline passes, then feeds the machine
    /// every event that happened, in order: exits first (so the state is current), then
    /// signals, then the cgroup, then the deadline.
    fn wait_and_dispatch(&mut self) -> Result<()> {
        let ready = self.wait()?;
        let now = Instant::now();
        let incoming = if ready.signals {
            self.signals.drain()?
        } else {
            Vec::new()
        };
        let status = match self.reap_children() {
            Some(status) => Some(status),
            // Readable pidfd but nothing of ours reaped: it was not our child.
            None if ready.main => Some(AppStatus::Unknown),
            None => None,
        };
        if let Some(status) = status
            && let Some(main) = self.main.take()
        {
            self.main_exited(main.pid, status, now)?;
        }
        for signal in incoming {
            match signal {
                Incoming::ChildExited => {}
                Incoming::Stop => self.dispatch(Event::Requested(Request::Exit), now)?,
                Incoming::Forward(signal) => self.dispatch(Event::SignalReceived(signal), now)?,
            }
        }
        if self.awaits_empty_cgroup() {
            self.check_cgroup_emptied(now)?;
        }
        if self
            .machine
            .deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            self.dispatch(Event::DeadlinePassed, now)?;
        }
        for (connection, request) in self.control.serve(&ready.control, now) {
            self.handle_request(connection, request, now)?;
        }
        Ok(())
    }

    /// A request from the control socket. Questions are answered at once; commands go to
    /// the machine, and their clients wait for its `Answer`.
    fn handle_request(
        &mut self,
        connection: ConnectionId,
        request: WireRequest,
        now: Instant,
    ) -> Result<()> {
        let command = match request {
            WireRequest::Status => {
                let status = self.status(now);
                self.control
                    .answer(connection, &Response::json(200, &status));
                return Ok(());
            }
            WireRequest::Metrics => {
                let metrics = report::metrics(self.config, &self.machine, self.cgroup, now);
                self.control
                    .answer(connection, &Response::metrics(render_metrics(&metrics)));
                return Ok(());
            }
            WireRequest::Signal(signal) => {
                let Some(main) = report::main_pid(self.machine.state()) else {
                    self.control.answer(
                        connection,
                        &Response::refusal(409, "not_running", "no app running to signal"),
                    );
                    return Ok(());
                };
                self.dispatch(Event::SignalReceived(signal), now)?;
                let message = format!("sent {} to PID {main}", signal.as_str());
                self.reply(connection, 200, message, now);
                return Ok(());
            }
            // Answered before it happens: once the guardian has exited, nobody could.
            WireRequest::Exit => {
                self.reply(connection, 202, "exiting".to_owned(), now);
                return self.dispatch(Event::Requested(Request::Exit), now);
            }
            WireRequest::Reexec => {
                self.reexec(connection, now);
                return Ok(());
            }
            WireRequest::Stop => Request::Stop,
            WireRequest::Start => Request::Start,
            WireRequest::Restart => Request::Restart,
            WireRequest::Upgrade => Request::Upgrade,
            WireRequest::Reload => Request::Reload,
        };
        self.control.wait_for(connection, command);
        // A `Reply` during this dispatch is for this connection alone.
        self.asking = Some(connection);
        let outcome = self.dispatch(Event::Requested(command), now);
        self.asking = None;
        outcome
    }

    /// Executes the guardian's binary again, handing over the app (see `reexec`). Only
    /// with a running app: a stop, a backoff or an upgrade under way would be lost.
    fn reexec(&mut self, connection: ConnectionId, now: Instant) {
        let State::Running { main, since } = self.machine.state() else {
            let message = "re-exec needs a running app (not starting, stopping or switching)";
            self.control
                .answer(connection, &Response::refusal(409, "busy", message));
            return;
        };
        let resume = Resume {
            main: main.as_raw(),
            lock_fd: self.lock.raw_fd(),
            stats: self.machine.stats(),
            run_seconds: now.saturating_duration_since(since).as_secs_f64(),
        };
        let (program, argv) = &self.config.own_command;
        self.reply(
            connection,
            202,
            format!("re-executing {}", program.display()),
            now,
        );
        self.control.flush();
        self.log
            .info(format_args!("re-executing {}", program.display()));
        let errno = reexec::exec(program, argv, &resume);
        self.log.warning(format_args!(
            "unable to re-execute {}: {}",
            program.display(),
            errno.desc()
        ));
    }

    /// A command's answer: 200 with what happened and the status after, or 409 and why.
    fn command_response(&self, outcome: Result<String, String>) -> Response {
        match outcome {
            Ok(message) => Response::json(
                200,
                &CommandReply {
                    ok: true,
                    message,
                    status: self.status(Instant::now()),
                },
            ),
            Err(message) => Response::refusal(409, "refused", &message),
        }
    }

    fn status(&self, now: Instant) -> crate::protocol::Status {
        report::status(self.config, &self.machine, self.cgroup, now)
    }

    fn reply(&mut self, connection: ConnectionId, code: u16, message: String, now: Instant) {
        let reply = CommandReply {
            ok: true,
            message,
            status: self.status(now),
        };
        self.control
            .answer(connection, &Response::json(code, &reply));
    }

    fn wait(&mut self) -> Result<Ready> {
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        if let Some(main) = &self.main {
            fds.push(PollFd::new(main.pidfd.as_fd(), PollFlags::POLLIN));
        }
        if let Some(events) = &self.cgroup_events {
            fds.push(PollFd::new(events.as_fd(), PollFlags::POLLPRI));
        }
        let control_from = fds.len();
        for (fd, writing) in self.control.poll_fds() {
            let flags = if writing {
                PollFlags::POLLOUT
            } else {
                PollFlags::POLLIN
            };
            fds.push(PollFd::new(fd, flags));
        }
        // One reading of the clock, before the release (which makes the timeout a little
        // late, never early), so that between the release and the sleep runs as little
        // code as can be: what runs there is mapped back at once. The first quiet wait
        // also hands back what the set-up used.
        let now = Instant::now();
        let deadline = self.next_deadline(now);
        let quiet = self.control.has_no_clients()
            && deadline.is_none_or(|at| at.saturating_duration_since(now) >= QUIET_WAIT);
        let timeout = poll_timeout(deadline, now);
        if quiet && let Some(footprint) = &mut self.footprint {
            footprint.release();
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno).context("failed to poll"),
        }
        let fired = |fd: &PollFd| fd.any().unwrap_or(false);
        let events_fired = self.cgroup_events.is_some() && fired(&fds[control_from - 1]);
        let ready = Ready {
            signals: fired(&fds[0]),
            main: self.main.is_some() && fired(&fds[1]),
            control: fds[control_from..].iter().map(fired).collect(),
        };
        drop(fds);
        if events_fired && let Some(events) = &self.cgroup_events {
            // kernfs keeps POLLPRI raised until the file is read again from its start
            // (kernel doc cgroup-v2.rst, "cgroup.events"; kernfs_notify): without this read
            // poll returns at once, forever, and an idle guardian spins.
            let mut buffer = [0u8; 64];
            let _ = rustix::io::pread(events, &mut buffer, 0);
        }
        Ok(ready)
    }

    /// The earliest moment the loop must wake without an event, if any.
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut deadlines = vec![self.machine.deadline(), self.control.deadline()];
        if self.killing && self.cgroup.version() == Version::V1 {
            deadlines.push(Some(now + V1_KILL_RETRY));
        }
        deadlines.into_iter().flatten().min()
    }

    /// Reaps every child that has exited (we are a subreaper: orphans of the app are
    /// ours too, and none may stay a zombie). Returns the main process's status if it
    /// was among them.
    fn reap_children(&mut self) -> Option<AppStatus> {
        let main = self.main.as_ref().map(|main| main.pid);
        let mut main_status = None;
        loop {
            let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, AppStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, AppStatus::Signal(signal)),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return main_status,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(errno) => {
                    self.log
                        .warning(format_args!("unable to reap children: {}", errno.desc()));
                    return main_status;
                }
            };
            if Some(pid) == main {
                main_status = Some(status);
            }
        }
    }

    /// Gathers the facts about a main process's exit (who is left in the cgroup, what the
    /// `-P` file says) and lets the machine decide.
    fn main_exited(&mut self, pid: Pid, status: AppStatus, now: Instant) -> Result<()> {
        let members = self
            .cgroup
            .pids()
            .map_err(anyhow::Error::from)
            .and_then(|pids| read_members(&pids));
        let members = match members {
            Ok(members) => Some(members),
            Err(error) => {
                self.log.warning(format_args!(
                    "unable to list the app's processes: {error:#}"
                ));
                None
            }
        };
        // Unreadable membership counts as populated with no successor: the rest is killed
        // rather than risk a second instance.
        let populated = members.as_ref().is_none_or(|members| {
            members
                .iter()
                .any(|member| !member.zombie && member.pid != pid)
        });
        // Only a running app hands over; during a stop the app removing its pid file is
        // no news worth a warning.
        let running = matches!(
            self.machine.state(),
            State::Running { .. } | State::Switching { .. }
        );
        let hint = (self.config.main_pidfile.as_deref())
            .filter(|_| running)
            .map(read_pid_hint);
        let clean = self.config.settings.policy.classify(status) == ExitKind::Clean;
        let choice = choose_successor(
            pid,
            clean,
            hint,
            members.as_deref().unwrap_or(&[]),
            self.guardian,
        );
        if let (Some(rejection), Some(path)) = (&choice.rejected_hint, &self.config.main_pidfile) {
            let message = format_args!("ignoring the pid file {}: {rejection}", path.display());
            // nginx writes its pid file only after its first process exits: a file not yet
            // written (or not yet rewritten) is no news when the cgroup named the successor.
            let benign = matches!(
                rejection,
                HintRejection::Missing | HintRejection::JustExited(_)
            );
            if benign && choice.successor.is_some() {
                self.log.info(message);
            } else {
                self.log.warning(message);
            }
        }
        let event = Event::MainExited {
            pid,
            status,
            successor: choice.successor,
            populated,
        };
        self.dispatch(event, now)
    }

    fn awaits_empty_cgroup(&self) -> bool {
        self.killing
            || matches!(
                self.machine.state(),
                State::Clearing { .. } | State::Stopping { main: None, .. }
            )
    }

    fn check_cgroup_emptied(&mut self, now: Instant) -> Result<()> {
        match self.cgroup.is_populated() {
            Ok(false) => {
                self.killing = false;
                self.dispatch(Event::CgroupEmptied, now)
            }
            Ok(true) => {
                if self.killing && self.cgroup.version() == Version::V1 {
                    self.kill_cgroup();
                }
                Ok(())
            }
            Err(error) => {
                self.log
                    .warning(format_args!("unable to read the app's cgroup: {error}"));
                Ok(())
            }
        }
    }

    fn dispatch(&mut self, event: Event, now: Instant) -> Result<()> {
        let actions = self.machine.handle(event, now);
        self.carry_out(actions)
    }

    fn carry_out(&mut self, actions: Vec<Action>) -> Result<()> {
        for action in actions {
            match action {
                Action::Spawn => self.spawn()?,
                Action::WatchMain(pid) => self.watch_main(pid)?,
                Action::Forward { signal, to } => self.forward(signal, to),
                Action::KillCgroup => {
                    self.killing = true;
                    self.kill_cgroup();
                }
                Action::KillStrays { keep } => self.kill_strays(keep),
                Action::Log(notice) if notice.is_warning() => self.log.warning(notice),
                Action::Log(notice) => self.log.info(notice),
                Action::Exit(code) => self.exit = Some(code),
                Action::BeginSwitch { signal, main } => {
                    self.switch_children = self.children_of(main);
                    self.forward(signal, main);
                }
                Action::Probe { main } => {
                    let (new, ready) = self.probe_switch(main);
                    self.dispatch(Event::Probed { new, ready }, Instant::now())?;
                }
                Action::Reply { outcome } => {
                    let response = self.command_response(outcome);
                    if let Some(connection) = self.asking.take() {
                        self.control.answer(connection, &response);
                    }
                }
                Action::Answer { request, outcome } => {
                    let response = self.command_response(outcome);
                    self.control.answer_all(request, &response);
                }
            }
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<()> {
        let now = Instant::now();
        match self.spawner.spawn() {
            Ok(spawned) => {
                let pidfd = match spawned.pidfd {
                    Some(pidfd) => pidfd,
                    None => open_pidfd(spawned.pid).with_context(|| {
                        format!("failed to open a pidfd for PID {}", spawned.pid)
                    })?,
                };
                self.main = Some(MainProcess {
                    pid: spawned.pid,
                    pidfd,
                });
                if let Some(detached) = self.detached.take() {
                    detached.report_started()?;
                }
                self.dispatch(Event::Spawned { main: spawned.pid }, now)
            }
            Err(error) => {
                let message =
                    format_args!("unable to start {}: {error}", self.config.program.display());
                // The first start failing ends the guardian (127, 126 or 1); later ones back off.
                if self.machine.state() == (State::Spawning { first: true }) {
                    self.log.fatal(message);
                } else {
                    self.log.warning(message);
                }
                self.dispatch(Event::SpawnFailed(error.failure()), now)
            }
        }
    }

    /// Watches a successor. Its pidfd is opened first and its membership checked after,
    /// so the pidfd cannot name a recycled PID outside the cgroup.
    fn watch_main(&mut self, pid: Pid) -> Result<()> {
        if self.main.as_ref().is_some_and(|main| main.pid == pid) {
            return Ok(());
        }
        let watched = open_pidfd(pid).ok().filter(|_| {
            self.cgroup
                .pids()
                .is_ok_and(|members| members.contains(&pid))
        });
        match watched {
            Some(pidfd) => {
                self.main = Some(MainProcess { pid, pidfd });
                Ok(())
            }
            None => {
                // Gone between the choice and now, and not our child (ours would still be
                // a zombie): its status is lost.
                self.main = None;
                self.main_exited(pid, AppStatus::Unknown, Instant::now())
            }
        }
    }

    fn forward(&self, signal: nix::sys::signal::Signal, to: Pid) {
        let Some(main) = self.main.as_ref().filter(|main| main.pid == to) else {
            return;
        };
        let signal_number = rustix::process::Signal::from_named_raw(signal as i32);
        let sent = signal_number.map_or(Err(rustix::io::Errno::INVAL), |number| {
            pidfd_send_signal(&main.pidfd, number)
        });
        match sent {
            // ESRCH: it has just exited; its SIGCHLD or pidfd is on the way (tini does
            // the same).
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(errno) => self.log.warning(format_args!(
                "unable to send {} to PID {to}: {errno}",
                signal.as_str()
            )),
        }
    }

    /// SIGKILL to the strays of the cgroup. Each is opened as a pidfd first and killed
    /// only if the cgroup still lists it afterwards, so a PID recycled meanwhile by a
    /// process outside the cgroup is never hit.
    fn kill_strays(&self, keep: Pid) {
        let strays = self
            .cgroup
            .pids()
            .map_err(anyhow::Error::from)
            .and_then(|pids| read_members(&pids))
            .map(|members| strays(&members, keep));
        let strays = match strays {
            Ok(strays) => strays,
            Err(error) => {
                self.log.warning(format_args!(
                    "unable to list the app's processes: {error:#}"
                ));
                return;
            }
        };
        let opened: Vec<(Pid, OwnedFd)> = strays
            .into_iter()
            .filter_map(|pid| open_pidfd(pid).ok().map(|pidfd| (pid, pidfd)))
            .collect();
        let still_members = self.cgroup.pids().unwrap_or_default();
        for (pid, pidfd) in opened {
            if still_members.contains(&pid) {
                self.log.info(format_args!(
                    "killing PID {pid}, left behind by the failed main process"
                ));
                let _ = pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
            }
        }
    }

    /// The live children of `parent` in the app's cgroup.
    fn children_of(&self, parent: Pid) -> Vec<Pid> {
        self.members()
            .iter()
            .filter(|m| m.parent == parent && !m.zombie)
            .map(|m| m.pid)
            .collect()
    }

    fn members(&self) -> Vec<crate::main_pid::Member> {
        self.cgroup
            .pids()
            .map_err(anyhow::Error::from)
            .and_then(|pids| read_members(&pids))
            .unwrap_or_default()
    }

    /// During a switch: a child of the main process that was not there when it began,
    /// and whether it is ready (it has children of its own, and the `-P` file, if any,
    /// names it). With several new children the `-P` file decides, or the one with
    /// children: nginx's new master forks its workers once its configuration is good.
    fn probe_switch(&self, main: Pid) -> (Option<Pid>, bool) {
        let members = self.members();
        let new: Vec<Pid> = members
            .iter()
            .filter(|m| m.parent == main && !m.zombie && !self.switch_children.contains(&m.pid))
            .map(|m| m.pid)
            .collect();
        let named = self
            .config
            .main_pidfile
            .as_deref()
            .and_then(|path| read_pid_hint(path).ok());
        let has_children = |pid: Pid| members.iter().any(|m| m.parent == pid && !m.zombie);
        let candidate = named
            .filter(|pid| new.contains(pid))
            .or_else(|| new.iter().copied().find(|pid| has_children(*pid)))
            .or_else(|| new.first().copied());
        let ready = candidate.is_some_and(|pid| {
            has_children(pid) && (self.config.main_pidfile.is_none() || named == Some(pid))
        });
        (candidate, ready)
    }

    fn kill_cgroup(&self) {
        if let Err(error) = self.cgroup.kill_all() {
            self.log
                .warning(format_args!("unable to kill the app's cgroup: {error}"));
        }
    }
}

struct Ready {
    signals: bool,
    main: bool,
    /// The control socket's descriptors, in the order of `ControlSocket::poll_fds`.
    control: Vec<bool>,
}

/// poll(2)'s timeout for `deadline`, seen at `now`, rounded up, so the loop never wakes a
/// moment early and spins.
fn poll_timeout(deadline: Option<Instant>, now: Instant) -> PollTimeout {
    let Some(deadline) = deadline else {
        return PollTimeout::NONE;
    };
    let wait = deadline.saturating_duration_since(now);
    let millis = wait.as_micros().div_ceil(1000);
    PollTimeout::try_from(i32::try_from(millis).unwrap_or(i32::MAX)).unwrap_or(PollTimeout::MAX)
}

fn open_pidfd(pid: Pid) -> Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid.as_raw())
        .ok_or_else(|| anyhow::anyhow!("PID {pid} is not a process"))?;
    Ok(pidfd_open(pid, PidfdFlags::empty())?)
}
