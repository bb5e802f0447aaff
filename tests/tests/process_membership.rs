//! Process test of membership changes and leadership transfer with the
//! operator's commands, on real `node` processes under a writing client:
//! a member `kill -9`ed for good is replaced by a new one (started with
//! `node run --join`, added as a learner, promoted once caught up), the
//! dead one removed, leadership handed over twice with `node
//! transfer-leader` (to the new member, which the clients' cluster file
//! does not name, and back), and a live member removed, which stops by
//! itself with exit 0 (and again at once when restarted). Every
//! acknowledged write must read back and the members must agree.
//!
//! Printed, not asserted: the time from `node add` until the learner is
//! promotable and caught up, each transfer's time, and the longest gap
//! between acknowledged writes during the membership changes and during
//! the transfers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tests::procs::cli::Members;
use tests::procs::oracle::{missing_acked_by_clients, AckHook, ClientWriter};
use tests::procs::{ClusterSpec, ProcCluster};

const LEADER_TIMEOUT: Duration = Duration::from_secs(10);
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(15);
/// raft's `max_promotion_lag` (the default the node uses).
const PROMOTABLE_LAG: u64 = 1000;
/// "Caught up": within this many entries of the leader's log.
const CAUGHT_UP_LAG: u64 = 10;

/// Polls `node members --json` every 20 ms until `done` holds.
fn wait_members(cluster: &ProcCluster, what: &str, mut done: impl FnMut(&Members) -> bool) -> Members {
    let start = Instant::now();
    loop {
        let members = cluster.cli().members();
        match &members {
            Ok(m) if done(m) => return m.clone(),
            _ if start.elapsed() > PROGRESS_TIMEOUT => panic!("{what}: last `node members`: {members:?}"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The longest time between two consecutive acknowledgements that
/// overlaps `from..to`.
fn longest_gap(acks: &[Instant], from: Instant, to: Instant) -> Duration {
    (acks.windows(2)).filter(|w| w[1] > from && w[0] < to).map(|w| w[1] - w[0]).max().unwrap_or(to - from)
}

#[test]
fn replace_a_dead_member_remove_it_and_transfer_leadership_under_writes() {
    let test_start = Instant::now();
    let mut spec = ClusterSpec::loopback(4).unwrap();
    let (new_id, new_addr) = spec.members.pop().unwrap();
    let mut cluster = ProcCluster::start(spec).unwrap();
    cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    let config = node::config::ClusterConfig::load(cluster.config_path()).unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let hook_acks = acks.clone();
    let hook: AckHook = Arc::new(move |at, _| hook_acks.lock().unwrap().push(at));
    let writer = ClientWriter::start(config.clone(), "m", Duration::from_secs(3), Some(hook));
    assert!(writer.wait_progress(20, PROGRESS_TIMEOUT), "no writes at the start");

    // A member dies for good (the leader, if 3 led: then a failover too).
    let dead = 3;
    cluster.kill(dead).unwrap();
    cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    assert!(writer.wait_progress(20, PROGRESS_TIMEOUT), "no writes after killing {dead}");

    // Its replacement: started outside the configuration, added as a learner.
    let changes_start = Instant::now();
    cluster.spawn_joining(new_id, new_addr).unwrap();
    let (id, addr) = (new_id.to_string(), new_addr.to_string());
    let added = Instant::now();
    let said = cluster.cli().admin(&["add", &id, &addr, "--learner"]).unwrap();
    assert_eq!(said, format!("member {id} added as learner at {addr}"));
    let add_took = added.elapsed();
    let mut promotable = None;
    let members = wait_members(&cluster, "the learner to catch up", |m| {
        let lag = m.get(new_id).filter(|n| n.role == "learner").and_then(|n| n.lag);
        if lag.is_some_and(|l| l <= PROMOTABLE_LAG) && promotable.is_none() {
            promotable = Some(added.elapsed());
        }
        lag.is_some_and(|l| l <= CAUGHT_UP_LAG)
    });
    let caught_up = added.elapsed();
    assert_eq!(members.get(new_id).map(|m| m.addr.as_str()), Some(addr.as_str()));
    let said = cluster.cli().admin(&["promote", &id]).unwrap();
    assert_eq!(said, format!("member {id} promoted to voter"));
    let said = cluster.cli().admin(&["remove", &dead.to_string()]).unwrap();
    assert_eq!(said, format!("member {dead} removed"));
    let changes_end = Instant::now();
    let members = cluster.cli().members().unwrap();
    assert_eq!(members.with_role("voter"), [1, 2, new_id], "{members:?}");
    assert_eq!(members.with_role("learner"), Vec::<u64>::new());
    // A second removal of the same member is refused with the reason.
    let again = cluster.cli().admin(&["remove", &dead.to_string()]).unwrap_err().to_string();
    assert!(again.contains("exit status: 1") && again.contains("not a member"), "{again}");
    assert!(writer.wait_progress(20, PROGRESS_TIMEOUT), "no writes after the membership changes");

    // Leadership to the new member (which the cluster file does not name:
    // clients find it through the redirects' addresses), then back.
    let transfers_start = Instant::now();
    let first = cluster.cli().members().unwrap().leader;
    let mut transfer_times = Vec::new();
    let there = if first == new_id { 1 } else { new_id };
    for target in [there, first] {
        let start = Instant::now();
        let said = cluster.cli().admin(&["transfer-leader", &target.to_string()]).unwrap();
        transfer_times.push((target, start.elapsed()));
        assert_eq!(said, format!("leader is now {target}"));
        assert_eq!(cluster.cli().members().unwrap().leader, target);
        let status = cluster.wait_for("status to show the new leader", LEADER_TIMEOUT, |m| {
            m.iter().any(|s| s.id == target && s.is_leader())
        });
        status.unwrap();
        assert!(writer.wait_progress(10, PROGRESS_TIMEOUT), "no writes after the transfer to {target}");
    }
    let transfers_end = Instant::now();

    let report = writer.stop();
    assert!(report.errors.is_empty(), "client errors: {:?}", report.errors);
    let acked = report.acked.len() as u64;
    let members = cluster.wait_converged(acked, Duration::from_secs(20)).unwrap();
    assert_eq!(members.iter().filter(|m| m.is_reachable()).count(), 3, "{members:?}");
    let missing = missing_acked_by_clients(&config, &report.acked, 4, Duration::from_secs(5));
    assert!(
        missing.is_empty(),
        "{} of {acked} acknowledged writes lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );

    // A live member removed stops by itself, exit 0, saying why, once it
    // learns that its removal committed (the leader's last message to it).
    let said = cluster.cli().admin(&["remove", &id]).unwrap();
    assert_eq!(said, format!("member {id} removed"));
    let exit = cluster.wait_exit(new_id, Duration::from_secs(10)).expect("the removed member stops");
    assert!(exit.success(), "removed member exited with {exit}");
    let log = std::fs::read_to_string(cluster.log_path(new_id)).unwrap();
    assert!(log.contains(&format!("node {id}: removed from the cluster")), "log: {log}");
    // Started again by mistake, it stops at once with the same line: it
    // recorded its removal (the commit index it learned is not persisted).
    cluster.spawn_joining(new_id, new_addr).unwrap();
    let exit = cluster.wait_exit(new_id, Duration::from_secs(10)).expect("the removed member stops again");
    assert!(exit.success(), "restarted removed member exited with {exit}");
    let log = std::fs::read_to_string(cluster.log_path(new_id)).unwrap();
    let said = format!("node {id}: removed from the cluster");
    assert_eq!(log.matches(&said).count(), 2, "log: {log}");
    assert_eq!(cluster.cli().members().unwrap().with_role("voter"), [1, 2]);

    let acks = acks.lock().unwrap();
    eprintln!(
        "membership: `node add` took {add_took:?}; the learner was promotable (lag <= {PROMOTABLE_LAG}) {:?} \
         and caught up (lag <= {CAUGHT_UP_LAG}) {caught_up:?} after it; add to remove took {:?}; \
         longest gap between acknowledged writes during the changes {:?}",
        promotable.unwrap_or(caught_up),
        changes_end - changes_start,
        longest_gap(&acks, changes_start, changes_end),
    );
    for (target, took) in &transfer_times {
        eprintln!("transfer to {target}: {took:?} (the `node transfer-leader` command, polls included)");
    }
    eprintln!(
        "longest gap between acknowledged writes during the transfers: {:?}; {acked} writes acknowledged, \
         {} not, commit index {} on all members; test took {:?}",
        longest_gap(&acks, transfers_start, transfers_end),
        report.not_acked,
        members[0].commit_index,
        test_start.elapsed()
    );
}
