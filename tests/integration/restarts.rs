//! Restarts: crash and error classification, the success list, and the backoff schedule.

use nix::sys::signal::{Signal, kill};

use crate::harness::{Guardian, PATIENCE, View, is_alive};
use crate::payloads;

fn crash_with_c_brings_a_new_instance_under_the_same_guardian(view: View) {
    let b = Guardian::build(view, "crash-c");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-c").app(app).start();
    let first = g.wait_for_pids("pids", 1)[0];
    g.wait_until(PATIENCE, "the first instance in the cgroup", || {
        g.cgroup_pids() == [first]
    });

    kill(first, Signal::SIGSEGV).unwrap();
    let second = g.wait_for_pids("pids", 2)[1];
    g.wait_until(PATIENCE, "only the new instance in the cgroup", || {
        g.cgroup_pids() == [second]
    });
    g.check(second != first, "a new PID for the new instance");
    g.check(!is_alive(first), "the crashed instance gone");
    g.check(g.is_running(), "the same guardian process still running");
}
in_views!(crash_with_c_brings_a_new_instance_under_the_same_guardian: v2, v1, pure_v2);

/// Negative control of the above: without `-c` a crash ends the guardian with 128+SEGV.
fn crash_without_c_ends_the_guardian_with_139(view: View) {
    let b = Guardian::build(view, "crash");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start();
    let first = g.wait_for_pids("pids", 1)[0];

    kill(first, Signal::SIGSEGV).unwrap();
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 139,
        &format!("exit code 139 (128 + SIGSEGV), got {code}"),
    );
    g.check(g.wait_for_pids("pids", 1).len() == 1, "no restart");
}
in_views!(crash_without_c_ends_the_guardian_with_139: v2, v1);

/// Failures in a row wait 0, 1, 2 s before the restart. The gaps between start times may be
/// longer on a loaded machine, never shorter.
fn error_with_e_restarts_after_0_1_2_seconds(view: View) {
    let b = Guardian::build(view, "backoff");
    let app = payloads::log_start_time(&b.dir(), 1);
    let g = b.arg("-e").app(app).start();
    let starts: Vec<f64> = g
        .wait_for_lines("starts", 4)
        .iter()
        .take(4)
        .map(|l| l.parse().expect("an uptime"))
        .collect();
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);

    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected) in gaps.iter().zip([0.0, 1.0, 2.0]) {
        g.check(
            *gap >= expected - 0.1 && *gap <= expected + 1.5,
            &format!("gaps between starts of about [0, 1, 2] s, got {gaps:?}"),
        );
    }
    g.check(
        code == 0,
        &format!("exit 0 after SIGTERM during a backoff, got {code}"),
    );
}
in_views!(error_with_e_restarts_after_0_1_2_seconds: v2, v1);

fn success_code_from_s_ends_the_guardian_with_that_code(view: View) {
    let b = Guardian::build(view, "success");
    let app = payloads::exit_with(&b.dir(), 3);
    let g = b.args(["-e", "-s", "3"]).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 3, &format!("exit code 3, got {code}"));
    g.check(
        g.wait_for_pids("pids", 1).len() == 1,
        "no restart after a success code",
    );
}
in_views!(success_code_from_s_ends_the_guardian_with_that_code: v2, v1);

/// Negative control of the above: without `-s 3`, exit 3 is an error and `-e` restarts.
fn exit_code_outside_the_success_list_restarts_with_e(view: View) {
    let b = Guardian::build(view, "error");
    let app = payloads::exit_with(&b.dir(), 3);
    let g = b.arg("-e").app(app).start();
    g.wait_for_pids("pids", 2);
    g.check(g.is_running(), "the guardian still running");
}
in_views!(exit_code_outside_the_success_list_restarts_with_e: v2, v1);

/// Without `-e`, an error ends the guardian with the app's code.
fn error_without_e_ends_the_guardian_with_the_app_code(view: View) {
    let b = Guardian::build(view, "error-no-e");
    let app = payloads::exit_with(&b.dir(), 5);
    let g = b.arg("-c").app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 5, &format!("exit code 5, got {code}"));
    g.check(g.wait_for_pids("pids", 1).len() == 1, "no restart");
}
in_views!(error_without_e_ends_the_guardian_with_the_app_code: v2, v1);
