//! Signals forwarded to the current main PID, and QUIT as a graceful stop.

use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::harness::{Guardian, PATIENCE, View, is_alive, is_gone, read_lines};
use crate::payloads::{self, FORWARDED};

/// Sends each forwarded signal to the guardian in turn and waits until the app recorded it.
fn send_each_and_expect_it_recorded(g: &Guardian) {
    // Negative control: nothing is recorded before we send anything.
    g.check(
        read_lines(&g.file("signals")).is_empty(),
        "no signal recorded before any was sent",
    );
    for (i, name) in FORWARDED.iter().enumerate() {
        g.signal(Signal::from_str(&format!("SIG{name}")).unwrap());
        let recorded = g.wait_for_lines("signals", i + 1);
        g.check(
            recorded == FORWARDED[..=i],
            &format!("the app to record {:?}", &FORWARDED[..=i]),
        );
    }
    g.check(g.is_running(), "the guardian still running");
}

fn forwards_each_signal_to_the_main_pid(view: View) {
    let b = Guardian::build(view, "forward");
    let app = payloads::record_signals(&b.dir());
    let g = b.args(["-c", "-e"]).app(app).start();
    g.wait_for_pids("pids", 1);
    send_each_and_expect_it_recorded(&g);
    g.check(
        read_lines(&g.file("pids")).len() == 1,
        "the app never restarted",
    );
}
in_views!(forwards_each_signal_to_the_main_pid: v2, v1);

fn forwards_each_signal_to_the_daemon_after_a_daemonize_handover(view: View) {
    let b = Guardian::build(view, "forward-daemon");
    let app = payloads::daemonize_and_record_signals(&b.dir());
    let g = b.args(["-c", "-e"]).app(app).start();
    let starter = g.wait_for_pids("starters", 1)[0];
    g.wait_for_pids("daemons", 1);
    g.wait_until(PATIENCE, "the starter to exit and be reaped", || {
        is_gone(starter)
    });
    send_each_and_expect_it_recorded(&g);
    g.check(
        read_lines(&g.file("starters")).len() == 1,
        "the app never restarted",
    );
}
in_views!(forwards_each_signal_to_the_daemon_after_a_daemonize_handover: v2, v1, pure_v2);

/// QUIT is forwarded and is a graceful stop: even with `-c -e` the app is not restarted
/// after it dies of it, and the guardian exits 0.
fn quit_is_forwarded_and_ends_the_guardian_with_0_without_restart(view: View) {
    let b = Guardian::build(view, "quit");
    let app = payloads::record_signals(&b.dir());
    let g = b.args(["-c", "-e"]).app(app).start();
    let app_pid = g.wait_for_pids("pids", 1)[0];

    g.signal(Signal::SIGQUIT);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit code 0, got {code}"));
    g.check(!is_alive(app_pid), "the app gone");
    g.check(read_lines(&g.file("pids")).len() == 1, "no restart");
}
in_views!(quit_is_forwarded_and_ends_the_guardian_with_0_without_restart: v2, v1);
