//! The `Wal`: append, hard state, sync (group commit), truncate, compact,
//! segment roll-over. Opening (lock, recover, repair, sync) is in `open.rs`.

use std::path::{Path, PathBuf};

use crate::bounds::Bounds;
use crate::durable::sync_dir;
use crate::error::{Error, Result};
use crate::format::{SegmentHeader, HEADER_LEN};
use crate::identity::Identity;
use crate::lock::DirLock;
use crate::record::{Entry, HardState, RecordRef};
use crate::segment::Segment;

mod open;

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
    /// Whose log this is. A new log records it in every segment header;
    /// opening an existing log of another identity fails with
    /// [`Error::WrongIdentity`]. A server must set its own (the default,
    /// cluster 0 member 0, is for tests and tools).
    pub identity: Identity,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: 64 << 20, create_dir: false, identity: Identity::default() }
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
    // Declared last so it is dropped last: the maps go before the lock.
    _lock: DirLock,
}

impl Wal {
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
            self.write(&RecordRef::Entry { index: e.index, term: e.term, tag: e.tag, data: &e.data })?;
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

    /// Whose log this is (checked, or recorded, by `open`).
    pub fn identity(&self) -> Identity {
        self.options.identity
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
            identity: Some(self.options.identity),
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
mod tests;
