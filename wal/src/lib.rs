//! A memory-mapped, segmented, checksummed write-ahead log for a Raft
//! server's log entries and hard state.
//!
//! It stores `(index, term, bytes)` [`Entry`]s and a `(term, vote)`
//! [`HardState`], and gives them back, in order, after a restart or a
//! crash. Writes go into a memory map of a preallocated segment file;
//! [`Wal::sync`] makes everything written since the last sync durable with
//! one `msync` (group commit). It does not know Raft's rules beyond "an
//! entry at index `i` replaces everything from `i` on", keeps no index of
//! entries in memory (the caller holds the log it recovered), does not
//! compress, and does not take snapshots: [`Wal::compact_prefix`] only drops
//! whole segments that a snapshot made elsewhere covers. The snapshots the
//! node takes or receives are stored by [`snapshot`], in `snap-*.snap`
//! files beside the segments in the same directory (under the same lock);
//! recovery of the log ignores them.
//!
//! ```
//! use wal::{Entry, HardState, Identity, Wal, WalOptions};
//!
//! let dir = std::env::temp_dir().join(format!("wal-doc-{}", std::process::id()));
//! let identity = Identity { cluster_id: 7, member_id: 1 };
//! let options = WalOptions { create_dir: true, identity, ..WalOptions::default() };
//! let (mut wal, recovered) = Wal::open(&dir, options.clone())?;
//! assert!(recovered.entries.is_empty());
//! wal.set_hard_state(HardState { current_term: 1, voted_for: Some(1) })?;
//! wal.append(&[Entry { index: 1, term: 1, tag: 0, data: b"x=1".to_vec().into() }])?;
//! wal.sync()?; // durable from here on
//! drop(wal);
//!
//! let (wal, recovered) = Wal::open(&dir, options.clone())?;
//! assert_eq!(recovered.entries[0].data, &b"x=1"[..]);
//! assert_eq!(recovered.hard_state.voted_for, Some(1));
//! assert_eq!(recovered.identity, Some(identity));
//! drop(wal);
//!
//! // The directory is member 1's: member 2 is refused.
//! let member_2 = WalOptions { identity: Identity { member_id: 2, ..identity }, ..options };
//! assert!(matches!(Wal::open(&dir, member_2), Err(wal::Error::WrongIdentity { .. })));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), wal::Error>(())
//! ```
//!
//! # Format (version 2)
//!
//! A log is a directory holding a `LOCK` file (an exclusive `flock` held by
//! the open `Wal`) and segment files named by a 20-digit sequence number,
//! `00000000000000000001.wal`, `…2.wal`, … with no gaps. Each segment is
//! created as `NAME.wal.tmp`, preallocated with `fallocate` to the segment
//! size (64 MiB by default), given its header, fsynced, renamed, and the
//! directory fsynced. It starts with a 64-byte header:
//!
//! ```text
//! offset  size  field
//!  0       8    magic "RAFTWAL\0"
//!  8       4    format version (2)
//! 12       4    reserved, 0
//! 16       8    sequence number (equals the file name)
//! 24       8    first index: the next entry index when the segment was made (0: none)
//! 32       8    segment size it was preallocated to
//! 40       8    cluster id  } the log's identity: the same in every segment
//! 48       8    member id   }
//! 56       4    reserved, 0
//! 60       4    CRC32C of bytes 0..60
//! ```
//!
//! The identity ([`Identity`], from [`WalOptions::identity`]) is in every
//! header, so it survives any compaction and is covered by the header
//! checksum; it is written, like the rest of the header, before the
//! segment gets its name. [`Wal::open`] compares it with the one it is
//! given at the first segment, before reading a record or changing
//! anything, and fails with [`Error::WrongIdentity`] on a difference; a
//! later segment naming another identity is [`Error::ForeignSegment`].
//! Version 1 had the same layout with bytes 40..60 reserved (zero) and no
//! identity. A version-1 log is read and adopted: open takes the identity
//! it is given, records it at once in a new version-2 segment (synced),
//! sets [`RecoveryReport::identity_adopted`] and logs a warning; from then
//! on the identity is checked. Version-1 segments are never rewritten and
//! may only precede version-2 ones.
//!
//! Records follow back to back, then zeroes to the end of the file:
//!
//! ```text
//! len u32 | crc32c u32 | kind u8 | payload (len bytes, postcard)
//! ```
//!
//! `len` counts the payload; the CRC32C covers `len`, `kind` and the
//! payload. All integers in frames and headers are little-endian; payload
//! integers are postcard varints. Kinds:
//!
//! - `1` entry `{ index, term, data: bytes }`: replaces every entry from
//!   `index` on; it must not leave a gap (an empty log takes any index);
//! - `2` hard state `{ current_term, voted_for: Option }`: the last wins;
//!   every new segment opens with the current hard state, so compaction
//!   never removes the latest one;
//! - `3` truncate `{ from_index }`: removes every entry from `from_index` on;
//! - `4` tagged entry `{ index, term, tag: u8, data: bytes }`: an entry whose
//!   [`Entry::tag`] is not 0 (Raft's configuration changes), otherwise like
//!   `1`. Logs written before tags existed hold only kind 1, which reads
//!   as tag 0; a tag of 0 in a kind-4 record is refused as corrupt.
//!
//! # Recovery
//!
//! [`Wal::open`] replays every segment. Zeroes after the last record are
//! the normal end. A torn or damaged frame with nothing valid after it (in
//! its segment or any later one) is a torn tail: it is cut (zeroed and
//! synced), later empty segments are removed, and [`RecoveryReport`] says
//! where and how many bytes. A damaged frame followed by any valid record,
//! or a segment whose records end before the index its successor's header
//! expects, is corruption: `open` fails with [`Error::Corruption`] naming
//! the file and byte offset, and changes nothing. Files that are not
//! segments (a damaged header, the identity included, fails its checksum),
//! newer format versions, truncated headers, missing segments and another
//! log's identity are errors too, and change nothing either; no file
//! content can make `open` panic.
//!
//! # Durability
//!
//! Nothing written is durable before [`Wal::sync`] returned `Ok`, and
//! nothing recovered is handed out before it is durable: [`Wal::open`]
//! syncs everything it recovered before it returns (each closed segment
//! with `fdatasync`, the active one's records with `msync`, then the
//! directory, and for a new log the parent directory). Records a killed
//! process wrote through the map without syncing are in the page cache, so
//! the next open reads them; a server acts on what open returns, so a
//! power loss after that must not take them back. If one of these syncs
//! fails, open fails with [`Error::RecoverySync`].
//!
//! A failed `sync` (or any failed write) poisons the `Wal`: every later
//! call returns [`Error::Poisoned`], since retrying an fsync can report
//! success for pages the kernel already dropped. Reopen to recover what is
//! on disk. One limit: pages written but not yet synced may reach the disk
//! in any order, so a power loss can leave a hole before later unsynced
//! records; that is reported as corruption, not guessed around.
//!
//! Tools: `wal-dump DIR` prints the identity, segments, records, snapshot
//! files (and whether each verifies) and the recovery result without
//! changing anything; `wal-bench` measures the log
//! against a plain `write` + `fdatasync` file on the same file system.

mod bounds;
mod durable;
mod error;
pub mod format;
mod identity;
pub mod inspect;
mod lock;
mod record;
mod recovery;
mod segment;
pub mod snapshot;
#[cfg(test)]
mod test_dir;
mod wal;

pub use bytes::Bytes;
pub use error::{Error, Result};
pub use identity::Identity;
pub use record::{Entry, HardState, Kind, RecordRef};
pub use recovery::{Recovered, RecoveryReport, SegmentEnd, TornTail};
pub use wal::{Wal, WalOptions, MIN_SEGMENT_SIZE};
