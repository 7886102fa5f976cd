//! Faults: an app that stops itself, a fork storm, a guardian with its stderr or its
//! syslog gone, a recycled PID. The guardian survives each with its documented outcome
//! (and the harness checks that its stderr never says `panicked`).

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{
    Guardian, PATIENCE, View, children_of, comm, is_alive, live_processes_in_cgroups_named,
    parse_pid, read_lines, run_cli,
};
use crate::payloads;

/// `(state letter)` of a process, from `/proc/<pid>/stat`.
fn state_of(pid: Pid) -> Option<char> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Asserts that the guardian exited 0 and left nothing of the app behind.
fn check_stopped_cleanly(g: &Guardian, code: i32) {
    g.check(code == 0, &format!("exit code 0, got {code}"));
    g.check(!g.app_cgroup_dir().exists(), "the cgroup directory removed");
    let left = live_processes_in_cgroups_named(g.name());
    g.check(
        left.is_empty(),
        &format!("no process of the app left, found {left:?}"),
    );
}

fn stopped_app_and_stopped_children_that_ignore_term_are_killed_at_the_stop_timeout(view: View) {
    let b = Guardian::build(view, "stopped");
    let app = payloads::stop_itself_and_children(&b.dir());
    let g = b.args(["--stop-timeout", "1"]).app(app).start();
    let main = g.wait_for_pids("pids", 1)[0];
    let children = g.wait_for_pids("children", 2);
    // Negative control: all three really are stopped (state T) before the stop.
    g.wait_until(
        PATIENCE,
        "the app and its children stopped (state T)",
        || {
            std::iter::once(main)
                .chain(children.iter().copied())
                .all(|pid| state_of(pid) == Some('T'))
        },
    );

    let asked = Instant::now();
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    let took = asked.elapsed();
    check_stopped_cleanly(&g, code);
    g.check(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        &format!("the stop to take the 1 s stop timeout (plus a margin), took {took:?}"),
    );
    for pid in std::iter::once(main).chain(children) {
        g.check(!is_alive(pid), &format!("{pid} killed"));
    }
}
in_views!(stopped_app_and_stopped_children_that_ignore_term_are_killed_at_the_stop_timeout: v2, v1);

/// The total of the counts the stormers recorded.
fn storm_forks(g: &Guardian) -> u64 {
    fs::read_dir(g.dir())
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("storm."))
                .filter_map(|e| {
                    fs::read_to_string(e.path())
                        .ok()?
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .sum()
        })
        .unwrap_or(0)
}

fn guardian_stays_responsive_during_a_fork_storm_and_stops_it_completely(view: View) {
    let b = Guardian::build(view, "storm");
    let app = payloads::fork_storm(&b.dir());
    let g = b.args(["--stop-timeout", "1"]).app(app).start();
    g.wait_for_pids("pids", 1);
    // Negative control: the storm is on (and still growing) while we ask.
    g.wait_until(PATIENCE, "the stormers to fork 1000 children", || {
        storm_forks(&g) >= 1000
    });

    let asked = Instant::now();
    // run_cli gives up (failing the test) if no answer comes within PATIENCE.
    let answer = run_cli(["status", g.name(), "--json"]);
    let took = asked.elapsed();
    g.check(
        answer.code == Some(0) && answer.stdout.contains("\"state\":\"running\""),
        &format!("`status --json` to answer 0 and running during the storm, got {answer:?} after {took:?}"),
    );
    let before = storm_forks(&g);
    g.signal(Signal::SIGHUP);
    g.wait_until(PATIENCE, "the main process to record HUP", || {
        read_lines(&g.file("signals")) == ["HUP"]
    });
    g.wait_until(PATIENCE, "the storm still going after the HUP", || {
        storm_forks(&g) > before
    });

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    check_stopped_cleanly(&g, code);
}
in_views!(guardian_stays_responsive_during_a_fork_storm_and_stops_it_completely: v2, v1);

/// The descriptor numbers a process holds, sorted.
fn fds_of(pid: Pid) -> Vec<u32> {
    let mut fds: Vec<u32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort_unstable();
    fds
}

/// The descriptors of a `sleep` that `sh -c SCRIPT` becomes, started by the test itself.
fn fds_of_a_sleep_started_by(script: &str) -> Vec<u32> {
    let mut child = Command::new("/bin/sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .spawn()
        .expect("failed to run the shell");
    let pid = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + PATIENCE;
    while comm(pid).as_deref() != Some("sleep") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let fds = fds_of(pid);
    let _ = child.kill();
    let _ = child.wait();
    fds
}

/// What a child of the test inherits beyond 0, 1, 2 (a descriptor the test runner left
/// open without close-on-exec): none under `.ci/run`, but the guardian need not close
/// what it was given, so these are allowed in the app too.
fn inherited_by_any_child() -> Vec<u32> {
    let baseline = fds_of_a_sleep_started_by("exec sleep 600");
    // Negative control: the same listing does show a descriptor the shell was given.
    let with_extra = fds_of_a_sleep_started_by("exec 3</dev/null; exec sleep 600");
    assert!(
        with_extra.contains(&3) && !baseline.contains(&3),
        "the fd listing to show an extra fd 3: {baseline:?} vs {with_extra:?}"
    );
    baseline
}

#[test]
fn app_starts_with_exactly_fds_0_1_2_whatever_the_guardian_holds() {
    let expected = inherited_by_any_child();
    let b = Guardian::build(View::V2, "fds");
    let dir = b.dir();
    let syslog = UnixDatagram::bind(dir.join("log")).expect("failed to bind the syslog socket");
    let pidfile = dir.join("guardian.pid");
    let app = payloads::record_pid_then_sleep(&dir);
    let g = b
        .args(["-f", "--syslog", "--syslog-socket"])
        .arg(dir.join("log"))
        .arg("-p")
        .arg(&pidfile)
        .arg("-P")
        .arg(dir.join("app.pid"))
        .app(app)
        .start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("`-f` to return 0, got {code}"));
    let guardian = g.wait_for(PATIENCE, "the pidfile", || {
        read_lines(&pidfile).first().map(|l| parse_pid(l))
    });
    g.follow_detached(guardian);
    let app_pid = g.wait_for_pids("pids", 1)[0];
    g.wait_until(PATIENCE, "the app to become sleep", || {
        comm(app_pid).as_deref() == Some("sleep")
    });
    let app_fds = fds_of(app_pid);
    // Control: the guardian does hold descriptors beyond those for the app to inherit.
    let held = fds_of(guardian);
    g.check(
        held.len() > expected.len() + 3,
        &format!("the guardian to hold several fds of its own, it holds {held:?}"),
    );
    g.check(
        app_fds == expected,
        &format!(
            "the app to start with exactly {expected:?} (0, 1, 2 and what the test runner \
             leaks), it has {app_fds:?}; the guardian holds {held:?}"
        ),
    );
    g.signal(Signal::SIGTERM);
    g.wait_until(PATIENCE, "the detached guardian to exit", || {
        !g.is_running()
    });
    drop(syslog);
}

fn stderr_closed_guardian_still_restarts_a_crash_and_stops_with_0(wrapper_script: &str) {
    let b = Guardian::build(View::V2, "no-stderr");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let mut wrapper = Command::new("/bin/sh");
    wrapper.args(["-c", wrapper_script, "no-stderr"]);
    let g = b.arg("-c").app(app).start_under(wrapper);
    let first = g.wait_for_pids("pids", 1)[0];
    g.wait_until(PATIENCE, "the guardian to exec", || {
        comm(g.pid()).as_deref() == Some("supervisor")
    });
    kill(first, Signal::SIGSEGV).unwrap();
    let second = g.wait_for_pids("pids", 2)[1];
    g.wait_until(PATIENCE, "the new instance in the cgroup", || {
        g.cgroup_pids() == [second]
    });
    g.check(!is_alive(first), "the crashed instance gone");
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    check_stopped_cleanly(&g, code);
}

#[test]
fn guardian_with_stderr_closed_still_restarts_a_crash_and_stops_with_0() {
    stderr_closed_guardian_still_restarts_a_crash_and_stops_with_0(r#"exec 2>&-; exec "$@""#);
}

#[test]
fn guardian_with_stderr_a_broken_pipe_still_restarts_a_crash_and_stops_with_0() {
    // stderr is a pipe whose reader is gone before the guardian starts.
    // The reader opens the FIFO, then exits; the shell waits for it, then execs.
    stderr_closed_guardian_still_restarts_a_crash_and_stops_with_0(
        r#"mkfifo errpipe && { true < errpipe & exec 2> errpipe; wait; exec "$@"; }"#,
    );
}

#[test]
fn crash_is_restarted_after_the_syslog_socket_is_gone() {
    let b = Guardian::build(View::V2, "syslog-gone");
    let dir = b.dir();
    let socket = dir.join("log");
    let syslog = UnixDatagram::bind(&socket).expect("failed to bind the syslog socket");
    let app = payloads::record_pid_then_sleep(&dir);
    let g = b
        .args(["-c", "--syslog", "--syslog-socket"])
        .arg(&socket)
        .app(app)
        .start();
    let first = g.wait_for_pids("pids", 1)[0];
    // Control: the guardian did log there while the socket existed.
    let mut buffer = [0u8; 2048];
    syslog
        .set_read_timeout(Some(PATIENCE))
        .expect("failed to set a read timeout");
    let n = syslog.recv(&mut buffer).unwrap_or(0);
    g.check(n > 0, "a syslog line before the socket went away");
    drop(syslog);
    fs::remove_file(&socket).expect("failed to remove the syslog socket");

    kill(first, Signal::SIGSEGV).unwrap();
    let second = g.wait_for_pids("pids", 2)[1];
    g.wait_until(PATIENCE, "the new instance in the cgroup", || {
        g.cgroup_pids() == [second]
    });
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    check_stopped_cleanly(&g, code);
}

/// The host's `pid_max`, which the PID namespace test must not change.
fn host_pid_max() -> String {
    fs::read_to_string("/proc/sys/kernel/pid_max").expect("failed to read pid_max")
}

/// In a PID namespace whose `pid_max` is 400 (per namespace since Linux 6.14), the
/// daemonizing app's starter exits and the test makes an unrelated process of its own
/// take the starter's PID; a HUP to the guardian reaches the daemon (the current main)
/// and nothing else.
#[test]
fn forwarded_signal_never_reaches_a_process_that_recycled_an_old_main_pid() {
    let pid_max = host_pid_max();
    let b = Guardian::build(View::V2, "recycle");
    let dir = b.dir();
    let app = payloads::daemonize_in_new_session_and_record_signals(&dir);
    // PIDs below 300 are reserved once the counter wraps: use them up first, so that
    // every later PID is in 300..400 and comes round again after at most 100 forks.
    let mut wrapper = Command::new("unshare");
    wrapper.args([
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "/bin/sh",
        "-c",
        r#"echo 400 > /proc/sys/kernel/pid_max || exit 1; i=0; while [ $i -lt 310 ]; do /bin/true; i=$((i + 1)); done; "$@" & wait $!"#,
        "pidns",
    ]);
    let g = b.args(["-c", "-e"]).app(app).start_under(wrapper);
    let unshare = g.pid();
    let guardian = g.wait_for(PATIENCE, "the guardian inside the namespace", || {
        children_of(unshare)
            .iter()
            .flat_map(|&(init, _)| children_of(init))
            .map(|(pid, _)| pid)
            .find(|&pid| comm(pid).as_deref() == Some("supervisor"))
    });
    g.follow_detached(guardian);
    g.check(
        host_pid_max() == pid_max,
        "the host's pid_max unchanged (pid_max is per namespace)",
    );
    // PIDs in the files are the namespace's.
    let starter = g.wait_for_lines("starters", 1)[0].trim().to_owned();
    let daemon = g.wait_for_lines("daemons", 1)[0].trim().to_owned();
    g.wait_until(PATIENCE, "the daemon to be the main PID", || {
        run_cli(["status", g.name(), "--json"])
            .stdout
            .contains(&format!("\"main_pid\":{daemon},"))
    });

    // Fork in the namespace until a process of ours gets the starter's PID (bounded).
    let recycle = r#"target=$1; i=0
while [ $i -lt 500 ]; do
  sh -c 'if [ $$ -eq "$1" ]; then
    trap "echo HUP >> \"\$2/recycler_signals\"" HUP
    read -r host _ < /proc/self/stat; echo "$$ $host" > "$2/recycler.part" && mv "$2/recycler.part" "$2/recycler"
    sleep 600 & while :; do wait $!; done
  fi' recycler "$target" "$2" &
  [ $! -eq "$target" ] && exit 0
  wait $!; i=$((i + 1))
done
echo "no luck: last PID $!"; exit 1"#;
    let mut recycler = Command::new("nsenter")
        .args([
            "--target",
            &guardian.to_string(),
            "--pid",
            "--",
            "/bin/sh",
            "-c",
            recycle,
            "recycle",
        ])
        .arg(&starter)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("recycle.out")).expect("recycle.out"))
        .stderr(fs::File::create(dir.join("recycle.err")).expect("recycle.err"))
        .spawn()
        .expect("failed to run nsenter");
    let recycled = g.wait_for(PATIENCE, "the recycling loop to end", || {
        recycler.try_wait().expect("failed to wait for nsenter")
    });
    g.check(
        recycled.success(),
        "a process of the test to take the old main's PID within 500 forks",
    );
    let line = g.wait_for_lines("recycler", 1)[0].clone();
    let (ns_pid, host_pid) = line.split_once(' ').expect("`<ns pid> <host pid>`");
    g.check(
        ns_pid == starter,
        "the recycler to hold the starter's old PID",
    );
    let host_pid = parse_pid(host_pid);

    g.signal(Signal::SIGHUP);
    g.wait_until(PATIENCE, "the daemon to record HUP", || {
        read_lines(&g.file("signals")) == ["HUP"]
    });
    g.check(
        read_lines(&g.file("recycler_signals")).is_empty(),
        "nothing sent to the process that recycled the old main's PID",
    );
    // Negative control: the recycler does record a HUP sent to it.
    kill(host_pid, Signal::SIGHUP).unwrap();
    g.wait_until(PATIENCE, "the recycler to record our own HUP", || {
        read_lines(&g.file("recycler_signals")) == ["HUP"]
    });

    g.signal(Signal::SIGTERM);
    g.wait_until(PATIENCE, "the guardian to exit", || !g.is_running());
    let left = live_processes_in_cgroups_named(g.name());
    g.check(
        left.is_empty(),
        &format!("no process of the app left, found {left:?}"),
    );
    g.check(
        host_pid_max() == pid_max,
        "the host's pid_max unchanged at the end",
    );
    let _ = kill(host_pid, Signal::SIGKILL);
}
