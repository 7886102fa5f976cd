//! The guardian as a container's entrypoint: PID 1 of a new PID namespace
//! (`unshare --pid --fork --mount-proc`). It reaps every orphan, forwards signals, stops on
//! SIGTERM and passes the app's exit status out, through `unshare`, to whoever started it.
//!
//! `unshare --fork` is the process the test started; the guardian is its child. The test
//! signals the guardian by its host PID, as a container runtime does. The host's view
//! only: what is tested here does not depend on the cgroup version.

use std::fs;
use std::process::Command;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::harness::{Guardian, PATIENCE, View, children_of, comm, is_alive, read_lines};
use crate::payloads;

/// Starts `unshare --pid --fork --mount-proc -- supervisor ARGS -- APP` and follows the
/// guardian (the child of unshare) by its host PID.
fn start_as_pid_1(
    view: View,
    tag: &str,
    args: &[&str],
    app: fn(&std::path::Path) -> Vec<String>,
) -> Guardian {
    let b = Guardian::build(view, tag);
    let app = app(&b.dir());
    let g = b.args(args).app(app).start_under(new_pid_namespace());
    let guardian = g.wait_for(PATIENCE, "the guardian, the child of unshare", || {
        children_of(g.pid())
            .into_iter()
            .map(|(pid, _)| pid)
            .find(|&pid| comm(pid).as_deref() == Some("supervisor"))
    });
    g.follow_detached(guardian);
    // Negative control of every test here: it really is PID 1 of its own namespace.
    let ns_pids = ns_pids(guardian);
    g.check(
        ns_pids.len() == 2 && ns_pids[1] == "1",
        &format!("the guardian to be PID 1 of a new namespace, NSpid {ns_pids:?}"),
    );
    g
}

/// `unshare --pid --fork --mount-proc --`: what a container runtime does, in one line.
fn new_pid_namespace() -> Command {
    let mut unshare = Command::new("unshare");
    unshare.args(["--pid", "--fork", "--mount-proc", "--"]);
    unshare
}

/// The `NSpid:` fields of a process: its PID in each namespace, outermost first.
fn ns_pids(pid: Pid) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn reaps_every_orphan_as_pid_1_of_a_new_pid_namespace(view: View) {
    let g = start_as_pid_1(view, "pid1-reap", &[], payloads::leave_orphans_until_go);
    let guardian = g.pid();
    g.wait_for_pids("pids", 1);
    g.check(
        read_lines(&g.file("ppid")) == ["1"],
        "the app's parent to be PID 1, as the app sees it",
    );
    g.wait_for_lines("orphans", 3);
    // Negative control: the orphans lost their parent and are now the guardian's, alive.
    g.wait_until(
        PATIENCE,
        "the app and three live orphans as the guardian's children",
        || {
            let children = children_of(guardian);
            children.len() == 4 && children.iter().all(|&(_, state)| state != 'Z')
        },
    );

    fs::write(g.file("go"), "").expect("failed to create go");
    g.wait_until(
        PATIENCE,
        "the orphans reaped: only the app left, no zombie",
        || {
            let children = children_of(guardian);
            children.len() == 1 && children[0].1 != 'Z'
        },
    );
    g.check(g.is_running(), "the guardian still running");
}
in_views!(reaps_every_orphan_as_pid_1_of_a_new_pid_namespace: v2);

fn sigterm_to_pid_1_stops_the_app_and_unshare_exits_0(view: View) {
    let g = start_as_pid_1(view, "pid1-term", &[], payloads::record_pid_then_sleep);
    g.wait_for_pids("pids", 1);
    let app = g.wait_for(PATIENCE, "the app, the guardian's child", || {
        children_of(g.pid()).first().map(|&(pid, _)| pid)
    });
    g.check(is_alive(app), "the app running before the stop");

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("unshare to exit 0, got {code}"));
    g.check(!is_alive(app), "the app gone");
    g.check(!g.app_cgroup_dir().exists(), "the app's cgroup removed");
}
in_views!(sigterm_to_pid_1_stops_the_app_and_unshare_exits_0: v2);

fn pid_1_forwards_hup_to_the_app(view: View) {
    let g = start_as_pid_1(view, "pid1-hup", &[], payloads::record_signals);
    g.wait_for_pids("pids", 1);
    // Negative control: nothing recorded before the signal.
    g.check(!g.file("signals").exists(), "no signal recorded yet");
    g.signal(Signal::SIGHUP);
    let signals = g.wait_for_lines("signals", 1);
    g.check(
        signals == ["HUP"],
        &format!("HUP forwarded, got {signals:?}"),
    );
}
in_views!(pid_1_forwards_hup_to_the_app: v2);

fn app_exit_code(view: View, code: i32) {
    let b = Guardian::build(view, &format!("pid1-exit-{code}"));
    let app = payloads::exit_with(&b.dir(), code);
    let g = b.app(app).start_under(new_pid_namespace());
    let got = g.wait_exit_code(PATIENCE);
    g.check(got == code, &format!("unshare to exit {code}, got {got}"));
    g.check(g.wait_for_pids("pids", 1).len() == 1, "one run of the app");
}

fn app_exit_code_7_is_the_exit_code_of_the_whole_unshare_command(view: View) {
    app_exit_code(view, 7);
}
in_views!(app_exit_code_7_is_the_exit_code_of_the_whole_unshare_command: v2);

/// Negative control of the above: the code is the app's, not a constant.
fn app_exit_code_0_is_the_exit_code_of_the_whole_unshare_command(view: View) {
    app_exit_code(view, 0);
}
in_views!(app_exit_code_0_is_the_exit_code_of_the_whole_unshare_command: v2);
