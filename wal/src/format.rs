//! The on-disk layout: segment file names, the segment header, the record
//! frame. All integers are little-endian. See the crate docs for a picture.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::identity::Identity;

/// First 8 bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"RAFTWAL\0";
/// The format version this code writes and the newest it reads.
pub const VERSION: u32 = 2;
/// The oldest format version this code reads: version 1 has the same
/// layout with bytes 40..60 of the header reserved (no identity).
pub const OLDEST_VERSION: u32 = 1;
/// Length of the segment header in bytes; records start here.
pub const HEADER_LEN: usize = 64;
/// Length of a record frame before the payload: `len u32 | crc u32 | kind u8`.
pub const FRAME_LEN: usize = 9;
/// File name extension of segment files.
pub const SEGMENT_EXT: &str = "wal";
/// Name of the lock file inside the log directory.
pub const LOCK_FILE: &str = "LOCK";

/// The header at the start of every segment file.
///
/// ```text
/// 0  magic "RAFTWAL\0"   8 bytes
/// 8  version             u32
/// 12 reserved            u32 (0)
/// 16 sequence            u64  (matches the file name)
/// 24 first_index         u64  (next entry index when the segment was made; 0 = none yet)
/// 32 segment_size        u64  (preallocated length)
/// 40 cluster_id          u64  (version 2; reserved, 0, in version 1)
/// 48 member_id           u64  (version 2; reserved, 0, in version 1)
/// 56 reserved            4 bytes (0)
/// 60 crc32c of bytes 0..60
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment sequence number, 1 for the first segment ever written.
    pub sequence: u64,
    /// The index the next entry was expected to have when this segment was
    /// created (0 if the log held no entry): every live entry of the
    /// previous segments is below it.
    pub first_index: u64,
    /// The preallocated size of the file in bytes.
    pub segment_size: u64,
    /// Whose log the segment belongs to; `None` in a version-1 segment,
    /// which records none (encoding one writes version 1: tests use that
    /// to make logs of the previous version).
    pub identity: Option<Identity>,
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        let version = if self.identity.is_some() { VERSION } else { OLDEST_VERSION };
        b[8..12].copy_from_slice(&version.to_le_bytes());
        b[16..24].copy_from_slice(&self.sequence.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        b[32..40].copy_from_slice(&self.segment_size.to_le_bytes());
        if let Some(id) = self.identity {
            b[40..48].copy_from_slice(&id.cluster_id.to_le_bytes());
            b[48..56].copy_from_slice(&id.member_id.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and checks a header read from `path`; `bytes` is the whole file
    /// (or at least its start).
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER_LEN {
            if bytes.len() < MAGIC.len() && !MAGIC.starts_with(bytes) {
                return Err(not_a_segment(path, "bad magic"));
            }
            let (len, need) = (bytes.len() as u64, HEADER_LEN as u64);
            return Err(Error::TruncatedHeader { path: path.to_path_buf(), len, need });
        }
        if bytes[0..8] != MAGIC {
            return Err(not_a_segment(path, "bad magic"));
        }
        if u32_at(bytes, 60) != crc32c::crc32c(&bytes[0..60]) {
            return Err(not_a_segment(path, "header checksum mismatch"));
        }
        let version = u32_at(bytes, 8);
        if version > VERSION {
            let (path, supported) = (path.to_path_buf(), VERSION);
            return Err(Error::NewerVersion { path, found: version, supported });
        }
        if version < OLDEST_VERSION {
            return Err(not_a_segment(path, "format version 0"));
        }
        let identity =
            (version >= 2).then(|| Identity { cluster_id: u64_at(bytes, 40), member_id: u64_at(bytes, 48) });
        Ok(SegmentHeader {
            sequence: u64_at(bytes, 16),
            first_index: u64_at(bytes, 24),
            segment_size: u64_at(bytes, 32),
            identity,
        })
    }
}

fn not_a_segment(path: &Path, reason: &'static str) -> Error {
    Error::NotASegment { path: path.to_path_buf(), reason }
}

/// The path of segment `sequence` in `dir`: 20 decimal digits, so names sort
/// in sequence order.
pub fn segment_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}.{SEGMENT_EXT}"))
}

/// The sequence number in a segment file name, or `None` if the name is not
/// a segment name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_EXT)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Reads a little-endian `u32` at `at` (the caller checked the bounds).
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let identity = Some(Identity { cluster_id: u64::MAX, member_id: 3 });
        let h = SegmentHeader { sequence: 7, first_index: 42, segment_size: 1 << 20, identity };
        let p = Path::new("x.wal");
        let mut b = h.encode();
        assert_eq!(u32_at(&b, 8), VERSION);
        assert_eq!(SegmentHeader::decode(p, &b).unwrap(), h);
        let v1 = SegmentHeader { identity: None, ..h };
        assert_eq!(u32_at(&v1.encode(), 8), 1);
        assert_eq!(SegmentHeader::decode(p, &v1.encode()).unwrap(), v1);
        for at in [20, 44, 50] {
            b[at] ^= 1;
            assert!(matches!(SegmentHeader::decode(p, &b), Err(Error::NotASegment { .. })), "flip at {at}");
            b[at] ^= 1;
        }
        b[20] ^= 1;
        assert!(matches!(SegmentHeader::decode(p, &b), Err(Error::NotASegment { .. })));
        assert!(matches!(SegmentHeader::decode(p, &h.encode()[..30]), Err(Error::TruncatedHeader { .. })));
        assert!(matches!(SegmentHeader::decode(p, b"hello"), Err(Error::NotASegment { .. })));
    }

    #[test]
    fn segment_names() {
        let p = segment_path(Path::new("/d"), 12);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "00000000000000000012.wal");
        assert_eq!(parse_segment_name(name), Some(12));
        assert_eq!(parse_segment_name("12.wal"), None);
        assert_eq!(parse_segment_name("0000000000000000001x.wal"), None);
        assert_eq!(parse_segment_name("00000000000000000012.tmp"), None);
    }
}
