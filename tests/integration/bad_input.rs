//! Bad input: paths, numbers, names, environments and cgroups the guardian must refuse
//! (or survive) with one clear line, its documented exit code, and nothing left running.

use std::fs;
use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::harness::{
    Bystander, Guardian, PATIENCE, View, is_alive, live_processes_in_cgroups_named, read_lines,
    remove_cgroup_dir, run_cli,
};
use crate::payloads;

/// Asserts that nothing of the app runs and its cgroup is gone, after the guardian exited.
fn check_nothing_left(g: &Guardian) {
    g.check(!g.app_cgroup_dir().exists(), "no cgroup left");
    let left = live_processes_in_cgroups_named(g.name());
    g.check(left.is_empty(), &format!("no process left, found {left:?}"));
}

/// The one stderr line that contains `needle`, in the message grammar.
fn check_one_line_naming(g: &Guardian, needle: &str) {
    let stderr = g.stderr();
    let lines: Vec<_> = stderr.lines().filter(|l| l.contains(needle)).collect();
    g.check(
        lines.len() == 1 && lines[0].starts_with(&format!("supervisor[{}]:", g.name())),
        &format!("one line naming {needle:?}, found {lines:?}"),
    );
}

/// `unshare -m` into a private mount namespace: `setup` runs there in sh (`$1`... are
/// `args`), then the guardian is executed (`Builder::start_under` appends it).
fn in_private_mounts(setup: &str, args: &[&Path]) -> Command {
    let mut wrapper = Command::new("unshare");
    wrapper
        .args(["-m", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(format!("{setup} && shift {} && exec \"$@\"", args.len()))
        .arg("private-mounts")
        .args(args);
    wrapper
}

/// The guardian gave up before the app ran: exit 1, and the app recorded nothing.
fn check_stopped_before_the_app(g: &Guardian) {
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 1, &format!("exit code 1, got {code}"));
    g.check(
        read_lines(&g.file("pids")).is_empty(),
        "the app never started",
    );
}

#[test]
fn pidfile_in_a_missing_directory_is_a_runtime_error_before_the_app_starts() {
    let b = Guardian::build(View::V2, "pidfile-nodir");
    let pidfile = b.dir().join("no-such-dir").join("guardian.pid");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-p").arg(&pidfile).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 1, &format!("exit code 1, got {code}"));
    check_one_line_naming(&g, &pidfile.display().to_string());
    g.check(
        read_lines(&g.file("pids")).is_empty(),
        "the app never started",
    );
    check_nothing_left(&g);
}

/// A full disk under the pid file: the guardian runs in a private mount namespace where
/// the pid file's directory is a tmpfs of two pages, already full. The write fails with
/// ENOSPC: one line naming the pid file, exit 1, the app never left running.
#[test]
fn pidfile_on_a_full_disk_is_a_runtime_error_and_leaves_nothing_running() {
    let b = Guardian::build(View::V2, "pidfile-full");
    let full = b.dir().join("full");
    fs::create_dir(&full).unwrap();
    let pidfile = full.join("guardian.pid");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let wrapper = in_private_mounts(
        r#"mount -t tmpfs -o size=8k tmpfs "$1" && { head -c 8192 /dev/zero > "$1/fill"; true; }"#,
        &[&full],
    );
    let g = b.arg("-p").arg(&pidfile).app(app).start_under(wrapper);
    check_stopped_before_the_app(&g);
    check_one_line_naming(&g, &pidfile.display().to_string());
    g.check(
        g.stderr().contains("No space left on device"),
        "the cause named: ENOSPC",
    );
    check_nothing_left(&g);
}

/// No cgroup hierarchy at all: in a private mount namespace every cgroup mount is hidden.
/// The guardian would then mount its own named v1 hierarchy under /run/supervisor/cgroup,
/// which a test must never let happen (its options are host-wide); so that path is a file
/// here (on a private tmpfs), the guardian cannot make the mount point, and it stops before
/// any mount: one line, exit 1, the app never runs.
#[test]
fn no_cgroup_hierarchy_at_all_is_a_clear_runtime_error() {
    let b = Guardian::build(View::V2, "no-hierarchy");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let wrapper = in_private_mounts(
        concat!(
            "mount -t tmpfs tmpfs /run/supervisor && : > /run/supervisor/cgroup && ",
            "[ -f /run/supervisor/cgroup ] && umount -l /sys/fs/cgroup"
        ),
        &[],
    );
    let g = b.app(app).start_under(wrapper);
    check_stopped_before_the_app(&g);
    check_one_line_naming(&g, "no usable cgroup hierarchy");
    g.check(
        g.stderr().contains("/run/supervisor/cgroup"),
        "the line names where it would have mounted one",
    );
}

/// A cgroup mount the guardian cannot use: in a private mount namespace a tmpfs covers
/// the `supervisor` directory of the cgroup2 mount, so the app's "cgroup" is a plain
/// directory with no cgroup files. The guardian must stop with one line naming the file
/// it could not use, never run the app outside a cgroup.
#[test]
fn an_unusable_cgroup_mount_is_a_clear_runtime_error_and_the_app_never_runs() {
    let b = Guardian::build(View::V2, "unusable-cgroup");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let wrapper = in_private_mounts(
        "mount -t tmpfs tmpfs /sys/fs/cgroup/unified/supervisor",
        &[],
    );
    let g = b.app(app).start_under(wrapper);
    check_stopped_before_the_app(&g);
    check_one_line_naming(&g, "cgroup.procs");
    g.check(
        g.stderr()
            .contains("fatal: failed to open /sys/fs/cgroup/unified/supervisor/"),
        "a fatal line naming the file, not a warning the guardian carries on after",
    );
}

#[test]
fn pidfile_that_is_a_symlink_never_writes_through_it() {
    let b = Guardian::build(View::V2, "pidfile-link");
    let target = b.dir().join("precious");
    fs::write(&target, "precious content\n").unwrap();
    let pidfile = b.dir().join("guardian.pid");
    symlink(&target, &pidfile).unwrap();
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-p").arg(&pidfile).app(app).start();
    let app_pid = g.wait_for_pids("pids", 1)[0];
    // Control: the pid file names the guardian (the link was replaced, not followed).
    g.wait_until(PATIENCE, "the pid file to name the guardian", || {
        read_lines(&pidfile) == [g.pid().to_string()]
    });
    g.check(
        fs::read_to_string(&target).unwrap() == "precious content\n",
        "the link's target intact while the guardian runs",
    );
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit code 0, got {code}"));
    g.check(!is_alive(app_pid), "the app stopped");
    g.check(
        fs::read_to_string(&target).unwrap() == "precious content\n",
        "the link's target intact after the guardian exited",
    );
    check_nothing_left(&g);
}

#[test]
fn absurd_numeric_values_are_usage_errors_naming_the_option() {
    let cases: [(&[&str], &str); 10] = [
        (&["-l", "1e300"], "delay-limit"),
        (&["-l", "0"], "delay-limit"),
        (&["--stop-timeout", "99999999999"], "stop-timeout"),
        (&["--stable-after", "-5"], "stable-after"),
        (&["--upgrade-timeout", "0"], "upgrade-timeout"),
        (&["-s", "256"], "success"),
        (&["-s", "-1"], "success"),
        (&["--stop-signal", "0"], "stop-signal"),
        (&["--stop-signal", "65"], "stop-signal"),
        (&["--reload-signal", "KILLME"], "reload-signal"),
    ];
    for (args, option) in cases {
        let out = run_cli(args.iter().chain(&["--", "/bin/true"]));
        assert_eq!(out.code, Some(2), "{args:?}: stderr:\n{}", out.stderr);
        assert!(
            out.stderr.lines().any(|l| l.contains(option)),
            "{args:?}: no line naming {option}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn names_that_are_no_file_names_are_usage_errors() {
    let long = "n".repeat(200);
    for name in ["a/b", "..", "../x", long.as_str()] {
        let out = run_cli(["--name", name, "--", "/bin/true"]);
        assert_eq!(out.code, Some(2), "{name:?}: stderr:\n{}", out.stderr);
        assert!(
            out.stderr.lines().count() == 1 && out.stderr.contains("--name"),
            "{name:?}: one line naming --name:\n{}",
            out.stderr
        );
    }
}

#[test]
fn program_is_found_through_a_huge_path() {
    let b = Guardian::build(View::V2, "huge-path");
    // One environment string may hold at most 128 KiB (MAX_ARG_STRLEN, execve(2)): 120
    // KiB of directories that do not exist, then the real ones.
    let mut path = String::new();
    let mut i = 0;
    while path.len() < 120 * 1024 {
        path.push_str(&format!("/nonexistent-{i:06}/bin:"));
        i += 1;
    }
    path.push_str("/usr/bin:/bin");
    let mut app = payloads::exit_with(&b.dir(), 3);
    app[0] = "sh".to_owned();
    let mut wrapper = Command::new("/usr/bin/env");
    wrapper.env("PATH", &path);
    let g = b.app(app).start_under(wrapper);
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 3,
        &format!("the app found and its exit code 3 returned, got {code}"),
    );
    g.check(g.wait_for_pids("pids", 1).len() == 1, "the app ran once");
    check_nothing_left(&g);
}

/// A cgroup of the test's own, outside `/supervisor`, holding a `sleep` of the test's;
/// `Drop` kills what is in it and removes it.
struct ForeignCgroup {
    dir: PathBuf,
    /// Relative to the cgroup2 mount: what `--cgroup` takes.
    path: String,
    sleeper: Bystander,
}

impl ForeignCgroup {
    fn create() -> ForeignCgroup {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("test-foreign-{}-{n}", std::process::id());
        let dir = Path::new("/sys/fs/cgroup/unified").join(&name);
        fs::create_dir(&dir).expect("failed to create the foreign cgroup");
        let sleeper = Bystander::sleep();
        let foreign = ForeignCgroup {
            dir,
            path: format!("/{name}"),
            sleeper,
        };
        fs::write(
            foreign.dir.join("cgroup.procs"),
            foreign.sleeper.pid().to_string(),
        )
        .expect("failed to move the sleeper into the foreign cgroup");
        foreign
    }

    fn procs(&self) -> Vec<String> {
        read_lines(&self.dir.join("cgroup.procs"))
    }
}

impl Drop for ForeignCgroup {
    fn drop(&mut self) {
        remove_cgroup_dir(&self.dir);
    }
}

#[test]
fn cgroup_holding_a_foreign_process_is_refused_and_left_alone() {
    let foreign = ForeignCgroup::create();
    let sleeper = foreign.sleeper.pid();
    // Control: the foreign process is where we put it.
    assert_eq!(foreign.procs(), [sleeper.to_string()]);
    let b = Guardian::build(View::V2, "foreign");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("--cgroup").arg(&foreign.path).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 1, &format!("exit code 1, got {code}"));
    g.check(
        g.stderr().lines().any(|l| l.contains(&foreign.path)),
        "a line naming the cgroup",
    );
    g.check(
        read_lines(&g.file("pids")).is_empty(),
        "the app never started",
    );
    g.check(is_alive(sleeper), "the foreign process alive");
    g.check(
        foreign.dir.is_dir() && foreign.procs() == [sleeper.to_string()],
        "the foreign cgroup intact, holding the foreign process",
    );
}

#[test]
fn main_pidfile_that_is_a_fifo_never_hangs_the_guardian() {
    let b = Guardian::build(View::V2, "fifo");
    let main_pidfile = b.dir().join("app.pid");
    let app = payloads::main_pidfile_is_a_fifo(&b.dir(), &main_pidfile);
    let started = Instant::now();
    let g = b.arg("-P").arg(&main_pidfile).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    let took = started.elapsed();
    g.check(code == 1, &format!("the app's exit code 1, got {code}"));
    g.check(
        took < Duration::from_secs(5),
        &format!("the guardian to exit promptly, took {took:?}"),
    );
    g.check(g.wait_for_pids("pids", 1).len() == 1, "the app ran once");
    // Control: the app did leave a FIFO there.
    g.check(
        fs::metadata(&main_pidfile).is_ok_and(|m| m.file_type().is_fifo()),
        "a FIFO at the -P path",
    );
    check_nothing_left(&g);
}
