//! Input from the network or from storage that no correct peer produces is
//! refused with an error, never a panic, and changes nothing.

use raft::{
    AppendReply, Body, Entry, HardState, Message, Persisted, Raft, RestoreError, Role, StepError, MAX_TERM,
};

use crate::net::{entry, log_of, new_raft, rng, Net};

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
        round: 0,
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
        let body =
            Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries, leader_commit: 5, round: 0 };
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

// The edges of what `step` and a restart refuse: the term ceiling, the
// range of a conflict hint, a second leader in one term, and which state
// a reply's index is checked against (Figure 2's rules for all servers
// still apply to every reply of a newer term).

fn restore(current_term: u64) -> Result<Raft, RestoreError> {
    let persisted = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term, voted_for: None },
        entries: vec![],
        membership: None,
    };
    Raft::new(crate::net::paper_config(1, vec![1, 2, 3]), persisted, rng(1))
}

/// The ceiling leaves 2^32 elections above it, and terms far above 2^32
/// are ordinary terms: accepted from the network and at a restart.
#[test]
fn max_term_leaves_two_to_the_32_terms_and_terms_above_two_to_the_32_are_accepted() {
    assert_eq!(u64::MAX - MAX_TERM, 1 << 32);
    let mut net = Net::new(3);
    let term = 1 << 40;
    let body = Body::RequestVote { last_log_index: 0, last_log_term: 0, leadership_transfer: false };
    net.node(1).step(Message { from: 2, to: 1, term, body }).unwrap();
    assert_eq!(net.node(1).current_term(), term);
    assert!(restore(term).is_ok());
}

/// Elections go on above `MAX_TERM`, so a member restarts at any term it
/// can hold, up to the last one.
#[test]
fn restore_accepts_terms_above_max_term() {
    for term in [MAX_TERM, MAX_TERM + 1, u64::MAX] {
        assert_eq!(restore(term).map(|r| r.current_term()).ok(), Some(term));
    }
}

/// The leader of term 1 with entries 1..3 on every member.
fn leader_with_three_entries() -> Net {
    let mut net = Net::new(3);
    net.campaign(1);
    for i in 0..3u8 {
        net.node(1).propose(vec![i]).unwrap();
    }
    net.deliver_all();
    net
}

fn conflict(term: u64, rejected_index: u64, conflict_term: Option<u64>, conflict_index: u64) -> Message {
    let reply = AppendReply::Conflict { rejected_index, conflict_term, conflict_index, round: 0 };
    Message { from: 2, to: 1, term, body: Body::AppendEntriesReply(reply) }
}

/// A conflict hint names a `conflict_index` in `1..=rejected_index` and a
/// `conflict_term` in `1..=term` (a follower's log holds no newer term
/// than its current one); anything else is refused, and changes nothing.
#[test]
fn conflict_hint_outside_its_range_is_refused_and_at_its_edges_accepted() {
    let refused = [
        conflict(1, 0, None, 1),
        conflict(1, 3, None, 0),
        conflict(1, 3, None, 4),
        conflict(1, 3, Some(0), 1),
        conflict(1, 3, Some(2), 1),
    ];
    for msg in refused {
        let mut net = leader_with_three_entries();
        let before = (net.node(1).status(), net.node(1).has_ready());
        let result = net.node(1).step(msg.clone());
        assert!(matches!(result, Err(StepError::Malformed { from: 2, .. })), "{msg:?}: {result:?}");
        assert_eq!((net.node(1).status(), net.node(1).has_ready()), before);
    }
    for msg in [conflict(1, 3, None, 3), conflict(1, 3, Some(1), 1), conflict(1, 1, None, 1)] {
        let mut net = leader_with_three_entries();
        assert_eq!(net.node(1).step(msg.clone()), Ok(()), "{msg:?}");
    }
}

/// §5.2 Election Safety: at most one leader per term, so a leader refuses
/// an AppendEntries of its own term and stays leader.
#[test]
fn s5_2_leader_refuses_append_entries_of_its_own_term() {
    let mut net = Net::new(3);
    net.campaign(1);
    let body = Body::AppendEntries {
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![],
        leader_commit: 0,
        round: 0,
    };
    let result = net.node(1).step(Message { from: 2, to: 1, term: 1, body });
    assert!(matches!(result, Err(StepError::Malformed { from: 2, .. })), "{result:?}");
    assert_eq!((net.node(1).role(), net.node(1).leader_id()), (Role::Leader, Some(1)));
}

/// §5.1 "If RPC request or response contains term T > currentTerm: set
/// currentTerm = T, convert to follower": the indexes a reply names are
/// checked only by the leader of the reply's term, against its own log.
#[test]
fn s5_1_reply_of_a_newer_term_deposes_the_leader_whatever_index_it_names() {
    for reply in [
        AppendReply::Success { match_index: 99, round: 0 },
        AppendReply::Conflict { rejected_index: 99, conflict_term: None, conflict_index: 1, round: 0 },
    ] {
        let mut net = Net::new(3);
        net.campaign(1);
        let msg = Message { from: 2, to: 1, term: 3, body: Body::AppendEntriesReply(reply.clone()) };
        assert_eq!(net.node(1).step(msg), Ok(()), "{reply:?}");
        assert_eq!((net.node(1).role(), net.node(1).current_term()), (Role::Follower, 3));
        // The same reply in the leader's own term names entries it never sent.
        let mut net = Net::new(3);
        net.campaign(1);
        let msg = Message { from: 2, to: 1, term: 1, body: Body::AppendEntriesReply(reply) };
        assert!(net.node(1).step(msg).is_err());
    }
}
