//! `wal-dump` shows the identity a log records. In a test binary of its
//! own: spawning a process duplicates every open descriptor of the test
//! process until the child's `exec`, the log directory's lock among them,
//! so a sibling test that closed a log and opens it again at that moment
//! would find it locked.

mod common;

use std::path::Path;
use std::process::Command;

use common::identity::{build, make_version_1, ME};
use common::TestDir;

fn wal_dump(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wal-dump")).arg(dir).arg("--summary").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn wal_dump_shows_the_identity() {
    let dir = TestDir::new("id-dump");
    build(dir.path(), ME, 100);
    let out = wal_dump(dir.path());
    assert!(out.lines().any(|l| l == "identity: cluster 7001 member 2"), "{out}");
    let segment_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("segment ")).collect();
    assert!(
        segment_lines.len() > 1 && segment_lines.iter().all(|l| l.contains("cluster 7001 member 2")),
        "{out}"
    );
    make_version_1(dir.path());
    let out = wal_dump(dir.path());
    assert!(out.contains("identity: none recorded (format version 1"), "{out}");
}
