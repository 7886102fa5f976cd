//! The shared harness of the integration tests (ripgrep's `tests/util.rs` shape): starts
//! one guardian per test under a chosen cgroup view, with its own name, cgroup and temp
//! dir, waits on conditions with a deadline, and cleans up everything in `Drop`.
//!
//! It does not know what any test checks; payloads live in `payloads.rs`.

use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, geteuid};
use tempfile::TempDir;

/// The guardian under test, as cargo built it for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_supervisor");

/// How long any condition may take to come true. Generous: the suite must pass on a
/// loaded 2-core machine, and a passing wait returns as soon as its condition holds.
pub const PATIENCE: Duration = Duration::from_secs(20);

const POLL: Duration = Duration::from_millis(20);
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_PROCS: &str = "cgroup.procs";
const CGROUP_KILL: &str = "cgroup.kill";
const FREEZER_STATE: &str = "freezer.state";
const RUN_DIR: &str = "/run/supervisor";

/// How the guardian sees the cgroup hierarchies of this (hybrid) host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// As the host is: v1 controllers plus cgroup2 at `/sys/fs/cgroup/unified`.
    V2,
    /// Legacy: a private mount namespace without the cgroup2 mount; tracks with v1 `pids`.
    V1,
    /// Pure v2: a private mount namespace where the cgroup2 mount is `/sys/fs/cgroup`.
    PureV2,
}

impl View {
    /// Where, seen from the host, the hierarchy that tracks the app is mounted.
    fn tracking_mount(self) -> &'static str {
        match self {
            View::V1 => "/sys/fs/cgroup/pids",
            View::V2 | View::PureV2 => "/sys/fs/cgroup/unified",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            View::V2 => "v2",
            View::V1 => "v1",
            View::PureV2 => "pv2",
        }
    }

    /// The command that runs the guardian in this view; the guardian's own arguments
    /// are appended to it. `unshare` and `sh` exec, so the PID is the guardian's.
    fn command(self, dir: &Path) -> Command {
        match self {
            View::V2 => Command::new(BIN),
            View::V1 => {
                let mut c = unshare();
                c.args([
                    "umount /sys/fs/cgroup/unified && exec \"$@\"",
                    "view-v1",
                    BIN,
                ]);
                c
            }
            View::PureV2 => {
                let mount_point = dir.join("cg2");
                fs::create_dir(&mount_point).expect("failed to create the cgroup2 mount point");
                let mut c = unshare();
                c.arg(concat!(
                    "m=$1; shift; ",
                    "mount --bind /sys/fs/cgroup/unified \"$m\" && umount -l /sys/fs/cgroup ",
                    "&& mount --move \"$m\" /sys/fs/cgroup && exec \"$@\""
                ));
                c.arg("view-pure-v2").arg(mount_point).arg(BIN);
                c
            }
        }
    }
}

fn unshare() -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "--", "/bin/sh", "-c"]);
    c
}

/// The root tier runs real apps in real cgroups: as anyone else it fails with this line.
pub fn require_root() {
    assert!(
        geteuid().is_root(),
        "the root tier needs root (cgroups, users, mount namespaces): run the tests as root"
    );
}

/// A name nobody else uses: `t<test process pid>-<counter>-<tag>`.
fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t{}-{n}-{tag}", std::process::id())
}

/// What a test says about its guardian before starting it.
pub struct Builder {
    view: View,
    name: String,
    dir: TempDir,
    args: Vec<OsString>,
    app: Vec<OsString>,
}

impl Builder {
    /// The test's temp dir: payloads record what they see there.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Lets an app that runs as another user (`-u nobody`) write its records.
    pub fn share_dir_with_everyone(self) -> Self {
        fs::set_permissions(self.dir.path(), fs::Permissions::from_mode(0o777))
            .expect("failed to chmod the temp dir");
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The app command, after `--`.
    pub fn app(mut self, app: Vec<String>) -> Self {
        self.app = app.into_iter().map(Into::into).collect();
        self
    }

    /// Starts `supervisor --name <name> ARGS -- APP` in the test's temp dir (its working
    /// directory, so even a core dump stays there), stdio captured to files there.
    pub fn start(self) -> Guardian {
        let command = self.view.command(self.dir.path());
        let guardian = self.launch(command);
        guardian.wait_until(PATIENCE, "the guardian to exec (or exit)", || {
            guardian.status().is_some() || comm(guardian.pid()).as_deref() == Some("supervisor")
        });
        guardian
    }

    /// Starts like [`Builder::start`], but runs the guardian binary at `binary` (a copy
    /// the test may replace); host view only.
    pub fn start_with_binary(self, binary: &Path) -> Guardian {
        assert_eq!(
            self.view,
            View::V2,
            "a copied binary runs on the host's view"
        );
        let guardian = self.launch(Command::new(binary));
        guardian.wait_until(PATIENCE, "the guardian to exec (or exit)", || {
            guardian.status().is_some() || is_alive(guardian.pid())
        });
        guardian
    }

    /// Runs `command` (which ends with the guardian's binary) with the guardian's
    /// arguments, in the temp dir, stdio captured to files there.
    fn launch(self, mut command: Command) -> Guardian {
        let dir = self.dir.path();
        let stdout = fs::File::create(dir.join("guardian.stdout")).expect("stdout file");
        let stderr = fs::File::create(dir.join("guardian.stderr")).expect("stderr file");
        command
            .arg("--name")
            .arg(&self.name)
            .args(&self.args)
            .arg("--")
            .args(&self.app)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let command_line = format!("{command:?}");
        let child = command.spawn().expect("failed to spawn the guardian");
        Guardian {
            view: self.view,
            name: self.name,
            dir: self.dir,
            command_line,
            child: RefCell::new(child),
            detached: Cell::new(None),
        }
    }
}

/// A running (or exited) guardian, its name, its cgroup and its temp dir.
pub struct Guardian {
    view: View,
    name: String,
    dir: TempDir,
    command_line: String,
    child: RefCell<Child>,
    /// With `-f`: the guardian that forked off, once the test has read its pidfile.
    detached: Cell<Option<Pid>>,
}

impl Guardian {
    /// A guardian in `view` whose name ends with `tag`; the test sets it up, then starts it.
    pub fn build(view: View, tag: &str) -> Builder {
        require_root();
        let name = unique_name(&format!("{tag}-{}", view.tag()));
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .tempdir()
            .expect("failed to create the temp dir");
        Builder {
            view,
            name,
            dir,
            args: Vec::new(),
            app: Vec::new(),
        }
    }

    /// A second guardian for the same app: same view and name (so the same cgroup, lock
    /// and socket), its own temp dir for its output.
    pub fn build_successor(&self) -> Builder {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}.next.", self.name))
            .tempdir()
            .expect("failed to create the temp dir");
        Builder {
            view: self.view,
            name: self.name.clone(),
            dir,
            args: Vec::new(),
            app: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the test's temp dir.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The guardian's PID: the process we started, or the one it forked off with `-f`.
    pub fn pid(&self) -> Pid {
        self.detached
            .get()
            .unwrap_or_else(|| Pid::from_raw(self.child.borrow().id() as i32))
    }

    /// From now on, `pid`, `signal` and `Drop` mean the guardian that `-f` forked off.
    pub fn follow_detached(&self, pid: Pid) {
        self.detached.set(Some(pid));
    }

    /// The status of the process we started, once it has exited.
    pub fn status(&self) -> Option<ExitStatus> {
        self.child
            .borrow_mut()
            .try_wait()
            .expect("failed to wait for the guardian")
    }

    /// Whether the guardian (or, with `-f`, the one that forked off) is still running.
    pub fn is_running(&self) -> bool {
        match self.detached.get() {
            Some(pid) => is_alive(pid) && comm(pid).as_deref() == Some("supervisor"),
            None => self.status().is_none(),
        }
    }

    pub fn signal(&self, signal: Signal) {
        assert!(
            self.is_running(),
            "cannot send {signal} to a guardian that exited\n{}",
            self.report()
        );
        kill(self.pid(), signal).expect("failed to signal the guardian");
    }

    /// Waits for the process we started to exit; panics with the report at the deadline.
    pub fn wait_exit(&self, timeout: Duration) -> ExitStatus {
        self.wait_for(timeout, "the guardian to exit", || self.status())
    }

    /// The guardian's exit code; panics (with the report) if a signal killed it.
    pub fn wait_exit_code(&self, timeout: Duration) -> i32 {
        let status = self.wait_exit(timeout);
        status
            .code()
            .unwrap_or_else(|| panic!("the guardian died of a signal: {status}\n{}", self.report()))
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.file("guardian.stderr")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.file("guardian.stdout")).unwrap_or_default()
    }

    /// The app's cgroup, seen from the host.
    pub fn app_cgroup_dir(&self) -> PathBuf {
        Path::new(self.view.tracking_mount())
            .join("supervisor")
            .join(&self.name)
    }

    /// The app cgroup's `cgroup.procs`; empty when the cgroup does not exist.
    pub fn cgroup_pids(&self) -> Vec<Pid> {
        read_pids(&self.app_cgroup_dir().join(CGROUP_PROCS))
    }

    /// Waits until `condition` holds; at the deadline panics with everything we know.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
        self.wait_for(timeout, what, || condition().then_some(()))
    }

    /// Waits until `probe` returns something, and returns it; at the deadline panics
    /// with the guardian's stderr, its status and the cgroup's `cgroup.procs`.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe() {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.report()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the file in the temp dir holds at least `n` complete lines.
    pub fn wait_for_lines(&self, file: &str, n: usize) -> Vec<String> {
        let path = self.file(file);
        self.wait_for(PATIENCE, &format!("{n} line(s) in {file}"), || {
            let lines = read_lines(&path);
            (lines.len() >= n).then_some(lines)
        })
    }

    /// Waits until the file in the temp dir holds at least `n` PIDs.
    pub fn wait_for_pids(&self, file: &str, n: usize) -> Vec<Pid> {
        self.wait_for_lines(file, n)
            .iter()
            .map(|l| parse_pid(l))
            .collect()
    }

    /// Asserts with the full report, for facts checked once rather than waited for.
    pub fn check(&self, fact: bool, what: &str) {
        assert!(fact, "expected {what}\n{}", self.report());
    }

    /// Everything a reader of a failed test needs, in one block.
    pub fn report(&self) -> String {
        let mut r = String::new();
        let status = match (self.detached.get(), self.status()) {
            (Some(pid), _) => format!("forked off as {pid}, running: {}", self.is_running()),
            (None, Some(status)) => format!("exited: {status}"),
            (None, None) => "running".to_owned(),
        };
        let _ = writeln!(
            r,
            "guardian {} ({status}), name {}, view {:?}",
            self.pid(),
            self.name,
            self.view
        );
        let _ = writeln!(r, "command: {}", self.command_line);
        let _ = writeln!(r, "--- guardian stderr ---\n{}", self.stderr());
        let _ = writeln!(r, "--- guardian stdout ---\n{}", self.stdout());
        let cgroup = self.app_cgroup_dir();
        if cgroup.exists() {
            let _ = writeln!(r, "--- {} ---", cgroup.join(CGROUP_PROCS).display());
            for pid in self.cgroup_pids() {
                let _ = writeln!(r, "{}", describe(pid));
            }
        } else {
            let _ = writeln!(r, "--- {}: does not exist ---", cgroup.display());
        }
        let _ = writeln!(r, "--- children of the guardian ---");
        for (pid, _) in children_of(self.pid()) {
            let _ = writeln!(r, "{}", describe(pid));
        }
        let _ = writeln!(r, "--- temp dir {} ---", self.dir().display());
        if let Ok(entries) = fs::read_dir(self.dir()) {
            let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            entries.sort();
            for path in entries
                .iter()
                .filter(|p| p.is_file() && !p.ends_with("guardian.stderr"))
            {
                let text = fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"));
                let text: String = text.chars().take(2000).collect();
                let _ = writeln!(r, "{}:\n{text}", path.display());
            }
        }
        r
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        let child = self.child.get_mut();
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.detached.get() {
            if is_alive(pid) && comm(pid).as_deref() == Some("supervisor") {
                let _ = kill(pid, Signal::SIGKILL);
                wait_quietly(|| !is_alive(pid));
            }
        }
        remove_cgroups_named(&self.name);
        for suffix in ["lock", "sock"] {
            let _ = fs::remove_file(Path::new(RUN_DIR).join(format!("{}.{suffix}", self.name)));
        }
        if !std::thread::panicking() {
            let stderr = self.stderr();
            assert!(
                !stderr.contains("panicked"),
                "the guardian panicked:\n{stderr}"
            );
        }
    }
}

/// Kills everything in, and removes, every `/sys/fs/cgroup/<hierarchy>/supervisor/<name>`
/// (the unique name makes them ours). Never panics: it runs in `Drop`.
fn remove_cgroups_named(name: &str) {
    let Ok(hierarchies) = fs::read_dir(CGROUP_ROOT) else {
        return;
    };
    for hierarchy in hierarchies.flatten() {
        let dir = hierarchy.path().join("supervisor").join(name);
        if dir.is_dir() {
            kill_cgroup_tree(&dir);
            remove_cgroup_tree(&dir);
        }
    }
}

fn kill_cgroup_tree(dir: &Path) {
    // A frozen v1 cgroup would hold its processes through SIGKILL.
    let _ = fs::write(dir.join(FREEZER_STATE), "THAWED");
    let _ = fs::write(dir.join(CGROUP_KILL), "1");
    wait_quietly(|| {
        let pids = pids_in_tree(dir);
        for &pid in &pids {
            let _ = kill(pid, Signal::SIGKILL);
        }
        pids.is_empty()
    });
}

fn remove_cgroup_tree(dir: &Path) {
    for sub in subdirs(dir) {
        remove_cgroup_tree(&sub);
    }
    wait_quietly(|| match fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == ErrorKind::NotFound,
    });
    if dir.exists() {
        eprintln!("warning: could not remove {}", dir.display());
    }
}

fn pids_in_tree(dir: &Path) -> Vec<Pid> {
    let mut pids = read_pids(&dir.join(CGROUP_PROCS));
    for sub in subdirs(dir) {
        pids.extend(pids_in_tree(&sub));
    }
    pids
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `done` for up to ten seconds, for cleanup that must not panic.
fn wait_quietly(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
}

/// The complete lines of a file (a line still being written is not one yet).
pub fn read_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Vec::new(),
    };
    complete.lines().map(str::to_owned).collect()
}

fn read_pids(path: &Path) -> Vec<Pid> {
    read_lines(path).iter().map(|l| parse_pid(l)).collect()
}

pub fn parse_pid(line: &str) -> Pid {
    Pid::from_raw(
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a PID: {line:?}")),
    )
}

/// `(state, ppid)` from `/proc/<pid>/stat`, or None if there is no such process.
fn stat(pid: Pid) -> Option<(char, Pid)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: the fields after it follow the last ')'.
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, Pid::from_raw(ppid)))
}

/// Alive: it exists and is not a zombie.
pub fn is_alive(pid: Pid) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// Gone: not even a zombie is left (its parent reaped it).
pub fn is_gone(pid: Pid) -> bool {
    stat(pid).is_none()
}

pub fn comm(pid: Pid) -> Option<String> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_owned())
}

/// Every PID in /proc.
fn all_pids() -> Vec<Pid> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .collect()
}

/// The processes whose parent is `parent`, with their state letters.
pub fn children_of(parent: Pid) -> Vec<(Pid, char)> {
    all_pids()
        .into_iter()
        .filter_map(|pid| match stat(pid) {
            Some((state, ppid)) if ppid == parent => Some((pid, state)),
            _ => None,
        })
        .collect()
}

/// Live processes anywhere whose `/proc/<pid>/cgroup` names `/supervisor/<name>`.
pub fn live_processes_in_cgroups_named(name: &str) -> Vec<Pid> {
    let suffix = format!(":/supervisor/{name}");
    all_pids()
        .into_iter()
        .filter(|&pid| {
            let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            cgroups.lines().any(|l| l.ends_with(&suffix)) && is_alive(pid)
        })
        .collect()
}

fn describe(pid: Pid) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default();
    match stat(pid) {
        Some((state, ppid)) => format!("{pid} ppid {ppid} state {state}: {cmdline}"),
        None => format!("{pid}: gone"),
    }
}

/// The outcome of a short CLI run.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the guardian for the CLI tier (help, version, usage errors): no cgroup view, no
/// root needed; killed after `PATIENCE` so a guardian that wrongly runs cannot hang the suite.
pub fn run_cli<I, S>(args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(BIN);
    command.args(args);
    run_to_end(command)
}

/// Runs `command` to its end in a temp dir of its own (killed after `PATIENCE`, so a hung
/// guardian or client cannot hang the suite), stdout and stderr captured; its stderr must
/// never show a panic.
pub fn run_to_end(mut command: Command) -> Outcome {
    let dir = tempfile::tempdir().expect("failed to create the temp dir");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    if command.get_current_dir().is_none() {
        command.current_dir(dir.path());
    }
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).expect("stdout file"))
        .stderr(fs::File::create(&err).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("failed to spawn {described}: {e}"));
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("failed to wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{described} did not exit within {PATIENCE:?}; stderr:\n{}",
                fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(POLL);
    };
    let outcome = Outcome {
        code: status.code(),
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    };
    assert!(
        !outcome.stderr.contains("panicked"),
        "{described} panicked:\n{}",
        outcome.stderr
    );
    outcome
}

/// The live (not zombie) children of `parent`.
pub fn live_children(parent: Pid) -> Vec<Pid> {
    children_of(parent)
        .into_iter()
        .filter(|(_, state)| *state != 'Z')
        .map(|(pid, _)| pid)
        .collect()
}

/// A process the test itself started (a PID outside every app cgroup); killed on drop.
pub struct Bystander(Child);

impl Bystander {
    pub fn sleep() -> Bystander {
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("failed to spawn a bystander");
        Bystander(child)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Builder {
    /// Like [`Builder::start`], but a shell first writes itself into `cgroup` (a cgroup2
    /// directory seen from the host), then execs the guardian: the guardian starts there,
    /// as it would in a systemd unit's cgroup.
    pub fn start_in_cgroup(self, cgroup: &Path) -> Guardian {
        let mut shell = Command::new("/bin/sh");
        shell
            .args(["-c", r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#])
            .arg("enter-cgroup")
            .arg(cgroup);
        let guardian = self.start_under(shell);
        guardian.wait_until(PATIENCE, "the guardian to exec (or exit)", || {
            guardian.status().is_some() || comm(guardian.pid()).as_deref() == Some("supervisor")
        });
        guardian
    }

    /// Starts `WRAPPER BIN --name <name> ARGS -- APP` on the host's view, as
    /// [`Builder::start`] does otherwise, without waiting for anything: a wrapper that
    /// forks (`unshare --fork`) is the process the harness started, and the test calls
    /// [`Guardian::follow_detached`] once it has found the guardian.
    pub fn start_under(self, mut wrapper: Command) -> Guardian {
        assert_eq!(
            self.view,
            View::V2,
            "a wrapped guardian runs on the host's view"
        );
        wrapper.arg(BIN);
        self.launch(wrapper)
    }
}

/// Kills every process in the cgroup tree at `dir` (by PID, and with `cgroup.kill`), then
/// removes the tree, deepest first: for cgroups a test made itself. Never panics.
pub fn remove_cgroup_dir(dir: &Path) {
    kill_cgroup_tree(dir);
    remove_cgroup_tree(dir);
}
