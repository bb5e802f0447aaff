//! Power-loss simulation on copies of a synced log: cut the last segment at
//! every byte offset of its last records, flip random bits, zero random
//! pages. Reopen must recover exactly the records before the damage (all of
//! them synced), never a damaged record, and refuse damage that valid
//! records follow, changing nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{entry, small, TestDir};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wal::format::HEADER_LEN;
use wal::{inspect, Entry, Error, HardState, RecordRef, Recovered, Wal};

const SEGMENT: u64 = 16 << 10;

/// One record as written: where it is and what it says.
#[derive(Clone)]
struct Written {
    segment: usize,
    offset: usize,
    len: usize,
    record: Owned,
}

#[derive(Clone)]
enum Owned {
    Entry(Entry),
    HardState(HardState),
    Truncate(u64),
}

/// A synced log of several segments: one hard state, entries of varied
/// sizes, a few truncations. Returns the dir and every record in order.
fn build() -> (TestDir, Vec<PathBuf>, Vec<Written>) {
    let dir = TestDir::new("crash-src");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (mut wal, _) = Wal::open(dir.path(), small(SEGMENT)).unwrap();
    wal.set_hard_state(HardState { current_term: 4, voted_for: Some(2) }).unwrap();
    let mut next = 1;
    while next < 600 {
        if next % 97 == 0 {
            next -= 3;
            wal.truncate_suffix(next).unwrap();
        }
        let n = rng.random_range(1..4);
        let batch: Vec<Entry> =
            (next..next + n).map(|i| entry(i, 1 + i / 50, rng.random_range(1..120))).collect();
        wal.append(&batch).unwrap();
        wal.sync().unwrap();
        next += n;
    }
    drop(wal);
    let paths = inspect::segments(dir.path()).unwrap();
    let mut written = Vec::new();
    for (segment, path) in paths.iter().enumerate() {
        inspect::walk_segment(path, &mut |offset, len, rec| {
            let record = match rec {
                RecordRef::Entry { index, term, tag, data } => {
                    Owned::Entry(Entry { index, term, tag, data: data.to_vec().into() })
                }
                RecordRef::HardState(hs) => Owned::HardState(hs),
                RecordRef::Truncate { from_index } => Owned::Truncate(from_index),
            };
            written.push(Written { segment, offset, len, record });
        })
        .unwrap();
    }
    assert!(paths.len() >= 3, "want several segments, got {}", paths.len());
    (dir, paths, written)
}

/// The state after the first `n` records: this test's own replay rules.
fn expected(written: &[Written], n: usize) -> (HardState, Vec<Entry>) {
    let mut hs = HardState::default();
    let mut entries: Vec<Entry> = Vec::new();
    for w in &written[..n] {
        match &w.record {
            Owned::Entry(e) => {
                entries.retain(|x| x.index < e.index);
                entries.push(e.clone());
            }
            Owned::HardState(h) => hs = *h,
            Owned::Truncate(from) => entries.retain(|x| x.index < *from),
        }
    }
    (hs, entries)
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> =
        inspect::segments(dir).unwrap().into_iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    v.sort();
    v
}

/// Opens a damaged copy whose first damaged record is `first_bad` (None:
/// nothing damaged) and checks the outcome against the rules.
fn check(
    copy: &TestDir,
    written: &[Written],
    first_bad: Option<usize>,
    any_good_after: bool,
) -> Option<Recovered> {
    let before = files(copy.path());
    match Wal::open(copy.path(), small(SEGMENT)) {
        Ok((_, rec)) => {
            assert!(!any_good_after, "damage followed by valid records was accepted");
            let n = first_bad.unwrap_or(written.len());
            let (hs, entries) = expected(written, n);
            assert_eq!(rec.hard_state, hs);
            assert!(
                rec.entries == entries,
                "recovered {} entries, expected {}",
                rec.entries.len(),
                entries.len()
            );
            Some(rec)
        }
        Err(Error::Corruption { path, offset, .. }) => {
            assert!(any_good_after, "refused a log that only lost its tail ({path:?} @ {offset})");
            assert!(first_bad.is_some() || !path.as_os_str().is_empty(), "corruption at {offset}");
            assert!(before == files(copy.path()), "a refused open changed the files");
            None
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn cut_at_every_byte_of_the_last_records() {
    let (src, paths, written) = build();
    let last_seg = paths.len() - 1;
    let in_last: Vec<usize> = (0..written.len()).filter(|&i| written[i].segment == last_seg).collect();
    let from = written[in_last[in_last.len().saturating_sub(5)]].offset;
    let end = written.last().map(|w| w.offset + w.len).unwrap();
    for cut in from..=end {
        let copy = src.copy("cut");
        let path = copy.path().join(paths[last_seg].file_name().unwrap());
        if cut % 2 == 0 {
            std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(cut as u64).unwrap();
        } else {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[cut..].fill(0);
            std::fs::write(&path, bytes).unwrap();
        }
        let first_bad = written.iter().position(|w| w.segment == last_seg && w.offset + w.len > cut);
        let rec = check(&copy, &written, first_bad, false).unwrap();
        let at_boundary = first_bad.is_none_or(|b| written[b].offset == cut);
        assert_eq!(rec.report.torn_tail.is_none(), at_boundary, "cut at {cut}: {:?}", rec.report);
        if let Some(torn) = rec.report.torn_tail {
            assert_eq!(torn.offset as usize, written[first_bad.unwrap()].offset);
        }
        if cut % 7 == 0 {
            let (mut wal, rec) = Wal::open(copy.path(), small(SEGMENT)).unwrap();
            assert_eq!(rec.report.torn_tail, None, "the cut tail was repaired");
            // The repaired log takes new writes and replays them.
            let next = wal.last_index().map_or(1, |l| l + 1);
            wal.append(&[entry(next, 9, 10)]).unwrap();
            wal.sync().unwrap();
            drop(wal);
            let (_, rec) = Wal::open(copy.path(), small(SEGMENT)).unwrap();
            assert_eq!(rec.entries.last().map(|e| (e.index, e.term)), Some((next, 9)));
        }
    }
}

/// Damages bytes `[at, at + len)` of segment `seg` of a copy and checks.
fn damage_and_check(
    src: &TestDir,
    paths: &[PathBuf],
    written: &[Written],
    seg: usize,
    edit: impl Fn(&mut [u8]),
) {
    let copy = src.copy("damage");
    let path = copy.path().join(paths[seg].file_name().unwrap());
    let original = std::fs::read(&path).unwrap();
    let mut bytes = original.clone();
    edit(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let Some(first_changed) = original.iter().zip(&bytes).position(|(a, b)| a != b) else { return };
    let changed = |w: &Written| {
        w.segment == seg && original[w.offset..w.offset + w.len] != bytes[w.offset..w.offset + w.len]
    };
    let first_bad = written.iter().position(changed);
    // Valid records after the damage (even damage to the zeroed tail of a
    // closed segment) make it corruption.
    let after = |w: &Written| w.segment > seg || (w.segment == seg && w.offset > first_changed);
    let any_good_after = written.iter().any(|w| after(w) && !changed(w));
    check(&copy, written, first_bad, any_good_after);
}

#[test]
fn random_bit_flips() {
    let (src, paths, written) = build();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..300 {
        let seg = rng.random_range(0..paths.len());
        let end = written.iter().filter(|w| w.segment == seg).map(|w| w.offset + w.len).max().unwrap();
        // Mostly inside records, sometimes in the zeroed tail.
        let limit = if rng.random_bool(0.8) { end } else { SEGMENT as usize };
        let bit = rng.random_range(HEADER_LEN * 8..limit * 8);
        damage_and_check(&src, &paths, &written, seg, |b| b[bit / 8] ^= 1 << (bit % 8));
    }
}

#[test]
fn random_zeroed_pages() {
    let (src, paths, written) = build();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..100 {
        let seg = rng.random_range(0..paths.len());
        let page = rng.random_range(1..(SEGMENT as usize / 4096));
        damage_and_check(&src, &paths, &written, seg, |b| b[page * 4096..(page + 1) * 4096].fill(0));
    }
}
