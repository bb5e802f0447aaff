//! Membership changes (thesis chapter 4): single-server changes in the
//! log, learners, removal of the leader, and the configuration across
//! snapshots and restarts.

use raft::{Membership, MembershipChange, MembershipError, Role};

use crate::net::Net;

fn add_learner(id: u64) -> MembershipChange {
    MembershipChange::AddLearner { id, address: format!("n{id}") }
}

/// A 3-member cluster with leader 1 that has committed an entry of its term.
fn cluster() -> Net {
    let mut net = Net::new(3);
    net.campaign(1);
    commit_one(&mut net, 1);
    net
}

fn commit_one(net: &mut Net, leader: u64) -> u64 {
    let (index, _) = net.node(leader).propose(b"x".to_vec()).expect("leader");
    net.deliver_all();
    assert!(net.node(leader).commit_index() >= index);
    index
}

/// Proposes `change` at `leader` and delivers until it commits.
fn change(net: &mut Net, leader: u64, change: MembershipChange) -> u64 {
    let (index, _) = net.node(leader).propose_membership(change).expect("change accepted");
    net.deliver_all();
    index
}

fn voters(net: &mut Net, id: u64) -> Vec<u64> {
    net.node(id).membership().voters.keys().copied().collect()
}

#[test]
fn s4_1_a_configuration_is_in_force_once_appended() {
    let mut net = cluster();
    net.join(4);
    net.cut.insert(2);
    net.cut.insert(3);
    let change = MembershipChange::AddVoter { id: 4, address: "n4".into() };
    let (index, _) = net.node(1).propose_membership(change).unwrap();
    assert!(net.node(1).membership().is_voter(4), "in force before it commits");
    net.deliver_all();
    assert_eq!(net.node(4).log().last_index(), index, "the new member got the log");
    assert!(net.node(4).membership().is_voter(4));
    assert!(net.node(1).commit_index() < index, "1 and 4 are 2 of 4 voters: no majority");
    net.cut.clear();
    net.tick_all(20);
    assert!(net.node(1).commit_index() >= index);
}

#[test]
fn s4_1_one_change_at_a_time() {
    let mut net = cluster();
    net.cut.insert(2);
    net.cut.insert(3);
    let (index, _) = net.node(1).propose_membership(add_learner(4)).unwrap();
    assert_eq!(net.node(1).propose_membership(add_learner(5)), Err(MembershipError::ChangePending { index }));
}

/// The fix published after the thesis: a leader's first change waits until
/// it has committed an entry of its own term.
#[test]
fn s4_1_a_new_leader_commits_an_entry_of_its_term_before_a_change() {
    let mut net = Net::new(3);
    net.campaign(1);
    assert_eq!(net.node(1).propose_membership(add_learner(4)), Err(MembershipError::NoCommitInTerm));
    commit_one(&mut net, 1);
    assert!(net.node(1).propose_membership(add_learner(4)).is_ok());
}

#[test]
fn s4_1_only_the_leader_changes_the_membership() {
    let mut net = cluster();
    let refused = net.node(2).propose_membership(add_learner(4));
    assert_eq!(refused, Err(MembershipError::NotLeader { leader_hint: Some(1) }));
}

/// A follower uses the latest configuration in its log, committed or not;
/// when a new leader overwrites the entry, the earlier one is back, and
/// the driver hears of it.
#[test]
fn s4_1_a_truncated_membership_entry_takes_its_configuration_with_it() {
    let mut net = cluster();
    net.cut.insert(3);
    net.down.insert((2, 1)); // 2 gets the entry, the leader never hears back
    let (index, _) = net.node(1).propose_membership(add_learner(4)).unwrap();
    net.deliver_all();
    assert!(net.node(2).membership().is_learner(4));
    // Leader 3 of term 2 never had it, and replaces it.
    let entries = vec![raft::Entry::new(index, 2, b"y".to_vec())];
    let body = raft::Body::AppendEntries {
        prev_log_index: index - 1,
        prev_log_term: 1,
        entries,
        leader_commit: 0,
        round: 0,
    };
    net.node(2).step(raft::Message { from: 3, to: 2, term: 2, body }).unwrap();
    assert!(!net.node(2).membership().contains(4), "the uncommitted change was overwritten");
    let ready = net.node(2).ready();
    assert_eq!(ready.membership, Some(Membership::bootstrap(&[1, 2, 3])), "and the driver told");
}

#[test]
fn s4_2_1_a_lagging_learner_is_not_promoted() {
    let mut net = Net::with_config(3, |c| c.max_promotion_lag = 5);
    net.campaign(1);
    commit_one(&mut net, 1);
    net.join(4);
    net.cut.insert(4);
    change(&mut net, 1, add_learner(4));
    for _ in 0..10 {
        commit_one(&mut net, 1);
    }
    let refused = net.node(1).propose_membership(MembershipChange::Promote { id: 4 });
    assert!(
        matches!(refused, Err(MembershipError::Lagging { id: 4, match_index: 0, max_lag: 5, .. })),
        "{refused:?}"
    );
    let reason = refused.unwrap_err().to_string();
    assert!(reason.contains("not caught up"), "{reason}");
    net.cut.clear();
    net.tick_all(20);
    change(&mut net, 1, MembershipChange::Promote { id: 4 });
    assert_eq!(voters(&mut net, 1), vec![1, 2, 3, 4]);
    assert_eq!(voters(&mut net, 4), vec![1, 2, 3, 4]);
}

#[test]
fn s4_2_1_a_promoted_learner_counts_toward_the_majority() {
    let mut net = cluster();
    net.join(4);
    change(&mut net, 1, add_learner(4));
    commit_one(&mut net, 1);
    change(&mut net, 1, MembershipChange::Promote { id: 4 });
    commit_one(&mut net, 1);
    net.cut.insert(2);
    // Voters 1, 3, 4 of 4: a majority without 2.
    commit_one(&mut net, 1);
    net.cut.insert(3);
    let (index, _) = net.node(1).propose(b"w".to_vec()).unwrap();
    net.deliver_all();
    assert!(net.node(1).commit_index() < index, "1 and 4 of 4 voters are not a majority");
}

/// §4.2.3: a removed member that never heard of its removal times out and
/// asks for votes; the lease and PreVote keep it from moving the term.
#[test]
fn s4_2_3_a_removed_member_does_not_disrupt_the_cluster() {
    let mut net = Net::with_config(3, |c| c.pre_vote = true);
    net.campaign(1);
    commit_one(&mut net, 1);
    net.cut.insert(3);
    change(&mut net, 1, MembershipChange::Remove { id: 3 });
    commit_one(&mut net, 1);
    let term = net.node(1).current_term();
    net.cut.remove(&3);
    net.tick_all(1000);
    assert_eq!(net.leaders(), vec![1]);
    assert_eq!(net.node(1).current_term(), term);
    assert_eq!(net.node(2).current_term(), term);
}

#[test]
fn s4_changes_that_cannot_be_made_are_refused() {
    let mut net = cluster();
    let cases = [
        (add_learner(2), MembershipError::AlreadyMember(2)),
        (add_learner(0), MembershipError::BadId(0)),
        (MembershipChange::Promote { id: 2 }, MembershipError::AlreadyVoter(2)),
        (MembershipChange::Promote { id: 9 }, MembershipError::NotAMember(9)),
        (MembershipChange::Remove { id: 9 }, MembershipError::NotAMember(9)),
    ];
    for (change, error) in cases {
        assert_eq!(net.node(1).propose_membership(change), Err(error));
    }
    let long = MembershipChange::AddLearner { id: 4, address: "x".repeat(raft::MAX_ADDRESS_BYTES + 1) };
    assert!(matches!(net.node(1).propose_membership(long), Err(MembershipError::AddressTooLong { .. })));
    let mut single = Net::new(1);
    single.campaign(1);
    commit_one(&mut single, 1);
    assert_eq!(
        single.node(1).propose_membership(MembershipChange::Remove { id: 1 }),
        Err(MembershipError::LastVoter(1))
    );
}

#[test]
fn s4_the_configuration_survives_a_restart() {
    let mut net = cluster();
    net.join(4);
    change(&mut net, 1, add_learner(4));
    commit_one(&mut net, 1);
    change(&mut net, 1, MembershipChange::Remove { id: 3 });
    for id in [1, 2, 4] {
        net.restart(id);
    }
    for id in [1, 2, 4] {
        let m = net.node(id).membership().clone();
        let want = Membership {
            voters: [(1, String::new()), (2, String::new())].into(),
            learners: [(4, "n4".to_string())].into(),
        };
        assert_eq!(m, want, "member {id}");
    }
}

/// §7 with chapter 4: a snapshot carries the configuration at its index.
/// A member added after compaction is sent the snapshot and knows the
/// configuration from it; so does a member restarted from a compacted
/// log.
#[test]
fn s4_a_snapshot_carries_the_configuration() {
    let mut net = cluster();
    net.join(4);
    change(&mut net, 1, add_learner(4));
    net.cut.insert(4);
    change(&mut net, 1, MembershipChange::Remove { id: 4 });
    commit_one(&mut net, 1);
    net.join(5);
    change(&mut net, 1, add_learner(5));
    net.cut.insert(5);
    for _ in 0..5 {
        commit_one(&mut net, 1);
    }
    let applied = net.node(1).status().applied_index;
    net.compact(1, applied).unwrap();
    net.cut.remove(&5);
    net.tick_all(20);
    let installed = net.installs.iter().find(|(id, _)| *id == 5).expect("5 was sent the snapshot");
    assert!(installed.1.membership.is_learner(5));
    let leaders = net.node(1).membership().clone();
    assert_eq!(net.node(5).membership(), &leaders);
    let applied = net.node(2).status().applied_index;
    net.compact(2, applied).unwrap();
    net.restart(2);
    assert!(net.node(2).membership().is_learner(5), "restored from the snapshot's configuration");
    assert!(!net.node(2).membership().contains(4));
}

/// A member being added, started empty and outside every configuration,
/// never stands for election, whatever its timer says.
#[test]
fn s4_a_joining_member_waits_to_be_added() {
    let mut net = cluster();
    net.join(4);
    for _ in 0..1000 {
        net.node(4).tick();
    }
    assert_eq!(net.node(4).role(), Role::Follower);
    assert_eq!(net.node(4).current_term(), 0);
}

/// A removed member whose acknowledgement was lost still learns that its
/// removal committed: the leader's last message to it carries the entries
/// up to the change with the commit index, not only a heartbeat at what it
/// had acknowledged.
#[test]
fn s4_2_2_a_removed_member_learns_its_removal_committed() {
    let mut net = cluster();
    net.down.insert((3, 1)); // 3 hears everything, the leader hears nothing from it
    let (index, _) = net.node(1).propose_membership(MembershipChange::Remove { id: 3 }).unwrap();
    net.deliver_all();
    assert!(net.node(1).commit_index() >= index);
    assert!(!net.node(3).membership().contains(3));
    assert!(net.node(3).commit_index() >= index, "3 was told the removal committed");
}

/// The same with a member that is not the leader: voters {1, 2, 3, 4},
/// only 4 receives its own removal, then leader 1 dies. 2 and 3 need 4's
/// vote and 4 refuses it (its log is longer), so 4 must stand.
#[test]
fn s4_2_2_a_follower_holding_its_uncommitted_removal_still_stands() {
    for pre_vote in [false, true] {
        let mut net = Net::with_config(4, |c| c.pre_vote = pre_vote);
        net.campaign(1);
        commit_one(&mut net, 1);
        net.down.insert((1, 2));
        net.down.insert((1, 3));
        let (index, _) = net.node(1).propose_membership(MembershipChange::Remove { id: 4 }).unwrap();
        net.deliver_all();
        assert_eq!(net.node(4).log().last_index(), index, "only 4 holds the removal");
        net.cut.insert(1);
        net.down.clear();
        let leader = net.await_leader_except(&[1, 4], 3000);
        assert!(net.node(leader).commit_index() >= index, "the removal committed (pre_vote {pre_vote})");
        assert_eq!(voters(&mut net, leader), vec![1, 2, 3]);
        assert_ne!(net.node(4).role(), Role::Leader);
    }
}
