//! A crash of the main process while a worker survives: never two instances.

use nix::sys::signal::{Signal, kill};

use crate::harness::{Guardian, PATIENCE, View, is_alive};
use crate::payloads;

fn crash_of_the_main_kills_the_surviving_worker_before_the_restart(view: View) {
    let b = Guardian::build(view, "worker");
    let app = payloads::worker_survives_crash(&b.dir());
    let g = b.arg("-c").app(app).start();
    let main = g.wait_for_pids("mains", 1)[0];
    let worker = g.wait_for_pids("workers", 1)[0];
    g.wait_until(PATIENCE, "main and worker in the cgroup", || {
        sorted(g.cgroup_pids()) == sorted(vec![main, worker])
    });

    kill(main, Signal::SIGSEGV).unwrap();
    let new_main = g.wait_for_pids("mains", 2)[1];
    let new_worker = g.wait_for_pids("workers", 2)[1];
    g.wait_until(
        PATIENCE,
        "exactly the new main and worker in the cgroup",
        || sorted(g.cgroup_pids()) == sorted(vec![new_main, new_worker]),
    );
    g.check(!is_alive(worker), "the old worker killed");
    g.check(
        g.wait_for_pids("mains", 2).len() == 2,
        "exactly one new instance",
    );
    g.check(g.is_running(), "the guardian still running");
}
in_views!(crash_of_the_main_kills_the_surviving_worker_before_the_restart: v2, v1, pure_v2);

/// Without `-c`, the same crash ends the guardian, and still leaves no worker behind.
fn crash_of_the_main_without_c_leaves_no_worker_behind(view: View) {
    let b = Guardian::build(view, "worker-no-c");
    let app = payloads::worker_survives_crash(&b.dir());
    let g = b.app(app).start();
    let main = g.wait_for_pids("mains", 1)[0];
    let worker = g.wait_for_pids("workers", 1)[0];

    kill(main, Signal::SIGSEGV).unwrap();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 139, &format!("exit code 139, got {code}"));
    g.check(!is_alive(worker), "the worker killed");
}
in_views!(crash_of_the_main_without_c_leaves_no_worker_behind: v2, v1);

fn sorted(mut pids: Vec<nix::unistd::Pid>) -> Vec<nix::unistd::Pid> {
    pids.sort();
    pids
}
