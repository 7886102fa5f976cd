//! One name, one guardian: an `flock` on `/run/supervisor/<name>.lock`, held for the
//! guardian's whole life (DESIGN.md section 4).
//!
//! The lock file holds the holder's PID, so a second guardian can name it. The file is
//! never removed: removing a lock file races with the next guardian opening it.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

pub const RUN_DIR: &str = "/run/supervisor";

pub struct InstanceLock {
    lock: Flock<File>,
}

impl InstanceLock {
    pub fn acquire(name: &str) -> Result<InstanceLock> {
        Self::acquire_in(Path::new(RUN_DIR), name)
    }

    fn acquire_in(dir: &Path, name: &str) -> Result<InstanceLock> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let path: PathBuf = dir.join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("failed to open {}", path.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                bail!(
                    "another guardian named '{name}' is running (PID {}; lock {})",
                    holder.trim(),
                    path.display()
                );
            }
            Err((_, errno)) => {
                return Err(errno).with_context(|| format!("failed to lock {}", path.display()));
            }
        };
        // One write at the start, and a truncation only when a stale holder's PID was
        // longer: a truncation to zero makes ext4 flush the file on close (auto_da_alloc).
        let line = format!("{}\n", std::process::id());
        lock.write_all_at(line.as_bytes(), 0)
            .and_then(|()| lock.metadata())
            .and_then(|metadata| {
                if metadata.len() > line.len() as u64 {
                    lock.set_len(line.len() as u64)
                } else {
                    Ok(())
                }
            })
            .with_context(|| format!("failed to write {}", path.display()))?;
        Ok(InstanceLock { lock })
    }

    /// The lock a re-executed guardian inherited (`reexec`): flock(2) locks belong to the
    /// open file description, which exec keeps. Close-on-exec again, so no app sees it.
    pub fn inherited(fd: RawFd) -> Result<InstanceLock> {
        // SAFETY: the descriptor was passed by the image we replaced, which held the lock
        // on it; nothing else in this process owns it.
        let file = unsafe { File::from_raw_fd(fd) };
        nix::fcntl::fcntl(
            &file,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .context("failed to keep the inherited lock from the app")?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| errno)
            .context("failed to hold the inherited lock")?;
        Ok(InstanceLock { lock })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.lock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_guardian_of_the_same_name_is_refused_and_told_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _first = InstanceLock::acquire_in(dir.path(), "web").expect("first lock");
        let error = InstanceLock::acquire_in(dir.path(), "web")
            .err()
            .expect("second lock refused");
        let message = format!("{error:#}");
        assert!(
            message.contains(&std::process::id().to_string()),
            "{message}"
        );
        InstanceLock::acquire_in(dir.path(), "other").expect("another name is free");
    }

    #[test]
    fn a_stale_lock_file_is_left_holding_our_pid_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("web.lock");
        std::fs::write(&path, "4194304\nleft by a guardian that died\n").expect("stale file");
        let _lock = InstanceLock::acquire_in(dir.path(), "web").expect("lock");
        let written = std::fs::read_to_string(&path).expect("read back");
        assert_eq!(written, format!("{}\n", std::process::id()));
    }
}
