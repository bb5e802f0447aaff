//! Opening a log: lock the directory, replay it (`recovery`), repair a torn
//! tail, and make everything recovered durable before handing it out.

use std::path::Path;

use super::{remove_files, Closed, Wal, WalOptions};
use crate::durable::{self, sync_dir};
use crate::error::{Error, Result};
use crate::format::SegmentHeader;
use crate::lock::DirLock;
use crate::recovery::{self, Recovered, Scan};
use crate::segment::Segment;

impl Wal {
    /// Opens (recovers) the log in `dir`: takes the directory lock, replays
    /// every segment, cuts a torn tail, makes everything it recovered
    /// durable, and returns the log ready to append with what it
    /// recovered. A new log records `options.identity`; an existing one
    /// must record the same ([`Error::WrongIdentity`] otherwise). Fails
    /// without changing anything on corruption, a foreign or newer-version
    /// file, another identity, or a held lock.
    ///
    /// The recovered records may never have been synced: a process killed
    /// (`kill -9`) after writing them through the map leaves them in the
    /// page cache only, where the next open reads them. A server acts on
    /// what open returns (votes, acknowledges, applies), so open syncs it
    /// all once before returning; if that sync fails, open fails with
    /// [`Error::RecoverySync`] and returns no `Wal`.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<(Wal, Recovered)> {
        let dir = dir.as_ref();
        options.validate()?;
        prepare_dir(dir, options.create_dir)?;
        let lock = DirLock::acquire(dir)?;
        let scan = recovery::scan(dir, Some(options.identity))?;
        let new_log = scan.segments.is_empty();
        let legacy = !new_log && scan.recovered.identity.is_none();
        let (mut wal, mut recovered) = Wal::resume(dir, options, lock, scan)?;
        wal.sync_recovered(new_log)
            .map_err(|e| Error::RecoverySync { dir: dir.to_path_buf(), source: Box::new(e) })?;
        if legacy {
            wal.adopt_identity()?;
            recovered.report.identity_adopted = true;
        }
        Ok((wal, recovered))
    }

    /// Reads the log in `dir` the way `open` would, without taking the lock
    /// or changing anything (for inspection tools).
    pub fn recover_read_only(dir: impl AsRef<Path>) -> Result<Recovered> {
        let dir = dir.as_ref();
        prepare_dir(dir, false)?;
        Ok(recovery::scan(dir, None)?.recovered)
    }

    fn resume(dir: &Path, options: WalOptions, lock: DirLock, scan: Scan) -> Result<(Wal, Recovered)> {
        let Scan { recovered, mut segments, bounds, stale_tmp } = scan;
        remove_files(dir, stale_tmp.iter().chain(&recovered.report.segments_discarded))?;
        let hard_state = segments.iter().any(|s| s.has_hard_state).then_some(recovered.hard_state);
        let (active, active_has_hard_state) = match segments.pop() {
            None => {
                let (segment_size, identity) = (options.segment_size, Some(options.identity));
                let header = SegmentHeader { sequence: 1, first_index: 0, segment_size, identity };
                (Segment::create(dir, header)?, false)
            }
            Some(last) => {
                let mut active = Segment::open(last.path, last.header, last.end)?;
                if let Some(torn) = &recovered.report.torn_tail {
                    tracing::warn!(target: "wal", path = %torn.path.display(), offset = torn.offset,
                        bytes = torn.bytes_cut, reason = torn.reason, "cutting torn tail");
                    active.zero_and_sync(last.end, torn.bytes_cut as usize)?;
                }
                (active, last.has_hard_state)
            }
        };
        let closed = segments
            .into_iter()
            .map(|s| Closed { path: s.path, header: s.header, has_hard_state: s.has_hard_state })
            .collect();
        let wal = Wal {
            dir: dir.to_path_buf(),
            options,
            closed,
            active,
            active_has_hard_state,
            bounds,
            hard_state,
            poisoned: false,
            _lock: lock,
        };
        Ok((wal, recovered))
    }

    /// A log of format version 1 records no identity: it becomes this
    /// `Wal`'s, recorded right away by rolling to a new (version 2)
    /// segment, synced, so a later open with another identity is refused.
    /// The version-1 segments stay readable until compaction drops them.
    fn adopt_identity(&mut self) -> Result<()> {
        tracing::warn!(target: "wal", dir = %self.dir.display(), identity = %self.options.identity,
            "log of format version 1 records no identity: adopting the one given");
        self.roll()?;
        self.active.sync()
    }

    /// Makes everything recovered durable: each closed segment's file
    /// (`fdatasync`; closed segments were synced when the log rolled past
    /// them, but a log written before open synced its recovery may hold
    /// unsynced records anywhere), the active segment's records (`msync`
    /// of the map up to the write position), then the directory. The
    /// directory is synced whether or not this open changed it: a run
    /// killed between a segment's rename and its directory fsync leaves a
    /// name that is not durable yet. A new log syncs the parent directory
    /// too, in case the run that created the directory died before that.
    ///
    /// Cost: one flush per segment even when nothing is dirty (about 3 ms
    /// each on a virtual disk), paid once per open.
    fn sync_recovered(&mut self, new_log: bool) -> Result<()> {
        for closed in &self.closed {
            durable::fdatasync(&closed.path)?;
        }
        self.active.sync_written()?;
        sync_dir(&self.dir)?;
        match self.dir.parent() {
            Some(parent) if new_log && parent.as_os_str().is_empty() => sync_dir(Path::new(".")),
            Some(parent) if new_log => sync_dir(parent),
            _ => Ok(()),
        }
    }
}

/// Checks that `dir` is a directory, creating it if asked to (its name in
/// the parent is made durable with the new log's first segment, in
/// `sync_recovered`).
fn prepare_dir(dir: &Path, create: bool) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::NotADir(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingDir(dir.to_path_buf())),
        Err(e) => Err(Error::io("stat", dir)(e)),
    }
}
