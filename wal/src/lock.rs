//! The directory lock: an exclusive `flock` on `LOCK` in the log directory,
//! held for the `Wal`'s life, so no second writer (another process, or a
//! second `Wal` in this one) appends to or truncates mapped segments.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::error::{Error, Result};
use crate::format::LOCK_FILE;

/// Holds the lock until dropped (closing the file releases it).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock without waiting; `Error::Locked` if it is held.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io("open lock file", &path))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(Error::Locked(dir.to_path_buf())),
            Err(e) => Err(Error::io("flock", &path)(e.into())),
        }
    }
}
