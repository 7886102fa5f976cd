//! The control socket (DESIGN.md section 8), for real: every request through the client
//! (`supervisor status|signal|stop|... NAME`) and through `curl --unix-socket`, the socket's
//! modes and who may use it, `/metrics` as strict Prometheus text, and bad input that gets
//! a JSON 4xx while the app is left alone. Upgrades and reloads are in `control_upgrade`.
//!
//! The helpers here (`client`, `curl`, `raw_exchange`, `status_of`) are shared with it.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::harness::{BIN, Guardian, Outcome, PATIENCE, View, is_alive, read_lines, run_to_end};
use crate::payloads;

/// Where a guardian named `name` listens when `--control` is not given.
pub fn socket_of(name: &str) -> PathBuf {
    PathBuf::from(format!("/run/supervisor/{name}.sock"))
}

/// `supervisor ARGS` as a client, run by root.
pub fn client(args: &[&str]) -> Outcome {
    let mut command = Command::new(BIN);
    command.args(args);
    run_to_end(command)
}

/// `supervisor ARGS` as a client, run through `setpriv SETPRIV...` (another user).
fn client_as(setpriv: &[&str], args: &[&str]) -> Outcome {
    let mut command = Command::new("setpriv");
    command.args(setpriv).arg(BIN).args(args);
    run_to_end(command)
}

/// What a client run printed, for messages.
pub fn describe(outcome: &Outcome) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        outcome.code, outcome.stdout, outcome.stderr
    )
}

/// The guardian's `/status`, through `supervisor status NAME --json`.
pub fn status_of(g: &Guardian) -> Value {
    let outcome = client(&["status", g.name(), "--json"]);
    g.check(
        outcome.code == Some(0),
        &format!("status to answer: {}", describe(&outcome)),
    );
    serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|e| panic!("status is not JSON ({e}): {}", outcome.stdout))
}

/// The status, or None while the guardian does not answer yet (exit 3: its socket is
/// bound a moment after it starts): for waits.
pub fn try_status_of(g: &Guardian) -> Option<Value> {
    let outcome = client(&["status", g.name(), "--json"]);
    if outcome.code == Some(3) {
        return None;
    }
    g.check(
        outcome.code == Some(0),
        &format!("status to answer: {}", describe(&outcome)),
    );
    serde_json::from_str(&outcome.stdout).ok()
}

/// A PID field of a status (`main_pid`), if it is not null.
pub fn pid_field(status: &Value, field: &str) -> Option<Pid> {
    status[field].as_i64().map(|pid| Pid::from_raw(pid as i32))
}

/// `curl --unix-socket SOCKET -X METHOD http://localhost/PATH`: the HTTP status and body.
pub fn curl(g: &Guardian, method: &str, path: &str) -> (u16, String) {
    let socket = socket_of(g.name());
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--max-time", "15"])
        .args([
            "--write-out",
            "\n%{http_code}",
            "-X",
            method,
            "--unix-socket",
        ])
        .arg(&socket)
        .arg(format!("http://localhost{path}"));
    let outcome = run_to_end(command);
    g.check(
        outcome.code == Some(0),
        &format!(
            "curl {method} {path} to get an answer: {}",
            describe(&outcome)
        ),
    );
    let (body, code) = outcome
        .stdout
        .rsplit_once('\n')
        .expect("curl writes the status code last");
    (code.parse().expect("an HTTP status code"), body.to_owned())
}

/// `curl` for JSON, asserting the HTTP status.
pub fn curl_json(g: &Guardian, method: &str, path: &str, expected: u16) -> Value {
    let (code, body) = curl(g, method, path);
    g.check(
        code == expected,
        &format!("{method} {path}: HTTP {expected}, got {code}: {body}"),
    );
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"))
}

/// Sends `request` as it is on a new connection and reads the whole answer: its status
/// and body (the guardian closes after one answer).
pub fn raw_exchange(g: &Guardian, request: &[u8]) -> (u16, String) {
    let mut stream = UnixStream::connect(socket_of(g.name())).expect("connect to the socket");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    // The guardian may answer (and close) before it has read everything, as it should for
    // a request over the limits: what it said is still there to read.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !answer.is_empty() => break,
            Err(e) => panic!("no answer: {e}\n{}", g.report()),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (code, body.to_owned())
}

/// Asserts that an answer is `code` with `{"error":{"kind":KIND,"message":...}}`.
fn check_error(g: &Guardian, what: &str, (code, body): (u16, String), expected: (u16, &str)) {
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let kind = json["error"]["kind"].as_str();
    let message = json["error"]["message"].as_str();
    g.check(
        code == expected.0 && kind == Some(expected.1) && message.is_some_and(|m| !m.is_empty()),
        &format!(
            "{what}: HTTP {} with error kind {:?}, got {code}: {body}",
            expected.0, expected.1
        ),
    );
}

/// Runs a client command that must succeed, and returns what it printed.
fn client_ok(g: &Guardian, args: &[&str]) -> Outcome {
    let outcome = client(args);
    g.check(
        outcome.code == Some(0),
        &format!(
            "`supervisor {}` to exit 0: {}",
            args.join(" "),
            describe(&outcome)
        ),
    );
    outcome
}

/// Waits until the guardian has bound its socket (a moment after it starts).
pub fn wait_for_socket(g: &Guardian) {
    g.wait_until(PATIENCE, "the control socket", || {
        socket_of(g.name()).exists()
    });
}

/// Waits until `/status` says `state`, and returns it.
pub fn wait_for_state(g: &Guardian, state: &str) -> Value {
    g.wait_for(PATIENCE, &format!("status to say {state}"), || {
        let status = try_status_of(g)?;
        (status["state"] == state).then_some(status)
    })
}

/// Every request, through the client and through curl, on an app that records its PID
/// at each start and every forwarded signal: the status always names the PID the app
/// recorded, a stopped guardian answers with no process left, each start is a new PID.
fn answers_every_request_through_the_client_and_curl(view: View) {
    let b = Guardian::build(view, "ctl-all");
    let app = payloads::record_signals(&b.dir());
    let g = b.arg("-c").app(app).start();
    let name = g.name().to_owned();
    let first = g.wait_for_pids("pids", 1)[0];
    wait_for_socket(&g);

    let status = status_of(&g);
    g.check(status["state"] == "running", "running");
    g.check(
        pid_field(&status, "main_pid") == Some(first),
        "main_pid = the recorded PID",
    );
    g.check(
        pid_field(&status, "guardian_pid") == Some(g.pid()),
        "guardian_pid",
    );
    let by_curl = curl_json(&g, "GET", "/status", 200);
    g.check(
        pid_field(&by_curl, "main_pid") == Some(first) && by_curl["name"] == name.as_str(),
        "curl's status names the same main PID",
    );
    let text = client_ok(&g, &["status", &name]).stdout;
    g.check(
        text.starts_with(&format!("{name}: running, main PID {first},")),
        &format!("the status for a person: {text}"),
    );

    client_ok(&g, &["signal", "HUP", &name]);
    g.wait_until(PATIENCE, "the app to receive HUP", || {
        read_lines(&g.file("signals")) == ["HUP"]
    });
    let reply = curl_json(&g, "POST", "/signal/USR1", 200);
    g.check(reply["ok"] == true, "the signal reply says ok");
    g.wait_until(PATIENCE, "the app to receive USR1", || {
        read_lines(&g.file("signals")) == ["HUP", "USR1"]
    });

    client_ok(&g, &["stop", &name]);
    let stopped = status_of(&g);
    g.check(
        stopped["state"] == "stopped" && stopped["main_pid"].is_null(),
        &format!("stopped, no main PID: {stopped}"),
    );
    g.check(
        stopped["pids"] == serde_json::json!([]) && g.cgroup_pids().is_empty(),
        "no process left in the cgroup",
    );
    g.check(
        !is_alive(first) && g.is_running(),
        "the app gone, the guardian still there",
    );

    let started = curl_json(&g, "POST", "/start", 200);
    let second = g.wait_for_pids("pids", 2)[1];
    g.check(
        pid_field(&started["status"], "main_pid") == Some(second),
        &format!("/start answers with the new main PID {second}: {started}"),
    );

    client_ok(&g, &["restart", &name]);
    let third = g.wait_for_pids("pids", 3)[2];
    g.check(
        pid_field(&status_of(&g), "main_pid") == Some(third) && !is_alive(second),
        "restart: a new main PID, the old one gone",
    );

    curl_json(&g, "POST", "/stop", 200);
    g.check(status_of(&g)["state"] == "stopped", "stopped through curl");
    client_ok(&g, &["start", &name]);
    let fourth = g.wait_for_pids("pids", 4)[3];
    let reply = curl_json(&g, "POST", "/restart", 200);
    let fifth = g.wait_for_pids("pids", 5)[4];
    g.check(
        pid_field(&reply["status"], "main_pid") == Some(fifth) && !is_alive(fourth),
        &format!("/restart answers with the new main PID {fifth}: {reply}"),
    );
    g.check(
        status_of(&g)["restarts"] == 4,
        "four starts after the first, all counted",
    );

    let socket = socket_of(&name);
    client_ok(&g, &["exit", &name]);
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("exit 0 after `supervisor exit`, got {code}"),
    );
    g.check(!socket.exists(), "the socket removed");
    g.check(!is_alive(fifth), "the app stopped");
    let after = client(&["status", &name]);
    g.check(
        after.code == Some(3),
        &format!("no guardian any more: exit 3: {}", describe(&after)),
    );
}
in_views!(answers_every_request_through_the_client_and_curl: v2, v1);

/// `POST /exit` through curl: 202 at once, then the guardian stops the app and exits 0.
fn exit_through_curl_ends_the_guardian_with_0_and_removes_the_socket(view: View) {
    let b = Guardian::build(view, "ctl-exit");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-c").app(app).start();
    let pid = g.wait_for_pids("pids", 1)[0];
    let socket = socket_of(g.name());
    wait_for_socket(&g);

    let reply = curl_json(&g, "POST", "/exit", 202);
    g.check(reply["ok"] == true, &format!("ok: {reply}"));
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0, got {code}"));
    g.check(!socket.exists(), "the socket removed");
    g.check(!is_alive(pid), "the app stopped");
}
in_views!(exit_through_curl_ends_the_guardian_with_0_and_removes_the_socket: v2);

/// After a daemonize handover the status names the daemon (the PID it recorded), not
/// the starter that exited.
fn status_names_the_daemon_after_a_daemonize_handover(view: View) {
    let b = Guardian::build(view, "ctl-daemon");
    let app = payloads::daemonize(&b.dir());
    let g = b.arg("-c").app(app).start();
    let starter = g.wait_for_pids("starters", 1)[0];
    let daemon = g.wait_for_pids("daemons", 1)[0];
    g.wait_until(PATIENCE, "the starter to exit", || !is_alive(starter));
    let status = g.wait_for(PATIENCE, "status to name the daemon", || {
        let status = try_status_of(&g)?;
        (pid_field(&status, "main_pid") == Some(daemon)).then_some(status)
    });
    g.check(
        daemon != starter,
        "the daemon is another process than the starter",
    );
    g.check(status["state"] == "running", "running");
    g.check(status["restarts"] == 0, "no restart: a handover");
    g.check(status["main_pid_changes"] == 1, "one main PID change");
    let by_curl = curl_json(&g, "GET", "/status", 200);
    g.check(
        pid_field(&by_curl, "main_pid") == Some(daemon),
        "curl agrees",
    );
}
in_views!(status_names_the_daemon_after_a_daemonize_handover: v2, v1);

/// An app that keeps failing (`-e`): between its runs the status says `backing_off`, with
/// no main PID and the delay left; a signal then has nobody to go to.
fn status_shows_the_backoff_with_no_main_pid(view: View) {
    let b = Guardian::build(view, "ctl-backoff");
    let app = payloads::exit_with(&b.dir(), 1);
    let g = b.arg("-e").app(app).start();
    let status = wait_for_state(&g, "backing_off");
    g.check(
        status["main_pid"].is_null(),
        &format!("no main PID: {status}"),
    );
    let delay = status["backoff_seconds"].as_f64().unwrap_or(0.0);
    g.check(delay > 0.0, &format!("a delay left: {status}"));
    g.check(
        status["last_exit"]["code"] == 1 && status["restarts"].as_u64() >= Some(1),
        &format!("the last exit was code 1, after a restart: {status}"),
    );
    // The app runs for a moment between backoffs: each view below is waited for.
    g.wait_until(PATIENCE, "the status for a person to say so", || {
        client_ok(&g, &["status", g.name()])
            .stdout
            .contains("backing off: next start in")
    });
    let samples = g.wait_for(PATIENCE, "the metrics to say backing_off", || {
        let samples = metrics_of(&g);
        let backing_off = samples.iter().any(|(name, labels, value)| {
            name == "supervisor_state"
                && *value == 1.0
                && labels
                    .get(1)
                    .is_some_and(|(_, state)| state == "backing_off")
        });
        backing_off.then_some(samples)
    });
    g.check(
        value_of(&samples, "supervisor_main_pid").is_none()
            && value_of(&samples, "supervisor_up") == Some(0.0),
        "no main PID sample and up 0 while backing off",
    );
    // Negative control of the PID: each recorded start was a process of its own.
    let pids = g.wait_for_pids("pids", 2);
    g.check(pids[0] != pids[1], "every run a new PID");

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
}
in_views!(status_shows_the_backoff_with_no_main_pid: v2, v1);

/// One sample line: metric name, its labels, its value.
type Sample = (String, Vec<(String, String)>, f64);

/// A strict checker of the Prometheus text format 0.0.4: every family has `# HELP`, then
/// `# TYPE`, before its samples and appears once; counters end in `_total`; every sample
/// is `name{labels} value` with a float value, named after its family.
pub fn check_exposition(text: &str) -> Vec<Sample> {
    assert!(
        text.ends_with('\n'),
        "the text ends with a line feed: {text}"
    );
    let mut families: Vec<String> = Vec::new();
    let mut current: Option<(String, bool)> = None;
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (family, help) = rest.split_once(' ').expect("HELP has a text");
            assert!(!help.trim().is_empty(), "empty HELP: {line}");
            assert!(
                !families.iter().any(|f| f == family),
                "{family} twice:\n{text}"
            );
            families.push(family.to_owned());
            current = Some((family.to_owned(), false));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').expect("TYPE has a type");
            let Some((current_family, typed)) = current.as_mut() else {
                panic!("TYPE before HELP: {line}");
            };
            assert_eq!(family, current_family, "TYPE of another family: {line}");
            assert!(!*typed, "two TYPE lines: {line}");
            assert!(["gauge", "counter"].contains(&kind), "unknown type: {line}");
            assert_eq!(
                kind == "counter",
                family.ends_with("_total"),
                "a counter, and only a counter, ends in _total: {line}"
            );
            *typed = true;
        } else {
            assert!(!line.starts_with('#'), "unknown comment: {line}");
            let sample = parse_sample(line);
            let Some((family, true)) = &current else {
                panic!("sample before its HELP and TYPE: {line}");
            };
            assert_eq!(&sample.0, family, "a sample of another family: {line}");
            samples.push(sample);
        }
    }
    samples
}

fn parse_sample(line: &str) -> Sample {
    let (name, rest) = line
        .split_once('{')
        .unwrap_or_else(|| panic!("no labels: {line}"));
    assert!(
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name: {line}"
    );
    let (labels, value) = rest
        .rsplit_once("} ")
        .unwrap_or_else(|| panic!("no `}} value`: {line}"));
    let mut parsed = Vec::new();
    let mut chars = labels.chars().peekable();
    while chars.peek().is_some() {
        let label: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert!(
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad label name in {line}"
        );
        assert_eq!(chars.next(), Some('"'), "label value not quoted: {line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                Some(c) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        }
        parsed.push((label, value));
        match chars.next() {
            Some(',') | None => {}
            other => panic!("unexpected {other:?} after a label: {line}"),
        }
    }
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => value
            .parse()
            .unwrap_or_else(|_| panic!("not a float value: {line}")),
    };
    (name.to_owned(), parsed, value)
}

pub fn value_of(samples: &[Sample], name: &str) -> Option<f64> {
    samples
        .iter()
        .find(|(sample, _, _)| sample == name)
        .map(|(_, _, value)| *value)
}

fn metrics_of(g: &Guardian) -> Vec<Sample> {
    let (code, body) = curl(g, "GET", "/metrics");
    g.check(code == 200, &format!("/metrics answers 200, got {code}"));
    let samples = check_exposition(&body);
    // And as a Prometheus client library reads it: every family typed as we declare it.
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_owned())))
        .unwrap_or_else(|e| panic!("prometheus-parse refuses /metrics ({e}):\n{body}"));
    g.check(
        scrape.samples.len() == samples.len(),
        &format!("prometheus-parse reads every sample:\n{body}"),
    );
    for sample in &scrape.samples {
        let counter = sample.metric.ends_with("_total");
        let typed_right = match sample.value {
            prometheus_parse::Value::Counter(_) => counter,
            prometheus_parse::Value::Gauge(_) => !counter,
            _ => false,
        };
        g.check(
            typed_right,
            &format!("{} typed as {:?}:\n{body}", sample.metric, sample.value),
        );
    }
    for (_, labels, _) in &samples {
        assert_eq!(
            labels.first(),
            Some(&("name".to_owned(), g.name().to_owned())),
            "every sample is labelled with the guardian's name:\n{body}"
        );
    }
    samples
}

/// `/metrics` is strict Prometheus text; a crash with `-c` counts one restart and moves
/// the main PID to the new instance. `supervisor_pids_current` comes from the tracking
/// hierarchy's `pids.current`: the v1 view tracks with the v1 `pids` controller, so it is
/// there; on this hybrid host the cgroup2 hierarchy has no controller enabled (they are
/// all bound to v1), so under the v2 view it is absent, family and all.
fn metrics_are_prometheus_text_and_count_a_restart(view: View) {
    let b = Guardian::build(view, "ctl-metrics");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-c").app(app).start();
    let first = g.wait_for_pids("pids", 1)[0];
    wait_for_socket(&g);
    let samples = g.wait_for(PATIENCE, "the main PID in the metrics", || {
        let samples = metrics_of(&g);
        (value_of(&samples, "supervisor_main_pid") == Some(first.as_raw().into()))
            .then_some(samples)
    });
    g.check(
        value_of(&samples, "supervisor_up") == Some(1.0),
        "supervisor_up 1",
    );
    g.check(
        value_of(&samples, "supervisor_restarts_total") == Some(0.0),
        "no restart yet",
    );
    let running: Vec<&Sample> = samples
        .iter()
        .filter(|(name, _, value)| name == "supervisor_state" && *value == 1.0)
        .collect();
    g.check(
        running.len() == 1
            && running[0]
                .1
                .get(1)
                .is_some_and(|(_, state)| state == "running"),
        &format!("one state set, running: {running:?}"),
    );
    let pids_current = value_of(&samples, "supervisor_pids_current");
    match view {
        View::V1 => g.check(
            pids_current == Some(1.0),
            &format!("pids_current 1 under the v1 pids hierarchy, got {pids_current:?}"),
        ),
        View::V2 | View::PureV2 => g.check(
            pids_current.is_none(),
            &format!("no pids_current without a v2 pids controller, got {pids_current:?}"),
        ),
    }

    kill(first, Signal::SIGSEGV).expect("SEGV to the app");
    let second = g.wait_for_pids("pids", 2)[1];
    let samples = g.wait_for(PATIENCE, "the new main PID in the metrics", || {
        let samples = metrics_of(&g);
        (value_of(&samples, "supervisor_main_pid") == Some(second.as_raw().into()))
            .then_some(samples)
    });
    g.check(
        value_of(&samples, "supervisor_restarts_total") == Some(1.0),
        "one restart counted",
    );
    g.check(
        value_of(&samples, "supervisor_last_exit_code") == Some(139.0),
        "the last exit: 128 + SEGV",
    );
    g.check(value_of(&samples, "supervisor_up") == Some(1.0), "up again");
}
in_views!(metrics_are_prometheus_text_and_count_a_restart: v2, v1);

/// Negative control of the checker: it refuses what Prometheus refuses.
#[test]
fn the_exposition_checker_refuses_broken_text() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{name=\"x\"} 1\n";
    assert_eq!(check_exposition(good).len(), 1);
    for bad in [
        "a_total{name=\"x\"} 1\n",
        "# TYPE a_total counter\n# HELP a_total A.\na_total{name=\"x\"} 1\n",
        "# HELP a A.\n# TYPE a counter\na{name=\"x\"} 1\n",
        "# HELP a_total A.\n# TYPE a_total gauge\na_total{name=\"x\"} 1\n",
        "# HELP a A.\n# TYPE a gauge\na{name=\"x\"} one\n",
        "# HELP a A.\n# TYPE a gauge\na{name=x} 1\n",
        "# HELP a A.\n# TYPE a gauge\nb{name=\"x\"} 1\n",
        "# HELP a A.\n# TYPE a gauge\na{name=\"x\"} 1",
    ] {
        let refused = std::panic::catch_unwind(|| check_exposition(bad)).is_err();
        assert!(refused, "accepted: {bad:?}");
    }
}

/// `setpriv` arguments for uid 65534 (nobody) with primary group `gid` and no other.
fn nobody_with_gid(gid: &str) -> Vec<String> {
    vec![
        "--reuid=65534".to_owned(),
        format!("--regid={gid}"),
        "--clear-groups".to_owned(),
    ]
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Without `--control-group` the socket is root's alone (0600): another user cannot even
/// connect (EACCES, exit 1), and one that gets past the file mode (CAP_DAC_OVERRIDE) is
/// refused by the peer-credential check (403 `forbidden`). Root is let in.
fn the_socket_is_for_root_alone_without_control_group(view: View) {
    let b = Guardian::build(view, "ctl-0600");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-c").app(app).start();
    let pid = g.wait_for_pids("pids", 1)[0];
    let socket = socket_of(g.name());
    g.wait_until(PATIENCE, "the socket", || socket.exists());
    let meta = fs::metadata(&socket).expect("stat the socket");
    g.check(
        meta.permissions().mode() & 0o7777 == 0o600 && meta.uid() == 0 && meta.gid() == 0,
        &format!(
            "mode 0600 root:root, got {:o} {}:{}",
            meta.permissions().mode() & 0o7777,
            meta.uid(),
            meta.gid()
        ),
    );

    let nobody = client_as(&as_strs(&nobody_with_gid("65534")), &["status", g.name()]);
    g.check(
        nobody.code == Some(1) && nobody.stderr.contains("Permission denied"),
        &format!("nobody refused with EACCES, exit 1: {}", describe(&nobody)),
    );
    let mut past_the_mode = nobody_with_gid("65534");
    past_the_mode
        .extend(["--inh-caps=+dac_override", "--ambient-caps=+dac_override"].map(String::from));
    let forbidden = client_as(&as_strs(&past_the_mode), &["status", g.name(), "--json"]);
    let json: Value = serde_json::from_str(&forbidden.stdout).unwrap_or(Value::Null);
    g.check(
        forbidden.code == Some(1) && json["error"]["kind"] == "forbidden",
        &format!(
            "nobody with CAP_DAC_OVERRIDE gets 403 forbidden: {}",
            describe(&forbidden)
        ),
    );
    // Negative control: the same request as root is answered.
    let root = client(&["status", g.name()]);
    g.check(
        root.code == Some(0),
        &format!("root is let in: {}", describe(&root)),
    );
    g.check(
        pid_field(&status_of(&g), "main_pid") == Some(pid)
            && read_lines(&g.file("pids")).len() == 1,
        "the app untouched",
    );
}
in_views!(the_socket_is_for_root_alone_without_control_group: v2);

/// `--control-group nogroup`: mode 0660 root:nogroup; nobody with gid nogroup (primary or
/// supplementary) is let in, nobody with another gid is not, by the file mode (EACCES) or,
/// past it, by the peer-credential check (403 `forbidden`).
fn control_group_lets_its_members_in_and_no_one_else(view: View) {
    let b = Guardian::build(view, "ctl-0660");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b
        .args(["-c", "--control-group", "nogroup"])
        .app(app)
        .start();
    let pid = g.wait_for_pids("pids", 1)[0];
    let socket = socket_of(g.name());
    g.wait_until(PATIENCE, "the socket", || socket.exists());
    let meta = fs::metadata(&socket).expect("stat the socket");
    g.check(
        meta.permissions().mode() & 0o7777 == 0o660 && meta.uid() == 0 && meta.gid() == 65534,
        &format!(
            "mode 0660 root:nogroup, got {:o} {}:{}",
            meta.permissions().mode() & 0o7777,
            meta.uid(),
            meta.gid()
        ),
    );

    let member = client_as(
        &as_strs(&nobody_with_gid("65534")),
        &["status", g.name(), "--json"],
    );
    let json: Value = serde_json::from_str(&member.stdout).unwrap_or(Value::Null);
    g.check(
        member.code == Some(0) && pid_field(&json, "main_pid") == Some(pid),
        &format!("a member (primary gid) is let in: {}", describe(&member)),
    );
    let supplementary = client_as(
        &["--reuid=65534", "--regid=1", "--groups=65534"],
        &["status", g.name()],
    );
    g.check(
        supplementary.code == Some(0),
        &format!(
            "a member (supplementary group) is let in: {}",
            describe(&supplementary)
        ),
    );

    let outsider = client_as(&as_strs(&nobody_with_gid("1")), &["status", g.name()]);
    g.check(
        outsider.code == Some(1) && outsider.stderr.contains("Permission denied"),
        &format!("another gid refused with EACCES: {}", describe(&outsider)),
    );
    let mut past_the_mode = nobody_with_gid("1");
    past_the_mode
        .extend(["--inh-caps=+dac_override", "--ambient-caps=+dac_override"].map(String::from));
    let forbidden = client_as(&as_strs(&past_the_mode), &["stop", g.name(), "--json"]);
    let json: Value = serde_json::from_str(&forbidden.stdout).unwrap_or(Value::Null);
    g.check(
        forbidden.code == Some(1) && json["error"]["kind"] == "forbidden",
        &format!(
            "another gid past the file mode gets 403 forbidden: {}",
            describe(&forbidden)
        ),
    );
    let status = status_of(&g);
    g.check(
        status["state"] == "running" && pid_field(&status, "main_pid") == Some(pid),
        &format!("the refused stop changed nothing: {status}"),
    );
}
in_views!(control_group_lets_its_members_in_and_no_one_else: v2);

/// Bad input gets a 4xx with a JSON error, and nothing else happens: the guardian runs
/// on, the app keeps its PID and was never restarted.
fn refuses_bad_requests_with_json_errors_and_leaves_the_app_alone(view: View) {
    let b = Guardian::build(view, "ctl-bad");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-c").app(app).start();
    let pid = g.wait_for_pids("pids", 1)[0];
    wait_for_socket(&g);

    check_error(
        &g,
        "garbage",
        raw_exchange(&g, b"\x00\x01\x02\xff\xfe garbage\r\n\r\n"),
        (400, "malformed"),
    );
    check_error(
        &g,
        "unknown path",
        curl(&g, "GET", "/nope"),
        (404, "not_found"),
    );
    check_error(
        &g,
        "wrong method",
        curl(&g, "GET", "/stop"),
        (405, "method_not_allowed"),
    );
    let mut big_head = b"POST /stop HTTP/1.1\r\nX-Filler: ".to_vec();
    big_head.extend(std::iter::repeat_n(b'a', 9000));
    big_head.extend_from_slice(b"\r\n\r\n");
    check_error(
        &g,
        "a 9000-byte header",
        raw_exchange(&g, &big_head),
        (431, "too_large"),
    );
    let mut big_body = b"POST /stop HTTP/1.1\r\nContent-Length: 20000\r\n\r\n".to_vec();
    big_body.extend(std::iter::repeat_n(b'{', 20000));
    check_error(
        &g,
        "a 20000-byte body",
        raw_exchange(&g, &big_body),
        (413, "too_large"),
    );
    check_error(
        &g,
        "a chunked body",
        raw_exchange(
            &g,
            b"POST /stop HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (413, "too_large"),
    );
    check_error(
        &g,
        "an unknown signal",
        curl(&g, "POST", "/signal/NOPE"),
        (400, "bad_signal"),
    );
    let usage = client(&["signal", "NOPE", g.name()]);
    g.check(
        usage.code == Some(2),
        &format!(
            "`supervisor signal NOPE` is a usage error: {}",
            describe(&usage)
        ),
    );

    // Clients that leave mid-answer: the answer is written to nobody, nothing else.
    for request in [
        &b"GET /metrics HTTP/1.1\r\n\r\n"[..],
        &b"GET /status HTTP/1.1\r\n\r\n"[..],
        &b"GET /status HTTP/1.1\r\nHost: local"[..],
    ] {
        for _ in 0..10 {
            let mut stream = UnixStream::connect(socket_of(g.name())).expect("connect");
            stream.write_all(request).expect("send");
        }
    }

    let status = status_of(&g);
    g.check(
        status["state"] == "running"
            && pid_field(&status, "main_pid") == Some(pid)
            && status["restarts"] == 0,
        &format!("the same main PID, no restart: {status}"),
    );
    g.check(
        is_alive(pid) && g.is_running(),
        "the app and the guardian alive",
    );
    g.check(
        read_lines(&g.file("pids")).len() == 1,
        "the app started once",
    );
    g.check(!g.stderr().contains("stopping"), "no stop was carried out");
}
in_views!(refuses_bad_requests_with_json_errors_and_leaves_the_app_alone: v2, v1);

/// 50 clients connect and never send: a crash is still restarted and `status` still
/// answers at once; the guardian closes the idle ones after its idle limit (10 s).
fn idle_connections_block_neither_a_restart_nor_status(view: View) {
    let b = Guardian::build(view, "ctl-idle");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.arg("-c").app(app).start();
    let first = g.wait_for_pids("pids", 1)[0];
    wait_for_socket(&g);
    let idle: Vec<UnixStream> = (0..50)
        .map(|_| UnixStream::connect(socket_of(g.name())).expect("connect"))
        .collect();

    kill(first, Signal::SIGSEGV).expect("SEGV to the app");
    let second = g.wait_for_pids("pids", 2)[1];
    let asked = Instant::now();
    let status = g.wait_for(PATIENCE, "status to name the new main PID", || {
        let status = try_status_of(&g)?;
        (pid_field(&status, "main_pid") == Some(second)).then_some(status)
    });
    g.check(
        asked.elapsed() < PATIENCE,
        "status answered within PATIENCE",
    );
    g.check(status["restarts"] == 1, &format!("one restart: {status}"));

    // The idle limit is 10 s; each read ends when the guardian closes that connection.
    let closed_by = Instant::now() + Duration::from_secs(10) + PATIENCE;
    for mut stream in idle {
        let left = closed_by.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!(
                "an idle connection still open after the idle limit: {other:?}\n{}",
                g.report()
            ),
        }
    }
    g.check(
        pid_field(&status_of(&g), "main_pid") == Some(second),
        "still answering, same main PID",
    );
}
in_views!(idle_connections_block_neither_a_restart_nor_status: v2);

/// `supervisor status` without a name asks every guardian in /run/supervisor (other tests'
/// guardians may be there too: ours must be among them).
fn status_without_a_name_lists_every_guardian(view: View) {
    let b1 = Guardian::build(view, "ctl-list-a");
    let app1 = payloads::record_pid_then_sleep(&b1.dir());
    let g1 = b1.arg("-c").app(app1).start();
    let b2 = Guardian::build(view, "ctl-list-b");
    let app2 = payloads::record_pid_then_sleep(&b2.dir());
    let g2 = b2.arg("-c").app(app2).start();
    let pid1 = g1.wait_for_pids("pids", 1)[0];
    let pid2 = g2.wait_for_pids("pids", 1)[0];
    for g in [&g1, &g2] {
        wait_for_socket(g);
    }
    let all = client(&["status"]);
    for (g, pid) in [(&g1, pid1), (&g2, pid2)] {
        g.check(
            all.stdout
                .contains(&format!("{}: running, main PID {pid},", g.name())),
            &format!("{} listed: {}", g.name(), describe(&all)),
        );
    }
}
in_views!(status_without_a_name_lists_every_guardian: v2);

/// No guardian by that name: exit 3, for a name and for a `--control` path.
#[test]
fn a_client_to_a_name_without_a_guardian_exits_3() {
    let name = format!("t{}-nobody-here", std::process::id());
    for args in [
        vec!["status", name.as_str()],
        vec!["stop", name.as_str()],
        vec!["status", "--control", "/nonexistent/ctl.sock"],
    ] {
        let outcome = client(&args);
        assert_eq!(outcome.code, Some(3), "{args:?}: {}", describe(&outcome));
        assert!(outcome.stderr.contains("no guardian"), "{}", outcome.stderr);
    }
}
