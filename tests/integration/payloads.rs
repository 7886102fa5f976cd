//! The apps the tests run: named `sh -c` one-liners, each given the test's temp dir as
//! `$1`, recording what it sees in files there (the tests wait for those files).
//!
//! A payload writes its PID only once it is ready (traps installed, workers forked), so
//! "the PID is in the file" means "it is ready". `$0` names the payload in `ps` output.

use std::path::Path;

/// The signals the guardian forwards to the main PID as they are (QUIT aside).
pub const FORWARDED: [&str; 8] = [
    "HUP", "USR1", "USR2", "WINCH", "ALRM", "TTIN", "TTOU", "CONT",
];

/// Installs a trap per forwarded signal that appends its name to `$1/signals`.
const RECORD_FORWARDED: &str = r#"for s in HUP USR1 USR2 WINCH ALRM TTIN TTOU CONT; do trap "echo $s >> \"\$1/signals\"" $s; done"#;

/// Waits forever in a way that still runs traps at once (`wait` returns on a signal).
const IDLE: &str = "sleep 600 & while :; do wait $!; done";

fn sh(name: &str, script: &str, dir: &Path) -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        script.into(),
        name.into(),
        dir.display().to_string(),
    ]
}

/// Appends its PID to `pids` (one line per start), then becomes `sleep`.
pub fn record_pid_then_sleep(dir: &Path) -> Vec<String> {
    sh("record-pid", r#"echo $$ >> "$1/pids"; exec sleep 600"#, dir)
}

/// Not a shell: the program itself reads `/proc/self/cgroup` as its first act, to the
/// guardian's stdout (captured by the harness), then exits 0.
pub fn report_cgroup_at_once() -> Vec<String> {
    vec!["/bin/cat".into(), "/proc/self/cgroup".into()]
}

/// Appends its PID to `pids` and exits with `code`.
pub fn exit_with(dir: &Path, code: i32) -> Vec<String> {
    sh(
        "exit-with",
        &format!(r#"echo $$ >> "$1/pids"; exit {code}"#),
        dir,
    )
}

/// Appends the time since boot (`/proc/uptime`, 10 ms resolution) to `starts`, then exits
/// with `code`.
pub fn log_start_time(dir: &Path, code: i32) -> Vec<String> {
    sh(
        "log-start",
        &format!(r#"read -r up _ < /proc/uptime; echo "$up" >> "$1/starts"; exit {code}"#),
        dir,
    )
}

/// Forks a daemon (which appends its PID to `daemons`, then becomes `sleep`), appends its
/// own PID to `starters` and exits 0: what `daemon on;` nginx does.
pub fn daemonize(dir: &Path) -> Vec<String> {
    sh(
        "daemonize",
        r#"echo $$ >> "$1/starters"; sh -c 'echo $$ >> "$1/daemons"; exec sleep 600' daemon "$1" & exit 0"#,
        dir,
    )
}

/// Like `daemonize`, but the daemon records every forwarded signal in `signals`.
pub fn daemonize_and_record_signals(dir: &Path) -> Vec<String> {
    daemonize_recording(dir, "daemonize-rec", "")
}

/// A starter that appends its PID to `starters`, starts a daemon (through `launcher`)
/// that records forwarded signals and appends its PID to `daemons`, then exits 0.
fn daemonize_recording(dir: &Path, name: &str, launcher: &str) -> Vec<String> {
    let daemon = format!(r#"{RECORD_FORWARDED}; echo $$ >> "$1/daemons"; {IDLE}"#);
    sh(
        name,
        &format!(r#"echo $$ >> "$1/starters"; {launcher}sh -c '{daemon}' daemon "$1" & exit 0"#),
        dir,
    )
}

/// A unicorn-style master: on USR2 it starts a new copy of itself (its child), which
/// appends its PID to `masters` and writes it to the pid file `$2`; QUIT makes a master
/// exit 0. The script lives in the temp dir so that a copy can run it again. The copy is
/// an asynchronous list of a non-interactive shell, which starts with QUIT ignored (POSIX,
/// "Asynchronous Lists"), and an ignored signal cannot be trapped: `env` restores it.
pub fn unicorn_like(dir: &Path, pidfile: &Path) -> Vec<String> {
    unicorn_script(dir, pidfile, "unicorn.sh", false, "kill $sleeper; exit 0")
}

/// Like `unicorn_like`, but a copy started by USR2 holds back: it has its child (so it
/// looks like a master with workers) but writes neither the pid file `$2` nor `masters`
/// until the file `go` exists in the temp dir. An upgrade with `-P` waits for it meanwhile.
/// On QUIT a master waits for its child to die before it exits or, with
/// `leaves_worker_behind`, exits at once and leaves it running (a worker still busy).
pub fn unicorn_like_waiting_for_go(
    dir: &Path,
    pidfile: &Path,
    leaves_worker_behind: bool,
) -> Vec<String> {
    let on_quit = if leaves_worker_behind {
        "exit 0"
    } else {
        "kill $sleeper; wait $sleeper; exit 0"
    };
    unicorn_script(dir, pidfile, "unicorn-go.sh", true, on_quit)
}

/// Writes the unicorn-like master of [`unicorn_like`] to `file` in the temp dir and returns
/// the command that runs it: with `hold_back`, a copy started by USR2 waits for the file
/// `go` before it writes the pid file and `masters`; `on_quit` is its QUIT trap.
fn unicorn_script(
    dir: &Path,
    pidfile: &Path,
    file: &str,
    hold_back: bool,
    on_quit: &str,
) -> Vec<String> {
    let script = dir.join(file);
    let wait_for_go = if hold_back {
        "if [ \"$copy\" = copy ]; then while [ ! -e \"$dir/go\" ]; do sleep 0.05; done; fi\n"
    } else {
        ""
    };
    std::fs::write(
        &script,
        format!(
            r#"dir=$1; pidfile=$2; copy=$3
trap 'env --default-signal=QUIT,INT /bin/sh "$0" "$dir" "$pidfile" copy &' USR2
trap '{on_quit}' QUIT
sleep 600 & sleeper=$!
{wait_for_go}echo $$ > "$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"
echo $$ >> "$dir/masters"
while kill -0 $sleeper 2>/dev/null; do wait $sleeper; done
"#
        ),
    )
    .expect("failed to write the unicorn-like script");
    vec![
        "/bin/sh".into(),
        script.display().to_string(),
        dir.display().to_string(),
        pidfile.display().to_string(),
    ]
}

/// Records every forwarded signal in `signals`, then appends its PID to `pids` and idles.
/// QUIT keeps its default action (the app dies of it).
pub fn record_signals(dir: &Path) -> Vec<String> {
    sh(
        "record-signals",
        &format!(r#"{RECORD_FORWARDED}; echo $$ >> "$1/pids"; {IDLE}"#),
        dir,
    )
}

/// How the old main process ends once its successor has written the `-P` file.
#[derive(Clone, Copy, Debug)]
pub enum OldEnds {
    /// `exit 1`: an error, which without `-e` would end the guardian.
    WithError,
    /// `kill -KILL $$`: a crash, which with `-c` would start a second instance.
    Killed,
}

/// An nginx-style upgrade: the old process (PID in `olds`) starts a successor that traps
/// USR1 (appending "<its pid> USR1" to `successor_signals`), writes its PID to the `-P`
/// file `main_pidfile` and to `successors`; once the `-P` file is written the old one ends.
pub fn handover_with_pidfile(dir: &Path, main_pidfile: &Path, old_ends: OldEnds) -> Vec<String> {
    let end = match old_ends {
        OldEnds::WithError => "exit 1",
        OldEnds::Killed => "kill -KILL $$",
    };
    let successor = format!(
        r#"trap "echo \$\$ USR1 >> \"\$1/successor_signals\"" USR1; echo $$ >> "$1/successors"; echo $$ > "$2"; {IDLE}"#
    );
    let mut app = sh(
        "handover",
        &format!(
            r#"rm -f "$2"; echo $$ >> "$1/olds"; sh -c '{successor}' successor "$1" "$2" & while [ ! -s "$2" ]; do sleep 0.05; done; {end}"#
        ),
        dir,
    );
    app.push(main_pidfile.display().to_string());
    app
}

/// Writes `content` (expanded by the shell, so `$$` is its own PID; with None, nothing: the
/// file is removed) to the `-P` file, appends its PID to `pids` and exits 1.
pub fn point_main_pidfile_at(
    dir: &Path,
    main_pidfile: &Path,
    content: Option<&str>,
) -> Vec<String> {
    let write = match content {
        Some(content) => format!(r#"echo "{content}" > "$2""#),
        None => r#"rm -f "$2""#.to_owned(),
    };
    let mut app = sh(
        "point-pidfile",
        &format!(r#"{write}; echo $$ >> "$1/pids"; exit 1"#),
        dir,
    );
    app.push(main_pidfile.display().to_string());
    app
}

/// Starts a worker (PID in `workers`, then `sleep`), appends its own PID to `mains` and
/// becomes `sleep`: a crash of the main leaves the worker behind.
pub fn worker_survives_crash(dir: &Path) -> Vec<String> {
    sh(
        "with-worker",
        r#"sh -c 'echo $$ >> "$1/workers"; exec sleep 600' worker "$1" & echo $$ >> "$1/mains"; exec sleep 600"#,
        dir,
    )
}

/// Ignores TERM (an ignored signal stays ignored across exec), appends its PID to `pids`.
pub fn ignore_term(dir: &Path) -> Vec<String> {
    sh(
        "ignore-term",
        r#"trap '' TERM; echo $$ >> "$1/pids"; exec sleep 600"#,
        dir,
    )
}

/// On TERM, keeps forking `sleep` children (appending their PIDs to `forked`; a few
/// hundred, one every 10 ms or so, so it is still forking when the stop timeout runs out)
/// instead of exiting.
pub fn fork_during_stop(dir: &Path) -> Vec<String> {
    sh(
        "fork-on-term",
        &format!(
            r#"trap 'i=0; while [ $i -lt 400 ]; do sleep 600 & echo $! >> "$1/forked"; i=$((i+1)); sleep 0.01; done' TERM; echo $$ >> "$1/pids"; {IDLE}"#
        ),
        dir,
    )
}

/// Ignores TERM, starts two children that append their PIDs to `children` and stop
/// themselves (SIGSTOP), appends its own PID to `pids` and stops itself too; once
/// continued it becomes `sleep` (TERM still ignored, as in its children).
pub fn stop_itself_and_children(dir: &Path) -> Vec<String> {
    sh(
        "stopped",
        r#"trap '' TERM; for i in 1 2; do sh -c 'echo $$ >> "$1/children"; kill -STOP $$; exec sleep 600' child "$1" & done; echo $$ >> "$1/pids"; kill -STOP $$; exec sleep 600"#,
        dir,
    )
}

/// Two stormers fork short-lived subshells (`(exit 0) &`) as fast as they can, reaping
/// them every 50 and recording their count in `storm.<pid>`; each stops after 20 s (by
/// `/proc/uptime`, read without a fork), so the storm is bounded in time and in live
/// processes. The main process records forwarded signals in `signals`, appends its PID
/// to `pids` and idles.
pub fn fork_storm(dir: &Path) -> Vec<String> {
    let stormer = r#"read -r t _ < /proc/uptime; end=$((${t%.*} + 20)); n=0; while :; do (exit 0) & n=$((n + 1)); if [ $((n % 50)) -eq 0 ]; then wait; echo $n > "$1/storm.$$"; read -r t _ < /proc/uptime; [ ${t%.*} -ge $end ] && exit 0; fi; done"#;
    sh(
        "fork-storm",
        &format!(
            r#"for i in 1 2; do sh -c '{stormer}' stormer "$1" & done; {RECORD_FORWARDED}; echo $$ >> "$1/pids"; {IDLE}"#
        ),
        dir,
    )
}

/// Like `daemonize_and_record_signals`, but the daemon starts a session of its own
/// (`setsid`, as real daemons do), so that no process is left in the starter's session or
/// process group and the starter's PID can be recycled once it is reaped.
pub fn daemonize_in_new_session_and_record_signals(dir: &Path) -> Vec<String> {
    daemonize_recording(dir, "daemonize-setsid", "setsid ")
}

/// Makes the `-P` file `$2` a FIFO, appends its PID to `pids` and exits 1: a guardian
/// that opened the hint without O_NONBLOCK would hang.
pub fn main_pidfile_is_a_fifo(dir: &Path, main_pidfile: &Path) -> Vec<String> {
    let mut app = sh(
        "fifo-pidfile",
        r#"rm -f "$2"; mkfifo "$2"; echo $$ >> "$1/pids"; exit 1"#,
        dir,
    );
    app.push(main_pidfile.display().to_string());
    app
}

/// Copies its own `/proc/self/status` (read by the shell itself, no child) to `status`,
/// then exits 0.
pub fn report_credentials(dir: &Path) -> Vec<String> {
    sh(
        "report-creds",
        r#"while IFS= read -r l; do printf '%s\n' "$l"; done < /proc/self/status > "$1/status.part" && mv "$1/status.part" "$1/status""#,
        dir,
    )
}

/// Creates `ran`: proof that the app ran at all.
pub fn touch_marker(dir: &Path) -> Vec<String> {
    sh("touch-marker", r#": > "$1/ran""#, dir)
}

/// Not a shell (the shell cannot bind a socket): python3 copies its own `/proc/self/status`
/// to `status`, then tries to bind 127.0.0.1 on a port below 1024 (999, or the next free
/// one down to 990) and writes the outcome to `bind`: `bound <port>`, or the errno name
/// (`EACCES` without CAP_NET_BIND_SERVICE). Both files appear whole (written, then renamed).
pub fn bind_a_low_port(dir: &Path) -> Vec<String> {
    const SCRIPT: &str = r#"
import errno, os, socket, sys
d = sys.argv[1]
def record(name, text):
    with open(os.path.join(d, name + ".part"), "w") as f:
        f.write(text)
    os.rename(os.path.join(d, name + ".part"), os.path.join(d, name))
with open("/proc/self/status") as f:
    record("status", f.read())
outcome = "no free port"
for port in range(999, 989, -1):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        outcome = "bound %d" % port
        break
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            outcome = errno.errorcode.get(e.errno, str(e.errno))
            break
    finally:
        s.close()
record("bind", outcome + "\n")
"#;
    vec![
        "/usr/bin/python3".into(),
        "-c".into(),
        SCRIPT.into(),
        dir.display().to_string(),
    ]
}

/// Leaves three orphans behind (each started by a shell that exits at once; each appends
/// its PID to `orphans`, then waits for the file `go` and exits), writes its parent's PID
/// to `ppid`, appends its own PID to `pids` and becomes `sleep`.
pub fn leave_orphans_until_go(dir: &Path) -> Vec<String> {
    sh(
        "orphans",
        r#"for i in 1 2 3; do sh -c 'sh -c "echo \$\$ >> \"\$1/orphans\"; while [ ! -e \"\$1/go\" ]; do sleep 0.05; done" orphan "$1" &' spawner "$1"; done; echo $PPID > "$1/ppid"; echo $$ >> "$1/pids"; exec sleep 600"#,
        dir,
    )
}
