//! CheckQuorum's lease: a member that heard from its leader within the
//! minimum election timeout ignores a candidate of a higher term, so a
//! member with one-way connectivity cannot depose a healthy leader.

use raft::{Body, Message, Role};

use crate::net::Net;

/// Ticks `ticks` times; returns how many of them ended without a leader
/// (other than the members in `ignore`) and the highest term a leader had.
fn run(net: &mut Net, ticks: u32, ignore: &[u64]) -> (u32, u64) {
    let mut leaderless = 0;
    let mut max_term = 0;
    for _ in 0..ticks {
        net.tick_all(1);
        let leaders: Vec<u64> = net.leaders().into_iter().filter(|l| !ignore.contains(l)).collect();
        match leaders.as_slice() {
            [] => leaderless += 1,
            [l] => max_term = max_term.max(net.node(*l).current_term()),
            more => panic!("two leaders at once: {more:?}"),
        }
    }
    (leaderless, max_term)
}

#[test]
fn follower_that_can_send_but_not_receive_does_not_depose_the_leader() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.deaf.insert(3);
    let (leaderless, max_term) = run(&mut net, 3000, &[]);
    assert_eq!(leaderless, 0);
    assert_eq!(max_term, 1);
    assert_eq!(net.leaders(), vec![1]);
    assert!(net.node(3).current_term() > 10, "3 kept campaigning, unheeded");
}

#[test]
fn leader_that_can_send_but_not_receive_steps_down_once_then_leaves_the_others_alone() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.deaf.insert(1);
    // CheckQuorum deposes 1 within one election timeout; 2 or 3 takes over.
    let (_, first_term) = run(&mut net, 200, &[1]);
    let leader = net.leaders().into_iter().find(|&l| l != 1).expect("a new leader");
    let (leaderless, max_term) = run(&mut net, 3000, &[1]);
    assert_eq!(leaderless, 0);
    assert_eq!(max_term, first_term, "the term moved after the new leader took over");
    assert_eq!(net.node(leader).role(), Role::Leader);
}

#[test]
fn a_higher_term_candidate_is_ignored_in_lease_and_heard_after_it() {
    let mut net = Net::new(3);
    net.campaign(1);
    let vote = |term| Message {
        from: 3,
        to: 2,
        term,
        body: Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false },
    };
    net.node(2).step(vote(5)).unwrap();
    assert_eq!(net.node(2).current_term(), 1, "in lease: the term is not adopted");
    assert!(!net.node(2).has_ready(), "and nothing is answered");
    net.cut.insert(1);
    net.tick_all(30); // the minimum election timeout without the leader
    let term = net.node(2).current_term();
    net.node(2).step(vote(term + 1)).unwrap();
    assert_eq!(net.node(2).current_term(), term + 1);
}

#[test]
fn without_check_quorum_there_is_no_lease() {
    let mut net = Net::with_config(3, |c| c.check_quorum = false);
    net.campaign(1);
    let body = Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false };
    net.node(2).step(Message { from: 3, to: 2, term: 5, body }).unwrap();
    assert_eq!(net.node(2).current_term(), 5);
}

/// The lease follows the leader, not the election timer: a member that
/// never stands (a learner here) resets its timer each time it fires, but
/// once a whole election timeout has passed without a word from its leader
/// it is out of lease for good, and answers a higher-term candidate at
/// every tick after that; it used to drop them for most of each cycle.
#[test]
fn the_lease_ends_with_the_leaders_silence_even_at_a_member_that_never_stands() {
    let mut net = Net::with_learner(4);
    assert_eq!(net.node(4).leader_id(), Some(1));
    net.cut.insert(1);
    let max = net.node(4).ticks_until_due() as u32 + 60;
    for _ in 0..max {
        net.node(4).tick();
    }
    let (last_log_index, last_log_term) = (net.node(4).log().last_index(), net.node(4).log().last_term());
    for tick in 0..200 {
        net.node(4).tick();
        let term = net.node(4).current_term() + 1;
        let body = Body::PreVote { last_log_index, last_log_term };
        net.node(4).step(Message { from: 2, to: 4, term, body }).unwrap();
        let answered =
            net.node(4).ready().messages.iter().any(|m| matches!(m.body, Body::PreVoteReply { .. }));
        net.node(4).advance();
        assert!(answered, "tick {tick}: the learner dropped a pre-vote long after its leader fell silent");
    }
}
