//! Leadership transfer (thesis §3.10).

use raft::{Body, Role};

use crate::net::Net;

fn cluster(pre_vote: bool) -> Net {
    let mut net = Net::with_config(3, |c| c.pre_vote = pre_vote);
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.deliver_all();
    net
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

/// TimeoutNow from someone who is not our leader is ignored.
#[test]
fn s3_10_timeout_now_counts_only_from_the_leader() {
    let mut net = cluster(true);
    let msg = raft::Message { from: 3, to: 2, term: 1, body: Body::TimeoutNow };
    net.node(2).step(msg).unwrap();
    assert_eq!(net.node(2).role(), Role::Follower);
    assert_eq!(net.node(2).current_term(), 1);
}
