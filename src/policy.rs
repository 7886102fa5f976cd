//! How an app's end is classified and whether it brings a restart (DESIGN.md section 6).
//!
//! Pure: no syscalls. The event loop turns a wait status into an [`AppStatus`]; the state
//! machine asks the [`RestartPolicy`] what it means.

use std::collections::BTreeSet;
use std::fmt;

use nix::sys::signal::Signal;

/// How the app's main process ended, as `waitid(2)` reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppStatus {
    /// It called `exit(code)`.
    Code(i32),
    /// A signal ended it.
    Signal(Signal),
    /// It was not our child, so the kernel gave its status to someone else.
    Unknown,
}

impl AppStatus {
    /// The guardian's own exit code when it ends with the app (like tini and a shell:
    /// the exit code, or 128 + the signal number; 1 when it is unknown).
    pub fn exit_code(self) -> i32 {
        match self {
            AppStatus::Code(code) => code,
            AppStatus::Signal(signal) => 128 + signal as i32,
            AppStatus::Unknown => 1,
        }
    }
}

impl fmt::Display for AppStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppStatus::Code(code) => write!(f, "exited with code {code}"),
            AppStatus::Signal(signal) => write!(f, "was killed by {}", signal.as_str()),
            AppStatus::Unknown => f.write_str("exited with an unknown status (not our child)"),
        }
    }
}

/// What an end means, as the original tool defined it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// An exit code in the success list: never restarts.
    Clean,
    /// Any other exit code: restarts with `-e`.
    Error,
    /// Death by TERM, INT or QUIT: someone meant it; never restarts.
    Deliberate,
    /// Death by any other signal (SEGV, ABRT, KILL, ...): restarts with `-c`.
    Crash,
    /// The guardian cannot tell how the app ended: the main process left processes
    /// behind and none of them could be named its successor (none, or several), or it
    /// was not our child (an adopted app), so its status went elsewhere. Restarts with
    /// `-e` or `-c`: a guardian asked to keep the app alive does not assume all is well.
    LostTrack,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    pub on_error: bool,
    pub on_crash: bool,
    /// Exit codes that count as clean; always holds 0.
    pub success: BTreeSet<i32>,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            on_error: false,
            on_crash: false,
            success: BTreeSet::from([0]),
        }
    }
}

impl RestartPolicy {
    pub fn classify(&self, status: AppStatus) -> ExitKind {
        match status {
            AppStatus::Unknown => ExitKind::LostTrack,
            AppStatus::Code(code) if self.success.contains(&code) => ExitKind::Clean,
            AppStatus::Code(_) => ExitKind::Error,
            AppStatus::Signal(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => {
                ExitKind::Deliberate
            }
            AppStatus::Signal(_) => ExitKind::Crash,
        }
    }

    pub fn restarts(&self, kind: ExitKind) -> bool {
        match kind {
            ExitKind::Clean | ExitKind::Deliberate => false,
            ExitKind::Error => self.on_error,
            ExitKind::Crash => self.on_crash,
            ExitKind::LostTrack => self.on_error || self.on_crash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_as_the_original_tool_did() {
        let policy = RestartPolicy {
            success: BTreeSet::from([0, 3]),
            ..RestartPolicy::default()
        };
        let cases = [
            (AppStatus::Code(0), ExitKind::Clean),
            (AppStatus::Code(3), ExitKind::Clean),
            (AppStatus::Code(1), ExitKind::Error),
            (AppStatus::Signal(Signal::SIGTERM), ExitKind::Deliberate),
            (AppStatus::Signal(Signal::SIGINT), ExitKind::Deliberate),
            (AppStatus::Signal(Signal::SIGQUIT), ExitKind::Deliberate),
            (AppStatus::Signal(Signal::SIGSEGV), ExitKind::Crash),
            (AppStatus::Signal(Signal::SIGKILL), ExitKind::Crash),
            (AppStatus::Unknown, ExitKind::LostTrack),
        ];
        for (status, kind) in cases {
            assert_eq!(policy.classify(status), kind, "{status}");
        }
    }

    #[test]
    fn restarts_only_what_the_flags_ask_for() {
        let none = RestartPolicy::default();
        let both = RestartPolicy {
            on_error: true,
            on_crash: true,
            ..RestartPolicy::default()
        };
        for kind in [ExitKind::Error, ExitKind::Crash, ExitKind::LostTrack] {
            assert!(!none.restarts(kind));
            assert!(both.restarts(kind));
        }
        for kind in [ExitKind::Clean, ExitKind::Deliberate] {
            assert!(!both.restarts(kind));
        }
        let crash_only = RestartPolicy {
            on_crash: true,
            ..RestartPolicy::default()
        };
        assert!(!crash_only.restarts(ExitKind::Error));
        assert!(crash_only.restarts(ExitKind::LostTrack));
    }

    #[test]
    fn exit_code_passes_the_status_through() {
        assert_eq!(AppStatus::Code(7).exit_code(), 7);
        assert_eq!(AppStatus::Signal(Signal::SIGSEGV).exit_code(), 139);
        assert_eq!(AppStatus::Unknown.exit_code(), 1);
    }
}
