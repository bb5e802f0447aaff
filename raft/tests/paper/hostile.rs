//! Values from peers are never trusted: each test is a message a member of
//! the cluster (or anyone who can reach its port, without a secret) could
//! send, which once broke the core. Refused messages change nothing, and
//! the cluster keeps electing and committing.

use raft::{AppendReply, Body, Entry, Message, Role, StepError, MAX_TERM};

use crate::net::Net;

/// Everything `step` could change, for before/after comparisons.
fn state(net: &mut Net, id: u64) -> (raft::Status, Vec<Entry>, bool) {
    let r = net.node(id);
    let log = r.log().slice(1, r.log().last_index()).to_vec();
    (r.status(), log, r.has_ready())
}

fn refused_without_change(net: &mut Net, msg: Message) {
    let to = msg.to;
    let before = state(net, to);
    let result = net.node(to).step(msg);
    assert!(matches!(result, Err(StepError::Malformed { .. })), "{result:?}");
    assert_eq!(state(net, to), before, "a refused message changed state");
}

#[test]
fn request_vote_of_the_largest_term_is_refused_and_elections_go_on() {
    let mut net = Net::new(3);
    for term in [u64::MAX, MAX_TERM + raft::MAX_TERM_JUMP + 1] {
        let body = Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false };
        refused_without_change(&mut net, Message { from: 2, to: 1, term, body });
    }
    net.campaign(1);
    assert_eq!(net.leaders(), vec![1]);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 1);
}

#[test]
fn a_member_at_the_largest_term_still_elects() {
    let mut net = Net::new(3);
    let body = Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false };
    net.node(1).step(Message { from: 2, to: 1, term: MAX_TERM - 1, body }).unwrap();
    net.deliver_all();
    net.campaign(1);
    assert_eq!(net.leaders(), vec![1]);
    assert_eq!(net.node(1).current_term(), MAX_TERM);
}

#[test]
fn malformed_append_of_a_higher_term_does_not_depose_the_leader() {
    let mut net = Net::new(3);
    net.campaign(1);
    assert_eq!(net.node(1).current_term(), 1);
    let entries = vec![Entry::new(1, 9, bytes::Bytes::new())];
    let body =
        Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries, leader_commit: 0, round: 0 };
    refused_without_change(&mut net, Message { from: 2, to: 1, term: 7, body });
    assert_eq!(net.node(1).role(), Role::Leader);
    assert_eq!(net.node(1).current_term(), 1);
}

#[test]
fn indexes_at_the_end_of_the_range_do_not_overflow() {
    let mut net = Net::new(3);
    let entries = vec![Entry::new(0, 1, bytes::Bytes::new())];
    let body = Body::AppendEntries {
        prev_log_index: u64::MAX,
        prev_log_term: 1,
        entries,
        leader_commit: 0,
        round: 0,
    };
    refused_without_change(&mut net, Message { from: 2, to: 1, term: 1, body });

    net.campaign(1);
    net.cut.insert(2);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.deliver_all(); // 2 is probing now
    let reply =
        AppendReply::Conflict { rejected_index: u64::MAX, conflict_term: None, conflict_index: 1, round: 0 };
    let body = Body::AppendEntriesReply(reply);
    refused_without_change(&mut net, Message { from: 2, to: 1, term: 1, body });
}

#[test]
fn rejection_past_the_leaders_log_keeps_the_follower_served() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.deliver_all();
    let reply =
        AppendReply::Conflict { rejected_index: 50, conflict_term: None, conflict_index: 40, round: 0 };
    let body = Body::AppendEntriesReply(reply);
    refused_without_change(&mut net, Message { from: 2, to: 1, term: 1, body });
    net.tick_all(500); // 5 s: several election timeouts
    assert_eq!(net.leaders(), vec![1]);
    assert_eq!(net.node(2).current_term(), 1, "the follower kept hearing heartbeats");
}

#[test]
fn append_that_overwrites_a_committed_entry_is_refused() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.deliver_all();
    assert_eq!(net.node(2).commit_index(), 1);
    let entries = vec![Entry::new(1, 2, bytes::Bytes::new())];
    let body =
        Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries, leader_commit: 0, round: 0 };
    let forged = Message { from: 3, to: 2, term: 2, body };
    refused_without_change(&mut net, forged);
}

#[test]
fn term_zero_and_contradictory_positions_are_refused() {
    let mut net = Net::new(3);
    let vote = |term, last_log_index, last_log_term| Message {
        from: 2,
        to: 1,
        term,
        body: Body::RequestVote { last_log_index, last_log_term, leadership_transfer: false },
    };
    for msg in [vote(0, 0, 0), vote(1, 5, 0), vote(1, 0, 1), vote(1, 3, 2)] {
        refused_without_change(&mut net, msg);
    }
}

/// Above `MAX_TERM` terms rise by elections, and a member follows a
/// cluster that moved on while it was away (within `MAX_TERM_JUMP` of its
/// term, or of `MAX_TERM` from below); a message that would take it
/// further is refused.
#[test]
fn above_max_term_a_message_may_raise_the_term_only_so_far() {
    let mut net = Net::new(3);
    let body = || Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false };
    net.node(1).step(Message { from: 2, to: 1, term: MAX_TERM, body: body() }).unwrap();
    let term = MAX_TERM + raft::MAX_TERM_JUMP;
    net.node(1).step(Message { from: 2, to: 1, term, body: body() }).unwrap();
    assert_eq!(net.node(1).current_term(), term);
    refused_without_change(
        &mut net,
        Message { from: 2, to: 1, term: term + raft::MAX_TERM_JUMP + 1, body: body() },
    );
    let too_far = MAX_TERM + raft::MAX_TERM_JUMP + 1;
    refused_without_change(&mut net, Message { from: 3, to: 2, term: too_far, body: body() });
}
