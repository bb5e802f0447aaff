//! §5.3 "the leader can decrement nextIndex to bypass all of the conflicting
//! entries in that term": the conflict-term / conflict-index backoff.

use raft::{AppendReply, Body, HardState, Message, Persisted};

use crate::net::{log_of, new_raft, Net};

fn appends_to(net: &Net, to: u64) -> usize {
    net.sent.iter().filter(|m| m.to == to && matches!(m.body, Body::AppendEntries { .. })).count()
}

/// Figure 7's follower (f) holds long runs of terms 2 and 3 that the leader
/// never had: one round trip per term, not per entry.
#[test]
fn backoff_skips_a_whole_term_per_round_trip() {
    let leader_log = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let hs = |t| HardState { current_term: t, voted_for: None };
    let mut net = Net::with_logs(3, |id| match id {
        2 => Persisted {
            snapshot: Default::default(),
            hard_state: hs(3),
            entries: log_of(&[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
            membership: None,
        },
        _ => Persisted {
            snapshot: Default::default(),
            hard_state: hs(6),
            entries: log_of(&leader_log),
            membership: None,
        },
    });
    net.campaign(1);
    assert_eq!(net.leaders(), vec![1]);
    let follower: Vec<u64> = net.node(2).log().slice(1, 20).iter().map(|e| e.term).collect();
    assert_eq!(follower, leader_log);
    // Probe at 10 (conflict term 3, unknown to the leader: jump to 7), at 6
    // (conflict term 2: jump to 4), then success from 4.
    assert_eq!(appends_to(&net, 2), 3);
}

#[test]
fn backoff_jumps_past_the_leaders_last_entry_of_the_conflict_term() {
    let mut r = new_raft(
        1,
        3,
        Persisted {
            snapshot: Default::default(),
            hard_state: HardState { current_term: 5, voted_for: None },
            entries: log_of(&[1, 2, 2, 2, 5]),
            membership: None,
        },
    );
    // Become leader of term 6 by hand.
    while r.role() != raft::Role::Candidate {
        r.tick();
    }
    for from in [2, 3] {
        r.step(Message { from, to: 1, term: 6, body: Body::RequestVoteReply { vote_granted: true } })
            .unwrap();
    }
    r.ready();
    // Follower 2 has term 2 at index 5 (from 2..): the leader's last term-2
    // entry is 4, so the next probe starts at 5, with prev 4.
    let conflict =
        AppendReply::Conflict { rejected_index: 5, conflict_term: Some(2), conflict_index: 2, round: 0 };
    r.step(Message { from: 2, to: 1, term: 6, body: Body::AppendEntriesReply(conflict) }).unwrap();
    let probe = r.ready().messages.into_iter().find(|m| m.to == 2).expect("a new probe");
    match probe.body {
        Body::AppendEntries { prev_log_index, prev_log_term, entries, .. } => {
            assert_eq!((prev_log_index, prev_log_term), (4, 2));
            assert_eq!(entries.len(), 1);
        }
        other => panic!("expected AppendEntries, got {other:?}"),
    }
}

#[test]
fn backoff_uses_the_followers_length_when_its_log_is_short() {
    let hs = |t| HardState { current_term: t, voted_for: None };
    let mut net = Net::with_logs(3, |id| match id {
        2 => Persisted {
            snapshot: Default::default(),
            hard_state: hs(1),
            entries: log_of(&[1]),
            membership: None,
        },
        _ => Persisted {
            snapshot: Default::default(),
            hard_state: hs(1),
            entries: log_of(&[1; 30]),
            membership: None,
        },
    });
    net.campaign(1);
    assert_eq!(net.node(2).log().last_index(), 30);
    assert_eq!(appends_to(&net, 2), 2, "one probe at 30, then everything from 2");
}

#[test]
fn stale_rejection_is_ignored() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(b"a".to_vec()).unwrap();
    net.deliver_all();
    let old = AppendReply::Conflict { rejected_index: 1, conflict_term: None, conflict_index: 1, round: 0 };
    let before = net.sent.len();
    net.node(1).step(Message { from: 2, to: 1, term: 1, body: Body::AppendEntriesReply(old) }).unwrap();
    net.flush();
    assert_eq!(net.sent.len(), before, "a rejection below match_index changes nothing");
}
