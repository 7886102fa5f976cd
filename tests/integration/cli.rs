//! The CLI tier: help, version, usage errors and start-up exit codes of the built binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::{Guardian, PATIENCE, View, run_cli};
use crate::payloads;

#[test]
fn help_lists_every_flag() {
    let out = run_cli(["--help"]);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    let flags = [
        "-f",
        "--fork",
        "-p",
        "--pidfile",
        "-u",
        "--user",
        "-g",
        "--group",
        "-l",
        "--delay-limit",
        "-e",
        "--restart-on-error",
        "-c",
        "--restart-on-crash",
        "-s",
        "--success",
        "-P",
        "--main-pidfile",
        "-q",
        "--quiet",
        "-v",
        "--version",
        "-h",
        "--help",
        "--name",
        "--cgroup",
        "--stop-signal",
        "--stop-timeout",
        "--stable-after",
    ];
    let missing: Vec<_> = flags
        .iter()
        .filter(|f| !mentions_flag(&out.stdout, f))
        .collect();
    assert!(
        missing.is_empty(),
        "--help does not list {missing:?}:\n{}",
        out.stdout
    );
}

#[test]
fn version_prints_the_version() {
    for flag in ["-v", "--version"] {
        let out = run_cli([flag]);
        assert_eq!(out.code, Some(0), "{flag}: stderr:\n{}", out.stderr);
        assert!(
            out.stdout.contains(env!("CARGO_PKG_VERSION")),
            "{flag} printed:\n{}",
            out.stdout
        );
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = run_cli(["--no-such-flag", "--", "/bin/true"]);
    assert_eq!(out.code, Some(2), "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("--no-such-flag"),
        "stderr:\n{}",
        out.stderr
    );
}

#[test]
fn no_program_at_all_is_a_usage_error() {
    let out = run_cli(["-c"]);
    assert_eq!(out.code, Some(2), "stderr:\n{}", out.stderr);
}

#[test]
fn zero_negative_or_garbage_durations_are_usage_errors_naming_the_option() {
    for (flag, long) in [
        ("-l", "delay-limit"),
        ("--delay-limit", "delay-limit"),
        ("--stop-timeout", "stop-timeout"),
        ("--stable-after", "stable-after"),
    ] {
        for value in ["0", "-1", "abc", ""] {
            let out = run_cli([flag, value, "--", "/bin/true"]);
            assert_eq!(
                out.code,
                Some(2),
                "{flag} {value:?}: stderr:\n{}",
                out.stderr
            );
            assert!(
                out.stderr.contains(long),
                "{flag} {value:?}: no line naming {long}:\n{}",
                out.stderr
            );
        }
    }
}

#[test]
fn decimal_durations_are_accepted() {
    let b = Guardian::build(View::V2, "decimal");
    let app = payloads::exit_with(&b.dir(), 0);
    let g = b
        .args(["-l", "0.5", "--stop-timeout", "1.5", "--stable-after", "2"])
        .app(app)
        .start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit code 0, got {code}"));
}

#[test]
fn missing_program_exits_127_with_a_clear_line() {
    for program in ["/nonexistent/no-such-program", "no-such-program-in-path"] {
        let g = Guardian::build(View::V2, "missing")
            .app(vec![program.to_owned()])
            .start();
        let code = g.wait_exit_code(PATIENCE);
        g.check(
            code == 127,
            &format!("{program}: exit code 127, got {code}"),
        );
        let stderr = g.stderr();
        let line = stderr.lines().find(|l| l.contains("no-such-program"));
        g.check(
            line.is_some(),
            &format!("{program}: a line naming the program"),
        );
        let prefix = format!("supervisor[{}]:", g.name());
        g.check(
            line.is_some_and(|l| l.starts_with(&prefix)),
            &format!("{program}: that line in the message grammar, starting with {prefix}"),
        );
    }
}

#[test]
fn non_executable_program_exits_126_with_a_clear_line() {
    let b = Guardian::build(View::V2, "noexec");
    let script = b.dir().join("not-executable");
    fs::write(&script, "#!/bin/sh\ntouch ran\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    let g = b.app(vec![script.display().to_string()]).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 126, &format!("exit code 126, got {code}"));
    g.check(
        g.stderr().contains("not-executable"),
        "a line naming the program",
    );
    g.check(!g.file("ran").exists(), "the program never ran");
}

#[test]
fn program_without_a_slash_is_found_through_path() {
    let b = Guardian::build(View::V2, "path");
    let mut app = payloads::exit_with(&b.dir(), 0);
    app[0] = "sh".to_owned();
    let g = b.app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit code 0, got {code}"));
    g.check(g.wait_for_pids("pids", 1).len() == 1, "the app ran once");
}

/// `flag` appears in the help text as a whole word (`-p` does not count inside `--pidfile`).
fn mentions_flag(help: &str, flag: &str) -> bool {
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|word| word == flag)
}
