//! Signals forwarded to the current main PID, and QUIT as a graceful stop.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::str::FromStr;

use nix::libc;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::harness::{BIN, Guardian, PATIENCE, View, comm, is_alive, is_gone, read_lines};
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

/// The app starts with no signal blocked or ignored, whatever the guardian blocks (its
/// signalfd set) and whatever it inherited ignored (here HUP, INT and QUIT, as a shell
/// leaves them for a background job under nohup).
#[test]
fn app_starts_with_an_empty_signal_mask_and_nothing_ignored() {
    let b = Guardian::build(View::V2, "sigmask");
    let dir = b.dir();
    let wrapper = dir.join("ignore-then-exec");
    fs::write(
        &wrapper,
        format!("#!/bin/sh\ntrap '' HUP INT QUIT\nexec {BIN} \"$@\"\n"),
    )
    .expect("failed to write the wrapper");
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod");
    let g = b
        .app(payloads::record_pid_then_sleep(&dir))
        .start_with_binary(&wrapper);
    let app = g.wait_for_pids("pids", 1)[0];
    g.wait_until(PATIENCE, "the app to become sleep", || {
        comm(app).as_deref() == Some("sleep")
    });

    // Negative control: the guardian itself blocks signals and ignores HUP, INT, QUIT.
    let hup_int_quit =
        (1u64 << (libc::SIGHUP - 1)) | (1 << (libc::SIGINT - 1)) | (1 << (libc::SIGQUIT - 1));
    let guardian_ignored = signal_set(g.pid(), "SigIgn");
    g.check(
        guardian_ignored & hup_int_quit == hup_int_quit && signal_set(g.pid(), "SigBlk") != 0,
        &format!("the guardian to ignore HUP, INT, QUIT and block its signals, SigIgn {guardian_ignored:#x}"),
    );
    // glibc keeps signals 32 and 33 for itself and refuses to change them; whatever
    // the test runner left there passes through.
    let glibc_internal = (1u64 << 31) | (1 << 32);
    let ignored = signal_set(app, "SigIgn") & !glibc_internal;
    let blocked = signal_set(app, "SigBlk");
    g.check(
        ignored == 0 && blocked == 0,
        &format!("the app to start with SigIgn 0 and SigBlk 0, got {ignored:#x} and {blocked:#x}"),
    );
    g.signal(Signal::SIGTERM);
    assert_eq!(g.wait_exit_code(PATIENCE), 0, "{}", g.report());
}

/// A signal set of `/proc/<pid>/status` (`SigIgn`, `SigBlk`, ...) as a bit mask.
fn signal_set(pid: Pid, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
