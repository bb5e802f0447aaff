//! A member restarted with a corrupted WAL (a bad checksum followed by
//! valid records) refuses to start, with one clear line naming the file
//! and the offset; with the byte restored it starts and catches up.

use std::time::Duration;

use tests::procs::faults::corrupt_middle_record;
use tests::procs::oracle::{assert_final, Writer};
use tests::procs::{ClusterSpec, ProcCluster};

#[test]
fn corrupted_wal_refuses_to_start_and_starts_once_restored() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    let leader = cluster.wait_leader(Duration::from_secs(10)).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "wal");
    assert!(writer.wait_progress(30, Duration::from_secs(30)), "too few writes");
    let victim = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.kill(victim).unwrap();

    let corruption = corrupt_middle_record(&cluster.data_dir(victim), 10).unwrap();
    let (status, stderr) = cluster.run_to_exit(victim, Duration::from_secs(10)).unwrap();
    assert!(!status.success(), "started on a corrupted WAL: {status}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one clear line, got: {stderr:?}");
    let file_name = corruption.path.file_name().unwrap().to_string_lossy().to_string();
    assert!(lines[0].contains(&file_name), "line does not name {file_name}: {:?}", lines[0]);
    assert!(
        lines[0].contains(&corruption.record_offset.to_string()),
        "line does not name offset {} (byte flipped at {}): {:?}",
        corruption.record_offset,
        corruption.byte_offset,
        lines[0]
    );
    eprintln!("refused as expected: {}", lines[0]);

    corruption.restore().unwrap();
    cluster.spawn(victim).unwrap();
    assert!(writer.wait_progress(5, Duration::from_secs(15)), "no writes after the restart");
    let report = writer.stop();
    assert_final(&mut cluster, &report);
}

/// A member started on another member's data directory (while that one is
/// stopped) refuses with one line naming both, exit 2, and changes nothing.
#[test]
fn another_members_data_directory_is_refused() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(Duration::from_secs(10)).unwrap();
    cluster.kill(3).unwrap();
    cluster.kill(2).unwrap();
    let dir = cluster.data_dir(3);
    let before = dir_bytes(&dir).unwrap();
    let cli = cluster.cli();
    let out = std::process::Command::new(&cli.bin)
        .arg("run")
        .arg("--config")
        .arg(&cli.config)
        .args(["--id", "2", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("member 3") && lines[0].contains("member 2"), "{stderr}");
    assert_eq!(dir_bytes(&dir).unwrap(), before, "the directory changed");
}

/// Every file of `dir` by name, with its bytes.
fn dir_bytes(dir: &std::path::Path) -> std::io::Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut files = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        files.insert(entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path())?);
    }
    Ok(files)
}
