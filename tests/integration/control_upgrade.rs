//! `supervisor upgrade` and `supervisor reload` for real (DESIGN.md section 8): nginx's
//! binary upgrade done by the guardian (USR2, wait for a ready new master, WINCH, QUIT,
//! adopt), a failing one that leaves the old master serving, a unicorn-like app whose new
//! master takes its time (status answers meanwhile), and haproxy `-W` reloads in place.

use nix::unistd::Pid;

use crate::control::{
    client, curl_json, describe, pid_field, status_of, try_status_of, wait_for_state,
};
use crate::daemons::{Haproxy, Load, Nginx, get, read_pid};
use crate::harness::{Guardian, Outcome, PATIENCE, View, is_alive, live_children};
use crate::payloads;

const UPGRADES: usize = 10;
const RELOADS: usize = 5;

/// One upgrade, through the client on odd rounds and through curl on even ones; returns
/// the new main PID from the answer's status.
fn upgrade_once(g: &Guardian, round: usize) -> Pid {
    let status = if round % 2 == 1 {
        let outcome = client(&["upgrade", g.name(), "--json"]);
        g.check(
            outcome.code == Some(0),
            &format!(
                "upgrade {round} through the client: exit 0: {}",
                describe(&outcome)
            ),
        );
        let reply: serde_json::Value =
            serde_json::from_str(&outcome.stdout).expect("the upgrade's answer is JSON");
        reply["status"].clone()
    } else {
        curl_json(g, "POST", "/upgrade", 200)["status"].clone()
    };
    g.check(
        status["state"] == "running",
        &format!("running after upgrade {round}: {status}"),
    );
    pid_field(&status, "main_pid").expect("a main PID after an upgrade")
}

/// Ten `supervisor upgrade`s of nginx (`-P nginx.pid --upgrade-winch`) under continuous
/// load: each answers 0 with a new main PID (the one nginx wrote to its pid file), the old
/// master is gone, no request fails, nothing restarts.
fn upgrades_nginx_ten_times_under_load_on_request(view: View) {
    let b = Guardian::build(view, "ctl-ngx-up");
    let nginx = Nginx::configure(&b.dir());
    let app = nginx.command(&b.dir());
    let g = b
        .args(["-c", "--upgrade-winch", "-P"])
        .arg(&nginx.pidfile)
        .app(app)
        .start();
    let mut master = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "nginx to answer", || get(nginx.port).is_ok());
    g.wait_until(PATIENCE, "status to name the daemonized master", || {
        try_status_of(&g).and_then(|s| pid_field(&s, "main_pid")) == Some(master)
    });
    let load = Load::start(nginx.port);
    load.wait_for_more_answers(&g, 20);

    for round in 1..=UPGRADES {
        let new = upgrade_once(&g, round);
        g.check(new != master, &format!("upgrade {round}: a new main PID"));
        g.check(
            read_pid(&nginx.pidfile) == Some(new) && is_alive(new),
            &format!("upgrade {round}: the main PID is the master in nginx.pid"),
        );
        g.wait_until(PATIENCE, "the old master to be gone", || !is_alive(master));
        load.wait_for_more_answers(&g, 20);
        master = new;
    }
    let failed = load.failed();
    let summary = load.finish();
    g.check(failed == 0, &format!("no failed request: {summary}"));
    let status = status_of(&g);
    g.check(
        status["restarts"] == 0 && status["main_pid_changes"] == UPGRADES + 1,
        &format!("no restart; the daemonize handover and {UPGRADES} upgrades: {status}"),
    );
}
in_views!(upgrades_nginx_ten_times_under_load_on_request: v2, v1);

/// An upgrade whose new binary refuses the configuration: the client exits 1 with the
/// reason (at `--upgrade-timeout`, since nothing tells the guardian that a grandchild
/// exited), the old master keeps serving under the same main PID, and once the
/// configuration is fixed the next upgrade goes through.
fn a_failed_nginx_upgrade_leaves_the_old_master_serving(view: View) {
    let b = Guardian::build(view, "ctl-ngx-fail");
    let nginx = Nginx::configure(&b.dir());
    let app = nginx.command(&b.dir());
    let g = b
        .args(["-c", "--upgrade-winch", "--upgrade-timeout", "3", "-P"])
        .arg(&nginx.pidfile)
        .app(app)
        .start();
    let master = nginx.wait_for_master(&g);
    g.wait_until(PATIENCE, "nginx to answer", || get(nginx.port).is_ok());
    g.wait_until(PATIENCE, "status to name the daemonized master", || {
        try_status_of(&g).and_then(|s| pid_field(&s, "main_pid")) == Some(master)
    });
    let load = Load::start(nginx.port);
    load.wait_for_more_answers(&g, 20);

    let good_conf = std::fs::read(&nginx.conf).expect("read nginx.conf");
    nginx.break_conf();
    let outcome = client(&["upgrade", g.name()]);
    g.check(
        outcome.code == Some(1) && outcome.stderr.contains("(refused)"),
        &format!(
            "the failed upgrade: exit 1 with the reason: {}",
            describe(&outcome)
        ),
    );
    let status = status_of(&g);
    g.check(
        status["state"] == "running" && pid_field(&status, "main_pid") == Some(master),
        &format!("running, the same main PID: {status}"),
    );
    g.wait_until(PATIENCE, "the old master to take its pid file back", || {
        read_pid(&nginx.pidfile) == Some(master) && !nginx.oldbin_exists()
    });
    load.wait_for_more_answers(&g, 20);
    g.check(
        load.failed() == 0,
        "no failed request during the failed upgrade",
    );

    std::fs::write(&nginx.conf, good_conf).expect("restore nginx.conf");
    let new = upgrade_once(&g, 1);
    g.check(new != master, "the upgrade after the fix goes through");
    load.wait_for_more_answers(&g, 20);
    let failed = load.failed();
    let summary = load.finish();
    g.check(failed == 0, &format!("no failed request: {summary}"));
    g.check(status_of(&g)["restarts"] == 0, "no restart");
}
in_views!(a_failed_nginx_upgrade_leaves_the_old_master_serving: v2);

/// Runs `supervisor ARGS` on a thread: for requests that wait for an outcome.
fn client_in_background(args: &[&str]) -> std::thread::JoinHandle<Outcome> {
    let args: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        client(&args)
    })
}

fn join(g: &Guardian, handle: std::thread::JoinHandle<Outcome>) -> Outcome {
    g.wait_until(PATIENCE, "the client to finish", || handle.is_finished());
    handle.join().expect("the client's thread panicked")
}

/// A guardian (`-c --upgrade-timeout 60 -P`) of a unicorn-like app whose new master
/// becomes ready only once the test creates `go` (and, with `leave_worker`, whose old
/// master leaves a worker of its own behind); returns it once status names the first
/// master, and that master.
fn start_held_back_unicorn(view: View, tag: &str, leave_worker: bool) -> (Guardian, Pid) {
    let b = Guardian::build(view, tag);
    let pidfile = b.dir().join("app.pid");
    let app = payloads::unicorn_like_waiting_for_go(&b.dir(), &pidfile, leave_worker);
    let g = b
        .args(["-c", "--upgrade-timeout", "60", "-P"])
        .arg(&pidfile)
        .app(app)
        .start();
    let old = g.wait_for_pids("masters", 1)[0];
    g.wait_until(PATIENCE, "status to say running", || {
        try_status_of(&g).and_then(|s| pid_field(&s, "main_pid")) == Some(old)
    });
    (g, old)
}

/// Checks that an upgrade of a held-back unicorn answered 0; returns the new master (the
/// second in `masters`) and the status after it.
fn upgraded(g: &Guardian, outcome: &Outcome) -> (Pid, serde_json::Value) {
    g.check(
        outcome.code == Some(0),
        &format!("the upgrade answers 0: {}", describe(outcome)),
    );
    let new = g.wait_for_pids("masters", 2)[1];
    (new, status_of(g))
}

/// While an upgrade waits for a new master that is not ready yet (it holds back its pid
/// file until told to go), `status` answers at once, saying `upgrading` with the old
/// main PID; once the new master is ready the upgrade answers 0 and hands over.
fn status_answers_while_an_upgrade_waits_for_the_new_master(view: View) {
    let (g, old) = start_held_back_unicorn(view, "ctl-slow-up", false);

    let upgrade = client_in_background(&["upgrade", g.name()]);
    let status = wait_for_state(&g, "upgrading");
    g.check(
        pid_field(&status, "main_pid") == Some(old),
        &format!("the old master is the main PID meanwhile: {status}"),
    );
    let by_curl = curl_json(&g, "GET", "/status", 200);
    g.check(by_curl["state"] == "upgrading", "curl sees the upgrade too");
    g.check(!upgrade.is_finished(), "the upgrade still waits");

    std::fs::write(g.file("go"), "").expect("create go");
    let (new, status) = upgraded(&g, &join(&g, upgrade));
    g.check(
        status["state"] == "running" && pid_field(&status, "main_pid") == Some(new),
        &format!("the new master {new} is the main PID: {status}"),
    );
    g.check(
        status["restarts"] == 0 && !is_alive(old),
        "no restart, the old master gone",
    );
}
in_views!(status_answers_while_an_upgrade_waits_for_the_new_master: v2);

/// A second `upgrade` while one is under way is refused, and only it: the first client
/// still waits for its own outcome, and gets 0 when the new master is ready.
fn a_second_upgrade_is_refused_without_failing_the_first(view: View) {
    let (g, _) = start_held_back_unicorn(view, "ctl-up-twice", false);

    let first = client_in_background(&["upgrade", g.name()]);
    wait_for_state(&g, "upgrading");
    let second = client(&["upgrade", g.name()]);
    g.check(
        second.code == Some(1) && second.stderr.contains("already under way"),
        &format!("the second upgrade refused: {}", describe(&second)),
    );
    g.check(
        !first.is_finished(),
        "the first upgrade's client still waits for its outcome",
    );
    std::fs::write(g.file("go"), "").expect("create go");
    let outcome = join(&g, first);
    g.check(
        outcome.code == Some(0),
        &format!("the first upgrade answers 0: {}", describe(&outcome)),
    );
}
#[test]
fn a_second_upgrade_is_refused_without_failing_the_first_v2() {
    a_second_upgrade_is_refused_without_failing_the_first(View::V2);
}

/// One reload, through the client on odd rounds and through curl on even ones: whether
/// it answered success, and what it said.
fn reload_once(g: &Guardian, round: usize) -> (bool, String) {
    if round % 2 == 1 {
        let outcome = client(&["reload", g.name()]);
        (outcome.code == Some(0), describe(&outcome))
    } else {
        let (code, body) = crate::control::curl(g, "POST", "/reload");
        (code == 200, body)
    }
}

/// `supervisor reload` of haproxy `-W` with `--reload-signal USR2`, under load: each
/// answers 0, the master keeps its PID, a new worker replaces the old one, no request
/// fails, nothing restarts. Each reload waits until the previous one's old worker has
/// left: haproxy 2.6 now and then drops a USR2 that comes right after a reload (see
/// `haproxy.rs`); a reload that times out anyway is sent again, and the test says so.
fn reloads_haproxy_in_place_on_request(view: View) {
    let b = Guardian::build(view, "ctl-hap");
    let haproxy = Haproxy::configure(&b.dir());
    let g = b
        .args(["-c", "--reload-signal", "USR2", "--upgrade-timeout", "5"])
        .app(haproxy.command(&["-W"]))
        .start();
    g.wait_until(PATIENCE, "haproxy to answer", || get(haproxy.port).is_ok());
    let master = g.wait_for(PATIENCE, "the master with one worker", || {
        let master = pid_field(&try_status_of(&g)?, "main_pid")?;
        (live_children(master).len() == 1).then_some(master)
    });
    let load = Load::start(haproxy.port);
    load.wait_for_more_answers(&g, 20);

    let mut timed_out = Vec::new();
    for round in 1..=RELOADS {
        let before = live_children(master);
        let (mut ok, mut said) = reload_once(&g, round);
        if !ok {
            timed_out.push(said.clone());
            (ok, said) = reload_once(&g, round);
        }
        g.check(ok, &format!("reload {round} answers success: {said}"));
        let status = status_of(&g);
        g.check(
            status["state"] == "running" && pid_field(&status, "main_pid") == Some(master),
            &format!("reload {round}: the same master: {status}"),
        );
        let workers = g.wait_for(PATIENCE, "the old worker to leave, a new one alone", || {
            let now = live_children(master);
            (now.len() == 1 && !before.contains(&now[0])).then_some(now)
        });
        g.check(
            workers.iter().all(|w| !before.contains(w)),
            &format!("reload {round}: a new worker"),
        );
        load.wait_for_more_answers(&g, 20);
    }
    if !timed_out.is_empty() {
        eprintln!(
            "haproxy reloads: {RELOADS}, {} sent again after a timeout: {timed_out:?}",
            timed_out.len()
        );
    }
    let failed = load.failed();
    let summary = load.finish();
    g.check(failed == 0, &format!("no failed request: {summary}"));
    let status = status_of(&g);
    g.check(
        status["restarts"] == 0 && pid_field(&status, "main_pid") == Some(master),
        &format!("no restart, the same master: {status}"),
    );
    g.check(
        timed_out.len() < RELOADS,
        "most reloads went through the first time",
    );
}
in_views!(reloads_haproxy_in_place_on_request: v2);

/// An old master that exits on QUIT while a worker of its own still runs: that worker is
/// orphaned into the guardian beside the new master, so only the `-P` file can say which
/// one is the successor (DESIGN.md section 5, rule 1: the pid file wins).
fn adopts_the_pidfile_master_when_the_old_one_leaves_a_worker_behind(view: View) {
    let (g, _) = start_held_back_unicorn(view, "ctl-up-left", true);
    std::fs::write(g.file("go"), "").expect("create go");
    let (new, status) = upgraded(&g, &client(&["upgrade", g.name()]));
    g.check(
        pid_field(&status, "main_pid") == Some(new) && status["restarts"] == 0,
        &format!("the master in the pid file adopted, no restart: {status}"),
    );
}
#[test]
fn adopts_the_pidfile_master_when_the_old_one_leaves_a_worker_behind_v2() {
    adopts_the_pidfile_master_when_the_old_one_leaves_a_worker_behind(View::V2);
}
