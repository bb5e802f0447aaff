//! §5.1 terms and §5.2 leader election.

use raft::{Body, HardState, Message, Persisted, Role};

use crate::net::{is_append, new_raft, Net};

#[test]
fn s5_2_follower_becomes_candidate_after_election_timeout() {
    let mut r = new_raft(1, 3, Persisted::default());
    for _ in 0..29 {
        r.tick();
    }
    assert_eq!(r.role(), Role::Follower, "no election before the minimum timeout");
    for _ in 0..31 {
        r.tick();
    }
    assert_eq!(r.role(), Role::Candidate);
    assert_eq!(r.current_term(), 1);
    let ready = r.ready();
    assert_eq!(ready.hard_state, Some(HardState { current_term: 1, voted_for: Some(1) }));
    let to: Vec<_> = ready.messages.iter().map(|m| m.to).collect();
    assert_eq!(to, vec![2, 3]);
    assert!(ready.messages.iter().all(|m| matches!(m.body, Body::RequestVote { .. })));
}

#[test]
fn s5_2_candidate_with_majority_leads_and_heartbeats_at_once() {
    let mut net = Net::new(3);
    net.node(1).tick(); // nothing yet
    let before = net.sent.len();
    net.campaign(1);
    assert_eq!(net.leaders(), vec![1]);
    // 2 RequestVotes, then at once 2 AppendEntries (the election heartbeat).
    let appends = net.sent[before..].iter().filter(|m| is_append(m) && m.from == 1).count();
    assert_eq!(appends, 2);
    assert_eq!(net.node(2).leader_id(), Some(1));
    assert_eq!(net.node(3).current_term(), 1);
}

#[test]
fn s5_2_one_vote_per_term_first_come_first_served() {
    let mut r = new_raft(1, 3, Persisted::default());
    let vote = |from| Message {
        from,
        to: 1,
        term: 1,
        body: Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false },
    };
    r.step(vote(2)).unwrap();
    r.step(vote(3)).unwrap();
    r.step(vote(2)).unwrap(); // a retransmission gets the same answer
    let granted: Vec<_> = r
        .ready()
        .messages
        .iter()
        .map(|m| (m.to, matches!(m.body, Body::RequestVoteReply { vote_granted: true })))
        .collect();
    assert_eq!(granted, vec![(2, true), (3, false), (2, true)]);
}

#[test]
fn s5_2_candidate_steps_down_on_append_entries_of_its_term() {
    let mut net = Net::new(3);
    net.cut.insert(1);
    net.campaign(1);
    assert_eq!(net.node(1).role(), Role::Candidate);
    net.cut.clear();
    // Member 2 wins term 2; member 1 (term 1 candidate) hears its heartbeat.
    net.campaign(2);
    assert_eq!(net.leaders(), vec![2]);
    assert_eq!(net.node(1).role(), Role::Follower);
    assert_eq!(net.node(1).leader_id(), Some(2));
}

#[test]
fn s5_2_split_vote_is_resolved_by_a_new_election() {
    let mut net = Net::new(3);
    net.cut.extend([1, 2, 3]);
    net.campaign(1);
    net.campaign(2);
    net.drop_all();
    net.cut.clear();
    net.tick_all(200);
    assert_eq!(net.leaders().len(), 1);
}

#[test]
fn s5_2_rejected_vote_request_does_not_reset_the_timer() {
    // Member 1 has a longer log: it refuses 2's vote and must still time out.
    let mut r = new_raft(
        1,
        3,
        Persisted {
            snapshot: Default::default(),
            hard_state: HardState { current_term: 1, voted_for: None },
            entries: crate::net::log_of(&[1]),
            membership: None,
        },
    );
    for _ in 0..25 {
        r.tick();
    }
    let req = Message {
        from: 2,
        to: 1,
        term: 1,
        body: Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false },
    };
    r.step(req).unwrap();
    for _ in 0..35 {
        r.tick();
    }
    assert_eq!(r.role(), Role::Candidate, "the refused request must not delay our own election");
}

#[test]
fn s5_1_newer_term_turns_a_leader_into_follower() {
    let mut net = Net::new(3);
    net.campaign(1);
    let heartbeat = Message { from: 3, to: 1, term: 5, body: Body::RequestVoteReply { vote_granted: false } };
    net.node(1).step(heartbeat).unwrap();
    assert_eq!(net.node(1).role(), Role::Follower);
    assert_eq!(net.node(1).current_term(), 5);
    assert_eq!(net.node(1).ready().hard_state, Some(HardState { current_term: 5, voted_for: None }));
}

#[test]
fn s5_1_stale_term_requests_are_refused_with_our_term() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.campaign(2); // term 2
    let stale = Message {
        from: 3,
        to: 2,
        term: 1,
        body: Body::RequestVote { last_log_index: 9, last_log_term: 1, leadership_transfer: false },
    };
    net.node(2).step(stale).unwrap();
    let reply = net.node(2).ready().messages.pop().unwrap();
    assert_eq!(reply.term, 2);
    assert_eq!(reply.body, Body::RequestVoteReply { vote_granted: false });
}

#[test]
fn s5_2_single_member_elects_itself_and_commits_alone() {
    let mut r = new_raft(1, 1, Persisted::default());
    while r.role() != Role::Leader {
        r.tick();
    }
    let (index, term) = r.propose(b"x".to_vec()).unwrap();
    assert_eq!((index, term), (1, 1));
    let ready = r.ready();
    assert!(ready.committed_entries.is_empty(), "nothing commits before it is durable");
    r.advance();
    assert_eq!(r.ready().committed_entries.len(), 1);
}

#[test]
fn check_quorum_leader_without_a_majority_steps_down() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.extend([2, 3]);
    net.node(1).tick(); // stay out of the followers' way
    let leader = net.node(1);
    for _ in 0..60 {
        leader.tick();
    }
    assert_eq!(leader.role(), Role::Leader, "one check period has not passed yet");
    for _ in 0..60 {
        leader.tick();
    }
    assert_eq!(leader.role(), Role::Follower);
    assert_eq!(leader.current_term(), 1, "stepping down does not start a new term");
}

#[test]
fn check_quorum_leader_with_a_majority_stays() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.insert(3);
    net.tick_all(300);
    assert_eq!(net.node(1).role(), Role::Leader);
}

/// §8's no-op leaves with the heartbeats sent on election: one round trip
/// commits it (and every entry of earlier terms before it).
#[test]
fn s5_2_the_heartbeats_on_election_carry_the_no_op() {
    let mut net = Net::with_config(3, |c| c.noop_on_election = true);
    net.campaign(1);
    let first = net.sent.iter().find(|m| m.from == 1 && matches!(m.body, Body::AppendEntries { .. }));
    let Some(Message { body: Body::AppendEntries { entries, .. }, .. }) = first else {
        panic!("no AppendEntries from the leader")
    };
    assert_eq!(entries.len(), 1, "the first probe carries the no-op");
    assert!(entries[0].data.is_empty());
}

// §5.2 leader election, counted exactly: what is and is not a vote.

fn vote_reply(from: u64, term: u64, vote_granted: bool) -> Message {
    Message { from, to: 1, term, body: Body::RequestVoteReply { vote_granted } }
}

/// §5.2 "A candidate wins an election if it receives votes from a majority
/// of the servers": a refusal is not a vote, however many arrive.
#[test]
fn s5_2_refused_votes_do_not_count_toward_the_majority() {
    let mut r = new_raft(1, 3, Persisted::default());
    while r.role() != Role::Candidate {
        r.tick();
    }
    r.ready();
    r.advance();
    r.step(vote_reply(2, 1, false)).unwrap();
    assert_eq!(r.role(), Role::Candidate, "its own vote and a refusal are not 2 of 3");
    r.step(vote_reply(3, 1, false)).unwrap();
    assert_eq!(r.role(), Role::Candidate);
    r.step(vote_reply(2, 1, true)).unwrap();
    assert_eq!(r.role(), Role::Leader);
}

/// §5.2 "each server will vote for at most one candidate in a given
/// term": hearing the leader of the term it voted in does not make a
/// follower forget its vote, and neither does a leader stepping down
/// (CheckQuorum) in its own term forget its vote for itself.
#[test]
fn s5_2_a_vote_is_kept_for_the_rest_of_the_term() {
    let mut r = new_raft(1, 3, Persisted::default());
    let ask = |from| Message {
        from,
        to: 1,
        term: 1,
        body: Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false },
    };
    r.step(ask(2)).unwrap();
    let heartbeat = Body::AppendEntries {
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![],
        leader_commit: 0,
        round: 0,
    };
    r.step(Message { from: 2, to: 1, term: 1, body: heartbeat }).unwrap();
    assert_eq!(r.leader_id(), Some(2));
    assert_eq!(r.ready().hard_state, Some(HardState { current_term: 1, voted_for: Some(2) }));
    r.advance();
    r.step(ask(3)).unwrap();
    let ready = r.ready();
    assert_eq!(ready.hard_state, None, "nothing new to persist");
    assert_eq!(
        ready.messages.last().map(|m| m.body.clone()),
        Some(Body::RequestVoteReply { vote_granted: false })
    );

    // A leader that steps down in its own term still voted for itself.
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.extend([2, 3]);
    while net.node(1).role() == Role::Leader {
        net.node(1).tick();
    }
    assert_eq!(net.node(1).status().voted_for, Some(1));
    net.node(1).ready();
    net.node(1)
        .step(Message {
            from: 3,
            to: 1,
            term: 1,
            body: Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false },
        })
        .unwrap();
    let answers: Vec<_> = net.node(1).ready().messages.into_iter().map(|m| m.body).collect();
    assert_eq!(answers, vec![Body::RequestVoteReply { vote_granted: false }]);
}

/// §5.1 "If a server receives a request with a stale term number, it
/// rejects the request": a member of term 3 that has not voted refuses a
/// term-2 candidate (and keeps its vote free), and answers a term-2
/// leader's AppendEntries with its newer term, taking nothing from it.
#[test]
fn s5_1_stale_requests_are_refused_even_by_a_member_free_to_vote() {
    let hard_state = HardState { current_term: 3, voted_for: None };
    let mut r = new_raft(
        1,
        3,
        Persisted { snapshot: Default::default(), hard_state, entries: vec![], membership: None },
    );
    let vote = Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false };
    r.step(Message { from: 2, to: 1, term: 2, body: vote }).unwrap();
    let entries = vec![crate::net::entry(1, 2)];
    let append =
        Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries, leader_commit: 1, round: 0 };
    r.step(Message { from: 3, to: 1, term: 2, body: append }).unwrap();
    let ready = r.ready();
    let answers: Vec<_> = ready.messages.iter().map(|m| (m.to, m.term, m.body.clone())).collect();
    assert_eq!(
        answers,
        vec![
            (2, 3, Body::RequestVoteReply { vote_granted: false }),
            (3, 3, Body::AppendEntriesReply(raft::AppendReply::StaleTerm)),
        ]
    );
    assert_eq!(ready.hard_state, None);
    assert!(ready.entries.is_empty());
    let s = r.status();
    assert_eq!((s.voted_for, s.leader_id, s.last_index, s.commit_index), (None, None, 0, 0));
}
