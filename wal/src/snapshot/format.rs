//! A snapshot file's name and header (see the module docs for a picture):
//! the only place that knows the byte layout, so reading, writing and
//! `wal-dump` cannot disagree about it.

use std::path::{Path, PathBuf};

use super::{SnapshotInfo, SnapshotMeta};
use crate::error::{Error, Result};
use crate::identity::Identity;

/// First 8 bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"RAFTSNAP";
/// The format version this code writes and the only one it reads.
pub const VERSION: u32 = 1;
/// Length of the header in bytes; the data starts here.
pub const HEADER_LEN: usize = 64;
/// File name extension of snapshot files.
pub const EXT: &str = "snap";
/// File name extension of a snapshot being written.
pub const TMP_EXT: &str = "snap.tmp";

/// The file name of snapshot `meta`: `snap-{index:020}-{term:020}.snap`.
pub fn file_name(meta: SnapshotMeta) -> String {
    format!("snap-{:020}-{:020}.{EXT}", meta.index, meta.term)
}

/// The path of snapshot `meta` in `dir`.
pub fn path(dir: &Path, meta: SnapshotMeta) -> PathBuf {
    dir.join(file_name(meta))
}

/// The path snapshot `meta` is written to before it is complete.
pub fn tmp_path(dir: &Path, meta: SnapshotMeta) -> PathBuf {
    dir.join(format!("{}.tmp", file_name(meta)))
}

/// The index and term in a snapshot file name; `None` if `name` is not
/// one (a temporary's name included).
pub fn parse_name(name: &str) -> Option<SnapshotMeta> {
    let stem = name.strip_prefix("snap-")?.strip_suffix(EXT)?.strip_suffix('.')?;
    let (index, term) = stem.split_once('-')?;
    Some(SnapshotMeta { index: parse_20_digits(index)?, term: parse_20_digits(term)? })
}

/// The index and term in a temporary's name (`NAME.snap.tmp`).
pub fn parse_tmp_name(name: &str) -> Option<SnapshotMeta> {
    parse_name(name.strip_suffix(".tmp")?)
}

fn parse_20_digits(s: &str) -> Option<u64> {
    if s.len() != 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The header's bytes.
pub fn encode(info: &SnapshotInfo) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[16..24].copy_from_slice(&info.meta.index.to_le_bytes());
    b[24..32].copy_from_slice(&info.meta.term.to_le_bytes());
    b[32..40].copy_from_slice(&info.identity.cluster_id.to_le_bytes());
    b[40..48].copy_from_slice(&info.identity.member_id.to_le_bytes());
    b[48..56].copy_from_slice(&info.len.to_le_bytes());
    b[56..60].copy_from_slice(&info.crc32c.to_le_bytes());
    let crc = crc32c::crc32c(&b[0..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Parses and checks the header at the start of `bytes` (read from
/// `path`): magic, header checksum, version, index. Errors are
/// [`Error::SnapshotCorrupt`] naming `path`.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<SnapshotInfo> {
    let start = bytes.len().min(MAGIC.len());
    if bytes[..start] != MAGIC[..start] {
        return Err(corrupt(path, "bad magic: not a snapshot file (or an unfinished one)"));
    }
    let Some(b) = bytes.get(..HEADER_LEN) else {
        return Err(corrupt(path, format!("truncated header: {} of {HEADER_LEN} bytes", bytes.len())));
    };
    if u32_at(b, 60) != crc32c::crc32c(&b[0..60]) {
        return Err(corrupt(path, "header checksum mismatch"));
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(corrupt(path, format!("format version {version}, this code reads version {VERSION}")));
    }
    let meta = SnapshotMeta { index: u64_at(b, 16), term: u64_at(b, 24) };
    if meta.index == 0 {
        return Err(corrupt(path, "index 0 in the header"));
    }
    let identity = Identity { cluster_id: u64_at(b, 32), member_id: u64_at(b, 40) };
    Ok(SnapshotInfo { meta, len: u64_at(b, 48), crc32c: u32_at(b, 56), identity })
}

/// An [`Error::SnapshotCorrupt`] for `path`.
pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::SnapshotCorrupt { path: path.to_path_buf(), reason: reason.into() }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
