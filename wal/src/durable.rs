//! Every call that asks the kernel to make something durable: `msync` of a
//! mapped range, `fdatasync` or `fsync` of a file, `fsync` of a directory.
//! They all pass through here so that unit tests can see what was synced
//! and make any one of them fail as a disk error would (`hook`, compiled
//! into the crate's unit tests only; release code calls the kernel
//! directly).

use std::fs::File;
use std::path::Path;

use memmap2::MmapMut;

use crate::error::{Error, Result};

/// Which call made something durable.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// `msync(MS_SYNC)` of a range of a writable map.
    Msync,
    /// `fdatasync` of a whole file.
    Fdatasync,
    /// `fsync` of a whole file (data and metadata).
    Fsync,
    /// `fsync` of a directory (its entries).
    FsyncDir,
}

/// Makes `[from, from + len)` of `map` (a map of `path`) durable.
pub fn msync(map: &MmapMut, path: &Path, from: usize, len: usize) -> Result<()> {
    let range = Some(from as u64..from.saturating_add(len) as u64);
    run(SyncKind::Msync, path, range, || map.flush_range(from, len)).map_err(Error::io("msync", path))
}

/// Makes the data of the file at `path` durable (opened read-only: the
/// page cache is the file's, whichever descriptor or map wrote it).
pub fn fdatasync(path: &Path) -> Result<()> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    run(SyncKind::Fdatasync, path, None, || file.sync_data()).map_err(Error::io("fdatasync", path))
}

/// Makes an open file's data and metadata durable.
pub fn fsync(file: &File, path: &Path) -> Result<()> {
    run(SyncKind::Fsync, path, None, || file.sync_all()).map_err(Error::io("fsync", path))
}

/// Fsyncs a directory, so entries created, renamed or removed in it are
/// durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let file = File::open(dir).map_err(Error::io("open directory", dir))?;
    run(SyncKind::FsyncDir, dir, None, || file.sync_all()).map_err(Error::io("fsync directory", dir))
}

#[cfg(not(test))]
fn run(
    _: SyncKind,
    _: &Path,
    _: Option<std::ops::Range<u64>>,
    call: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    call()
}

#[cfg(test)]
use hook::run;

/// The test hook: a per-thread log of every sync that succeeded, and an
/// optional one-shot failure. Per thread, since the test harness runs
/// tests in parallel threads and each `Wal` is used from its test's thread.
#[cfg(test)]
pub mod hook {
    use std::cell::RefCell;
    use std::io;
    use std::ops::Range;
    use std::path::{Path, PathBuf};

    use super::SyncKind;

    /// One sync that returned success.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Synced {
        /// The call.
        pub kind: SyncKind,
        /// The file or directory.
        pub path: PathBuf,
        /// The byte range for `msync`; `None`: the whole file.
        pub range: Option<Range<u64>>,
    }

    impl Synced {
        /// Whether this sync made bytes `range` of `path` durable.
        pub fn covers(&self, path: &Path, range: &Range<u64>) -> bool {
            let data = matches!(self.kind, SyncKind::Msync | SyncKind::Fdatasync | SyncKind::Fsync);
            let inside = self.range.as_ref().is_none_or(|r| r.start <= range.start && range.end <= r.end);
            data && self.path == path && inside
        }
    }

    type Matcher = Box<dyn Fn(&Synced) -> bool>;

    thread_local! {
        static LOG: RefCell<Vec<Synced>> = const { RefCell::new(Vec::new()) };
        static FAIL: RefCell<Option<Matcher>> = const { RefCell::new(None) };
    }

    /// Takes (and clears) the log of syncs this thread performed.
    pub fn take_log() -> Vec<Synced> {
        LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
    }

    /// The next sync on this thread that `matches` fails with EIO, without
    /// calling the kernel; later ones run normally.
    pub fn fail_next(matches: impl Fn(&Synced) -> bool + 'static) {
        FAIL.with(|f| *f.borrow_mut() = Some(Box::new(matches)));
    }

    /// Whether a failure set by [`fail_next`] has not fired yet.
    pub fn failure_pending() -> bool {
        FAIL.with(|f| f.borrow().is_some())
    }

    pub(super) fn run(
        kind: SyncKind,
        path: &Path,
        range: Option<Range<u64>>,
        call: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let synced = Synced { kind, path: path.to_path_buf(), range };
        let fire = FAIL.with(|f| {
            let mut f = f.borrow_mut();
            let fire = f.as_ref().is_some_and(|m| m(&synced));
            if fire {
                *f = None;
            }
            fire
        });
        if fire {
            return Err(io::Error::from_raw_os_error(5));
        }
        call()?;
        LOG.with(|log| log.borrow_mut().push(synced));
        Ok(())
    }
}
