//! PreVote (thesis §9.6) and how it works together with CheckQuorum's
//! lease, including the cases where etcd's combination of the two lost
//! liveness: a member stuck at a higher term, a split pre-vote, a leader
//! that dies while its followers are in lease.

use raft::{Body, Role};

use crate::net::Net;

fn pre_vote_net(n: u64) -> Net {
    Net::with_config(n, |c| c.pre_vote = true)
}

#[test]
fn s9_6_a_timeout_asks_for_pre_votes_without_raising_the_term() {
    let mut net = pre_vote_net(3);
    net.cut.insert(1);
    while net.node(1).role() != Role::PreCandidate {
        net.node(1).tick();
    }
    assert_eq!(net.node(1).current_term(), 0, "a pre-candidate keeps its term");
    assert_eq!(net.node(1).hard_state().voted_for, None, "and votes for nobody");
    let sent = net.node(1).ready().messages;
    assert_eq!(sent.len(), 2);
    for m in sent {
        assert!(matches!(m.body, Body::PreVote { .. }), "{m:?}");
        assert_eq!(m.term, 1, "asked about the next term");
    }
}

#[test]
fn s9_6_a_majority_of_pre_votes_starts_the_real_election() {
    let mut net = pre_vote_net(3);
    net.campaign(1);
    assert_eq!(net.leaders(), vec![1]);
    assert_eq!(net.node(1).current_term(), 1, "one term for one election");
}

/// etcd's TestFreeStuckCandidateWithCheckQuorum: a member holds a higher
/// term than the leader (it campaigned without PreVote while cut off), so
/// it refuses the leader's appends, and in lease the others ignore its
/// votes. Its refusals carry its term, which deposes the leader; the
/// cluster then elects at a term above it.
#[test]
fn s9_6_a_member_stuck_at_a_higher_term_is_freed() {
    let mut net = Net::with_config(3, |c| c.pre_vote = c.id != 3);
    net.campaign(1);
    net.cut.insert(3);
    net.tick_all(300);
    let stuck_term = net.node(3).current_term();
    assert!(stuck_term > net.node(1).current_term() + 1, "3 campaigned alone");
    net.cut.remove(&3);
    let mut ticks = 0;
    let leader = loop {
        net.tick_all(1);
        ticks += 1;
        assert!(ticks < 2000, "no leader above the stuck term {stuck_term}");
        let leaders = net.leaders();
        if let [l] = leaders[..] {
            if net.node(l).current_term() > stuck_term {
                break l;
            }
        }
    };
    net.tick_all(200);
    for id in 1..=3 {
        let s = net.node(id).status();
        assert_eq!(s.leader_id, Some(leader), "member {id} follows: {s:?}");
    }
}

/// A leader that dies while every follower is in lease: the lease runs
/// out after the minimum election timeout, pre-votes are granted, and a
/// new leader is elected (etcd's PreVote-with-CheckQuorum liveness).
#[test]
fn s9_6_a_dead_leader_is_replaced_once_the_lease_runs_out() {
    let mut net = pre_vote_net(3);
    net.campaign(1);
    net.cut.insert(1);
    let leader = net.await_leader_except(&[1], 500);
    assert_ne!(leader, 1);
    assert_eq!(net.node(leader).current_term(), 2);
}

/// Two pre-candidates at once split the pre-votes; randomized timeouts
/// still elect one leader, and the term rises by one per real election.
#[test]
fn s9_6_split_pre_votes_still_elect_a_leader() {
    for seed in 0..20 {
        let mut net = Net::with_config(5, |c| {
            c.pre_vote = true;
            c.election_timeout_min_ticks = 30;
            c.election_timeout_max_ticks = 31 + (c.id as u32 + seed) % 3;
        });
        let leader = net.await_leader_except(&[], 2000);
        let term = net.node(leader).current_term();
        assert!(term <= 5, "seed {seed}: {term} elections for one leader");
    }
}

/// A leader cut off from the rest steps down by CheckQuorum; on return it
/// follows the new leader instead of disrupting it.
#[test]
fn s9_6_a_deposed_leader_returns_as_a_follower() {
    let mut net = pre_vote_net(3);
    net.campaign(1);
    net.cut.insert(1);
    let leader = net.await_leader_except(&[1], 500);
    let term = net.node(leader).current_term();
    net.tick_all(600);
    assert_ne!(net.node(1).role(), Role::Leader, "CheckQuorum deposed it");
    assert_eq!(net.node(1).current_term(), 1, "and pre-votes kept its term");
    net.cut.remove(&1);
    net.tick_all(300);
    assert_eq!(net.leaders(), vec![leader]);
    assert_eq!(net.node(1).current_term(), term);
    assert_eq!(net.node(1).leader_id(), Some(leader));
}
