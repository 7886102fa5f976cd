//! Real nginx under the guardian (DESIGN.md section 5): it daemonizes (`daemon on;`, its
//! default) and is followed; a binary upgrade (USR2, then WINCH and QUIT to the old
//! master) hands over to the new master without a restart and without a failed request.

use nix::sys::signal::{Signal, kill};

use crate::daemons::{Load, Nginx, get, nginx_version, processes_named};
use crate::harness::{Guardian, PATIENCE, View, is_alive};

const UPGRADES: usize = 10;

/// How many times the guardian started the app: one line per start.
fn starts(g: &Guardian) -> usize {
    g.stderr().matches(": started, main PID").count()
}

/// A worker just forked still carries its master's title until it sets its own, so a
/// count of masters is waited for, never taken once.
fn wait_for_one_master(g: &Guardian, what: &str) {
    g.wait_until(PATIENCE, what, || {
        processes_named(g, "nginx: master").len() == 1
    });
}

/// Older nginx refuses a second USR2 under a subreaper (fixed in 1.13.8).
#[test]
fn nginx_is_at_least_1_13_8() {
    let version = nginx_version();
    assert!(
        version >= (1, 13, 8),
        "nginx {version:?} is older than 1.13.8, which refuses a second binary upgrade \
         under a subreaper: the upgrade tests cannot pass with it"
    );
}

fn follows_daemonized_nginx_and_restarts_it_after_a_crash(view: View) {
    let b = Guardian::build(view, "nginx");
    let nginx = Nginx::configure(&b.dir());
    let app = nginx.command(&b.dir());
    let g = b.arg("-c").app(app).start();
    let master = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "nginx to answer", || get(nginx.port).is_ok());
    let handover = format!("\u{2192} {master} (the one process left in the cgroup)");
    g.wait_until(
        PATIENCE,
        "the guardian to follow the daemonized master",
        || g.stderr().contains(&handover),
    );
    let guardian = g.pid();

    kill(master, Signal::SIGSEGV).expect("SEGV to the master");
    let fresh = g.wait_for(PATIENCE, "a fresh nginx master", || {
        crate::daemons::read_pid(&nginx.pidfile)
            .filter(|pid| *pid != master && is_alive(*pid) && !is_alive(master))
    });
    g.wait_until(PATIENCE, "the fresh nginx to answer", || {
        get(nginx.port).is_ok()
    });
    g.wait_until(PATIENCE, "exactly one master, the fresh one", || {
        processes_named(&g, "nginx: master") == [fresh]
    });
    g.check(g.pid() == guardian && g.is_running(), "the same guardian");
    g.check(starts(&g) == 2, "exactly one restart");

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    g.check(!g.app_cgroup_dir().exists(), "nothing of nginx left");
}
in_views!(follows_daemonized_nginx_and_restarts_it_after_a_crash: v2, v1);

/// Ten upgrades in a row under continuous load: no failed request, no restart, one
/// master at the end, and the guardian still stops it all.
fn follows_ten_binary_upgrades_under_load(view: View, with_main_pidfile: bool) {
    let b = Guardian::build(
        view,
        if with_main_pidfile {
            "ngx-up-p"
        } else {
            "ngx-up"
        },
    );
    let nginx = Nginx::configure(&b.dir());
    let app = nginx.command(&b.dir());
    let mut b = b.arg("-c");
    if with_main_pidfile {
        b = b.arg("-P").arg(&nginx.pidfile);
    }
    let g = b.app(app).start();
    let mut master = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "nginx to answer", || get(nginx.port).is_ok());
    let load = Load::start(nginx.port);
    load.wait_for_more_answers(&g, 20);

    for round in 1..=UPGRADES {
        let new = nginx.upgrade(&g, master);
        g.check(new != master, &format!("upgrade {round}: a new master"));
        load.wait_for_more_answers(&g, 20);
        master = new;
    }
    let failed = load.failed();
    let summary = load.finish();
    g.check(failed == 0, &format!("no failed request: {summary}"));
    g.check(starts(&g) == 1, "no restart");
    g.check(!g.stderr().contains("restarting"), "no restart logged");
    wait_for_one_master(&g, "exactly one master at the end");

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    g.check(!is_alive(master), "the last master stopped");
    g.check(!g.app_cgroup_dir().exists(), "nothing of nginx left");
}

fn follows_ten_binary_upgrades_under_load_with_main_pidfile(view: View) {
    follows_ten_binary_upgrades_under_load(view, true);
}
in_views!(follows_ten_binary_upgrades_under_load_with_main_pidfile: v2);

fn follows_ten_binary_upgrades_under_load_without_main_pidfile(view: View) {
    follows_ten_binary_upgrades_under_load(view, false);
}
in_views!(follows_ten_binary_upgrades_under_load_without_main_pidfile: v2);

/// The old master is SIGKILLed once the new one runs. With `-P` the new master is adopted
/// and the old master's orphaned workers are killed: one instance, no restart.
fn adopts_the_new_master_when_the_old_one_is_killed_mid_upgrade(view: View) {
    let b = Guardian::build(view, "ngx-kill-p");
    let nginx = Nginx::configure(&b.dir());
    let app = nginx.command(&b.dir());
    let g = b.arg("-c").arg("-P").arg(&nginx.pidfile).app(app).start();
    let old = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "nginx to answer", || get(nginx.port).is_ok());
    let old_workers = processes_named(&g, "nginx: worker");

    g.signal(Signal::SIGUSR2);
    let new = nginx.wait_for_new_master(&g, old);
    kill(old, Signal::SIGKILL).expect("KILL to the old master");
    let handover = format!("main PID {old} \u{2192} {new} (from the pid file)");
    g.wait_until(PATIENCE, &format!("the guardian to log {handover}"), || {
        g.stderr().contains(&handover)
    });
    g.wait_until(PATIENCE, "the old master's workers gone", || {
        old_workers.iter().all(|pid| !is_alive(*pid))
    });
    g.check(
        !old_workers.is_empty(),
        "the old master had workers to begin with",
    );
    wait_for_one_master(&g, "one master");
    g.check(is_alive(new), "the one master is the new one");
    g.check(starts(&g) == 1, "no restart");
    g.wait_until(PATIENCE, "the new master to answer", || {
        get(nginx.port).is_ok()
    });
}
in_views!(adopts_the_new_master_when_the_old_one_is_killed_mid_upgrade: v2, v1);

/// Without `-P` nothing names the new master when the old one is killed (a crash is no
/// handover: DESIGN.md section 5), so the guardian kills the whole cgroup and, with `-c`,
/// starts one fresh nginx: one instance, no orphan.
fn restarts_one_fresh_nginx_when_the_old_master_is_killed_mid_upgrade_without_main_pidfile(
    view: View,
) {
    let b = Guardian::build(view, "ngx-kill");
    let nginx = Nginx::configure(&b.dir());
    let app = nginx.command(&b.dir());
    let g = b.arg("-c").app(app).start();
    let old = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "nginx to answer", || get(nginx.port).is_ok());

    g.signal(Signal::SIGUSR2);
    let new = nginx.wait_for_new_master(&g, old);
    kill(old, Signal::SIGKILL).expect("KILL to the old master");
    g.wait_until(PATIENCE, "a restart", || starts(&g) == 2);
    g.wait_until(PATIENCE, "the upgraded master gone", || !is_alive(new));
    let fresh = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "exactly one master, the fresh one", || {
        processes_named(&g, "nginx: master") == [fresh]
    });
    g.check(
        g.stderr().contains("killing what the app left behind"),
        "the rest of the cgroup killed before the restart",
    );
    g.wait_until(PATIENCE, "the fresh nginx to answer", || {
        get(nginx.port).is_ok()
    });
}
in_views!(restarts_one_fresh_nginx_when_the_old_master_is_killed_mid_upgrade_without_main_pidfile: v2);

/// A new binary that cannot start (the configuration became invalid) exits at once; the
/// old master takes its pid file back and keeps serving, and the guardian keeps it.
fn keeps_the_old_master_when_the_new_one_fails_to_start(view: View) {
    let b = Guardian::build(view, "ngx-fail");
    let nginx = Nginx::configure(&b.dir());
    let app = nginx.command(&b.dir());
    let g = b.arg("-c").arg("-P").arg(&nginx.pidfile).app(app).start();
    let master = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "nginx to answer", || get(nginx.port).is_ok());
    let load = Load::start(nginx.port);
    load.wait_for_more_answers(&g, 20);

    nginx.break_conf();
    g.signal(Signal::SIGUSR2);
    g.wait_until(
        PATIENCE,
        "the new binary to refuse the configuration",
        || {
            std::fs::read_to_string(&nginx.error_log)
                .is_ok_and(|log| log.contains("unknown directive \"this_is_no_directive\""))
        },
    );
    g.wait_until(PATIENCE, "the old master to take its pid file back", || {
        crate::daemons::read_pid(&nginx.pidfile) == Some(master) && !nginx.oldbin_exists()
    });
    load.wait_for_more_answers(&g, 20);
    let failed = load.failed();
    let summary = load.finish();
    g.check(failed == 0, &format!("no failed request: {summary}"));
    wait_for_one_master(&g, "one master");
    g.check(is_alive(master), "the one master is the old one");
    g.check(starts(&g) == 1, "no restart");

    // It is still the main PID: a forwarded HUP reaches it (it logs the reload attempt).
    g.signal(Signal::SIGHUP);
    g.wait_until(
        PATIENCE,
        "the old master to receive the forwarded HUP",
        || {
            std::fs::read_to_string(&nginx.error_log)
                .is_ok_and(|log| log.contains("signal 1 (SIGHUP) received"))
        },
    );
}
in_views!(keeps_the_old_master_when_the_new_one_fails_to_start: v2);
