//! Durability promises of the `Ready` hand-off (Figure 2, "Persistent state
//! on all servers ... updated on stable storage before responding to RPCs",
//! and §5.4.2 / thesis §10.2.1 on the leader's own log): each test here
//! catches a bug planted by hand in the core, as `docs/mutants.md`
//! ("Hand-planted bugs") describes.
//!
//! A member's storage is modelled by [`Disk`]: it keeps exactly what the
//! member's Readies asked to persist, and a restart starts from it.

use raft::{AppendReply, Body, HardState, Message, NodeId, Persisted, Raft, Ready, Role};

use crate::net::{log_of, new_raft, Net};

/// What a member's Readies asked to persist, applied as a driver would
/// (`raft::testing::persist`).
struct Disk(Persisted);

impl Disk {
    fn holding(persisted: &Persisted) -> Disk {
        Disk(persisted.clone())
    }

    fn persist(&mut self, ready: &Ready) {
        raft::testing::persist(&mut self.0, ready).expect("no gap");
    }

    fn hard_state(&self) -> HardState {
        self.0.hard_state
    }

    /// The member after a crash: what is on disk, nothing else.
    fn restart(&self, id: NodeId, n: u64) -> Raft {
        new_raft(id, n, self.0.clone())
    }
}

fn request_vote(from: NodeId, to: NodeId, term: u64, last: (u64, u64)) -> Message {
    Message {
        from,
        to,
        term,
        body: Body::RequestVote { last_log_index: last.0, last_log_term: last.1, leadership_transfer: false },
    }
}

/// The vote answers in `ready`, as (candidate, granted).
fn votes(ready: &Ready) -> Vec<(NodeId, bool)> {
    ready
        .messages
        .iter()
        .filter_map(|m| match m.body {
            Body::RequestVoteReply { vote_granted } => Some((m.to, vote_granted)),
            _ => None,
        })
        .collect()
}

/// Drives `r` through `step`, persisting every Ready on `disk` before its
/// messages would go out; returns the vote answers sent and whether each
/// Ready that carried a granted vote had the vote on disk by then.
fn step_and_persist(r: &mut Raft, disk: &mut Disk, msg: Message) -> Vec<(NodeId, bool)> {
    r.step(msg).expect("well-formed message");
    let mut answers = Vec::new();
    while r.has_ready() {
        let ready = r.ready();
        disk.persist(&ready);
        for (candidate, granted) in votes(&ready) {
            if granted {
                assert_eq!(
                    disk.hard_state(),
                    HardState { current_term: r.current_term(), voted_for: Some(candidate) },
                    "a granted vote goes out only once it is on disk"
                );
            }
            answers.push((candidate, granted));
        }
        r.advance();
    }
    answers
}

/// Plant (a), a vote that is not persisted. A member already in the
/// candidate's term (restored from disk at that term, no vote yet) grants
/// its vote: the Ready carrying the grant must carry the new `voted_for`,
/// and the member restarted from its disk must refuse a second candidate
/// of the same term (Figure 2: `votedFor` is persistent; §5.2 "each server
/// will vote for at most one candidate in a given term").
#[test]
fn s5_2_granted_vote_is_persisted_before_the_reply_and_survives_a_restart() {
    let persisted = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 1, voted_for: None },
        entries: vec![],
        membership: None,
    };
    let mut disk = Disk::holding(&persisted);
    let mut r = new_raft(1, 3, persisted);

    r.step(request_vote(2, 1, 1, (0, 0))).unwrap();
    let ready = r.ready();
    assert_eq!(votes(&ready), vec![(2, true)]);
    assert_eq!(
        ready.hard_state,
        Some(HardState { current_term: 1, voted_for: Some(2) }),
        "the Ready that carries the grant carries the vote to persist"
    );
    disk.persist(&ready);
    r.advance();

    let mut restarted = disk.restart(1, 3);
    assert_eq!(restarted.status().voted_for, Some(2));
    let answers = step_and_persist(&mut restarted, &mut disk, request_vote(3, 1, 1, (0, 0)));
    assert_eq!(answers, vec![(3, false)], "a second vote in term 1 after a restart");
    // The first candidate still gets the same answer (a retransmission).
    let answers = step_and_persist(&mut restarted, &mut disk, request_vote(2, 1, 1, (0, 0)));
    assert_eq!(answers, vec![(2, true)]);
}

/// Plant (a) again, with the term learnt from the network: a candidate
/// whose log is behind is refused but moves the member to its term (that
/// Ready persists the term with no vote), then a second candidate of that
/// term wins the vote. Every Ready is persisted before its messages go
/// out; the restarted member must not vote for a third candidate.
#[test]
fn s5_2_vote_granted_after_the_term_was_persisted_survives_a_restart() {
    let persisted = Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 1, voted_for: None },
        entries: log_of(&[1]),
        membership: None,
    };
    let mut disk = Disk::holding(&persisted);
    let mut r = new_raft(1, 5, persisted);

    let behind = step_and_persist(&mut r, &mut disk, request_vote(2, 1, 2, (0, 0)));
    assert_eq!(behind, vec![(2, false)], "§5.4.1: its log is behind ours");
    assert_eq!(disk.hard_state(), HardState { current_term: 2, voted_for: None });

    let granted = step_and_persist(&mut r, &mut disk, request_vote(3, 1, 2, (1, 1)));
    assert_eq!(granted, vec![(3, true)]);
    assert_eq!(disk.hard_state(), HardState { current_term: 2, voted_for: Some(3) });

    let mut restarted = disk.restart(1, 5);
    let third = step_and_persist(&mut restarted, &mut disk, request_vote(4, 1, 2, (1, 1)));
    assert_eq!(third, vec![(4, false)], "one vote per term, across a crash");
    assert_eq!(restarted.role(), Role::Follower);
}

fn success(from: NodeId, term: u64, match_index: u64) -> Message {
    Message {
        from,
        to: 1,
        term,
        body: Body::AppendEntriesReply(AppendReply::Success { match_index, round: 0 }),
    }
}

/// Plant (b), a leader that counts its unsynced log toward the quorum. In
/// a group of `n`, `acks` followers (one short of a majority without the
/// leader) acknowledge an entry whose persist on the leader is still in
/// flight (`ready` handed it out, `advance` not yet called). The leader's
/// own copy is the deciding vote, and it does not count until it is
/// durable (§5.4.2 and thesis §10.2.1: the leader may send before its
/// own write completes, but counts itself only once it has).
fn unsynced_leader_copy_does_not_complete_the_quorum(n: u64, acks: u64) {
    let mut net = Net::new(n);
    net.campaign(1);
    assert_eq!(net.leaders(), vec![1]);
    let term = net.node(1).current_term();
    let leader = net.node(1);
    let (index, _) = leader.propose(b"x".to_vec()).unwrap();
    let ready = leader.ready(); // the leader's write of the entry starts
    assert_eq!(ready.entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![index]);
    assert!(ready.committed_entries.is_empty());

    for from in 2..2 + acks {
        leader.step(success(from, term, index)).unwrap();
    }
    assert_eq!(leader.commit_index(), 0, "{acks} of {n} durable copies are not a majority");
    let early = leader.ready();
    assert!(early.committed_entries.is_empty(), "nothing to apply before the leader's sync");
    assert!(early.messages.iter().all(|m| match &m.body {
        Body::AppendEntries { leader_commit, .. } => *leader_commit == 0,
        _ => true,
    }));

    leader.advance(); // the write completed
    assert_eq!(leader.commit_index(), index);
    let ready = leader.ready();
    assert_eq!(ready.committed_entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![index]);
}

#[test]
fn s5_4_2_leader_without_a_durable_copy_does_not_commit_with_one_of_three() {
    unsynced_leader_copy_does_not_complete_the_quorum(3, 1);
}

#[test]
fn s5_4_2_leader_without_a_durable_copy_does_not_commit_with_two_of_five() {
    unsynced_leader_copy_does_not_complete_the_quorum(5, 2);
}

/// The other side of plant (b): with a majority of followers durable, the
/// leader commits without waiting for its own write.
#[test]
fn s5_4_2_a_majority_of_followers_commits_before_the_leaders_own_sync() {
    let mut net = Net::new(3);
    net.campaign(1);
    let leader = net.node(1);
    let (index, _) = leader.propose(b"x".to_vec()).unwrap();
    leader.ready();
    for from in [2, 3] {
        leader.step(success(from, 1, index)).unwrap();
    }
    assert_eq!(leader.commit_index(), index);
    assert_eq!(leader.ready().committed_entries.len(), 1);
}
