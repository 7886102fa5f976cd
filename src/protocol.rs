//! The control protocol on the wire (DESIGN.md section 8): HTTP/1.1 requests on the
//! control socket, JSON answers, Prometheus text for `/metrics`. Parsing and rendering
//! only: no socket, no guardian state. `control` maps requests to the guardian, `client`
//! is the other end.
//!
//! Every connection carries one request and one answer (`Connection: close`), so
//! `curl --unix-socket /run/supervisor/web.sock http://localhost/status` works.

use std::fmt;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::instance_lock::RUN_DIR;

/// The most a request's head (request line and headers) may hold.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most a request's body may hold. No request needs one; small ones are ignored.
pub const MAX_BODY: usize = 16 * 1024;
/// The most headers a request may have.
pub const MAX_HEADERS: usize = 32;

/// `Content-Type` of every JSON answer.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `Content-Type` of `/metrics`: the Prometheus text exposition format, version 0.0.4.
pub const CONTENT_TYPE_METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A guardian's control socket when `--control` does not name one: `<name>.sock` in
/// `dir`, which is [`RUN_DIR`] (`/run/supervisor`) outside tests.
pub fn socket_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.sock"))
}

/// What a client asks, by method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /status`
    Status,
    /// `GET /metrics`
    Metrics,
    /// `POST /signal/<NAME or number>`: `/signal/HUP`, `/signal/SIGUSR1`, `/signal/10`
    Signal(Signal),
    /// `POST /stop`: stop the app, keep the guardian
    Stop,
    /// `POST /start`
    Start,
    /// `POST /restart`
    Restart,
    /// `POST /upgrade`: hand over to a new master (nginx, unicorn)
    Upgrade,
    /// `POST /reload`: reload in place and wait for the new workers (haproxy -W)
    Reload,
    /// `POST /exit`: stop the app and the guardian
    Exit,
    /// `POST /reexec`: the guardian executes its own binary again (keeping its PID and
    /// the app)
    Reexec,
}

/// Why a request is refused: an HTTP status and a JSON error `kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// 400 `malformed`: not HTTP/1.x, or a header httparse refuses.
    Malformed(String),
    /// 431 `too_large`: the head is longer than [`MAX_HEAD`] or has too many headers.
    HeadTooLarge,
    /// 413 `too_large`: Content-Length above [`MAX_BODY`], or a chunked body.
    BodyTooLarge,
    /// 404 `not_found`: no such path.
    NotFound(String),
    /// 405 `method_not_allowed`: the path exists with another method.
    MethodNotAllowed { allowed: &'static str },
    /// 400 `bad_signal`: `/signal/<x>` with no such signal.
    BadSignal(String),
}

impl RequestError {
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Malformed(_) | RequestError::BadSignal(_) => 400,
            RequestError::NotFound(_) => 404,
            RequestError::MethodNotAllowed { .. } => 405,
            RequestError::BodyTooLarge => 413,
            RequestError::HeadTooLarge => 431,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::Malformed(_) => "malformed",
            RequestError::HeadTooLarge | RequestError::BodyTooLarge => "too_large",
            RequestError::NotFound(_) => "not_found",
            RequestError::MethodNotAllowed { .. } => "method_not_allowed",
            RequestError::BadSignal(_) => "bad_signal",
        }
    }
}

/// The `message` of the JSON error: one lowercase line naming what was wrong.
impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::HeadTooLarge => write!(
                f,
                "request head too large: over {MAX_HEAD} bytes or {MAX_HEADERS} headers"
            ),
            RequestError::BodyTooLarge => write!(
                f,
                "request body too large: over {MAX_BODY} bytes, or chunked"
            ),
            RequestError::NotFound(path) => write!(f, "no such path: {path}"),
            RequestError::MethodNotAllowed { allowed } => {
                write!(f, "method not allowed here: use {allowed}")
            }
            RequestError::BadSignal(text) => write!(f, "no such signal: {text}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// The outcome of [`parse_request`] on what a connection has sent so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed (and none of the limits is exceeded yet).
    Incomplete,
    /// A whole request (head and Content-Length body), or why it is refused.
    Complete(Result<Request, RequestError>),
}

/// Parses one request with `httparse`. Limits apply as soon as they can be known: a head
/// over [`MAX_HEAD`] without its end is `HeadTooLarge` before it is complete.
pub fn parse_request(buffer: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    // Only the first MAX_HEAD bytes can hold a head we accept, so httparse sees no more:
    // what lies beyond must not decide the answer, or a head of the same bytes would get
    // 431 or 400 depending on how they were split into reads (found by fuzz/protocol).
    let head_len = match request.parse(&buffer[..buffer.len().min(MAX_HEAD)]) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) if buffer.len() > MAX_HEAD => {
            return Parsed::Complete(Err(RequestError::HeadTooLarge));
        }
        Ok(httparse::Status::Partial) => return Parsed::Incomplete,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Complete(Err(RequestError::HeadTooLarge));
        }
        Err(error) => return Parsed::Complete(Err(RequestError::Malformed(error.to_string()))),
    };
    let body_len = match body_length(request.headers) {
        Ok(length) => length,
        Err(error) => return Parsed::Complete(Err(error)),
    };
    if buffer.len() - head_len < body_len {
        return Parsed::Incomplete;
    }
    // httparse has filled both once the head is complete.
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Parsed::Complete(Err(RequestError::Malformed("no request line".to_owned())));
    };
    Parsed::Complete(route(method, target))
}

/// How many body bytes follow the head. A body is read only so that the connection can
/// be answered after it; nothing uses it, so no Transfer-Encoding is decoded (RFC 9112
/// section 6.1: its length is unknown without decoding it).
fn body_length(headers: &[httparse::Header<'_>]) -> Result<usize, RequestError> {
    let mut length = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::BodyTooLarge);
        }
        if !header.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let value = std::str::from_utf8(header.value)
            .ok()
            .map(str::trim)
            .filter(|value| !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()))
            .ok_or_else(|| RequestError::Malformed("invalid content-length".to_owned()))?;
        // Longer than any usize: certainly above the limit.
        let value = value.parse::<usize>().unwrap_or(usize::MAX);
        // Two different lengths are how requests get smuggled (RFC 9112 section 6.3).
        if length.is_some_and(|known| known != value) {
            return Err(RequestError::Malformed(
                "conflicting content-length headers".to_owned(),
            ));
        }
        length = Some(value);
    }
    match length {
        Some(length) if length > MAX_BODY => Err(RequestError::BodyTooLarge),
        length => Ok(length.unwrap_or(0)),
    }
}

/// Maps a method and a request target to a [`Request`]. The query string is ignored and
/// one trailing slash is tolerated (`/status/`), as people type them.
fn route(method: &str, target: &str) -> Result<Request, RequestError> {
    let path = target.split_once('?').map_or(target, |(path, _query)| path);
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    let (request, allowed) = match path {
        "/status" => (Request::Status, "GET"),
        "/metrics" => (Request::Metrics, "GET"),
        "/stop" => (Request::Stop, "POST"),
        "/start" => (Request::Start, "POST"),
        "/restart" => (Request::Restart, "POST"),
        "/upgrade" => (Request::Upgrade, "POST"),
        "/reload" => (Request::Reload, "POST"),
        "/exit" => (Request::Exit, "POST"),
        "/reexec" => (Request::Reexec, "POST"),
        _ => match path.strip_prefix("/signal/") {
            Some(name) if !name.is_empty() && !name.contains('/') => {
                if method != "POST" {
                    return Err(RequestError::MethodNotAllowed { allowed: "POST" });
                }
                let signal = crate::values::parse_signal(name)
                    .map_err(|_| RequestError::BadSignal(name.to_owned()))?;
                return Ok(Request::Signal(signal));
            }
            _ => return Err(RequestError::NotFound(path.to_owned())),
        },
    };
    if method == allowed {
        Ok(request)
    } else {
        Err(RequestError::MethodNotAllowed { allowed })
    }
}

/// An answer, ready for the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    /// `200`-ish JSON answer.
    /// A value that cannot be serialized (a map with non-string keys; nothing in this
    /// module) becomes a 500 `internal` error rather than a panic.
    pub fn json(status: u16, value: &impl Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: CONTENT_TYPE_JSON,
                body,
            },
            Err(error) => Response::refusal(
                500,
                "internal",
                &format!("failed to serialize the answer: {error}"),
            ),
        }
    }

    /// `{"error": {"kind": ..., "message": ...}}` with the error's status.
    pub fn error(error: &RequestError) -> Response {
        Response::refusal(error.status(), error.kind(), &error.to_string())
    }

    /// An error found after parsing (a refused command): `{"error": ...}`.
    pub fn refusal(status: u16, kind: &str, message: &str) -> Response {
        let reply = ErrorReply {
            error: ErrorDetail {
                kind: kind.to_owned(),
                message: message.to_owned(),
            },
        };
        // Two strings always serialize; the fallback only keeps this free of panics.
        let body = serde_json::to_vec(&reply).unwrap_or_else(|_| {
            br#"{"error":{"kind":"internal","message":"failed to serialize an error"}}"#.to_vec()
        });
        Response {
            status,
            content_type: CONTENT_TYPE_JSON,
            body,
        }
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn metrics(text: String) -> Response {
        Response {
            status: 200,
            content_type: CONTENT_TYPE_METRICS,
            body: text.into_bytes(),
        }
    }

    /// Status line, `Content-Type`, `Content-Length`, `Connection: close`, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The reason phrases of RFC 9110 section 15 for the statuses this protocol uses; an
/// empty one is allowed for any other (RFC 9112 section 4).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// `GET /status`, and the `status` of every command's answer.
///
/// ```json
/// {"name":"web","version":"0.1.0","state":"running","main_pid":1234,"guardian_pid":1200,
///  "uptime_seconds":12.5,"command":["/usr/sbin/nginx","-c","/etc/nginx/nginx.conf"],
///  "restarts":1,"main_pid_changes":2,
///  "last_exit":{"code":null,"signal":"SIGSEGV","at":1795400000.25},
///  "cgroup":"/sys/fs/cgroup/unified/supervisor/web","cgroup_version":2,
///  "pids":[1234,1240,1241],"backoff_seconds":null}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    /// The running guardian's version (after a `reexec`, the new binary's).
    pub version: String,
    /// `starting`, `running`, `clearing`, `backing_off`, `stopping`, `stopped`, `upgrading`,
    /// `reloading`, `exited`.
    pub state: String,
    pub main_pid: Option<i32>,
    pub guardian_pid: i32,
    /// How long the current run has lasted (handovers included).
    pub uptime_seconds: Option<f64>,
    pub command: Vec<String>,
    /// Starts after the first.
    pub restarts: u64,
    /// Handovers: the main PID changed without a restart.
    pub main_pid_changes: u64,
    pub last_exit: Option<LastExit>,
    pub cgroup: String,
    pub cgroup_version: u8,
    /// Every process in the app's cgroup.
    pub pids: Vec<i32>,
    /// While backing off: the delay before the next start, in seconds.
    pub backoff_seconds: Option<f64>,
}

/// How the last run ended: `code` or `signal`, and when (seconds since the epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastExit {
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub at: f64,
}

/// The answer to a command (`/signal`, `/stop`, ...): what happened, and the status after.
///
/// ```json
/// {"ok":true,"message":"sent SIGHUP to PID 1234","status":{...}}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandReply {
    pub ok: bool,
    pub message: String,
    pub status: Status,
}

/// Every error answer: `{"error":{"kind":"not_found","message":"no such path: /x"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub kind: String,
    pub message: String,
}

/// The figures of `GET /metrics`; the cgroup's are `None` where the kernel has no file.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    pub name: String,
    pub up: bool,
    pub state: String,
    pub restarts: u64,
    pub main_pid: Option<i32>,
    pub main_pid_changes: u64,
    /// The last exit's code, or 128 + signal.
    pub last_exit_code: Option<i32>,
    /// When the current run started, in seconds since the epoch.
    pub start_time_seconds: Option<f64>,
    pub memory_current_bytes: Option<u64>,
    pub cpu_usage_seconds: Option<f64>,
    pub pids_current: Option<u64>,
}

/// The states [`Status::state`] and [`Metrics::state`] name. `supervisor_state` has one
/// sample for each, so a query sees a state at 0 rather than no series at all.
pub const STATES: [&str; 9] = [
    "starting",
    "running",
    "clearing",
    "backing_off",
    "stopping",
    "stopped",
    "upgrading",
    "reloading",
    "exited",
];

/// Renders [`Metrics`] in the Prometheus text format: `# HELP` and `# TYPE` for each
/// family (`supervisor_up`, `supervisor_state{state="..."}`, `supervisor_main_pid`,
/// `supervisor_restarts_total`, `supervisor_main_pid_changes_total`,
/// `supervisor_last_exit_code`, `supervisor_start_time_seconds`,
/// `supervisor_memory_current_bytes`, `supervisor_cpu_usage_seconds_total`,
/// `supervisor_pids_current`), every sample labelled `name="<name>"` (escaped as the
/// format requires); absent figures left out, family and all.
///
/// ```text
/// # HELP supervisor_up Whether the app is running (1) or not (0).
/// # TYPE supervisor_up gauge
/// supervisor_up{name="web"} 1
/// ```
pub fn render_metrics(metrics: &Metrics) -> String {
    let name = escape_label_value(&metrics.name);
    let mut text = String::new();
    // Each sample is (the labels after `name`, the value).
    let mut family = |family: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "# HELP {family} {help}");
        let _ = writeln!(text, "# TYPE {family} {kind}");
        for (extra_labels, value) in samples {
            let _ = writeln!(text, "{family}{{name=\"{name}\"{extra_labels}}} {value}");
        }
    };
    let single = |value: String| vec![(String::new(), value)];

    family(
        "supervisor_up",
        "gauge",
        "Whether the app is running (1) or not (0).",
        single(u8::from(metrics.up).to_string()),
    );
    // The usual enum-as-labels pattern; a state this list does not know yet still shows.
    let unknown = (!STATES.contains(&metrics.state.as_str())).then_some(metrics.state.as_str());
    let states = STATES
        .into_iter()
        .chain(unknown)
        .map(|state| {
            let labels = format!(",state=\"{}\"", escape_label_value(state));
            (labels, u8::from(state == metrics.state).to_string())
        })
        .collect();
    family(
        "supervisor_state",
        "gauge",
        "The guardian's state: 1 for the current one, 0 for the others.",
        states,
    );
    if let Some(pid) = metrics.main_pid {
        family(
            "supervisor_main_pid",
            "gauge",
            "The PID of the app's main process.",
            single(pid.to_string()),
        );
    }
    family(
        "supervisor_restarts_total",
        "counter",
        "Starts of the app after the first.",
        single(metrics.restarts.to_string()),
    );
    family(
        "supervisor_main_pid_changes_total",
        "counter",
        "Handovers: the main PID changed without a restart.",
        single(metrics.main_pid_changes.to_string()),
    );
    if let Some(code) = metrics.last_exit_code {
        family(
            "supervisor_last_exit_code",
            "gauge",
            "How the last run ended: its exit code, or 128 plus the signal that killed it.",
            single(code.to_string()),
        );
    }
    if let Some(seconds) = metrics.start_time_seconds {
        family(
            "supervisor_start_time_seconds",
            "gauge",
            "When the current run started, in seconds since the epoch.",
            single(format_sample_value(seconds)),
        );
    }
    if let Some(bytes) = metrics.memory_current_bytes {
        family(
            "supervisor_memory_current_bytes",
            "gauge",
            "Memory used by the app's cgroup, in bytes.",
            single(bytes.to_string()),
        );
    }
    if let Some(seconds) = metrics.cpu_usage_seconds {
        family(
            "supervisor_cpu_usage_seconds_total",
            "counter",
            "CPU time used by the app's cgroup, in seconds.",
            single(format_sample_value(seconds)),
        );
    }
    if let Some(count) = metrics.pids_current {
        family(
            "supervisor_pids_current",
            "gauge",
            "Processes in the app's cgroup.",
            single(count.to_string()),
        );
    }
    text
}

/// A label value as the text format wants it: backslash, double quote and line feed
/// escaped, nothing else.
fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A float as Prometheus parses it (Go's `strconv.ParseFloat`): Rust's shortest
/// round-trip decimal, except for the special values, which the format spells
/// `NaN`, `+Inf` and `-Inf`.
fn format_sample_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Parsed {
        parse_request(text.as_bytes())
    }

    fn get(path: &str) -> Parsed {
        parse(&format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
    }

    fn post(path: &str) -> Parsed {
        parse(&format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    fn refused(error: RequestError) -> Parsed {
        Parsed::Complete(Err(error))
    }

    #[test]
    fn every_route_maps_to_its_request() {
        assert_eq!(get("/status"), Parsed::Complete(Ok(Request::Status)));
        assert_eq!(get("/metrics"), Parsed::Complete(Ok(Request::Metrics)));
        for (path, request) in [
            ("/stop", Request::Stop),
            ("/start", Request::Start),
            ("/restart", Request::Restart),
            ("/upgrade", Request::Upgrade),
            ("/reload", Request::Reload),
            ("/exit", Request::Exit),
            ("/reexec", Request::Reexec),
        ] {
            assert_eq!(post(path), Parsed::Complete(Ok(request)), "{path}");
        }
    }

    #[test]
    fn signals_are_taken_by_name_with_or_without_sig_or_by_number() {
        for path in ["/signal/HUP", "/signal/SIGHUP", "/signal/hup", "/signal/1"] {
            assert_eq!(
                post(path),
                Parsed::Complete(Ok(Request::Signal(Signal::SIGHUP))),
                "{path}"
            );
        }
    }

    #[test]
    fn a_query_string_and_one_trailing_slash_are_tolerated() {
        assert_eq!(get("/status/"), Parsed::Complete(Ok(Request::Status)));
        assert_eq!(
            get("/status?pretty=1"),
            Parsed::Complete(Ok(Request::Status))
        );
        assert_eq!(
            post("/signal/USR2/"),
            Parsed::Complete(Ok(Request::Signal(Signal::SIGUSR2)))
        );
    }

    #[test]
    fn http_1_0_is_accepted() {
        assert_eq!(
            parse("GET /status HTTP/1.0\r\n\r\n"),
            Parsed::Complete(Ok(Request::Status))
        );
    }

    #[test]
    fn a_known_path_with_the_wrong_method_names_the_right_one() {
        assert_eq!(
            post("/status"),
            refused(RequestError::MethodNotAllowed { allowed: "GET" })
        );
        assert_eq!(
            get("/stop"),
            refused(RequestError::MethodNotAllowed { allowed: "POST" })
        );
        assert_eq!(
            get("/signal/HUP"),
            refused(RequestError::MethodNotAllowed { allowed: "POST" })
        );
        assert_eq!(
            parse("DELETE /metrics HTTP/1.1\r\n\r\n"),
            refused(RequestError::MethodNotAllowed { allowed: "GET" })
        );
    }

    #[test]
    fn an_unknown_path_is_not_found_and_named() {
        for path in [
            "/",
            "/nope",
            "/signal",
            "/signal/",
            "/signal/HUP/x",
            "/statusx",
        ] {
            let expected = path
                .strip_suffix('/')
                .filter(|trimmed| !trimmed.is_empty())
                .unwrap_or(path);
            assert_eq!(
                post(path),
                refused(RequestError::NotFound(expected.to_owned())),
                "{path}"
            );
        }
    }

    #[test]
    fn an_unknown_signal_is_a_bad_signal_naming_it() {
        assert_eq!(
            post("/signal/FOO"),
            refused(RequestError::BadSignal("FOO".to_owned()))
        );
        assert_eq!(
            post("/signal/65"),
            refused(RequestError::BadSignal("65".to_owned()))
        );
    }

    #[test]
    fn a_head_split_across_reads_is_incomplete_then_complete() {
        let whole = "GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n";
        for split in 1..whole.len() {
            assert_eq!(parse(&whole[..split]), Parsed::Incomplete, "{split}");
        }
        assert_eq!(parse(whole), Parsed::Complete(Ok(Request::Status)));
    }

    #[test]
    fn a_head_just_over_the_limit_is_too_large_complete_or_not() {
        let start = "GET /status HTTP/1.1\r\nX-Filler: ";
        let end = "\r\n\r\n";
        let filler = "a".repeat(MAX_HEAD + 1 - start.len() - end.len());
        let head = format!("{start}{filler}{end}");
        assert_eq!(head.len(), MAX_HEAD + 1);
        assert_eq!(parse(&head), refused(RequestError::HeadTooLarge));
        // Without its end: refused as soon as the limit is passed, not only at the end.
        let unfinished = format!("{start}{}", "a".repeat(MAX_HEAD + 1 - start.len()));
        assert_eq!(parse(&unfinished[..MAX_HEAD]), Parsed::Incomplete);
        assert_eq!(parse(&unfinished), refused(RequestError::HeadTooLarge));
        // The negative control: one byte less is within the limit.
        let at_limit = format!("{start}{}{end}", &filler[1..]);
        assert_eq!(at_limit.len(), MAX_HEAD);
        assert_eq!(parse(&at_limit), Parsed::Complete(Ok(Request::Status)));
    }

    #[test]
    fn too_many_headers_is_too_large() {
        let header_lines =
            |count: usize| -> String { (0..count).map(|n| format!("X-{n}: y\r\n")).collect() };
        let request = |count| format!("GET /status HTTP/1.1\r\n{}\r\n", header_lines(count));
        assert_eq!(
            parse(&request(MAX_HEADERS + 1)),
            refused(RequestError::HeadTooLarge)
        );
        assert_eq!(
            parse(&request(MAX_HEADERS)),
            Parsed::Complete(Ok(Request::Status))
        );
    }

    #[test]
    fn a_chunked_body_is_refused_as_too_large() {
        assert_eq!(
            parse("POST /stop HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            refused(RequestError::BodyTooLarge)
        );
    }

    #[test]
    fn a_content_length_over_the_limit_is_refused_before_the_body_arrives() {
        let request =
            |length: usize| format!("POST /stop HTTP/1.1\r\nContent-Length: {length}\r\n\r\n");
        assert_eq!(
            parse(&request(MAX_BODY + 1)),
            refused(RequestError::BodyTooLarge)
        );
        assert_eq!(
            parse("POST /stop HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            refused(RequestError::BodyTooLarge)
        );
        assert_eq!(parse(&request(MAX_BODY)), Parsed::Incomplete);
    }

    #[test]
    fn an_unreadable_or_conflicting_content_length_is_malformed() {
        for value in ["ten", "-1", "+5", "", "1 2"] {
            let request = format!("POST /stop HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
            assert!(
                matches!(
                    parse(&request),
                    Parsed::Complete(Err(RequestError::Malformed(_)))
                ),
                "{value:?}"
            );
        }
        assert!(matches!(
            parse("POST /stop HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
            Parsed::Complete(Err(RequestError::Malformed(_)))
        ));
    }

    #[test]
    fn a_body_is_waited_for_until_content_length_bytes_are_there() {
        let head = "POST /stop HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse(head), Parsed::Incomplete);
        assert_eq!(parse(&format!("{head}{{}}\n")), Parsed::Incomplete);
        assert_eq!(
            parse(&format!("{head}{{ }}\n\n")),
            Parsed::Complete(Ok(Request::Stop))
        );
    }

    #[test]
    fn garbage_bytes_are_malformed() {
        assert!(matches!(
            parse_request(b"\x00\x01\x02\x03\xff\r\n\r\n"),
            Parsed::Complete(Err(RequestError::Malformed(_)))
        ));
    }

    #[test]
    fn an_http2_preface_is_malformed() {
        assert!(matches!(
            parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Parsed::Complete(Err(RequestError::Malformed(_)))
        ));
    }

    #[test]
    fn every_error_has_its_status_and_kind() {
        let cases = [
            (RequestError::Malformed("x".to_owned()), 400, "malformed"),
            (RequestError::HeadTooLarge, 431, "too_large"),
            (RequestError::BodyTooLarge, 413, "too_large"),
            (RequestError::NotFound("/x".to_owned()), 404, "not_found"),
            (
                RequestError::MethodNotAllowed { allowed: "GET" },
                405,
                "method_not_allowed",
            ),
            (RequestError::BadSignal("FOO".to_owned()), 400, "bad_signal"),
        ];
        for (error, status, kind) in cases {
            assert_eq!((error.status(), error.kind()), (status, kind), "{error:?}");
        }
    }

    #[test]
    fn an_error_answer_is_json_naming_what_was_wrong() {
        let response = Response::error(&RequestError::NotFound("/nope".to_owned()));
        assert_eq!(response.status, 404);
        assert_eq!(response.content_type, CONTENT_TYPE_JSON);
        let reply: ErrorReply = serde_json::from_slice(&response.body).expect("error JSON");
        assert_eq!(reply.error.kind, "not_found");
        assert_eq!(reply.error.message, "no such path: /nope");

        let response = Response::error(&RequestError::BadSignal("FOO".to_owned()));
        let reply: ErrorReply = serde_json::from_slice(&response.body).expect("error JSON");
        assert_eq!(reply.error.message, "no such signal: FOO");
    }

    /// Parses `bytes` as a client would: status, reason, headers by lowercase name, body.
    fn parse_response(bytes: &[u8]) -> (u16, String, Vec<(String, String)>, Vec<u8>) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head_len) = response.parse(bytes).expect("valid HTTP")
        else {
            panic!("incomplete response: {:?}", String::from_utf8_lossy(bytes));
        };
        let headers = response
            .headers
            .iter()
            .map(|header| {
                let value = String::from_utf8(header.value.to_vec()).expect("UTF-8 header");
                (header.name.to_ascii_lowercase(), value)
            })
            .collect();
        (
            response.code.expect("status"),
            response.reason.expect("reason").to_owned(),
            headers,
            bytes[head_len..].to_vec(),
        )
    }

    #[test]
    fn to_bytes_round_trips_through_httparse() {
        let reply = ErrorReply {
            error: ErrorDetail {
                kind: "conflict".to_owned(),
                message: "already stopped".to_owned(),
            },
        };
        let response = Response::json(409, &reply);
        let (status, reason, headers, body) = parse_response(&response.to_bytes());
        assert_eq!((status, reason.as_str()), (409, "Conflict"));
        let header = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(header("content-type"), Some(CONTENT_TYPE_JSON));
        assert_eq!(
            header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(header("connection"), Some("close"));
        assert_eq!(
            serde_json::from_slice::<ErrorReply>(&body).ok(),
            Some(reply)
        );

        let response = Response::metrics("supervisor_up{name=\"web\"} 1\n".to_owned());
        let (status, reason, headers, body) = parse_response(&response.to_bytes());
        assert_eq!((status, reason.as_str()), (200, "OK"));
        assert!(headers.contains(&("content-type".to_owned(), CONTENT_TYPE_METRICS.to_owned())));
        assert_eq!(body, response.body);
    }

    #[test]
    fn every_status_in_use_has_its_reason_phrase() {
        for status in [200, 202, 400, 404, 405, 409, 413, 431, 500, 503] {
            let (_, reason, _, _) = parse_response(&Response::refusal(status, "k", "m").to_bytes());
            assert!(!reason.is_empty(), "{status}");
        }
    }

    fn sample_metrics() -> Metrics {
        Metrics {
            name: "web".to_owned(),
            up: true,
            state: "running".to_owned(),
            restarts: 3,
            main_pid: Some(1234),
            main_pid_changes: 2,
            last_exit_code: Some(139),
            start_time_seconds: Some(1_795_400_000.25),
            memory_current_bytes: Some(10_485_760),
            cpu_usage_seconds: Some(12.5),
            pids_current: Some(3),
        }
    }

    /// One sample line: metric name, labels in order, value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// A small checker of the text format 0.0.4, strict where Prometheus is: every
    /// family has `# HELP` then `# TYPE` before its samples and appears once, counters
    /// end in `_total`, every sample is `name{labels} value` with a value Go parses.
    fn check_exposition(text: &str) -> Vec<Sample> {
        assert!(text.ends_with('\n'), "the text must end with a line feed");
        let mut seen_families = Vec::new();
        let mut current: Option<(String, Option<String>)> = None;
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (family, help) = rest.split_once(' ').expect("HELP has a text");
                assert!(!help.is_empty(), "{line}");
                assert!(
                    !seen_families.contains(&family.to_owned()),
                    "{family} twice"
                );
                seen_families.push(family.to_owned());
                current = Some((family.to_owned(), None));
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (family, kind) = rest.split_once(' ').expect("TYPE has a type");
                let Some((current_family, current_kind)) = current.as_mut() else {
                    panic!("TYPE before HELP: {line}");
                };
                assert_eq!(family, current_family, "{line}");
                assert!(current_kind.is_none(), "two TYPE lines: {line}");
                assert!(["gauge", "counter"].contains(&kind), "{line}");
                assert_eq!(kind == "counter", family.ends_with("_total"), "{line}");
                *current_kind = Some(kind.to_owned());
            } else {
                assert!(!line.starts_with('#'), "unknown comment: {line}");
                let (name, labels, value) = parse_sample(line);
                let Some((family, Some(_))) = &current else {
                    panic!("sample before HELP and TYPE: {line}");
                };
                assert_eq!(&name, family, "{line}");
                samples.push((name, labels, value));
            }
        }
        samples
    }

    fn parse_sample(line: &str) -> (String, Vec<(String, String)>, f64) {
        let (name, rest) = line.split_once('{').expect("labels");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let mut labels = Vec::new();
        let mut chars = rest.chars();
        loop {
            let label: String = chars.by_ref().take_while(|&c| c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect("closing quote") {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line}"),
                    },
                    '\n' => panic!("raw line feed in {line}"),
                    other => value.push(other),
                }
            }
            labels.push((label, value));
            match chars.next() {
                Some(',') => continue,
                Some('}') => break,
                other => panic!("unexpected {other:?} in {line}"),
            }
        }
        let value: String = chars.collect();
        let value = value.strip_prefix(' ').expect("space before the value");
        let number = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            _ => value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        (name.to_owned(), labels, number)
    }

    fn value_of(samples: &[Sample], name: &str) -> Option<f64> {
        samples
            .iter()
            .find(|(sample, _, _)| sample == name)
            .map(|(_, _, value)| *value)
    }

    #[test]
    fn metrics_render_as_valid_prometheus_text() {
        let samples = check_exposition(&render_metrics(&sample_metrics()));
        assert_eq!(value_of(&samples, "supervisor_up"), Some(1.0));
        assert_eq!(value_of(&samples, "supervisor_restarts_total"), Some(3.0));
        assert_eq!(value_of(&samples, "supervisor_main_pid"), Some(1234.0));
        assert_eq!(
            value_of(&samples, "supervisor_main_pid_changes_total"),
            Some(2.0)
        );
        assert_eq!(value_of(&samples, "supervisor_last_exit_code"), Some(139.0));
        assert_eq!(
            value_of(&samples, "supervisor_start_time_seconds"),
            Some(1_795_400_000.25)
        );
        assert_eq!(
            value_of(&samples, "supervisor_memory_current_bytes"),
            Some(10_485_760.0)
        );
        assert_eq!(
            value_of(&samples, "supervisor_cpu_usage_seconds_total"),
            Some(12.5)
        );
        assert_eq!(value_of(&samples, "supervisor_pids_current"), Some(3.0));
        for (_, labels, _) in &samples {
            assert_eq!(labels[0], ("name".to_owned(), "web".to_owned()));
        }
    }

    #[test]
    fn the_state_is_one_sample_per_known_state_with_one_set() {
        let samples = check_exposition(&render_metrics(&sample_metrics()));
        let states: Vec<(&str, f64)> = samples
            .iter()
            .filter(|(name, _, _)| name == "supervisor_state")
            .map(|(_, labels, value)| {
                assert_eq!(labels[1].0, "state");
                (labels[1].1.as_str(), *value)
            })
            .collect();
        let expected: Vec<(&str, f64)> = STATES
            .iter()
            .map(|state| (*state, if *state == "running" { 1.0 } else { 0.0 }))
            .collect();
        assert_eq!(states, expected);
    }

    #[test]
    fn absent_figures_are_left_out_family_and_all() {
        let metrics = Metrics {
            up: false,
            state: "stopped".to_owned(),
            main_pid: None,
            last_exit_code: None,
            start_time_seconds: None,
            memory_current_bytes: None,
            cpu_usage_seconds: None,
            pids_current: None,
            ..sample_metrics()
        };
        let text = render_metrics(&metrics);
        let samples = check_exposition(&text);
        for absent in [
            "supervisor_main_pid",
            "supervisor_last_exit_code",
            "supervisor_start_time_seconds",
            "supervisor_memory_current_bytes",
            "supervisor_cpu_usage_seconds_total",
            "supervisor_pids_current",
        ] {
            assert!(!text.contains(&format!(" {absent} ")), "{absent}");
            assert_eq!(value_of(&samples, absent), None, "{absent}");
        }
        assert_eq!(value_of(&samples, "supervisor_up"), Some(0.0));
    }

    #[test]
    fn label_values_are_escaped_and_read_back_unchanged() {
        let name = "we\"b\\1\nx";
        let metrics = Metrics {
            name: name.to_owned(),
            ..sample_metrics()
        };
        let text = render_metrics(&metrics);
        assert!(text.contains(r#"name="we\"b\\1\nx""#), "{text}");
        for (_, labels, _) in check_exposition(&text) {
            assert_eq!(labels[0].1, name);
        }
    }

    #[test]
    fn special_floats_are_spelled_as_prometheus_reads_them() {
        assert_eq!(format_sample_value(f64::NAN), "NaN");
        assert_eq!(format_sample_value(f64::INFINITY), "+Inf");
        assert_eq!(format_sample_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_sample_value(0.1), "0.1");
        assert_eq!(format_sample_value(1e21), "1000000000000000000000");
    }

    #[test]
    fn an_unknown_state_still_shows_as_set() {
        let metrics = Metrics {
            state: "thinking".to_owned(),
            ..sample_metrics()
        };
        let samples = check_exposition(&render_metrics(&metrics));
        let set: Vec<&str> = samples
            .iter()
            .filter(|(name, _, value)| name == "supervisor_state" && *value == 1.0)
            .map(|(_, labels, _)| labels[1].1.as_str())
            .collect();
        assert_eq!(set, ["thinking"]);
    }

    #[test]
    fn the_default_socket_is_named_after_the_guardian() {
        assert_eq!(
            socket_path(Path::new(crate::instance_lock::RUN_DIR), "web"),
            PathBuf::from("/run/supervisor/web.sock")
        );
    }
}
