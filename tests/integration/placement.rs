//! Placement: not one instruction of the app runs outside its dedicated cgroup.

use crate::harness::{Guardian, PATIENCE, View};
use crate::payloads;

/// The program is `cat /proc/self/cgroup`: what it prints is where its first instruction
/// ran. The tracking hierarchy must name `/supervisor/<name>`.
fn app_starts_inside_its_own_cgroup(view: View) {
    let g = Guardian::build(view, "placement")
        .app(payloads::report_cgroup_at_once())
        .start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, "the guardian to exit 0 after the app exited 0");

    let wanted = format!(":/supervisor/{}", g.name());
    let tracking_line = g
        .stdout()
        .lines()
        .find(|l| tracking_hierarchy(view, l))
        .map(str::to_owned);
    g.check(
        tracking_line
            .as_deref()
            .is_some_and(|l| l.ends_with(&wanted)),
        &format!(
            "the app's first look at /proc/self/cgroup to name {wanted} in the tracking hierarchy"
        ),
    );
}
in_views!(app_starts_inside_its_own_cgroup: v2, v1, pure_v2);

/// Negative control: the guardian itself stays out of the app's cgroup (no-internal-process
/// rule on v2, and a stop that kills the cgroup must not kill the guardian).
fn guardian_stays_outside_the_app_cgroup(view: View) {
    let b = Guardian::build(view, "outside");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start();
    let app_pid = g.wait_for_pids("pids", 1)[0];
    g.wait_until(PATIENCE, "the app in its cgroup", || {
        g.cgroup_pids().contains(&app_pid)
    });
    g.check(
        !g.cgroup_pids().contains(&g.pid()),
        "the guardian outside the app's cgroup",
    );
}
in_views!(guardian_stays_outside_the_app_cgroup: v2, v1, pure_v2);

/// `0::/path` for cgroup2, `N:pids:/path` for the v1 `pids` hierarchy.
fn tracking_hierarchy(view: View, line: &str) -> bool {
    match view {
        View::V2 | View::PureV2 => line.starts_with("0::"),
        View::V1 => line.split(':').nth(1) == Some("pids"),
    }
}
