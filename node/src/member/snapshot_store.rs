//! The member's side of snapshots: what the state machine and the storage
//! of snapshot data must offer, when to take a snapshot, and what travels
//! between members while one is streamed.
//!
//! The Raft core only knows a snapshot's position ([`raft::SnapshotMeta`]).
//! The data lives behind a [`SnapshotStore`]: files in the data directory
//! for `node` (`crate::snapshot_files`), memory with a disk model in the
//! simulator. Three flows use it:
//!
//! - **Taking one.** After an apply that makes the log long enough
//!   ([`SnapshotPolicy`]), the member asks the state machine for a
//!   consistent view and hands it to the driver as a [`SnapshotJob`]; the
//!   driver writes it wherever it likes (the event loop: on another thread)
//!   and reports back with [`crate::member::Member::snapshot_written`];
//!   only then does the core drop its log, and the driver its WAL prefix.
//! - **Sending one.** A leader's core emits `InstallSnapshot` for a
//!   follower that needs compacted entries; the member streams the store's
//!   current snapshot to it in [`SnapshotPart::Chunk`]s (`transfer.rs`).
//! - **Receiving one.** The follower appends the chunks in order to an
//!   incoming snapshot, has the store verify and sync it when complete,
//!   and only then steps `InstallSnapshot` into its core; the core's
//!   `Ready::snapshot` makes it current and resets the state machine.

use std::io;

use raft::SnapshotMeta;

/// The wire's: a snapshot's identity, and the messages of its transfer.
pub use crate::proto::{SnapshotInfo, SnapshotPart};

/// A state machine's consistent view, to be written out, perhaps on
/// another thread while the state machine goes on applying.
pub trait SnapshotSource: Send {
    fn write_to(self: Box<Self>, out: &mut dyn io::Write) -> io::Result<()>;
}

/// Read access to one complete snapshot's data, valid even after the store
/// has replaced it (a transfer keeps it until it ends).
pub trait SnapshotData: Send {
    fn info(&self) -> SnapshotInfo;
    /// Fills `buf` from `offset` on; returns the bytes read (0 at the end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// Why a snapshot could not be written, installed or restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Writing our own snapshot through `index` failed (it is dropped; the
    /// next one is tried later).
    #[error("snapshot {index} not written: {source}")]
    Write { index: u64, source: io::Error },
    #[error("snapshot {index} not written: {source}")]
    File { index: u64, source: wal::Error },
    #[error("cannot start the snapshot writer: {0}")]
    Writer(io::Error),
    /// The received snapshot the core installed cannot become current.
    #[error("cannot install the received snapshot: {0}")]
    Install(io::Error),
    #[error("cannot open the snapshot: {0}")]
    Open(io::Error),
    #[error("the current snapshot is {current:?}, not the installed {installed:?}")]
    NotCurrent { current: SnapshotMeta, installed: SnapshotMeta },
    /// The state machine (or the configuration at the front) refused the
    /// data; `reason` is its own.
    #[error("snapshot {meta:?}: {reason}")]
    Restore { meta: SnapshotMeta, reason: String },
}

/// Where a member's snapshots live.
pub trait SnapshotStore: Send {
    /// The snapshot the core's log starts after, if any.
    fn current(&self) -> Option<SnapshotInfo>;
    /// Opens the current snapshot for reading.
    fn open_current(&mut self) -> io::Result<Box<dyn SnapshotData>>;
    /// Our own snapshot `info`, written by the driver, is durable: it
    /// becomes current; older ones may go.
    fn adopt(&mut self, info: SnapshotInfo) -> io::Result<()>;
    /// Appends a chunk to the incoming snapshot `info`. Offset 0 starts it
    /// afresh (dropping any other incoming one); any other offset must be
    /// the length received so far.
    fn receive(&mut self, info: SnapshotInfo, offset: u64, data: &[u8]) -> io::Result<()>;
    /// The incoming `info` is complete: checks its length and checksum and
    /// makes it durable (it is not current yet).
    fn finish_receive(&mut self, info: SnapshotInfo) -> io::Result<()>;
    /// The core installed the received snapshot `meta`: it becomes current.
    fn install(&mut self, meta: SnapshotMeta) -> io::Result<()>;
}

/// When to take a snapshot: once the log since the last one holds
/// `entries` entries, or `bytes` data bytes and at least as many as the
/// last snapshot holds. The byte rule follows the store's size, so what
/// snapshots write stays in proportion to what the log wrote: a store of
/// large values would otherwise be written whole every `bytes` of log (a
/// fill of 100 MB would write gigabytes of snapshots); with it, all the
/// snapshots of a growing store together stay within about twice its live
/// data. The entry count is a hard bound on the log (the lab's
/// `maxraftstate`, etcd's `snapshot-count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    pub entries: u64,
    pub bytes: u64,
}

impl SnapshotPolicy {
    /// Never (the lab's 2A–2C scenarios, and tests).
    pub const NEVER: SnapshotPolicy = SnapshotPolicy { entries: u64::MAX, bytes: u64::MAX };

    /// Whether a log of `entries` entries and `bytes` data bytes since a
    /// snapshot of `last_len` bytes calls for the next one.
    pub fn is_due(&self, entries: u64, bytes: u64, last_len: u64) -> bool {
        entries >= self.entries || (bytes >= self.bytes && bytes >= last_len)
    }
}

/// A snapshot for the driver to write: `source` is the state as of
/// `meta.index`. Report the outcome with `Member::snapshot_written`.
pub struct SnapshotJob {
    pub meta: SnapshotMeta,
    pub source: Box<dyn SnapshotSource>,
}

impl std::fmt::Debug for SnapshotJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotJob").field("meta", &self.meta).finish_non_exhaustive()
    }
}

/// A [`SnapshotData`] read front to back (to restore a state machine).
pub struct DataReader<'a> {
    data: &'a dyn SnapshotData,
    offset: u64,
}

impl<'a> DataReader<'a> {
    pub fn new(data: &'a dyn SnapshotData) -> DataReader<'a> {
        DataReader { data, offset: 0 }
    }
}

impl io::Read for DataReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.read_at(self.offset, buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// The store of a member that never takes or installs snapshots.
pub struct NoSnapshots;

impl SnapshotStore for NoSnapshots {
    fn current(&self) -> Option<SnapshotInfo> {
        None
    }
    fn open_current(&mut self) -> io::Result<Box<dyn SnapshotData>> {
        Err(io::Error::other("this member keeps no snapshots"))
    }
    fn adopt(&mut self, _info: SnapshotInfo) -> io::Result<()> {
        Err(io::Error::other("this member keeps no snapshots"))
    }
    fn receive(&mut self, _info: SnapshotInfo, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Err(io::Error::other("this member keeps no snapshots"))
    }
    fn finish_receive(&mut self, _info: SnapshotInfo) -> io::Result<()> {
        Err(io::Error::other("this member keeps no snapshots"))
    }
    fn install(&mut self, _meta: SnapshotMeta) -> io::Result<()> {
        Err(io::Error::other("this member keeps no snapshots"))
    }
}

#[cfg(test)]
mod tests {
    use super::SnapshotPolicy;

    const POLICY: SnapshotPolicy = SnapshotPolicy { entries: 1000, bytes: 2 << 20 };

    #[test]
    fn a_snapshot_is_due_at_the_first_threshold_reached() {
        assert!(!POLICY.is_due(999, 1000, 0));
        assert!(POLICY.is_due(1000, 1000, 0));
        assert!(POLICY.is_due(1, 2 << 20, 0));
    }

    #[test]
    fn a_snapshot_by_bytes_waits_for_a_log_as_large_as_the_last_one() {
        let last = 10 << 20;
        assert!(!POLICY.is_due(500, 4 << 20, last));
        assert!(POLICY.is_due(500, 10 << 20, last));
        assert!(POLICY.is_due(1000, 1 << 20, last), "the entry count bounds the log");
    }

    /// Filling a store with 100 MB of 100 KiB values (each key new): the
    /// snapshots written together stay within twice the live data.
    #[test]
    fn a_growing_store_writes_snapshots_in_proportion_to_its_log() {
        let policy = SnapshotPolicy { entries: 100_000, bytes: 2 << 20 };
        let value = 100 << 10;
        let (mut since, mut live, mut last, mut written) = (0u64, 0u64, 0u64, 0u64);
        for n in 1..=1000u64 {
            since += value;
            live += value;
            if policy.is_due(n, since, last) {
                (last, since) = (live, 0);
                written += live;
            }
        }
        assert!(written <= 2 * live, "{written} bytes of snapshots for {live} live");
        assert!(written >= live / 2, "snapshots stopped: {written}");
    }
}
