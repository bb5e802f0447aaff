//! Error types. Every error that comes from file content names the file and
//! the byte offset, so an operator can find the damage with `wal-dump`.

use std::io;
use std::path::PathBuf;

use crate::identity::Identity;

/// A result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong opening, reading or writing a log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed; `what` says which, `path` on which file.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// The operation that failed ("open", "fallocate", "msync", ...).
        what: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The error the OS returned.
        source: io::Error,
    },
    /// The log directory does not exist (and `create_dir` was not set).
    #[error("log directory {} does not exist", .0.display())]
    MissingDir(PathBuf),
    /// The path exists but is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADir(PathBuf),
    /// Another `Wal` (in this or another process) holds the directory lock.
    #[error("log directory {} is locked by another process", .0.display())]
    Locked(PathBuf),
    /// A `*.wal` file whose header is not a segment header.
    #[error("{}: not a wal segment ({reason})", path.display())]
    NotASegment {
        /// The file.
        path: PathBuf,
        /// What did not match (magic, header checksum, name).
        reason: &'static str,
    },
    /// A segment file shorter than its header.
    #[error("{}: truncated segment header ({len} of {need} bytes)", path.display())]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// The header length.
        need: u64,
    },
    /// A segment written by a newer format version than this code reads.
    #[error("{}: segment format version {found} is newer than supported version {supported}", path.display())]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// The version in its header.
        found: u32,
        /// The newest version this code reads.
        supported: u32,
    },
    /// Segment sequence numbers are not consecutive: a segment is missing.
    #[error("{}: segment sequence {found} follows {previous}: a segment is missing", path.display())]
    MissingSegment {
        /// The segment after the gap.
        path: PathBuf,
        /// The sequence before the gap.
        previous: u64,
        /// The sequence after the gap.
        found: u64,
    },
    /// The log was created for another cluster or member than the one
    /// opening it: refused before anything in it is changed or used.
    #[error("log directory {} belongs to {found}, not to {expected} (the identity it was opened with)", dir.display())]
    WrongIdentity {
        /// The log directory.
        dir: PathBuf,
        /// The identity its segments record.
        found: Identity,
        /// The identity `open` was given.
        expected: Identity,
    },
    /// A segment whose header names another identity than the log's first
    /// segment (or none: a version-1 segment after version-2 ones), as if
    /// copied in from another log.
    #[error("{}: segment of {} in a log of {log}", path.display(),
        found.map_or_else(|| "no identity (format version 1)".to_string(), |f| f.to_string()))]
    ForeignSegment {
        /// The segment.
        path: PathBuf,
        /// The identity its header records (`None`: version 1, none).
        found: Option<Identity>,
        /// The identity of the log's earlier segments.
        log: Identity,
    },
    /// A damaged record followed by valid ones: the log cannot be trusted.
    #[error("{}: corrupt record at byte offset {offset} ({reason}), followed by valid records", path.display())]
    Corruption {
        /// The segment holding the damaged record.
        path: PathBuf,
        /// Byte offset of the damaged record in that file.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record that passed its checksum but breaks the log's rules
    /// (an unknown kind, an undecodable payload, a gap in entry indexes).
    #[error("{}: invalid record at byte offset {offset}: {reason}", path.display())]
    InvalidRecord {
        /// The segment holding the record.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// `append` was given an entry whose index would leave a gap.
    #[error("entry index {index} does not follow last index {last}")]
    IndexGap {
        /// The entry's index.
        index: u64,
        /// The log's last index.
        last: u64,
    },
    /// An index of 0 was given; indexes start at 1.
    #[error("index 0 is not a valid log index")]
    ZeroIndex,
    /// A single record larger than an empty segment can hold.
    #[error("record of {len} bytes does not fit in a segment of {segment_size} bytes")]
    TooLarge {
        /// The encoded record length.
        len: usize,
        /// The configured segment size.
        segment_size: u64,
    },
    /// Invalid options (segment size too small or too large).
    #[error("invalid options: {0}")]
    Options(String),
    /// `open` recovered the log but could not make it durable (a sync
    /// failed), so it returned no `Wal`: acting on records that a power
    /// loss could still take back would be unsafe.
    #[error("log directory {}: could not make the recovered log durable, not opened: {source}", dir.display())]
    RecoverySync {
        /// The log directory.
        dir: PathBuf,
        /// The failed sync.
        source: Box<Error>,
    },
    /// A snapshot file that does not verify: not a snapshot, a damaged
    /// header or data, a wrong length, a header that disagrees with the
    /// file name.
    #[error("{}: bad snapshot file: {reason}", path.display())]
    SnapshotCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A snapshot file of another cluster or member than the log's.
    #[error("{}: snapshot of {found}, not of {expected} (the identity it was looked up with)", path.display())]
    ForeignSnapshot {
        /// The file.
        path: PathBuf,
        /// The identity its header records.
        found: Identity,
        /// The identity expected.
        expected: Identity,
    },
    /// A received snapshot whose length or checksum differs from what its
    /// sender announced: it was not published (its temporary is removed).
    #[error("{}: received {len} bytes with crc32c {crc32c:#010x}, the sender announced {expected_len} bytes \
        with crc32c {expected_crc32c:#010x}; not published", path.display())]
    SnapshotMismatch {
        /// The temporary file it was streamed into (removed).
        path: PathBuf,
        /// The bytes received.
        len: u64,
        /// Their CRC32C.
        crc32c: u32,
        /// The length announced.
        expected_len: u64,
        /// The CRC32C announced.
        expected_crc32c: u32,
    },
    /// An earlier write or sync failed; the `Wal` refuses further writes.
    /// Reopen the directory (in a new process) to recover what is durable.
    #[error("the wal is poisoned by an earlier failed write or sync; reopen to recover")]
    Poisoned,
}

impl Error {
    /// Wraps an `io::Error` with the operation and the path.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
