//! §5.4.1 election restriction and §5.4.2 committing entries from previous
//! terms (Figure 8).

use raft::{AppendReply, Body, HardState, Message, Persisted, Role};

use crate::net::{log_of, new_raft, Net};

#[test]
fn s5_4_1_vote_denied_to_a_less_up_to_date_log() {
    let persisted = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 2, voted_for: None },
        entries: log_of(&[1, 2]),
        membership: None,
    };
    let mut r = new_raft(1, 3, persisted);
    let ask = |last_log_index, last_log_term| Message {
        from: 2,
        to: 1,
        term: 3,
        body: Body::RequestVote { last_log_index, last_log_term, leadership_transfer: false },
    };
    r.step(ask(5, 1)).unwrap(); // longer but older last term
    r.step(ask(1, 2)).unwrap(); // same last term, shorter
    let answers: Vec<_> = r.ready().messages.into_iter().map(|m| m.body).collect();
    let refused = Body::RequestVoteReply { vote_granted: false };
    assert_eq!(answers, vec![refused.clone(), refused]);
    r.step(ask(2, 2)).unwrap();
    assert_eq!(r.ready().messages[0].body, Body::RequestVoteReply { vote_granted: true });
}

#[test]
fn s5_4_1_member_missing_committed_entries_cannot_win() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.insert(3);
    net.node(1).propose(b"committed".to_vec()).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 1);
    net.cut = [1].into();
    net.cut.remove(&3);
    // 3 campaigns with an empty log: 2 holds entry 1 and must refuse.
    net.campaign(3);
    assert_ne!(net.node(3).role(), Role::Leader);
}

/// Figure 8: a leader of term 4 must not commit the term-2 entry by
/// counting replicas; it commits only together with an entry of its own.
#[test]
fn s5_4_2_old_term_entry_is_not_committed_by_counting_replicas() {
    // 1 leads term 4 with [1, 2]; 2 has [1]; 3 has [1].
    let hs = |t| HardState { current_term: t, voted_for: None };
    let mut net = Net::with_logs(3, |id| match id {
        1 => Persisted {
            snapshot: Default::default(),
            hard_state: hs(3),
            entries: log_of(&[1, 2]),
            membership: None,
        },
        _ => Persisted {
            snapshot: Default::default(),
            hard_state: hs(3),
            entries: log_of(&[1]),
            membership: None,
        },
    });
    net.campaign(1);
    assert_eq!(net.node(1).role(), Role::Leader);
    assert_eq!(net.node(1).current_term(), 4);
    // Entry 2 (term 2) is now on all three, yet not committed.
    assert_eq!(net.node(2).log().term(2), Some(2));
    assert_eq!(net.node(1).commit_index(), 0);
    net.node(1).propose(b"t4".to_vec()).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 3);
}

#[test]
fn s5_4_2_leader_counts_itself_only_once_durable() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.insert(3);
    let leader = net.node(1);
    leader.propose(b"x".to_vec()).unwrap();
    let ready = leader.ready(); // not yet advanced: the leader's copy is not durable
    let ack = Message {
        from: 2,
        to: 1,
        term: 1,
        body: Body::AppendEntriesReply(AppendReply::Success { match_index: 1, round: 0 }),
    };
    leader.step(ack).unwrap();
    assert_eq!(leader.commit_index(), 0, "one follower alone is not a majority of durable copies");
    drop(ready);
    leader.advance();
    assert_eq!(leader.commit_index(), 1);
}
