//! `-u USER`: the app runs with the user's uid, primary gid and supplementary groups, as
//! the app itself sees them in `/proc/self/status`.

use crate::harness::{Guardian, PATIENCE, View, read_lines};
use crate::payloads;

/// The app's own `/proc/self/status` line `<key>:`, split into its fields.
fn status_field(g: &Guardian, key: &str) -> Vec<String> {
    let lines = read_lines(&g.file("status"));
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}:")));
    let line = line.unwrap_or_else(|| panic!("no {key}: in the app's status\n{}", g.report()));
    line.split_whitespace().map(str::to_owned).collect()
}

fn app_runs_as_nobody_with_u_nobody(view: View) {
    let b = Guardian::build(view, "user").share_dir_with_everyone();
    let app = payloads::report_credentials(&b.dir());
    let g = b.args(["-u", "nobody"]).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("exit 0 after the app exited 0, got {code}"),
    );

    let uid = status_field(&g, "Uid");
    let gid = status_field(&g, "Gid");
    let groups = status_field(&g, "Groups");
    g.check(
        uid.iter().all(|u| u == "65534"),
        &format!("real, effective, saved and fs uid 65534, got {uid:?}"),
    );
    g.check(
        gid.iter().all(|u| u == "65534"),
        &format!("real, effective, saved and fs gid 65534, got {gid:?}"),
    );
    g.check(
        !groups.iter().any(|g| g == "0"),
        &format!("no supplementary group 0, got {groups:?}"),
    );
}
in_views!(app_runs_as_nobody_with_u_nobody: v2, v1);

/// Negative control of the above: without `-u` the same payload reports root.
fn app_runs_as_root_without_u(view: View) {
    let b = Guardian::build(view, "root");
    let app = payloads::report_credentials(&b.dir());
    let g = b.app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(
        code == 0,
        &format!("exit 0 after the app exited 0, got {code}"),
    );
    let uid = status_field(&g, "Uid");
    g.check(uid.iter().all(|u| u == "0"), &format!("uid 0, got {uid:?}"));
}
in_views!(app_runs_as_root_without_u: v2, v1);

fn unknown_user_is_a_usage_error_and_the_app_never_runs(view: View) {
    let b = Guardian::build(view, "no-user");
    let app = payloads::touch_marker(&b.dir());
    let user = format!("no-such-user-{}", std::process::id());
    let g = b.args(["-u", &user]).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 2, &format!("exit code 2, got {code}"));
    g.check(g.stderr().contains(&user), "a line naming the unknown user");
    g.check(!g.file("ran").exists(), "the app never ran");
}
in_views!(unknown_user_is_a_usage_error_and_the_app_never_runs: v2, v1);

fn unknown_group_is_a_usage_error_and_the_app_never_runs(view: View) {
    let b = Guardian::build(view, "no-group");
    let app = payloads::touch_marker(&b.dir());
    let group = format!("no-such-group-{}", std::process::id());
    let g = b.args(["-g", &group]).app(app).start();
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 2, &format!("exit code 2, got {code}"));
    g.check(
        g.stderr().contains(&group),
        "a line naming the unknown group",
    );
    g.check(!g.file("ran").exists(), "the app never ran");
}
in_views!(unknown_group_is_a_usage_error_and_the_app_never_runs: v2, v1);
