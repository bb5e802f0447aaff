//! §5.2 leader election, counted exactly: what is and is not a vote.

use raft::{Body, Message, Persisted, Role};

use crate::net::new_raft;

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
