//! `-f -p FILE`: the shell gets control back once the app has started; the pidfile names
//! the guardian that forked off, for its whole life.

use nix::sys::signal::{Signal, kill};

use crate::harness::{Guardian, PATIENCE, View, comm, is_alive, read_lines};
use crate::payloads;

fn fork_returns_to_the_shell_and_pidfile_names_the_guardian_for_its_whole_life(view: View) {
    let b = Guardian::build(view, "fork");
    let pidfile = b.dir().join("guardian.pid");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b
        .arg("-f")
        .arg("-p")
        .arg(&pidfile)
        .arg("-c")
        .app(app)
        .start();

    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("`supervisor -f` to return 0 to the shell, got {code}"),
    );
    // Only after the first start: the app already runs in its cgroup.
    g.check(
        !g.cgroup_pids().is_empty(),
        "the app in its cgroup when the shell gets control back",
    );
    let guardian = g.wait_for(PATIENCE, "the pidfile", || {
        read_lines(&pidfile)
            .first()
            .map(|l| crate::harness::parse_pid(l))
    });
    g.follow_detached(guardian);
    g.check(
        is_alive(guardian) && comm(guardian).as_deref() == Some("supervisor"),
        "the pidfile to name a live guardian",
    );

    let first = g.wait_for_pids("pids", 1)[0];
    kill(first, Signal::SIGSEGV).unwrap();
    let second = g.wait_for_pids("pids", 2)[1];
    g.wait_until(PATIENCE, "the new instance in the cgroup", || {
        g.cgroup_pids() == [second]
    });
    g.check(
        read_lines(&pidfile) == [guardian.to_string()] && g.is_running(),
        "the same live guardian in the pidfile after the restart",
    );

    g.signal(Signal::SIGTERM);
    g.wait_until(
        PATIENCE,
        "the guardian to exit and remove its pidfile",
        || !g.is_running() && !pidfile.exists(),
    );
    g.check(!is_alive(second), "the app gone");
    g.check(!g.app_cgroup_dir().exists(), "the cgroup directory removed");
}
in_views!(fork_returns_to_the_shell_and_pidfile_names_the_guardian_for_its_whole_life: v2, v1);

/// A first start that fails reaches the shell as a non-zero exit with the reason.
fn fork_reports_a_failed_first_start_to_the_shell(view: View) {
    let b = Guardian::build(view, "fork-fail");
    let pidfile = b.dir().join("guardian.pid");
    let missing = b.dir().join("no-such-program");
    let g = b
        .arg("-f")
        .arg("-p")
        .arg(&pidfile)
        .app(vec![missing.display().to_string()])
        .start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 127, &format!("exit code 127, got {code}"));
    g.check(
        g.stderr().contains("no-such-program"),
        "the reason on stderr, naming the program",
    );
    g.wait_until(PATIENCE, "no pidfile left", || !pidfile.exists());
}
in_views!(fork_reports_a_failed_first_start_to_the_shell: v2, v1);
