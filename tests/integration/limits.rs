//! `--pids-max`: the cgroup pids controller contains a fork storm, where the host offers
//! it to the tracking hierarchy (v1 `pids` here; this hybrid host's cgroup2 has no pids
//! controller, so there the option is refused rather than silently ignored).

use nix::sys::signal::Signal;

use crate::harness::{Guardian, PATIENCE, View, read_lines};

const LIMIT: usize = 12;

/// Each start tries to run 40 sleeps; the cgroup never holds more than the limit.
fn pids_max_contains_a_fork_storm(view: View) {
    let b = Guardian::build(view, "pids-max");
    let app = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        // dash gives up when a fork fails, so the storm runs in a subshell; the record is
        // a builtin, since at the limit nothing more can be forked.
        r#"(i=0; while [ $i -lt 40 ]; do sleep 600 & i=$((i+1)); done) 2>/dev/null; echo held >> "$1/ran"; exec sleep 600"#.to_owned(),
        "storm".to_owned(),
        b.dir().display().to_string(),
    ];
    let g = b.arg("--pids-max").arg(LIMIT.to_string()).app(app).start();
    g.wait_for_lines("ran", 1);
    let held = g.cgroup_pids().len();
    g.check(
        (LIMIT / 2..=LIMIT).contains(&held),
        &format!("the storm held at the limit: {held} of at most {LIMIT} processes"),
    );
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    g.check(!g.app_cgroup_dir().exists(), "nothing left");
}
in_views!(pids_max_contains_a_fork_storm: v1);

/// Where the hierarchy has no pids controller, the limit cannot be had: refused with a
/// line naming the controller, and the app never runs.
fn pids_max_is_refused_where_the_host_has_no_pids_controller(view: View) {
    let b = Guardian::build(view, "pids-max-no");
    let app = crate::payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("--pids-max").arg("12").app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 1, &format!("exit 1, got {code}"));
    g.check(
        g.stderr().contains("the pids controller is not available"),
        "a line naming the missing controller",
    );
    g.check(read_lines(&g.file("pids")).is_empty(), "the app never ran");
}
in_views!(pids_max_is_refused_where_the_host_has_no_pids_controller: v2);

/// On v1 there is no atomic `cgroup.kill`: the app also lives in a twin cgroup of the
/// freezer hierarchy, and a kill freezes it first, so a fork storm cannot outrun it.
fn v1_kill_freezes_a_fork_storm_first_and_leaves_nothing(view: View) {
    let b = Guardian::build(view, "freeze");
    let app = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        r#"trap '' TERM; grep freezer /proc/self/cgroup > "$1/freezer"; while :; do (exit 0) & done"#
            .to_owned(),
        "storm".to_owned(),
        b.dir().display().to_string(),
    ];
    let g = b.arg("--stop-timeout").arg("1").app(app).start();
    let line = g.wait_for_lines("freezer", 1);
    let twin = format!(":freezer:/supervisor/{}", g.name());
    g.check(
        line[0].ends_with(&twin),
        &format!("the app in its freezer twin: {line:?}"),
    );
    let twin_dir = std::path::Path::new("/sys/fs/cgroup/freezer/supervisor").join(g.name());
    g.check(twin_dir.is_dir(), "the twin cgroup exists");
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("exit 0 after the timed-out stop, got {code}"),
    );
    g.check(
        g.stderr().contains("stop timed out"),
        "TERM ignored: the cgroup was killed",
    );
    g.check(!g.app_cgroup_dir().exists(), "the app's cgroup removed");
    g.check(!twin_dir.exists(), "the freezer twin removed");
    g.check(
        crate::harness::live_processes_in_cgroups_named(g.name()).is_empty(),
        "nothing of the storm left",
    );
}
in_views!(v1_kill_freezes_a_fork_storm_first_and_leaves_nothing: v1);
