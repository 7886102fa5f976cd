//! Reading a mountinfo file (proc(5), `/proc/[pid]/mountinfo`) down to the mounts a
//! process can actually reach. It owns parsing, unescaping and visibility; which of the
//! visible mounts tracks the app is decided in `cgroup/mod.rs`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use procfs::process::MountInfo;

/// One mountinfo line, with the two path fields unescaped.
#[derive(Clone, Debug)]
pub(super) struct Mount {
    /// Field 5: where it is mounted, relative to the reading process's root.
    pub mount_point: PathBuf,
    /// Field 4: which directory of the filesystem the mount shows ("/" for all of it; a
    /// bind mount or a cgroup namespace shows a subdirectory).
    pub root: PathBuf,
    pub fs_type: String,
    /// The options after the fs type and source, e.g. `rw,pids` or `rw,name=systemd`.
    pub super_options: HashMap<String, Option<String>>,
}

impl Mount {
    /// Whether the per-superblock options hold `key` (`pids`) or `key=value`
    /// (`name=systemd`).
    pub fn has_super_option(&self, key: &str, value: Option<&str>) -> bool {
        self.super_options
            .get(key)
            .is_some_and(|found| found.as_deref() == value)
    }
}

/// Parses a whole mountinfo file, in its order. Any line that does not parse is an error:
/// skipping it could hide a mount that shadows the one we would choose.
///
/// `procfs` does the field splitting but leaves the kernel's octal escapes in place
/// (`\040` for a space), so the two path fields are unescaped here. The text is read
/// lossily by the caller: a non-UTF-8 mount point elsewhere must not make detection fail.
pub(super) fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            if let Some(other) = parse_other_mount(line) {
                return Ok(other);
            }
            let info = MountInfo::from_line(line)
                .map_err(|err| format!("line {}: {line:?}: {err}", index + 1))?;
            Ok(Mount {
                mount_point: unescape_octal(&info.mount_point.to_string_lossy()),
                root: unescape_octal(&info.root),
                fs_type: info.fs_type,
                super_options: info.super_options,
            })
        })
        .collect()
}

/// A whole line of a file system other than cgroup and cgroup2, without its options:
/// such a mount matters only as one that may hide another. procfs builds two maps for
/// every line, and on a hybrid host with 35 mounts that was half of the guardian's
/// cgroup detection (`perf record` of 300 starts). `None` for a cgroup mount, or for a
/// line that only the full parse can judge.
fn parse_other_mount(line: &str) -> Option<Mount> {
    // The kernel escapes spaces in fields (`\040`), so " - " is the separator only.
    let (fields, after) = line.split_once(" - ")?;
    let mut after = after.splitn(3, ' ');
    let (fs_type, _source, _super_options) = (after.next()?, after.next()?, after.next()?);
    if fs_type.is_empty() || fs_type == "cgroup" || fs_type == "cgroup2" {
        return None;
    }
    // ID, parent ID, major:minor, root, mount point, mount options[, optional fields].
    let mut fields = fields.split(' ');
    let root = fields.nth(3)?;
    let mount_point = fields.next()?;
    fields.next()?;
    Some(Mount {
        mount_point: unescape_octal(mount_point),
        root: unescape_octal(root),
        fs_type: fs_type.to_owned(),
        super_options: HashMap::new(),
    })
}

/// Keeps the mounts that `wanted` accepts and that no later mount hides. The kernel lists
/// mounts in the order they were stacked, so a later entry whose mount point is the same
/// path or an ancestor (a tmpfs mounted over `/sys/fs/cgroup`, say) covers this one: its
/// files are no longer reachable by path, even though the mount is still listed.
/// Only wanted mounts are checked: a container host can list thousands of mounts.
pub(super) fn visible_mounts(mounts: Vec<Mount>, wanted: impl Fn(&Mount) -> bool) -> Vec<Mount> {
    let keep: Vec<bool> = mounts
        .iter()
        .enumerate()
        .map(|(index, mount)| {
            wanted(mount)
                && !mounts[index + 1..]
                    .iter()
                    .any(|later| mount.mount_point.starts_with(&later.mount_point))
        })
        .collect();
    mounts
        .into_iter()
        .zip(keep)
        .filter_map(|(mount, keep)| keep.then_some(mount))
        .collect()
}

/// Undoes the kernel's escaping of mountinfo paths: space, tab, newline and backslash are
/// written as a backslash and three octal digits (`\040`; fs/proc_namespace.c,
/// `show_mountinfo`, which escapes " \t\n\\"). Anything else is taken as it is.
fn unescape_octal(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let digits = bytes.get(index + 1..index + 4);
        match digits {
            Some(digits)
                if bytes[index] == b'\\' && digits.iter().all(|d| matches!(d, b'0'..=b'7')) =>
            {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, digit| acc * 8 + u32::from(digit - b'0'));
                // Three octal digits reach 0o777; only values of one byte are escapes.
                match u8::try_from(value) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 4;
                    }
                    Err(_) => {
                        out.push(bytes[index]);
                        index += 1;
                    }
                }
            }
            _ => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// `root` joined with a mountinfo path, which is absolute: `Path::join` would drop `root`.
pub(super) fn under_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_octal_sequences_in_paths() {
        assert_eq!(
            unescape_octal(r"/mnt/my\040cgroups\011tab\134back\012nl"),
            PathBuf::from("/mnt/my cgroups\ttab\\back\nnl")
        );
        assert_eq!(unescape_octal(r"/plain"), PathBuf::from("/plain"));
        // Not an escape: too few digits, or not octal.
        assert_eq!(unescape_octal(r"/a\04"), PathBuf::from(r"/a\04"));
        assert_eq!(unescape_octal(r"/a\089"), PathBuf::from(r"/a\089"));
    }

    #[test]
    fn reads_other_mounts_as_procfs_does_and_leaves_cgroup_mounts_to_it() {
        let lines = [
            r"22 27 0:21 / /proc rw,relatime - proc proc rw",
            r"30 27 8:1 /srv/my\040dir /mnt/my\040dir rw shared:9 master:2 - ext4 /dev/sda1 rw",
            r"31 27 0:40 / /tmp rw - tmpfs tmpfs rw,size=4k",
        ];
        for line in lines {
            let quick = parse_other_mount(line).expect("read without procfs");
            let full = MountInfo::from_line(line).expect("procfs parses it");
            assert_eq!(
                quick.mount_point,
                unescape_octal(&full.mount_point.to_string_lossy())
            );
            assert_eq!(quick.root, unescape_octal(&full.root));
            assert_eq!(quick.fs_type, full.fs_type);
        }
        let cgroup = "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate";
        assert!(parse_other_mount(cgroup).is_none());
        assert!(parse_other_mount("22 27 0:21 / /proc - proc").is_none());
    }

    #[test]
    fn parses_fields_of_a_mountinfo_line_with_optional_fields() {
        let text = "41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate\n";
        let mounts = parse_mountinfo(text).expect("parses");
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            mounts[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/unified")
        );
        assert_eq!(mounts[0].root, PathBuf::from("/"));
        assert_eq!(mounts[0].fs_type, "cgroup2");
        assert!(mounts[0].has_super_option("nsdelegate", None));
    }

    #[test]
    fn refuses_a_line_that_does_not_parse() {
        let err = parse_mountinfo("41 31 0:38 / /sys/fs/cgroup\n").expect_err("truncated line");
        assert!(err.starts_with("line 1:"), "{err}");
    }

    #[test]
    fn hides_mounts_covered_by_a_later_mount_at_the_same_path_or_above() {
        let text = "\
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
50 23 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw
51 50 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
52 23 0:41 / /mnt/a rw - tmpfs tmpfs rw
53 23 0:42 / /mnt/a rw - tmpfs tmpfs rw
54 23 0:43 / /mnt/ab rw - tmpfs tmpfs rw
";
        let visible: Vec<PathBuf> =
            visible_mounts(parse_mountinfo(text).expect("parses"), |_| true)
                .into_iter()
                .map(|mount| mount.mount_point)
                .collect();
        // `/mnt/ab` does not cover `/mnt/a`: ancestry is by component, not by prefix.
        assert_eq!(
            visible,
            ["/sys/fs/cgroup", "/sys/fs/cgroup/pids", "/mnt/a", "/mnt/ab"].map(PathBuf::from)
        );
    }
}
