//! The guardian's own pid file (`-p`): written atomically, removed on exit.
//!
//! Atomic (a temporary file renamed over the path), so an init script never reads a
//! half-written PID.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A written pid file; [`PidFile::remove`] deletes it.
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    pub fn write(path: &Path) -> Result<PidFile> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(format!(".{}.tmp", std::process::id()));
        let temporary = PathBuf::from(temporary);
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temporary)
            .and_then(|mut file| writeln!(file, "{}", std::process::id()))
            .and_then(|()| std::fs::rename(&temporary, path));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(error)
                .with_context(|| format!("failed to write pid file {}", path.display()));
        }
        Ok(PidFile {
            path: path.to_owned(),
        })
    }

    pub fn remove(self) -> Result<()> {
        std::fs::remove_file(&self.path)
            .with_context(|| format!("failed to remove pid file {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_our_pid_and_is_gone_after_remove() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("guardian.pid");
        let pidfile = PidFile::write(&path).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        assert_eq!(text, format!("{}\n", std::process::id()));
        pidfile.remove().expect("removed");
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn an_unwritable_directory_is_a_clear_error() {
        let error = PidFile::write(Path::new("/nonexistent-dir-x9/guardian.pid"))
            .err()
            .expect("refused");
        assert!(format!("{error:#}").contains("/nonexistent-dir-x9/guardian.pid"));
    }
}
