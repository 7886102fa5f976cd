//! The client side of the control socket: `supervisor status|signal|stop|start|restart|
//! upgrade|reload|exit [NAME]`. One request per connection, over a unix socket; the answer
//! printed for a person, or as the guardian's JSON with `--json`.
//!
//! Exit codes: 0 done; 1 refused or failed (the guardian answered with an error); 2 a
//! usage error clap cannot see (a bad SIG, no NAME among several guardians); 3 not
//! running (no socket, or nothing answering on it).
//!
//! The wire format is `protocol`'s; this file only chooses the socket, sends, and prints.

use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::{ClientCommand, Target};
use crate::instance_lock::RUN_DIR;
use crate::protocol::{CommandReply, ErrorReply, LastExit, Status, socket_path};
use crate::values::parse_signal;

/// The guardian answered: the request was carried out.
pub const EXIT_OK: i32 = 0;
/// The guardian refused the request or it failed.
pub const EXIT_REFUSED: i32 = 1;
/// A usage error found after clap: a SIG that is no signal, or no NAME among several.
pub const EXIT_USAGE: i32 = 2;
/// No guardian: no socket, or nothing answers on it.
pub const EXIT_NOT_RUNNING: i32 = 3;

/// How long to wait for an answer. A command is answered once it is done: a stop or a
/// restart can take the app's stop timeout, an upgrade or a reload the upgrade timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
const SLOW_TIMEOUT: Duration = Duration::from_secs(120);

/// The most an answer may hold: a status is a few hundred bytes, so this only keeps a
/// confused peer from filling memory.
const MAX_ANSWER: usize = 1024 * 1024;
const MAX_ANSWER_HEADERS: usize = 32;

/// Carries out one client command and returns the process's exit code.
pub fn run(command: ClientCommand) -> i32 {
    let mut out = io::stdout().lock();
    let mut err = io::stderr().lock();
    run_in(command, Path::new(RUN_DIR), &mut out, &mut err)
}

/// [`run`] with the socket directory and both outputs given, so tests can use their own.
fn run_in(command: ClientCommand, run_dir: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let outcome = (|| -> io::Result<i32> {
        let call = match Call::from_command(command) {
            Ok(call) => call,
            Err(failure) => return failure.print(err),
        };
        let sockets = match choose_sockets(&call, run_dir) {
            Ok(sockets) => sockets,
            Err(failure) => return failure.print(err),
        };
        // Every guardian is asked even when one fails; the first failure is the outcome.
        let mut code = EXIT_OK;
        for socket in &sockets {
            let this = match exchange(&socket.path, &call.request_bytes(), call.timeout) {
                Ok(answer) => show_answer(&call, socket, &answer, out, err)?,
                Err(error) => error.failure(socket).print(err)?,
            };
            if code == EXIT_OK {
                code = this;
            }
        }
        Ok(code)
    })();
    // Nowhere left to say it (stdout closed, `| head`): the exit code has to.
    outcome.unwrap_or(EXIT_REFUSED)
}

/// What the guardian's answer holds when it is a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnswerKind {
    Status,
    Command,
}

/// One request, as the command line asked it.
#[derive(Debug)]
struct Call {
    method: &'static str,
    path: String,
    target: Target,
    answer: AnswerKind,
    timeout: Duration,
}

impl Call {
    fn from_command(command: ClientCommand) -> Result<Call, Failure> {
        let command_call = |path: &str, target| Call {
            method: "POST",
            path: path.to_owned(),
            target,
            answer: AnswerKind::Command,
            timeout: TIMEOUT,
        };
        Ok(match command {
            ClientCommand::Status(target) => Call {
                method: "GET",
                path: "/status".to_owned(),
                target,
                answer: AnswerKind::Status,
                timeout: TIMEOUT,
            },
            ClientCommand::Signal { signal, target } => {
                // Checked here, so a typo is a usage error, not a round trip and a 400;
                // sent by name, so the guardian's log reads the same on every architecture.
                let parsed = parse_signal(&signal).map_err(|why| Failure {
                    code: EXIT_USAGE,
                    message: format!("error: invalid value '{signal}' for '<SIG>': {why}"),
                })?;
                let name = parsed.as_str();
                let short = name.strip_prefix("SIG").unwrap_or(name);
                command_call(&format!("/signal/{short}"), target)
            }
            ClientCommand::Stop(target) => Call {
                timeout: SLOW_TIMEOUT,
                ..command_call("/stop", target)
            },
            ClientCommand::Start(target) => Call {
                timeout: SLOW_TIMEOUT,
                ..command_call("/start", target)
            },
            ClientCommand::Restart(target) => Call {
                timeout: SLOW_TIMEOUT,
                ..command_call("/restart", target)
            },
            ClientCommand::Upgrade(target) => Call {
                timeout: SLOW_TIMEOUT,
                ..command_call("/upgrade", target)
            },
            ClientCommand::Reload(target) => Call {
                timeout: SLOW_TIMEOUT,
                ..command_call("/reload", target)
            },
            ClientCommand::Exit(target) => command_call("/exit", target),
            ClientCommand::Reexec(target) => command_call("/reexec", target),
        })
    }

    /// The whole request: `Connection: close`, since the guardian answers once and closes.
    fn request_bytes(&self) -> Vec<u8> {
        let length = if self.method == "POST" {
            "Content-Length: 0\r\n"
        } else {
            ""
        };
        format!(
            "{} {} HTTP/1.1\r\nHost: localhost\r\n{length}Connection: close\r\n\r\n",
            self.method, self.path
        )
        .into_bytes()
    }
}

/// A guardian's socket and the name to call it by in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Socket {
    name: String,
    path: PathBuf,
}

impl Socket {
    /// The name is the file's, `web` for `web.sock`, when nobody typed one.
    fn at(path: PathBuf) -> Socket {
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        Socket { name, path }
    }
}

/// `--control` first, then NAME; with neither, whatever sockets `run_dir` holds: all of
/// them for `status`, the only one for anything else.
fn choose_sockets(call: &Call, run_dir: &Path) -> Result<Vec<Socket>, Failure> {
    let target = &call.target;
    match (&target.control, &target.name) {
        (Some(path), Some(name)) => {
            return Ok(vec![Socket {
                name: name.clone(),
                path: path.clone(),
            }]);
        }
        (Some(path), None) => return Ok(vec![Socket::at(path.clone())]),
        (None, Some(name)) => {
            return Ok(vec![Socket {
                name: name.clone(),
                path: socket_path(run_dir, name),
            }]);
        }
        (None, None) => {}
    }
    let sockets = list_sockets(run_dir).map_err(|error| Failure {
        code: EXIT_REFUSED,
        message: format!("supervisor: unable to read {}: {error}", run_dir.display()),
    })?;
    match sockets.as_slice() {
        [] => Err(Failure {
            code: EXIT_NOT_RUNNING,
            message: "supervisor: no guardian is running".to_owned(),
        }),
        [_] => Ok(sockets),
        _ if call.answer == AnswerKind::Status => Ok(sockets),
        _ => {
            let names: Vec<&str> = sockets.iter().map(|socket| socket.name.as_str()).collect();
            Err(Failure {
                code: EXIT_USAGE,
                message: format!(
                    "supervisor: several guardians are running ({}): name one",
                    names.join(", ")
                ),
            })
        }
    }
}

/// Every `*.sock` socket in `dir`, by name. A missing directory means no guardian has
/// run since boot (`/run` is a tmpfs).
fn list_sockets(dir: &Path) -> io::Result<Vec<Socket>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut sockets = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let is_sock = path
            .extension()
            .is_some_and(|extension| extension == "sock");
        if is_sock && entry.file_type()?.is_socket() {
            sockets.push(Socket::at(path));
        }
    }
    sockets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(sockets)
}

/// A reason to stop, with the exit code it means and the one line that says it.
#[derive(Debug, PartialEq, Eq)]
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn print(self, err: &mut dyn Write) -> io::Result<i32> {
        writeln!(err, "{}", self.message)?;
        Ok(self.code)
    }
}

/// Why no answer came back.
#[derive(Debug)]
enum ExchangeError {
    /// No socket file, or nobody listening on it (a guardian that died left it behind).
    NotRunning,
    /// The socket is there but cannot be used (EACCES when not root, ...).
    Connect(io::Error),
    /// Connected, but no answer: a timeout, or the connection closed first.
    NoAnswer(String),
    /// Something answered, but not with an HTTP answer we can read.
    Unreadable(String),
}

impl ExchangeError {
    fn failure(self, socket: &Socket) -> Failure {
        let (name, path) = (&socket.name, socket.path.display());
        let (code, message) = match self {
            ExchangeError::NotRunning => (
                EXIT_NOT_RUNNING,
                format!("supervisor: no guardian named {name} is running ({path})"),
            ),
            ExchangeError::Connect(error) => (
                EXIT_REFUSED,
                format!("supervisor: {name}: unable to connect to {path}: {error}"),
            ),
            ExchangeError::NoAnswer(why) => (
                EXIT_NOT_RUNNING,
                format!("supervisor: {name}: no answer on {path}: {why}"),
            ),
            ExchangeError::Unreadable(why) => (
                EXIT_REFUSED,
                format!("supervisor: {name}: unreadable answer on {path}: {why}"),
            ),
        };
        Failure { code, message }
    }
}

/// An HTTP answer: its status and body.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Sends `request` on a new connection to `path` and reads the answer.
fn exchange(path: &Path, request: &[u8], timeout: Duration) -> Result<Answer, ExchangeError> {
    let mut stream = UnixStream::connect(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ExchangeError::NotRunning,
        _ => ExchangeError::Connect(error),
    })?;
    let no_answer = |error: io::Error| match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ExchangeError::NoAnswer(format!("nothing within {}s", timeout.as_secs()))
        }
        _ => ExchangeError::NoAnswer(error.to_string()),
    };
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(ExchangeError::Connect)?;
    stream.write_all(request).map_err(no_answer)?;

    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let read = match stream.read(&mut chunk) {
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            // The guardian closes right after answering; a reset then loses nothing read.
            Err(error)
                if error.kind() == io::ErrorKind::ConnectionReset && !received.is_empty() =>
            {
                0
            }
            Err(error) => return Err(no_answer(error)),
        };
        let at_end = read == 0;
        received.extend_from_slice(&chunk[..read]);
        if at_end && received.is_empty() {
            return Err(ExchangeError::NoAnswer(
                "the connection closed without an answer".to_owned(),
            ));
        }
        match parse_answer(&received, at_end).map_err(ExchangeError::Unreadable)? {
            Some(answer) => return Ok(answer),
            None if at_end => {
                return Err(ExchangeError::Unreadable(
                    "the answer was cut short".to_owned(),
                ));
            }
            None if received.len() > MAX_ANSWER => {
                return Err(ExchangeError::Unreadable(format!(
                    "more than {MAX_ANSWER} bytes"
                )));
            }
            None => {}
        }
    }
}

/// Parses what has arrived: `Ok(None)` while more is needed. The body is `Content-Length`
/// bytes after the head, or everything up to the end of the stream without one.
fn parse_answer(received: &[u8], at_end: bool) -> Result<Option<Answer>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(received) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("not HTTP: {error}")),
    };
    let status = response.code.ok_or("no status code")?;
    let length = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .map(|header| {
            std::str::from_utf8(header.value)
                .ok()
                .and_then(|value| value.trim().parse::<usize>().ok())
                .ok_or("invalid content-length")
        })
        .transpose()?;
    let body = &received[head_len..];
    let body = match length {
        Some(length) if body.len() >= length => &body[..length],
        Some(_) => return Ok(None),
        None if at_end => body,
        None => return Ok(None),
    };
    Ok(Some(Answer {
        status,
        body: body.to_vec(),
    }))
}

/// Prints an answer and returns the exit code it means.
fn show_answer(
    call: &Call,
    socket: &Socket,
    answer: &Answer,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let succeeded = (200..300).contains(&answer.status);
    let code = if succeeded { EXIT_OK } else { EXIT_REFUSED };
    // With --json an error is JSON on stdout too: a script reads one stream, and the exit
    // code says which kind of body it holds.
    if call.target.json {
        out.write_all(&answer.body)?;
        writeln!(out)?;
        return Ok(code);
    }
    let name = &socket.name;
    if !succeeded {
        let line = match serde_json::from_slice::<ErrorReply>(&answer.body) {
            Ok(reply) => format!(
                "supervisor: {name}: {} ({})",
                reply.error.message, reply.error.kind
            ),
            Err(_) => format!("supervisor: {name}: HTTP status {}", answer.status),
        };
        writeln!(err, "{line}")?;
        return Ok(code);
    }
    let now = seconds_since_epoch();
    let shown = match call.answer {
        AnswerKind::Status => {
            serde_json::from_slice::<Status>(&answer.body).map(|status| format_status(&status, now))
        }
        AnswerKind::Command => serde_json::from_slice::<CommandReply>(&answer.body)
            .map(|reply| format!("{}\n{}", reply.message, format_status(&reply.status, now))),
    };
    match shown {
        Ok(text) => {
            out.write_all(text.as_bytes())?;
            Ok(code)
        }
        Err(error) => {
            writeln!(err, "supervisor: {name}: unreadable answer: {error}")?;
            Ok(EXIT_REFUSED)
        }
    }
}

fn seconds_since_epoch() -> f64 {
    // A clock before 1970 makes every "ago" look recent; nothing worse.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// A status for a person, one block per guardian; `now` in seconds since the epoch.
///
/// ```text
/// web: running, main PID 1234, up 2m05s, 1 restart, 2 main PID changes
///   command: /usr/sbin/nginx -c /etc/nginx/nginx.conf
///   cgroup: /sys/fs/cgroup/unified/supervisor/web (v2), 3 processes
///   last exit: killed by SIGSEGV, 3m ago
/// ```
fn format_status(status: &Status, now: f64) -> String {
    let mut summary = vec![format!(
        "{}: {}",
        status.name,
        status.state.replace('_', " ")
    )];
    if let Some(pid) = status.main_pid {
        summary.push(format!("main PID {pid}"));
    }
    if let Some(uptime) = status.uptime_seconds {
        summary.push(format!("up {}", format_duration(uptime.floor())));
    }
    summary.push(count(status.restarts, "restart", "restarts"));
    summary.push(count(
        status.main_pid_changes,
        "main PID change",
        "main PID changes",
    ));
    let mut lines = vec![summary.join(", ")];
    if !status.command.is_empty() {
        let words: Vec<String> = status.command.iter().map(|word| quote_word(word)).collect();
        lines.push(format!("  command: {}", words.join(" ")));
    }
    lines.push(format!(
        "  cgroup: {} (v{}), {}",
        status.cgroup,
        status.cgroup_version,
        count(status.pids.len() as u64, "process", "processes")
    ));
    if let Some(last_exit) = &status.last_exit {
        lines.push(format!(
            "  last exit: {}, {} ago",
            describe_exit(last_exit),
            format_age(now - last_exit.at)
        ));
    }
    if let Some(delay) = status.backoff_seconds {
        // Rounded up: "in 0s" would read as "now" while there is still a wait.
        lines.push(format!(
            "  backing off: next start in {}",
            format_duration(delay.ceil())
        ));
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn describe_exit(last_exit: &LastExit) -> String {
    match (&last_exit.signal, last_exit.code) {
        (Some(signal), _) => format!("killed by {signal}"),
        (None, Some(code)) => format!("exited with code {code}"),
        (None, None) => "ended".to_owned(),
    }
}

/// `2m05s`, `1h02m`, `3d04h`: two units, enough to read at a glance.
fn format_duration(seconds: f64) -> String {
    // `as` saturates: NaN and negative durations (clock skew) become 0.
    let total = seconds as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    match total {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{minutes}m{secs:02}s"),
        3_600..86_400 => format!("{}h{minutes:02}m", total / 3_600),
        _ => format!("{days}d{hours:02}h"),
    }
}

/// `12s`, `3m`, `2h`, `5d`: how long ago, in its largest unit only.
fn format_age(seconds: f64) -> String {
    let total = seconds as u64;
    match total {
        0..60 => format!("{total}s"),
        60..3_600 => format!("{}m", total / 60),
        3_600..86_400 => format!("{}h", total / 3_600),
        _ => format!("{}d", total / 86_400),
    }
}

/// A command word as a shell would need it to be typed: plain when it is plain, in single
/// quotes otherwise, so `sh -c 'sleep 1'` reads as two words, not three.
fn quote_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::os::unix::net::UnixListener;
    use std::thread::JoinHandle;

    use super::*;

    fn target(name: Option<&str>, control: Option<&Path>, json: bool) -> Target {
        Target {
            name: name.map(str::to_owned),
            control: control.map(Path::to_path_buf),
            json,
        }
    }

    fn status() -> Status {
        Status {
            name: "web".to_owned(),
            version: "0.1.0".into(),
            state: "running".to_owned(),
            main_pid: Some(1234),
            guardian_pid: 1200,
            uptime_seconds: Some(125.7),
            command: vec![
                "/usr/sbin/nginx".to_owned(),
                "-c".to_owned(),
                "/etc/nginx/nginx.conf".to_owned(),
            ],
            restarts: 1,
            main_pid_changes: 2,
            last_exit: Some(LastExit {
                code: None,
                signal: Some("SIGSEGV".to_owned()),
                at: 1_000.0,
            }),
            cgroup: "/sys/fs/cgroup/unified/supervisor/web".to_owned(),
            cgroup_version: 2,
            pids: vec![1234, 1240, 1241],
            backoff_seconds: None,
        }
    }

    #[test]
    fn a_status_reads_as_one_block() {
        assert_eq!(
            format_status(&status(), 1_185.0),
            "web: running, main PID 1234, up 2m05s, 1 restart, 2 main PID changes\n\
             \x20 command: /usr/sbin/nginx -c /etc/nginx/nginx.conf\n\
             \x20 cgroup: /sys/fs/cgroup/unified/supervisor/web (v2), 3 processes\n\
             \x20 last exit: killed by SIGSEGV, 3m ago\n"
        );
    }

    #[test]
    fn a_backing_off_status_says_when_the_next_start_comes() {
        let backing_off = Status {
            state: "backing_off".to_owned(),
            main_pid: None,
            uptime_seconds: None,
            command: vec!["sh".to_owned(), "-c".to_owned(), "exit 1".to_owned()],
            restarts: 0,
            main_pid_changes: 1,
            last_exit: Some(LastExit {
                code: Some(1),
                signal: None,
                at: 1_000.0,
            }),
            pids: vec![],
            backoff_seconds: Some(3.2),
            ..status()
        };
        assert_eq!(
            format_status(&backing_off, 1_012.0),
            "web: backing off, 0 restarts, 1 main PID change\n\
             \x20 command: sh -c 'exit 1'\n\
             \x20 cgroup: /sys/fs/cgroup/unified/supervisor/web (v2), 0 processes\n\
             \x20 last exit: exited with code 1, 12s ago\n\
             \x20 backing off: next start in 4s\n"
        );
    }

    #[test]
    fn durations_show_two_units_and_ages_one() {
        let cases = [
            (0.0, "0s"),
            (59.9, "59s"),
            (125.0, "2m05s"),
            (3_720.0, "1h02m"),
        ];
        for (seconds, shown) in cases {
            assert_eq!(format_duration(seconds), shown, "{seconds}");
        }
        assert_eq!(format_duration(273_600.0), "3d04h");
        assert_eq!(format_duration(-5.0), "0s");
        assert_eq!(format_age(185.0), "3m");
        assert_eq!(format_age(7_300.0), "2h");
        assert_eq!(format_age(-1.0), "0s");
    }

    #[test]
    fn command_words_are_quoted_only_when_a_shell_would_need_it() {
        assert_eq!(quote_word("/usr/bin/env"), "/usr/bin/env");
        assert_eq!(quote_word("exit 1"), "'exit 1'");
        assert_eq!(quote_word("it's"), r"'it'\''s'");
        assert_eq!(quote_word(""), "''");
    }

    #[test]
    fn requests_are_one_shot_http_1_1_and_posts_say_their_empty_body() {
        let call = Call::from_command(ClientCommand::Status(target(None, None, false)));
        assert_eq!(
            call.map(|call| call.request_bytes()),
            Ok(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec())
        );
        let call = Call::from_command(ClientCommand::Stop(target(None, None, false)));
        assert_eq!(
            call.map(|call| call.request_bytes()),
            Ok(
                b"POST /stop HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
                    .to_vec()
            )
        );
    }

    #[test]
    fn every_request_is_understood_by_the_protocol_the_server_parses_with() {
        use crate::protocol::{Parsed, Request, parse_request};
        use nix::sys::signal::Signal;
        let t = || target(None, None, false);
        let cases = [
            (ClientCommand::Status(t()), Request::Status),
            (
                ClientCommand::Signal {
                    signal: "usr1".to_owned(),
                    target: t(),
                },
                Request::Signal(Signal::SIGUSR1),
            ),
            (ClientCommand::Stop(t()), Request::Stop),
            (ClientCommand::Start(t()), Request::Start),
            (ClientCommand::Restart(t()), Request::Restart),
            (ClientCommand::Upgrade(t()), Request::Upgrade),
            (ClientCommand::Reload(t()), Request::Reload),
            (ClientCommand::Exit(t()), Request::Exit),
        ];
        for (command, request) in cases {
            let bytes = Call::from_command(command).map(|call| call.request_bytes());
            let parsed = bytes.map(|bytes| parse_request(&bytes));
            assert_eq!(parsed, Ok(Parsed::Complete(Ok(request))), "{request:?}");
        }
    }

    #[test]
    fn the_protocol_s_answers_are_read_back_whole() {
        use crate::protocol::{RequestError, Response};
        let response = Response::error(&RequestError::BadSignal("FOO".to_owned()));
        let answer = parse_answer(&response.to_bytes(), false);
        assert_eq!(
            answer,
            Ok(Some(Answer {
                status: 400,
                body: response.body
            }))
        );
    }

    fn signal_path(signal: &str) -> Result<String, Failure> {
        Call::from_command(ClientCommand::Signal {
            signal: signal.to_owned(),
            target: target(None, None, false),
        })
        .map(|call| call.path)
    }

    #[test]
    fn a_signal_is_checked_here_and_sent_by_its_short_name() {
        assert_eq!(signal_path("hup"), Ok("/signal/HUP".to_owned()));
        assert_eq!(signal_path("SIGUSR2"), Ok("/signal/USR2".to_owned()));
        assert_eq!(signal_path("15"), Ok("/signal/TERM".to_owned()));
        let refused = signal_path("FOO").expect_err("FOO is no signal");
        assert_eq!(refused.code, EXIT_USAGE);
        assert!(
            refused
                .message
                .starts_with("error: invalid value 'FOO' for '<SIG>'")
        );
    }

    #[test]
    fn commands_that_wait_for_the_app_wait_longer_than_questions() {
        let timeout = |command| Call::from_command(command).map(|call| call.timeout);
        assert_eq!(
            timeout(ClientCommand::Upgrade(target(None, None, false))),
            Ok(SLOW_TIMEOUT)
        );
        assert_eq!(
            timeout(ClientCommand::Reload(target(None, None, false))),
            Ok(SLOW_TIMEOUT)
        );
        assert_eq!(
            timeout(ClientCommand::Restart(target(None, None, false))),
            Ok(SLOW_TIMEOUT)
        );
        assert_eq!(
            timeout(ClientCommand::Status(target(None, None, false))),
            Ok(TIMEOUT)
        );
    }

    #[test]
    fn an_answer_is_read_by_content_length_or_to_the_end() {
        let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let answer = Answer {
            status: 200,
            body: b"{}".to_vec(),
        };
        assert_eq!(parse_answer(whole, false), Ok(Some(answer)));
        assert_eq!(parse_answer(&whole[..whole.len() - 1], false), Ok(None));
        assert_eq!(parse_answer(&whole[..20], false), Ok(None));
        let unsized_body = b"HTTP/1.1 404 Not Found\r\n\r\n{\"x\":1}";
        assert_eq!(parse_answer(unsized_body, false), Ok(None));
        assert_eq!(
            parse_answer(unsized_body, true),
            Ok(Some(Answer {
                status: 404,
                body: b"{\"x\":1}".to_vec()
            }))
        );
        assert!(parse_answer(b"\x00\x01garbage\r\n\r\n", true).is_err());
    }

    /// A guardian stand-in: answers one connection on `path` with `answer`, and hands back
    /// the request's head.
    fn answer_once(path: &Path, answer: Vec<u8>) -> JoinHandle<String> {
        let listener = UnixListener::bind(path).expect("bind the test socket");
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = io::BufReader::new(&stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read the request");
                head.push_str(&line);
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            (&stream).write_all(&answer).expect("answer");
            head
        })
    }

    fn json_answer(status_line: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Runs `command` against `run_dir` and returns (exit code, stdout, stderr).
    fn run_captured(command: ClientCommand, run_dir: &Path) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_in(command, run_dir, &mut out, &mut err);
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8 output");
        (code, text(out), text(err))
    }

    #[test]
    fn status_over_a_real_socket_prints_the_block_and_exits_0() {
        let dir = tempfile::tempdir().expect("temp dir");
        let body = serde_json::to_string(&Status {
            last_exit: None,
            ..status()
        })
        .expect("status JSON");
        let server = answer_once(&dir.path().join("web.sock"), json_answer("200 OK", &body));
        let command = ClientCommand::Status(target(Some("web"), None, false));
        let (code, out, err) = run_captured(command, dir.path());
        let request = server.join().expect("server thread");
        assert_eq!((code, err.as_str()), (EXIT_OK, ""));
        assert!(request.starts_with("GET /status HTTP/1.1\r\n"), "{request}");
        assert_eq!(
            out,
            "web: running, main PID 1234, up 2m05s, 1 restart, 2 main PID changes\n\
             \x20 command: /usr/sbin/nginx -c /etc/nginx/nginx.conf\n\
             \x20 cgroup: /sys/fs/cgroup/unified/supervisor/web (v2), 3 processes\n"
        );
    }

    #[test]
    fn a_command_prints_the_message_then_the_status_and_json_prints_the_body() {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("control");
        let reply = CommandReply {
            ok: true,
            message: "sent SIGHUP to PID 1234".to_owned(),
            status: status(),
        };
        let body = serde_json::to_string(&reply).expect("reply JSON");

        let server = answer_once(&socket, json_answer("200 OK", &body));
        let command = ClientCommand::Signal {
            signal: "sighup".to_owned(),
            target: target(None, Some(&socket), false),
        };
        let (code, out, _) = run_captured(command, dir.path());
        let request = server.join().expect("server thread");
        assert_eq!(code, EXIT_OK);
        assert!(
            request.starts_with("POST /signal/HUP HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            out.starts_with("sent SIGHUP to PID 1234\nweb: running,"),
            "{out}"
        );

        std::fs::remove_file(&socket).expect("remove the first socket");
        let server = answer_once(&socket, json_answer("200 OK", &body));
        let command = ClientCommand::Stop(target(None, Some(&socket), true));
        let (code, out, _) = run_captured(command, dir.path());
        server.join().expect("server thread");
        assert_eq!((code, out), (EXIT_OK, format!("{body}\n")));
    }

    #[test]
    fn an_error_answer_is_printed_with_its_kind_and_exits_1() {
        let dir = tempfile::tempdir().expect("temp dir");
        let body = r#"{"error":{"kind":"not_found","message":"no such path: /x"}}"#;
        let server = answer_once(
            &dir.path().join("web.sock"),
            json_answer("404 Not Found", body),
        );
        let command = ClientCommand::Restart(target(Some("web"), None, false));
        let (code, out, err) = run_captured(command, dir.path());
        server.join().expect("server thread");
        assert_eq!(code, EXIT_REFUSED);
        assert_eq!(out, "");
        assert_eq!(err, "supervisor: web: no such path: /x (not_found)\n");
    }

    #[test]
    fn a_missing_socket_means_not_running_and_exits_3() {
        let dir = tempfile::tempdir().expect("temp dir");
        let command = ClientCommand::Stop(target(Some("web"), None, false));
        let (code, _, err) = run_captured(command, dir.path());
        assert_eq!(code, EXIT_NOT_RUNNING);
        let path = dir.path().join("web.sock");
        assert_eq!(
            err,
            format!(
                "supervisor: no guardian named web is running ({})\n",
                path.display()
            )
        );
    }

    #[test]
    fn a_socket_nobody_listens_on_means_not_running() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("web.sock");
        // A guardian that died leaves its socket file behind.
        drop(UnixListener::bind(&path).expect("bind"));
        let command = ClientCommand::Status(target(Some("web"), None, false));
        assert_eq!(run_captured(command, dir.path()).0, EXIT_NOT_RUNNING);
    }

    #[test]
    fn a_connection_closed_without_an_answer_means_not_running() {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = answer_once(&dir.path().join("web.sock"), Vec::new());
        let command = ClientCommand::Status(target(Some("web"), None, false));
        let (code, _, err) = run_captured(command, dir.path());
        server.join().expect("server thread");
        assert_eq!(code, EXIT_NOT_RUNNING, "{err}");
        assert!(err.contains("without an answer"), "{err}");
    }

    #[test]
    fn status_without_a_name_asks_every_guardian_in_name_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut servers = Vec::new();
        for name in ["web", "api"] {
            let body = serde_json::to_string(&Status {
                name: name.to_owned(),
                ..status()
            })
            .expect("status JSON");
            let path = dir.path().join(format!("{name}.sock"));
            servers.push(answer_once(&path, json_answer("200 OK", &body)));
        }
        // Not a socket, so not a guardian.
        std::fs::write(dir.path().join("old.sock"), "").expect("write a plain file");
        let command = ClientCommand::Status(target(None, None, true));
        let (code, out, err) = run_captured(command, dir.path());
        for server in servers {
            server.join().expect("server thread");
        }
        assert_eq!((code, err.as_str()), (EXIT_OK, ""));
        let names: Vec<String> = out
            .lines()
            .map(|line| {
                serde_json::from_str::<Status>(line)
                    .expect("one status per line")
                    .name
            })
            .collect();
        assert_eq!(names, ["api", "web"]);
    }

    #[test]
    fn without_a_name_no_socket_is_not_running_and_several_need_a_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (code, _, err) = run_captured(
            ClientCommand::Status(target(None, None, false)),
            &dir.path().join("absent"),
        );
        assert_eq!(
            (code, err.as_str()),
            (EXIT_NOT_RUNNING, "supervisor: no guardian is running\n")
        );

        let _listeners: Vec<UnixListener> = ["a", "b"]
            .iter()
            .map(|name| UnixListener::bind(dir.path().join(format!("{name}.sock"))).expect("bind"))
            .collect();
        let (code, _, err) =
            run_captured(ClientCommand::Stop(target(None, None, false)), dir.path());
        assert_eq!(code, EXIT_USAGE);
        assert_eq!(
            err,
            "supervisor: several guardians are running (a, b): name one\n"
        );
    }
}
