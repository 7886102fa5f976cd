//! Stopping: SIGTERM/SIGINT to the guardian ends the app, all of it, and exits 0.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::harness::{
    Guardian, PATIENCE, View, is_alive, live_processes_in_cgroups_named, read_lines,
};
use crate::payloads;

fn stop(view: View, signal: Signal) {
    let b = Guardian::build(view, "stop");
    let pidfile = b.dir().join("guardian.pid");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-p").arg(&pidfile).app(app).start();
    let app_pid = g.wait_for_pids("pids", 1)[0];
    // Negative control: before the stop, all that the stop must remove is there.
    g.wait_until(PATIENCE, "the app in its cgroup", || {
        g.cgroup_pids() == [app_pid]
    });
    g.wait_until(PATIENCE, "the pidfile to name the guardian", || {
        read_lines(&pidfile) == [g.pid().to_string()]
    });

    g.signal(signal);
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("exit code 0 after {signal}, got {code}"),
    );
    g.check(!is_alive(app_pid), "the app gone");
    g.check(!g.app_cgroup_dir().exists(), "the cgroup directory removed");
    g.check(!pidfile.exists(), "the pidfile removed");
}

fn sigterm_stops_the_app_removes_cgroup_and_pidfile_and_exits_0(view: View) {
    stop(view, Signal::SIGTERM);
}
in_views!(sigterm_stops_the_app_removes_cgroup_and_pidfile_and_exits_0: v2, v1, pure_v2);

fn sigint_stops_the_app_removes_cgroup_and_pidfile_and_exits_0(view: View) {
    stop(view, Signal::SIGINT);
}
in_views!(sigint_stops_the_app_removes_cgroup_and_pidfile_and_exits_0: v2, v1);

fn app_that_ignores_term_is_killed_after_the_stop_timeout(view: View) {
    let b = Guardian::build(view, "ignore-term");
    let app = payloads::ignore_term(&b.dir());
    let g = b.args(["--stop-timeout", "1"]).app(app).start();
    let app_pid = g.wait_for_pids("pids", 1)[0];
    // Negative control: the app really ignores TERM (bit 15 of SigIgn).
    g.check(ignores(app_pid, Signal::SIGTERM), "the app to ignore TERM");

    let asked = Instant::now();
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    let took = asked.elapsed();
    g.check(code == 0, &format!("exit code 0, got {code}"));
    g.check(
        took >= Duration::from_millis(900),
        &format!("the stop timeout respected, stopped after {took:?}"),
    );
    g.check(!is_alive(app_pid), "the app killed");
    g.check(!g.app_cgroup_dir().exists(), "the cgroup directory removed");
}
in_views!(app_that_ignores_term_is_killed_after_the_stop_timeout: v2, v1);

fn app_that_keeps_forking_during_the_stop_leaves_nothing_behind(view: View) {
    let b = Guardian::build(view, "fork-stop");
    let app = payloads::fork_during_stop(&b.dir());
    let g = b.args(["--stop-timeout", "1"]).app(app).start();
    let app_pid = g.wait_for_pids("pids", 1)[0];

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit code 0, got {code}"));
    // Negative control: the app did fork during the stop.
    let forked = read_lines(&g.file("forked")).len();
    g.check(
        forked >= 2,
        &format!("the app to fork during the stop, it forked {forked} times"),
    );
    g.check(!is_alive(app_pid), "the app killed");
    g.check(!g.app_cgroup_dir().exists(), "the cgroup directory removed");
    let left = live_processes_in_cgroups_named(g.name());
    g.check(
        left.is_empty(),
        &format!("no process of the app left, found {left:?}"),
    );
}
in_views!(app_that_keeps_forking_during_the_stop_leaves_nothing_behind: v2, v1);

/// Whether `/proc/<pid>/status` lists `signal` in SigIgn.
fn ignores(pid: nix::unistd::Pid, signal: Signal) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal as i32 - 1)) != 0)
}
