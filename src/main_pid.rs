//! Who the app's main process is after the current one exits (DESIGN.md section 5).
//!
//! The choice itself ([`choose_successor`]) is pure and sees only facts the event loop
//! gathered: the members of the app's cgroup ([`read_members`]) and the `-P` hint
//! ([`read_pid_hint`]). It never adopts a process because its PID is lowest.
//! Watching, signalling and killing processes are the event loop's and `cgroup`'s.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;

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

impl fmt::Display for HintRejection {
    /// Completes "ignoring the pid file: ...".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HintRejection::Missing => f.write_str("it does not exist"),
            HintRejection::Unreadable(cause) => write!(f, "{cause}"),
            HintRejection::Garbage(content) => write!(f, "{content:?} is not a PID"),
            HintRejection::Init => f.write_str("it names PID 1"),
            HintRejection::JustExited(pid) => write!(f, "it names PID {pid}, which just exited"),
            HintRejection::NotAlive(pid) => write!(f, "PID {pid} is a zombie"),
            HintRejection::OutsideCgroup(pid) => {
                write!(f, "PID {pid} is not in the app's cgroup")
            }
        }
    }
}

/// How much of a garbled pid file a rejection quotes: enough to recognise it, short
/// enough for one log line.
const GARBAGE_QUOTE_CHARS: usize = 40;

/// A PID with its newline fits many times over; anything longer is no pid file.
const PID_FILE_MAX_BYTES: u64 = 4096;

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
    let unreadable = |cause: &dyn fmt::Display| {
        HintRejection::Unreadable(format!("failed to read {}: {cause}", path.display()))
    };
    // The app writes this file and may run unprivileged: a FIFO must not block the
    // guardian (O_NONBLOCK), nor a link to /dev/zero exhaust its memory (regular files
    // only, and only the first bytes).
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => HintRejection::Missing,
            _ => unreadable(&err),
        })?;
    let metadata = file.metadata().map_err(|err| unreadable(&err))?;
    if !metadata.is_file() {
        return Err(unreadable(&"not a regular file"));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(PID_FILE_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| unreadable(&err))?;
    let content = String::from_utf8_lossy(&bytes);
    if bytes.len() as u64 > PID_FILE_MAX_BYTES {
        return Err(HintRejection::Garbage(shorten(content.trim_start())));
    }
    let trimmed = content.trim();
    // Digits only: `i32::from_str` would also take "+5", which no pid file holds.
    let pid = Some(trimmed)
        .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<i32>().ok())
        .filter(|&pid| pid > 0)
        .ok_or_else(|| HintRejection::Garbage(shorten(trimmed)))?;
    match pid {
        1 => Err(HintRejection::Init),
        _ => Ok(Pid::from_raw(pid)),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(GARBAGE_QUOTE_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Reads parent and state of each PID from procfs. A PID that vanished meanwhile is
/// left out: it is no candidate for anything. Any other error fails the whole read: a
/// member we could not see might be the one that makes the choice ambiguous, so the
/// caller must not choose from the rest.
pub fn read_members(pids: &[Pid]) -> anyhow::Result<Vec<Member>> {
    let mut members = Vec::with_capacity(pids.len());
    for &pid in pids {
        match procfs::process::Process::new(pid.as_raw()).and_then(|process| process.stat()) {
            Ok(stat) => members.push(Member {
                pid,
                parent: Pid::from_raw(stat.ppid),
                // 'X' (dead) is only ever seen in the instant before the entry goes away.
                zombie: matches!(stat.state, 'Z' | 'X'),
            }),
            // procfs maps ESRCH, the race with an exit, to NotFound as well.
            Err(procfs::ProcError::NotFound(_)) => {}
            Err(err) => {
                return Err(err).with_context(|| format!("failed to read /proc/{pid}/stat"));
            }
        }
    }
    Ok(members)
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
    let mut rejected_hint = None;
    if let Some(hint) = hint {
        match check_hint(hint, exited, members) {
            Ok(pid) => {
                return Choice {
                    successor: Some(Successor::PidFile(pid)),
                    rejected_hint: None,
                };
            }
            Err(rejection) => rejected_hint = Some(rejection),
        }
    }
    // A crash or an error with processes left over is a failure, not a handover: the
    // survivors get killed rather than adopted (section 5), unless the app named one.
    let successor = if clean {
        let mut candidates = members
            .iter()
            .filter(|member| !member.zombie && member.pid != exited && member.parent == guardian);
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(Successor::Cgroup(only.pid)),
            _ => None,
        }
    } else {
        None
    };
    Choice {
        successor,
        rejected_hint,
    }
}

fn check_hint(
    hint: Result<Pid, HintRejection>,
    exited: Pid,
    members: &[Member],
) -> Result<Pid, HintRejection> {
    let pid = hint?;
    // An app that has not rewritten its pid file yet still names the process that just
    // exited; adopting it would follow a PID the kernel may hand to someone else.
    if pid == exited {
        return Err(HintRejection::JustExited(pid));
    }
    if pid.as_raw() == 1 {
        return Err(HintRejection::Init);
    }
    match members.iter().find(|member| member.pid == pid) {
        None => Err(HintRejection::OutsideCgroup(pid)),
        Some(member) if member.zombie => Err(HintRejection::NotAlive(pid)),
        Some(_) => Ok(pid),
    }
}

/// Why a running app cannot be adopted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdoptionRefused {
    /// Nothing alive in the cgroup (it emptied meanwhile).
    Empty,
    /// Several processes of the cgroup have their parent outside it, and no `-P` file
    /// says which is the main one.
    Ambiguous(Vec<Pid>),
}

impl fmt::Display for AdoptionRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdoptionRefused::Empty => f.write_str("no live process in it"),
            AdoptionRefused::Ambiguous(pids) => {
                let pids: Vec<String> = pids.iter().map(Pid::to_string).collect();
                write!(
                    f,
                    "several top-level processes ({}) and no -P file naming the main one",
                    pids.join(", ")
                )
            }
        }
    }
}

/// The main process of an app found running in its cgroup (its guardian died): the PID
/// of the `-P` file if it names a live member, else the one live member whose parent is
/// outside the cgroup (the app's top process, reparented when its guardian died).
pub fn choose_adoptee(
    members: &[Member],
    hint: Option<Result<Pid, HintRejection>>,
) -> Result<Pid, AdoptionRefused> {
    let live = |pid: Pid| members.iter().any(|m| m.pid == pid && !m.zombie);
    if let Some(Ok(pid)) = hint
        && pid.as_raw() > 1
        && live(pid)
    {
        return Ok(pid);
    }
    let top: Vec<Pid> = members
        .iter()
        .filter(|m| !m.zombie && !members.iter().any(|other| other.pid == m.parent))
        .map(|m| m.pid)
        .collect();
    match top[..] {
        [] => Err(AdoptionRefused::Empty),
        [pid] => Ok(pid),
        _ => Err(AdoptionRefused::Ambiguous(top)),
    }
}

/// The members that are neither `keep` nor descended from it (following parent links
/// within the cgroup): what a failed main process left beside its successor.
pub fn strays(members: &[Member], keep: Pid) -> Vec<Pid> {
    let parent_of = |pid: Pid| members.iter().find(|m| m.pid == pid).map(|m| m.parent);
    let descends_from_keep = |member: &Member| {
        let mut pid = member.pid;
        // A parent chain is at most as long as the member list; the bound also stops a
        // cycle that a PID recycled between two procfs reads could fake.
        for _ in 0..=members.len() {
            if pid == keep {
                return true;
            }
            match parent_of(pid) {
                Some(parent) => pid = parent,
                None => return false,
            }
        }
        false
    };
    members
        .iter()
        .filter(|member| !member.zombie && !descends_from_keep(member))
        .map(|member| member.pid)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn adopts_the_top_process_of_a_running_app_or_what_the_pid_file_names() {
        let member = |pid: i32, parent: i32| Member {
            pid: Pid::from_raw(pid),
            parent: Pid::from_raw(parent),
            zombie: false,
        };
        // The master (parent 1 since its guardian died) and its two workers.
        let members = [member(50, 1), member(51, 50), member(52, 50)];
        assert_eq!(choose_adoptee(&members, None), Ok(Pid::from_raw(50)));
        assert_eq!(
            choose_adoptee(&members, Some(Ok(Pid::from_raw(51)))),
            Ok(Pid::from_raw(51)),
            "the pid file decides"
        );
        assert_eq!(
            choose_adoptee(&members, Some(Ok(Pid::from_raw(999)))),
            Ok(Pid::from_raw(50)),
            "a stale pid file does not"
        );
        let two_tops = [member(50, 1), member(60, 1)];
        assert_eq!(
            choose_adoptee(&two_tops, None),
            Err(AdoptionRefused::Ambiguous(vec![
                Pid::from_raw(50),
                Pid::from_raw(60)
            ]))
        );
        assert_eq!(choose_adoptee(&[], None), Err(AdoptionRefused::Empty));
    }

    #[test]
    fn strays_are_what_does_not_descend_from_the_successor() {
        let member = |pid: i32, parent: i32| Member {
            pid: Pid::from_raw(pid),
            parent: Pid::from_raw(parent),
            zombie: false,
        };
        // 10 is us; 200 the new master (with worker 201 and its child 202); 101 and 102
        // the old master's orphaned workers, now ours.
        let members = [
            member(200, 10),
            member(201, 200),
            member(202, 201),
            member(101, 10),
            member(102, 10),
        ];
        assert_eq!(
            strays(&members, Pid::from_raw(200)),
            [Pid::from_raw(101), Pid::from_raw(102)]
        );
        assert!(strays(&members[..3], Pid::from_raw(200)).is_empty());
    }

    use std::io::Write as _;

    use super::*;

    const GUARDIAN: Pid = Pid::from_raw(50);
    const MAIN: Pid = Pid::from_raw(100);

    fn pid(raw: i32) -> Pid {
        Pid::from_raw(raw)
    }

    fn child_of(parent: Pid, raw: i32) -> Member {
        Member {
            pid: pid(raw),
            parent,
            zombie: false,
        }
    }

    fn zombie_child_of(parent: Pid, raw: i32) -> Member {
        Member {
            zombie: true,
            ..child_of(parent, raw)
        }
    }

    fn chosen(successor: Option<Successor>) -> Choice {
        Choice {
            successor,
            rejected_hint: None,
        }
    }

    fn rejected(rejection: HintRejection, successor: Option<Successor>) -> Choice {
        Choice {
            successor,
            rejected_hint: Some(rejection),
        }
    }

    #[test]
    fn follows_a_daemon_to_its_only_child_reparented_to_us() {
        let members = [child_of(GUARDIAN, 200)];
        let choice = choose_successor(MAIN, true, None, &members, GUARDIAN);
        assert_eq!(choice, chosen(Some(Successor::Cgroup(pid(200)))));
    }

    #[test]
    fn adopts_no_one_when_two_children_could_be_the_main() {
        let members = [child_of(GUARDIAN, 200), child_of(GUARDIAN, 201)];
        let choice = choose_successor(MAIN, true, None, &members, GUARDIAN);
        assert_eq!(choice, chosen(None));
    }

    #[test]
    fn never_adopts_a_worker_of_the_main_even_with_the_lowest_pid() {
        let members = [child_of(MAIN, 101), child_of(MAIN, 102)];
        let choice = choose_successor(MAIN, true, None, &members, GUARDIAN);
        assert_eq!(choice, chosen(None));
        let members = [child_of(pid(300), 101), child_of(GUARDIAN, 300)];
        let choice = choose_successor(MAIN, true, None, &members, GUARDIAN);
        assert_eq!(choice, chosen(Some(Successor::Cgroup(pid(300)))));
    }

    #[test]
    fn leaves_zombies_and_the_exited_main_out_of_the_count() {
        let members = [
            zombie_child_of(GUARDIAN, 100),
            zombie_child_of(GUARDIAN, 199),
            child_of(GUARDIAN, 200),
        ];
        let choice = choose_successor(MAIN, true, None, &members, GUARDIAN);
        assert_eq!(choice, chosen(Some(Successor::Cgroup(pid(200)))));
        let members = [child_of(GUARDIAN, 100)];
        let choice = choose_successor(MAIN, true, None, &members, GUARDIAN);
        assert_eq!(choice, chosen(None));
    }

    #[test]
    fn adopts_no_survivor_of_a_crash() {
        let members = [child_of(GUARDIAN, 200)];
        let choice = choose_successor(MAIN, false, None, &members, GUARDIAN);
        assert_eq!(choice, chosen(None));
    }

    #[test]
    fn follows_the_pid_file_even_when_the_old_master_crashed() {
        // nginx after USR2: the old master dies, the new master (its child) wrote the file.
        let members = [child_of(GUARDIAN, 300), child_of(MAIN, 400)];
        let choice = choose_successor(MAIN, false, Some(Ok(pid(400))), &members, GUARDIAN);
        assert_eq!(choice, chosen(Some(Successor::PidFile(pid(400)))));
    }

    #[test]
    fn prefers_the_pid_file_over_the_cgroup_on_a_clean_exit() {
        let members = [child_of(GUARDIAN, 300), child_of(GUARDIAN, 400)];
        let choice = choose_successor(MAIN, true, Some(Ok(pid(400))), &members, GUARDIAN);
        assert_eq!(choice, chosen(Some(Successor::PidFile(pid(400)))));
    }

    #[test]
    fn refuses_each_bad_hint_and_falls_back_to_the_cgroup() {
        let only_child = child_of(GUARDIAN, 200);
        let members = [
            only_child,
            zombie_child_of(GUARDIAN, 250),
            zombie_child_of(GUARDIAN, 100),
        ];
        let fallback = Some(Successor::Cgroup(only_child.pid));
        let cases = [
            (Ok(MAIN), HintRejection::JustExited(MAIN)),
            (Ok(pid(1)), HintRejection::Init),
            (Ok(pid(250)), HintRejection::NotAlive(pid(250))),
            (Ok(pid(999)), HintRejection::OutsideCgroup(pid(999))),
            (Err(HintRejection::Missing), HintRejection::Missing),
            (
                Err(HintRejection::Garbage("abc".into())),
                HintRejection::Garbage("abc".into()),
            ),
        ];
        for (hint, rejection) in cases {
            let choice = choose_successor(MAIN, true, Some(hint), &members, GUARDIAN);
            assert_eq!(choice, rejected(rejection, fallback));
        }
    }

    #[test]
    fn records_a_bad_hint_even_when_no_fallback_applies() {
        let members = [child_of(GUARDIAN, 200)];
        let choice = choose_successor(MAIN, false, Some(Ok(pid(999))), &members, GUARDIAN);
        assert_eq!(
            choice,
            rejected(HintRejection::OutsideCgroup(pid(999)), None)
        );
    }

    fn hint_from(content: &str) -> Result<Pid, HintRejection> {
        let mut file = tempfile::NamedTempFile::new().expect("create a temp file");
        file.write_all(content.as_bytes())
            .expect("write the temp file");
        read_pid_hint(file.path())
    }

    #[test]
    fn reads_a_pid_with_surrounding_whitespace() {
        assert_eq!(hint_from("123\n"), Ok(pid(123)));
        assert_eq!(hint_from("  42 "), Ok(pid(42)));
    }

    #[test]
    fn rejects_what_is_not_a_positive_pid() {
        assert_eq!(hint_from(""), Err(HintRejection::Garbage(String::new())));
        assert_eq!(hint_from("abc"), Err(HintRejection::Garbage("abc".into())));
        assert_eq!(hint_from("0"), Err(HintRejection::Garbage("0".into())));
        assert_eq!(hint_from("-5"), Err(HintRejection::Garbage("-5".into())));
        assert_eq!(hint_from("+5"), Err(HintRejection::Garbage("+5".into())));
        assert_eq!(
            hint_from("12 34"),
            Err(HintRejection::Garbage("12 34".into()))
        );
        assert_eq!(
            hint_from("99999999999"),
            Err(HintRejection::Garbage("99999999999".into()))
        );
        assert_eq!(hint_from("1"), Err(HintRejection::Init));
    }

    #[test]
    fn quotes_only_the_start_of_a_long_garbled_file() {
        let long = "é".repeat(1000);
        let Err(HintRejection::Garbage(quote)) = hint_from(&long) else {
            panic!("a long garbled file is garbage");
        };
        assert_eq!(quote, format!("{}...", "é".repeat(GARBAGE_QUOTE_CHARS)));
    }

    #[test]
    fn tells_a_missing_pid_file_from_an_unreadable_one() {
        let dir = tempfile::tempdir().expect("create a temp dir");
        assert_eq!(
            read_pid_hint(&dir.path().join("absent.pid")),
            Err(HintRejection::Missing)
        );
        let Err(HintRejection::Unreadable(cause)) = read_pid_hint(dir.path()) else {
            panic!("a directory is no pid file");
        };
        assert!(cause.contains(&dir.path().display().to_string()), "{cause}");
    }

    #[test]
    fn refuses_a_fifo_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let fifo = dir.path().join("app.pid");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("create a fifo");
        assert!(matches!(
            read_pid_hint(&fifo),
            Err(HintRejection::Unreadable(_))
        ));
    }

    #[test]
    fn reads_no_further_than_a_pid_file_can_be_long() {
        let padded = format!("123{}", " ".repeat(PID_FILE_MAX_BYTES as usize));
        let quote = format!("123{}...", " ".repeat(GARBAGE_QUOTE_CHARS - 3));
        assert_eq!(hint_from(&padded), Err(HintRejection::Garbage(quote)));
    }

    #[test]
    fn reads_our_own_process_as_a_live_member_and_skips_a_vanished_one() {
        let own = Pid::this();
        // PID_MAX_LIMIT is 2^22: no process ever has a larger PID.
        let vanished = pid(i32::MAX);
        let members = read_members(&[own, vanished]).expect("read procfs");
        assert_eq!(
            members,
            [Member {
                pid: own,
                parent: Pid::parent(),
                zombie: false
            }]
        );
    }
}
