//! Unit tests that need the sync hook (`durable::hook`): what a failed
//! sync does to the `Wal`, and what `open` makes durable.

use std::path::{Path, PathBuf};

use super::*;
use crate::durable::{hook, SyncKind};

use crate::test_dir::TempDir;

fn options(segment_size: u64) -> WalOptions {
    WalOptions { create_dir: true, segment_size, ..WalOptions::default() }
}

fn entry(index: u64) -> Entry {
    Entry { index, term: 1, tag: 0, data: vec![index as u8; 10].into() }
}

/// A failed sync is final: the `Wal` refuses every later call instead
/// of retrying an fsync whose dirty pages the kernel may have dropped,
/// and a reopen recovers what was synced before.
#[test]
fn failed_sync_poisons_the_wal() {
    let dir = TempDir::new("poison");
    let (mut wal, _) = Wal::open(dir.path(), options(1 << 20)).unwrap();
    wal.append(&[entry(1)]).unwrap();
    wal.sync().unwrap();
    wal.append(&[entry(2)]).unwrap();
    hook::fail_next(|s| s.kind == SyncKind::Msync);
    assert!(matches!(wal.sync(), Err(Error::Io { what: "msync", .. })), "the failure is reported");
    assert!(matches!(wal.sync(), Err(Error::Poisoned)), "and never retried");
    assert!(matches!(wal.append(&[entry(3)]), Err(Error::Poisoned)));
    assert!(matches!(wal.set_hard_state(HardState::default()), Err(Error::Poisoned)));
    assert!(matches!(wal.truncate_suffix(1), Err(Error::Poisoned)));
    drop(wal);
    let (_wal, recovered) = Wal::open(dir.path(), options(1 << 20)).unwrap();
    assert_eq!(recovered.entries.first().map(|e| e.index), Some(1));
}

/// Writes a hard state and `n` entries of 100 bytes without syncing them,
/// and drops the `Wal` unsynced: what a `kill -9` leaves (the page cache
/// holds the records, the disk may not). Returns the syncs it performed.
fn write_unsynced(dir: &Path, segment_size: u64, n: u64) -> Vec<hook::Synced> {
    let (mut wal, _) = Wal::open(dir, options(segment_size)).unwrap();
    hook::take_log();
    wal.set_hard_state(HardState { current_term: 3, voted_for: Some(2) }).unwrap();
    let entries: Vec<Entry> =
        (1..=n).map(|index| Entry { index, term: 3, tag: 0, data: vec![index as u8; 100].into() }).collect();
    wal.append(&entries).unwrap();
    drop(wal);
    hook::take_log()
}

/// Every record in `dir` as `(segment path, byte range)`.
fn records(dir: &Path) -> Vec<(PathBuf, std::ops::Range<u64>)> {
    let mut out = Vec::new();
    for path in crate::inspect::segments(dir).unwrap() {
        crate::inspect::walk_segment(&path, &mut |offset, len, _| {
            out.push((path.clone(), offset as u64..(offset + len) as u64));
        })
        .unwrap();
    }
    out
}

fn covered(synced: &[hook::Synced], path: &Path, range: &std::ops::Range<u64>) -> bool {
    synced.iter().any(|s| s.covers(path, range))
}

/// Records a killed run never synced are synced by the next open, before
/// it returns them: every recovered record's bytes are inside a sync that
/// open performed, and the directory is synced too.
#[test]
fn open_makes_unsynced_records_durable() {
    let dir = TempDir::new("open-syncs");
    let before = write_unsynced(dir.path(), 4096, 100);
    let all = records(dir.path());
    assert!(crate::inspect::segments(dir.path()).unwrap().len() >= 3, "want several segments");
    let (last_path, last_range) = all.last().unwrap();
    assert!(!covered(&before, last_path, last_range), "the last record was never synced by its writer");

    let (wal, recovered) = Wal::open(dir.path(), options(4096)).unwrap();
    let during_open = hook::take_log();
    assert_eq!(recovered.entries.len(), 100);
    assert_eq!(recovered.hard_state.current_term, 3);
    for (path, range) in &all {
        assert!(covered(&during_open, path, range), "{} {range:?} not synced by open", path.display());
    }
    let dir_synced = |s: &hook::Synced| s.kind == SyncKind::FsyncDir && s.path == dir.path();
    assert!(during_open.iter().any(dir_synced), "the directory was not synced: {during_open:?}");
    drop(wal);
}

/// A new log syncs its directory and the directory's parent, so the
/// directory's own name is durable before anything in it counts.
#[test]
fn a_new_log_syncs_its_directory_and_parent() {
    let dir = TempDir::new("open-new");
    hook::take_log();
    let (_wal, _) = Wal::open(dir.path(), options(4096)).unwrap();
    let synced = hook::take_log();
    let parent = dir.path().parent().unwrap();
    for path in [dir.path(), parent] {
        let found = synced.iter().any(|s| s.kind == SyncKind::FsyncDir && s.path == path);
        assert!(found, "{} not synced: {synced:?}", path.display());
    }
}

/// A sync that fails while open makes the recovered log durable fails
/// open (no `Wal` to act on unsynced records), whichever sync it is; the
/// records are still there for a later open whose syncs succeed.
#[test]
fn a_failed_sync_during_open_fails_open() {
    let dir = TempDir::new("open-sync-fails");
    write_unsynced(dir.path(), 4096, 100);
    let active = crate::inspect::segments(dir.path()).unwrap().pop().unwrap();
    let dir_path = dir.path().to_path_buf();
    type Matcher = Box<dyn Fn(&hook::Synced) -> bool>;
    let cases: [(&str, Matcher); 3] = [
        ("msync of the active segment", Box::new(move |s| s.kind == SyncKind::Msync && s.path == active)),
        ("fdatasync of a closed segment", Box::new(|s| s.kind == SyncKind::Fdatasync)),
        ("fsync of the directory", Box::new(move |s| s.kind == SyncKind::FsyncDir && s.path == dir_path)),
    ];
    for (what, matches) in cases {
        hook::fail_next(matches);
        let err = Wal::open(dir.path(), options(4096)).err().unwrap_or_else(|| panic!("{what}: opened"));
        assert!(!hook::failure_pending(), "{what}: the failure never fired");
        let Error::RecoverySync { dir: err_dir, source } = &err else { panic!("{what}: {err}") };
        assert_eq!(err_dir, dir.path());
        assert!(matches!(**source, Error::Io { .. }), "{what}: {source}");
        let line = err.to_string();
        assert!(line.contains("not opened") && !line.contains('\n'), "{what}: {line}");
    }
    let (_wal, recovered) = Wal::open(dir.path(), options(4096)).unwrap();
    assert_eq!(recovered.entries.len(), 100, "nothing was lost by the failed opens");
}
