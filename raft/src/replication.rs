//! Log replication (§5.3): Figure 2 "AppendEntries RPC" on the follower
//! side, and the leader's sending, heartbeats, resends and fast backoff.

use crate::progress::ReplicationState;
use crate::role::RoleState;
use crate::server::Raft;
use crate::{AppendReply, Body, Entry, NodeId};

/// What `send_append` may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendKind {
    /// Entries from `next_index`, if there are any.
    Entries,
    /// A consistency check at `next_index - 1`, with entries if any.
    Probe,
    /// A consistency check without entries: the previous probe went
    /// unanswered, so the follower is probably unreachable and entries
    /// would be wasted bandwidth.
    EmptyProbe,
}

/// What replication cost a leader beyond the entries themselves: for
/// operators, and for the simulator's reordering profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicationCounters {
    /// AppendEntries rejected for a log mismatch (not stale ones).
    pub rejections: u64,
    /// Times a follower went back to probing: after a rejection, or when
    /// what was sent went unanswered for the resend interval.
    pub probes: u64,
}

/// AppendEntries a follower holds at most, ahead of a gap in its log.
const MAX_REORDERED: usize = 8;
/// Ticks a follower waits for a gap to fill before it takes the earlier
/// request for lost rather than late: it then refuses what it holds, and
/// the leader probes at once instead of after its resend interval.
const REORDER_WAIT_TICKS: u64 = 2;

impl std::ops::AddAssign for ReplicationCounters {
    fn add_assign(&mut self, other: ReplicationCounters) {
        self.rejections += other.rejections;
        self.probes += other.probes;
    }
}

/// The fields of an AppendEntries request, with its sender.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub from: NodeId,
    pub prev_log_index: u64,
    pub prev_log_term: u64,
    pub entries: Vec<Entry>,
    pub leader_commit: u64,
    pub round: u64,
}

impl Raft {
    /// AppendEntries receiver (Figure 2), for a request of our current term.
    pub(crate) fn handle_append_entries(&mut self, req: AppendRequest) {
        // Hearing from the current leader: a candidate concedes (§5.2) and
        // the election timer restarts.
        self.become_follower(self.current_term, Some(req.from));
        self.reset_election_timer();

        let Some(req) = self.skip_compacted(req) else { return };
        let Some(req) = self.hold_if_ahead(req) else { return };
        self.append(req);
    }

    /// AppendEntries receiver steps 2 to 5, and the reply.
    fn append(&mut self, req: AppendRequest) {
        // 2. "Reply false if log doesn't contain an entry at prevLogIndex
        // whose term matches prevLogTerm", with the fast-backoff hint.
        if self.log.term(req.prev_log_index) != Some(req.prev_log_term) {
            let reply = self.conflict_hint(req.prev_log_index, req.round);
            self.send(req.from, Body::AppendEntriesReply(reply));
            return;
        }
        // 3 and 4: drop conflicting entries, append new ones.
        self.log.merge(&req.entries);
        // 5. "If leaderCommit > commitIndex, set commitIndex =
        // min(leaderCommit, index of last new entry)". Only entries this
        // request vouched for count: the suffix past them may be stale.
        let match_index = req.prev_log_index + req.entries.len() as u64;
        let new_commit = req.leader_commit.min(match_index);
        if new_commit > self.commit_index {
            self.commit_index = new_commit;
        }
        let round = req.round;
        self.send(req.from, Body::AppendEntriesReply(AppendReply::Success { match_index, round }));
        if let RoleState::Follower(f) = &mut self.state {
            f.replicating = true;
        }
        if let Some(next) = self.next_reordered() {
            self.handle_append_entries(next);
        }
    }

    /// A request with entries that starts past the end of the log of a
    /// follower the leader replicates to (an earlier one is late or lost)
    /// is held, up to `MAX_REORDERED`, rather than rejected: over a network that reorders, the earlier one
    /// usually comes next, and a rejection would send the leader back to
    /// probing. A lost one is resent by the leader after its resend
    /// interval, and the held requests follow it.
    fn hold_if_ahead(&mut self, req: AppendRequest) -> Option<AppendRequest> {
        let ahead = req.prev_log_index > self.log.last_index() && !req.entries.is_empty();
        let now = self.now;
        match &mut self.state {
            RoleState::Follower(f) if ahead && f.replicating && f.reordered.len() < MAX_REORDERED => {
                if f.reordered.is_empty() {
                    f.held_since = now;
                }
                f.reordered.push(req);
                None
            }
            _ => Some(req),
        }
    }

    /// Follower, every tick: requests held for `REORDER_WAIT_TICKS` wait
    /// for a request that was lost. The lowest is taken as it stands (so
    /// refused, with a conflict hint that names where the log ends, unless
    /// the log reached it some other way, a snapshot say), the others
    /// dropped: the leader probes from there and sends them all again.
    pub(crate) fn tick_reordered(&mut self) {
        if self.reordered_due() != Some(0) {
            return;
        }
        let RoleState::Follower(f) = &mut self.state else { return };
        let held = std::mem::take(&mut f.reordered);
        let Some(first) = held.into_iter().min_by_key(|r| r.prev_log_index) else { return };
        if let Some(req) = self.skip_compacted(first) {
            self.append(req);
        }
    }

    /// Ticks until held requests are given up on, if any are held.
    pub(crate) fn reordered_due(&self) -> Option<u64> {
        let RoleState::Follower(f) = &self.state else { return None };
        (!f.reordered.is_empty()).then(|| (f.held_since + REORDER_WAIT_TICKS).saturating_sub(self.now))
    }

    /// A held request the log now reaches, to take.
    fn next_reordered(&mut self) -> Option<AppendRequest> {
        let last = self.log.last_index();
        let RoleState::Follower(f) = &mut self.state else { return None };
        let i = f.reordered.iter().position(|r| r.prev_log_index <= last)?;
        Some(f.reordered.swap_remove(i))
    }

    /// A request that starts inside our snapshot: those entries are
    /// committed, so they match the leader's (§5.4 Leader Completeness).
    /// What remains starts at the snapshot; when nothing does, the request
    /// is acknowledged as far as it reached.
    fn skip_compacted(&mut self, mut req: AppendRequest) -> Option<AppendRequest> {
        if !self.log.is_compacted(req.prev_log_index) {
            return Some(req);
        }
        let snapshot = self.log.snapshot();
        let last = req.prev_log_index + req.entries.len() as u64;
        if last <= snapshot.index {
            let reply = AppendReply::Success { match_index: last, round: req.round };
            self.send(req.from, Body::AppendEntriesReply(reply));
            return None;
        }
        req.entries.drain(..(snapshot.index - req.prev_log_index) as usize);
        req.prev_log_index = snapshot.index;
        req.prev_log_term = snapshot.term;
        Some(req)
    }

    fn conflict_hint(&self, rejected_index: u64, round: u64) -> AppendReply {
        match self.log.term(rejected_index) {
            Some(term) => AppendReply::Conflict {
                rejected_index,
                conflict_term: Some(term),
                conflict_index: self.log.first_index_of_term_run(rejected_index),
                round,
            },
            None => AppendReply::Conflict {
                rejected_index,
                conflict_term: None,
                conflict_index: self.log.last_index() + 1,
                round,
            },
        }
    }

    /// Leader, on an AppendEntries reply of the current term.
    pub(crate) fn handle_append_reply(&mut self, from: NodeId, reply: AppendReply) {
        if self.progress(from).is_none() {
            return;
        }
        if let AppendReply::Success { round, .. } | AppendReply::Conflict { round, .. } = reply {
            self.on_round_answered(from, round);
        }
        let Some(pr) = self.progress_mut(from) else { return };
        pr.recent_active = true;
        match reply {
            AppendReply::Success { match_index, .. } => {
                if pr.on_success(match_index) {
                    // It may now apply up to the commit index it lacked.
                    if let Some(leader) = self.leader_mut() {
                        leader.commit_to_announce = true;
                    }
                    self.maybe_commit();
                }
                self.send_append(from, AppendKind::Entries);
                self.maybe_send_timeout_now(from);
            }
            AppendReply::Conflict { rejected_index, conflict_term, conflict_index, .. } => {
                self.back_off(from, rejected_index, conflict_term, conflict_index);
            }
            AppendReply::StaleTerm => {} // same term as ours: a re-elected leader's old request
        }
    }

    /// Fast backoff: jump `next_index` past our last entry of the
    /// follower's conflicting term if we have that term, else to the first
    /// index the follower holds of it; a whole term per round trip instead
    /// of one entry.
    fn back_off(
        &mut self,
        from: NodeId,
        rejected_index: u64,
        conflict_term: Option<u64>,
        conflict_index: u64,
    ) {
        let leader_last_of_term = conflict_term.and_then(|t| self.log.last_index_of_term(t));
        let Some(pr) = self.progress_mut(from) else { return };
        if conflict_term.is_none() && conflict_index <= pr.match_index && pr.pending_snapshot().is_none() {
            // The follower says its log ends before what it acknowledged.
            // Once, that is a rejection from before it had those entries,
            // delayed. Again and again without a success between, it lost
            // its log (a wiped data directory, which Raft's model rules
            // out but operators do): probe it again from what it holds.
            // That is safe: a lower match index only makes the commit rule
            // count fewer replicas.
            pr.on_short_log_rejection(conflict_index - 1);
        }
        if pr.is_stale_rejection(rejected_index) {
            return;
        }
        self.replication_counters.rejections += 1;
        self.replication_counters.probes += 1;
        let Some(pr) = self.progress_mut(from) else { return };
        let next = match leader_last_of_term {
            Some(last) => last + 1,
            None => conflict_index,
        };
        // The follower mismatches at `rejected_index`, so the next probe
        // starts at or below it.
        pr.probe_from(next.clamp(1, rejected_index.max(1)));
        self.send_append(from, AppendKind::Probe);
    }

    /// Leader, every tick: resend what went unanswered for a heartbeat
    /// interval, and send a heartbeat to each follower that was sent
    /// nothing for that long (§5.2). An entry still in flight, or already
    /// acknowledged, is not sent again; entries lost once are resent once,
    /// then only empty probes until the follower answers.
    pub(crate) fn tick_heartbeats(&mut self) {
        let interval = u64::from(self.config.heartbeat_interval_ticks);
        let resend = u64::from(self.config.resend_ticks);
        let now = self.now;
        let peers = self.followers();
        for peer in peers {
            let Some(pr) = self.progress_mut(peer) else { continue };
            if pr.is_overdue(now, interval, resend) {
                let kind = if pr.probe_is_out() { AppendKind::EmptyProbe } else { AppendKind::Probe };
                // Lost entries in Replicate are sent again from what the
                // follower acknowledged. An unanswered probe says nothing
                // about the follower's log, so it is repeated at the same
                // point: falling back to `match_index + 1` would make a new
                // leader (match_index 0) send a returning follower the
                // whole log.
                let from = match pr.state {
                    ReplicationState::Replicate => pr.match_index + 1,
                    ReplicationState::Probe | ReplicationState::Snapshot { .. } => pr.next_index,
                };
                pr.probe_from(from);
                self.replication_counters.probes += 1;
                self.send_append(peer, kind);
            } else if now.saturating_sub(pr.last_sent_at) >= interval {
                self.send_heartbeat(peer);
            }
        }
    }

    /// A heartbeat in `Replicate` vouches only for what the follower already
    /// acknowledged (`prev_log_index = match_index`), so it never collides
    /// with entries in flight and carries `leader_commit` safely. In `Probe`
    /// it is the next probe.
    pub(crate) fn send_heartbeat(&mut self, to: NodeId) {
        let Some(pr) = self.progress(to) else { return };
        if pr.state == ReplicationState::Probe {
            self.send_append(to, AppendKind::Probe);
            return;
        }
        // Waiting for a snapshot, the heartbeat asks whether it arrived.
        let at = pr.pending_snapshot().unwrap_or(pr.match_index);
        let (prev_log_index, prev_log_term) = match self.log.term(at) {
            Some(term) => (at, term),
            None => (0, 0),
        };
        let body = Body::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries: Vec::new(),
            leader_commit: self.commit_index,
            round: self.open_round().unwrap_or(0),
        };
        let leader_commit = self.commit_index;
        self.send(to, body);
        let now = self.now;
        if let Some(pr) = self.progress_mut(to) {
            pr.last_sent_at = now;
            pr.commit_sent = leader_commit;
        }
    }

    /// The commit index advanced: followers that could apply more with it
    /// hear it now rather than with the next heartbeat (as etcd's
    /// `bcastAppend` on commit). Called once per `ready`, so one message per
    /// follower covers every commit of a turn; a follower that just got new
    /// entries already has it.
    pub(crate) fn announce_commit(&mut self) {
        let peers = self.followers();
        for peer in peers {
            let Some(pr) = self.progress(peer) else { continue };
            let useful = pr.commit_sent < self.commit_index.min(pr.match_index);
            if useful && pr.state == ReplicationState::Replicate {
                self.send_heartbeat(peer);
            }
        }
    }

    /// Proposals arrived: each follower that is not paused gets them.
    pub(crate) fn send_new_entries(&mut self) {
        let peers = self.followers();
        for peer in peers {
            self.send_append(peer, AppendKind::Entries);
        }
    }

    /// Sends `to` an AppendEntries at its `next_index` (entries bounded by
    /// the byte budget), unless flow control pauses it.
    pub(crate) fn send_append(&mut self, to: NodeId, kind: AppendKind) {
        let Some(pr) = self.progress(to) else { return };
        if pr.is_paused(self.config.max_inflight_appends) {
            return;
        }
        if self.needs_snapshot(pr.next_index) {
            return self.send_snapshot(to);
        }
        let prev_log_index = pr.next_index - 1;
        let Some(prev_log_term) = self.log.term(prev_log_index) else { return };
        let entries = match kind {
            AppendKind::EmptyProbe => Vec::new(),
            _ => self.log.entries_from(pr.next_index, self.config.max_append_bytes),
        };
        if entries.is_empty() && kind == AppendKind::Entries {
            return;
        }
        let last_index = prev_log_index + entries.len() as u64;
        let carried_entries = !entries.is_empty();
        let entry_bytes: usize = entries.iter().map(|e| e.data.len() + crate::ENTRY_OVERHEAD_BYTES).sum();
        let oversized = entry_bytes > self.config.max_append_bytes;
        let unacked = entry_bytes <= self.config.unacked_append_bytes;
        let leader_commit = self.commit_index;
        let round = self.open_round().unwrap_or(0);
        self.send(to, Body::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit, round });
        let now = self.now;
        if let Some(pr) = self.progress_mut(to) {
            pr.on_sent(last_index, carried_entries, (oversized, unacked), leader_commit, now);
        }
    }
}
