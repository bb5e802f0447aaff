//! Heartbeats (§5.2), resends and the in-flight bound: nothing acknowledged
//! or still in flight is sent again.

use raft::{AppendReply, Body, Message};

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

// Flow control of §5.3's AppendEntries, counted exactly: pipelined
// requests carry each entry once, the in-flight window slides by what
// each acknowledgement covers, a late rejection never sends a follower
// back below what it acknowledged, a repeated acknowledgement leaves the
// leader nothing to do, and `ticks_until_due` counts a resend from the
// oldest unanswered request.

/// The indexes carried by each AppendEntries with entries sent to `to`.
fn appends_to(msgs: &[Message], to: u64) -> Vec<Vec<u64>> {
    msgs.iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.body {
            Body::AppendEntries { entries, .. } if !entries.is_empty() => {
                Some(entries.iter().map(|e| e.index).collect())
            }
            _ => None,
        })
        .collect()
}

/// Moves every queued message to `to` out of the network, in order.
fn hold(net: &mut Net, to: u64) -> Vec<Message> {
    let (held, rest): (Vec<_>, Vec<_>) = net.queue.drain(..).partition(|m| m.to == to);
    net.queue = rest.into();
    held
}

/// Proposals made one `ready` apart go out as separate, pipelined
/// AppendEntries, each carrying only the entries the previous ones did not.
#[test]
fn s5_3_pipelined_appends_carry_each_entry_once() {
    let mut net = Net::new(3);
    net.campaign(1);
    let since = net.sent.len();
    for i in 0..3u8 {
        net.node(1).propose(vec![i]).unwrap();
        net.flush();
    }
    assert_eq!(appends_to(&net.sent[since..], 2), vec![vec![1], vec![2], vec![3]]);
    net.deliver_all();
    assert_eq!(net.node(2).log().last_index(), 3);
}

/// `max_inflight_appends` (4) AppendEntries may be unanswered; an
/// acknowledgement frees the slots of the requests it covers, no fewer
/// (an answered request does not hold a slot) and no more (the requests
/// after it are still in flight).
#[test]
fn in_flight_window_slides_by_exactly_what_each_acknowledgement_covers() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(vec![0]).unwrap();
    net.deliver_all(); // index 1 sent and acknowledged in Replicate
    let since = net.sent.len();
    let mut held = Vec::new();
    for i in 1..=6u8 {
        net.node(1).propose(vec![i]).unwrap();
        net.flush();
        held.extend(hold(&mut net, 2));
        net.deliver_all(); // 3 answers and the leader commits
    }
    let window = vec![vec![2], vec![3], vec![4], vec![5]];
    assert_eq!(appends_to(&net.sent[since..], 2), window, "4 unanswered, then paused");

    // 2 answers the first of them: one slot frees, the next batch goes out.
    let first = held.iter().position(|m| !appends_to(std::slice::from_ref(m), 2).is_empty()).unwrap();
    net.node(2).step(held.remove(first)).unwrap();
    net.flush();
    let replies = hold(&mut net, 1);
    assert_eq!(replies.len(), 1);
    net.node(1).step(replies.into_iter().next().unwrap()).unwrap();
    net.flush();
    held.extend(hold(&mut net, 2));
    net.node(1).propose(vec![7]).unwrap();
    net.flush();
    held.extend(hold(&mut net, 2));
    let mut expected = window;
    expected.push(vec![6, 7]);
    assert_eq!(appends_to(&net.sent[since..], 2), expected, "4 unanswered again: index 8 waits");
}

/// A rejection of an index past what the follower acknowledged, with a
/// hint below it (an answer overtaken by later ones, as a network that
/// reorders delivers it), sends the leader back no further than the
/// follower's `matchIndex` (§5.3: entries up to it are known to be
/// replicated, so they are not sent again).
#[test]
fn s5_3_late_rejection_never_probes_below_the_acknowledged_match_index() {
    let mut net = Net::new(3);
    net.campaign(1);
    for i in 0..3u8 {
        net.node(1).propose(vec![i]).unwrap();
    }
    net.deliver_all();
    net.node(1).propose(vec![3]).unwrap();
    net.flush();
    net.queue.clear(); // index 4 in flight to 2 and 3
                       // The answer of 2 when its log was still empty, overtaken.
    let late = AppendReply::Conflict { rejected_index: 4, conflict_term: None, conflict_index: 1, round: 0 };
    net.node(1).step(Message { from: 2, to: 1, term: 1, body: Body::AppendEntriesReply(late) }).unwrap();
    let probe = net.node(1).ready().messages.into_iter().find(|m| m.to == 2).expect("a new probe");
    match probe.body {
        Body::AppendEntries { prev_log_index, entries, .. } => {
            assert_eq!(prev_log_index, 3, "2 acknowledged index 3");
            assert_eq!(entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![4]);
        }
        other => panic!("expected AppendEntries, got {other:?}"),
    }
}

/// An acknowledgement that tells the leader nothing new (a heartbeat's
/// answer, a duplicate) leaves it nothing to do: `has_ready` stays false.
#[test]
fn repeated_acknowledgement_gives_the_leader_nothing_to_do() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(vec![1]).unwrap();
    net.deliver_all();
    assert!(!net.node(1).has_ready());
    for _ in 0..2 {
        let ack = Body::AppendEntriesReply(AppendReply::Success { match_index: 1, round: 0 });
        net.node(1).step(Message { from: 2, to: 1, term: 1, body: ack }).unwrap();
        assert!(!net.node(1).has_ready(), "a repeated acknowledgement asks for a ready");
        assert!(net.node(1).ready().is_empty());
    }
}

/// Entries sent at two different ticks and both lost: the resend is due
/// `resend_ticks` after the older one was sent, and `ticks_until_due` says
/// so, though the newer one moved the heartbeat deadline later.
#[test]
fn ticks_until_due_counts_the_resend_from_the_oldest_unanswered_append() {
    let mut net = Net::with_config(3, |c| c.check_quorum = false);
    net.campaign(1);
    for _ in 0..2 {
        net.node(1).propose(vec![1]).unwrap();
        net.flush();
        net.queue.clear(); // lost
        for _ in 0..3 {
            net.node(1).tick();
        }
        net.flush();
        assert!(net.queue.is_empty());
    }
    let due = net.node(1).ticks_until_due();
    assert_eq!(due, 10 - 6, "the first append went out 6 ticks ago");
    for _ in 1..due {
        net.node(1).tick();
        net.flush();
        assert!(net.queue.is_empty(), "sent before the predicted tick");
    }
    net.node(1).tick();
    net.flush();
    assert_eq!(appends_to(&net.queue.iter().cloned().collect::<Vec<_>>(), 2), vec![vec![1, 2]]);
}

/// §5.2 heartbeats in Replicate vouch only for what the follower
/// acknowledged (`prev_log_index = matchIndex`), not for entries still in
/// flight: an oversized entry in flight does not hold back the heartbeat
/// (see `flow_control.rs`), and that heartbeat names index 0 here.
#[test]
fn s5_2_heartbeat_behind_entries_in_flight_names_the_acknowledged_index() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.tick_all(5);
    net.node(1).propose(vec![1; 100 * 1024]).unwrap();
    net.flush();
    net.queue.clear(); // in flight, not answered
    for _ in 0..5 {
        net.node(1).tick();
    }
    net.flush();
    let heartbeats: Vec<_> = net
        .queue
        .iter()
        .filter(|m| m.to == 2)
        .map(|m| match &m.body {
            Body::AppendEntries { prev_log_index, prev_log_term, entries, .. } => {
                (*prev_log_index, *prev_log_term, entries.len())
            }
            other => panic!("expected AppendEntries, got {other:?}"),
        })
        .collect();
    assert_eq!(heartbeats, vec![(0, 0, 0)]);
}

/// A leader that steps down (CheckQuorum) between a proposal and the next
/// `ready` still holds the proposed entry in its log, unpersisted: the
/// log is Figure 2's persistent state, so `has_ready` says there is
/// something to do and `ready` hands the entry out, though the step-down
/// dropped the pending send and queued no message.
#[test]
fn entry_proposed_just_before_stepping_down_is_still_handed_out_for_persisting() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.cut.extend([2, 3]);
    let leader = net.node(1);
    fn tick(r: &mut raft::Raft, n: u32) {
        for _ in 0..n {
            r.tick();
            r.ready();
            r.advance();
        }
    }
    tick(leader, 5);
    leader.propose(vec![1]).unwrap(); // lost: resends fall 5 ticks off the checks
    leader.ready();
    leader.advance();
    // CheckQuorum runs every 60 ticks; the second check finds no majority.
    tick(leader, 114);
    assert_eq!(leader.role(), raft::Role::Leader);
    let (index, _) = leader.propose(vec![2]).unwrap();
    leader.tick();
    assert_eq!(leader.role(), raft::Role::Follower, "stepped down on tick 120");
    assert!(leader.has_ready(), "entry {index} is still to be persisted");
    let ready = leader.ready();
    assert_eq!(ready.entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![index]);
    assert!(ready.messages.is_empty() && ready.hard_state.is_none(), "only the entry: {ready:?}");
}

/// The other side of `an_oversized_entry_in_flight_does_not_delay_heartbeats`
/// (`flow_control.rs`): an AppendEntries of exactly the batch budget is not
/// oversized, so it stands in for a heartbeat and no empty one follows it
/// within the interval.
#[test]
fn append_of_exactly_the_batch_budget_stands_in_for_a_heartbeat() {
    let budget = 2 * (10 + raft::ENTRY_OVERHEAD_BYTES);
    let mut net = Net::with_config(3, |c| c.max_append_bytes = budget);
    net.campaign(1);
    net.tick_all(5);
    net.node(1).propose(vec![1; 10]).unwrap();
    net.node(1).propose(vec![2; 10]).unwrap();
    net.flush();
    assert_eq!(appends_to(&net.queue.iter().cloned().collect::<Vec<_>>(), 2), vec![vec![1, 2]]);
    net.queue.clear(); // in flight, not answered
    let since = net.sent.len();
    for _ in 0..9 {
        net.node(1).tick();
        net.flush();
    }
    assert!(net.sent[since..].iter().all(|m| m.to != 2), "{:?}", &net.sent[since..]);
}

/// A backlog larger than one batch (`max_append_bytes`) goes to a follower
/// one batch per event of its own: a round of new proposals, or its answer
/// to the previous batch. Traffic with other members (here 3's answers)
/// sends it nothing, so a slow follower is not sent ahead of its answers.
#[test]
fn s5_3_next_batch_goes_to_a_follower_when_it_answers_not_with_others_traffic() {
    let mut net = Net::new(3);
    net.campaign(1);
    for i in 0..100u8 {
        net.node(1).propose(vec![i; 1000]).unwrap();
    }
    net.flush();
    let held = hold(&mut net, 2);
    net.deliver_all(); // 3 answers both its batches, the leader commits
    assert_eq!(net.node(3).log().last_index(), 100);
    let first: Vec<u64> = (1..=63).collect();
    assert_eq!(appends_to(&net.sent, 2), vec![first.clone()], "2 has not answered");
    net.queue.extend(held);
    net.deliver_all();
    assert_eq!(appends_to(&net.sent, 2), vec![first, (64..=100).collect()]);
    assert_eq!(net.node(2).log().last_index(), 100);
}

/// Entries the driver sends in one datagram its transport does not
/// retransmit (`unacked_append_bytes`) are resent after a heartbeat
/// interval when lost; larger ones, which the transport retransmits, only
/// after `resend_ticks`.
#[test]
fn a_lost_small_append_is_resent_after_a_heartbeat_interval_and_a_large_one_later() {
    for (size, resent_by) in [(10, 10), (500, 100)] {
        let mut net = Net::with_config(3, |c| {
            c.check_quorum = false;
            c.resend_ticks = 100;
            c.unacked_append_bytes = 200;
        });
        net.campaign(1);
        net.node(1).propose(vec![7; size]).unwrap();
        net.flush();
        net.queue.clear(); // lost
        let mut ticks = 0;
        while appends_to(&net.queue.iter().cloned().collect::<Vec<_>>(), 2).is_empty() {
            net.node(1).tick();
            net.flush();
            ticks += 1;
            assert!(ticks <= resent_by, "a {size}-byte append not resent within {resent_by} ticks");
        }
        assert!(ticks > resent_by / 2, "a {size}-byte append resent after {ticks} ticks");
    }
}
