//! Delegated placement: a guardian started in a cgroup marked delegated (what systemd
//! does for `Delegate=yes`: the xattr `trusted.delegate` = "1") moves itself into
//! `<own>/supervisor` and puts the app in `<own>/app`; at exit it moves back and removes
//! both. Without the mark the app goes to `/supervisor/<name>`.
//!
//! The v2 view only: delegation (and the no-internal-process rule that makes the two
//! subgroups necessary) is a cgroup2 notion here, and the guardian ignores it on v1.
//! The test plays systemd: it makes its own uniquely named cgroup and marks it itself.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::harness::{Guardian, PATIENCE, View, remove_cgroup_dir};
use crate::payloads;

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// A cgroup the test made at the root of the host's cgroup2 mount, as a service manager
/// would for a unit; `Drop` kills what is left in it and removes it, even after a failure.
struct ServiceCgroup {
    /// As `/proc/<pid>/cgroup` names it: `/test-deleg-<test pid>-<n>`.
    path: PathBuf,
}

impl ServiceCgroup {
    fn create(delegated: bool) -> ServiceCgroup {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let cgroup = ServiceCgroup {
            path: PathBuf::from(format!("/test-deleg-{}-{n}", std::process::id())),
        };
        let dir = cgroup.dir();
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("failed to create {}: {e}", dir.display()));
        if delegated {
            mark_delegated(&dir);
        }
        cgroup
    }

    /// The directory, seen from the host.
    fn dir(&self) -> PathBuf {
        Path::new(UNIFIED).join(self.path.strip_prefix("/").unwrap())
    }

    /// A subgroup's path, as `/proc/<pid>/cgroup` names it.
    fn sub(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn procs(&self) -> String {
        fs::read_to_string(self.dir().join("cgroup.procs")).unwrap_or_default()
    }
}

impl Drop for ServiceCgroup {
    fn drop(&mut self) {
        remove_cgroup_dir(&self.dir());
    }
}

/// Sets `trusted.delegate` to "1", as systemd does for `Delegate=yes`
/// (systemd docs/CGROUP_DELEGATION.md).
fn mark_delegated(dir: &Path) {
    let path = CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: both strings are NUL-terminated and outlive the call; the value is a valid
    // buffer of the length given.
    let done = unsafe {
        libc::setxattr(
            path.as_ptr(),
            c"trusted.delegate".as_ptr(),
            b"1".as_ptr().cast(),
            1,
            0,
        )
    };
    assert_eq!(
        done,
        0,
        "failed to set trusted.delegate on {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
}

/// The cgroup2 path of a process, from its `/proc/<pid>/cgroup` `0::` line.
fn cgroup_of(pid: Pid) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(PathBuf::from)
}

fn delegated_cgroup_holds_the_guardian_and_the_app_side_by_side_and_is_left_clean(view: View) {
    let service = ServiceCgroup::create(true);
    let b = Guardian::build(view, "deleg");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start_in_cgroup(&service.dir());
    let app_pid = g.wait_for_pids("pids", 1)[0];

    g.wait_until(PATIENCE, "the guardian in <service>/supervisor", || {
        cgroup_of(g.pid()) == Some(service.sub("supervisor"))
    });
    g.wait_until(PATIENCE, "the app in <service>/app", || {
        cgroup_of(app_pid) == Some(service.sub("app"))
    });
    let procs = service.procs();
    g.check(
        procs.trim().is_empty(),
        &format!("no process in the service cgroup itself, got {procs:?}"),
    );
    g.check(
        !g.app_cgroup_dir().exists(),
        "no /supervisor/<name> cgroup under delegation",
    );

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
    for sub in ["app", "supervisor"] {
        g.check(
            !service.dir().join(sub).exists(),
            &format!("<service>/{sub} removed at exit"),
        );
    }
}
in_views!(delegated_cgroup_holds_the_guardian_and_the_app_side_by_side_and_is_left_clean: v2);

/// Negative control of the above: the same cgroup without the mark is not ours to split;
/// the guardian stays in it and the app goes to `/supervisor/<name>`.
fn undelegated_cgroup_keeps_the_guardian_and_the_app_goes_under_supervisor(view: View) {
    let service = ServiceCgroup::create(false);
    let b = Guardian::build(view, "no-deleg");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start_in_cgroup(&service.dir());
    let app_pid = g.wait_for_pids("pids", 1)[0];

    let own = format!("/supervisor/{}", g.name());
    g.wait_until(PATIENCE, &format!("the app in {own}"), || {
        cgroup_of(app_pid) == Some(PathBuf::from(&own))
    });
    g.check(
        cgroup_of(g.pid()) == Some(service.path.clone()),
        "the guardian still in the service cgroup",
    );
    for sub in ["app", "supervisor"] {
        g.check(
            !service.dir().join(sub).exists(),
            &format!("no <service>/{sub} without delegation"),
        );
    }

    g.signal(Signal::SIGTERM);
    let code = g.wait_exit_code(PATIENCE);
    g.check(code == 0, &format!("exit 0 after SIGTERM, got {code}"));
}
in_views!(undelegated_cgroup_keeps_the_guardian_and_the_app_goes_under_supervisor: v2);
