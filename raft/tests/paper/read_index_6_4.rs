//! Reads without a log entry (thesis §6.4): ReadIndex at the leader and
//! from followers, and what the driver's lease rests on (§6.4.1).

use raft::{Body, Config, ConfigError, Message, ReadError, ReadState, Role};

use crate::net::Net;

/// Members 1..=3; 1 leads and has committed an entry of its term.
fn cluster() -> Net {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).expect("leader");
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 1);
    net
}

fn reads(net: &Net, id: u64) -> Vec<ReadState> {
    net.read_states.get(&id).cloned().unwrap_or_default()
}

fn placed(ctx: u64, index: u64) -> ReadState {
    ReadState { ctx, index: Some(index) }
}

fn queued_to(net: &Net, to: u64) -> Vec<&Message> {
    net.queue.iter().filter(|m| m.to == to).collect()
}

fn round_of(m: &Message) -> Option<u64> {
    match m.body {
        Body::AppendEntries { round, .. } => Some(round),
        _ => None,
    }
}

#[test]
fn s6_4_a_leader_serves_a_read_at_its_commit_index_once_a_majority_answers_a_later_round() {
    let mut net = cluster();
    net.node(1).read_index(7).expect("leader");
    net.flush();
    assert!(reads(&net, 1).is_empty(), "served before any follower answered");
    // One heartbeat to each follower carries the read's round.
    assert_eq!(queued_to(&net, 2).len(), 1);
    assert_eq!(queued_to(&net, 3).len(), 1);
    net.deliver_one(); // to 2
    net.deliver_one(); // to 3
    net.deliver_one(); // 2's answer: with the leader, a majority
    assert_eq!(reads(&net, 1), vec![placed(7, 1)]);
    net.deliver_all();
    assert_eq!(reads(&net, 1).len(), 1, "a read is served once");
}

#[test]
fn s6_4_reads_that_arrive_together_share_one_round() {
    let mut net = cluster();
    for ctx in 1..=5 {
        net.node(1).read_index(ctx).expect("leader");
    }
    net.flush();
    assert_eq!(queued_to(&net, 2).len(), 1, "one heartbeat per follower for five reads");
    net.deliver_all();
    assert_eq!(reads(&net, 1), (1..=5).map(|c| placed(c, 1)).collect::<Vec<_>>());
}

#[test]
fn s6_4_an_append_of_the_same_batch_carries_the_round_without_a_heartbeat() {
    let mut net = cluster();
    net.node(1).propose(b"y".to_vec()).expect("leader");
    net.node(1).read_index(9).expect("leader");
    net.flush();
    let to_2 = queued_to(&net, 2);
    assert_eq!(to_2.len(), 1, "the append alone: {to_2:?}");
    assert!(matches!(&to_2[0].body, Body::AppendEntries { entries, .. } if entries.len() == 1));
    net.deliver_all();
    // Placed at the commit index when it arrived (1), not the entry's.
    assert_eq!(reads(&net, 1), vec![placed(9, 1)]);
}

#[test]
fn s6_4_an_answer_to_a_message_sent_before_the_read_does_not_serve_it() {
    let mut net = cluster();
    net.tick_all(1);
    while net.queue.is_empty() {
        net.node(1).tick();
        net.flush();
    }
    // A heartbeat left; the read arrives after it.
    let early = net.queue.front().and_then(round_of).expect("a heartbeat in flight");
    net.node(1).read_index(3).expect("leader");
    net.flush();
    let late = queued_to(&net, 2).iter().filter_map(|m| round_of(m)).max().expect("the read's round");
    assert!(late > early);
    // Only the early heartbeats are answered.
    net.down.insert((1, 2));
    net.down.insert((1, 3));
    let early_ones: Vec<Message> = net.queue.iter().filter(|m| round_of(m) == Some(early)).cloned().collect();
    net.queue.clear();
    for m in early_ones {
        net.node(m.to).step(m).expect("heartbeat");
    }
    net.deliver_all();
    assert!(reads(&net, 1).is_empty(), "served on answers to a heartbeat sent before it arrived");
}

#[test]
fn s6_4_a_new_leader_places_reads_only_once_an_entry_of_its_term_commits() {
    let mut net = cluster();
    net.cut.insert(1);
    let leader = net.await_leader_except(&[1], 500);
    net.node(leader).read_index(4).expect("leader");
    net.deliver_all();
    net.tick_all(20);
    assert!(reads(&net, leader).is_empty(), "served before its term committed anything");
    let (index, _) = net.node(leader).propose(b"z".to_vec()).expect("leader");
    net.deliver_all();
    assert_eq!(reads(&net, leader), vec![placed(4, index)]);
}

#[test]
fn s6_4_a_leader_cut_off_never_serves_and_refuses_its_reads_when_it_steps_down() {
    let mut net = cluster();
    net.cut.insert(1);
    net.node(1).read_index(5).expect("leader");
    for _ in 0..200 {
        net.tick_all(1);
        if net.node(1).role() != Role::Leader {
            break;
        }
    }
    assert_eq!(net.node(1).role(), Role::Follower, "CheckQuorum deposes it");
    assert_eq!(reads(&net, 1), vec![ReadState { ctx: 5, index: None }]);
}

#[test]
fn s6_4_a_follower_gets_a_read_index_from_the_leader_in_one_message() {
    let mut net = cluster();
    net.node(2).read_index(11).expect("knows its leader");
    net.flush();
    let to_leader: Vec<&Message> = queued_to(&net, 1);
    assert_eq!(to_leader.len(), 1);
    assert_eq!(to_leader[0].body, Body::ReadIndex { ctx: 11 });
    net.deliver_all();
    assert_eq!(reads(&net, 2), vec![placed(11, 1)]);
    assert!(reads(&net, 1).is_empty(), "the leader hands the follower's read back, not to its driver");
}

#[test]
fn s6_4_a_member_that_knows_no_leader_cannot_place_a_read() {
    let mut net = Net::new(3);
    assert_eq!(net.node(2).read_index(1), Err(ReadError::NoLeader));
}

#[test]
fn s6_4_a_follower_asking_a_member_that_no_longer_leads_is_refused() {
    let mut net = cluster();
    let stale = Message { from: 2, to: 3, term: 1, body: Body::ReadIndex { ctx: 8 } };
    net.node(3).step(stale).expect("well formed");
    net.deliver_all();
    assert_eq!(reads(&net, 2), vec![ReadState { ctx: 8, index: None }]);
}

/// Members 1..=3 with lease reads on, and the one that leads (elected
/// once the members' start leases passed).
fn lease_net() -> (Net, u64) {
    let mut net = Net::with_config(3, |c| c.lease_reads = true);
    let leader = net.await_leader_except(&[], 500);
    (net, leader)
}

#[test]
fn s6_4_1_the_lease_names_the_latest_round_a_majority_answered_once_the_term_committed() {
    let (mut net, l) = lease_net();
    assert_eq!(net.node(l).lease_read(), None, "nothing of its term committed yet");
    net.node(l).propose(b"x".to_vec()).expect("leader");
    net.deliver_all();
    let lease = net.node(l).lease_read().expect("lease");
    assert_eq!(lease.index, 1);
    let open = net.node(l).open_round().expect("leader");
    assert!(lease.round > 0 && lease.round < open, "{lease:?}, open round {open}");
    net.tick_all(20);
    assert!(net.node(l).lease_read().expect("lease").round > lease.round, "heartbeats renew it");
    let follower = l % 3 + 1;
    assert_eq!(net.node(follower).lease_read(), None, "only a leader has a lease");
}

#[test]
fn s6_4_1_a_leader_that_asked_for_a_transfer_has_no_lease_for_the_rest_of_its_term() {
    let (mut net, l) = lease_net();
    net.node(l).propose(b"x".to_vec()).expect("leader");
    net.deliver_all();
    let target = l % 3 + 1;
    // The TimeoutNow leaves but is lost: the transfer is given up later.
    net.down.insert((l, target));
    net.node(l).transfer_leadership(target).expect("voter");
    net.tick_all(1);
    assert!(net.sent.iter().any(|m| m.body == Body::TimeoutNow), "TimeoutNow sent");
    assert_eq!(net.node(l).lease_read(), None);
    net.tick_all(80);
    assert_eq!(net.node(l).role(), Role::Leader);
    net.node(l).propose(b"y".to_vec()).expect("the transfer was given up");
    assert_eq!(net.node(l).lease_read(), None, "a delayed TimeoutNow may still start an election");
}

#[test]
fn s6_4_1_a_restarted_member_with_lease_reads_refuses_to_vote_for_a_minimum_election_timeout() {
    let (mut net, l) = lease_net();
    net.node(l).propose(b"x".to_vec()).expect("leader");
    net.deliver_all();
    let (asker, restarted) = (l % 3 + 1, (l + 1) % 3 + 1);
    net.restart(restarted);
    net.cut.insert(restarted);
    let ask = |term| Message {
        from: asker,
        to: restarted,
        term,
        body: Body::RequestVote { last_log_index: 1, last_log_term: 1, leadership_transfer: false },
    };
    let term = net.node(restarted).current_term();
    net.node(restarted).step(ask(term + 1)).expect("well formed");
    assert_eq!(net.node(restarted).current_term(), term, "a restarted member took a vote request at once");
    let min = Config::lab(1, vec![1]).election_timeout_min_ticks;
    for _ in 0..min {
        net.node(restarted).tick();
    }
    net.node(restarted).step(ask(term + 1)).expect("well formed");
    assert_eq!(net.node(restarted).current_term(), term + 1, "still refusing after the timeout");
}

#[test]
fn lease_reads_need_check_quorum() {
    let config = Config { lease_reads: true, check_quorum: false, ..Config::lab(1, vec![1]) };
    assert_eq!(config.validate(), Err(ConfigError::LeaseWithoutCheckQuorum));
}
