//! Snapshot files: the state machine's snapshots, stored in the log
//! directory beside the segments.
//!
//! Why here: a member's snapshot and its log are one state (the log
//! continues where the snapshot ends, and [`Wal::compact_prefix`] drops
//! segments only a snapshot covers), so they live in one directory under
//! the same `LOCK`, carry the same [`Identity`], and are made durable with
//! the same calls (`durable`, whose test hooks can fail any of them).
//! Recovery of the log ignores snapshot files and their temporaries: their
//! names are not segment names.
//!
//! A snapshot is streamed into `NAME.snap.tmp` by a [`SnapshotWriter`]
//! (which holds an exclusive `flock` on it while it writes), and appears
//! under its final name only once it is complete and durable: the header
//! is written, the file fsynced, renamed, and the directory fsynced. A
//! [`SnapshotReader`] verifies the whole file (header, length, data
//! checksum) before handing out a byte. [`latest`] picks the newest
//! snapshot that verifies and reports the ones it refused; [`remove_older`]
//! deletes the snapshots a newer one replaces and unfinished temporaries.
//!
//! # Format (version 1)
//!
//! A snapshot file is named `snap-{index:020}-{term:020}.snap` (so names
//! sort by index) and holds a 64-byte header followed by the data (opaque
//! to this crate), nothing after it:
//!
//! ```text
//! offset  size  field
//!  0       8    magic "RAFTSNAP"
//!  8       4    format version (1)
//! 12       4    reserved, 0
//! 16       8    index: the last log index the snapshot covers (equals the file name)
//! 24       8    term of that index (equals the file name)
//! 32       8    cluster id  } whose snapshot it is: the log's identity
//! 40       8    member id   }
//! 48       8    data length in bytes (the file is 64 + this long)
//! 56       4    CRC32C of the data
//! 60       4    CRC32C of bytes 0..60
//! 64       -    data
//! ```
//!
//! All integers are little-endian. While a snapshot is written its header
//! is zeroes (the data length and checksum are known only at the end), so
//! an unfinished file never verifies even under its final name.
//!
//! [`Wal::compact_prefix`]: crate::Wal::compact_prefix

mod dir;
pub mod format;
mod read;
mod write;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::identity::Identity;

pub use dir::{inspect, latest, list, list_temporaries, remove_older, Inspected, Latest};
pub use read::SnapshotReader;
pub use write::SnapshotWriter;

/// Where a snapshot ends in the log: it holds the state after applying
/// every entry up to `index`, whose term is `term`. Ordered by index, then
/// term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last log index the snapshot covers (at least 1).
    pub index: u64,
    /// The term of the entry at `index`.
    pub term: u64,
}

/// What a snapshot file's header records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Where the snapshot ends in the log.
    pub meta: SnapshotMeta,
    /// Length of the data in bytes (the header not included).
    pub len: u64,
    /// CRC32C of the data.
    pub crc32c: u32,
    /// Whose snapshot it is.
    pub identity: Identity,
}
