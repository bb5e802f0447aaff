//! The `Ready` hand-off between the core and its driver: `is_empty` is true
//! exactly when none of its four parts (Figure 2's persistent state, new
//! log entries, messages, entries to apply) holds anything.

use raft::{AppendReply, Body, HardState, Message, Persisted, Ready, Role};

use crate::net::{entry, new_raft, Net};

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

/// A leader whose own write completes (`advance`) commits an entry a
/// follower had acknowledged, then steps down (CheckQuorum) before its next
/// `ready`: the step-down drops the pending commit announcement, yet the
/// entry is committed and still to be applied, so `has_ready` says so.
#[test]
fn entry_committed_just_before_stepping_down_is_still_handed_out_to_apply() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.extend([2, 3]);
    let leader = net.node(1);
    for _ in 0..55 {
        leader.tick();
        leader.ready();
        leader.advance();
    }
    let (index, term) = leader.propose(vec![1]).unwrap();
    leader.ready(); // a slow write of the entry starts
    let ack = Body::AppendEntriesReply(AppendReply::Success { match_index: index, round: 0 });
    leader.step(Message { from: 2, to: 1, term, body: ack }).unwrap();
    for _ in 0..64 {
        leader.tick();
        leader.ready(); // heartbeats go out meanwhile
    }
    leader.advance(); // the write completed: 2 of 3 durable copies
    assert_eq!((leader.role(), leader.commit_index()), (Role::Leader, index));
    leader.tick(); // the second CheckQuorum period found no majority
    assert_eq!(leader.role(), Role::Follower);
    assert!(leader.has_ready(), "entry {index} is committed and not yet applied");
    let ready = leader.ready();
    assert_eq!(ready.committed_entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![index]);
    assert!(ready.messages.is_empty() && ready.entries.is_empty(), "only the entry: {ready:?}");
}
