//! Leadership transfer (thesis §3.10).

use raft::{Body, MembershipChange, ProposeError, Role, TransferError};

use crate::net::Net;

fn cluster(pre_vote: bool) -> Net {
    let mut net = Net::with_config(3, |c| c.pre_vote = pre_vote);
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.deliver_all();
    net
}

#[test]
fn s3_10_a_caught_up_target_takes_over_in_the_next_term() {
    for pre_vote in [false, true] {
        let mut net = cluster(pre_vote);
        net.node(1).transfer_leadership(3).unwrap();
        net.deliver_all();
        assert_eq!(net.leaders(), vec![3], "pre_vote {pre_vote}");
        assert_eq!(net.node(3).current_term(), 2, "one election, at once");
        assert_eq!(net.node(1).leader_id(), Some(3));
    }
}

/// The voters are in lease (they heard from leader 1 a moment ago), and
/// they answer the target anyway: the leader asked for this election.
#[test]
fn s3_10_voters_in_lease_answer_a_transfer_election() {
    let mut net = cluster(true);
    net.tick_all(1);
    net.node(1).transfer_leadership(2).unwrap();
    net.deliver_all();
    assert_eq!(net.leaders(), vec![2]);
    assert!(net.sent.iter().any(|m| matches!(m.body, Body::TimeoutNow) && m.to == 2));
}

#[test]
fn s3_10_proposals_are_refused_during_a_transfer() {
    let mut net = cluster(true);
    net.cut.insert(3);
    net.node(1).transfer_leadership(3).unwrap();
    assert_eq!(net.node(1).transfer_target(), Some(3));
    assert_eq!(net.node(1).propose(b"y".to_vec()), Err(ProposeError::Transferring { target: 3 }));
    let change = MembershipChange::AddLearner { id: 4, address: String::new() };
    assert!(net.node(1).propose_membership(change).is_err());
}

/// The target lags: the leader brings it up to date first, then sends
/// TimeoutNow.
#[test]
fn s3_10_a_lagging_target_is_caught_up_first() {
    let mut net = cluster(true);
    net.cut.insert(3);
    for _ in 0..5 {
        net.node(1).propose(b"z".to_vec()).unwrap();
        net.deliver_all();
    }
    net.node(1).transfer_leadership(3).unwrap();
    net.deliver_all();
    assert!(!net.sent.iter().any(|m| matches!(m.body, Body::TimeoutNow)), "not before it caught up");
    net.cut.remove(&3);
    net.tick_all(15);
    assert_eq!(net.leaders(), vec![3]);
    assert_eq!(net.node(3).log().last_index(), net.node(1).log().last_index());
}

/// A target that never answers: after an election timeout the leader gives
/// up and takes proposals again, in the same term.
#[test]
fn s3_10_a_transfer_that_does_not_finish_in_an_election_timeout_is_given_up() {
    let mut net = cluster(true);
    net.cut.insert(3);
    net.node(1).transfer_leadership(3).unwrap();
    net.tick_all(59);
    assert!(net.node(1).propose(b"y".to_vec()).is_err());
    net.tick_all(1);
    assert_eq!(net.node(1).transfer_target(), None);
    assert!(net.node(1).propose(b"y".to_vec()).is_ok());
    assert_eq!((net.node(1).role(), net.node(1).current_term()), (Role::Leader, 1));
}

#[test]
fn s3_10_only_a_voter_can_be_the_target() {
    let mut net = cluster(true);
    assert_eq!(net.node(1).transfer_leadership(9), Err(TransferError::NotAVoter(9)));
    assert_eq!(net.node(2).transfer_leadership(3), Err(TransferError::NotLeader { leader_hint: Some(1) }));
    net.join(4);
    let change = MembershipChange::AddLearner { id: 4, address: String::new() };
    net.node(1).propose_membership(change).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).transfer_leadership(4), Err(TransferError::NotAVoter(4)));
    assert_eq!(net.node(1).transfer_leadership(1), Ok(()), "to itself: nothing to do");
}

/// TimeoutNow from someone who is not our leader is ignored.
#[test]
fn s3_10_timeout_now_counts_only_from_the_leader() {
    let mut net = cluster(true);
    let msg = raft::Message { from: 3, to: 2, term: 1, body: Body::TimeoutNow };
    net.node(2).step(msg).unwrap();
    assert_eq!(net.node(2).role(), Role::Follower);
    assert_eq!(net.node(2).current_term(), 1);
}
