//! Unit tests that need the sync hook (`durable::hook`) or the header
//! layout: what `finish` makes durable and in which order, what a failed
//! sync leaves, and the header codec.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::{self, decode, encode, HEADER_LEN};
use super::*;
use crate::durable::{hook, SyncKind};
use crate::error::Error;

const ME: Identity = Identity { cluster_id: 11, member_id: 4 };

use crate::test_dir::TempDir;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn writer(dir: &Path, index: u64) -> SnapshotWriter {
    let mut w = SnapshotWriter::create(dir, ME, SnapshotMeta { index, term: 2 }).unwrap();
    w.write_all(&[index as u8; 10_000]).unwrap();
    w
}

#[test]
fn finish_fsyncs_the_file_before_its_name_and_the_directory_after() {
    let dir = TempDir::created("snap-order");
    let w = writer(dir.path(), 5);
    let tmp = format::tmp_path(dir.path(), SnapshotMeta { index: 5, term: 2 });
    hook::take_log();
    w.finish().unwrap();
    let log: Vec<(SyncKind, PathBuf)> = hook::take_log().into_iter().map(|s| (s.kind, s.path)).collect();
    assert_eq!(log, vec![(SyncKind::Fsync, tmp), (SyncKind::FsyncDir, dir.path().to_path_buf())]);
}

#[test]
fn a_failed_file_fsync_publishes_nothing() {
    let dir = TempDir::created("snap-fsync");
    let w = writer(dir.path(), 5);
    hook::fail_next(|s| s.kind == SyncKind::Fsync);
    assert!(matches!(w.finish(), Err(Error::Io { what: "fsync", .. })));
    assert!(!hook::failure_pending());
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

/// The file is complete under its name, but the name may not be durable:
/// the error tells the caller not to count on it.
#[test]
fn a_failed_directory_fsync_is_reported() {
    let dir = TempDir::created("snap-dirsync");
    let w = writer(dir.path(), 5);
    hook::fail_next(|s| s.kind == SyncKind::FsyncDir);
    assert!(matches!(w.finish(), Err(Error::Io { what: "fsync directory", .. })));
    let path = format::path(dir.path(), SnapshotMeta { index: 5, term: 2 });
    assert_eq!(list(dir.path()).unwrap(), vec![path.clone()]);
    assert_eq!(SnapshotReader::open(&path).unwrap().info().len, 10_000);
}

#[test]
fn remove_older_fsyncs_the_directory_only_when_it_removed_something() {
    let dir = TempDir::created("snap-remove");
    writer(dir.path(), 5).finish().unwrap();
    let keep = SnapshotMeta { index: 5, term: 2 };
    hook::take_log();
    assert_eq!(remove_older(dir.path(), keep).unwrap(), 0);
    assert!(hook::take_log().is_empty());
    writer(dir.path(), 3).finish().unwrap();
    hook::take_log();
    assert_eq!(remove_older(dir.path(), keep).unwrap(), 1);
    let log = hook::take_log();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].kind, log[0].path.as_path()), (SyncKind::FsyncDir, dir.path()));
}

#[test]
fn header_round_trip_and_checks() {
    let info = SnapshotInfo {
        meta: SnapshotMeta { index: u64::MAX, term: 3 },
        len: 1 << 40,
        crc32c: 0xDEAD_BEEF,
        identity: Identity { cluster_id: u64::MAX, member_id: 9 },
    };
    let p = Path::new("x.snap");
    let b = encode(&info);
    assert_eq!(&b[0..8], b"RAFTSNAP");
    assert_eq!(decode(p, &b).unwrap(), info);
    for at in 0..HEADER_LEN {
        let mut damaged = b;
        damaged[at] ^= 0x80;
        assert!(matches!(decode(p, &damaged), Err(Error::SnapshotCorrupt { .. })), "flip at {at}");
    }
    let zero_index = SnapshotInfo { meta: SnapshotMeta { index: 0, term: 0 }, ..info };
    assert!(matches!(decode(p, &encode(&zero_index)), Err(Error::SnapshotCorrupt { .. })));
    let message = decode(p, &b[..30]).unwrap_err().to_string();
    assert!(message.contains("x.snap") && message.contains("truncated header: 30 of 64"), "{message}");
    assert!(decode(p, b"RAFTWAL\0").unwrap_err().to_string().contains("bad magic"));
    assert!(decode(p, &[0u8; HEADER_LEN]).unwrap_err().to_string().contains("bad magic"));
}

#[test]
fn snapshot_names() {
    let m = SnapshotMeta { index: 12, term: 3 };
    assert_eq!(format::file_name(m), "snap-00000000000000000012-00000000000000000003.snap");
    assert_eq!(format::parse_name(&format::file_name(m)), Some(m));
    for bad in [
        "snap-12-3.snap",
        "snap-00000000000000000012-0000000000000000000x.snap",
        "snap-00000000000000000012_00000000000000000003.snap",
        "snap-00000000000000000012-00000000000000000003.snap.tmp",
        "snap-99999999999999999999-00000000000000000003.snap",
        "00000000000000000012.wal",
    ] {
        assert_eq!(format::parse_name(bad), None, "{bad}");
    }
    let tmp = format::tmp_path(Path::new("/d"), m);
    assert_eq!(format::parse_tmp_name(tmp.file_name().unwrap().to_str().unwrap()), Some(m));
    // Neither is a segment name, so recovery of the log ignores both.
    assert_eq!(crate::format::parse_segment_name(&format::file_name(m)), None);
}

/// A snapshot just written opens on its writer's word: a header that
/// records anything else is refused, and the data is not read again (a
/// byte damaged after the writer summed it is found by `open` only).
#[test]
fn open_written_trusts_the_writers_sum_and_checks_the_header_against_it() {
    let dir = TempDir::created("snap-written");
    let written = writer(dir.path(), 5).finish().unwrap();
    let path = format::path(dir.path(), written.meta);
    assert_eq!(SnapshotReader::open_written(&path, &written).unwrap().info(), &written);
    let other = SnapshotInfo { crc32c: written.crc32c ^ 1, ..written };
    assert!(matches!(SnapshotReader::open_written(&path, &other), Err(Error::SnapshotCorrupt { .. })));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[HEADER_LEN + 3] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(SnapshotReader::open_written(&path, &written).is_ok());
    assert!(SnapshotReader::open(&path).is_err());
}
