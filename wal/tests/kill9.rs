//! `kill -9` of a child process that appends and syncs: every index it
//! printed as synced is in the log after reopening. Run twice, so the
//! second child resumes from a killed log.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{small, TestDir};
use wal::Wal;

/// Runs the child until it printed `lines` synced lines, kills it, and
/// returns the highest index it reported synced.
fn run_and_kill(dir: &std::path::Path, lines: usize) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wal-crash-child"))
        .arg(dir)
        .arg("100000000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut synced = 0;
    for _ in 0..lines {
        let line = out.next().expect("child ended early").unwrap();
        synced = line.strip_prefix("synced ").unwrap().parse().unwrap();
    }
    child.kill().unwrap(); // SIGKILL
                           // Lines printed before the kill landed were synced too.
    for line in out {
        synced = line.unwrap().strip_prefix("synced ").unwrap().parse().unwrap();
    }
    child.wait().unwrap();
    synced
}

fn expected_data(index: u64) -> Vec<u8> {
    index.to_string().repeat(1 + (index % 50) as usize).into_bytes()
}

#[test]
fn every_synced_index_survives_kill_9() {
    let dir = TestDir::new("kill9");
    let first = run_and_kill(dir.path(), 300);
    let second = run_and_kill(dir.path(), 300);
    assert!(second > first);
    let (_, rec) = Wal::open(dir.path(), small(64 << 10)).unwrap();
    let last = rec.entries.last().unwrap().index;
    assert!(last >= second, "synced up to {second}, recovered up to {last}");
    for (i, e) in rec.entries.iter().enumerate() {
        assert_eq!(e.index, i as u64 + 1);
        assert_eq!(e.term, e.index / 100 + 1);
        assert_eq!(e.data, expected_data(e.index));
    }
    assert!(rec.report.segments_read > 1, "the run should roll over segments");
}
