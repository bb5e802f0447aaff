//! Bad inputs are clear, typed errors naming the file, and change nothing.

mod common;

use common::{entry, small, snapshot, TestDir};
use wal::format::{segment_path, SegmentHeader, HEADER_LEN};
use wal::{Error, Identity, Wal};

fn open_err(dir: &TestDir) -> Error {
    let before = snapshot(dir.path());
    let err = Wal::open(dir.path(), small(4096)).err().expect("open should fail");
    let after: Vec<_> = snapshot(dir.path()).into_iter().filter(|(n, _)| n != "LOCK").collect();
    let before: Vec<_> = before.into_iter().filter(|(n, _)| n != "LOCK").collect();
    assert!(before == after, "a failed open changed the directory");
    err
}

#[test]
fn a_file_instead_of_a_directory() {
    let dir = TestDir::new("notdir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(Wal::open(&file, small(4096)), Err(Error::NotADir(_))));
}

#[test]
fn a_file_that_is_not_a_segment() {
    let dir = TestDir::new("notseg");
    std::fs::write(segment_path(dir.path(), 1), vec![b'x'; 5000]).unwrap();
    let err = open_err(&dir);
    assert!(matches!(err, Error::NotASegment { .. }), "{err}");
    assert!(err.to_string().contains("00000000000000000001.wal"), "{err}");
}

fn header(sequence: u64) -> SegmentHeader {
    SegmentHeader { sequence, first_index: 0, segment_size: 8192, identity: Some(Identity::default()) }
}

/// Sets the version field of a header and fixes its checksum.
fn with_version(mut header: [u8; HEADER_LEN], version: u32) -> [u8; HEADER_LEN] {
    header[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32c::crc32c(&header[..60]);
    header[60..64].copy_from_slice(&crc.to_le_bytes());
    header
}

#[test]
fn a_segment_from_a_newer_version() {
    let dir = TestDir::new("newer");
    let mut bytes = vec![0u8; 8192];
    bytes[..64].copy_from_slice(&with_version(header(1).encode(), 3));
    std::fs::write(segment_path(dir.path(), 1), bytes).unwrap();
    let err = open_err(&dir);
    assert!(matches!(err, Error::NewerVersion { found: 3, supported: 2, .. }), "{err}");
}

#[test]
fn a_segment_of_version_0() {
    let dir = TestDir::new("version0");
    let mut bytes = vec![0u8; 8192];
    bytes[..64].copy_from_slice(&with_version(header(1).encode(), 0));
    std::fs::write(segment_path(dir.path(), 1), bytes).unwrap();
    assert!(matches!(open_err(&dir), Error::NotASegment { reason: "format version 0", .. }));
}

/// A damaged identity fails the header checksum: the file is named, and
/// nothing is changed (no adoption, no new segment).
#[test]
fn a_corrupt_identity() {
    for at in [40, 47, 48, 55] {
        let dir = TestDir::new("badid");
        drop(Wal::open(dir.path(), small(4096)).unwrap());
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at] ^= 0x10;
        std::fs::write(&path, bytes).unwrap();
        let err = open_err(&dir);
        assert!(matches!(err, Error::NotASegment { reason: "header checksum mismatch", .. }), "{err}");
        assert!(err.to_string().contains("00000000000000000001.wal"), "{err}");
    }
}

/// Writes `header` over the header of segment `sequence` in `dir`.
fn rewrite_header(dir: &std::path::Path, sequence: u64, header: SegmentHeader) {
    let path = segment_path(dir, sequence);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..HEADER_LEN].copy_from_slice(&header.encode());
    std::fs::write(&path, bytes).unwrap();
}

/// A segment whose (valid) header names another identity than the log's
/// first segment, or none at all (version 1 after version 2), was copied
/// in from elsewhere: refused, naming it.
#[test]
fn a_segment_of_another_identity() {
    let other = Identity { cluster_id: 0, member_id: 5 };
    for (found, name) in [(Some(other), "member 5"), (None, "format version 1")] {
        let dir = TestDir::new("foreign");
        {
            let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
            wal.append(&(1..=100).map(|i| entry(i, 1, 100)).collect::<Vec<_>>()).unwrap();
            wal.sync().unwrap();
            assert!(wal.segment_count() >= 3);
        }
        let path = segment_path(dir.path(), 2);
        let (mut h, _, _) = wal::inspect::walk_segment(&path, &mut |_, _, _| {}).unwrap();
        h.identity = found;
        rewrite_header(dir.path(), 2, h);
        let err = open_err(&dir);
        assert!(matches!(err, Error::ForeignSegment { found: f, .. } if f == found), "{err}");
        let line = err.to_string();
        assert!(line.contains("00000000000000000002.wal") && line.contains(name), "{line}");
    }
}

#[test]
fn a_truncated_header() {
    let dir = TestDir::new("shorthdr");
    let header = header(1).encode();
    std::fs::write(segment_path(dir.path(), 1), &header[..30]).unwrap();
    let err = open_err(&dir);
    assert!(matches!(err, Error::TruncatedHeader { len: 30, need: 64, .. }), "{err}");
}

#[test]
fn a_missing_segment() {
    let dir = TestDir::new("gap");
    {
        let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
        wal.append(&(1..=100).map(|i| entry(i, 1, 100)).collect::<Vec<_>>()).unwrap();
        wal.sync().unwrap();
        assert!(wal.segment_count() >= 3);
    }
    std::fs::remove_file(segment_path(dir.path(), 2)).unwrap();
    let err = open_err(&dir);
    assert!(matches!(err, Error::MissingSegment { previous: 1, found: 3, .. }), "{err}");
}

#[test]
fn a_segment_named_with_the_wrong_sequence() {
    let dir = TestDir::new("misnamed");
    drop(Wal::open(dir.path(), small(4096)).unwrap());
    std::fs::rename(segment_path(dir.path(), 1), segment_path(dir.path(), 5)).unwrap();
    assert!(matches!(open_err(&dir), Error::NotASegment { .. }));
}

#[test]
fn other_files_and_stale_temporaries_are_ignored() {
    let dir = TestDir::new("others");
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    std::fs::write(dir.path().join("00000000000000000009.wal.tmp"), b"half made").unwrap();
    let (_wal, rec) = Wal::open(dir.path(), small(4096)).unwrap();
    assert!(rec.entries.is_empty());
    assert!(dir.path().join("notes.txt").exists());
    assert!(!dir.path().join("00000000000000000009.wal.tmp").exists());
}
