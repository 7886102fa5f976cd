//! `supervisor`: keeps one application alive in its own cgroup and always knows its real
//! main PID. This file is the table of contents: parse, set up, run, map the outcome to
//! an exit code in one place (DESIGN.md section 9).

mod backoff;
mod cgroup;
mod cli;
mod client;
mod clone;
mod config;
mod control;
mod credentials;
mod detach;
mod event_loop;
mod footprint;
mod instance_lock;
mod log;
mod main_pid;
mod pidfile;
mod placement;
mod policy;
mod protocol;
mod reexec;
mod report;
mod signals;
mod spawn;
mod state;
mod values;

use anyhow::{Context, Result, bail};
use clap::Parser;

use std::path::PathBuf;
use std::time::Duration;

use nix::unistd::Pid;

use crate::cgroup::{AppCgroup, CgroupError, Hierarchy, Version};
use crate::cli::Cli;
use crate::config::Config;
use crate::control::ControlSocket;
use crate::event_loop::{Setup, Start};
use crate::instance_lock::InstanceLock;
use crate::log::Log;
use crate::main_pid::{choose_adoptee, read_members, read_pid_hint};
use crate::pidfile::PidFile;
use crate::placement::Placement;
use crate::reexec::Resume;
use crate::signals::Signals;
use crate::state::Stats;

/// A runtime failure of the guardian itself (not of the app).
const EXIT_FAILURE: i32 = 1;

fn main() {
    // Before anything else: the new image of a `reexec` resumes from the environment.
    let resume = reexec::take_from_env();
    // The binary's path now, before a package upgrade can replace the file under it.
    let own_command = (
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
        std::env::args_os().collect(),
    );
    // clap prints usage errors and exits 2 itself; --help and --version exit 0.
    let mut cli = Cli::parse();
    if let Some(command) = cli.client.take() {
        std::process::exit(client::run(command));
    }
    let config = match Config::from_cli(cli, own_command) {
        Ok(config) => config,
        Err(error) => {
            let ident = error.name.as_deref().map(|name| format!("[{name}]"));
            eprintln!("supervisor{}: fatal: {error}", ident.unwrap_or_default());
            std::process::exit(error.exit_code());
        }
    };
    // Detach first: the log names the guardian's PID, which is the child's. A resumed
    // guardian is detached already.
    let fork = config.fork && resume.is_none();
    let detached = match fork.then(detach::detach).transpose() {
        Ok(detached) => detached,
        Err(error) => {
            eprintln!("supervisor[{}]: fatal: {error:#}", config.name);
            std::process::exit(EXIT_FAILURE);
        }
    };
    let log = Log::new(&config.name, config.verbosity, &config.log_target);
    let code = run(&config, &log, detached, resume).unwrap_or_else(|error| {
        log.fatal(format_args!("{error:#}"));
        EXIT_FAILURE
    });
    std::process::exit(code);
}

/// Sets the guardian up in order (each step relies on the ones before), runs the app
/// until the end, and undoes the set-up in reverse, whatever the outcome.
fn run(
    config: &Config,
    log: &Log,
    detached: Option<detach::Detached>,
    resume: Option<Resume>,
) -> Result<i32> {
    // Before anything is spawned, so no SIGCHLD or SIGTERM is lost.
    let signals = Signals::block_and_open()?;
    let lock = match &resume {
        Some(resume) => InstanceLock::inherited(resume.lock_fd)?,
        None => InstanceLock::acquire(&config.name)?,
    };
    // Orphans of the app become our children, so we can reap them and follow a daemon
    // whose parent exited (prctl(2), PR_SET_CHILD_SUBREAPER).
    nix::sys::prctl::set_child_subreaper(true).context("failed to become a child subreaper")?;
    let hierarchy = Hierarchy::detect()?;
    let placement = Placement::choose(&hierarchy, config.cgroup.as_deref(), &config.name)?;
    let guardian_cgroup = placement.enter(&hierarchy)?;
    let outcome = (|| {
        let (cgroup, start) = open_app_cgroup(&hierarchy, &placement, config, resume)?;
        if let Some(max) = config.pids_max {
            cgroup.limit_pids(max)?;
        }
        let setup = Setup {
            cgroup: &cgroup,
            signals,
            detached,
            lock: &lock,
            start,
        };
        let outcome = supervise(config, log, setup);
        if outcome.is_err() {
            // The loop failed, not the app: leave nothing of it running unsupervised.
            let _ = cgroup.kill_all();
        }
        if let Err(error) = cgroup.remove() {
            log.warning(format_args!("unable to remove the app's cgroup: {error}"));
        }
        outcome
    })();
    if let Err(error) = placement.leave(&hierarchy, guardian_cgroup) {
        log.warning(format_args!(
            "unable to leave the guardian's cgroup: {error}"
        ));
    }
    outcome
}

/// The app's cgroup, and how to begin: an empty (or new) cgroup gets a fresh app; one
/// that holds the app of a guardian that died (or re-executed itself) is adopted
/// (DESIGN.md section 4: "one name, one guardian").
fn open_app_cgroup(
    hierarchy: &Hierarchy,
    placement: &Placement,
    config: &Config,
    resume: Option<Resume>,
) -> Result<(AppCgroup, Start)> {
    let dir = match hierarchy.create(&placement.app) {
        Ok(cgroup) => return Ok((cgroup, Start::Spawn)),
        Err(CgroupError::Populated(dir)) => dir,
        Err(error) => return Err(error.into()),
    };
    // Only the guardian's own namespace (`/supervisor/<name>`, or `<own>/app` under
    // delegation) is known to hold this guardian's app; a populated cgroup named with
    // --cgroup may be anyone's, and adopting it would mean killing it at the stop.
    if config.cgroup.is_some() && resume.is_none() {
        bail!(
            "cgroup {} already holds processes, and --cgroup named it: refusing to adopt \
             what may not be this guardian's app",
            dir.display()
        );
    }
    let cgroup = hierarchy.adopt(&placement.app)?;
    let members = read_members(&cgroup.pids()?)?;
    let (hint, stats, run) = match resume {
        Some(resume) => (
            Some(Ok(Pid::from_raw(resume.main))),
            resume.stats,
            Duration::try_from_secs_f64(resume.run_seconds).unwrap_or_default(),
        ),
        None => (
            config.main_pidfile.as_deref().map(read_pid_hint),
            Stats::default(),
            Duration::ZERO,
        ),
    };
    let main = choose_adoptee(&members, hint).map_err(|refused| {
        anyhow::anyhow!(
            "cgroup {} already holds processes and cannot be adopted: {refused}",
            dir.display()
        )
    })?;
    Ok((cgroup, Start::Adopt { main, stats, run }))
}

/// Runs the app in its cgroup, with the control socket open and the pid file written for
/// as long as that lasts.
fn supervise(config: &Config, log: &Log, setup: Setup) -> Result<i32> {
    let version = match setup.cgroup.version() {
        Version::V1 => "v1",
        Version::V2 => "v2",
    };
    log.info(format_args!(
        "app cgroup {} (cgroup {version})",
        setup.cgroup.dir().display()
    ));
    let control = ControlSocket::bind(&config.control.socket, config.control.group)?;
    let pidfile = config.pidfile.as_deref().map(PidFile::write).transpose()?;
    let outcome = event_loop::run(config, log, setup, control);
    if let Some(pidfile) = pidfile
        && let Err(error) = pidfile.remove()
    {
        log.warning(format_args!("{error:#}"));
    }
    outcome
}
