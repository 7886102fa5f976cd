//! Following an app that daemonizes: the parent exits 0 and one child carries on.

use nix::sys::signal::{Signal, kill};

use crate::harness::{Guardian, PATIENCE, View, children_of, is_alive, is_gone};
use crate::payloads;

fn follows_an_app_that_daemonizes_and_restarts_it_after_the_daemon_crashes(view: View) {
    let b = Guardian::build(view, "daemonize");
    let app = payloads::daemonize(&b.dir());
    let g = b.arg("-c").app(app).start();
    let starter = g.wait_for_pids("starters", 1)[0];
    let daemon = g.wait_for_pids("daemons", 1)[0];

    // Negative control: the original PID really exited (and was reaped, no zombie).
    g.wait_until(PATIENCE, "the starter to exit and be reaped", || {
        is_gone(starter)
    });
    g.wait_until(PATIENCE, "no zombie among the guardian's children", || {
        children_of(g.pid()).iter().all(|&(_, state)| state != 'Z')
    });
    g.check(
        g.is_running(),
        "the guardian still running after the starter exited 0",
    );
    g.check(g.cgroup_pids() == [daemon], "only the daemon in the cgroup");

    kill(daemon, Signal::SIGSEGV).unwrap();
    let new_daemon = g.wait_for_pids("daemons", 2)[1];
    g.wait_until(PATIENCE, "only the new daemon in the cgroup", || {
        g.cgroup_pids() == [new_daemon]
    });
    g.check(!is_alive(daemon), "the crashed daemon gone");
    g.check(
        g.wait_for_pids("starters", 2).len() == 2,
        "exactly one new start",
    );
    g.wait_until(PATIENCE, "no zombie among the guardian's children", || {
        children_of(g.pid()).iter().all(|&(_, state)| state != 'Z')
    });
    g.check(g.is_running(), "the guardian still running");
}
in_views!(follows_an_app_that_daemonizes_and_restarts_it_after_the_daemon_crashes: v2, v1, pure_v2);

/// Without `-c`, the adopted daemon's crash ends the guardian with 139: proof that the
/// guardian watched the daemon, not merely the cgroup.
fn crash_of_an_adopted_daemon_without_c_ends_the_guardian_with_139(view: View) {
    let b = Guardian::build(view, "daemon-crash");
    let app = payloads::daemonize(&b.dir());
    let g = b.app(app).start();
    let starter = g.wait_for_pids("starters", 1)[0];
    let daemon = g.wait_for_pids("daemons", 1)[0];
    g.wait_until(PATIENCE, "the starter to exit and be reaped", || {
        is_gone(starter)
    });

    kill(daemon, Signal::SIGSEGV).unwrap();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 139, &format!("exit code 139, got {code}"));
}
in_views!(crash_of_an_adopted_daemon_without_c_ends_the_guardian_with_139: v2, v1);
