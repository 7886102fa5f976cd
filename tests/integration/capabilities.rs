//! `--cap NAME` and `--no-new-privs`, asked of the app itself: its own
//! `/proc/self/status` and what it can do (bind a port below 1024).
//!
//! Privileges do not depend on the cgroup view; these run in the v2 view only.

use crate::harness::{Guardian, PATIENCE, View, read_lines};
use crate::payloads;

/// CAP_NET_BIND_SERVICE is capability 10 (capability.h): bit 10 alone.
const NET_BIND_SERVICE_ONLY: &str = "0000000000000400";
const CAPABILITY_SETS: [&str; 5] = ["CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"];

/// The value of the app's own `/proc/self/status` line `<key>:`.
fn status_value(g: &Guardian, key: &str) -> String {
    read_lines(&g.file("status"))
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key}: in the app's status\n{}", g.report()))
}

/// Runs the bind payload with `args`, waits for the app (and the guardian) to end, and
/// returns the guardian and what the bind did.
fn bind_with(view: View, tag: &str, args: &[&str]) -> (Guardian, String) {
    let b = Guardian::build(view, tag).share_dir_with_everyone();
    let app = payloads::bind_a_low_port(&b.dir());
    let g = b.args(args).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("exit 0 after the app exited 0, got {code}"),
    );
    let bind = g.wait_for_lines("bind", 1)[0].clone();
    (g, bind)
}

fn nobody_with_cap_net_bind_service_binds_port_999_and_keeps_only_that(view: View) {
    let (g, bind) = bind_with(view, "cap", &["-u", "nobody", "--cap", "net_bind_service"]);
    g.check(
        bind.starts_with("bound "),
        &format!("the bind to succeed, got {bind:?}"),
    );
    g.check(
        status_value(&g, "Uid")
            .split_whitespace()
            .all(|u| u == "65534"),
        "the app to run as nobody",
    );
    for set in CAPABILITY_SETS {
        let value = status_value(&g, set);
        g.check(
            value == NET_BIND_SERVICE_ONLY,
            &format!("{set} {NET_BIND_SERVICE_ONLY} (net_bind_service alone), got {value}"),
        );
    }
}
in_views!(nobody_with_cap_net_bind_service_binds_port_999_and_keeps_only_that: v2);

/// Negative control of the above: the same user without `--cap` cannot bind.
fn nobody_without_cap_cannot_bind_port_999(view: View) {
    let (g, bind) = bind_with(view, "no-cap", &["-u", "nobody"]);
    g.check(bind == "EACCES", &format!("EACCES, got {bind:?}"));
    let effective = status_value(&g, "CapEff");
    g.check(
        effective == "0000000000000000",
        &format!("no effective capability, got {effective}"),
    );
}
in_views!(nobody_without_cap_cannot_bind_port_999: v2);

/// As root too, `--cap` leaves the app that capability and no other.
fn root_with_cap_keeps_only_that_capability(view: View) {
    let (g, bind) = bind_with(view, "cap-root", &["--cap", "net_bind_service"]);
    g.check(
        bind.starts_with("bound "),
        &format!("the bind to succeed, got {bind:?}"),
    );
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        let value = status_value(&g, set);
        g.check(
            value == NET_BIND_SERVICE_ONLY,
            &format!("{set} {NET_BIND_SERVICE_ONLY} (net_bind_service alone), got {value}"),
        );
    }
}
in_views!(root_with_cap_keeps_only_that_capability: v2);

/// Negative control of the above: root without `--cap` keeps more than one capability.
fn root_without_cap_keeps_the_full_set(view: View) {
    let (g, _) = bind_with(view, "root-caps", &[]);
    let effective = status_value(&g, "CapEff");
    let bits = u64::from_str_radix(&effective, 16).expect("a hexadecimal CapEff");
    g.check(
        bits.count_ones() > 1 && bits & 0x400 != 0,
        &format!("a CapEff beyond net_bind_service, got {effective}"),
    );
}
in_views!(root_without_cap_keeps_the_full_set: v2);

fn no_new_privs(view: View, tag: &str, args: &[&str]) -> String {
    let b = Guardian::build(view, tag).share_dir_with_everyone();
    let app = payloads::report_credentials(&b.dir());
    let g = b.args(args).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0, got {code}"));
    status_value(&g, "NoNewPrivs")
}

fn no_new_privs_sets_the_flag_of_the_app(view: View) {
    let flag = no_new_privs(view, "nnp", &["-u", "nobody", "--no-new-privs"]);
    assert_eq!(flag, "1", "NoNewPrivs of the app with --no-new-privs");
}
in_views!(no_new_privs_sets_the_flag_of_the_app: v2);

/// Negative control of the above.
fn without_no_new_privs_the_flag_is_clear(view: View) {
    let flag = no_new_privs(view, "no-nnp", &["-u", "nobody"]);
    assert_eq!(flag, "0", "NoNewPrivs of the app without --no-new-privs");
}
in_views!(without_no_new_privs_the_flag_is_clear: v2);

fn unknown_capability_is_a_usage_error_naming_it_and_the_app_never_runs(view: View) {
    let b = Guardian::build(view, "bogus-cap");
    let app = payloads::touch_marker(&b.dir());
    let g = b.args(["--cap", "bogus"]).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 2, &format!("exit code 2, got {code}"));
    g.check(
        g.stderr().lines().any(|l| l.contains("bogus")),
        "a line naming `bogus`",
    );
    g.check(!g.file("ran").exists(), "the app never ran");
}
in_views!(unknown_capability_is_a_usage_error_naming_it_and_the_app_never_runs: v2);
