//! The edges of what `step` and a restart refuse: the term ceiling, the
//! range of a conflict hint, a second leader in one term, and which state
//! a reply's index is checked against (Figure 2's rules for all servers
//! still apply to every reply of a newer term).

use raft::{AppendReply, Body, HardState, Message, Persisted, Raft, RestoreError, Role, StepError, MAX_TERM};

use crate::net::{rng, Net};

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
    let reply = AppendReply::Conflict { rejected_index, conflict_term, conflict_index };
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
    let body = Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries: vec![], leader_commit: 0 };
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
        AppendReply::Success { match_index: 99 },
        AppendReply::Conflict { rejected_index: 99, conflict_term: None, conflict_index: 1 },
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
