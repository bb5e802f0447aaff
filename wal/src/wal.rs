//! The `Wal`: open (lock, recover, repair), append, hard state, sync (group
//! commit), truncate, compact, segment roll-over.

use std::path::{Path, PathBuf};

use crate::bounds::Bounds;
use crate::error::{Error, Result};
use crate::format::{SegmentHeader, HEADER_LEN};
use crate::lock::DirLock;
use crate::record::{Entry, HardState, RecordRef};
use crate::recovery::{self, Recovered, Scan};
use crate::segment::{sync_dir, Segment};

/// Smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: u64 = 4096;

/// How to open a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// Size each new segment file is preallocated to (default 64 MiB). A
    /// record must fit in one segment.
    pub segment_size: u64,
    /// Create the directory if it is missing (default `false`: a wrong path
    /// should not silently start an empty log).
    pub create_dir: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: 64 << 20, create_dir: false }
    }
}

impl WalOptions {
    fn validate(&self) -> Result<()> {
        if self.segment_size < MIN_SEGMENT_SIZE || self.segment_size > u64::from(u32::MAX) {
            let msg = format!("segment_size {} is outside {MIN_SEGMENT_SIZE}..=2^32-1", self.segment_size);
            return Err(Error::Options(msg));
        }
        Ok(())
    }
}

/// A closed (full) segment: still on disk until compaction drops it.
#[derive(Debug)]
struct Closed {
    path: PathBuf,
    header: SegmentHeader,
    has_hard_state: bool,
}

/// An open write-ahead log. See the crate docs.
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    closed: Vec<Closed>,
    active: Segment,
    active_has_hard_state: bool,
    bounds: Bounds,
    hard_state: Option<HardState>,
    poisoned: bool,
    /// Tests only: the next `sync` fails as if the kernel reported EIO.
    #[cfg(test)]
    fail_next_sync: bool,
    // Declared last so it is dropped last: the maps go before the lock.
    _lock: DirLock,
}

impl Wal {
    /// Opens (recovers) the log in `dir`: takes the directory lock, replays
    /// every segment, cuts a torn tail, and returns the log ready to append
    /// with what it recovered. Fails without changing anything on
    /// corruption, a foreign or newer-version file, or a held lock.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<(Wal, Recovered)> {
        let dir = dir.as_ref();
        options.validate()?;
        prepare_dir(dir, options.create_dir)?;
        let lock = DirLock::acquire(dir)?;
        let scan = recovery::scan(dir)?;
        Wal::resume(dir, options, lock, scan)
    }

    /// Reads the log in `dir` the way `open` would, without taking the lock
    /// or changing anything (for inspection tools).
    pub fn recover_read_only(dir: impl AsRef<Path>) -> Result<Recovered> {
        let dir = dir.as_ref();
        prepare_dir(dir, false)?;
        Ok(recovery::scan(dir)?.recovered)
    }

    fn resume(dir: &Path, options: WalOptions, lock: DirLock, scan: Scan) -> Result<(Wal, Recovered)> {
        let Scan { recovered, mut segments, bounds, stale_tmp } = scan;
        remove_files(dir, stale_tmp.iter().chain(&recovered.report.segments_discarded))?;
        let hard_state = segments.iter().any(|s| s.has_hard_state).then_some(recovered.hard_state);
        let (active, active_has_hard_state) = match segments.pop() {
            None => {
                let header =
                    SegmentHeader { sequence: 1, first_index: 0, segment_size: options.segment_size };
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
            #[cfg(test)]
            fail_next_sync: false,
            _lock: lock,
        };
        Ok((wal, recovered))
    }

    /// Appends entries (not yet durable: call [`Wal::sync`]). An entry at
    /// index `i` replaces every entry from `i` on; an entry may not leave a
    /// gap after the last index. The whole batch is checked before any of
    /// it is written.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        self.check_writable()?;
        let mut check = self.bounds;
        for e in entries {
            check.check_entry(e.index)?;
            check.on_entry(e.index);
        }
        for e in entries {
            self.write(&RecordRef::Entry { index: e.index, term: e.term, data: &e.data })?;
            self.bounds.on_entry(e.index);
        }
        Ok(())
    }

    /// Records a new hard state (durable after the next [`Wal::sync`]).
    pub fn set_hard_state(&mut self, hard_state: HardState) -> Result<()> {
        self.check_writable()?;
        self.write(&RecordRef::HardState(hard_state))?;
        self.active_has_hard_state = true;
        self.hard_state = Some(hard_state);
        Ok(())
    }

    /// Removes every entry from `from_index` on (durable after the next
    /// [`Wal::sync`]).
    pub fn truncate_suffix(&mut self, from_index: u64) -> Result<()> {
        self.check_writable()?;
        if from_index == 0 {
            return Err(Error::ZeroIndex);
        }
        self.write(&RecordRef::Truncate { from_index })?;
        self.bounds.on_truncate(from_index);
        Ok(())
    }

    /// Makes everything written since the last sync durable, with one
    /// `msync` (group commit). Returns only after the kernel confirmed. A
    /// failure poisons the `Wal`: an fsync is never retried, since the
    /// kernel may have dropped the dirty pages it could not write.
    pub fn sync(&mut self) -> Result<()> {
        self.check_writable()?;
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next_sync) {
            self.poisoned = true;
            return Err(Error::io("msync", self.active.path())(std::io::Error::from_raw_os_error(5)));
        }
        let result = self.active.sync();
        self.poisoned |= result.is_err();
        result
    }

    /// Deletes whole closed segments all of whose live entries are at or
    /// below `up_to_index` (the caller has them in a snapshot). Never drops
    /// the segment holding the latest hard state, nor the active segment.
    /// Returns how many segments were removed.
    pub fn compact_prefix(&mut self, up_to_index: u64) -> Result<usize> {
        self.check_writable()?;
        let last_with_hard_state = if self.active_has_hard_state {
            Some(self.closed.len())
        } else {
            self.closed.iter().rposition(|c| c.has_hard_state)
        };
        let mut n = 0;
        while n < self.closed.len() {
            let next_first =
                self.closed.get(n + 1).map_or(self.active.header().first_index, |c| c.header.first_index);
            let keeps_hard_state = last_with_hard_state.is_none_or(|h| h > n);
            if next_first > up_to_index.saturating_add(1) || !keeps_hard_state {
                break;
            }
            n += 1;
        }
        let result = remove_files(&self.dir, self.closed.iter().take(n).map(|c| &c.path));
        self.poisoned |= result.is_err();
        result?;
        self.closed.drain(..n);
        Ok(n)
    }

    /// The last entry index, if the log holds any entry.
    pub fn last_index(&self) -> Option<u64> {
        self.bounds.last()
    }

    /// The last hard state written, if any.
    pub fn hard_state(&self) -> Option<HardState> {
        self.hard_state
    }

    /// Number of segment files, the active one included.
    pub fn segment_count(&self) -> usize {
        self.closed.len() + 1
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_writable(&self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    /// Writes one record into the active segment, rolling to a new segment
    /// when it does not fit.
    fn write(&mut self, rec: &RecordRef<'_>) -> Result<()> {
        if self.active.append(rec).is_some() {
            return Ok(());
        }
        let hard_state_len = self.hard_state.map_or(0, |hs| RecordRef::HardState(hs).frame_len());
        let room = self.options.segment_size as usize - HEADER_LEN - hard_state_len;
        if rec.frame_len() > room {
            return Err(Error::TooLarge { len: rec.frame_len(), segment_size: self.options.segment_size });
        }
        let result = self.roll().and_then(|()| {
            let len = rec.frame_len();
            self.active
                .append(rec)
                .map(drop)
                .ok_or(Error::TooLarge { len, segment_size: self.options.segment_size })
        });
        self.poisoned |= result.is_err();
        result
    }

    /// Closes the active segment (its unsynced range synced first, so a
    /// later `sync` has one segment to flush) and starts the next one,
    /// which opens with the current hard state: every segment after the
    /// latest hard-state record can be compacted away without losing it.
    fn roll(&mut self) -> Result<()> {
        self.active.sync()?;
        let header = SegmentHeader {
            sequence: self.active.header().sequence + 1,
            first_index: self.bounds.last().map_or(0, |last| last + 1),
            segment_size: self.options.segment_size,
        };
        let next = Segment::create(&self.dir, header)?;
        let old = std::mem::replace(&mut self.active, next);
        let has_hard_state = std::mem::replace(&mut self.active_has_hard_state, false);
        self.closed.push(Closed { path: old.path().to_path_buf(), header: *old.header(), has_hard_state });
        if let Some(hs) = self.hard_state {
            self.active.append(&RecordRef::HardState(hs));
            self.active_has_hard_state = true;
        }
        Ok(())
    }
}

/// Checks that `dir` is a directory, creating it (and fsyncing its parent)
/// if asked to.
fn prepare_dir(dir: &Path, create: bool) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::NotADir(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
            match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(parent) => sync_dir(parent),
                None => Ok(()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingDir(dir.to_path_buf())),
        Err(e) => Err(Error::io("stat", dir)(e)),
    }
}

/// Removes files of `dir` and fsyncs it if any were removed.
fn remove_files<'a>(dir: &Path, paths: impl Iterator<Item = &'a PathBuf>) -> Result<()> {
    let mut removed = false;
    for path in paths {
        std::fs::remove_file(path).map_err(Error::io("remove", path))?;
        tracing::debug!(target: "wal", path = %path.display(), "segment file removed");
        removed = true;
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> Entry {
        Entry { index, term: 1, data: vec![index as u8; 10].into() }
    }

    /// A failed sync is final: the `Wal` refuses every later call instead
    /// of retrying an fsync whose dirty pages the kernel may have dropped,
    /// and a reopen recovers what was synced before.
    #[test]
    fn failed_sync_poisons_the_wal() {
        let dir = std::env::temp_dir().join(format!("wal-poison-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = WalOptions { create_dir: true, segment_size: 1 << 20 };
        let (mut wal, _) = Wal::open(&dir, options.clone()).unwrap();
        wal.append(&[entry(1)]).unwrap();
        wal.sync().unwrap();
        wal.append(&[entry(2)]).unwrap();
        wal.fail_next_sync = true;
        assert!(matches!(wal.sync(), Err(Error::Io { .. })), "the failure is reported");
        assert!(matches!(wal.sync(), Err(Error::Poisoned)), "and never retried");
        assert!(matches!(wal.append(&[entry(3)]), Err(Error::Poisoned)));
        assert!(matches!(wal.set_hard_state(HardState::default()), Err(Error::Poisoned)));
        assert!(matches!(wal.truncate_suffix(1), Err(Error::Poisoned)));
        drop(wal);
        let (_wal, recovered) = Wal::open(&dir, options).unwrap();
        assert_eq!(recovered.entries.first().map(|e| e.index), Some(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
