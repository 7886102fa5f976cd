//! The guardian's own messages, in one grammar (DESIGN.md section 9):
//! `supervisor[<name>]: <what happened>`, `... warning: ...`, `... fatal: ...`.
//!
//! They go to stderr, or with `-f`/`--syslog` to syslog (RFC 3164, daemon facility,
//! ident `supervisor`, the guardian's name leading the message). Logging never stops the
//! guardian: a failed write to stderr is dropped, a syslog send never blocks (a full
//! socket drops the line), and a syslog daemon that went away is reconnected to on the
//! next line. No syslog socket at start-up means stderr, with one warning.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// `-q` hides information; `-qq` also hides runtime warnings. Fatal errors always show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Normal,
    Quiet,
    Silent,
}

impl Verbosity {
    pub fn from_quiet_count(count: u8) -> Verbosity {
        match count {
            0 => Verbosity::Normal,
            1 => Verbosity::Quiet,
            _ => Verbosity::Silent,
        }
    }
}

/// Where messages go, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Stderr,
    /// A syslog datagram socket (`/dev/log`).
    Syslog(PathBuf),
}

#[derive(Clone, Copy)]
enum Severity {
    Info,
    Warning,
    Fatal,
}

pub struct Log {
    name: String,
    verbosity: Verbosity,
    /// `None`: stderr.
    syslog: RefCell<Option<Syslog>>,
}

struct Syslog {
    socket: PathBuf,
    /// `None` after a failed send, until a reconnect succeeds.
    logger: Option<Logger<LoggerBackend, Formatter3164>>,
}

impl Log {
    pub fn new(name: &str, verbosity: Verbosity, target: &Target) -> Log {
        let log = Log {
            name: name.to_owned(),
            verbosity,
            syslog: RefCell::new(None),
        };
        if let Target::Syslog(socket) = target {
            match connect(socket) {
                Ok(logger) => {
                    *log.syslog.borrow_mut() = Some(Syslog {
                        socket: socket.clone(),
                        logger: Some(logger),
                    });
                }
                Err(error) => log.warning(format_args!(
                    "unable to reach syslog at {}: {error}; logging to stderr",
                    socket.display()
                )),
            }
        }
        log
    }

    pub fn info(&self, message: impl fmt::Display) {
        if self.verbosity == Verbosity::Normal {
            self.write(Severity::Info, format_args!("{message}"));
        }
    }

    pub fn warning(&self, message: impl fmt::Display) {
        if self.verbosity < Verbosity::Silent {
            self.write(Severity::Warning, format_args!("warning: {message}"));
        }
    }

    pub fn fatal(&self, message: impl fmt::Display) {
        self.write(Severity::Fatal, format_args!("fatal: {message}"));
    }

    fn write(&self, severity: Severity, message: fmt::Arguments) {
        match self.syslog.borrow_mut().as_mut() {
            Some(syslog) => syslog.send(severity, format_args!("{}: {message}", self.name)),
            None => {
                let line = format!("supervisor[{}]: {message}\n", self.name);
                // One write(2) per line, so lines of several processes never interleave.
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
        }
    }
}

impl Syslog {
    /// Sends one line; reconnects once if the daemon went away (ECONNREFUSED after a
    /// syslog restart). A line that still cannot go is dropped.
    fn send(&mut self, severity: Severity, message: fmt::Arguments) {
        let line = message.to_string();
        for _attempt in 0..2 {
            if self.logger.is_none() {
                self.logger = connect(&self.socket).ok();
            }
            let Some(logger) = self.logger.as_mut() else {
                return;
            };
            let sent = match severity {
                Severity::Info => logger.info(&line),
                Severity::Warning => logger.warning(&line),
                Severity::Fatal => logger.err(&line),
            };
            match sent {
                Ok(()) => return,
                // A full socket buffer: drop the line rather than wait for the daemon.
                Err(syslog::Error::Write(error))
                    if error.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    return;
                }
                Err(_) => self.logger = None,
            }
        }
    }
}

fn connect(socket: &Path) -> Result<Logger<LoggerBackend, Formatter3164>, syslog::Error> {
    let formatter = Formatter3164 {
        facility: Facility::LOG_DAEMON,
        hostname: None,
        process: "supervisor".into(),
        pid: std::process::id(),
    };
    let logger = syslog::unix_custom(formatter, socket)?;
    match &logger.backend {
        LoggerBackend::Unix(datagram) => datagram.set_nonblocking(true)?,
        LoggerBackend::UnixStream(stream) => stream.get_ref().set_nonblocking(true)?,
        LoggerBackend::Udp(..) | LoggerBackend::Tcp(_) => {}
    }
    Ok(logger)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; 1024];
        let n = socket.recv(&mut buffer).expect("a syslog line");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    #[test]
    fn sends_rfc3164_lines_to_the_daemon_facility() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let daemon = UnixDatagram::bind(&path).expect("bind");
        daemon
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let log = Log::new("web", Verbosity::Normal, &Target::Syslog(path.clone()));
        log.info("started, main PID 42");
        log.warning("main PID 42 was killed by SIGSEGV (a crash)");
        // <30> = daemon (3) * 8 + info (6); <28> = daemon * 8 + warning (4).
        let line = receive(&daemon);
        assert!(line.starts_with("<30>"), "{line}");
        assert!(
            line.contains(&format!(
                "supervisor[{}]: web: started, main PID 42",
                std::process::id()
            )),
            "{line}"
        );
        let line = receive(&daemon);
        assert!(line.starts_with("<28>"), "{line}");
        assert!(
            line.ends_with("web: warning: main PID 42 was killed by SIGSEGV (a crash)"),
            "{line}"
        );
    }

    #[test]
    fn reconnects_when_the_daemon_comes_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let first = UnixDatagram::bind(&path).expect("bind");
        let log = Log::new("web", Verbosity::Normal, &Target::Syslog(path.clone()));
        drop(first);
        std::fs::remove_file(&path).expect("unlink");
        log.info("lost: nobody listens");
        let second = UnixDatagram::bind(&path).expect("rebind");
        second
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        log.info("back");
        assert!(receive(&second).ends_with("web: back"));
    }

    #[test]
    fn quiet_levels_apply_to_syslog_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let daemon = UnixDatagram::bind(&path).expect("bind");
        daemon.set_nonblocking(true).expect("nonblocking");
        let log = Log::new("web", Verbosity::Silent, &Target::Syslog(path.clone()));
        log.info("hidden");
        log.warning("hidden too");
        log.fatal("shown");
        let mut buffer = [0u8; 512];
        let n = daemon.recv(&mut buffer).expect("the fatal line");
        assert!(String::from_utf8_lossy(&buffer[..n]).ends_with("web: fatal: shown"));
        assert!(daemon.recv(&mut buffer).is_err(), "only one line");
    }
}
