//! `node bench` against real `node` processes: puts from 4 clients and the
//! machine's floor, each as one JSON object with consistent figures.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tests::procs::{ClusterSpec, ProcCluster};

/// Runs `node bench WORDS --json --config <the cluster's file>`; the
/// parsed JSON of a successful run.
fn bench(cluster: &ProcCluster, words: &str) -> Value {
    let cli = cluster.cli();
    let out = Command::new(&cli.bin)
        .arg("bench")
        .args(words.split_whitespace())
        .arg("--json")
        .arg("--config")
        .arg(&cli.config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node bench {words}: {}: {stderr}", out.status);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Some operations, no errors, percentiles in order.
fn assert_sane(what: &str, stats: &Value) {
    let n = |k: &str| stats[k].as_u64().unwrap_or_else(|| panic!("{what}: no {k} in {stats}"));
    let lat =
        |k: &str| stats["latency_us"][k].as_u64().unwrap_or_else(|| panic!("{what}: no {k} in {stats}"));
    assert!(n("ops") > 0, "{what}: {stats}");
    assert_eq!(n("errors"), 0, "{what}: {stats}");
    assert!(stats["ops_per_sec"].as_f64().unwrap() > 0.0, "{what}: {stats}");
    assert!(lat("p50") <= lat("p90") && lat("p90") <= lat("p99"), "{what}: {stats}");
    assert!(lat("p99") <= lat("p99_9") && lat("p99_9") <= lat("max"), "{what}: {stats}");
}

#[test]
fn bench_put_and_floor_report_consistent_figures() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(Duration::from_secs(10)).unwrap();

    let put = bench(&cluster, "put --clients 4 --total 200");
    assert_eq!(put["mode"], "put");
    assert_sane("put", &put["result"]);
    // Warm-up puts are not counted: exactly the --total.
    assert_eq!(put["result"]["ops"], 200, "{put}");
    assert_sane("put's echo floor", &put["floor"]["echo"]);
    assert_sane("put's fdatasync floor", &put["floor"]["fsync"]);
    for ratio in ["ops_per_sec_vs_echo", "p50_vs_echo_p50", "p50_vs_fsync_p50"] {
        assert!(put["ratios"][ratio].as_f64().is_some_and(|r| r > 0.0), "{ratio}: {put}");
    }

    let floor = bench(&cluster, "floor --clients 2 --duration 1s");
    assert_eq!(floor["mode"], "floor");
    assert!(floor["result"].is_null() && floor["ratios"].is_null(), "{floor}");
    assert_sane("echo", &floor["floor"]["echo"]);
    assert_sane("fdatasync", &floor["floor"]["fsync"]);
    assert_eq!(floor["floor"]["fsync"]["ops"], 500);
    cluster.check_alive().unwrap();
}
