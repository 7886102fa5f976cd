//! The resolved, immutable configuration: what `cli` parsed, with the user and group
//! looked up, the program found and every default filled in. Nothing below this module
//! reads argv or the environment again (DESIGN.md section 3).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::backoff::Backoff;
use nix::unistd::Gid;

use crate::cli::Cli;
use crate::credentials::{Capabilities, Credentials, CredentialsError, Privileges};
use crate::instance_lock::RUN_DIR;
use crate::log::{Target, Verbosity};
use crate::policy::RestartPolicy;
use crate::protocol::socket_path;
use crate::state::Settings;

/// The longest name accepted: it becomes a file name and a cgroup name.
const MAX_NAME_LEN: usize = 64;

#[derive(Debug)]
pub struct Config {
    /// Picks the cgroup, the lock and the log ident.
    pub name: String,
    /// The program, found through `PATH` if it had no slash. It is also the app's
    /// argv[0]: nginx re-executes `argv[0]` on USR2, which must be a path, not a name.
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub fork: bool,
    pub pidfile: Option<PathBuf>,
    /// User, group, capabilities and no_new_privs of the app.
    pub privileges: Privileges,
    pub main_pidfile: Option<PathBuf>,
    pub verbosity: Verbosity,
    pub log_target: Target,
    /// `--cgroup`: the app's cgroup as a path in the hierarchy (else `placement` decides).
    pub cgroup: Option<PathBuf>,
    pub settings: Settings,
    pub control: Control,
    /// This binary and the arguments it was started with: what `reexec` executes again.
    pub own_command: (PathBuf, Vec<OsString>),
}

/// Where the control socket listens and who may use it besides root.
#[derive(Debug)]
pub struct Control {
    pub socket: PathBuf,
    /// `--control-group`: its members may connect (socket mode 0660).
    pub group: Option<Gid>,
}

/// A configuration error, with the guardian's name once it is known (messages read
/// `supervisor[<name>]: fatal: ...` whenever they can).
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub name: Option<String>,
    pub problem: Problem,
}

impl ConfigError {
    pub fn exit_code(&self) -> i32 {
        self.problem.exit_code()
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong, and the exit code that goes with it.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// The program has no slash and no directory of `PATH` holds it: 127, as a shell.
    ProgramNotFound(String),
    BadName(String),
    Credentials(CredentialsError),
}

impl Problem {
    fn exit_code(&self) -> i32 {
        match self {
            Problem::ProgramNotFound(_) => 127,
            Problem::BadName(_) | Problem::Credentials(_) => 2,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::ProgramNotFound(program) => {
                write!(f, "program '{program}' not found in PATH")
            }
            Problem::BadName(why) => f.write_str(why),
            Problem::Credentials(error) => error.fmt(f),
        }
    }
}

impl Config {
    /// `own_command`: the binary's path (read before anything could replace it) and argv.
    pub fn from_cli(
        cli: Cli,
        own_command: (PathBuf, Vec<OsString>),
    ) -> Result<Config, ConfigError> {
        let mut command = cli.command.into_iter();
        // clap requires at least one value, so this never falls back.
        let typed = command.next().unwrap_or_default();
        // The name first (from what was typed: no lookup needed), so every later error
        // can carry it.
        let name = match cli.name {
            Some(name) => check_name(name, "--name"),
            None => check_name(base_name(Path::new(&typed)), "the program's base name"),
        }
        .map_err(|problem| ConfigError {
            name: None,
            problem,
        })?;
        let fail = |problem| ConfigError {
            name: Some(name.clone()),
            problem,
        };
        let program = find_program(&typed).map_err(fail)?;
        let privileges = Privileges {
            credentials: Credentials::resolve(cli.user.as_deref(), cli.group.as_deref())
                .map_err(|error| fail(Problem::Credentials(error)))?,
            capabilities: Capabilities::keep_only(&cli.caps)
                .map_err(|error| fail(Problem::Credentials(error)))?,
            no_new_privs: cli.no_new_privs,
        };
        let control_group = cli
            .control_group
            .as_deref()
            .map(|group| Credentials::resolve(None, Some(group)).map(|c| c.map(|c| c.gid)))
            .transpose()
            .map_err(|error| fail(Problem::Credentials(error)))?
            .flatten();
        // In the background stderr is /dev/null: syslog is the only place left to speak.
        let log_target = if cli.syslog || cli.fork {
            Target::Syslog(cli.syslog_socket)
        } else {
            Target::Stderr
        };
        let mut success = BTreeSet::from([0]);
        success.extend(cli.success);
        Ok(Config {
            own_command,
            cgroup: cli.cgroup,
            program,
            args: command.collect(),
            fork: cli.fork,
            pidfile: cli.pidfile,
            privileges,
            log_target,
            main_pidfile: cli.main_pidfile,
            verbosity: Verbosity::from_quiet_count(cli.quiet),
            settings: Settings {
                policy: RestartPolicy {
                    on_error: cli.restart_on_error,
                    on_crash: cli.restart_on_crash,
                    success,
                },
                backoff: Backoff {
                    limit: cli.delay_limit,
                    stable_after: cli.stable_after.unwrap_or(cli.delay_limit),
                },
                stop_signal: cli.stop_signal,
                stop_timeout: cli.stop_timeout,
                upgrade_signal: cli.upgrade_signal,
                upgrade_timeout: cli.upgrade_timeout,
                upgrade_winch: cli.upgrade_winch,
                reload_signal: cli.reload_signal,
            },
            control: Control {
                socket: cli
                    .control
                    .unwrap_or_else(|| socket_path(Path::new(RUN_DIR), &name)),
                group: control_group,
            },
            name,
        })
    }
}

/// A program with a slash is taken as it is (exec reports what is wrong with it);
/// one without is looked up in `PATH`, as execvp(3) would.
fn find_program(typed: &OsString) -> Result<PathBuf, Problem> {
    let path = Path::new(typed);
    if typed.as_encoded_bytes().contains(&b'/') {
        return Ok(path.to_owned());
    }
    which::which(path).map_err(|_| Problem::ProgramNotFound(path.display().to_string()))
}

fn base_name(program: &Path) -> String {
    program
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A name becomes a file name under `/run/supervisor` and a cgroup name: keep it to
/// letters, digits and `._@-`, not starting with a dot.
fn check_name(name: String, origin: &str) -> Result<String, Problem> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._@-".contains(c);
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.starts_with('.')
        || !name.chars().all(allowed)
    {
        return Err(Problem::BadName(format!(
            "{origin} '{name}' is not a valid name: use up to {MAX_NAME_LEN} letters, digits, \
             '.', '_', '@' or '-', not starting with '.' (choose one with --name)"
        )));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_cli(
            Cli::try_parse_from(args).expect("valid command line"),
            (PathBuf::from("/usr/sbin/supervisor"), Vec::new()),
        )
    }

    #[test]
    fn finds_the_program_in_path_and_names_the_guardian_after_it() {
        let config = config(&["supervisor", "--", "sh", "-c", "true"]).expect("config");
        assert!(config.program.is_absolute(), "{:?}", config.program);
        assert_eq!(config.name, "sh");
        assert_eq!(config.cgroup, None);
        assert_eq!(config.args, ["-c", "true"]);
    }

    #[test]
    fn a_missing_program_is_127() {
        let error = config(&["supervisor", "--", "no-such-program-x9"]).unwrap_err();
        assert_eq!(error.exit_code(), 127);
    }

    #[test]
    fn original_flags_keep_their_meaning() {
        let config = config(&[
            "supervisor",
            "-e",
            "-c",
            "-l",
            "5",
            "-s",
            "3",
            "-s",
            "4",
            "-qq",
            "--",
            "/bin/true",
        ])
        .expect("config");
        let settings = &config.settings;
        assert!(settings.policy.on_error && settings.policy.on_crash);
        assert_eq!(settings.policy.success, BTreeSet::from([0, 3, 4]));
        assert_eq!(settings.backoff.limit, std::time::Duration::from_secs(5));
        assert_eq!(settings.backoff.stable_after, settings.backoff.limit);
        assert_eq!(config.verbosity, Verbosity::Silent);
    }

    #[test]
    fn names_that_are_no_file_names_are_refused() {
        for name in ["", "../x", ".hidden", "a/b", "sp ace"] {
            let error = config(&["supervisor", "--name", name, "--", "/bin/true"]).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{name}");
        }
    }

    #[test]
    fn usage_errors_name_the_option() {
        for (args, option) in [
            (
                &["supervisor", "-l", "0", "--", "/bin/true"][..],
                "--delay-limit",
            ),
            (
                &["supervisor", "-l", "-1", "--", "/bin/true"][..],
                "--delay-limit",
            ),
            (
                &["supervisor", "--stop-signal", "FOO", "--", "/bin/true"][..],
                "--stop-signal",
            ),
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert!(error.to_string().contains(option), "{error}");
        }
    }
}
