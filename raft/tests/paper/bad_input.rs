//! Input from the network or from storage that no correct peer produces is
//! refused with an error, never a panic, and changes nothing.

use raft::{Body, Entry, HardState, Message, Persisted, Raft, RestoreError, StepError};

use crate::net::{entry, log_of, new_raft, rng};

#[test]
fn message_from_a_stranger_or_for_someone_else_is_refused() {
    let mut r = new_raft(1, 3, Persisted::default());
    let body = Body::RequestVote { last_log_index: 0, last_log_term: 0 };
    let from_stranger = Message { from: 9, to: 1, term: 1, body: body.clone() };
    assert_eq!(r.step(from_stranger), Err(StepError::UnknownSender(9)));
    let misrouted = Message { from: 2, to: 3, term: 1, body };
    assert!(matches!(r.step(misrouted), Err(StepError::NotForMe { .. })));
    assert_eq!(r.current_term(), 0);
    assert!(!r.has_ready());
}

#[test]
fn append_with_a_gap_or_future_terms_is_refused() {
    let mut r = new_raft(1, 3, Persisted::default());
    let gap = vec![entry(1, 1), entry(3, 1)];
    let future = vec![Entry { index: 1, term: 7, data: Default::default() }];
    for entries in [gap, future] {
        let body = Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries, leader_commit: 5 };
        let result = r.step(Message { from: 2, to: 1, term: 1, body });
        assert!(matches!(result, Err(StepError::Malformed { from: 2, .. })), "{result:?}");
        assert_eq!(r.log().last_index(), 0);
        assert_eq!(r.commit_index(), 0);
    }
}

#[test]
fn corrupt_persisted_state_is_refused() {
    let config = || crate::net::paper_config(1, vec![1, 2, 3]);
    let gap = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 2, voted_for: None },
        entries: vec![entry(2, 1)],
    };
    assert!(matches!(Raft::new(config(), gap, rng(1)), Err(RestoreError::Gap { .. })));
    let ahead = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 1, voted_for: None },
        entries: log_of(&[1, 3]),
    };
    assert!(matches!(Raft::new(config(), ahead, rng(1)), Err(RestoreError::TermAhead { .. })));
    let mut bad = config();
    bad.voters = vec![2, 3];
    assert!(matches!(Raft::new(bad, Persisted::default(), rng(1)), Err(RestoreError::Config(_))));
}
