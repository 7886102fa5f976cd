//! What was typed: the clap definitions. Nothing here is resolved or checked beyond
//! its syntax; `config` turns it into a `Config`.
//!
//! The original tool's letters keep their meaning (`-f -p -u -g -l -e -c -s -P -q -v
//! -h`); every option added since is long-only, so no letter changes meaning.

use std::ffi::OsString;
use std::path::PathBuf;

use std::time::Duration;

use caps::Capability;
use clap::{ArgAction, Args, Parser, Subcommand};
use nix::sys::signal::Signal;

use crate::values::{parse_capability, parse_exit_code, parse_seconds, parse_signal};

/// Keeps one application alive in its own cgroup and always knows its real main PID.
#[derive(Debug, Parser)]
#[command(
    name = "supervisor",
    version,
    disable_version_flag = true,
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 clean stop; the app's status (code, or 128 + signal) when it \
                  ended and no restart applies; 1 runtime failure; 2 usage or configuration \
                  error; 126/127 the program cannot be executed / was not found."
)]
pub struct Cli {
    /// Fork into the background once the app has started
    #[arg(short = 'f', long = "fork")]
    pub fork: bool,

    /// Write the guardian's own PID to PATH (removed on exit)
    #[arg(short = 'p', long = "pidfile", value_name = "PATH")]
    pub pidfile: Option<PathBuf>,

    /// Run the app as this user (with its primary and supplementary groups)
    #[arg(short = 'u', long = "user", value_name = "NAME")]
    pub user: Option<String>,

    /// Run the app with this group
    #[arg(short = 'g', long = "group", value_name = "NAME")]
    pub group: Option<String>,

    /// Keep this capability for the app (ambient, e.g. net_bind_service); all others are dropped; repeatable
    #[arg(long = "cap", value_name = "NAME", action = ArgAction::Append, value_parser = parse_capability)]
    pub caps: Vec<Capability>,

    /// Set no_new_privs for the app: no exec can gain privileges (setuid bits, file capabilities)
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,

    /// Cap of the delay between restarts, in seconds
    #[arg(short = 'l', long = "delay-limit", value_name = "SECS", default_value = "80", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub delay_limit: Duration,

    /// Restart when the app exits with a code outside the success list
    #[arg(short = 'e', long = "restart-on-error")]
    pub restart_on_error: bool,

    /// Restart when the app dies of a signal other than TERM, INT or QUIT
    #[arg(short = 'c', long = "restart-on-crash")]
    pub restart_on_crash: bool,

    /// Add CODE to the exit codes that count as success (0 always does); repeatable
    #[arg(short = 's', long = "success", value_name = "CODE", action = ArgAction::Append, value_parser = parse_exit_code, allow_hyphen_values = true)]
    pub success: Vec<i32>,

    /// The app's own pid file: names its main process after a handover
    #[arg(short = 'P', long = "main-pidfile", value_name = "PATH")]
    pub main_pidfile: Option<PathBuf>,

    /// Less output; twice (-qq) also silences runtime errors
    #[arg(short = 'q', long = "quiet", action = ArgAction::Count)]
    pub quiet: u8,

    /// Log to syslog (daemon facility) instead of stderr; implied by -f
    #[arg(long = "syslog")]
    pub syslog: bool,

    /// The syslog socket
    #[arg(
        long = "syslog-socket",
        value_name = "PATH",
        default_value = "/dev/log"
    )]
    pub syslog_socket: PathBuf,

    /// The control socket [default: /run/supervisor/NAME.sock]
    #[arg(long = "control", value_name = "PATH")]
    pub control: Option<PathBuf>,

    /// Let members of GROUP use the control socket too (mode 0660 instead of 0600)
    #[arg(long = "control-group", value_name = "GROUP")]
    pub control_group: Option<String>,

    /// Signal that starts an upgrade (`supervisor upgrade`)
    #[arg(long = "upgrade-signal", value_name = "SIG", default_value = "USR2", value_parser = parse_signal)]
    pub upgrade_signal: Signal,

    /// Seconds an upgrade may take before it is abandoned
    #[arg(long = "upgrade-timeout", value_name = "SECS", default_value = "30", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub upgrade_timeout: Duration,

    /// During an upgrade, send WINCH to the old master before QUIT (nginx)
    #[arg(long = "upgrade-winch")]
    pub upgrade_winch: bool,

    /// Signal that reloads the app in place (`supervisor reload`; USR2 for haproxy -W)
    #[arg(long = "reload-signal", value_name = "SIG", default_value = "HUP", value_parser = parse_signal)]
    pub reload_signal: Signal,

    /// Print the version
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    /// Name of this guardian: picks its cgroup, lock and log ident [default: the program's base name]
    #[arg(long = "name", value_name = "NAME")]
    pub name: Option<String>,

    /// The app's cgroup, as a path in the hierarchy [default: /supervisor/NAME]
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<PathBuf>,

    /// Signal that asks the app to stop
    #[arg(long = "stop-signal", value_name = "SIG", default_value = "TERM", value_parser = parse_signal)]
    pub stop_signal: Signal,

    /// Seconds to wait after the stop signal before the whole cgroup is killed
    #[arg(long = "stop-timeout", value_name = "SECS", default_value = "10", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub stop_timeout: Duration,

    /// Seconds a run must last to reset the backoff [default: the delay limit]
    #[arg(long = "stable-after", value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub stable_after: Option<Duration>,

    /// Talk to a running guardian instead of starting one
    #[command(subcommand)]
    pub client: Option<ClientCommand>,

    /// The program to run, then its arguments (always after `--`)
    #[arg(
        value_name = "PROGRAM",
        required = true,
        num_args = 1..,
        last = true
    )]
    pub command: Vec<OsString>,
}

/// Requests to a running guardian, over its control socket.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show what a guardian is doing (every guardian in /run/supervisor without NAME)
    Status(Target),
    /// Send a signal to the app's main process
    Signal {
        /// A name (HUP, SIGHUP) or a number
        #[arg(value_name = "SIG")]
        signal: String,
        #[command(flatten)]
        target: Target,
    },
    /// Stop the app; the guardian stays
    Stop(Target),
    /// Start the app again after a stop
    Start(Target),
    /// Stop the app, then start it
    Restart(Target),
    /// Hand over to a new master without a restart (nginx, unicorn)
    Upgrade(Target),
    /// Reload the app in place and wait for its new workers (haproxy -W)
    Reload(Target),
    /// Stop the app and the guardian
    Exit(Target),
    /// Execute the guardian's binary again (after an upgrade of it), keeping its PID and
    /// the app running
    Reexec(Target),
}

/// Which guardian a request goes to, and how to show the answer.
#[derive(Debug, Args)]
pub struct Target {
    /// The guardian's name (its --name)
    pub name: Option<String>,

    /// The control socket, instead of /run/supervisor/NAME.sock
    #[arg(long = "control", value_name = "PATH")]
    pub control: Option<PathBuf>,

    /// Print the guardian's JSON answer as it is
    #[arg(long = "json")]
    pub json: bool,
}
