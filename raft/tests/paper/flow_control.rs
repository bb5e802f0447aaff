//! Heartbeats (§5.2), resends and the in-flight bound: nothing acknowledged
//! or still in flight is sent again.

use raft::Body;

use crate::net::Net;

fn entries_sent_to(net: &Net, to: u64, since: usize) -> usize {
    net.sent[since..]
        .iter()
        .filter(|m| m.to == to)
        .map(|m| match &m.body {
            Body::AppendEntries { entries, .. } => entries.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn idle_leader_sends_one_heartbeat_per_interval() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.tick_all(5);
    let before = net.requests_sent();
    net.tick_all(100); // 1 s of 10 ms ticks, heartbeats every 10 ticks
    assert_eq!(net.requests_sent() - before, 20);
    assert_eq!(net.leaders(), vec![1]);
}

#[test]
fn acknowledged_entries_are_not_sent_with_heartbeats() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(vec![7; 100]).unwrap();
    net.deliver_all();
    let since = net.sent.len();
    net.tick_all(50);
    assert_eq!(entries_sent_to(&net, 2, since), 0);
    assert_eq!(net.applied[&2].len(), 1, "the heartbeat carried the commit index");
}

#[test]
fn lost_append_is_resent_after_a_heartbeat_interval_not_before() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.tick_all(3);
    net.node(1).propose(vec![1]).unwrap();
    net.flush();
    net.queue.retain(|m| m.to != 2); // lose the append to 2
    let since = net.sent.len();
    net.deliver_all();
    net.tick_all(9);
    assert_eq!(entries_sent_to(&net, 2, since), 0, "still within the interval");
    net.tick_all(2);
    assert_eq!(entries_sent_to(&net, 2, since), 1, "resent once");
    assert_eq!(net.node(2).log().last_index(), 1);
}

#[test]
fn at_most_max_inflight_appends_are_unanswered() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.insert(2); // 2 stops answering; 3 keeps the leader committing
    let since = net.sent.len();
    for i in 0..10u8 {
        net.node(1).propose(vec![i]).unwrap();
        net.deliver_all();
    }
    let appends = net.sent[since..]
        .iter()
        .filter(|m| {
            m.to == 2 && matches!(&m.body, Body::AppendEntries { entries, .. } if !entries.is_empty())
        })
        .count();
    assert_eq!(appends, raft::Config::lab(1, vec![1]).max_inflight_appends);
    assert_eq!(net.node(1).commit_index(), 10);
}

#[test]
fn commit_index_reaches_followers_at_once_not_with_the_next_heartbeat() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(vec![1]).unwrap();
    net.deliver_all(); // no tick: no heartbeat timer fired
    assert_eq!(net.applied[&2].len(), 1);
    assert_eq!(net.applied[&3].len(), 1);
}

#[test]
fn unanswered_probe_is_repeated_without_entries() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.insert(2);
    net.node(1).propose(vec![9; 1000]).unwrap();
    net.deliver_all();
    net.tick_all(10); // in-flight entries overdue: resent once, with entries
    let since = net.sent.len();
    net.tick_all(30); // then only empty probes
    let to_2: Vec<_> = net.sent[since..].iter().filter(|m| m.to == 2).collect();
    assert!(!to_2.is_empty());
    assert_eq!(entries_sent_to(&net, 2, since), 0);
}

/// `ticks_until_due` is exact: ticking one less changes nothing observable,
/// ticking exactly that many does something.
#[test]
fn ticks_until_due_predicts_the_next_timer_action() {
    let mut net = Net::new(3);
    // A follower: its election timeout.
    let due = net.node(2).ticks_until_due();
    assert!((30..=60).contains(&due), "{due}");
    for _ in 1..due {
        net.node(2).tick();
    }
    assert!(!net.node(2).has_ready(), "nothing before the deadline");
    net.node(2).tick();
    assert_eq!(net.node(2).role(), raft::Role::Candidate);

    // A leader: heartbeats and resends, in both replication states.
    let mut net = Net::with_config(3, |c| c.check_quorum = false);
    net.campaign(1);
    for round in 0..40 {
        if round % 7 == 3 {
            net.node(1).propose(vec![round as u8]).unwrap();
            net.flush();
            if round % 2 == 1 {
                net.queue.clear(); // lose it: the leader must resend
            }
            net.deliver_all();
        }
        let due = net.node(1).ticks_until_due();
        for _ in 1..due {
            net.node(1).tick();
            net.flush();
            assert!(net.queue.is_empty(), "round {round}: sent before the predicted tick");
        }
        net.node(1).tick();
        net.flush();
        assert!(!net.queue.is_empty(), "round {round}: nothing sent when due");
        net.deliver_all();
    }
}

fn entry_bytes_sent_to(net: &Net, to: u64, since: usize) -> usize {
    net.sent[since..]
        .iter()
        .filter(|m| m.to == to)
        .map(|m| match &m.body {
            Body::AppendEntries { entries, .. } => entries.iter().map(|e| e.data.len()).sum(),
            _ => 0,
        })
        .sum()
}

/// An unanswered probe repeats at the same point: a new leader (which
/// knows nothing of a follower, `match_index` 0) probing a follower that is
/// away does not fall back to index 1, so the follower gets only what it
/// lacks when it returns.
#[test]
fn returning_follower_gets_only_what_it_lacks_from_a_new_leader() {
    let mut net = Net::new(5);
    net.campaign(1);
    for i in 0..200u32 {
        net.node(1).propose(vec![i as u8; 100]).unwrap();
    }
    net.deliver_all();
    // 5 goes away (a paused process: it neither hears nor campaigns).
    net.cut.insert(5);
    let away = net.nodes.remove(&5).expect("member 5");
    for i in 0..50u32 {
        net.node(1).propose(vec![i as u8; 100]).unwrap();
    }
    net.deliver_all();
    net.cut.insert(1); // the old leader goes; 2, 3 or 4 takes over
    net.tick_all(100);
    let leader = net.leaders().into_iter().find(|&l| l != 1).expect("a new leader");
    net.tick_all(300); // many heartbeat intervals of unanswered probes to 5
    let since = net.sent.len();
    net.nodes.insert(5, away);
    net.cut.remove(&5);
    net.tick_all(50);
    assert_eq!(net.node(leader).role(), raft::Role::Leader, "the same leader serves 5");
    assert_eq!(net.node(5).log().last_index(), 250);
    let sent = entry_bytes_sent_to(&net, 5, since);
    assert_eq!(sent, 50 * 100, "leader {leader} sent 5 more than the 50 entries it lacked");
}

/// An entry larger than the batch budget may take long to arrive, so it
/// does not stand in for a heartbeat; smaller traffic does.
#[test]
fn an_oversized_entry_in_flight_does_not_delay_heartbeats() {
    for (size, heartbeats) in [(100 * 1024, 1), (1000, 0)] {
        let mut net = Net::new(3);
        net.campaign(1);
        net.tick_all(5);
        net.node(1).propose(vec![1; size]).unwrap();
        net.flush();
        net.queue.clear(); // in flight, not answered
        let since = net.sent.len();
        for _ in 0..10 {
            net.node(1).tick();
            net.flush();
        }
        let empty_to_2 = net.sent[since..]
            .iter()
            .filter(|m| {
                m.to == 2 && matches!(&m.body, Body::AppendEntries { entries, .. } if entries.is_empty())
            })
            .count();
        assert_eq!(empty_to_2, heartbeats, "{size}-byte entry in flight");
    }
}

/// §5.3 with etcd's `BecomeReplicate`: an old acknowledgement that takes a
/// probing follower to Replicate makes the leader resume right after it,
/// not at the probe's index. Learner 4's acknowledgement of entry 4 is
/// held back; 4 is removed and added again (a fresh probe at 7, lost),
/// then the old acknowledgement arrives. Nothing is in flight, so unless
/// the leader resends from 5, heartbeats at 4 succeed for ever and the
/// learner never gets entries 5 and 6.
#[test]
fn s5_3_a_stale_acknowledgement_while_probing_never_strands_a_follower() {
    use raft::MembershipChange;
    let mut net = Net::with_learner(4);
    let learner = MembershipChange::AddLearner { id: 4, address: "n4".into() };
    net.node(1).propose(b"b".to_vec()).unwrap();
    net.deliver_all();
    assert_eq!(net.node(4).log().last_index(), 3);
    // Entry 4 reaches the learner; its acknowledgement is held back.
    net.node(1).propose(b"c".to_vec()).unwrap();
    net.flush();
    let to_learner: Vec<_> = net.queue.iter().filter(|m| m.to == 4).cloned().collect();
    net.queue.retain(|m| m.to != 4);
    for m in to_learner {
        net.node(4).step(m).unwrap();
    }
    let ready = net.node(4).ready();
    net.node(4).advance();
    let held: Vec<_> = ready.messages.into_iter().filter(|m| m.to == 1).collect();
    assert_eq!(held.len(), 1);
    net.cut.insert(4);
    net.deliver_all();
    net.node(1).propose_membership(MembershipChange::Remove { id: 4 }).unwrap();
    net.deliver_all();
    net.node(1).propose_membership(learner).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).commit_index(), 6);
    for m in held {
        net.node(1).step(m).unwrap();
    }
    net.cut.clear();
    net.tick_all(100);
    assert_eq!(net.node(4).log().last_index(), 6, "the learner got what it lacked");
    assert_eq!(net.node(4).commit_index(), 6);
}
