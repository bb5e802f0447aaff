//! The identity a log records (cluster id and member id): kept across
//! reopen and compaction, another identity refused without changing
//! anything, a version-1 log adopting the identity it is opened with
//! (`wal-dump` showing it is in `identity_dump.rs`).

mod common;

use std::path::Path;

use common::identity::{build, make_version_1, options, ME};
use common::{snapshot, TestDir};
use wal::format::segment_path;
use wal::{inspect, Error, Identity, Wal};

/// The identity in each segment header of `dir`.
fn header_identities(dir: &Path) -> Vec<Option<Identity>> {
    let segments = inspect::segments(dir).unwrap();
    segments.iter().map(|p| inspect::walk_segment(p, &mut |_, _, _| {}).unwrap().0.identity).collect()
}

#[test]
fn identity_survives_reopen() {
    let dir = TestDir::new("id-reopen");
    let (wal, rec) = Wal::open(dir.path(), options(ME)).unwrap();
    assert_eq!(rec.identity, None, "a new directory records none yet");
    assert_eq!(wal.identity(), ME);
    drop(wal);
    assert_eq!(header_identities(dir.path()), vec![Some(ME)], "the first segment records it");
    let entries = build(dir.path(), ME, 50);
    let (wal, rec) = Wal::open(dir.path(), options(ME)).unwrap();
    assert_eq!(rec.identity, Some(ME));
    assert!(!rec.report.identity_adopted);
    assert_eq!(rec.entries, entries);
    assert!(header_identities(dir.path()).iter().all(|id| *id == Some(ME)));
    drop(wal);
    assert_eq!(Wal::recover_read_only(dir.path()).unwrap().identity, Some(ME));
}

#[test]
fn identity_survives_compaction() {
    let dir = TestDir::new("id-compact");
    build(dir.path(), ME, 300);
    {
        let (mut wal, _) = Wal::open(dir.path(), options(ME)).unwrap();
        assert!(wal.compact_prefix(10_000).unwrap() > 0);
        assert_eq!(wal.segment_count(), 1);
    }
    assert!(!segment_path(dir.path(), 1).exists(), "the first segment was compacted away");
    let (_, rec) = Wal::open(dir.path(), options(ME)).unwrap();
    assert_eq!(rec.identity, Some(ME));
    assert_eq!(rec.entries.last().map(|e| e.index), Some(300));
    let other = Identity { member_id: 3, ..ME };
    assert!(matches!(Wal::open(dir.path(), options(other)), Err(Error::WrongIdentity { .. })));
}

/// A log of `ME` whose open would change it: a torn last record to cut and
/// a stale temporary to remove.
fn build_with_repairs(dir: &Path) {
    build(dir, ME, 40);
    let last = inspect::segments(dir).unwrap().pop().unwrap();
    let mut records = Vec::new();
    inspect::walk_segment(&last, &mut |offset, len, _| records.push((offset, len))).unwrap();
    let (offset, len) = *records.last().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[offset + len / 2..offset + len].fill(0);
    std::fs::write(&last, bytes).unwrap();
    std::fs::write(dir.join("00000000000000000099.wal.tmp"), b"half made").unwrap();
}

#[test]
fn another_cluster_or_member_is_refused_and_nothing_changes() {
    let wrong_cluster = Identity { cluster_id: 7002, ..ME };
    let wrong_member = Identity { member_id: 3, ..ME };
    for expected in [wrong_cluster, wrong_member] {
        let dir = TestDir::new("id-wrong");
        build_with_repairs(dir.path());
        let before = snapshot(dir.path());
        let err = Wal::open(dir.path(), options(expected)).err().expect("opened another member's log");
        assert!(snapshot(dir.path()) == before, "a refused open changed the directory");
        let Error::WrongIdentity { dir: d, found, expected: e } = &err else { panic!("{err}") };
        assert_eq!((d.as_path(), *found, *e), (dir.path(), ME, expected));
        let line = err.to_string();
        let named = [format!("{ME}"), format!("{expected}"), dir.path().display().to_string()];
        assert!(named.iter().all(|n| line.contains(n.as_str())) && !line.contains('\n'), "{line}");
        let (_, rec) = Wal::open(dir.path(), options(ME)).unwrap();
        assert!(rec.report.torn_tail.is_some(), "the right identity opens it (and repairs it)");
        assert!(snapshot(dir.path()) != before);
    }
}

/// Rewrites every segment header of `dir` as version 1 (no identity): a
/// log written by the previous format version.
#[test]
fn a_version_1_log_adopts_the_identity_it_is_opened_with() {
    let dir = TestDir::new("id-v1");
    let entries = build(dir.path(), Identity::default(), 100);
    make_version_1(dir.path());
    assert_eq!(Wal::recover_read_only(dir.path()).unwrap().identity, None);
    let segments = inspect::segments(dir.path()).unwrap().len();
    let (wal, rec) = Wal::open(dir.path(), options(ME)).unwrap();
    assert!(rec.report.identity_adopted);
    assert_eq!(rec.identity, None);
    assert_eq!(rec.entries, entries);
    assert_eq!(wal.segment_count(), segments + 1, "a new segment records the identity");
    drop(wal);
    assert_eq!(header_identities(dir.path()).last(), Some(&Some(ME)));
    let other = Identity { cluster_id: 1, member_id: 1 };
    let err = Wal::open(dir.path(), options(other)).err().expect("adopted, so checked from now on");
    assert!(matches!(err, Error::WrongIdentity { found: ME, .. }), "{err}");
    let (mut wal, rec) = Wal::open(dir.path(), options(ME)).unwrap();
    assert_eq!((rec.identity, rec.report.identity_adopted), (Some(ME), false));
    assert_eq!(rec.entries, entries);
    assert_eq!(rec.hard_state.voted_for, Some(0));
    wal.compact_prefix(10_000).unwrap();
    drop(wal);
    assert_eq!(header_identities(dir.path()), vec![Some(ME)], "only the version-2 segment is left");
}
