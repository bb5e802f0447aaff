//! Network-fault tests: each member in its own network namespace, joined
//! by veth pairs to a bridge in a hub namespace where the client runs, on
//! a private subnet the test makes (10.231.0.0/24). Partitions and random
//! loss are `nftables` rules inside the members' namespaces; delay and
//! loss with `tc netem` where the kernel has `sch_netem`.
//!
//! Needs root, `ip` and `nft` (`.ci/run` installs them). Without them a
//! test prints why and passes, except with `CI=true`, where it fails; a
//! kernel without `sch_netem` only skips the netem part, with a message.

use std::time::Duration;

use tests::procs::cli::MemberStatus;
use tests::procs::cli::{Cli, PutOutcome};
use tests::procs::netns::NetnsLab;
use tests::procs::oracle::{assert_final, Writer};
use tests::procs::ProcCluster;

const TIMEOUT: Duration = Duration::from_secs(20);

fn commit_of(members: &[MemberStatus], id: u64) -> u64 {
    members.iter().find(|m| m.id == id).map(|m| m.commit_index).unwrap_or_default()
}

/// Partitions the cluster into `minority` and the rest while a client
/// writes; the majority keeps committing, the minority's commit index does
/// not move; after healing everyone converges and nothing acknowledged is
/// lost.
fn split(test: &str, members: u64, pick_minority: impl Fn(u64, &[u64]) -> Vec<u64>) {
    let ids: Vec<u64> = (1..=members).collect();
    let Some(lab) = NetnsLab::create_or_skip(test, &ids) else { return };
    let mut cluster = ProcCluster::start(lab.cluster_spec()).unwrap();
    let leader = cluster.wait_leader(TIMEOUT).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "p");
    assert!(writer.wait_progress(5, TIMEOUT), "no writes before the partition");

    let minority = pick_minority(leader, &ids);
    let majority: Vec<u64> = ids.iter().copied().filter(|id| !minority.contains(id)).collect();
    lab.partition(&[&minority, &majority]).unwrap();
    let at_split = cluster.status().unwrap();
    assert!(writer.wait_progress(10, TIMEOUT), "the majority {majority:?} stopped committing");
    let majority_leader = cluster
        .wait_for("a leader in the majority", TIMEOUT, |m| {
            m.iter().any(|s| s.is_leader() && majority.contains(&s.id))
        })
        .unwrap();
    for &id in &minority {
        assert_eq!(
            commit_of(&majority_leader, id),
            commit_of(&at_split, id),
            "minority member {id} committed while cut off from the majority"
        );
    }
    let majority_commit = majority.iter().map(|&id| commit_of(&majority_leader, id)).max().unwrap_or(0);
    let split_commit = minority.iter().map(|&id| commit_of(&at_split, id)).max().unwrap_or(0);
    assert!(
        majority_commit >= split_commit + 10,
        "majority commit {majority_commit} vs {split_commit} at the split"
    );

    lab.heal().unwrap();
    assert!(writer.wait_progress(5, TIMEOUT), "no writes after healing");
    let report = writer.stop();
    assert_final(&mut cluster, &report);
}

#[test]
fn netns_leader_isolated_majority_commits_minority_does_not() {
    split("netns_leader_isolated", 3, |leader, _| vec![leader]);
}

#[test]
fn netns_two_three_split_with_the_leader_in_the_minority() {
    split("netns_two_three_split", 5, |leader, ids| {
        let other = ids.iter().copied().find(|&id| id != leader).unwrap();
        vec![leader, other]
    });
}

/// 20% of datagrams between members dropped by `nft numgen random` on
/// every member: writes go on, and after the loss is lifted all converge.
#[test]
fn netns_random_loss_20_percent() {
    let ids = [1, 2, 3];
    let Some(lab) = NetnsLab::create_or_skip("netns_random_loss", &ids) else { return };
    let mut cluster = ProcCluster::start(lab.cluster_spec()).unwrap();
    cluster.wait_leader(TIMEOUT).unwrap();
    lab.loss(20).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "l");
    assert!(writer.wait_progress(30, Duration::from_secs(60)), "writes stalled under 20% loss");
    lab.loss(0).unwrap();
    let report = writer.stop();
    assert_final(&mut cluster, &report);
}

/// `tc netem` delay and loss on every member's link. Kernels without
/// `sch_netem` (as on the CI machines) skip this with a message, also in CI.
#[test]
fn netns_netem_delay_and_loss() {
    let ids = [1, 2, 3];
    let Some(lab) = NetnsLab::create_or_skip("netns_netem", &ids) else { return };
    if let Err(why) = lab.netem(&["delay", "20ms", "5ms", "loss", "2%"]) {
        let kernel =
            if why.contains("qdisc kind is unknown") { "this kernel has no sch_netem; " } else { "" };
        eprintln!("skipped netem: {kernel}{why}");
        return;
    }
    let mut cluster = ProcCluster::start(lab.cluster_spec()).unwrap();
    cluster.wait_leader(TIMEOUT).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "n");
    assert!(writer.wait_progress(20, Duration::from_secs(60)), "writes stalled under netem");
    let report = writer.stop();
    assert_final(&mut cluster, &report);
}

/// PreVote (§9.6): a follower cut off for 10 election timeouts and
/// reconnected causes no election and no term change; it follows the same
/// leader again and catches up.
#[test]
fn netns_returning_member_does_not_disrupt_the_leader() {
    let ids = [1, 2, 3];
    let Some(lab) = NetnsLab::create_or_skip("netns_prevote", &ids) else { return };
    let spec = lab.cluster_spec();
    let election_timeout = spec.timing.election_timeout_max();
    let mut cluster = ProcCluster::start(spec).unwrap();
    let leader = cluster.wait_leader(TIMEOUT).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "v");
    assert!(writer.wait_progress(5, TIMEOUT), "no writes before the partition");
    let term = |m: &[MemberStatus], id: u64| m.iter().find(|s| s.id == id).map(|s| s.term);
    let before = cluster.status().unwrap();
    let follower = ids.into_iter().find(|&id| id != leader).unwrap();
    let rest: Vec<u64> = ids.into_iter().filter(|&id| id != follower).collect();
    lab.partition(&[&[follower], &rest]).unwrap();
    // The partition itself lasts this long: it is what is tested.
    std::thread::sleep(election_timeout * 10);
    lab.heal().unwrap();
    let leader_term = term(&before, leader);
    let caught_up = cluster
        .wait_for("the returning member to catch up", TIMEOUT, |m| {
            let commit = |id| m.iter().find(|s| s.id == id).map(|s| s.commit_index);
            commit(follower).is_some() && commit(follower) >= commit(leader).map(|c| c.saturating_sub(5))
        })
        .unwrap();
    for id in ids {
        assert_eq!(term(&caught_up, id), leader_term, "member {id}'s term moved: {caught_up:?}");
    }
    let leaders: Vec<u64> = caught_up.iter().filter(|s| s.is_leader()).map(|s| s.id).collect();
    assert_eq!(leaders, vec![leader], "the leader changed");
    let report = writer.stop();
    assert_final(&mut cluster, &report);
}

/// What a leader cut off from its peers (`pause`: and stopped meanwhile)
/// answers reads with, while a client still reaches it, once a new leader
/// has acknowledged a newer value: the newer value or nothing, never the
/// old one, in every consistency that promises linearizability.
fn stale_reads_at_a_deposed_leader(test: &str, pause: bool) {
    let ids = [1, 2, 3];
    let Some(lab) = NetnsLab::create_or_skip(test, &ids) else { return };
    let mut spec = lab.cluster_spec();
    spec.extra_toml = "[reads]\nlease = true\n".into();
    let mut cluster = ProcCluster::start(spec).unwrap();
    let old = cluster.wait_leader(TIMEOUT).unwrap();
    let cli = cluster.cli().clone();
    assert!(matches!(cli.put("k", "old").unwrap(), PutOutcome::Acked));
    let at_old = cluster.cli_for(old).unwrap();
    assert_eq!(at_old.get_with("k", "lease", "leader").unwrap(), Some(Some("old".into())));
    let rest: Vec<u64> = ids.into_iter().filter(|&id| id != old).collect();
    lab.partition(&[&[old], &rest]).unwrap();
    if pause {
        cluster.pause(old, true).unwrap();
    }
    cluster
        .wait_for("a leader among the others", TIMEOUT, |m| m.iter().any(|s| s.is_leader() && s.id != old))
        .unwrap();
    assert!(matches!(cli.put("k", "new").unwrap(), PutOutcome::Acked), "the new leader took no write");
    if pause {
        cluster.pause(old, false).unwrap();
    }
    let at_old = Cli { timeout: "300ms".into(), ..at_old };
    let until = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < until {
        for consistency in ["lease", "linearizable"] {
            let answer = at_old.get_with("k", consistency, "leader").unwrap();
            assert_ne!(
                answer,
                Some(Some("old".into())),
                "a {consistency} read at the cut-off leader was stale"
            );
        }
    }
    lab.heal().unwrap();
    assert_eq!(cli.get("k").unwrap(), Some("new".into()));
}

/// §6.4: a leader cut off from its peers (CheckQuorum has not deposed it
/// yet) never serves a read older than what the new leader acknowledged.
#[test]
fn netns_a_leader_cut_off_from_its_peers_never_serves_a_stale_read() {
    stale_reads_at_a_deposed_leader("netns_cut_off_reads", false);
}

/// §6.4.1: a leader stopped (SIGSTOP) past an election timeout while cut
/// off, then resumed: its lease is over by the clock, though its ticks did
/// not advance while it was stopped.
#[test]
fn netns_a_leader_paused_past_an_election_timeout_never_serves_a_stale_read() {
    stale_reads_at_a_deposed_leader("netns_paused_reads", true);
}
