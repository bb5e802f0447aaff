//! §7 "Log compaction": the service's snapshots (`Raft::compact`), the
//! InstallSnapshot RPC on both sides (receiver rules 1–8 of Figure 13, with
//! the data streamed by the driver), the leader's `Snapshot` replication
//! state, and a restart from a snapshot and the log after it. Then a
//! random cluster that compacts every few entries while messages are lost,
//! duplicated and reordered, members are partitioned and restarted.

use raft::{
    AppendReply, Body, CompactError, Config, Entry, HardState, Message, Persisted, Raft, Ready, RestoreError,
    Role, SnapshotInstall, SnapshotMeta, StepError, MAX_INDEX,
};

use crate::net::{entry, log_of, new_raft, persist, rng, Net};

fn snap(index: u64, term: u64) -> SnapshotMeta {
    SnapshotMeta { index, term }
}

fn hs(current_term: u64) -> HardState {
    HardState { current_term, voted_for: None }
}

/// The bootstrap configuration of the 3-member clusters here.
fn three() -> raft::Membership {
    raft::Membership::bootstrap(&[1, 2, 3])
}

fn install(from: u64, to: u64, term: u64, snapshot: SnapshotMeta) -> Message {
    Message { from, to, term, body: Body::InstallSnapshot { snapshot, membership: three() } }
}

fn append(from: u64, term: u64, prev: (u64, u64), entries: Vec<Entry>, leader_commit: u64) -> Message {
    let (prev_log_index, prev_log_term) = prev;
    Message {
        from,
        to: 1,
        term,
        body: Body::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit, round: 0 },
    }
}

fn success(match_index: u64) -> Body {
    Body::AppendEntriesReply(AppendReply::Success { match_index, round: 0 })
}

/// Member 1 of 3, restarted from `snapshot` and `entries` in `term`.
fn restored(term: u64, snapshot: SnapshotMeta, entries: Vec<Entry>) -> Raft {
    new_raft(1, 3, Persisted { hard_state: hs(term), snapshot, entries, membership: None })
}

/// Everything a step could change, for before/after comparisons.
fn state(r: &Raft) -> (raft::Status, SnapshotMeta, Vec<Entry>, bool) {
    (r.status(), r.log().snapshot(), r.log().slice(1, r.log().last_index()).to_vec(), r.has_ready())
}

fn indexes(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.index).collect()
}

/// A 3-member Net whose disks must never get a gap.
fn strict(adjust: impl Fn(&mut Config)) -> Net {
    let mut net = Net::build(3, |_| Persisted::default(), adjust);
    net.check_disk = true;
    net
}

fn propose(net: &mut Net, leader: u64, count: usize) {
    for _ in 0..count {
        net.node(leader).propose(b"x".to_vec()).unwrap();
        net.deliver_all();
    }
}

fn installs_sent_to(net: &Net, to: u64, since: usize) -> Vec<SnapshotMeta> {
    net.sent[since..]
        .iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match m.body {
            Body::InstallSnapshot { snapshot, .. } => Some(snapshot),
            _ => None,
        })
        .collect()
}

/// The entries of every AppendEntries sent to `to` since `since`, one
/// list per request.
fn appends_to(net: &Net, to: u64, since: usize) -> Vec<(u64, Vec<u64>)> {
    net.sent[since..]
        .iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.body {
            Body::AppendEntries { prev_log_index, entries, .. } => Some((*prev_log_index, indexes(entries))),
            _ => None,
        })
        .collect()
}

/// Members agree: the same term at every index two of them hold (their
/// snapshots' included), the same commit index.
fn assert_agree(net: &Net) {
    let commits: Vec<u64> = net.nodes.values().map(|r| r.commit_index()).collect();
    assert!(commits.windows(2).all(|w| w[0] == w[1]), "commit indexes differ: {commits:?}");
    for a in net.nodes.values() {
        for b in net.nodes.values() {
            let (from, to) = (a.log().snapshot().index.max(b.log().snapshot().index), a.log().last_index());
            for i in from..=to.min(b.log().last_index()) {
                assert_eq!(a.log().term(i), b.log().term(i), "members {} and {} at {i}", a.id(), b.id());
            }
        }
    }
    for id in net.nodes.keys() {
        net.assert_disk_matches(*id);
    }
}

/// The compacted prefix is gone, the last compacted entry's term stays
/// (the consistency check at the first entry after it needs it), and
/// neither end of the log moves. Only applied entries may be compacted;
/// compacting at or below the snapshot does nothing.
#[test]
fn s7_compact_drops_entries_through_the_index_and_keeps_its_term() {
    let mut r = new_raft(
        1,
        1,
        Persisted {
            hard_state: hs(3),
            snapshot: snap(0, 0),
            entries: log_of(&[1, 1, 2, 2, 3]),
            membership: None,
        },
    );
    while r.role() != Role::Leader {
        r.tick();
    }
    assert_eq!(r.propose(b"x".to_vec()), Ok((6, 4)));
    r.ready();
    r.advance();
    assert_eq!(r.commit_index(), 6);
    // Committed is not applied: the service holds no state through 6 yet.
    assert_eq!(r.compact(6), Err(CompactError::NotApplied { index: 6, applied: 0 }));
    assert_eq!(indexes(&r.ready().committed_entries), vec![1, 2, 3, 4, 5, 6]);
    r.advance();

    let before = state(&r);
    assert_eq!(r.compact(7), Err(CompactError::NotApplied { index: 7, applied: 6 }));
    assert_eq!(state(&r), before, "a refused compaction changes nothing");

    r.compact(4).unwrap();
    let log = r.log();
    assert_eq!(log.snapshot(), snap(4, 2));
    assert_eq!((log.term(4), log.term(3), log.term(5)), (Some(2), None, Some(3)));
    assert_eq!((log.entry(4), log.entry(5)), (None, Some(&entry(5, 3))));
    assert_eq!((log.first_index(), log.last_index(), log.last_term()), (5, 6, 4));
    assert_eq!(log.slice(1, 6).len(), 2, "only 5 and 6 are held");
    let s = r.status();
    assert_eq!((s.snapshot_index, s.commit_index, s.applied_index, s.last_index), (4, 6, 6, 6));
    assert!(!r.has_ready(), "compaction hands nothing out");

    let before = state(&r);
    for index in [4, 2, 0] {
        assert_eq!(r.compact(index), Ok(()));
        assert_eq!(state(&r), before, "compact({index}) at or below the snapshot is a no-op");
    }

    // Through the last entry: an empty log that still knows its last term.
    r.compact(6).unwrap();
    let log = r.log();
    assert_eq!((log.first_index(), log.last_index(), log.last_term(), log.term(6)), (7, 6, 4, Some(4)));
    assert_eq!(r.propose(b"y".to_vec()), Ok((7, 4)), "the leader appends after its snapshot");
}

/// A follower away while the leader compacts past everything it holds is
/// sent the snapshot, not entries the leader no longer has (§7: "the
/// leader must occasionally send snapshots to followers that lag
/// behind"); it discards its log (rule 7), then catches up with entries;
/// its state machine starts from the snapshot.
#[test]
fn s7_a_follower_behind_the_leaders_snapshot_is_sent_install_snapshot_and_catches_up() {
    let mut net = strict(|_| {});
    net.campaign(1);
    net.cut.insert(3);
    propose(&mut net, 1, 10);
    net.compact(1, 8).unwrap();
    net.compact(2, 5).unwrap();
    let since = net.sent.len();
    net.cut.remove(&3);
    net.tick_all(20);

    assert_eq!(installs_sent_to(&net, 3, since), vec![snap(8, 1)]);
    for (prev, entries) in appends_to(&net, 3, since) {
        assert!(entries.iter().all(|&i| i > 8), "AppendEntries after {prev} with {entries:?}");
    }
    assert_eq!(
        net.installs,
        vec![(3, SnapshotInstall { snapshot: snap(8, 1), membership: three(), keep_suffix: false })]
    );
    assert_eq!(net.snapshot_at[&3], snap(8, 1));
    assert_eq!(indexes(&net.applied[&3]), vec![9, 10], "nothing at or below the snapshot is applied");
    let s = net.node(3).status();
    assert_eq!((s.snapshot_index, s.commit_index, s.applied_index, s.last_index), (8, 10, 10, 10));

    propose(&mut net, 1, 2);
    net.tick_all(10);
    assert_eq!(indexes(&net.applied[&3]), vec![9, 10, 11, 12]);
    assert_eq!(net.applied[&3], net.applied[&1][8..]);
    assert_agree(&net);
}

/// Rule 6: "If existing log entry has same index and term as snapshot's
/// last included entry, retain log entries following it and reply." The
/// follower got every entry but its answers were lost, so the leader,
/// having compacted, sends the snapshot: the entries after it stay, and
/// the disk is told to keep them.
#[test]
fn s7_6_a_follower_holding_the_snapshots_last_entry_keeps_the_entries_after_it() {
    let mut net = strict(|_| {});
    net.campaign(1);
    net.down.insert((3, 1));
    for _ in 0..6 {
        net.node(1).propose(b"x".to_vec()).unwrap();
    }
    net.deliver_all();
    assert_eq!((net.node(3).log().last_index(), net.node(3).commit_index()), (6, 0));
    assert_eq!(net.node(1).commit_index(), 6);
    net.compact(1, 4).unwrap();
    net.hold_snapshots = true;
    while net.held.is_empty() {
        net.tick_all(1);
    }
    net.down.clear();
    let snapshot = net.held.pop().unwrap();
    assert_eq!(snapshot.body, Body::InstallSnapshot { snapshot: snap(4, 1), membership: three() });
    net.node(3).step(snapshot).unwrap();
    let log = net.nodes[&3].log();
    assert_eq!((log.first_index(), log.last_index()), (5, 6));
    assert_eq!(log.entry(5), net.nodes[&1].log().entry(5), "entry 5 kept");
    net.flush();
    assert_eq!(
        net.installs,
        vec![(3, SnapshotInstall { snapshot: snap(4, 1), membership: three(), keep_suffix: true })]
    );
    assert_eq!(net.disk[&3].entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![5, 6]);
    net.deliver_all();
    assert_eq!(indexes(&net.applied[&3]), vec![5, 6]);
    assert_agree(&net);
}

/// Rules 6 and 7 on one member: the reply is the snapshot's index (the
/// kept suffix is not vouched for), commit and applied jump to it, and
/// nothing at or below it is handed out to apply.
#[test]
fn s7_6_and_7_the_suffix_stays_only_after_the_same_entry() {
    // Rule 6: entry 4 of term 1 is the snapshot's last one.
    let mut r = restored(1, snap(0, 0), log_of(&[1; 6]));
    r.step(install(2, 1, 1, snap(4, 1))).unwrap();
    let ready = r.ready();
    assert_eq!(
        ready.snapshot,
        Some(SnapshotInstall { snapshot: snap(4, 1), membership: three(), keep_suffix: true })
    );
    assert!(ready.entries.is_empty() && ready.committed_entries.is_empty());
    assert_eq!(
        ready.messages.iter().map(|m| (m.to, m.body.clone())).collect::<Vec<_>>(),
        vec![(2, success(4))]
    );
    assert_eq!(r.log().slice(1, 9), &log_of(&[1; 6])[4..]);
    let s = r.status();
    assert_eq!((s.snapshot_index, s.commit_index, s.applied_index, s.leader_id), (4, 4, 4, Some(2)));

    // Rule 7: entry 4 has term 2 here, 3 in the snapshot.
    let mut r = restored(2, snap(0, 0), log_of(&[1, 1, 2, 2, 2, 2]));
    r.step(install(2, 1, 3, snap(4, 3))).unwrap();
    let ready = r.ready();
    assert_eq!(
        ready.snapshot,
        Some(SnapshotInstall { snapshot: snap(4, 3), membership: three(), keep_suffix: false })
    );
    let log = r.log();
    assert_eq!((log.first_index(), log.last_index(), log.last_term(), log.term(4)), (5, 4, 3, Some(3)));
    assert_eq!(log.entry(5), None, "the whole log is gone");
    assert_eq!((r.commit_index(), r.current_term()), (4, 3));

    // Rule 7 for a log that ends before the snapshot.
    let mut r = restored(1, snap(0, 0), log_of(&[1, 1]));
    r.step(install(2, 1, 1, snap(4, 1))).unwrap();
    assert_eq!(
        r.ready().snapshot,
        Some(SnapshotInstall { snapshot: snap(4, 1), membership: three(), keep_suffix: false })
    );
    assert_eq!((r.log().first_index(), r.log().last_index()), (5, 4));
}

/// The member holds everything up to its commit index and it matches every
/// later leader's log (§5.4): an InstallSnapshot at or below it installs
/// nothing, and is answered with the commit index.
#[test]
fn s7_a_snapshot_at_or_below_the_commit_index_installs_nothing() {
    let mut net = strict(|_| {});
    net.campaign(1);
    propose(&mut net, 1, 5);
    assert_eq!(net.node(2).commit_index(), 5);
    for index in [3, 5] {
        let before = state(&net.nodes[&2]);
        net.node(2).step(install(1, 2, 1, snap(index, 1))).unwrap();
        let ready = net.node(2).ready();
        assert_eq!(ready.snapshot, None);
        assert!(ready.entries.is_empty() && ready.committed_entries.is_empty());
        let replies: Vec<_> = ready.messages.iter().map(|m| (m.to, m.body.clone())).collect();
        assert_eq!(replies, vec![(1, success(5))], "snapshot at {index}");
        net.node(2).advance();
        assert_eq!(state(&net.nodes[&2]), before);
    }
}

/// What no correct leader sends is refused, and changes nothing: a second
/// leader's snapshot in the leader's own term, a snapshot of the empty
/// prefix, one that contradicts a committed entry. A snapshot of an older
/// term is answered `StaleTerm` (Figure 13 rule 1), and installs nothing.
#[test]
fn s7_1_bad_and_stale_install_snapshots_change_nothing() {
    let mut net = strict(|_| {});
    net.campaign(1);
    propose(&mut net, 1, 3);

    let refused = |net: &mut Net, msg: Message| {
        let to = msg.to;
        let before = state(&net.nodes[&to]);
        let result = net.node(to).step(msg.clone());
        assert!(matches!(result, Err(StepError::Malformed { .. })), "{msg:?}: {result:?}");
        assert_eq!(state(&net.nodes[&to]), before, "{msg:?} changed state");
    };
    refused(&mut net, install(2, 1, 1, snap(2, 1))); // to leader 1 of term 1
    refused(&mut net, install(1, 2, 1, snap(0, 0)));
    refused(&mut net, install(1, 2, 2, snap(0, 1)));
    refused(&mut net, install(1, 2, 1, snap(4, 2))); // term above the message's
                                                     // Entry 3 of term 1 is committed on 2: a term-2 snapshot there is false,
                                                     // and its term is not adopted either.
    refused(&mut net, install(3, 2, 2, snap(3, 2)));
    assert_eq!(net.node(2).current_term(), 1);
    // Past the commit index a snapshot's term is at least the committed
    // entries' (terms never decrease along a leader's log).
    let mut r = restored(2, snap(0, 0), log_of(&[1, 2, 2]));
    r.step(append(2, 2, (3, 2), vec![], 3)).unwrap();
    r.ready();
    r.advance();
    assert_eq!(r.commit_index(), 3);
    let before = state(&r);
    let result = r.step(install(3, 1, 3, snap(5, 1)));
    assert!(matches!(result, Err(StepError::Malformed { .. })), "{result:?}");
    assert_eq!(state(&r), before);
    r.step(install(3, 1, 3, snap(5, 2))).unwrap();
    assert_eq!(r.log().snapshot(), snap(5, 2));

    let mut r = restored(3, snap(0, 0), log_of(&[1, 1, 1]));
    let before = state(&r);
    r.step(install(2, 1, 2, snap(2, 1))).unwrap();
    let ready = r.ready();
    assert_eq!(ready.snapshot, None);
    let replies: Vec<_> = ready.messages.iter().map(|m| (m.term, m.body.clone())).collect();
    assert_eq!(replies, vec![(3, Body::AppendEntriesReply(AppendReply::StaleTerm))]);
    r.advance();
    assert_eq!(state(&r), before);
}

/// Leader 1 of term 1 with entries 1..10, compacted through 8, waiting in
/// `Snapshot` state on member 3, which was away; the InstallSnapshot is in
/// `net.held` (the driver streams its data). Resends after 50 ticks.
fn leader_waiting_on_a_snapshot() -> Net {
    let mut net = strict(|c| c.resend_ticks = 50);
    net.campaign(1);
    net.cut.insert(3);
    propose(&mut net, 1, 10);
    net.compact(1, 8).unwrap();
    net.hold_snapshots = true;
    net.cut.remove(&3);
    for _ in 0..60 {
        if !net.held.is_empty() {
            break;
        }
        net.tick_all(1);
    }
    assert_eq!(net.held.len(), 1, "the InstallSnapshot went out");
    assert_eq!(net.held[0].body, Body::InstallSnapshot { snapshot: snap(8, 1), membership: three() });
    net
}

/// While the snapshot is on its way the follower is sent no entries, but
/// heartbeats still go (asking at the snapshot's index whether it
/// arrived), so it does not start an election; a lost snapshot is sent
/// again after `resend_ticks`.
#[test]
fn s7_leader_in_snapshot_state_sends_heartbeats_but_no_entries_and_resends_a_lost_snapshot() {
    let mut net = leader_waiting_on_a_snapshot();
    let since = net.sent.len();
    propose(&mut net, 1, 2);
    net.tick_all(45);
    assert_eq!(net.held.len(), 1, "not resent within resend_ticks");
    net.tick_all(10);
    assert_eq!(net.held.len(), 2, "resent after resend_ticks");
    assert_eq!(net.held[1].body, Body::InstallSnapshot { snapshot: snap(8, 1), membership: three() });
    // Past the longest election timeout (60 ticks), still waiting.
    net.tick_all(20);
    assert_eq!(net.held.len(), 2);
    let appends = appends_to(&net, 3, since);
    assert!(appends.iter().all(|(prev, entries)| entries.is_empty() && *prev == 8), "{appends:?}");
    assert!(appends.len() >= 6, "a heartbeat every 10 ticks: {appends:?}");
    let s = net.node(3).status();
    assert_eq!((s.role, s.current_term, s.leader_id), (Role::Follower, 1, Some(1)), "no election");
    assert_eq!(net.leaders(), vec![1]);

    // Once it arrives the follower catches up.
    net.hold_snapshots = false;
    let snapshot = net.held.pop().unwrap();
    net.queue.push_back(snapshot);
    net.deliver_all();
    assert_eq!(net.node(3).log().last_index(), 12);
    assert_eq!(indexes(&net.applied[&3]), vec![9, 10, 11, 12]);
    assert_agree(&net);
}

/// The driver reports the transfer: delivered, the leader probes right
/// after the snapshot (the follower's answer may have been lost);
/// failed, it sends the snapshot again.
#[test]
fn s7_report_snapshot_probes_after_a_delivered_snapshot_and_resends_a_failed_one() {
    let mut net = leader_waiting_on_a_snapshot();
    let snapshot = net.held.pop().unwrap();
    net.node(3).step(snapshot).unwrap();
    net.flush();
    net.queue.retain(|m| m.from != 3); // its answer is lost
    let since = net.sent.len();
    net.node(1).report_snapshot(3, true);
    net.flush();
    assert_eq!(appends_to(&net, 3, since), vec![(8, vec![9, 10])]);
    net.deliver_all();
    assert_eq!(net.node(3).log().last_index(), 10);
    assert!(installs_sent_to(&net, 3, since).is_empty());
    net.tick_all(10);
    assert_agree(&net);

    let mut net = leader_waiting_on_a_snapshot();
    net.held.clear(); // the transfer failed
    let since = net.sent.len();
    net.node(1).report_snapshot(3, false);
    net.flush();
    assert_eq!(installs_sent_to(&net, 3, since), vec![snap(8, 1)], "sent again at once");
    assert!(appends_to(&net, 3, since).is_empty());
    // Reports on a member not waiting for a snapshot, or to a follower, do
    // nothing.
    let before = net.sent.len();
    net.node(1).report_snapshot(2, true);
    net.node(2).report_snapshot(3, true);
    net.flush();
    assert_eq!(net.sent.len(), before);
}

/// The snapshot arrives but the follower's answer is lost: the next
/// heartbeat asks at the snapshot's index, the answer ends the wait, and
/// the follower catches up without a second snapshot.
#[test]
fn s7_a_lost_install_snapshot_reply_is_made_up_by_the_heartbeats_answer() {
    let mut net = leader_waiting_on_a_snapshot();
    let snapshot = net.held.pop().unwrap();
    net.node(3).step(snapshot).unwrap();
    net.flush();
    net.queue.retain(|m| m.from != 3);
    let since = net.sent.len();
    net.tick_all(12);
    assert!(installs_sent_to(&net, 3, since).is_empty());
    let appends = appends_to(&net, 3, since);
    assert_eq!(appends[..2], [(8, vec![]), (8, vec![9, 10])], "a heartbeat at 8, then entries");
    assert!(appends[2..].iter().all(|(_, entries)| entries.is_empty()), "{appends:?}");
    assert_eq!(net.node(3).log().last_index(), 10);
    assert_eq!(net.node(3).commit_index(), 10);
    assert_agree(&net);
}

/// AppendEntries that start inside the follower's snapshot: the entries
/// it covers are committed, so they match; the rest is appended as usual
/// (replacing a conflicting uncommitted suffix), and a request entirely
/// inside is acknowledged as far as it reached.
#[test]
fn s7_append_entries_inside_the_snapshot_skip_what_it_covers() {
    // Snapshot through 5 (term 1), entries 6 and 7 of term 1 uncommitted.
    let mut r = restored(2, snap(5, 1), log_of(&[1; 7]));
    let entries = vec![entry(4, 1), entry(5, 1), entry(6, 2), entry(7, 2), entry(8, 2), entry(9, 2)];
    r.step(append(2, 2, (3, 1), entries, 9)).unwrap();
    let ready = r.ready();
    assert_eq!(ready.messages.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), vec![success(9)]);
    assert_eq!(ready.entries, vec![entry(6, 2), entry(7, 2), entry(8, 2), entry(9, 2)]);
    assert_eq!(indexes(&ready.committed_entries), vec![6, 7, 8, 9]);
    r.advance();
    assert_eq!((r.log().first_index(), r.log().last_index(), r.log().term(6)), (6, 9, Some(2)));

    let before = state(&r);
    for (prev, entries, reached) in
        [((1, 1), vec![entry(2, 1), entry(3, 1)], 3), ((2, 1), vec![], 2), ((0, 0), vec![entry(1, 1)], 1)]
    {
        r.step(append(2, 2, prev, entries, 9)).unwrap();
        let ready = r.ready();
        assert_eq!(ready.messages.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), vec![success(reached)]);
        assert!(ready.entries.is_empty() && ready.committed_entries.is_empty());
        r.advance();
        assert_eq!(state(&r), before);
    }
    // From the empty prefix past the snapshot: the entries after it count.
    let entries = (1..=10).map(|i| entry(i, if i <= 5 { 1 } else { 2 })).collect();
    r.step(append(2, 2, (0, 0), entries, 9)).unwrap();
    let ready = r.ready();
    assert_eq!(ready.messages.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), vec![success(10)]);
    assert_eq!(ready.entries, vec![entry(10, 2)]);
}

/// A restart from a snapshot and the log after it (`Persisted::entries`):
/// the snapshot is committed and applied, nothing at or below it is handed
/// out again, entries at or below it are skipped.
#[test]
fn s7_restart_from_a_snapshot_and_the_log_after_it() {
    for entries in [
        log_of(&[1, 1, 1, 1, 1, 2, 2, 2]),
        log_of(&[1, 1, 1, 1, 1, 2, 2, 2])[2..].to_vec(),
        log_of(&[1, 1, 1, 1, 1, 2, 2, 2])[5..].to_vec(),
    ] {
        let mut r = restored(2, snap(5, 1), entries);
        let s = r.status();
        assert_eq!((s.snapshot_index, s.commit_index, s.applied_index, s.last_index), (5, 5, 5, 8));
        let log = r.log();
        assert_eq!(
            (log.first_index(), log.term(5), log.entry(5), log.entry(6)),
            (6, Some(1), None, Some(&entry(6, 2)))
        );
        assert!(!r.has_ready(), "nothing to persist or apply");
        r.step(append(2, 2, (8, 2), vec![], 8)).unwrap();
        assert_eq!(indexes(&r.ready().committed_entries), vec![6, 7, 8]);
    }
}

/// Restart rules for a crash while a snapshot was installed, and for
/// persisted state that cannot be: an entry at the snapshot's index with
/// another term means the log after it is of a history the snapshot
/// replaced; a gap after the snapshot, a snapshot of index 0 with a term
/// (or the reverse), a snapshot term above the current term are refused.
#[test]
fn s7_restart_drops_a_replaced_suffix_and_refuses_impossible_snapshots() {
    let r = restored(2, snap(5, 2), log_of(&[1; 8]));
    let log = r.log();
    assert_eq!((log.first_index(), log.last_index(), log.last_term()), (6, 5, 2));

    let restore = |term, snapshot, entries| {
        Raft::new(
            crate::net::paper_config(1, vec![1, 2, 3]),
            Persisted { hard_state: hs(term), snapshot, entries, membership: None },
            rng(1),
        )
        .err()
    };
    let gap = vec![entry(7, 1), entry(8, 1)];
    assert_eq!(restore(2, snap(5, 1), gap), Some(RestoreError::Gap { position: 0, index: 7 }));
    let gap = [&log_of(&[1; 4])[..], &[entry(7, 1)]].concat();
    assert_eq!(restore(2, snap(5, 1), gap), Some(RestoreError::Gap { position: 0, index: 7 }));
    let gap = [&log_of(&[1; 6])[..], &[entry(8, 1)]].concat();
    assert_eq!(restore(2, snap(5, 1), gap), Some(RestoreError::Gap { position: 1, index: 8 }));
    assert_eq!(restore(2, snap(0, 1), vec![]), Some(RestoreError::SnapshotTerm { index: 0, term: 1 }));
    assert_eq!(
        restore(2, snap(3, 0), log_of(&[1; 5])),
        Some(RestoreError::SnapshotTerm { index: 3, term: 0 })
    );
    // A snapshot newer than the persisted term lends its term (see
    // `s7_a_snapshot_newer_than_the_persisted_term_lends_its_term`); an
    // entry newer than it cannot have been persisted after its term.
    assert_eq!(restore(2, snap(3, 3), vec![]), None);
    assert_eq!(
        restore(2, snap(3, 1), vec![entry(4, 3)]),
        Some(RestoreError::TermAhead { log_term: 3, current_term: 2 })
    );
    assert_eq!(restore(3, snap(3, 3), vec![entry(3, 3), entry(4, 2)]), Some(RestoreError::TermsDecrease(4)));
    // No message installs a snapshot past MAX_INDEX, and at u64::MAX the
    // index after it would overflow.
    for index in [MAX_INDEX + 1, u64::MAX] {
        assert_eq!(restore(2, snap(index, 1), vec![]), Some(RestoreError::IndexTooLarge(index)));
    }
    assert_eq!(restore(2, snap(MAX_INDEX, 1), vec![]), None);
}

/// Takes every Ready of `r` onto `disk`, then restarts a member from it.
fn persist_and_restart(r: &mut Raft, disk: &mut Persisted) -> Result<Raft, RestoreError> {
    while r.has_ready() {
        let ready: Ready = r.ready();
        persist(disk, &ready).unwrap();
        r.advance();
    }
    Raft::new(crate::net::paper_config(1, vec![1, 2, 3]), disk.clone(), rng(1))
}

/// Rule 7 on a log that ran past the snapshot: the entries that arrive
/// after it in the same turn are all handed out to persist, since the disk
/// dropped its whole log.
#[test]
fn s7_7_entries_after_a_discarding_install_in_the_same_turn_are_persisted() {
    let persisted = Persisted {
        hard_state: hs(2),
        snapshot: snap(0, 0),
        entries: log_of(&[1, 1, 1, 2, 2, 2, 2, 2]),
        membership: None,
    };
    let mut disk = persisted.clone();
    let mut r = new_raft(1, 3, persisted);
    r.step(install(2, 1, 3, snap(5, 3))).unwrap();
    r.step(append(2, 3, (5, 3), vec![entry(6, 3), entry(7, 3)], 7)).unwrap();
    let restarted = persist_and_restart(&mut r, &mut disk).expect("the disk restores");
    assert_eq!(disk.entries, vec![entry(6, 3), entry(7, 3)]);
    assert_eq!(restarted.log().last_index(), 7);
}

/// Rule 6 after a truncation in the same turn: the log holds the
/// snapshot's last entry, but only since an AppendEntries replaced the
/// disk's suffix in memory; the disk must not keep its old suffix.
#[test]
fn s7_6_a_suffix_replaced_in_the_same_turn_is_not_kept_on_disk() {
    let persisted = Persisted {
        hard_state: hs(2),
        snapshot: snap(0, 0),
        entries: log_of(&[1, 1, 1, 1, 1, 2, 2, 2]),
        membership: None,
    };
    let mut disk = persisted.clone();
    let mut r = new_raft(1, 3, persisted);
    r.step(append(2, 3, (5, 1), vec![entry(6, 3), entry(7, 3)], 0)).unwrap();
    r.step(install(2, 1, 3, snap(7, 3))).unwrap();
    assert_eq!((r.log().first_index(), r.log().last_index()), (8, 7));
    let restarted = persist_and_restart(&mut r, &mut disk).expect("the disk restores");
    assert!(disk.entries.is_empty(), "disk still holds {:?}", disk.entries);
    assert_eq!((restarted.log().snapshot(), restarted.log().last_index()), (snap(7, 3), 7));
}

/// An InstallSnapshot moves the log to the index it names at once: past
/// `MAX_INDEX` it is refused (at `u64::MAX` the index after the snapshot
/// would overflow), and so are entries past it.
#[test]
fn s7_snapshots_and_entries_past_max_index_are_refused() {
    let mut r = restored(1, snap(0, 0), log_of(&[1]));
    for index in [MAX_INDEX + 1, u64::MAX] {
        let before = state(&r);
        let result = r.step(install(2, 1, 1, snap(index, 1)));
        assert!(matches!(result, Err(StepError::Malformed { .. })), "{index}: {result:?}");
        assert_eq!(state(&r), before);
    }
    r.step(install(2, 1, 1, snap(MAX_INDEX, 1))).unwrap();
    assert_eq!(r.ready().snapshot.map(|s| s.snapshot), Some(snap(MAX_INDEX, 1)));
    r.advance();
    assert_eq!(r.log().first_index(), MAX_INDEX + 1);
    let before = state(&r);
    let result = r.step(append(2, 1, (MAX_INDEX, 1), vec![entry(MAX_INDEX + 1, 1)], 0));
    assert!(matches!(result, Err(StepError::Malformed { .. })), "{result:?}");
    assert_eq!(state(&r), before);
    r.step(append(2, 1, (MAX_INDEX, 1), vec![], MAX_INDEX)).unwrap();
    assert_eq!(r.ready().messages[0].body, success(MAX_INDEX));
}

mod random {
    //! A 3- or 5-member cluster whose members compact every few applied
    //! entries, under random ticks, proposals, losses, duplicates,
    //! reorderings, partitions, restarts and snapshot transfers that
    //! arrive late or fail. Several messages are stepped per turn, so a
    //! snapshot and entries can meet in one `Ready`. After every step:
    //! Log Matching on what members hold, State Machine Safety on what they
    //! applied (each from its last snapshot on), nothing applied at or
    //! below a member's snapshot after it, no hole between a snapshot and
    //! the entries after it on any member or disk. At the end, healed, the
    //! members converge.
    //!
    //! With `changes`, two more servers start outside the configuration
    //! and the leader is asked for random membership changes (learners
    //! added, promoted and removed, voters added and removed, itself
    //! included) and leadership transfers; at the end the members of the
    //! leader's configuration converge.

    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use raft::{CompactError, Entry, MembershipChange, Message, NodeId, Persisted, Role};

    use crate::net::Net;

    #[derive(Clone, Debug)]
    enum Op {
        /// Rounds of a tick of every member, nothing delivered.
        Tick(u8),
        /// Proposals at every member that leads.
        Propose(u8),
        /// Messages delivered, in turns.
        Deliver(u8),
        Lose(u8),
        /// A queued message is held back, until `Release` queues it again.
        Delay(u8),
        Release,
        Duplicate(u8),
        Swap(u8, u8),
        /// Members in the mask on one side, the others on the other.
        Partition(u8),
        Isolate(u8),
        Heal,
        Restart(u8),
        /// The first snapshot being streamed arrives (and its sender's
        /// driver reports it), or the transfer fails.
        Stream(bool),
        Compact(u8),
        /// A membership change (kind, member) or a leadership transfer at
        /// the leader of the highest term.
        Change(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u8..=20).prop_map(Op::Tick),
            6 => (1u8..=8).prop_map(Op::Propose),
            10 => (1u8..=60).prop_map(Op::Deliver),
            2 => any::<u8>().prop_map(Op::Lose),
            1 => any::<u8>().prop_map(Op::Delay),
            1 => Just(Op::Release),
            1 => any::<u8>().prop_map(Op::Duplicate),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Swap(a, b)),
            1 => any::<u8>().prop_map(Op::Partition),
            1 => any::<u8>().prop_map(Op::Isolate),
            2 => Just(Op::Heal),
            1 => any::<u8>().prop_map(Op::Restart),
            3 => any::<bool>().prop_map(Op::Stream),
            1 => any::<u8>().prop_map(Op::Compact),
        ]
    }

    fn op_with_changes() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => op(),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(kind, k)| Op::Change(kind, k)),
        ]
    }

    struct Run {
        net: Net,
        /// Servers, those outside the configuration at the start included.
        n: u64,
        turn: usize,
        proposals: u32,
        delayed: Vec<Message>,
        /// The entry applied at each index, by whoever applied it first.
        chosen: BTreeMap<u64, Entry>,
        leaders: BTreeMap<u64, NodeId>,
    }

    impl Run {
        fn apply(&mut self, op: &Op) {
            let n = self.n;
            let member = |k: u8| u64::from(k) % n + 1;
            let net = &mut self.net;
            match *op {
                Op::Tick(rounds) => {
                    for _ in 0..rounds {
                        net.nodes.values_mut().for_each(|r| r.tick());
                        net.flush();
                    }
                }
                Op::Propose(count) => {
                    let leaders = net.leaders();
                    for id in leaders {
                        for _ in 0..count {
                            self.proposals += 1;
                            let _ = net.node(id).propose(self.proposals.to_be_bytes().to_vec());
                        }
                    }
                    net.flush();
                }
                Op::Deliver(count) => {
                    for _ in 0..usize::from(count).div_ceil(self.turn) {
                        net.deliver_turn(self.turn);
                    }
                }
                Op::Lose(k) if !net.queue.is_empty() => {
                    net.queue.remove(usize::from(k) % net.queue.len());
                }
                Op::Delay(k) if !net.queue.is_empty() => {
                    let msg = net.queue.remove(usize::from(k) % net.queue.len());
                    self.delayed.extend(msg);
                }
                Op::Release => net.queue.extend(self.delayed.drain(..)),
                Op::Duplicate(k) if !net.queue.is_empty() => {
                    let msg = net.queue[usize::from(k) % net.queue.len()].clone();
                    net.queue.push_back(msg);
                }
                Op::Swap(a, b) if !net.queue.is_empty() => {
                    let len = net.queue.len();
                    net.queue.swap(usize::from(a) % len, usize::from(b) % len);
                }
                Op::Lose(_) | Op::Delay(_) | Op::Duplicate(_) | Op::Swap(..) => {}
                Op::Partition(mask) => {
                    let side = |id: NodeId| mask >> (id - 1) & 1 == 1;
                    net.down.clear();
                    for a in 1..=n {
                        for b in (1..=n).filter(|&b| side(a) != side(b)) {
                            net.down.insert((a, b));
                        }
                    }
                }
                Op::Isolate(k) => {
                    let id = member(k);
                    net.cut.insert(id);
                }
                Op::Heal => {
                    net.cut.clear();
                    net.down.clear();
                }
                Op::Restart(k) => {
                    let id = member(k);
                    net.restart(id);
                }
                Op::Stream(arrives) if !net.held.is_empty() => {
                    let msg = net.held.remove(0);
                    let (from, to) = (msg.from, msg.to);
                    if !arrives || net.is_lost(&msg) {
                        net.node(from).report_snapshot(to, false);
                        net.flush();
                        return;
                    }
                    // One turn of the receiver: what was queued for it, the
                    // snapshot, and what its sender sends on the driver's
                    // report that it arrived (the probe after it).
                    let mut turn: Vec<_> = net.queue.iter().filter(|m| m.to == to).cloned().collect();
                    net.queue.retain(|m| m.to != to);
                    turn.push(msg);
                    net.node(from).report_snapshot(to, true);
                    net.flush_member(from);
                    turn.extend(net.queue.iter().filter(|m| m.to == to).cloned());
                    net.queue.retain(|m| m.to != to);
                    for m in turn {
                        if !net.is_lost(&m) {
                            net.node(to).step(m).expect("well-formed message");
                        }
                    }
                    net.flush();
                }
                Op::Stream(_) => {}
                Op::Compact(k) => {
                    let id = member(k);
                    let applied = net.node(id).status().applied_index;
                    match net.compact(id, applied) {
                        Ok(()) | Err(CompactError::UnknownConfiguration { .. }) => {}
                        Err(e) => panic!("member {id}: {e}"),
                    }
                }
                Op::Change(kind, k) => change(net, kind, member(k)),
            }
            while net.queue.len() > 400 {
                net.queue.pop_front();
            }
        }

        fn check(&mut self) -> Result<(), TestCaseError> {
            let net = &self.net;
            for (&id, r) in &net.nodes {
                let s = r.status();
                let log = r.log();
                let snapshot = log.snapshot();
                if s.role == Role::Leader {
                    let first = *self.leaders.entry(s.current_term).or_insert(id);
                    prop_assert_eq!(first, id, "two leaders in term {}", s.current_term);
                }
                // No hole between the snapshot and the entries after it.
                prop_assert_eq!(log.first_index(), snapshot.index + 1);
                let held = log.slice(log.first_index(), log.last_index());
                prop_assert_eq!(held.len() as u64, log.last_index() - snapshot.index);
                let mut prev = snapshot.term;
                for (k, e) in held.iter().enumerate() {
                    prop_assert_eq!(e.index, snapshot.index + 1 + k as u64, "member {}", id);
                    prop_assert!(e.term >= prev, "member {}: terms go back at {}", id, e.index);
                    prev = e.term;
                }
                prop_assert!(snapshot.index <= s.applied_index && s.applied_index <= s.commit_index);
                net.assert_disk_matches(id);
                // State Machine Safety, from the last snapshot on; nothing
                // at or below it applied after it.
                let base = net.snapshot_at.get(&id).copied().unwrap_or_default();
                let applied = net.applied.get(&id).map_or(&[][..], |a| &a[..]);
                for (k, e) in applied.iter().enumerate() {
                    prop_assert_eq!(e.index, base.index + 1 + k as u64, "member {} applied out of order", id);
                    let chosen = self.chosen.entry(e.index).or_insert_with(|| e.clone());
                    prop_assert_eq!(&*chosen, e, "member {} applied another entry at {}", id, e.index);
                }
                prop_assert_eq!(base.index + applied.len() as u64, s.applied_index, "member {}", id);
                for at in [base, snapshot] {
                    if let Some(e) = self.chosen.get(&at.index) {
                        prop_assert_eq!(e.term, at.term, "member {}: snapshot {:?} against {:?}", id, at, e);
                    }
                }
            }
            // Log Matching: below the highest index two members hold with
            // the same term, they hold the same entries.
            for a in net.nodes.values() {
                for b in net.nodes.values().filter(|b| b.id() > a.id()) {
                    let (la, lb) = (a.log(), b.log());
                    let low = la.snapshot().index.max(lb.snapshot().index);
                    let high = la.last_index().min(lb.last_index());
                    let mut matched = false;
                    for i in (low..=high).rev() {
                        if la.term(i) == lb.term(i) {
                            matched = true;
                            if let (Some(x), Some(y)) = (la.entry(i), lb.entry(i)) {
                                prop_assert_eq!(x, y, "members {} and {} at {}", a.id(), b.id(), i);
                            }
                        } else {
                            prop_assert!(
                                !matched,
                                "members {} and {} differ at {} below a match",
                                a.id(),
                                b.id(),
                                i
                            );
                        }
                    }
                }
            }
            Ok(())
        }

        /// Heals everything and runs until one leader's log is on every
        /// member, committed and applied.
        fn converge(&mut self) -> Result<(), TestCaseError> {
            let net = &mut self.net;
            net.cut.clear();
            net.down.clear();
            net.hold_snapshots = false;
            net.held.clear();
            for _ in 0..2000 {
                net.tick_all(1);
                let leaders = net.leaders();
                if let [leader] = leaders[..] {
                    let r = &net.nodes[&leader];
                    let (term, last) = (r.current_term(), r.log().last_index());
                    if r.log().last_term() < term {
                        // Entries of earlier terms commit with one of its own.
                        self.proposals += 1;
                        let _ = net.node(leader).propose(self.proposals.to_be_bytes().to_vec());
                        continue;
                    }
                    let members: Vec<NodeId> = r.membership().members().collect();
                    let done = members.iter().map(|id| &net.nodes[id]).all(|m| {
                        let s = m.status();
                        s.current_term == term
                            && s.commit_index == last
                            && s.applied_index == last
                            && s.last_index == last
                    });
                    if done {
                        return self.check();
                    }
                }
            }
            let states: Vec<_> = net.nodes.values().map(|r| r.status()).collect();
            Err(TestCaseError::fail(format!("no convergence: {states:?}")))
        }
    }

    /// Runs `ops` on `net` (every member of it, whether in the
    /// configuration or not), checking after each, then converges.
    fn play(
        mut net: Net,
        every: u64,
        turn: usize,
        hold_snapshots: bool,
        ops: &[Op],
    ) -> Result<(), TestCaseError> {
        net.check_disk = true;
        net.compact_every = Some(every);
        net.hold_snapshots = hold_snapshots;
        let n = net.nodes.len() as u64;
        let (delayed, chosen, leaders) = (Vec::new(), BTreeMap::new(), BTreeMap::new());
        let mut run = Run { net, n, turn, proposals: 0, delayed, chosen, leaders };
        for op in ops {
            run.apply(op);
            run.check()?;
        }
        run.converge()
    }

    /// Asks the leader of the highest term for a change of kind `kind`
    /// about member `id` (refusals are part of the test), or a transfer.
    fn change(net: &mut Net, kind: u8, id: NodeId) {
        let leader = net.leaders().into_iter().max_by_key(|&l| net.nodes[&l].current_term());
        let Some(leader) = leader else { return };
        let address = format!("n{id}");
        let change = match kind % 5 {
            0 => MembershipChange::AddLearner { id, address },
            1 => MembershipChange::AddVoter { id, address },
            2 => MembershipChange::Promote { id },
            3 => MembershipChange::Remove { id },
            _ => {
                let _ = net.node(leader).transfer_leadership(id);
                return net.flush();
            }
        };
        let _ = net.node(leader).propose_membership(change);
        net.flush();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn s7_random_cluster_with_compaction_keeps_log_matching_and_state_machine_safety(
            five in any::<bool>(),
            every in 2u64..=6,
            turn in 1usize..=4,
            hold_snapshots in any::<bool>(),
            ops in prop::collection::vec(op(), 1..300),
        ) {
            let n = if five { 5 } else { 3 };
            play(Net::build(n, |_| Persisted::default(), |_| {}), every, turn, hold_snapshots, &ops)?;
        }

        /// The same with membership changes and leadership transfers (see
        /// the module doc), with or without PreVote.
        #[test]
        fn s4_random_cluster_with_membership_changes_keeps_safety_and_converges(
            five in any::<bool>(),
            pre_vote in any::<bool>(),
            every in 2u64..=6,
            turn in 1usize..=4,
            hold_snapshots in any::<bool>(),
            ops in prop::collection::vec(op_with_changes(), 1..300),
        ) {
            let n = if five { 5 } else { 3 };
            let mut net = Net::build(n, |_| Persisted::default(), |c| c.pre_vote = pre_vote);
            for id in n + 1..=n + 2 {
                net.join(id);
            }
            play(net, every, turn, hold_snapshots, &ops)?;
        }
    }
}

/// A follower whose storage was wiped comes back with an empty log, below
/// what it acknowledged. Its rejections say so (its log ends before the
/// leader's match index for it), and the leader probes it again from
/// there instead of taking them for stale ones: it gets the snapshot and
/// catches up, where it used to be ignored until the next election.
#[test]
fn s7_a_follower_that_lost_its_log_is_sent_the_snapshot_again() {
    let mut net = strict(|_| {});
    net.campaign(1);
    propose(&mut net, 1, 10);
    net.tick_all(10);
    net.compact(1, 8).unwrap();
    net.disk.insert(3, raft::Persisted::default());
    net.restart(3);
    let since = net.sent.len();
    net.tick_all(30);
    assert_eq!(net.leaders(), vec![1], "no election was needed");
    assert_eq!(installs_sent_to(&net, 3, since), vec![snap(8, 1)]);
    let s = net.node(3).status();
    assert_eq!((s.snapshot_index, s.commit_index, s.last_index), (8, 10, 10));
    assert_agree(&net);
}

/// A received snapshot is durable before the core hears of it; a crash in
/// between can leave it newer than the persisted term (a member that heard
/// of the cluster only through it still has term 0). The core adopts the
/// snapshot's term, without a vote, and hands it out to persist.
#[test]
fn s7_a_snapshot_newer_than_the_persisted_term_lends_its_term() {
    let disk = Persisted { snapshot: snap(10, 3), membership: Some(three()), ..Persisted::default() };
    let mut r = Raft::new(crate::net::paper_config(1, vec![1, 2, 3]), disk, rng(1)).expect("restores");
    assert_eq!(r.hard_state(), HardState { current_term: 3, voted_for: None });
    assert_eq!(r.ready().hard_state, Some(HardState { current_term: 3, voted_for: None }));
}

/// §7 with chapter 4: a snapshot records the configuration in force at its
/// index, so a member may only compact where it knows it. A member that
/// joined starts with no configuration at all; the entries before the one
/// that added it carry none, and a snapshot through them would record the
/// empty one, which its own restart and every follower refuse.
#[test]
fn s7_compact_refuses_an_index_whose_configuration_is_unknown() {
    let config = raft::Config { voters: Vec::new(), ..crate::net::paper_config(4, Vec::new()) };
    let mut r = Raft::new(config, Persisted::default(), rng(4)).unwrap();
    let mut added = three();
    added.learners.insert(4, "n4".into());
    let entries = vec![entry(1, 1), entry(2, 1), Entry::membership(3, 1, &added), entry(4, 1)];
    let body =
        Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries, leader_commit: 4, round: 0 };
    r.step(Message { from: 1, to: 4, term: 1, body }).unwrap();
    let ready = r.ready();
    assert_eq!(ready.committed_entries.len(), 4);
    r.advance();
    assert_eq!(r.compact(2), Err(CompactError::UnknownConfiguration { index: 2 }));
    assert_eq!(r.log().snapshot(), SnapshotMeta::default(), "nothing compacted");
    assert_eq!(r.compact(3), Ok(()));
    assert_eq!(r.membership_at(3), Some(&added));
    assert_eq!(r.compact(4), Ok(()));
}
