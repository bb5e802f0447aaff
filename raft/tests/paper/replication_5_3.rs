//! §5.3 log replication.

use raft::{AppendReply, Body, HardState, Message, Persisted, ProposeError};

use crate::net::{entry, log_of, new_raft, Net};

fn append(term: u64, prev: (u64, u64), entries: Vec<raft::Entry>, commit: u64) -> Message {
    Message {
        from: 2,
        to: 1,
        term,
        body: Body::AppendEntries {
            prev_log_index: prev.0,
            prev_log_term: prev.1,
            entries,
            leader_commit: commit,
            round: 0,
        },
    }
}

fn reply(r: &mut raft::Raft) -> AppendReply {
    match r.ready().messages.pop().map(|m| m.body) {
        Some(Body::AppendEntriesReply(reply)) => reply,
        other => panic!("expected an AppendEntries reply, got {other:?}"),
    }
}

#[test]
fn s5_3_leader_replicates_and_commits_on_majority() {
    let mut net = Net::new(3);
    net.campaign(1);
    let (index, _) = net.node(1).propose(b"a".to_vec()).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), index);
    assert_eq!(net.applied[&1].len(), 1);
    // Followers learn the commit index with the next message from the leader.
    net.tick_all(10);
    for id in 2..=3 {
        assert_eq!(net.applied[&id].last().map(|e| e.data.clone()), Some(b"a".to_vec().into()));
    }
}

#[test]
fn s5_3_follower_refuses_when_prev_entry_is_missing() {
    let mut r = new_raft(1, 3, Persisted::default());
    r.step(append(1, (2, 1), vec![entry(3, 1)], 0)).unwrap();
    assert_eq!(
        reply(&mut r),
        AppendReply::Conflict { rejected_index: 2, conflict_term: None, conflict_index: 1, round: 0 }
    );
    assert_eq!(r.log().last_index(), 0);
}

#[test]
fn s5_3_conflicting_suffix_is_replaced() {
    let persisted = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 2, voted_for: None },
        entries: log_of(&[1, 1, 2, 2]),
        membership: None,
    };
    let mut r = new_raft(1, 3, persisted);
    r.step(append(3, (2, 1), vec![entry(3, 3)], 0)).unwrap();
    assert_eq!(r.log().last_index(), 3);
    assert_eq!(r.log().term(3), Some(3));
    let ready = r.ready();
    assert_eq!(ready.entries, vec![entry(3, 3)], "the replacement is handed out for persisting");
    assert_eq!(
        ready.messages.last().map(|m| m.body.clone()),
        Some(Body::AppendEntriesReply(AppendReply::Success { match_index: 3, round: 0 }))
    );
}

#[test]
fn s5_3_commit_index_only_covers_entries_the_request_vouched_for() {
    // The follower holds a stale suffix 3..4 that the heartbeat does not cover.
    let persisted = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 2, voted_for: None },
        entries: log_of(&[1, 1, 1, 1]),
        membership: None,
    };
    let mut r = new_raft(1, 3, persisted);
    r.step(append(2, (2, 1), vec![], 4)).unwrap();
    assert_eq!(r.commit_index(), 2);
    assert_eq!(reply(&mut r), AppendReply::Success { match_index: 2, round: 0 });
}

#[test]
fn s5_3_reordered_old_request_does_not_truncate() {
    let mut r = new_raft(1, 3, Persisted::default());
    r.step(append(1, (0, 0), vec![entry(1, 1), entry(2, 1)], 0)).unwrap();
    r.step(append(1, (0, 0), vec![entry(1, 1)], 0)).unwrap();
    assert_eq!(r.log().last_index(), 2);
    // Its reply acknowledges only what it carried.
    assert_eq!(reply(&mut r), AppendReply::Success { match_index: 1, round: 0 });
}

#[test]
fn s5_3_propose_on_follower_names_the_leader() {
    let mut net = Net::new(3);
    net.campaign(2);
    assert_eq!(net.node(1).propose(b"x".to_vec()), Err(ProposeError::NotLeader { leader_hint: Some(2) }));
}

#[test]
fn s5_3_proposals_between_two_readies_share_one_append_per_follower() {
    let mut net = Net::new(3);
    net.campaign(1);
    let before = net.requests_sent();
    for i in 0..12u8 {
        net.node(1).propose(vec![i]).unwrap();
    }
    net.deliver_all();
    let with_entries = net.sent[..]
        .iter()
        .filter(|m| matches!(&m.body, Body::AppendEntries { entries, .. } if !entries.is_empty()))
        .count();
    assert_eq!(with_entries, 2);
    assert_eq!(net.node(1).commit_index(), 12);
    // Plus one message per follower to announce the new commit index.
    assert_eq!(net.requests_sent() - before, 4);
    assert!(net.nodes.values().all(|r| r.commit_index() == 12));
}

/// A follower the leader already replicates to holds an AppendEntries that
/// arrives ahead of a gap (the network reordered two requests) and takes
/// it once the earlier one arrives: both are acknowledged, neither is
/// rejected, so the leader keeps pipelining instead of probing.
#[test]
fn a_request_reordered_ahead_of_a_gap_is_held_then_taken() {
    let mut r = new_raft(1, 3, Persisted::default());
    r.step(append(1, (0, 0), vec![entry(1, 1)], 0)).unwrap();
    assert!(matches!(reply(&mut r), AppendReply::Success { match_index: 1, .. }));
    r.step(append(1, (2, 1), vec![entry(3, 1)], 0)).unwrap();
    assert!(r.ready().messages.is_empty(), "a reordered request was answered at once");
    r.step(append(1, (1, 1), vec![entry(2, 1)], 0)).unwrap();
    let replies: Vec<Body> = r.ready().messages.into_iter().map(|m| m.body).collect();
    let matched: Vec<u64> = replies
        .iter()
        .filter_map(|b| match b {
            Body::AppendEntriesReply(AppendReply::Success { match_index, .. }) => Some(*match_index),
            _ => None,
        })
        .collect();
    assert_eq!(matched, vec![2, 3], "{replies:?}");
    assert_eq!(r.log().last_index(), 3);
}

/// A follower holds only so many requests ahead of a gap; past that it
/// refuses, as Figure 2 has it.
#[test]
fn a_follower_holds_a_bounded_number_of_requests_ahead_of_a_gap() {
    let mut r = new_raft(1, 3, Persisted::default());
    r.step(append(1, (0, 0), vec![entry(1, 1)], 0)).unwrap();
    reply(&mut r);
    let mut refused = 0;
    for i in 3..30 {
        r.step(append(1, (i - 1, 1), vec![entry(i, 1)], 0)).unwrap();
        refused += r.ready().messages.len();
    }
    assert!(refused > 0 && refused < 27, "{refused} of 27 refused");
}

/// A request held ahead of a gap that does not fill (the earlier one was
/// lost, not late) is refused after two ticks, so the leader probes at
/// once rather than after its resend interval; `ticks_until_due` wakes the
/// driver for it.
#[test]
fn a_gap_that_does_not_fill_is_refused_after_two_ticks() {
    let mut r = new_raft(1, 3, Persisted::default());
    r.step(append(1, (0, 0), vec![entry(1, 1)], 0)).unwrap();
    reply(&mut r);
    r.step(append(1, (2, 1), vec![entry(3, 1)], 0)).unwrap();
    assert!(r.ready().messages.is_empty());
    assert_eq!(r.ticks_until_due(), 2);
    r.tick();
    assert!(r.ready().messages.is_empty(), "refused before the wait");
    r.tick();
    assert_eq!(
        reply(&mut r),
        AppendReply::Conflict { rejected_index: 2, conflict_term: None, conflict_index: 2, round: 0 }
    );
}
