//! Snapshot files through the public API: round trips, verification of
//! every byte, the choice of the latest snapshot, clean-up, and a `Wal`
//! sharing the directory.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use proptest::prelude::*;
use wal::snapshot::{self, format, SnapshotMeta, SnapshotReader, SnapshotWriter};
use wal::{Error, Identity, Wal, WalOptions};

use common::{entry, TestDir};

const ME: Identity = Identity { cluster_id: 7001, member_id: 2 };

fn meta(index: u64, term: u64) -> SnapshotMeta {
    SnapshotMeta { index, term }
}

/// `len` bytes that differ from position to position and from seed to seed.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `bytes` as snapshot `m` in chunks of the sizes `chunks` cycles through.
fn write_snapshot(dir: &Path, m: SnapshotMeta, bytes: &[u8], chunks: &[usize]) -> snapshot::SnapshotInfo {
    let mut w = SnapshotWriter::create(dir, ME, m).unwrap();
    let mut rest = bytes;
    for size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).clamp(1, rest.len()));
        w.write_all(chunk).unwrap();
        rest = tail;
    }
    assert_eq!(w.written(), bytes.len() as u64);
    w.finish().unwrap()
}

fn read_all(reader: &mut SnapshotReader, buf_size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; buf_size];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_refused(result: wal::Result<SnapshotReader>, path: &Path) -> String {
    match result {
        Err(e @ Error::SnapshotCorrupt { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            message
        }
        Err(e) => panic!("expected SnapshotCorrupt, got {e}"),
        Ok(r) => panic!("accepted {:?}", r.info()),
    }
}

#[test]
fn multi_megabyte_round_trip_in_odd_chunks() {
    let dir = TestDir::new("snap-big");
    let bytes = data((5 << 20) + 7, 1);
    let info = write_snapshot(dir.path(), meta(1000, 3), &bytes, &[1, 4093, 65_537, 13, 300_001, 2]);
    assert_eq!(info.meta, meta(1000, 3));
    assert_eq!((info.len, info.crc32c, info.identity), (bytes.len() as u64, crc32c::crc32c(&bytes), ME));
    let path = dir.path().join("snap-00000000000000001000-00000000000000000003.snap");
    assert_eq!(snapshot::list(dir.path()).unwrap(), vec![path.clone()]);
    let mut reader = SnapshotReader::open(&path).unwrap();
    assert_eq!(*reader.info(), info);
    // read_at does not move the stream: interleave it with streaming.
    let mut head = vec![0u8; 10_007];
    reader.read_exact(&mut head).unwrap();
    let mut chunk = vec![0u8; 70_000];
    for offset in [0u64, 1, 65_535, 3 << 20, bytes.len() as u64 - 70_000] {
        assert_eq!(reader.read_at(offset, &mut chunk).unwrap(), chunk.len());
        assert_eq!(chunk[..], bytes[offset as usize..offset as usize + chunk.len()]);
    }
    let tail_at = bytes.len() as u64 - 5;
    assert_eq!(reader.read_at(tail_at, &mut chunk).unwrap(), 5, "short at the end");
    assert_eq!(chunk[..5], bytes[bytes.len() - 5..]);
    assert_eq!(reader.read_at(bytes.len() as u64, &mut chunk).unwrap(), 0);
    assert_eq!(reader.read_at(u64::MAX, &mut chunk).unwrap(), 0);
    let mut rest = read_all(&mut reader, 12_345);
    head.append(&mut rest);
    assert!(head == bytes, "streamed data differs");
    assert_eq!(read_all(&mut SnapshotReader::open(&path).unwrap(), 1 << 20).len(), bytes.len());
}

#[test]
fn empty_snapshot_round_trip() {
    let dir = TestDir::new("snap-empty");
    let info = write_snapshot(dir.path(), meta(1, 1), &[], &[1]);
    assert_eq!(info.len, 0);
    let mut reader = SnapshotReader::open(&format::path(dir.path(), meta(1, 1))).unwrap();
    assert!(read_all(&mut reader, 10).is_empty());
    assert_eq!(reader.read_at(0, &mut [0u8; 4]).unwrap(), 0);
}

#[test]
fn a_truncated_or_extended_file_is_refused() {
    let dir = TestDir::new("snap-trunc");
    write_snapshot(dir.path(), meta(5, 2), &data(10_000, 2), &[777]);
    let path = format::path(dir.path(), meta(5, 2));
    let whole = std::fs::read(&path).unwrap();
    for len in [0, 1, 7, 8, 63, 64, 65, 5000, whole.len() - 1] {
        std::fs::write(&path, &whole[..len]).unwrap();
        assert_refused(SnapshotReader::open(&path), &path);
    }
    let mut longer = whole.clone();
    longer.push(0);
    std::fs::write(&path, &longer).unwrap();
    let message = assert_refused(SnapshotReader::open(&path), &path);
    assert!(message.contains("1 bytes after"), "{message}");
    std::fs::write(&path, &whole).unwrap();
    SnapshotReader::open(&path).unwrap();
}

#[test]
fn a_header_that_disagrees_with_the_file_name_is_refused() {
    let dir = TestDir::new("snap-name");
    write_snapshot(dir.path(), meta(5, 2), &data(100, 3), &[100]);
    let renamed = format::path(dir.path(), meta(9, 2));
    std::fs::rename(format::path(dir.path(), meta(5, 2)), &renamed).unwrap();
    let message = assert_refused(SnapshotReader::open(&renamed), &renamed);
    assert!(message.contains("index 5 term 2") && message.contains("index 9 term 2"), "{message}");
    // Under a name that is not a snapshot name (a received copy, say), the header decides.
    let other = dir.path().join("copy");
    std::fs::rename(&renamed, &other).unwrap();
    assert_eq!(SnapshotReader::open(&other).unwrap().info().meta, meta(5, 2));
}

#[test]
fn latest_falls_back_past_a_corrupt_newest_and_reports_it() {
    let dir = TestDir::new("snap-latest");
    assert!(snapshot::latest(dir.path(), ME).unwrap().snapshot.is_none());
    write_snapshot(dir.path(), meta(10, 1), &data(3000, 10), &[1000]);
    write_snapshot(dir.path(), meta(20, 2), &data(3000, 20), &[1000]);
    let newest = write_snapshot(dir.path(), meta(30, 2), &data(3000, 30), &[1000]);
    assert_eq!(snapshot::latest(dir.path(), ME).unwrap().snapshot.unwrap().info(), &newest);
    // An unfinished newer one is never a candidate, nor a refusal.
    let mut unfinished = SnapshotWriter::create(dir.path(), ME, meta(40, 3)).unwrap();
    unfinished.write_all(&data(500, 40)).unwrap();
    unfinished.flush().unwrap();
    let p30 = format::path(dir.path(), meta(30, 2));
    let mut bytes = std::fs::read(&p30).unwrap();
    bytes[2000] ^= 0x10;
    std::fs::write(&p30, &bytes).unwrap();
    let p20 = format::path(dir.path(), meta(20, 2));
    let found = snapshot::latest(dir.path(), ME).unwrap();
    assert_eq!(found.snapshot.as_ref().map(|s| s.path()), Some(p20.as_path()));
    assert_eq!(found.refused.len(), 1, "{:?}", found.refused);
    assert_eq!(found.refused[0].0, p30);
    assert!(found.refused[0].1.contains("data checksum mismatch"), "{:?}", found.refused);
    // A damaged header is refused too, and reported.
    let p20_bytes = std::fs::read(&p20).unwrap();
    let mut damaged = p20_bytes.clone();
    damaged[20] ^= 1;
    std::fs::write(&p20, &damaged).unwrap();
    let found = snapshot::latest(dir.path(), ME).unwrap();
    assert_eq!(found.snapshot.unwrap().info().meta, meta(10, 1));
    let refused: Vec<_> = found.refused.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(refused, vec![p20, p30]);
    drop(unfinished);
}

#[test]
fn a_snapshot_of_another_identity_is_an_error() {
    let dir = TestDir::new("snap-foreign");
    write_snapshot(dir.path(), meta(10, 1), &data(100, 1), &[100]);
    let other = Identity { member_id: 3, ..ME };
    let mut w = SnapshotWriter::create(dir.path(), other, meta(5, 1)).unwrap();
    w.write_all(b"theirs").unwrap();
    w.finish().unwrap();
    let path = format::path(dir.path(), meta(5, 1));
    match snapshot::latest(dir.path(), ME) {
        Err(e @ Error::ForeignSnapshot { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains(&path.display().to_string()) && message.contains("member 3"),
                "{message}"
            );
        }
        other => panic!("expected ForeignSnapshot, got {other:?}"),
    }
    assert_eq!(
        snapshot::latest(dir.path(), other).err().map(|e| matches!(e, Error::ForeignSnapshot { .. })),
        Some(true)
    );
}

#[test]
fn finish_expecting_refuses_a_wrong_length_or_checksum() {
    let dir = TestDir::new("snap-expect");
    let bytes = data(4096, 5);
    let crc = crc32c::crc32c(&bytes);
    for (len, crc) in [(4095, crc), (4096, crc ^ 1), (0, 0)] {
        let mut w = SnapshotWriter::create(dir.path(), ME, meta(7, 1)).unwrap();
        w.write_all(&bytes).unwrap();
        match w.finish_expecting(len, crc) {
            Err(e @ Error::SnapshotMismatch { .. }) => assert!(e.to_string().contains("snap.tmp"), "{e}"),
            other => panic!("expected SnapshotMismatch, got {other:?}"),
        }
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }
    let mut w = SnapshotWriter::create(dir.path(), ME, meta(7, 1)).unwrap();
    w.write_all(&bytes).unwrap();
    assert_eq!(w.finish_expecting(4096, crc).unwrap().crc32c, crc);
    assert_eq!(names(dir.path()), vec![format::file_name(meta(7, 1))]);
}

#[test]
fn an_unfinished_writer_dropped_leaves_nothing() {
    let dir = TestDir::new("snap-drop");
    let mut w = SnapshotWriter::create(dir.path(), ME, meta(3, 1)).unwrap();
    w.write_all(&data(1 << 20, 3)).unwrap();
    assert_eq!(names(dir.path()), vec![format!("{}.tmp", format::file_name(meta(3, 1)))]);
    assert!(snapshot::list(dir.path()).unwrap().is_empty(), "a temporary is not a snapshot");
    drop(w);
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    assert!(matches!(SnapshotWriter::create(dir.path(), ME, meta(0, 0)), Err(Error::ZeroIndex)));
}

#[test]
fn remove_older_removes_older_snapshots_and_leftover_temporaries() {
    let dir = TestDir::new("snap-remove");
    for i in [10, 20, 30] {
        write_snapshot(dir.path(), meta(i, 1), &data(100, i), &[33]);
    }
    // Left by a writer that crashed, and one being written now.
    std::fs::write(format::tmp_path(dir.path(), meta(40, 1)), b"partial").unwrap();
    let mut writing = SnapshotWriter::create(dir.path(), ME, meta(50, 1)).unwrap();
    writing.write_all(b"in progress").unwrap();
    assert!(SnapshotWriter::create(dir.path(), ME, meta(50, 1)).is_err(), "one writer per snapshot");
    let before = names(dir.path());
    assert!(snapshot::remove_older(dir.path(), meta(25, 1)).is_err(), "keep must exist");
    assert_eq!(names(dir.path()), before, "nothing removed");
    assert_eq!(snapshot::remove_older(dir.path(), meta(20, 1)).unwrap(), 2);
    let left: Vec<String> = [meta(20, 1), meta(30, 1)].into_iter().map(format::file_name).collect();
    let tmp_50 = format!("{}.tmp", format::file_name(meta(50, 1)));
    assert_eq!(names(dir.path()), [left.clone(), vec![tmp_50]].concat());
    writing.finish().unwrap();
    assert_eq!(snapshot::remove_older(dir.path(), meta(50, 1)).unwrap(), 2);
    assert_eq!(names(dir.path()), vec![format::file_name(meta(50, 1))]);
    assert_eq!(snapshot::remove_older(dir.path(), meta(50, 1)).unwrap(), 0);
}

#[test]
fn a_wal_opens_in_a_directory_holding_snapshots_and_temporaries() {
    let dir = TestDir::new("snap-wal");
    let options = WalOptions { identity: ME, ..common::small(4096) };
    let (mut wal, _) = Wal::open(dir.path(), options.clone()).unwrap();
    let entries: Vec<_> = (1..=50).map(|i| entry(i, 1, 100)).collect();
    wal.append(&entries).unwrap();
    wal.sync().unwrap();
    write_snapshot(dir.path(), meta(20, 1), &data(5000, 20), &[999]);
    drop(wal);
    std::fs::write(format::tmp_path(dir.path(), meta(40, 1)), b"partial").unwrap();
    std::fs::write(dir.path().join("snap-00000000000000000001-0.snap"), b"not quite a name").unwrap();
    let mut writing = SnapshotWriter::create(dir.path(), ME, meta(45, 1)).unwrap();
    writing.write_all(&data(3000, 45)).unwrap();
    let before = names(dir.path());
    let (wal, recovered) = Wal::open(dir.path(), options).unwrap();
    assert_eq!(recovered.entries, entries);
    assert_eq!(names(dir.path()), before, "open leaves snapshot files alone");
    writing.finish().unwrap();
    let found = snapshot::latest(dir.path(), ME).unwrap();
    assert_eq!(found.snapshot.unwrap().info().meta, meta(45, 1));
    assert!(found.refused.is_empty());
    drop(wal);
}

/// A snapshot of `len` bytes written in chunks of `chunk` bytes; its file.
fn small_snapshot(dir: &Path, len: usize, chunk: usize) -> (Vec<u8>, std::path::PathBuf) {
    let bytes = data(len, len as u64);
    write_snapshot(dir, meta(9, 4), &bytes, &[chunk, chunk / 2 + 1]);
    (bytes, format::path(dir, meta(9, 4)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_data_in_any_chunks_round_trips(len in 0usize..20_000, chunk in 1usize..5000, buf in 1usize..3000) {
        let dir = TestDir::new("snap-prop-rt");
        let (bytes, path) = small_snapshot(dir.path(), len, chunk);
        let mut reader = SnapshotReader::open(&path).unwrap();
        prop_assert!(read_all(&mut reader, buf) == bytes);
        let offset = (chunk * 7) as u64 % (len as u64 + 1);
        let mut at = vec![0u8; buf];
        let n = reader.read_at(offset, &mut at).unwrap();
        prop_assert_eq!(&at[..n], &bytes[offset as usize..(offset as usize + buf).min(len)]);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_refused(len in 1usize..6000, at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let dir = TestDir::new("snap-prop-flip");
        let (_, path) = small_snapshot(dir.path(), len, 1000);
        let mut file = std::fs::read(&path).unwrap();
        let at = at.index(file.len());
        file[at] ^= mask;
        std::fs::write(&path, &file).unwrap();
        assert_refused(SnapshotReader::open(&path), &path);
        let inspected = snapshot::inspect(&path).unwrap();
        prop_assert!(inspected.refused.is_some());
        prop_assert_eq!(inspected.header.is_some(), at >= format::HEADER_LEN);
    }

    #[test]
    fn a_truncated_file_is_refused(len in 1usize..6000, cut in any::<prop::sample::Index>()) {
        let dir = TestDir::new("snap-prop-cut");
        let (_, path) = small_snapshot(dir.path(), len, 1000);
        let file = std::fs::read(&path).unwrap();
        std::fs::write(&path, &file[..cut.index(file.len())]).unwrap();
        assert_refused(SnapshotReader::open(&path), &path);
    }

    #[test]
    fn names_round_trip(index in 1u64.., term in any::<u64>()) {
        let name = format::file_name(meta(index, term));
        prop_assert_eq!(name.len(), "snap-".len() + 20 + 1 + 20 + ".snap".len());
        prop_assert_eq!(format::parse_name(&name), Some(meta(index, term)));
        prop_assert_eq!(format::parse_name(&format!("{name}.tmp")), None);
        prop_assert_eq!(format::parse_tmp_name(&format!("{name}.tmp")), Some(meta(index, term)));
    }
}
