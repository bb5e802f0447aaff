//! Bad inputs are clear, typed errors naming the file, and change nothing.

mod common;

use common::{entry, small, TestDir};
use wal::format::{segment_path, SegmentHeader};
use wal::{Error, Wal};

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

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

#[test]
fn a_segment_from_a_newer_version() {
    let dir = TestDir::new("newer");
    let mut bytes = vec![0u8; 8192];
    bytes[..64].copy_from_slice(&SegmentHeader { sequence: 1, first_index: 0, segment_size: 8192 }.encode());
    bytes[8] = 2; // version 2, then fix the header checksum
    let crc = crc32c::crc32c(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(segment_path(dir.path(), 1), bytes).unwrap();
    let err = open_err(&dir);
    assert!(matches!(err, Error::NewerVersion { found: 2, supported: 1, .. }), "{err}");
}

#[test]
fn a_truncated_header() {
    let dir = TestDir::new("shorthdr");
    let header = SegmentHeader { sequence: 1, first_index: 0, segment_size: 8192 }.encode();
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
