//! §5.2 leader election, counted exactly: what is and is not a vote.

use raft::{Body, HardState, Message, Persisted, Role};

use crate::net::{new_raft, Net};

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
    let heartbeat =
        Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries: vec![], leader_commit: 0 };
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
    let append = Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries, leader_commit: 1 };
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
