//! The app's cgroup: which hierarchy tracks it, and creating, entering, listing, killing
//! and removing it (DESIGN.md section 4). Our own small module over cgroupfs, on `nix`;
//! `mountinfo` reads the mount table it detects the hierarchy from.
//!
//! It never enables a controller, never writes `cgroup.subtree_control`, and never
//! removes a cgroup it did not create. Which cgroup the app gets (placement under
//! systemd, `--cgroup`) is the caller's choice; this module only carries it out.
//!
//! References: the kernel's Documentation/admin-guide/cgroup-v2.rst ("cgroup-v2.rst")
//! and Documentation/admin-guide/cgroup-v1/cgroups.rst ("cgroup-v1 doc").

mod mountinfo;

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use mountinfo::{Mount, parse_mountinfo, under_root, visible_mounts};

pub const CGROUP_PROCS: &str = "cgroup.procs";
pub const CGROUP_EVENTS: &str = "cgroup.events";
pub const CGROUP_KILL: &str = "cgroup.kill";
/// Usage figures, where the hierarchy has the controller (cgroup-v2.rst, "Controllers").
const MEMORY_CURRENT: &str = "memory.current";
const CPU_STAT: &str = "cpu.stat";
const PIDS_CURRENT: &str = "pids.current";
const PIDS_MAX: &str = "pids.max";
/// v1 freezer (Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst).
const FREEZER_STATE: &str = "freezer.state";
/// How long a kill waits for a v1 freeze to take hold (it is asynchronous: FREEZING
/// until every task stopped). A kill of a group not yet wholly frozen still helps.
const FREEZE_PATIENCE: Duration = Duration::from_millis(200);
const CGROUP_CONTROLLERS: &str = "cgroup.controllers";
const CGROUP_SUBTREE_CONTROL: &str = "cgroup.subtree_control";

/// The calling process's cgroups.
const PROC_SELF_CGROUP: &str = "/proc/self/cgroup";
/// The extended attributes systemd sets to "1" on a delegated cgroup.
const DELEGATE_XATTRS: [&str; 2] = ["trusted.delegate", "user.delegate"];
/// Where the mount table is read, relative to the root given to `detect_under`.
const MOUNTINFO: &str = "proc/self/mountinfo";
/// Where the named v1 hierarchy is mounted when the host offers nothing better.
const SUPERVISOR_MOUNT_POINT: &str = "/run/supervisor/cgroup";
/// The `name=` of that hierarchy: a v1 hierarchy with no controller, for tracking only.
const SUPERVISOR_HIERARCHY_NAME: &str = "supervisor";
/// How long `remove` retries an EBUSY rmdir.
const REMOVE_PATIENCE: Duration = Duration::from_secs(1);
const REMOVE_RETRY_INTERVAL: Duration = Duration::from_millis(20);

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
    /// `op` is a verb (`read`, `write`, `open`, `create`, `remove`, `parse`); `value` is
    /// what was written, for writes.
    Io {
        op: &'static str,
        path: PathBuf,
        value: Option<String>,
        source: std::io::Error,
    },
    /// A controller the user asked for is not available there.
    NoController {
        controller: &'static str,
        dir: PathBuf,
    },
    /// kill(2) of a PID listed in the cgroup failed with something other than ESRCH.
    Kill {
        pid: Pid,
        dir: PathBuf,
        source: Errno,
    },
}

impl CgroupError {
    fn io(op: &'static str, path: &Path, source: std::io::Error) -> CgroupError {
        CgroupError::Io {
            op,
            path: path.to_path_buf(),
            value: None,
            source,
        }
    }

    fn write(path: &Path, value: &str, source: std::io::Error) -> CgroupError {
        CgroupError::Io {
            op: "write",
            path: path.to_path_buf(),
            value: Some(value.to_owned()),
            source,
        }
    }

    fn parse(path: &Path, what: String) -> CgroupError {
        CgroupError::io(
            "parse",
            path,
            std::io::Error::new(ErrorKind::InvalidData, what),
        )
    }
}

impl std::fmt::Display for CgroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CgroupError::NoHierarchy(why) => write!(f, "no usable cgroup hierarchy: {why}"),
            CgroupError::Populated(dir) => write!(
                f,
                "cgroup {} already holds processes (another instance is running?)",
                dir.display()
            ),
            CgroupError::Io {
                op,
                path,
                value: Some(value),
                source,
            } => write!(
                f,
                "failed to {op} {value:?} to {}: {source}",
                path.display()
            ),
            CgroupError::Io {
                op,
                path,
                value: None,
                source,
            } => write!(f, "failed to {op} {}: {source}", path.display()),
            CgroupError::NoController { controller, dir } => write!(
                f,
                "the {controller} controller is not available at {} (the host does not \
                 offer it to this hierarchy)",
                dir.display()
            ),
            CgroupError::Kill { pid, dir, source } => write!(
                f,
                "failed to kill PID {pid} of cgroup {}: {}",
                dir.display(),
                std::io::Error::from(*source)
            ),
        }
    }
}

/// The cause is part of the message already (every `Display` arm ends with it), so it is
/// not also a `source`: `{:#}` would print it twice.
impl std::error::Error for CgroupError {}

/// The hierarchy that tracks the app: where it is mounted and which of it is visible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    version: Version,
    /// Where it is mounted, e.g. `/sys/fs/cgroup/unified`.
    mount_point: PathBuf,
    /// Which directory of the hierarchy the mount shows (mountinfo's "root" field).
    mount_root: PathBuf,
    /// v1 only: the freezer hierarchy, if mounted. v1 has no atomic `cgroup.kill`, so the
    /// app also lives in a freezer cgroup, and a kill freezes it first: a forking app
    /// cannot race the kill (DESIGN.md section 7).
    freezer: Option<Box<Hierarchy>>,
}

/// The kinds of mount that can track the app, best first (DESIGN.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Candidate {
    /// cgroup2: one hierarchy, `cgroup.events` to poll and `cgroup.kill`, on a pure v2
    /// host or beside the v1 controllers on a hybrid one.
    Unified,
    /// v1 with the `pids` controller: mounted on nearly every legacy host.
    Pids,
    /// v1 `name=systemd`: no controller, but present wherever systemd runs on v1.
    Systemd,
    /// v1 `name=supervisor`: our own, mounted by an earlier guardian or by us.
    Supervisor,
}

impl Candidate {
    fn of(mount: &Mount) -> Option<Candidate> {
        match mount.fs_type.as_str() {
            "cgroup2" => Some(Candidate::Unified),
            "cgroup" if mount.has_super_option("pids", None) => Some(Candidate::Pids),
            "cgroup" if mount.has_super_option("name", Some("systemd")) => Some(Candidate::Systemd),
            "cgroup" if mount.has_super_option("name", Some(SUPERVISOR_HIERARCHY_NAME)) => {
                Some(Candidate::Supervisor)
            }
            _ => None,
        }
    }

    fn version(self) -> Version {
        match self {
            Candidate::Unified => Version::V2,
            Candidate::Pids | Candidate::Systemd | Candidate::Supervisor => Version::V1,
        }
    }
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
        if let Some(found) = choose_hierarchy(root, &read_visible_mounts(root)?) {
            return Ok(found);
        }
        if root != Path::new("/") {
            return Err(CgroupError::NoHierarchy(format!(
                "no cgroup2 mount and no v1 pids or name=systemd hierarchy in {}",
                root.join(MOUNTINFO).display()
            )));
        }
        mount_supervisor_hierarchy()?;
        // Read back what the kernel made of it rather than assume: it also gives the
        // mount root, and covers a guardian of another name that mounted it meanwhile.
        choose_hierarchy(root, &read_visible_mounts(root)?).ok_or_else(|| {
            CgroupError::NoHierarchy(format!(
                "mounted name={SUPERVISOR_HIERARCHY_NAME} at {SUPERVISOR_MOUNT_POINT}, \
                 but it is not visible in /{MOUNTINFO}"
            ))
        })
    }

    /// The directory of cgroup `path` (a path in the hierarchy, e.g. `/supervisor/web`).
    ///
    /// A path under the mount root (what /proc/self/cgroup shows, e.g. our own cgroup
    /// under systemd) is found below the mount point: with mount root `/foo`, cgroup
    /// `/foo/bar` is `<mount point>/bar`. Any other path cannot be reached through this
    /// mount, so it is taken as relative to what is visible: `/supervisor/web` is
    /// `<mount point>/supervisor/web`, which is where DESIGN.md puts an app by default.
    /// Only normal components are used: `.` and `..` are dropped (`create` refuses `..`).
    pub fn dir_of(&self, path: &Path) -> PathBuf {
        let inside = path.strip_prefix(&self.mount_root).unwrap_or(path);
        let mut dir = self.mount_point.clone();
        dir.extend(inside.components().filter_map(|component| match component {
            Component::Normal(name) => Some(name),
            _ => None,
        }));
        dir
    }

    /// Opens the cgroup `path` of an app that already runs there (its guardian died, or
    /// re-executed itself). It is ours: a guardian of this name made it, so it is
    /// removed when this one is done.
    pub fn adopt(&self, path: &Path) -> Result<AppCgroup, CgroupError> {
        let dir = self.dir_of(path);
        if !dir.is_dir() {
            return Err(CgroupError::io(
                "open",
                &dir,
                std::io::Error::from(ErrorKind::NotFound),
            ));
        }
        let freezer = match &self.freezer {
            Some(freezer) if freezer.dir_of(path).is_dir() => Some(Box::new(freezer.adopt(path)?)),
            Some(freezer) => Some(Box::new(freezer.create(path)?)),
            None => None,
        };
        Ok(AppCgroup {
            version: self.version,
            dir,
            created: true,
            freezer,
        })
    }

    /// The guardian's own cgroup: the `0::` line of `/proc/self/cgroup`. `None` on v1,
    /// where the app always gets the default placement.
    pub fn own_cgroup(&self) -> Result<Option<PathBuf>, CgroupError> {
        if self.version == Version::V1 {
            return Ok(None);
        }
        let path = Path::new(PROC_SELF_CGROUP);
        let text = read_cgroup_file(path)?;
        parse_own_v2_cgroup(&text)
            .map(Some)
            .ok_or_else(|| CgroupError::parse(path, "no \"0::\" line".into()))
    }

    /// Whether cgroup `path` was delegated to us: systemd marks a delegated cgroup with
    /// the extended attribute `trusted.delegate` (and, since v253, `user.delegate`) set
    /// to "1", for exactly this purpose: to tell the payload (systemd
    /// docs/CGROUP_DELEGATION.md).
    pub fn is_delegated(&self, path: &Path) -> bool {
        let dir = self.dir_of(path);
        DELEGATE_XATTRS.iter().any(|name| {
            let mut value = [0u8; 8];
            rustix::fs::getxattr(&dir, *name, &mut value[..]).is_ok_and(|n| &value[..n] == b"1")
        })
    }

    /// Moves the calling process into cgroup `path` ("0" is the writer itself).
    pub fn move_self_to(&self, path: &Path) -> Result<(), CgroupError> {
        write_cgroup_file(&self.dir_of(path).join(CGROUP_PROCS), "0")
    }

    /// Creates the app's cgroup `path` (and missing parents). An existing empty cgroup is
    /// reused (a guardian of this name died); one that holds processes is refused with
    /// `Populated`.
    pub fn create(&self, path: &Path) -> Result<AppCgroup, CgroupError> {
        let dir = self.dir_of(path);
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(CgroupError::io(
                "create",
                &dir,
                std::io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("cgroup path {} contains \"..\"", path.display()),
                ),
            ));
        }
        // Parents (`/supervisor`) are shared by every guardian and never removed; only the
        // leaf is ours, so it is made on its own to learn whether it already existed.
        if let Some(parent) = dir.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|source| CgroupError::io("create", parent, source))?;
        }
        let created = match DirBuilder::new().mode(0o755).create(&dir) {
            Ok(()) => true,
            Err(err) if err.kind() == ErrorKind::AlreadyExists => false,
            Err(source) => return Err(CgroupError::io("create", &dir, source)),
        };
        let mut cgroup = AppCgroup {
            version: self.version,
            dir,
            created,
            freezer: None,
        };
        if !created && cgroup.is_populated()? {
            return Err(CgroupError::Populated(cgroup.dir));
        }
        if let Some(freezer) = &self.freezer {
            cgroup.freezer = Some(Box::new(freezer.create(path)?));
        }
        Ok(cgroup)
    }
}

/// Reads `<root>/proc/self/mountinfo` and keeps the cgroup mounts that are not hidden.
fn read_visible_mounts(root: &Path) -> Result<Vec<Mount>, CgroupError> {
    let path = root.join(MOUNTINFO);
    let bytes = read_kernel_file(&path).map_err(|err| {
        CgroupError::NoHierarchy(format!("failed to read {}: {err}", path.display()))
    })?;
    let mounts = parse_mountinfo(&String::from_utf8_lossy(&bytes)).map_err(|err| {
        CgroupError::NoHierarchy(format!("failed to parse {}: {err}", path.display()))
    })?;
    Ok(visible_mounts(mounts, |mount| {
        Candidate::of(mount).is_some() || is_freezer(mount)
    }))
}

/// The best visible mount. Among mounts of one kind, one that shows the whole hierarchy
/// (mount root "/") wins over a bind mount of part of it, then the first listed.
fn choose_hierarchy(root: &Path, mounts: &[Mount]) -> Option<Hierarchy> {
    mounts
        .iter()
        .filter_map(|mount| Candidate::of(mount).map(|candidate| (candidate, mount)))
        .min_by_key(|(candidate, mount)| (*candidate, mount.root != Path::new("/")))
        .map(|(candidate, mount)| Hierarchy {
            version: candidate.version(),
            mount_point: under_root(root, &mount.mount_point),
            mount_root: mount.root.clone(),
            freezer: (candidate.version() == Version::V1)
                .then(|| freezer_of(root, mounts))
                .flatten()
                .map(Box::new),
        })
}

fn is_freezer(mount: &Mount) -> bool {
    mount.fs_type == "cgroup" && mount.has_super_option("freezer", None)
}

/// The visible v1 freezer hierarchy, whole mounts before bind mounts of a part.
fn freezer_of(root: &Path, mounts: &[Mount]) -> Option<Hierarchy> {
    mounts
        .iter()
        .filter(|mount| is_freezer(mount))
        .min_by_key(|mount| mount.root != Path::new("/"))
        .map(|mount| Hierarchy {
            version: Version::V1,
            mount_point: under_root(root, &mount.mount_point),
            mount_root: mount.root.clone(),
            freezer: None,
        })
}

/// `mount -t cgroup -o none,name=supervisor cgroup /run/supervisor/cgroup`: a v1
/// hierarchy with no controller attached, which only groups processes (cgroups(7),
/// "Mounting v1 controllers": `-o none,name=somename` makes a named hierarchy). Mounting
/// it again with the same options reuses the same hierarchy.
fn mount_supervisor_hierarchy() -> Result<(), CgroupError> {
    let target = Path::new(SUPERVISOR_MOUNT_POINT);
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(target)
        .map_err(|err| {
            CgroupError::NoHierarchy(format!("failed to create {}: {err}", target.display()))
        })?;
    let options = format!("none,name={SUPERVISOR_HIERARCHY_NAME}");
    mount(
        Some("cgroup"),
        target,
        Some("cgroup"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(options.as_str()),
    )
    .map_err(|errno| {
        CgroupError::NoHierarchy(format!(
            "failed to mount cgroup -o {options} on {}: {}",
            target.display(),
            std::io::Error::from(errno)
        ))
    })
}

/// What the app's cgroup uses.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub pids: Option<u64>,
}

/// The app's own cgroup.
#[derive(Debug)]
pub struct AppCgroup {
    version: Version,
    dir: PathBuf,
    /// Whether we made the leaf directory; only then do we remove it.
    created: bool,
    /// v1: the app's twin cgroup in the freezer hierarchy (see `Hierarchy::freezer`).
    freezer: Option<Box<AppCgroup>>,
}

impl AppCgroup {
    /// A cgroup at `dir` that we did not create, for tests against fake files.
    #[cfg(test)]
    fn at(version: Version, dir: &Path) -> AppCgroup {
        AppCgroup {
            freezer: None,
            version,
            dir: dir.to_path_buf(),
            created: false,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// `cgroup.procs`, opened for writing (close-on-exec) before a fork: the child writes
    /// "0" to it so that it enters the cgroup before exec (DESIGN.md section 4).
    pub fn open_procs_for_entry(&self) -> Result<OwnedFd, CgroupError> {
        // Writing "0" moves the writing process itself (cgroup-v2.rst "cgroup.procs";
        // the same holds on v1), so the fd needs no PID known before the fork.
        let path = self.dir.join(CGROUP_PROCS);
        open(&path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|errno| CgroupError::io("open", &path, errno.into()))
    }

    /// v1 with a freezer: the twin cgroup's `cgroup.procs`, for the child to enter it too
    /// (like [`AppCgroup::open_procs_for_entry`]). `None` otherwise.
    pub fn open_freezer_procs_for_entry(&self) -> Result<Option<OwnedFd>, CgroupError> {
        self.freezer
            .as_ref()
            .map(|freezer| freezer.open_procs_for_entry())
            .transpose()
    }

    /// v2 only: the cgroup's directory, for `clone3(CLONE_INTO_CGROUP)`, which creates
    /// the child inside the cgroup. Faster than moving it there: a move waits for an RCU
    /// grace period (the benchmark measured about 8 ms a start; clone3 about 2 ms).
    /// `None` on v1, where only the move exists.
    pub fn open_dir_for_clone(&self) -> Result<Option<OwnedFd>, CgroupError> {
        if self.version == Version::V1 {
            return Ok(None);
        }
        open(
            &self.dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(Some)
        .map_err(|errno| CgroupError::io("open", &self.dir, errno.into()))
    }

    /// v2 only: `cgroup.events`, opened for poll(2) with POLLPRI (kernel doc
    /// cgroup-v2.rst, "populated" changes raise a file modified event). `None` on v1.
    pub fn open_events(&self) -> Result<Option<OwnedFd>, CgroupError> {
        match self.version {
            // v1 has no such file; its release_agent runs a program instead of waking us.
            Version::V1 => Ok(None),
            Version::V2 => {
                let path = self.dir.join(CGROUP_EVENTS);
                open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .map(Some)
                    .map_err(|errno| CgroupError::io("open", &path, errno.into()))
            }
        }
    }

    /// Every PID in `cgroup.procs`. A read error is an error, never an empty list: an
    /// empty list would read as "the app died".
    pub fn pids(&self) -> Result<Vec<Pid>, CgroupError> {
        let path = self.dir.join(CGROUP_PROCS);
        let text = read_cgroup_file(&path)?;
        parse_pids(&text).map_err(|what| CgroupError::parse(&path, what))
    }

    /// Whether any process is left (v2: `cgroup.events` "populated"; v1: `cgroup.procs`).
    pub fn is_populated(&self) -> Result<bool, CgroupError> {
        match self.version {
            // v1 has no populated flag; `cgroup.procs` of the leaf is the whole answer,
            // as we never make child cgroups.
            Version::V1 => Ok(!self.pids()?.is_empty()),
            Version::V2 => {
                // "populated" also counts descendants (cgroup-v2.rst, "cgroup.events").
                let path = self.dir.join(CGROUP_EVENTS);
                let text = read_cgroup_file(&path)?;
                parse_populated(&text).map_err(|what| CgroupError::parse(&path, what))
            }
        }
    }

    /// SIGKILL to every process: v2 writes "1" to `cgroup.kill`; v1 kills each PID
    /// listed (one pass; call again until empty: a fork may race the read).
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        if self.version == Version::V2 {
            // cgroup.kill exists from Linux 5.14 (cgroup-v2.rst, "cgroup.kill"); it kills
            // the whole subtree atomically with respect to forks. Older kernels lack the
            // file: fall back to one PID at a time.
            let path = self.dir.join(CGROUP_KILL);
            match write_cgroup_file(&path, "1") {
                Err(CgroupError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
                done => return done,
            }
        }
        if let Some(freezer) = &self.freezer {
            return self.freeze_and_kill(freezer);
        }
        self.kill_listed(&self.pids()?)
    }

    /// v1 with a freezer: freeze the app (no fork can happen in a frozen group), SIGKILL
    /// everything listed, thaw (frozen tasks act on the signal once thawed).
    fn freeze_and_kill(&self, freezer: &AppCgroup) -> Result<(), CgroupError> {
        let state = freezer.dir.join(FREEZER_STATE);
        write_cgroup_file(&state, "FROZEN")?;
        let deadline = Instant::now() + FREEZE_PATIENCE;
        while read_cgroup_file(&state)?.trim() != "FROZEN" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut pids = freezer.pids()?;
        pids.extend(self.pids()?);
        pids.sort();
        pids.dedup();
        let killed = self.kill_listed(&pids);
        write_cgroup_file(&state, "THAWED")?;
        killed
    }

    /// SIGKILL to each PID (one pass; call again until empty: a fork may race the read).
    fn kill_listed(&self, pids: &[Pid]) -> Result<(), CgroupError> {
        for &pid in pids {
            match kill(pid, Signal::SIGKILL) {
                // ESRCH: it exited between the read and the kill, which is what we want.
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    return Err(CgroupError::Kill {
                        pid,
                        dir: self.dir.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Caps the number of processes (and threads) of the app: `pids.max` (`--pids-max`).
    /// On v2 the parent must offer the pids controller; it is enabled there for our
    /// cgroup only because the user asked, and never at the root (a host-wide setting).
    pub fn limit_pids(&self, max: u64) -> Result<(), CgroupError> {
        let file = self.dir.join(PIDS_MAX);
        if !file.exists() && self.version == Version::V2 {
            let parent = self.dir.parent().unwrap_or(&self.dir);
            let offered = read_cgroup_file(&parent.join(CGROUP_CONTROLLERS))?;
            if !offered.split_whitespace().any(|c| c == "pids") {
                return Err(CgroupError::NoController {
                    controller: "pids",
                    dir: parent.to_owned(),
                });
            }
            write_cgroup_file(&parent.join(CGROUP_SUBTREE_CONTROL), "+pids")?;
        }
        if !file.exists() {
            return Err(CgroupError::NoController {
                controller: "pids",
                dir: self.dir.clone(),
            });
        }
        write_cgroup_file(&file, &max.to_string())
    }

    /// What the app uses, from the cgroup's own files; a figure whose controller this
    /// hierarchy does not have is `None` (on a hybrid host memory and cpu live in v1).
    pub fn usage(&self) -> Usage {
        let number = |file: &str| {
            read_cgroup_file(&self.dir.join(file))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
        };
        // cpu.stat's usage_usec is there on every v2 cgroup, with or without the cpu
        // controller (cgroup-v2.rst, "cpu.stat").
        let cpu_usec = read_cgroup_file(&self.dir.join(CPU_STAT))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|line| {
                    line.strip_prefix("usage_usec ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
            });
        Usage {
            memory_bytes: number(MEMORY_CURRENT),
            cpu_seconds: cpu_usec.map(|usec| usec as f64 / 1e6),
            pids: number(PIDS_CURRENT),
        }
    }

    /// Removes the cgroup if we created it, retrying briefly on EBUSY (the kernel
    /// releases a cgroup's last tasks asynchronously).
    pub fn remove(self) -> Result<(), CgroupError> {
        if let Some(freezer) = self.freezer {
            freezer.remove()?;
        }
        if !self.created {
            return Ok(());
        }
        // rmdir fails with EBUSY while the kernel still counts a task in the cgroup, and it
        // unlinks an exiting task from its cgroup asynchronously, so EBUSY can outlive the
        // last reaped process by a moment. A short bounded wait at teardown, not a poll.
        let deadline = Instant::now() + REMOVE_PATIENCE;
        loop {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return Ok(()),
                Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
                Err(err)
                    if err.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                {
                    std::thread::sleep(REMOVE_RETRY_INTERVAL);
                }
                Err(source) => return Err(CgroupError::io("remove", &self.dir, source)),
            }
        }
    }
}

/// Reads a cgroupfs file whole, as text.
fn read_cgroup_file(path: &Path) -> Result<String, CgroupError> {
    let bytes = read_kernel_file(path).map_err(|source| CgroupError::io("read", path, source))?;
    String::from_utf8(bytes).map_err(|_| CgroupError::parse(path, "not UTF-8".to_owned()))
}

/// Reads a file the kernel generates on read (procfs, cgroupfs) whole, a page at a time.
/// Such files report a size of 0, so `fs::read` would stat the file, then probe it with
/// 32-byte reads that double in size: 9 syscalls for a 1.5 KiB mountinfo instead of
/// 2 (open and close aside). Most of these files fit one page, and for those one
/// read(2) of a fresh open is also one consistent snapshot; a longer one (the
/// `cgroup.procs` of hundreds of processes) takes several reads, as before.
fn read_kernel_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let mut bytes = Vec::new();
    let mut page = [0u8; 4096];
    loop {
        match file.read(&mut page) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&page[..n]),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Writes `value` to an existing cgroupfs file. Never with O_CREAT or O_TRUNC: cgroupfs
/// files are made by the kernel, and a missing one must show as ENOENT.
fn write_cgroup_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| file.write_all(value.as_bytes()))
        .map_err(|source| CgroupError::write(path, value, source))
}

/// The v2 line of `/proc/self/cgroup` is `0::<path>` (cgroups(7)).
fn parse_own_v2_cgroup(text: &str) -> Option<PathBuf> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(PathBuf::from)
}

/// `cgroup.procs`: one decimal PID per line. On v1 the list "is not guaranteed to be
/// sorted or free of duplicate TGIDs" (cgroup-v1 doc, section 1.3), so it is made so.
fn parse_pids(text: &str) -> Result<Vec<Pid>, String> {
    let mut pids = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| match line.parse::<i32>() {
            Ok(raw) if raw > 0 => Ok(Pid::from_raw(raw)),
            _ => Err(format!("not a PID: {line:?}")),
        })
        .collect::<Result<Vec<Pid>, String>>()?;
    pids.sort_unstable_by_key(|pid| pid.as_raw());
    pids.dedup();
    Ok(pids)
}

/// `cgroup.events`: flat keyed lines such as `populated 1` and `frozen 0`
/// (cgroup-v2.rst, "cgroup.events").
fn parse_populated(text: &str) -> Result<bool, String> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("populated "))
        .ok_or_else(|| "no \"populated\" line".to_owned())?;
    match value.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(format!("\"populated\" is {other:?}, not 0 or 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cgroup lines of this project's own hybrid test host (systemd-less, v1
    /// controllers under a tmpfs, cgroup2 beside them), preceded by a root and /sys.
    const HYBRID: &str = "\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd host booted with the unified hierarchy only (Debian 12, Fedora 31+).
    const PURE_V2: &str = "\
24 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
25 24 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
29 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
30 25 0:27 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
";

    /// A legacy host (CentOS 7 style): v1 only, `pids` combined with nothing else.
    const LEGACY_WITH_PIDS: &str = "\
18 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/centos-root rw,attr2,inode64,noquota
19 18 0:18 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 19 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpuacct,cpu
33 24 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
";

    /// A v1 host whose kernel predates `pids` (Linux < 4.3) but runs systemd.
    const LEGACY_SYSTEMD_ONLY: &str = "\
18 1 253:0 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
24 19 0:20 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:7 - tmpfs tmpfs rw,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
26 24 0:22 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,memory
";

    #[test]
    fn finds_the_v2_line_of_proc_self_cgroup() {
        let hybrid = "9:name=systemd:/\n8:pids:/\n0::/system.slice/web.service\n";
        assert_eq!(
            parse_own_v2_cgroup(hybrid),
            Some(PathBuf::from("/system.slice/web.service"))
        );
        assert_eq!(parse_own_v2_cgroup("8:pids:/\n"), None);
    }

    fn fake_root(mountinfo: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("proc/self");
        std::fs::create_dir_all(&dir).expect("fake /proc/self");
        std::fs::write(dir.join("mountinfo"), mountinfo).expect("fake mountinfo");
        root
    }

    fn detect_in(mountinfo: &str) -> (tempfile::TempDir, Result<Hierarchy, CgroupError>) {
        let root = fake_root(mountinfo);
        let detected = Hierarchy::detect_under(root.path());
        (root, detected)
    }

    fn expect_hierarchy(mountinfo: &str, version: Version, mount_point: &str) -> Hierarchy {
        let (root, detected) = detect_in(mountinfo);
        let hierarchy = detected.expect("a hierarchy");
        assert_eq!(hierarchy.version, version);
        assert_eq!(hierarchy.mount_point, root.path().join(mount_point));
        assert_eq!(hierarchy.mount_root, PathBuf::from("/"));
        hierarchy
    }

    #[test]
    fn chooses_the_cgroup2_mount_of_a_hybrid_host() {
        expect_hierarchy(HYBRID, Version::V2, "sys/fs/cgroup/unified");
    }

    #[test]
    fn chooses_cgroup2_at_sys_fs_cgroup_on_a_pure_v2_host() {
        expect_hierarchy(PURE_V2, Version::V2, "sys/fs/cgroup");
    }

    #[test]
    fn chooses_the_pids_hierarchy_on_a_legacy_host() {
        let hierarchy = expect_hierarchy(LEGACY_WITH_PIDS, Version::V1, "sys/fs/cgroup/pids");
        assert_eq!(hierarchy.freezer, None, "this host mounts no freezer");
    }

    #[test]
    fn a_v1_hierarchy_brings_the_freezer_along_where_one_is_mounted() {
        let with_freezer = format!(
            "{LEGACY_WITH_PIDS}34 24 0:30 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer\n"
        );
        let (root, detected) = detect_in(&with_freezer);
        let freezer = detected.expect("a hierarchy").freezer.expect("the freezer");
        assert_eq!(
            freezer.mount_point,
            root.path().join("sys/fs/cgroup/freezer")
        );
        // A v2 host has cgroup.kill: no freezer, even where a v1 one is mounted (hybrid).
        let (_, hybrid) = detect_in(HYBRID);
        assert_eq!(hybrid.expect("a hierarchy").freezer, None);
    }

    #[test]
    fn chooses_name_systemd_on_a_legacy_host_without_pids() {
        expect_hierarchy(LEGACY_SYSTEMD_ONLY, Version::V1, "sys/fs/cgroup/systemd");
    }

    #[test]
    fn reuses_a_name_supervisor_hierarchy_mounted_earlier() {
        let mountinfo = "\
18 1 253:0 / / rw,relatime - ext4 /dev/sda1 rw
40 18 0:50 / /run/supervisor/cgroup rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=supervisor
";
        expect_hierarchy(mountinfo, Version::V1, "run/supervisor/cgroup");
    }

    #[test]
    fn skips_a_cgroup2_mount_hidden_by_a_later_tmpfs_over_its_parent() {
        // Someone mounted a fresh tmpfs on /sys/fs/cgroup and v1 hierarchies into it
        // after cgroup2 was mounted at /sys/fs/cgroup/unified: that cgroup2 mount is
        // still listed but no longer reachable by path.
        let mountinfo = "\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
31 22 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 22 0:40 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
51 50 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
";
        expect_hierarchy(mountinfo, Version::V1, "sys/fs/cgroup/pids");
    }

    #[test]
    fn fails_with_no_hierarchy_when_every_cgroup_mount_is_hidden() {
        let mountinfo = "\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
41 22 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
50 22 0:40 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
";
        let (_root, detected) = detect_in(mountinfo);
        let err = detected.expect_err("nothing visible");
        assert!(matches!(err, CgroupError::NoHierarchy(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("no usable cgroup hierarchy: "),
            "{err}"
        );
    }

    #[test]
    fn fails_with_no_hierarchy_when_mountinfo_is_missing() {
        let root = tempfile::tempdir().expect("temp dir");
        let err = Hierarchy::detect_under(root.path()).expect_err("no mountinfo");
        assert!(matches!(err, CgroupError::NoHierarchy(_)), "{err:?}");
        assert!(err.to_string().contains("proc/self/mountinfo"), "{err}");
    }

    #[test]
    fn unescapes_a_mount_point_with_a_space() {
        let mountinfo = "\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
41 22 0:38 / /mnt/my\\040cgroups rw,relatime - cgroup2 cgroup2 rw
";
        expect_hierarchy(mountinfo, Version::V2, "mnt/my cgroups");
    }

    #[test]
    fn prefers_a_mount_of_the_whole_hierarchy_over_a_bind_mount_of_part() {
        let mountinfo = "\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
60 22 0:26 /system.slice /mnt/slice rw,relatime - cgroup2 cgroup2 rw
29 22 0:26 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
";
        expect_hierarchy(mountinfo, Version::V2, "sys/fs/cgroup");
    }

    #[test]
    fn finds_cgroups_below_the_mount_root_of_a_bind_mount() {
        // A container without a cgroup namespace sees its own part of the host's tree:
        // the mount root is /docker/abc and /proc/self/cgroup names /docker/abc/...
        let mountinfo = "\
700 600 0:58 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
710 700 0:26 /docker/abc\\040def /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
";
        let (root, detected) = detect_in(mountinfo);
        let hierarchy = detected.expect("a hierarchy");
        let mount_point = root.path().join("sys/fs/cgroup");
        assert_eq!(hierarchy.mount_root, PathBuf::from("/docker/abc def"));
        assert_eq!(
            hierarchy.dir_of(Path::new("/docker/abc def/app")),
            mount_point.join("app")
        );
        assert_eq!(hierarchy.dir_of(Path::new("/docker/abc def")), mount_point);
        // Outside the visible part: taken as relative to the mount point, as documented.
        assert_eq!(
            hierarchy.dir_of(Path::new("/supervisor/web")),
            mount_point.join("supervisor/web")
        );
        // Ancestry is by component: /docker/abc defx is not under /docker/abc def.
        assert_eq!(
            hierarchy.dir_of(Path::new("/docker/abc defx")),
            mount_point.join("docker/abc defx")
        );
    }

    #[test]
    fn places_cgroups_under_the_mount_point_when_the_whole_hierarchy_is_shown() {
        let hierarchy = expect_hierarchy(HYBRID, Version::V2, "sys/fs/cgroup/unified");
        let dir = hierarchy.dir_of(Path::new("/supervisor/web"));
        assert!(
            dir.ends_with("sys/fs/cgroup/unified/supervisor/web"),
            "{dir:?}"
        );
        assert_eq!(hierarchy.dir_of(Path::new("supervisor/./web")), dir);
    }

    fn fake_hierarchy(dir: &Path, version: Version) -> Hierarchy {
        Hierarchy {
            freezer: None,
            version,
            mount_point: dir.to_path_buf(),
            mount_root: PathBuf::from("/"),
        }
    }

    #[test]
    fn creates_a_missing_cgroup_with_its_parents_and_removes_only_the_leaf() {
        let mount = tempfile::tempdir().expect("temp dir");
        let hierarchy = fake_hierarchy(mount.path(), Version::V1);
        let cgroup = hierarchy
            .create(Path::new("/supervisor/web"))
            .expect("created");
        assert!(cgroup.created);
        assert_eq!(cgroup.dir(), mount.path().join("supervisor/web"));
        assert!(cgroup.dir().is_dir());
        cgroup.remove().expect("removed");
        assert!(!mount.path().join("supervisor/web").exists());
        assert!(mount.path().join("supervisor").is_dir());
    }

    #[test]
    fn reuses_an_existing_empty_cgroup_and_leaves_it_in_place() {
        let mount = tempfile::tempdir().expect("temp dir");
        let dir = mount.path().join("supervisor/web");
        std::fs::create_dir_all(&dir).expect("existing cgroup");
        std::fs::write(dir.join(CGROUP_EVENTS), "populated 0\nfrozen 0\n").expect("events");
        let cgroup = fake_hierarchy(mount.path(), Version::V2)
            .create(Path::new("/supervisor/web"))
            .expect("reused");
        assert!(!cgroup.created);
        cgroup.remove().expect("nothing to do");
        assert!(dir.is_dir(), "a cgroup we did not create stays");
    }

    #[test]
    fn refuses_an_existing_cgroup_that_holds_processes() {
        let mount = tempfile::tempdir().expect("temp dir");
        let dir = mount.path().join("supervisor/web");
        std::fs::create_dir_all(&dir).expect("existing cgroup");
        std::fs::write(dir.join(CGROUP_PROCS), "4242\n").expect("procs");
        let err = fake_hierarchy(mount.path(), Version::V1)
            .create(Path::new("/supervisor/web"))
            .expect_err("populated");
        assert!(
            matches!(&err, CgroupError::Populated(found) if *found == dir),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cgroup {} already holds processes (another instance is running?)",
                dir.display()
            )
        );
    }

    #[test]
    fn refuses_a_cgroup_path_that_climbs_out_with_dot_dot() {
        let mount = tempfile::tempdir().expect("temp dir");
        let err = fake_hierarchy(mount.path(), Version::V2)
            .create(Path::new("/supervisor/../../etc"))
            .expect_err("dot dot");
        assert!(err.to_string().contains("contains \"..\""), "{err}");
    }

    fn fake_cgroup(version: Version, files: &[(&str, &str)]) -> (tempfile::TempDir, AppCgroup) {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("fake cgroup file");
        }
        let cgroup = AppCgroup::at(version, dir.path());
        (dir, cgroup)
    }

    #[test]
    fn lists_pids_sorted_and_without_duplicates() {
        let (_dir, cgroup) = fake_cgroup(Version::V1, &[(CGROUP_PROCS, "300\n12\n300\n7\n")]);
        assert_eq!(
            cgroup.pids().expect("pids"),
            [7, 12, 300].map(Pid::from_raw)
        );
        assert!(cgroup.is_populated().expect("populated"));
    }

    #[test]
    fn reads_an_empty_procs_file_as_no_processes() {
        let (_dir, cgroup) = fake_cgroup(Version::V1, &[(CGROUP_PROCS, "")]);
        assert_eq!(cgroup.pids().expect("pids"), []);
        assert!(!cgroup.is_populated().expect("populated"));
    }

    #[test]
    fn reports_a_missing_procs_file_as_an_error_not_as_empty() {
        let (dir, cgroup) = fake_cgroup(Version::V1, &[]);
        let err = cgroup.pids().expect_err("no cgroup.procs");
        let path = dir.path().join(CGROUP_PROCS);
        assert!(
            matches!(&err, CgroupError::Io { op: "read", path: p, .. } if *p == path),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("failed to read {}: ", path.display())),
            "{err}"
        );
        assert!(cgroup.is_populated().is_err());
    }

    #[test]
    fn reports_garbage_in_the_procs_file_with_its_path() {
        let (dir, cgroup) = fake_cgroup(Version::V1, &[(CGROUP_PROCS, "12\nabc\n")]);
        let err = cgroup.pids().expect_err("garbage");
        assert_eq!(
            err.to_string(),
            format!(
                "failed to parse {}: not a PID: \"abc\"",
                dir.path().join(CGROUP_PROCS).display()
            )
        );
    }

    #[test]
    fn reads_populated_from_cgroup_events_on_v2() {
        let (_dir, cgroup) = fake_cgroup(
            Version::V2,
            // cgroup.procs disagrees on purpose: v2 must ask cgroup.events.
            &[
                (CGROUP_EVENTS, "populated 1\nfrozen 0\n"),
                (CGROUP_PROCS, ""),
            ],
        );
        assert!(cgroup.is_populated().expect("populated"));
        let (_dir, cgroup) = fake_cgroup(
            Version::V2,
            &[
                (CGROUP_EVENTS, "frozen 0\npopulated 0\n"),
                (CGROUP_PROCS, "5\n"),
            ],
        );
        assert!(!cgroup.is_populated().expect("populated"));
    }

    #[test]
    fn reports_cgroup_events_without_a_populated_line() {
        let (_dir, cgroup) = fake_cgroup(Version::V2, &[(CGROUP_EVENTS, "frozen 0\n")]);
        let err = cgroup.is_populated().expect_err("no populated line");
        assert!(err.to_string().contains("no \"populated\" line"), "{err}");
        let (_dir, cgroup) = fake_cgroup(Version::V2, &[(CGROUP_EVENTS, "populated yes\n")]);
        assert!(cgroup.is_populated().is_err());
    }

    #[test]
    fn opens_events_only_on_v2() {
        let (_dir, cgroup) = fake_cgroup(Version::V1, &[]);
        assert!(cgroup.open_events().expect("v1").is_none());
        let (_dir, cgroup) = fake_cgroup(Version::V2, &[(CGROUP_EVENTS, "populated 0\n")]);
        assert!(cgroup.open_events().expect("v2").is_some());
    }

    #[test]
    fn writes_one_to_cgroup_kill_on_v2() {
        let (dir, cgroup) = fake_cgroup(Version::V2, &[(CGROUP_KILL, "")]);
        cgroup.kill_all().expect("killed");
        let written = std::fs::read_to_string(dir.path().join(CGROUP_KILL)).expect("read back");
        assert_eq!(written, "1");
    }

    #[test]
    fn falls_back_to_the_procs_list_without_cgroup_kill() {
        // An empty list, so the fallback kills nothing; a missing cgroup.procs shows that
        // it was read.
        let (_dir, cgroup) = fake_cgroup(Version::V2, &[(CGROUP_PROCS, "")]);
        cgroup.kill_all().expect("nothing to kill");
        let (dir, cgroup) = fake_cgroup(Version::V2, &[]);
        let err = cgroup.kill_all().expect_err("no cgroup.procs either");
        assert!(
            err.to_string()
                .contains(&dir.path().join(CGROUP_PROCS).display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn reads_a_cgroup_file_longer_than_a_page_whole() {
        // The cgroup.procs of two thousand processes: several reads of a page each.
        let procs: String = (100_000..102_000).map(|pid| format!("{pid}\n")).collect();
        assert!(procs.len() > 3 * 4096);
        let (_dir, cgroup) = fake_cgroup(Version::V2, &[(CGROUP_PROCS, &procs)]);
        let pids = cgroup.pids().expect("readable");
        assert_eq!(pids.len(), 2000);
        assert_eq!(pids.last(), Some(&Pid::from_raw(101_999)));
    }

    #[test]
    fn a_cgroup_file_that_is_not_utf8_is_a_parse_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(CGROUP_EVENTS);
        std::fs::write(&path, b"populated \xff\n").expect("written");
        let err = read_cgroup_file(&path).expect_err("not UTF-8");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn names_the_path_and_the_value_of_a_failed_write() {
        let err = CgroupError::write(
            Path::new("/sys/fs/cgroup/unified/supervisor/web/cgroup.kill"),
            "1",
            std::io::Error::from_raw_os_error(libc::EACCES),
        );
        assert_eq!(
            err.to_string(),
            "failed to write \"1\" to /sys/fs/cgroup/unified/supervisor/web/cgroup.kill: \
             Permission denied (os error 13)"
        );
    }
}
