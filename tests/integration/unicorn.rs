//! A unicorn-style upgrade: USR2 makes the master start a new copy of itself, which
//! writes the pid file; QUIT retires the old one. With `-P` the guardian follows each new
//! master; the USR2 of the next round reaching it proves it.

use nix::sys::signal::{Signal, kill};

use crate::daemons::read_pid;
use crate::harness::{Guardian, PATIENCE, View, is_alive};
use crate::payloads;

const UPGRADES: usize = 10;

fn follows_a_unicorn_style_master_across_ten_upgrades(view: View) {
    let b = Guardian::build(view, "unicorn");
    let pidfile = b.dir().join("unicorn.pid");
    let app = payloads::unicorn_like(&b.dir(), &pidfile);
    let g = b.arg("-c").arg("-P").arg(&pidfile).app(app).start();
    let mut master = g.wait_for_pids("masters", 1)[0];

    for round in 1..=UPGRADES {
        g.signal(Signal::SIGUSR2);
        let new = g.wait_for_pids("masters", round + 1)[round];
        g.wait_until(PATIENCE, "the new master to write the pid file", || {
            read_pid(&pidfile) == Some(new)
        });
        kill(master, Signal::SIGQUIT).expect("QUIT to the old master");
        let handover = format!("main PID {master} \u{2192} {new}");
        g.wait_until(PATIENCE, &format!("the guardian to log {handover}"), || {
            g.stderr().contains(&handover)
        });
        g.check(!is_alive(master), "the old master gone");
        master = new;
    }
    g.check(
        g.stderr().matches(": started, main PID").count() == 1,
        "no restart",
    );
    g.check(
        g.wait_for_pids("masters", UPGRADES + 1).len() == UPGRADES + 1,
        "one new master per upgrade, no more",
    );

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    g.check(!is_alive(master), "the last master stopped");
}
in_views!(follows_a_unicorn_style_master_across_ten_upgrades: v2, v1, pure_v2);
