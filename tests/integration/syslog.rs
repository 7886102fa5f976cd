//! `--syslog` (and `-f`, which implies it): the guardian's messages arrive as RFC 3164
//! datagrams, daemon facility, on the socket `--syslog-socket` names; with no socket
//! there, one warning and stderr. The test is the syslog daemon: it binds its own datagram
//! socket in its temp dir, so it never depends on (or writes to) the host's `/dev/log`.
//!
//! Logging does not depend on the cgroup view; these run in the v2 view only.

use std::cell::RefCell;
use std::fs;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{Guardian, PATIENCE, View, parse_pid, read_lines};
use crate::payloads;

/// PRI = facility * 8 + severity; daemon is facility 3 (RFC 3164 section 4.1.1).
const INFO: u8 = 3 * 8 + 6;
const WARNING: u8 = 3 * 8 + 4;

/// One received line, split where RFC 3164 puts its parts.
#[derive(Debug)]
struct Line {
    pri: u8,
    /// `Mmm dd hh:mm:ss`.
    timestamp: String,
    /// What follows the timestamp: `supervisor[<pid>]: <name>: <message>`.
    tag_and_message: String,
}

/// The test's own syslog daemon: a datagram socket it reads without blocking. What it
/// received is also appended to `syslog.received` in the temp dir, so that a failed
/// test's report shows it.
struct SyslogDaemon {
    socket: UnixDatagram,
    record: PathBuf,
    received: RefCell<Vec<String>>,
}

impl SyslogDaemon {
    /// Binds `<dir>/log`.
    fn bind(dir: &Path) -> SyslogDaemon {
        let socket = UnixDatagram::bind(dir.join("log")).expect("failed to bind the syslog socket");
        socket
            .set_nonblocking(true)
            .expect("failed to make the syslog socket non-blocking");
        SyslogDaemon {
            socket,
            record: dir.join("syslog.received"),
            received: RefCell::new(Vec::new()),
        }
    }

    /// Every datagram received so far, in order.
    fn lines(&self) -> Vec<String> {
        let mut buffer = [0u8; 2048];
        while let Ok(n) = self.socket.recv(&mut buffer) {
            let line = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let mut record = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.record)
                .expect("failed to open the record of syslog lines");
            writeln!(record, "{line}").expect("failed to record a syslog line");
            self.received.borrow_mut().push(line);
        }
        self.received.borrow().clone()
    }

    /// Waits for a line whose message (after `<name>: `) is `message`; returns it parsed.
    fn wait_for(&self, g: &Guardian, message: &str) -> Line {
        let wanted = format!(": {}: {message}", g.name());
        let line = g.wait_for(
            PATIENCE,
            &format!("a syslog line ending with {wanted:?}"),
            || self.lines().into_iter().find(|l| l.ends_with(&wanted)),
        );
        parse_line(&line)
    }
}

/// Splits a received datagram into its RFC 3164 parts; panics on anything else.
fn parse_line(line: &str) -> Line {
    let parts = || -> Option<Line> {
        let (pri, rest) = line.strip_prefix('<')?.split_once('>')?;
        // `Mmm dd hh:mm:ss` is 15 bytes, then a space.
        Some(Line {
            pri: pri.parse().ok()?,
            timestamp: rest.get(..15)?.to_owned(),
            tag_and_message: rest.get(15..)?.strip_prefix(' ')?.to_owned(),
        })
    };
    parts().unwrap_or_else(|| panic!("not an RFC 3164 line: {line:?}"))
}

/// `Mmm dd hh:mm:ss`: a month abbreviation, a day (zero- or space-padded), a time.
fn is_rfc3164_timestamp(t: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = t.as_bytes();
    let digit = |i: usize| b[i].is_ascii_digit();
    b.len() == 15
        && MONTHS.contains(&&t[..3])
        && b[3] == b' '
        && (digit(4) || b[4] == b' ')
        && digit(5)
        && b[6] == b' '
        && [7, 8, 10, 11, 13, 14].iter().all(|&i| digit(i))
        && b[9] == b':'
        && b[12] == b':'
}

/// Checks PRI, timestamp and `supervisor[<guardian pid>]: <name>: ` of one line.
fn check_line(g: &Guardian, line: &Line, pri: u8) {
    g.check(line.pri == pri, &format!("PRI <{pri}> in {line:?}"));
    g.check(
        is_rfc3164_timestamp(&line.timestamp),
        &format!("an `Mmm dd hh:mm:ss` timestamp in {line:?}"),
    );
    let tag = format!("supervisor[{}]: {}: ", g.pid(), g.name());
    g.check(
        line.tag_and_message.starts_with(&tag),
        &format!("the tag {tag:?} in {line:?}"),
    );
}

/// Starts `-c --syslog --syslog-socket <dir>/log EXTRA` on an app that sleeps, with the
/// test's syslog daemon bound there if `listen`, kills the first instance with SIGSEGV (a
/// crash) and returns once the second has started: the guardian, the daemon, both PIDs.
fn crash_once(
    view: View,
    tag: &str,
    extra: &[&str],
    listen: bool,
) -> (Guardian, Option<SyslogDaemon>, Pid, Pid) {
    let b = Guardian::build(view, tag);
    let daemon = listen.then(|| SyslogDaemon::bind(&b.dir()));
    let socket = b.dir().join("log");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b
        .args(extra)
        .args(["-c", "--syslog", "--syslog-socket"])
        .arg(&socket)
        .app(app)
        .start();
    let first = g.wait_for_pids("pids", 1)[0];
    kill(first, Signal::SIGSEGV).unwrap();
    let second = g.wait_for_pids("pids", 2)[1];
    (g, daemon, first, second)
}

fn start_crash_and_restart_arrive_on_the_syslog_socket_not_on_stderr(view: View) {
    let (g, daemon, first, second) = crash_once(view, "syslog", &[], true);
    let daemon = daemon.unwrap();
    let started = daemon.wait_for(&g, &format!("started, main PID {first}"));
    check_line(&g, &started, INFO);
    let crash = daemon.wait_for(
        &g,
        &format!("warning: main PID {first} was killed by SIGSEGV (a crash)"),
    );
    check_line(&g, &crash, WARNING);
    let restarting = daemon.wait_for(&g, "restarting now");
    check_line(&g, &restarting, INFO);
    let restarted = daemon.wait_for(&g, &format!("started, main PID {second}"));
    check_line(&g, &restarted, INFO);

    // Negative control: none of it went to stderr as well.
    let stderr = g.stderr();
    g.check(
        !stderr.contains("started, main PID") && !stderr.contains("a crash"),
        "nothing of the above on stderr",
    );
}
in_views!(start_crash_and_restart_arrive_on_the_syslog_socket_not_on_stderr: v2);

fn q_keeps_the_crash_warning_on_syslog_but_drops_the_info_lines(view: View) {
    let (g, daemon, first, _) = crash_once(view, "syslog-q", &["-q"], true);
    let daemon = daemon.unwrap();
    let crash = daemon.wait_for(
        &g,
        &format!("warning: main PID {first} was killed by SIGSEGV (a crash)"),
    );
    check_line(&g, &crash, WARNING);

    // Once the guardian has exited, every datagram it sent is in the socket's queue,
    // the restart's and the stop's included.
    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    let info: Vec<String> = daemon
        .lines()
        .into_iter()
        .filter(|l| parse_line(l).pri == INFO)
        .collect();
    g.check(
        info.is_empty(),
        &format!("no info line with -q, got {info:?}"),
    );
}
in_views!(q_keeps_the_crash_warning_on_syslog_but_drops_the_info_lines: v2);

/// Negative control of the above: with no socket at the path, the same lines go to stderr
/// after exactly one warning.
fn missing_syslog_socket_warns_once_and_logs_to_stderr(view: View) {
    let (g, _, first, second) = crash_once(view, "syslog-none", &[], false);
    let socket = g.file("log");
    let restarted = format!("supervisor[{}]: started, main PID {second}", g.name());
    g.wait_until(PATIENCE, "the restart on stderr", || {
        g.stderr().lines().any(|l| l == restarted)
    });

    let stderr = g.stderr();
    let warning = format!(
        "supervisor[{}]: warning: unable to reach syslog at {}: ",
        g.name(),
        socket.display()
    );
    let warnings = stderr.lines().filter(|l| l.starts_with(&warning)).count();
    g.check(
        warnings == 1,
        &format!("exactly one {warning:?} line, got {warnings}"),
    );
    g.check(
        stderr.lines().any(|l| l.ends_with("; logging to stderr")),
        "the warning to say where the lines go instead",
    );
    for message in [
        format!("started, main PID {first}"),
        format!("warning: main PID {first} was killed by SIGSEGV (a crash)"),
        "restarting now".to_owned(),
    ] {
        let line = format!("supervisor[{}]: {message}", g.name());
        g.check(
            stderr.lines().any(|l| l == line),
            &format!("{line:?} on stderr"),
        );
    }
    g.check(!socket.exists(), "no socket created at the missing path");
}
in_views!(missing_syslog_socket_warns_once_and_logs_to_stderr: v2);

/// Starts `-f -p FILE --syslog-socket <dir>/log` (no `--syslog`), follows the guardian
/// that forked off, and returns its `started` line from the socket.
fn start_in_the_background(view: View, tag: &str) -> (Guardian, Line) {
    let b = Guardian::build(view, tag);
    let daemon = SyslogDaemon::bind(&b.dir());
    let socket = b.dir().join("log");
    let pidfile = b.dir().join("guardian.pid");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b
        .arg("-f")
        .arg("-p")
        .arg(&pidfile)
        .arg("--syslog-socket")
        .arg(&socket)
        .app(app)
        .start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("`supervisor -f` to return 0, got {code}"),
    );
    let guardian = g.wait_for(PATIENCE, "the pidfile", || {
        read_lines(&pidfile).first().map(|l| parse_pid(l))
    });
    g.follow_detached(guardian);
    let app_pid = g.wait_for_pids("pids", 1)[0];
    let started = daemon.wait_for(&g, &format!("started, main PID {app_pid}"));
    (g, started)
}

/// `-f` implies `--syslog`: in the background stderr goes nowhere.
fn fork_logs_to_the_syslog_socket(view: View) {
    let (g, started) = start_in_the_background(view, "syslog-f");
    g.check(started.pri == INFO, &format!("PRI <{INFO}> in {started:?}"));
    g.check(
        started.tag_and_message.starts_with("supervisor[")
            && started
                .tag_and_message
                .contains(&format!("]: {}: started", g.name())),
        &format!("`supervisor[<pid>]: <name>: ` in {started:?}"),
    );
    g.check(
        !g.stderr().contains("started, main PID"),
        "the start line not on stderr",
    );
}
in_views!(fork_logs_to_the_syslog_socket: v2);

/// The RFC 3164 tag takes the PID when the log connects: that must happen after `-f`
/// forked off, or every line would name the foreground process that already exited.
#[test]
fn fork_syslog_lines_name_the_guardian_that_forked_off() {
    let (g, started) = start_in_the_background(View::V2, "syslog-f-pid");
    check_line(&g, &started, INFO);
}
