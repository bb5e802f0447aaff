//! `node bench` against real `node` processes: puts from 4 clients and the
//! machine's floor, each as one JSON object with consistent figures; and
//! the suite (every workload at several client counts) with leases on.

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

#[test]
fn bench_suite_reports_every_workload_at_every_client_count() {
    let mut spec = ClusterSpec::loopback(3).unwrap();
    spec.extra_toml = "[reads]\nlease = true\n".into();
    let mut cluster = ProcCluster::start(spec).unwrap();
    cluster.wait_leader(Duration::from_secs(10)).unwrap();

    let suite = bench(&cluster, "suite --clients 1,4 --total 100");
    assert_eq!((suite["mode"].as_str(), suite["lease_reads"].as_bool()), (Some("suite"), Some(true)));
    assert_sane("fdatasync", &suite["floor"]["fsync"]);
    let echoes = suite["floor"]["echo"].as_array().unwrap();
    let rows = suite["rows"].as_array().unwrap();
    assert_eq!((echoes.len(), rows.len()), (2, 2 * 7), "{suite}");
    for (i, clients) in [1, 4].into_iter().enumerate() {
        assert_eq!(echoes[i]["clients"], clients, "{suite}");
        assert_sane(&format!("echo of {clients}"), &echoes[i]);
        let mut expected = vec![("put".to_string(), None, None)];
        for consistency in ["linearizable", "lease", "serializable"] {
            for from in ["leader", "any"] {
                expected.push(("get".into(), Some(consistency), Some(from)));
            }
        }
        for (workload, consistency, from) in expected {
            let what = format!("{clients} clients {workload} {consistency:?} {from:?}");
            let row = rows
                .iter()
                .find(|r| {
                    r["clients"] == clients
                        && r["workload"] == workload.as_str()
                        && r["consistency"].as_str() == consistency
                        && r["from"].as_str() == from
                })
                .unwrap_or_else(|| panic!("no row for {what}: {suite}"));
            assert_sane(&what, row);
            // Warm-up operations are not counted: exactly the --total.
            assert_eq!(row["ops"], 100, "{what}: {row}");
            let ratios = &row["ratios"];
            assert!(ratios["ops_per_sec_vs_echo"].as_f64().is_some_and(|r| r > 0.0), "{what}: {row}");
            assert!(ratios["p50_vs_echo_p50"].as_f64().is_some_and(|r| r > 0.0), "{what}: {row}");
            let vs_put = ratios["ops_per_sec_vs_put"].as_f64();
            assert_eq!(vs_put.is_some(), workload == "get", "{what}: {row}");
        }
    }
    cluster.check_alive().unwrap();
}
