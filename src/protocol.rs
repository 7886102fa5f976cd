//! The control protocol on the wire (DESIGN.md section 8): HTTP/1.1 requests on the
//! control socket, JSON answers, Prometheus text for `/metrics`. Parsing and rendering
//! only: no socket, no guardian state. `control` maps requests to the guardian, `client`
//! is the other end.
//!
//! Every connection carries one request and one answer (`Connection: close`), so
//! `curl --unix-socket /run/supervisor/web.sock http://localhost/status` works.

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

/// The most a request's head (request line and headers) may hold.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most a request's body may hold. No request needs one; small ones are ignored.
pub const MAX_BODY: usize = 16 * 1024;
/// The most headers a request may have.
pub const MAX_HEADERS: usize = 32;

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
        todo!()
    }

    pub fn kind(&self) -> &'static str {
        todo!()
    }
}

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
    todo!("{buffer:?}")
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
    pub fn json(status: u16, value: &impl Serialize) -> Response {
        todo!("{status} {:p}", value)
    }

    /// `{"error": {"kind": ..., "message": ...}}` with the error's status.
    pub fn error(error: &RequestError) -> Response {
        todo!("{error:?}")
    }

    /// An error found after parsing (a refused command): `{"error": ...}`.
    pub fn refusal(status: u16, kind: &str, message: &str) -> Response {
        todo!("{status} {kind} {message}")
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn metrics(text: String) -> Response {
        todo!("{text}")
    }

    /// Status line, `Content-Type`, `Content-Length`, `Connection: close`, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        todo!()
    }
}

/// `GET /status`, and the `status` of every command's answer.
///
/// ```json
/// {"name":"web","state":"running","main_pid":1234,"guardian_pid":1200,
///  "uptime_seconds":12.5,"command":["/usr/sbin/nginx","-c","/etc/nginx/nginx.conf"],
///  "restarts":1,"main_pid_changes":2,
///  "last_exit":{"code":null,"signal":"SIGSEGV","at":1795400000.25},
///  "cgroup":"/sys/fs/cgroup/unified/supervisor/web","cgroup_version":2,
///  "pids":[1234,1240,1241],"backoff_seconds":null}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    /// `starting`, `running`, `clearing`, `backing_off`, `stopping`, `stopped`, `upgrading`,
    /// `exited`.
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

/// Renders [`Metrics`] in the Prometheus text format: `# HELP` and `# TYPE` for each
/// family (`supervisor_up`, `supervisor_restarts_total`, `supervisor_last_exit_code`,
/// `supervisor_start_time_seconds`, `supervisor_state{state="..."}`,
/// `supervisor_main_pid_changes_total`, `supervisor_memory_current_bytes`,
/// `supervisor_cpu_usage_seconds_total`, `supervisor_pids_current`), every sample
/// labelled `name="<name>"` (escaped as the format requires); absent figures left out.
pub fn render_metrics(metrics: &Metrics) -> String {
    todo!("{metrics:?}")
}
