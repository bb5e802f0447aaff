//! Round trips through close and reopen: entries, hard state, truncation,
//! roll-over, compaction, the lock.

mod common;

use common::{entry, small, TestDir};
use wal::{Entry, Error, HardState, Wal, WalOptions};

#[test]
fn empty_directory_opens_empty() {
    let dir = TestDir::new("empty");
    let (wal, rec) = Wal::open(dir.path(), small(4096)).unwrap();
    assert!(rec.entries.is_empty());
    assert_eq!(rec.hard_state, HardState::default());
    assert_eq!(wal.last_index(), None);
    assert_eq!(wal.segment_count(), 1);
}

#[test]
fn entries_and_hard_state_survive_reopen() {
    let dir = TestDir::new("basic");
    let entries: Vec<Entry> = (1..=50).map(|i| entry(i, 1 + i / 10, i as usize * 3)).collect();
    let hs = HardState { current_term: 6, voted_for: Some(3) };
    {
        let (mut wal, _) = Wal::open(dir.path(), small(1 << 20)).unwrap();
        wal.set_hard_state(HardState { current_term: 5, voted_for: None }).unwrap();
        wal.append(&entries[..20]).unwrap();
        wal.set_hard_state(hs).unwrap();
        wal.append(&entries[20..]).unwrap();
        wal.sync().unwrap();
        assert_eq!(wal.last_index(), Some(50));
    }
    let (wal, rec) = Wal::open(dir.path(), small(1 << 20)).unwrap();
    assert_eq!(rec.entries, entries);
    assert_eq!(rec.hard_state, hs);
    assert_eq!(wal.hard_state(), Some(hs));
    assert_eq!(rec.report.torn_tail, None);
    assert_eq!(rec.report.records_read, 52);
}

#[test]
fn entry_replaces_suffix_and_truncate_removes_it() {
    let dir = TestDir::new("replace");
    {
        let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
        wal.append(&(1..=10).map(|i| entry(i, 1, 8)).collect::<Vec<_>>()).unwrap();
        wal.append(&[entry(6, 2, 9)]).unwrap();
        wal.truncate_suffix(5).unwrap();
        wal.append(&[entry(5, 3, 1), entry(6, 3, 2)]).unwrap();
        assert!(matches!(wal.append(&[entry(8, 3, 1)]), Err(Error::IndexGap { index: 8, last: 6 })));
        assert!(matches!(wal.append(&[entry(0, 3, 1)]), Err(Error::ZeroIndex)));
        wal.sync().unwrap();
    }
    let (_, rec) = Wal::open(dir.path(), small(4096)).unwrap();
    let got: Vec<(u64, u64)> = rec.entries.iter().map(|e| (e.index, e.term)).collect();
    assert_eq!(got, vec![(1, 1), (2, 1), (3, 1), (4, 1), (5, 3), (6, 3)]);
}

#[test]
fn a_rejected_batch_writes_nothing() {
    let dir = TestDir::new("reject");
    let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
    wal.append(&[entry(1, 1, 1)]).unwrap();
    assert!(wal.append(&[entry(2, 1, 1), entry(4, 1, 1)]).is_err());
    assert_eq!(wal.last_index(), Some(1));
    wal.sync().unwrap();
    drop(wal);
    let (_, rec) = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(rec.entries.len(), 1);
}

#[test]
fn segments_roll_over_and_replay_across_them() {
    let dir = TestDir::new("roll");
    let entries: Vec<Entry> = (1..=400).map(|i| entry(i, 1, 100)).collect();
    {
        let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
        wal.set_hard_state(HardState { current_term: 1, voted_for: Some(1) }).unwrap();
        for chunk in entries.chunks(7) {
            wal.append(chunk).unwrap();
            wal.sync().unwrap();
        }
        assert!(wal.segment_count() > 10, "only {} segments", wal.segment_count());
    }
    let (wal, rec) = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(rec.entries, entries);
    assert_eq!(rec.report.segments_read, wal.segment_count());
    assert_eq!(rec.hard_state.voted_for, Some(1));
}

#[test]
fn oversized_record_is_refused_without_poisoning() {
    let dir = TestDir::new("large");
    let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
    assert!(matches!(wal.append(&[entry(1, 1, 5000)]), Err(Error::TooLarge { .. })));
    wal.append(&[entry(1, 1, 4000)]).unwrap();
    wal.sync().unwrap();
}

#[test]
fn compaction_drops_whole_segments_and_keeps_hard_state() {
    let dir = TestDir::new("compact");
    let hs = HardState { current_term: 9, voted_for: Some(2) };
    let entries: Vec<Entry> = (1..=300).map(|i| entry(i, 1, 100)).collect();
    let dropped;
    {
        let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
        wal.set_hard_state(hs).unwrap();
        wal.append(&entries).unwrap();
        wal.sync().unwrap();
        let before = wal.segment_count();
        assert_eq!(wal.compact_prefix(0).unwrap(), 0);
        dropped = wal.compact_prefix(200).unwrap();
        assert!(dropped > 0 && wal.segment_count() == before - dropped);
    }
    let (mut wal, rec) = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(rec.hard_state, hs);
    let first = rec.entries[0].index;
    assert!(first > 1 && first <= 201, "first entry {first}");
    assert_eq!(rec.entries, entries[first as usize - 1..]);
    wal.compact_prefix(10_000).unwrap();
    assert_eq!(wal.segment_count(), 1, "all but the active segment dropped");
    drop(wal);
    let (_, rec) = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(rec.hard_state, hs, "the active segment opens with the hard state");
    assert_eq!(rec.entries.last(), entries.last());
}

#[test]
fn second_open_is_locked() {
    let dir = TestDir::new("lock");
    let (_wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
    let err = Wal::open(dir.path(), small(4096)).err().unwrap();
    assert!(matches!(err, Error::Locked(_)), "{err}");
    assert!(err.to_string().contains("locked"));
}

#[test]
fn lock_is_released_on_drop() {
    let dir = TestDir::new("unlock");
    drop(Wal::open(dir.path(), small(4096)).unwrap());
    assert!(Wal::open(dir.path(), small(4096)).is_ok());
}

#[test]
fn create_dir_option() {
    let dir = TestDir::new("create");
    let missing = dir.path().join("a/b");
    let err = Wal::open(&missing, small(4096)).err().unwrap();
    assert!(matches!(err, Error::MissingDir(_)), "{err}");
    assert!(!missing.exists());
    let options = WalOptions { segment_size: 4096, create_dir: true, ..WalOptions::default() };
    assert!(Wal::open(&missing, options).is_ok());
}

#[test]
fn bad_options_are_refused() {
    let dir = TestDir::new("options");
    assert!(matches!(Wal::open(dir.path(), small(100)), Err(Error::Options(_))));
}
