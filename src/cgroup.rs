//! The app's cgroup: which hierarchy tracks it, and creating, entering, listing, killing
//! and removing it (DESIGN.md section 4). Our own small module over cgroupfs, on `nix`.
//!
//! It never enables a controller and never removes a cgroup it did not create.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

pub const CGROUP_PROCS: &str = "cgroup.procs";
pub const CGROUP_EVENTS: &str = "cgroup.events";
pub const CGROUP_KILL: &str = "cgroup.kill";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A failure on cgroupfs; every one names the path (and the value written, if any).
#[derive(Debug)]
pub enum CgroupError {
    /// No usable hierarchy: no cgroup2 mount, no v1 `pids` or `name=systemd`, and the
    /// named `name=supervisor` hierarchy could not be mounted.
    NoHierarchy(String),
    /// The cgroup exists and holds processes that are not ours (until adoption exists).
    Populated(PathBuf),
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl std::fmt::Display for CgroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!("{f:p}")
    }
}

impl std::error::Error for CgroupError {}

/// The hierarchy that tracks the app: where it is mounted and which of it is visible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    version: Version,
    /// Where it is mounted, e.g. `/sys/fs/cgroup/unified`.
    mount_point: PathBuf,
    /// Which directory of the hierarchy the mount shows (mountinfo's "root" field).
    mount_root: PathBuf,
}

impl Hierarchy {
    /// Detects the hierarchy from `/proc/self/mountinfo`: cgroup2 wherever a (visible)
    /// cgroup2 mount exists (pure v2 or hybrid), else v1 `pids`, else `name=systemd`,
    /// else mounts `name=supervisor` once under `/run/supervisor/cgroup`.
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        Self::detect_under(Path::new("/"))
    }

    /// The same against a root directory: reads `<root>/proc/self/mountinfo`, and the
    /// mount points it returns are under `root`. Tests use a fake root; never mounts.
    pub fn detect_under(root: &Path) -> Result<Hierarchy, CgroupError> {
        todo!("{root:?}")
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The directory of cgroup `path` (a path in the hierarchy, e.g. `/supervisor/web`).
    pub fn dir_of(&self, path: &Path) -> PathBuf {
        todo!("{path:?}")
    }

    /// Creates the app's cgroup `path` (and missing parents). An existing empty cgroup is
    /// reused (a guardian of this name died); one that holds processes is refused with
    /// `Populated`.
    pub fn create(&self, path: &Path) -> Result<AppCgroup, CgroupError> {
        todo!("{path:?}")
    }
}

/// The app's own cgroup.
#[derive(Debug)]
pub struct AppCgroup {
    version: Version,
    dir: PathBuf,
    /// Whether we made the leaf directory; only then do we remove it.
    created: bool,
}

impl AppCgroup {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// `cgroup.procs`, opened for writing (close-on-exec) before a fork: the child writes
    /// "0" to it so that it enters the cgroup before exec (DESIGN.md section 4).
    pub fn open_procs_for_entry(&self) -> Result<OwnedFd, CgroupError> {
        todo!()
    }

    /// v2 only: `cgroup.events`, opened for poll(2) with POLLPRI (kernel doc
    /// cgroup-v2.rst, "populated" changes raise a file modified event). `None` on v1.
    pub fn open_events(&self) -> Result<Option<OwnedFd>, CgroupError> {
        todo!()
    }

    /// Every PID in `cgroup.procs`. A read error is an error, never an empty list: an
    /// empty list would read as "the app died".
    pub fn pids(&self) -> Result<Vec<Pid>, CgroupError> {
        todo!()
    }

    /// Whether any process is left (v2: `cgroup.events` "populated"; v1: `cgroup.procs`).
    pub fn is_populated(&self) -> Result<bool, CgroupError> {
        todo!()
    }

    /// SIGKILL to every process: v2 writes "1" to `cgroup.kill`; v1 kills each PID
    /// listed (one pass; call again until empty: a fork may race the read).
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        todo!()
    }

    /// Removes the cgroup if we created it, retrying briefly on EBUSY (the kernel
    /// releases a cgroup's last tasks asynchronously).
    pub fn remove(self) -> Result<(), CgroupError> {
        todo!()
    }
}
