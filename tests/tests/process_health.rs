//! `node health` against a real cluster: every member healthy while all
//! run; a killed member reported unhealthy (exit 1) while the others stay
//! healthy.

use std::time::Duration;

use tests::procs::{ClusterSpec, ProcCluster};

/// `node health --json --timeout 1s`: (exit code, each member's id and health).
fn health(cluster: &ProcCluster) -> (Option<i32>, Vec<(u64, bool)>) {
    let out = cluster.cli().run_with("1s", &["health", "--json"]).unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON rows");
    let rows = rows.as_array().expect("an array").iter();
    let parsed = rows.map(|r| (r["id"].as_u64().unwrap(), r["healthy"].as_bool().unwrap())).collect();
    (out.status.code(), parsed)
}

#[test]
fn health_reports_each_member_and_a_killed_one_fails() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(Duration::from_secs(10)).unwrap();
    assert_eq!(health(&cluster), (Some(0), vec![(1, true), (2, true), (3, true)]));
    cluster.kill(3).unwrap();
    // If 3 led, the others elect a leader first.
    cluster.wait_leader(Duration::from_secs(10)).unwrap();
    assert_eq!(health(&cluster), (Some(1), vec![(1, true), (2, true), (3, false)]));
}
