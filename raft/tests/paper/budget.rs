//! The leader's budget of uncommitted bytes (`Config::max_uncommitted_bytes`,
//! the flow control the thesis §10.2 leaves to the implementation): it
//! counts exactly the data of the entries past the commit index, from the
//! moment a leader is elected, and each commit frees what it committed.

use raft::{Body, ProposeError};

use crate::net::Net;

const MAX: usize = 100;

fn busy(uncommitted_bytes: usize) -> Result<(u64, u64), ProposeError> {
    Err(ProposeError::Busy { uncommitted_bytes, max: MAX })
}

/// §5.3: once an entry commits, its bytes no longer count, so a proposal
/// of the whole budget is admitted again; while entries are uncommitted
/// their bytes count exactly.
#[test]
fn committed_entries_free_exactly_their_bytes_of_the_uncommitted_budget() {
    let mut net = Net::with_config(3, |c| c.max_uncommitted_bytes = MAX);
    net.campaign(1);
    net.node(1).propose(vec![1; 10]).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 1);

    // Nothing uncommitted: the first commit (from commit index 0) freed all.
    assert_eq!(net.node(1).propose(vec![2; MAX]), Ok((2, 1)));
    assert_eq!(net.node(1).propose(vec![3; 1]), busy(MAX));
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 2);

    // A commit from a non-zero commit index frees only what it committed:
    // entry 3 commits while entry 4 still waits to be sent.
    net.node(1).propose(vec![4; 30]).unwrap();
    net.flush();
    net.node(1).propose(vec![5; 30]).unwrap();
    assert_eq!(net.node(1).propose(vec![6; 41]), busy(60));
    round_trip_without_a_leader_ready(&mut net);
    assert_eq!(net.node(1).commit_index(), 3);
    assert_eq!(net.node(1).propose(vec![6; 71]), busy(30));
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 4);
    assert_eq!(net.node(1).propose(vec![7; MAX]), Ok((5, 1)));
}

/// Delivers what is queued to the followers and their answers back to
/// leader 1, without a `ready` of the leader in between.
fn round_trip_without_a_leader_ready(net: &mut Net) {
    let requests: Vec<_> = net.queue.drain(..).collect();
    let mut replies = Vec::new();
    for m in requests {
        let follower = net.node(m.to);
        follower.step(m).unwrap();
        while follower.has_ready() {
            replies.extend(follower.ready().messages);
            follower.advance();
        }
    }
    for m in replies {
        net.node(1).step(m).unwrap();
    }
}

/// A new leader (§5.2) inherits entries it cannot commit yet (§5.4.2):
/// they count against its budget, and the entries it already knows to be
/// committed do not.
#[test]
fn new_leader_counts_only_entries_past_its_commit_index_against_the_budget() {
    let mut net = Net::with_config(3, |c| c.max_uncommitted_bytes = MAX);
    net.campaign(1);
    net.node(1).propose(vec![1; MAX]).unwrap();
    net.deliver_all();
    for id in 1..=3 {
        assert_eq!(net.node(id).commit_index(), 1, "member {id} knows entry 1 is committed");
    }
    // Entry 2 reaches both followers; their acknowledgements are lost.
    net.node(1).propose(vec![2; 40]).unwrap();
    net.flush();
    let appends: Vec<_> = net.queue.drain(..).collect();
    for m in appends {
        assert!(matches!(m.body, Body::AppendEntries { .. }));
        net.node(m.to).step(m).unwrap();
    }
    net.cut.insert(1);
    net.drop_all();
    net.tick_all(100);
    let leader = net.leaders().into_iter().find(|&l| l != 1).expect("a new leader");
    let leader = net.node(leader);
    assert_eq!((leader.commit_index(), leader.log().last_index()), (1, 2));
    assert_eq!(leader.propose(vec![3; 61]), busy(40), "entry 2's 40 bytes are uncommitted");
    assert!(leader.propose(vec![3; 60]).is_ok(), "exactly the budget is admitted");
    assert_eq!(leader.propose(vec![4; 1]), busy(MAX));
}

/// `Config::max_entry_bytes` is the largest admitted `data`: that size is
/// admitted, one byte more is refused; and with nothing uncommitted one
/// proposal is admitted even when it is larger than the whole budget.
#[test]
fn entry_of_exactly_max_entry_bytes_is_admitted_and_one_byte_more_is_not() {
    let mut net = Net::with_config(3, |c| {
        c.max_entry_bytes = 2 * MAX;
        c.max_uncommitted_bytes = MAX;
    });
    net.campaign(1);
    let too_large = Err(ProposeError::TooLarge { bytes: 2 * MAX + 1, max: 2 * MAX });
    assert_eq!(net.node(1).propose(vec![1; 2 * MAX + 1]), too_large);
    assert_eq!(net.node(1).propose(vec![1; 2 * MAX]), Ok((1, 1)), "over the budget, but alone");
    assert_eq!(net.node(1).propose(vec![2; 1]), busy(2 * MAX));
}

/// Every entry kind counts the same way on append, commit and election: a
/// membership entry's bytes count while it is uncommitted, so its commit
/// frees only what it added. It used to be freed without being counted,
/// which let the budget admit more than its limit after every change.
#[test]
fn membership_entries_count_against_the_budget_like_commands() {
    let mut net = Net::with_config(3, |c| c.max_uncommitted_bytes = MAX);
    net.campaign(1);
    net.node(1).propose(vec![1; 10]).unwrap();
    net.deliver_all();
    net.join(4);
    let change = raft::MembershipChange::AddLearner { id: 4, address: "n4".into() };
    let (index, _) = net.node(1).propose_membership(change).unwrap();
    let bytes = net.node(1).log().entry(index).unwrap().data.len();
    assert_eq!(net.node(1).propose(vec![2; MAX]), busy(bytes), "the change's bytes count");
    net.flush();
    // A command of 60 bytes waits to be sent while the change commits.
    net.node(1).propose(vec![3; 60]).unwrap();
    round_trip_without_a_leader_ready(&mut net);
    assert_eq!(net.node(1).commit_index(), index);
    assert_eq!(net.node(1).propose(vec![4; 41]), busy(60), "the commit freed the change's bytes only");
    assert!(net.node(1).propose(vec![4; 40]).is_ok());
}
