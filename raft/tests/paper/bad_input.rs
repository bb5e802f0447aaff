//! Input from the network or from storage that no correct peer produces is
//! refused with an error, never a panic, and changes nothing.

use raft::{Body, Entry, HardState, Message, Persisted, Raft, RestoreError, StepError};

use crate::net::{entry, log_of, new_raft, rng};

#[test]
fn message_from_ourselves_or_for_someone_else_is_refused() {
    let mut r = new_raft(1, 3, Persisted::default());
    let body = Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false };
    let from_ourselves = Message { from: 1, to: 1, term: 1, body: body.clone() };
    assert_eq!(r.step(from_ourselves), Err(StepError::UnknownSender(1)));
    let misrouted = Message { from: 2, to: 3, term: 1, body };
    assert!(matches!(r.step(misrouted), Err(StepError::NotForMe { .. })));
    assert_eq!(r.current_term(), 0);
    assert!(!r.has_ready());
}

/// Thesis §4.1: "servers process incoming RPC requests without consulting
/// their current configurations". A member being added hears from a
/// leader it does not know of yet.
#[test]
fn s4_1_a_message_from_outside_the_configuration_is_processed() {
    let mut r = new_raft(1, 3, Persisted::default());
    let body = Body::AppendEntries {
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![entry(1, 1)],
        leader_commit: 0,
    };
    r.step(Message { from: 9, to: 1, term: 1, body }).unwrap();
    assert_eq!(r.leader_id(), Some(9));
    assert_eq!(r.log().last_index(), 1);
}

#[test]
fn append_with_a_gap_or_future_terms_is_refused() {
    let mut r = new_raft(1, 3, Persisted::default());
    let gap = vec![entry(1, 1), entry(3, 1)];
    let future = vec![Entry::new(1, 7, bytes::Bytes::new())];
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
        membership: None,
    };
    assert!(matches!(Raft::new(config(), gap, rng(1)), Err(RestoreError::Gap { .. })));
    let ahead = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 1, voted_for: None },
        entries: log_of(&[1, 3]),
        membership: None,
    };
    assert!(matches!(Raft::new(config(), ahead, rng(1)), Err(RestoreError::TermAhead { .. })));
    let mut bad = config();
    bad.voters = vec![2, 2];
    assert!(matches!(Raft::new(bad, Persisted::default(), rng(1)), Err(RestoreError::Config(_))));
    let junk = Entry { kind: raft::EntryKind::Membership, ..Entry::new(1, 1, vec![0xff]) };
    let bad_entry = Persisted {
        hard_state: HardState { current_term: 1, voted_for: None },
        entries: vec![junk],
        ..Persisted::default()
    };
    assert_eq!(Raft::new(config(), bad_entry, rng(1)).err(), Some(RestoreError::BadMembership(1)));
    let no_voters = Persisted { membership: Some(raft::Membership::default()), ..Persisted::default() };
    assert_eq!(Raft::new(config(), no_voters, rng(1)).err(), Some(RestoreError::BadSnapshotMembership));
}
