//! The `Ready` hand-off between the core and its driver: `is_empty` is true
//! exactly when none of its four parts (Figure 2's persistent state, new
//! log entries, messages, entries to apply) holds anything.

use raft::{Body, HardState, Message, Persisted, Ready, Role};

use crate::net::{entry, new_raft};

#[test]
fn ready_is_empty_only_when_all_four_parts_are() {
    assert!(Ready::default().is_empty());
    let msg = Message { from: 1, to: 2, term: 1, body: Body::RequestVoteReply { vote_granted: true } };
    let one_part = [
        Ready { hard_state: Some(HardState::default()), ..Ready::default() },
        Ready { entries: vec![entry(1, 1)], ..Ready::default() },
        Ready { messages: vec![msg], ..Ready::default() },
        Ready { committed_entries: vec![entry(1, 1)], ..Ready::default() },
    ];
    for ready in one_part {
        assert!(!ready.is_empty(), "{ready:?}");
    }
}

/// A member's Readies are empty exactly when `has_ready` said there was
/// nothing to do.
#[test]
fn ready_of_a_quiet_member_is_empty_and_of_a_busy_one_is_not() {
    let mut r = new_raft(1, 1, Persisted::default());
    assert!(!r.has_ready());
    assert!(r.ready().is_empty());
    while r.role() != Role::Leader {
        r.tick();
    }
    assert!(r.has_ready());
    assert!(!r.ready().is_empty());
    r.advance();
    assert!(!r.has_ready());
    assert!(r.ready().is_empty());
}
