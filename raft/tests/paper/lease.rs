//! CheckQuorum's lease: a member that heard from its leader within the
//! minimum election timeout ignores a candidate of a higher term, so a
//! member with one-way connectivity cannot depose a healthy leader.

use raft::Role;

use crate::net::Net;

/// Ticks `ticks` times; returns how many of them ended without a leader
/// (other than the members in `ignore`) and the highest term a leader had.
fn run(net: &mut Net, ticks: u32, ignore: &[u64]) -> (u32, u64) {
    let mut leaderless = 0;
    let mut max_term = 0;
    for _ in 0..ticks {
        net.tick_all(1);
        let leaders: Vec<u64> = net.leaders().into_iter().filter(|l| !ignore.contains(l)).collect();
        match leaders.as_slice() {
            [] => leaderless += 1,
            [l] => max_term = max_term.max(net.node(*l).current_term()),
            more => panic!("two leaders at once: {more:?}"),
        }
    }
    (leaderless, max_term)
}

#[test]
fn follower_that_can_send_but_not_receive_does_not_depose_the_leader() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.deaf.insert(3);
    let (leaderless, max_term) = run(&mut net, 3000, &[]);
    assert_eq!(leaderless, 0);
    assert_eq!(max_term, 1);
    assert_eq!(net.leaders(), vec![1]);
    assert!(net.node(3).current_term() > 10, "3 kept campaigning, unheeded");
}

#[test]
fn leader_that_can_send_but_not_receive_steps_down_once_then_leaves_the_others_alone() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.deaf.insert(1);
    // CheckQuorum deposes 1 within one election timeout; 2 or 3 takes over.
    let (_, first_term) = run(&mut net, 200, &[1]);
    let leader = net.leaders().into_iter().find(|&l| l != 1).expect("a new leader");
    let (leaderless, max_term) = run(&mut net, 3000, &[1]);
    assert_eq!(leaderless, 0);
    assert_eq!(max_term, first_term, "the term moved after the new leader took over");
    assert_eq!(net.node(leader).role(), Role::Leader);
}
