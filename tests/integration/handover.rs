//! `-P`: the app names its new main process (nginx/unicorn upgrades); refused values are
//! warned about and never adopted.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{Bystander, Guardian, PATIENCE, View, is_alive, read_lines};
use crate::payloads::{self, OldEnds};

/// The old main exits 1 (without `-e` that alone would end the guardian) or is killed
/// (with `-c` that alone would start a second instance): the `-P` successor wins.
fn follows_the_successor_named_by_main_pidfile(view: View, old_ends: OldEnds) {
    let b = Guardian::build(view, "handover");
    let main_pidfile = b.dir().join("main.pid");
    let app = payloads::handover_with_pidfile(&b.dir(), &main_pidfile, old_ends);
    let g = b.arg("-c").arg("-P").arg(&main_pidfile).app(app).start();
    let old = g.wait_for_pids("olds", 1)[0];
    let successor = g.wait_for_pids("successors", 1)[0];
    g.wait_until(PATIENCE, "the old main to exit", || !is_alive(old));

    // Forwarding USR1 proves the successor is the main PID now.
    g.signal(Signal::SIGUSR1);
    let recorded = g.wait_for_lines("successor_signals", 1);
    g.check(
        recorded[0] == format!("{successor} USR1"),
        "USR1 recorded by the first successor",
    );
    g.check(g.is_running(), "the guardian still running");
    g.check(read_lines(&g.file("olds")).len() == 1, "no second instance");

    // And its crash is the app's crash: exactly one new instance.
    kill(successor, Signal::SIGSEGV).unwrap();
    let new_successor = g.wait_for_pids("successors", 2)[1];
    g.wait_until(
        PATIENCE,
        "the new successor to be the only live old-or-successor",
        || !is_alive(successor) && is_alive(new_successor),
    );
    g.check(
        g.wait_for_pids("olds", 2).len() == 2,
        "exactly one new start",
    );
}

fn follows_the_successor_named_by_main_pidfile_after_the_old_main_exits_1(view: View) {
    follows_the_successor_named_by_main_pidfile(view, OldEnds::WithError);
}
in_views!(follows_the_successor_named_by_main_pidfile_after_the_old_main_exits_1: v2, v1, pure_v2);

fn follows_the_successor_named_by_main_pidfile_after_the_old_main_is_killed(view: View) {
    follows_the_successor_named_by_main_pidfile(view, OldEnds::Killed);
}
in_views!(follows_the_successor_named_by_main_pidfile_after_the_old_main_is_killed: v2, v1, pure_v2);

/// The app points `-P` at something it must not adopt, then exits 1: the guardian warns and
/// applies the normal rules (no `-e`: it exits 1).
fn refuses_main_pidfile(view: View, tag: &str, content: Option<&str>) {
    let b = Guardian::build(view, tag);
    let main_pidfile = b.dir().join("main.pid");
    let app = payloads::point_main_pidfile_at(&b.dir(), &main_pidfile, content);
    let g = b.arg("-P").arg(&main_pidfile).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 1,
        &format!("exit code 1 (the app's error, nothing adopted), got {code}"),
    );
    // Not just any warning: the app's exit 1 is one too.
    let path = main_pidfile.display().to_string();
    g.check(
        g.stderr()
            .lines()
            .any(|l| l.contains("warning:") && l.contains(&path)),
        "a `warning:` line naming the -P file",
    );
    g.check(read_lines(&g.file("pids")).len() == 1, "no restart");
}

fn refuses_a_main_pidfile_naming_a_process_outside_the_cgroup(view: View) {
    let bystander = Bystander::sleep();
    let pid = bystander.pid().to_string();
    refuses_main_pidfile(view, "pidfile-outside", Some(&pid));
    assert!(
        is_alive(bystander.pid()),
        "the process outside the cgroup left alone"
    );
}
in_views!(refuses_a_main_pidfile_naming_a_process_outside_the_cgroup: v2, v1, pure_v2);

fn refuses_a_main_pidfile_naming_pid_1(view: View) {
    refuses_main_pidfile(view, "pidfile-1", Some("1"));
    assert!(is_alive(Pid::from_raw(1)));
}
in_views!(refuses_a_main_pidfile_naming_pid_1: v2, v1);

fn refuses_a_main_pidfile_holding_garbage(view: View) {
    refuses_main_pidfile(view, "pidfile-garbage", Some("not-a-pid"));
}
in_views!(refuses_a_main_pidfile_holding_garbage: v2, v1);

fn refuses_a_main_pidfile_naming_the_pid_that_just_exited(view: View) {
    refuses_main_pidfile(view, "pidfile-self", Some("$$"));
}
in_views!(refuses_a_main_pidfile_naming_the_pid_that_just_exited: v2, v1);

fn warns_about_a_missing_main_pidfile(view: View) {
    refuses_main_pidfile(view, "pidfile-missing", None);
}
in_views!(warns_about_a_missing_main_pidfile: v2, v1);
