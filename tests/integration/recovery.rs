//! The guardian itself fails or is replaced (issue 8): killed with SIGKILL, the app keeps
//! running in its cgroup and the next guardian of the same name adopts it; re-executed
//! (`supervisor reexec`) after its binary was replaced, it keeps its PID and the app.

use std::fs;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{Guardian, PATIENCE, View, is_alive, read_lines, run_cli};
use crate::payloads;

/// `supervisor status NAME --json`, parsed.
fn status(g: &Guardian) -> serde_json::Value {
    let outcome = run_cli(["status", g.name(), "--json"]);
    g.check(
        outcome.code == Some(0),
        &format!("status answers: {outcome:?}"),
    );
    serde_json::from_str(&outcome.stdout).expect("status is JSON")
}

fn main_pid(g: &Guardian) -> Option<Pid> {
    status(g)["main_pid"]
        .as_i64()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(Pid::from_raw)
}

fn adopts_the_app_of_a_guardian_killed_with_sigkill(view: View) {
    let b = Guardian::build(view, "adopt");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let first = b.arg("-c").app(app.clone()).start();
    let app_pid = first.wait_for_pids("pids", 1)[0];

    // Negative control: while the first guardian lives, a second of its name is refused.
    let refused = first.build_successor().arg("-c").app(app.clone()).start();
    let code = refused.wait_exit_code(PATIENCE);
    refused.check(
        code == 1 && refused.stderr().contains(&first.pid().to_string()),
        &format!("a second guardian refused, naming the first's PID; exit {code}"),
    );

    first.signal(Signal::SIGKILL);
    first.wait_exit(PATIENCE);
    first.check(
        is_alive(app_pid),
        "the app still running without its guardian",
    );
    first.check(
        first.cgroup_pids() == [app_pid],
        "the app still in its cgroup",
    );

    let second = first.build_successor().arg("-c").app(app).start();
    let adopted = format!("following the running app, main PID {app_pid}");
    second.wait_until(PATIENCE, &adopted, || second.stderr().contains(&adopted));
    second.check(
        main_pid(&second) == Some(app_pid),
        "status names the adopted PID",
    );
    second.check(
        read_lines(&first.file("pids")).len() == 1 && !second.stderr().contains("started"),
        "no second instance started",
    );

    // From then on it is supervised: its crash brings exactly one new instance.
    kill(app_pid, Signal::SIGSEGV).expect("SEGV to the adopted app");
    let new_pid = first.wait_for_pids("pids", 2)[1];
    second.wait_until(PATIENCE, "the new instance alone in the cgroup", || {
        second.cgroup_pids() == [new_pid]
    });
    second.check(
        main_pid(&second) == Some(new_pid),
        "status names the new PID",
    );

    second.signal(Signal::SIGTERM);
    let code = second.wait_exit_code(PATIENCE);
    second.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    second.check(!is_alive(new_pid), "the app stopped");
}
in_views!(adopts_the_app_of_a_guardian_killed_with_sigkill: v2, v1);

/// The binary is replaced (as a package upgrade does: a new file renamed over the old),
/// then `supervisor reexec`: the guardian's PID, the app's PID and the pid file stay; the
/// running image is the new file; a later crash is still restarted.
fn reexec_runs_the_replaced_binary_and_keeps_the_guardian_and_the_app(view: View) {
    let b = Guardian::build(view, "reexec");
    let binary = b.dir().join("supervisor");
    fs::copy(crate::harness::BIN, &binary).expect("copy of the guardian's binary");
    let pidfile = b.dir().join("guardian.pid");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b
        .arg("-c")
        .arg("-p")
        .arg(&pidfile)
        .app(app)
        .start_with_binary(&binary);
    let app_pid = g.wait_for_pids("pids", 1)[0];
    g.wait_until(PATIENCE, "the control socket to answer", || {
        run_cli(["status", g.name()]).code == Some(0)
    });

    let replacement = g.file("supervisor.new");
    fs::copy(crate::harness::BIN, &replacement).expect("the new binary");
    fs::rename(&replacement, &binary).expect("the new binary renamed over the old");
    let exe = || fs::read_link(format!("/proc/{}/exe", g.pid())).unwrap_or_default();
    g.check(
        exe().to_string_lossy().ends_with("(deleted)"),
        "before reexec the guardian runs the replaced (deleted) file",
    );

    let outcome = run_cli(["reexec", g.name()]);
    g.check(
        outcome.code == Some(0),
        &format!("reexec answered: {outcome:?}"),
    );
    g.wait_until(PATIENCE, "the guardian to run the new file", || {
        exe() == binary
    });
    g.wait_until(PATIENCE, "the new image to follow the app", || {
        g.stderr()
            .contains(&format!("following the running app, main PID {app_pid}"))
    });
    g.check(g.is_running(), "the same guardian process");
    g.check(
        fs::read_to_string(&pidfile).ok().as_deref() == Some(&format!("{}\n", g.pid())),
        "the pid file still names the guardian",
    );
    g.check(
        is_alive(app_pid) && g.cgroup_pids() == [app_pid],
        "the app untouched",
    );
    g.check(
        main_pid(&g) == Some(app_pid),
        "status names the same app PID",
    );
    g.check(
        status(&g)["version"] == env!("CARGO_PKG_VERSION"),
        "the running guardian reports the new binary's version",
    );

    // The app is still its child: the crash's real status is seen and it restarts.
    kill(app_pid, Signal::SIGSEGV).expect("SEGV to the app");
    let new_pid = g.wait_for_pids("pids", 2)[1];
    g.wait_until(PATIENCE, "the new instance alone", || {
        g.cgroup_pids() == [new_pid]
    });
    g.check(
        g.stderr().contains("killed by SIGSEGV"),
        "the crash seen as a crash, not an unknown end",
    );

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    g.check(!pidfile.exists(), "the pid file removed");
}
in_views!(reexec_runs_the_replaced_binary_and_keeps_the_guardian_and_the_app: v2);
