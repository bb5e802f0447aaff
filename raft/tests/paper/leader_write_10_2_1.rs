//! Thesis §10.2.1, "Writing to the leader's disk in parallel": a leader
//! sends its AppendEntries before its own write is durable and counts its
//! own log toward a majority only once it is. Followers still persist
//! before they acknowledge, and candidates before they ask for votes.

use raft::{AppendReply, Body, Message, Ready};

use crate::net::Net;

fn ack(from: u64, index: u64, term: u64) -> Message {
    let body = Body::AppendEntriesReply(AppendReply::Success { match_index: index, round: 0 });
    Message { from, to: 1, term, body }
}

/// A leader of three with an entry proposed and handed out for writing,
/// never confirmed: the entry's index and term, and the Ready.
fn leader_writing_an_entry(net: &mut Net) -> (u64, u64, Ready) {
    net.campaign(1);
    let leader = net.node(1);
    let (index, term) = leader.propose(vec![7]).expect("leads");
    (index, term, leader.ready())
}

#[test]
fn a_leaders_appends_may_leave_before_its_write_and_a_followers_ack_may_not() {
    let mut net = Net::new(3);
    let (index, _, mut ready) = leader_writing_an_entry(&mut net);
    assert!(ready.entries.iter().any(|e| e.index == index));
    let early = ready.take_early_messages();
    let carrying =
        |m: &Message| matches!(&m.body, Body::AppendEntries { entries, .. } if !entries.is_empty());
    assert_eq!(early.iter().filter(|m| carrying(m)).count(), 2, "{early:?}");
    assert!(ready.messages.is_empty(), "{:?}", ready.messages);
    let append = early.into_iter().find(|m| m.to == 2).expect("to 2");
    let follower = net.node(2);
    follower.step(append).unwrap();
    let mut reply = follower.ready();
    assert!(reply.take_early_messages().is_empty());
    assert!(matches!(reply.messages[..], [Message { body: Body::AppendEntriesReply(_), .. }]));
}

#[test]
fn a_leader_counts_its_own_entry_only_once_its_write_is_durable() {
    let mut net = Net::new(3);
    let (index, term, ready) = leader_writing_an_entry(&mut net);
    let leader = net.node(1);
    leader.step(ack(2, index, term)).unwrap();
    assert!(leader.status().commit_index < index, "committed on one follower's disk and an unsynced log");
    leader.persisted(ready.mark);
    assert_eq!(leader.status().commit_index, index);
}

#[test]
fn two_followers_commit_an_entry_while_the_leaders_write_is_in_progress() {
    let mut net = Net::new(3);
    let (index, term, _writing) = leader_writing_an_entry(&mut net);
    let leader = net.node(1);
    leader.step(ack(2, index, term)).unwrap();
    leader.step(ack(3, index, term)).unwrap();
    assert_eq!(leader.status().commit_index, index);
}

/// Writes complete in order: the mark of an earlier Ready confirms only
/// what was handed out by then.
#[test]
fn an_earlier_mark_confirms_only_the_earlier_entries() {
    let mut net = Net::new(3);
    let (first, term, ready) = leader_writing_an_entry(&mut net);
    let leader = net.node(1);
    let (second, _) = leader.propose(vec![8]).unwrap();
    let later = leader.ready();
    leader.step(ack(2, second, term)).unwrap();
    leader.persisted(ready.mark);
    assert_eq!(leader.status().commit_index, first);
    leader.persisted(later.mark);
    assert_eq!(leader.status().commit_index, second);
}
