//! The control socket's server side (DESIGN.md section 8): the listening unix socket and
//! its connections, served by the guardian's own poll loop, without threads.
//!
//! It owns bytes and file descriptors: accepting, checking who connects (SO_PEERCRED),
//! reading until `protocol` sees a whole request, writing answers without blocking, and
//! closing what is done, too slow or too many. What a request means is the event loop's.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, chown};

use crate::protocol::{MAX_BODY, MAX_HEAD, Parsed, Request, Response, parse_request};
use crate::state;

/// More connections than this at once are refused: a guardian must not run out of file
/// descriptors because clients connect and wait.
const MAX_CONNECTIONS: usize = 64;
/// A client has this long to send its request, and to take its answer.
const IDLE_LIMIT: Duration = Duration::from_secs(10);

/// A connection, as the loop names it when it answers later.
pub type ConnectionId = u64;

pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    group: Option<Gid>,
    connections: Vec<Connection>,
    next_id: ConnectionId,
}

struct Connection {
    id: ConnectionId,
    stream: UnixStream,
    received: Vec<u8>,
    /// The answer, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
    /// The outcome this connection waits for (a stop, an upgrade): no idle limit then.
    awaiting: Option<state::Request>,
    /// The peer may not use the socket: its request is read, then refused. Answering
    /// before the request is read would close a socket with unread data, which resets
    /// the connection and can destroy the answer on its way.
    forbidden: bool,
    deadline: Instant,
}

/// Readiness of the socket's descriptors, in the order of [`ControlSocket::poll_fds`].
pub type Readiness = [bool];

impl ControlSocket {
    /// Binds `path` (mode 0600, or 0660 with group `group`). A socket file nobody answers
    /// on is a dead guardian's and is replaced; one that answers belongs to a live
    /// guardian, and anything else at that path is not ours to remove.
    pub fn bind(path: &Path, group: Option<Gid>) -> Result<ControlSocket> {
        if let Ok(metadata) = std::fs::symlink_metadata(path) {
            if !metadata.file_type().is_socket() {
                bail!("{} exists and is not a socket", path.display());
            }
            if UnixStream::connect(path).is_ok() {
                bail!(
                    "another guardian answers on {} (choose another --name or --control)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("failed to remove the stale socket {}", path.display()))?;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        // Nobody but root may connect between bind(2) and the chmod below.
        let previous = umask(Mode::from_bits_truncate(0o177));
        let listener = UnixListener::bind(path);
        umask(previous);
        let listener = listener
            .with_context(|| format!("failed to bind the control socket {}", path.display()))?;
        if let Some(gid) = group {
            chown(path, Some(Uid::from_raw(0)), Some(gid))
                .with_context(|| format!("failed to chown {}", path.display()))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .with_context(|| format!("failed to chmod {}", path.display()))?;
        }
        listener
            .set_nonblocking(true)
            .context("failed to make the control socket non-blocking")?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
            group,
            connections: Vec::new(),
            next_id: 0,
        })
    }

    /// What to poll: the listener for new clients, each connection for its request or
    /// for room to write its answer. Connections waiting for an outcome are not polled.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, bool)> {
        let mut fds = vec![(self.listener.as_fd(), false)];
        for connection in &self.connections {
            if connection.answer.is_some() {
                fds.push((connection.stream.as_fd(), true));
            } else if connection.awaiting.is_none() {
                fds.push((connection.stream.as_fd(), false));
            }
        }
        fds
    }

    /// No client is connected: no request is being read, answered or waited on.
    pub fn has_no_clients(&self) -> bool {
        self.connections.is_empty()
    }

    /// The earliest moment a connection times out.
    pub fn deadline(&self) -> Option<Instant> {
        self.connections
            .iter()
            .filter(|connection| connection.awaiting.is_none())
            .map(|connection| connection.deadline)
            .min()
    }

    /// Serves what poll(2) reported (`ready`, in the order of the last `poll_fds`), and
    /// returns the complete requests: the loop answers them with [`ControlSocket::answer`]
    /// or [`ControlSocket::wait_for`]. Closes connections that are done, broken or late.
    pub fn serve(&mut self, ready: &Readiness, now: Instant) -> Vec<(ConnectionId, Request)> {
        let mut requests = Vec::new();
        let polled: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|c| c.answer.is_some() || c.awaiting.is_none())
            .map(|c| c.id)
            .collect();
        for (id, ready) in polled.iter().zip(ready.iter().skip(1)) {
            if !ready {
                continue;
            }
            if let Some(connection) = self.connections.iter_mut().find(|c| c.id == *id) {
                if connection.answer.is_some() {
                    connection.write_some();
                } else if let Some(request) = connection.read_some(now) {
                    if connection.forbidden {
                        connection.start_answer(&Response::refusal(
                            403,
                            "forbidden",
                            "only root and members of the control group may use this socket",
                        ));
                    } else {
                        requests.push((connection.id, request));
                    }
                }
            }
        }
        if ready.first().copied().unwrap_or(false) {
            self.accept_all(now);
        }
        self.connections.retain(|c| !c.finished(now));
        requests
    }

    fn accept_all(&mut self, now: Instant) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                // WouldBlock: no one else waits; other errors (EMFILE, ECONNABORTED) are
                // the client's loss, never the guardian's: the next poll tries again.
                Err(_) => return,
            };
            if self.connections.len() >= MAX_CONNECTIONS || stream.set_nonblocking(true).is_err() {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let forbidden = !self.allowed(&stream);
            self.connections.push(Connection {
                id,
                stream,
                received: Vec::new(),
                answer: None,
                awaiting: None,
                forbidden,
                deadline: now + IDLE_LIMIT,
            });
        }
    }

    /// Root, or a member of `--control-group` (by primary or supplementary group).
    fn allowed(&self, stream: &UnixStream) -> bool {
        let Ok(peer) = getsockopt(stream, PeerCredentials) else {
            return false;
        };
        if peer.uid() == 0 {
            return true;
        }
        let Some(group) = self.group else {
            return false;
        };
        peer.gid() == group.as_raw() || supplementary_groups(peer.pid()).contains(&group.as_raw())
    }

    /// Starts writing `response` on connection `id`.
    pub fn answer(&mut self, id: ConnectionId, response: &Response) {
        if let Some(connection) = self.connections.iter_mut().find(|c| c.id == id) {
            connection.awaiting = None;
            connection.start_answer(response);
        }
    }

    /// Connection `id` waits for the outcome of `request` ([`ControlSocket::answer_all`]).
    pub fn wait_for(&mut self, id: ConnectionId, request: state::Request) {
        if let Some(connection) = self.connections.iter_mut().find(|c| c.id == id) {
            connection.awaiting = Some(request);
        }
    }

    /// Answers every connection waiting for `request`.
    pub fn answer_all(&mut self, request: state::Request, response: &Response) {
        for connection in &mut self.connections {
            if connection.awaiting == Some(request) {
                connection.awaiting = None;
                connection.start_answer(response);
            }
        }
    }

    /// Last words before the guardian exits: the pending answers get a moment to leave.
    pub fn flush(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(200);
        for connection in &mut self.connections {
            while connection.answer.is_some() && Instant::now() < deadline {
                if !connection.write_some() {
                    std::thread::yield_now();
                }
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Connection {
    /// Reads what there is; a whole request is returned once, and a refused one is
    /// answered here.
    fn read_some(&mut self, now: Instant) -> Option<Request> {
        let mut buffer = [0u8; 4096];
        loop {
            match self.stream.read(&mut buffer) {
                // The client closed its side before sending a whole request.
                Ok(0) => {
                    self.deadline = now;
                    return None;
                }
                Ok(n) => self.received.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.deadline = now;
                    return None;
                }
            }
            if self.received.len() > MAX_HEAD + MAX_BODY {
                break;
            }
        }
        match parse_request(&self.received) {
            Parsed::Incomplete => None,
            Parsed::Complete(Ok(request)) => Some(request),
            Parsed::Complete(Err(error)) => {
                self.start_answer(&Response::error(&error));
                None
            }
        }
    }

    fn start_answer(&mut self, response: &Response) {
        self.answer = Some((response.to_bytes(), 0));
        self.write_some();
    }

    /// Writes what the socket takes now; `false` if nothing could be written.
    fn write_some(&mut self) -> bool {
        let Some((bytes, written)) = &mut self.answer else {
            return false;
        };
        match self.stream.write(&bytes[*written..]) {
            Ok(n) => {
                *written += n;
                n > 0
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                false
            }
            // EPIPE, ECONNRESET: the client left; nothing more to write.
            Err(_) => {
                *written = bytes.len();
                false
            }
        }
    }

    fn finished(&self, now: Instant) -> bool {
        let answered = self
            .answer
            .as_ref()
            .is_some_and(|(bytes, written)| *written >= bytes.len());
        let late = self.awaiting.is_none() && now >= self.deadline;
        answered || late
    }
}

/// The `Groups:` of `/proc/<pid>/status`; empty if the process is gone.
fn supplementary_groups(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("Groups:").map(|groups| {
                    groups
                        .split_whitespace()
                        .filter_map(|g| g.parse().ok())
                        .collect()
                })
            })
        })
        .unwrap_or_default()
}
