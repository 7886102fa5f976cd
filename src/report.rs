//! What the guardian says about itself: the `/status` and `/metrics` answers, made from
//! the machine, the cgroup and the configuration. Only reading: it changes nothing.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nix::unistd::Pid;

use crate::cgroup::{AppCgroup, Version};
use crate::config::Config;
use crate::policy::AppStatus;
use crate::protocol::{LastExit, Metrics, Status};
use crate::state::{Machine, State, SwitchKind};

/// The name of a state on the wire.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Spawning { .. } => "starting",
        State::Running { .. } => "running",
        State::Clearing { .. } => "clearing",
        State::BackingOff { .. } => "backing_off",
        State::Stopping { .. } => "stopping",
        State::Stopped => "stopped",
        State::Switching { switch, .. } => match switch.kind {
            SwitchKind::Upgrade => "upgrading",
            SwitchKind::Reload => "reloading",
        },
        State::Exited { .. } => "exited",
    }
}

/// The main process, in the states that have one.
pub fn main_pid(state: State) -> Option<Pid> {
    match state {
        State::Running { main, .. } | State::Switching { main, .. } => Some(main),
        State::Stopping { main, .. } => main,
        State::Spawning { .. }
        | State::Clearing { .. }
        | State::BackingOff { .. }
        | State::Stopped
        | State::Exited { .. } => None,
    }
}

fn run_started(state: State) -> Option<Instant> {
    match state {
        State::Running { since, .. } | State::Switching { since, .. } => Some(since),
        _ => None,
    }
}

/// An `Instant` as seconds since the epoch (the wire speaks wall-clock time).
fn wall_clock(at: Instant, now: Instant) -> f64 {
    let wall_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    wall_now - now.saturating_duration_since(at).as_secs_f64()
}

pub fn status(config: &Config, machine: &Machine, cgroup: &AppCgroup, now: Instant) -> Status {
    let state = machine.state();
    let stats = machine.stats();
    let command = std::iter::once(config.program.as_os_str())
        .chain(config.args.iter().map(|arg| arg.as_os_str()))
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    Status {
        name: config.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        state: state_name(state).to_owned(),
        main_pid: main_pid(state).map(Pid::as_raw),
        guardian_pid: Pid::this().as_raw(),
        uptime_seconds: run_started(state)
            .map(|since| now.saturating_duration_since(since).as_secs_f64()),
        command,
        restarts: stats.restarts,
        main_pid_changes: stats.main_pid_changes,
        last_exit: stats.last_exit.map(|(status, at)| LastExit {
            code: match status {
                AppStatus::Code(code) => Some(code),
                AppStatus::Signal(_) | AppStatus::Unknown => None,
            },
            signal: match status {
                AppStatus::Signal(signal) => Some(signal.as_str().to_owned()),
                AppStatus::Code(_) | AppStatus::Unknown => None,
            },
            at: wall_clock(at, now),
        }),
        cgroup: cgroup.dir().display().to_string(),
        cgroup_version: match cgroup.version() {
            Version::V1 => 1,
            Version::V2 => 2,
        },
        pids: cgroup
            .pids()
            .unwrap_or_default()
            .into_iter()
            .map(Pid::as_raw)
            .collect(),
        backoff_seconds: match state {
            State::BackingOff { until } => Some(until.saturating_duration_since(now).as_secs_f64()),
            _ => None,
        },
    }
}

pub fn metrics(config: &Config, machine: &Machine, cgroup: &AppCgroup, now: Instant) -> Metrics {
    let state = machine.state();
    let stats = machine.stats();
    let usage = cgroup.usage();
    Metrics {
        name: config.name.clone(),
        up: main_pid(state).is_some(),
        state: state_name(state).to_owned(),
        restarts: stats.restarts,
        main_pid: main_pid(state).map(Pid::as_raw),
        main_pid_changes: stats.main_pid_changes,
        last_exit_code: stats.last_exit.map(|(status, _)| status.exit_code()),
        start_time_seconds: run_started(state).map(|since| wall_clock(since, now)),
        memory_current_bytes: usage.memory_bytes,
        cpu_usage_seconds: usage.cpu_seconds,
        pids_current: usage.pids,
    }
}
