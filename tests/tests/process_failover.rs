//! Process tests: real `node run` processes on loopback, a client writing
//! continuously through the `node put` CLI, members killed with SIGKILL
//! and restarted. At the end every acknowledged write reads back and all
//! members agree on commit and applied index.

use std::time::Duration;

use tests::procs::oracle::{assert_final, Writer};
use tests::procs::{ClusterSpec, ProcCluster};

const LEADER_TIMEOUT: Duration = Duration::from_secs(10);
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(15);

/// Kills the leader `kills` times while a client writes; each time waits
/// for a new leader among the others, for writes to go on, and restarts
/// the killed member.
fn leader_kills_under_writes(members: u64, kills: usize) {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(members).unwrap()).unwrap();
    cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "w");
    assert!(writer.wait_progress(5, PROGRESS_TIMEOUT), "no writes before the first kill");
    for round in 0..kills {
        let old = cluster.wait_leader(LEADER_TIMEOUT).unwrap();
        cluster.kill(old).unwrap();
        let new = cluster.wait_leader(LEADER_TIMEOUT).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_ne!(new, old, "round {round}: the killed member is still reported leader");
        assert!(
            writer.wait_progress(3, PROGRESS_TIMEOUT),
            "round {round}: writes stopped after killing {old}"
        );
        cluster.spawn(old).unwrap();
    }
    let report = writer.stop();
    assert!(report.acked.len() >= 5 + 3 * kills, "only {} writes acknowledged", report.acked.len());
    assert_final(&mut cluster, &report);
}

#[test]
fn leader_kill9_and_restart_under_writes_3_members() {
    leader_kills_under_writes(3, 15);
}

#[test]
fn leader_kill9_and_restart_under_writes_5_members() {
    leader_kills_under_writes(5, 10);
}

/// Every member killed at once (a power cut of the whole cluster, as far
/// as `kill -9` can make one), then all restarted, three times.
#[test]
fn all_members_kill9_at_once_and_restarted() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "all");
    for round in 0..3 {
        assert!(writer.wait_progress(5, PROGRESS_TIMEOUT), "round {round}: no writes");
        cluster.kill_all().unwrap();
        for id in cluster.ids() {
            cluster.spawn(id).unwrap();
        }
        cluster.wait_leader(LEADER_TIMEOUT).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert!(writer.wait_progress(5, PROGRESS_TIMEOUT), "no writes after the last restart");
    let report = writer.stop();
    assert_final(&mut cluster, &report);
}

/// A client whose cluster file names a dead member first tries the next
/// one as soon as the dead one has stayed silent (not acknowledged the
/// request) for a short while, not after a whole 400 ms attempt.
#[test]
fn a_client_moves_on_from_a_silent_member_before_its_attempt_ends() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    cluster.kill(1).unwrap();
    cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    let config = node::config::ClusterConfig::load(cluster.config_path()).unwrap();
    let mut warm = node::client::Client::new(&config, Duration::from_secs(10)).unwrap();
    warm.put("warm", b"x").unwrap(); // the survivors have a leader that commits
    for round in 0..5 {
        let mut client = node::client::Client::new(&config, Duration::from_secs(10)).unwrap();
        let start = std::time::Instant::now();
        client.put(&format!("k{round}"), b"v").unwrap();
        let took = start.elapsed();
        assert!(took < Duration::from_millis(350), "round {round}: {took:?}: the client waited out member 1");
    }
}
