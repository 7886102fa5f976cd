//! Who the app's main process is after the current one exits (DESIGN.md section 5).
//!
//! The choice itself ([`choose_successor`]) is pure and sees only facts the event loop
//! gathered: the members of the app's cgroup ([`read_members`]) and the `-P` hint
//! ([`read_pid_hint`]). It never adopts a process because its PID is lowest.

use std::path::Path;

use nix::unistd::Pid;

/// A process of the app's cgroup, as procfs showed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub pid: Pid,
    pub parent: Pid,
    pub zombie: bool,
}

/// Why the `-P` file did not name a successor; logged as a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HintRejection {
    Missing,
    Unreadable(String),
    Garbage(String),
    Init,
    JustExited(Pid),
    NotAlive(Pid),
    OutsideCgroup(Pid),
}

/// Where a successor's PID came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Successor {
    PidFile(Pid),
    Cgroup(Pid),
}

impl Successor {
    pub fn pid(self) -> Pid {
        match self {
            Successor::PidFile(pid) | Successor::Cgroup(pid) => pid,
        }
    }
}

/// The outcome of [`choose_successor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub successor: Option<Successor>,
    /// Set when a `-P` file was given and refused.
    pub rejected_hint: Option<HintRejection>,
}

/// Reads the PID in the app's own pid file (`-P`): one decimal number, surrounding
/// whitespace allowed. Only parses; whether the PID may be adopted is
/// [`choose_successor`]'s question.
pub fn read_pid_hint(path: &Path) -> Result<Pid, HintRejection> {
    todo!("{path:?}")
}

/// Reads parent and state of each PID from procfs. A PID that vanished meanwhile is
/// left out: it is no candidate for anything.
pub fn read_members(pids: &[Pid]) -> Vec<Member> {
    todo!("{pids:?}")
}

/// The rules of DESIGN.md section 5, in order:
/// 1. a `-P` hint (if `hint` is `Some`) naming a live, non-zombie member of the cgroup
///    that is neither PID 1 nor `exited` wins, whatever the exit status;
/// 2. otherwise, only if the exit was `clean`: exactly one live member whose parent is
///    `guardian` is the successor; none or several give none.
pub fn choose_successor(
    exited: Pid,
    clean: bool,
    hint: Option<Result<Pid, HintRejection>>,
    members: &[Member],
    guardian: Pid,
) -> Choice {
    todo!("{exited} {clean} {hint:?} {members:?} {guardian}")
}
