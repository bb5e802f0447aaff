//! PreVote (thesis §9.6) and how it works together with CheckQuorum's
//! lease, including the cases where etcd's combination of the two lost
//! liveness: a member stuck at a higher term, a split pre-vote, a leader
//! that dies while its followers are in lease.

use raft::{Body, Message, Role};

use crate::net::Net;

fn pre_vote_net(n: u64) -> Net {
    Net::with_config(n, |c| c.pre_vote = true)
}

/// Ticks until there is exactly one leader; its id (panics after `limit`).
fn await_leader(net: &mut Net, limit: u32) -> u64 {
    await_leader_except(net, 0, limit)
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

#[test]
fn s9_6_a_pre_vote_binds_nobody_and_changes_no_term() {
    let mut net = pre_vote_net(3);
    let ask =
        Message { from: 3, to: 2, term: 5, body: Body::PreVote { last_log_index: 0, last_log_term: 0 } };
    net.node(2).step(ask).unwrap();
    assert_eq!(net.node(2).hard_state(), raft::HardState::default(), "term and vote unchanged");
    let reply = net.node(2).ready().messages;
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].body, Body::PreVoteReply { vote_granted: true });
    assert_eq!(reply[0].term, 5, "a granted pre-vote carries the term asked about");
}

#[test]
fn s9_6_a_pre_vote_from_a_stale_log_is_refused() {
    let mut net = pre_vote_net(3);
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.deliver_all();
    for _ in 0..30 {
        net.node(2).tick(); // out of lease: the minimum election timeout without the leader
    }
    net.node(2).ready();
    let ask =
        Message { from: 3, to: 2, term: 9, body: Body::PreVote { last_log_index: 0, last_log_term: 0 } };
    net.node(2).step(ask).unwrap();
    let reply = net.node(2).ready().messages;
    let refusal = reply.iter().find(|m| m.to == 3).expect("an answer");
    assert_eq!(refusal.body, Body::PreVoteReply { vote_granted: false });
    assert_eq!(refusal.term, net.node(2).current_term(), "a refusal carries the refuser's term");
}

#[test]
fn s9_6_a_follower_in_lease_ignores_pre_votes() {
    let mut net = pre_vote_net(3);
    net.campaign(1);
    let ask =
        Message { from: 3, to: 2, term: 2, body: Body::PreVote { last_log_index: 0, last_log_term: 0 } };
    net.node(2).step(ask).unwrap();
    assert!(!net.node(2).has_ready(), "heard from the leader within the minimum timeout: no answer");
}

/// The case: cut off for 10 election timeouts, then back. No
/// election follows and no member's term moves.
#[test]
fn s9_6_a_member_partitioned_for_ten_timeouts_returns_without_an_election() {
    let mut net = pre_vote_net(3);
    net.campaign(1);
    let term = net.node(1).current_term();
    net.cut.insert(3);
    net.tick_all(600);
    assert_eq!(net.node(3).current_term(), term, "the cut-off member kept its term");
    net.cut.remove(&3);
    for _ in 0..600 {
        net.tick_all(1);
        assert_eq!(net.leaders(), vec![1], "the leader stays");
    }
    for id in 1..=3 {
        assert_eq!(net.node(id).current_term(), term, "member {id}");
    }
    assert_eq!(net.node(3).leader_id(), Some(1));
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
    let leader = await_leader_except(&mut net, 1, 500);
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
        let leader = await_leader(&mut net, 2000);
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
    let leader = await_leader_except(&mut net, 1, 500);
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

/// Ticks until exactly one member other than `except` leads; its id.
fn await_leader_except(net: &mut Net, except: u64, limit: u32) -> u64 {
    for _ in 0..limit {
        net.tick_all(1);
        if let [leader] = net.leaders().into_iter().filter(|&l| l != except).collect::<Vec<_>>()[..] {
            return leader;
        }
    }
    panic!("no single leader but {except} after {limit} ticks: {:?}", net.leaders());
}
