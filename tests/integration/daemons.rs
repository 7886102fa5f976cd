//! Real daemons for the tests of nginx and haproxy under the guardian: their
//! configurations, generated per test in its temp dir (own pid file, own port on
//! 127.0.0.1, logs in the temp dir), and a load generator that counts failed requests.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::harness::{Guardian, PATIENCE, is_alive, parse_pid, read_lines};

pub const NGINX: &str = "/usr/sbin/nginx";
pub const HAPROXY: &str = "/usr/sbin/haproxy";

/// The load generator never runs longer than this, whatever the test does.
const LOAD_TIME_LIMIT: Duration = Duration::from_secs(180);
/// A request that takes longer than this failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A port on 127.0.0.1 that was free a moment ago (the kernel does not hand the same
/// ephemeral port out again at once).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("failed to find a free port");
    listener.local_addr().expect("a bound address").port()
}

/// One `GET /` on a new connection; `Ok` if the answer is a 200.
pub fn get(port: u16) -> Result<(), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, REQUEST_TIMEOUT)
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(REQUEST_TIMEOUT)))
        .map_err(|e| format!("timeouts: {e}"))?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("receive: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!(
            "answer: {:?}",
            answer.lines().next().unwrap_or_default()
        ))
    }
}

/// Sends requests one after another on a thread until finished, counting answers.
pub struct Load {
    counts: Arc<Counts>,
    worker: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Counts {
    stop: AtomicBool,
    ok: AtomicUsize,
    failed: AtomicUsize,
    /// The first few failures, for the report.
    failures: Mutex<Vec<String>>,
}

impl Load {
    pub fn start(port: u16) -> Load {
        let counts = Arc::new(Counts::default());
        let shared = Arc::clone(&counts);
        let worker = std::thread::spawn(move || {
            let limit = Instant::now() + LOAD_TIME_LIMIT;
            while !shared.stop.load(Ordering::Relaxed) && Instant::now() < limit {
                match get(port) {
                    Ok(()) => {
                        shared.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        shared.failed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut failures) = shared.failures.lock()
                            && failures.len() < 10
                        {
                            failures.push(error);
                        }
                    }
                }
            }
        });
        Load {
            counts,
            worker: Some(worker),
        }
    }

    pub fn ok(&self) -> usize {
        self.counts.ok.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> usize {
        self.counts.failed.load(Ordering::Relaxed)
    }

    /// Waits until `n` more requests succeeded than now: the load really ran meanwhile.
    pub fn wait_for_more_answers(&self, g: &Guardian, n: usize) {
        let target = self.ok() + n;
        g.wait_until(PATIENCE, &format!("{n} more answered requests"), || {
            self.ok() >= target
        });
    }

    /// Stops the load; a one-line summary with the first failures.
    pub fn finish(mut self) -> String {
        self.counts.stop.store(true, Ordering::Relaxed);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        let failures = self
            .counts
            .failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default();
        format!(
            "{} answered, {} failed {failures:?}",
            self.ok(),
            self.failed()
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.counts.stop.store(true, Ordering::Relaxed);
    }
}

/// An nginx set up in a test's temp dir: `daemon on;` (its default), two workers.
pub struct Nginx {
    pub port: u16,
    pub conf: PathBuf,
    pub pidfile: PathBuf,
    pub error_log: PathBuf,
}

impl Nginx {
    pub fn configure(dir: &Path) -> Nginx {
        let port = free_port();
        let nginx = Nginx {
            port,
            conf: dir.join("nginx.conf"),
            pidfile: dir.join("nginx.pid"),
            error_log: dir.join("error.log"),
        };
        nginx.write_conf(dir, "return 200 \"ok\\n\";");
        nginx
    }

    fn write_conf(&self, dir: &Path, location: &str) {
        let d = dir.display();
        let conf = format!(
            "worker_processes 2;\n\
             pid {pid};\n\
             error_log {log} info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; location / {{ {location} }} }}\n\
             }}\n",
            pid = self.pidfile.display(),
            log = self.error_log.display(),
            port = self.port,
        );
        fs::write(&self.conf, conf).expect("failed to write nginx.conf");
    }

    /// Replaces the configuration with one nginx refuses: a new binary started now fails.
    pub fn break_conf(&self) {
        fs::write(&self.conf, "this_is_no_directive;\n").expect("failed to break nginx.conf");
    }

    /// The app command: nginx with its error log and prefix in the temp dir (`-e`, `-p`),
    /// so nothing outside the test's dir is written.
    pub fn command(&self, dir: &Path) -> Vec<String> {
        vec![
            NGINX.into(),
            "-c".into(),
            self.conf.display().to_string(),
            "-p".into(),
            dir.display().to_string(),
            "-e".into(),
            self.error_log.display().to_string(),
        ]
    }

    fn oldbin(&self) -> PathBuf {
        let mut path = self.pidfile.clone().into_os_string();
        path.push(".oldbin");
        PathBuf::from(path)
    }

    /// The master PID in the pid file, once the file holds one.
    pub fn wait_for_master(&self, g: &Guardian) -> Pid {
        g.wait_for(PATIENCE, "nginx to write its pid file", || {
            read_pid(&self.pidfile).filter(|pid| is_alive(*pid))
        })
    }

    /// The operator's binary upgrade, through the guardian: USR2 to it (forwarded to the
    /// master), wait for the new master and `nginx.pid.oldbin`, then WINCH and QUIT to the
    /// old master. Returns the new master, once the guardian logged the handover to it.
    pub fn upgrade(&self, g: &Guardian, old: Pid) -> Pid {
        use nix::sys::signal::{Signal, kill};
        g.signal(Signal::SIGUSR2);
        let new = self.wait_for_new_master(g, old);
        kill(old, Signal::SIGWINCH).expect("WINCH to the old master");
        kill(old, Signal::SIGQUIT).expect("QUIT to the old master");
        g.wait_until(PATIENCE, "the old master to exit", || !is_alive(old));
        let handover = format!("main PID {old} \u{2192} {new}");
        g.wait_until(PATIENCE, &format!("the guardian to log {handover}"), || {
            g.stderr().contains(&handover)
        });
        new
    }

    /// After USR2: the new master has written `nginx.pid` and the old one `.oldbin`.
    pub fn wait_for_new_master(&self, g: &Guardian, old: Pid) -> Pid {
        g.wait_for(PATIENCE, "the new master and nginx.pid.oldbin", || {
            let new = read_pid(&self.pidfile)?;
            (read_pid(&self.oldbin()) == Some(old) && new != old && is_alive(new)).then_some(new)
        })
    }

    pub fn oldbin_exists(&self) -> bool {
        self.oldbin().exists()
    }
}

/// haproxy set up in a test's temp dir, answering 200 itself (no backend needed).
pub struct Haproxy {
    pub port: u16,
    pub conf: PathBuf,
    pub pidfile: PathBuf,
}

impl Haproxy {
    pub fn configure(dir: &Path) -> Haproxy {
        let haproxy = Haproxy {
            port: free_port(),
            conf: dir.join("haproxy.cfg"),
            pidfile: dir.join("haproxy.pid"),
        };
        let conf = format!(
            "global\n  pidfile {pid}\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
             frontend web\n  bind 127.0.0.1:{port}\n\
               http-request return status 200 content-type text/plain string ok\n",
            pid = haproxy.pidfile.display(),
            port = haproxy.port,
        );
        fs::write(&haproxy.conf, conf).expect("failed to write haproxy.cfg");
        haproxy
    }

    /// `haproxy [extra] -f CONF`, as an operator writes it.
    pub fn command(&self, extra: &[&str]) -> Vec<String> {
        let mut command = vec![HAPROXY.to_owned()];
        command.extend(extra.iter().map(|s| (*s).to_owned()));
        command.extend(["-f".to_owned(), self.conf.display().to_string()]);
        command
    }
}

/// The PID in a pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<Pid> {
    read_lines(path).first().map(|line| parse_pid(line))
}

/// The command line of a process, arguments joined by spaces.
pub fn cmdline(pid: Pid) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

/// The processes of the guardian's app cgroup whose command line starts with `prefix`
/// (nginx names its processes "nginx: master process ..." / "nginx: worker process").
pub fn processes_named(g: &Guardian, prefix: &str) -> Vec<Pid> {
    g.cgroup_pids()
        .into_iter()
        .filter(|pid| cmdline(*pid).starts_with(prefix))
        .collect()
}

/// The version nginx reports, e.g. (1, 22, 1).
pub fn nginx_version() -> (u32, u32, u32) {
    let output = Command::new(NGINX)
        .arg("-v")
        .output()
        .expect("nginx is installed (.ci/run installs nginx-light)");
    let text = String::from_utf8_lossy(&output.stderr);
    let version = text
        .split("nginx/")
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let mut parts = version.split('.').map(|n| n.parse().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// Negative control of the load generator: where nothing listens, every request fails.
#[test]
fn the_load_generator_counts_failures_against_a_closed_port() {
    let load = Load::start(free_port());
    let deadline = Instant::now() + PATIENCE;
    while load.failed() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (ok, failed) = (load.ok(), load.failed());
    let summary = load.finish();
    assert!(ok == 0 && failed >= 5, "every request fails: {summary}");
}
