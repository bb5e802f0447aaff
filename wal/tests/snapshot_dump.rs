//! `wal-dump` lists a directory's snapshot files and whether each
//! verifies, without changing anything. In a test binary of its own, like
//! `identity_dump.rs`: a spawned child holds every descriptor of the test
//! process until its `exec` (a log's lock, a snapshot writer's lock), so a
//! sibling test could find them held.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::identity::{build, ME};
use common::TestDir;
use wal::snapshot::{format, SnapshotMeta, SnapshotWriter};

fn wal_dump(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wal-dump")).arg(dir).arg("--summary").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn write(dir: &Path, index: u64, len: usize) {
    let mut w = SnapshotWriter::create(dir, ME, SnapshotMeta { index, term: 1 }).unwrap();
    w.write_all(&vec![index as u8; len]).unwrap();
    w.finish().unwrap();
}

#[test]
fn wal_dump_lists_the_snapshot_files() {
    let dir = TestDir::new("snap-dump");
    build(dir.path(), ME, 100);
    write(dir.path(), 40, 3000);
    write(dir.path(), 60, 5000);
    let p60 = format::path(dir.path(), SnapshotMeta { index: 60, term: 1 });
    let mut bytes = std::fs::read(&p60).unwrap();
    bytes[format::HEADER_LEN + 10] ^= 1;
    std::fs::write(&p60, &bytes).unwrap();
    let p70 = format::path(dir.path(), SnapshotMeta { index: 70, term: 1 });
    std::fs::write(&p70, b"RAFTSN").unwrap();
    std::fs::write(format::tmp_path(dir.path(), SnapshotMeta { index: 80, term: 1 }), b"partial").unwrap();
    let before = common::snapshot(dir.path());
    let out = wal_dump(dir.path());
    assert_eq!(common::snapshot(dir.path()), before, "the dump changed nothing");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("snapshot ")).collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].contains("snap-00000000000000000040-00000000000000000001.snap: index 40 term 1"),
        "{out}"
    );
    assert!(lines[0].contains("cluster 7001 member 2, 3000 data bytes") && lines[0].ends_with(": verifies"));
    assert!(lines[1].contains("index 60 term 1") && lines[1].contains("5000 data bytes"), "{out}");
    assert!(lines[1].contains("REFUSED: data checksum mismatch"), "{out}");
    assert!(lines[2].contains("070-") && lines[2].contains("REFUSED: truncated header: 6 of 64"), "{out}");
    assert!(lines[3].starts_with("snapshot temporary ") && lines[3].contains("7 bytes, unfinished"), "{out}");
    assert!(out.lines().any(|l| l == "identity: cluster 7001 member 2"), "the rest is still there: {out}");
    assert!(out.contains("recovery: the log ends cleanly"), "{out}");
}
