//! Fuzzes the mountinfo reader of `src/cgroup/mountinfo.rs` on arbitrary text, read
//! lossily as `cgroup::read_visible_mounts` reads it. It must never panic; a parse is one
//! mount per non-empty line or an error naming the line; and `visible_mounts` keeps
//! exactly the wanted mounts that no later mount covers, in their order.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use procfs::process::MountInfo;

// The module has no `super::` paths outside its tests, so it sits at the root here and
// its `pub(super)` items are visible to this file.
#[allow(dead_code)]
#[path = "../../src/cgroup/mountinfo.rs"]
mod mountinfo;

use mountinfo::{Mount, parse_mountinfo, under_root, visible_mounts};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    let mounts = match parse_mountinfo(&text) {
        Ok(mounts) => mounts,
        Err(message) => {
            assert!(message.starts_with("line "), "{message:?}");
            return;
        }
    };
    assert_eq!(mounts.len(), lines.len());
    for (mount, line) in mounts.iter().zip(&lines) {
        check_unescaped(mount, line);
        let fake_root = Path::new("/fake-root");
        assert!(under_root(fake_root, &mount.mount_point).starts_with(fake_root));
    }

    let all = visible_mounts(mounts.clone(), |_| true);
    let cgroups = visible_mounts(mounts.clone(), is_cgroup);
    // The wanted predicate only narrows: it never changes which mounts are covered.
    let all_cgroups: Vec<_> = all.iter().filter(|mount| is_cgroup(mount)).collect();
    assert_eq!(points(cgroups.iter()), points(all_cgroups.into_iter()));

    // Kept: exactly those not covered by a later mount, in the input's order.
    let mut kept = all.iter().peekable();
    for (index, mount) in mounts.iter().enumerate() {
        let covered = mounts[index + 1..]
            .iter()
            .any(|later| mount.mount_point.starts_with(&later.mount_point));
        if covered {
            continue;
        }
        let next = kept.next().expect("an uncovered mount was dropped");
        assert_eq!(next.mount_point, mount.mount_point);
        assert_eq!(next.fs_type, mount.fs_type);
    }
    assert!(kept.peek().is_none(), "a covered mount was kept");
});

fn is_cgroup(mount: &Mount) -> bool {
    mount.fs_type.starts_with("cgroup")
}

fn points<'a>(mounts: impl Iterator<Item = &'a Mount>) -> Vec<&'a Path> {
    mounts.map(|mount| mount.mount_point.as_path()).collect()
}

/// Unescaping only ever shortens a path (four bytes become one), and leaves a path
/// without a backslash as it is. The raw paths are the fourth and fifth fields, as procfs
/// reads them; procfs parses every cgroup line, and a line of another file system only
/// where it is well-formed (parse_mountinfo reads those without it).
fn check_unescaped(mount: &Mount, line: &str) {
    let mut fields = line.split(' ');
    let raw_root = fields
        .nth(3)
        .expect("parse_mountinfo parsed this line")
        .to_owned();
    let raw_point = fields
        .next()
        .expect("parse_mountinfo parsed this line")
        .to_owned();
    if let Ok(full) = MountInfo::from_line(line) {
        assert_eq!(full.root, raw_root);
        assert_eq!(full.mount_point.to_string_lossy(), raw_point);
        assert_eq!(full.fs_type, mount.fs_type);
    } else {
        assert!(
            !matches!(mount.fs_type.as_str(), "cgroup" | "cgroup2"),
            "procfs refused {line:?}"
        );
    }
    for (unescaped, raw) in [(&mount.mount_point, &raw_point), (&mount.root, &raw_root)] {
        let unescaped = unescaped.as_os_str().as_encoded_bytes();
        assert!(unescaped.len() <= raw.len(), "{raw:?} became {unescaped:?}");
        if !raw.contains('\\') {
            assert_eq!(unescaped, raw.as_bytes());
        }
    }
}
