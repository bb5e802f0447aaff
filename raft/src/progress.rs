//! Figure 2 "Volatile state on leaders": `nextIndex[]` and `matchIndex[]`,
//! plus the flow control that decides when a follower is sent entries again.

use std::collections::VecDeque;

/// How the leader currently talks to one follower (etcd's `StateProbe` /
/// `StateReplicate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationState {
    /// Where the follower's log matches ours is unknown: one AppendEntries
    /// at a time, each answer moves `next_index` (§5.3 backoff).
    Probe,
    /// The follower accepted an AppendEntries: entries stream out
    /// optimistically, up to `max_inflight_appends` unanswered.
    Replicate,
    /// The follower needs entries the leader compacted: it is being sent
    /// the snapshot through `index`, and nothing else until it has it.
    Snapshot { index: u64 },
}

/// The leader's view of one follower.
/// An AppendEntries with entries, sent and not yet answered.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    last_index: u64,
    sent_at: u64,
    /// Small enough that the driver's transport does not retransmit it
    /// (`Config::unacked_append_bytes`).
    unacked: bool,
}

#[derive(Clone, Debug)]
pub struct Progress {
    /// "index of the next log entry to send to that server".
    pub next_index: u64,
    /// "index of highest log entry known to be replicated on server".
    pub match_index: u64,
    pub state: ReplicationState,
    /// Replicate: last index and send time (ticks) of each unanswered
    /// AppendEntries that carried entries, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Probe: send time of the unanswered probe, if one is out. Snapshot:
    /// when the InstallSnapshot was sent.
    probe_sent_at: Option<u64>,
    /// When a message that arrives quickly (no entries beyond the batch
    /// budget) was last sent to this follower: heartbeats are due an
    /// interval after it.
    pub last_sent_at: u64,
    /// The `leader_commit` of the last AppendEntries sent.
    pub commit_sent: u64,
    /// Heard from since the last quorum check (CheckQuorum).
    pub recent_active: bool,
    /// Rejections saying the follower's log ends before `match_index`,
    /// since its last success.
    short_log_rejections: u32,
}

/// Rejections below the match index, in a row, that make the leader take
/// the follower's log as lost: one or two are delayed answers.
pub const SHORT_LOG_REJECTIONS: u32 = 3;

impl Progress {
    /// A new leader knows nothing of the follower: it starts from its own
    /// last index + 1 (Figure 2, "Reinitialized after election").
    pub fn new(next_index: u64, now: u64) -> Progress {
        Progress {
            next_index,
            match_index: 0,
            state: ReplicationState::Probe,
            in_flight: VecDeque::new(),
            probe_sent_at: None,
            last_sent_at: now,
            commit_sent: 0,
            recent_active: true,
            short_log_rejections: 0,
        }
    }

    /// True while probing with a probe unanswered: a repeat of it goes
    /// without entries, since the follower is probably unreachable.
    pub fn probe_is_out(&self) -> bool {
        self.probe_sent_at.is_some()
    }

    /// True when nothing more may be sent before an answer or a timeout.
    pub fn is_paused(&self, max_in_flight: usize) -> bool {
        match self.state {
            ReplicationState::Probe => self.probe_sent_at.is_some(),
            ReplicationState::Replicate => self.in_flight.len() >= max_in_flight,
            ReplicationState::Snapshot { .. } => true,
        }
    }

    /// The snapshot through `index` is on its way (sent at `now`). It does
    /// not stand in for a heartbeat: the driver may take long to stream it,
    /// and the follower must not time out meanwhile.
    pub fn become_snapshot(&mut self, index: u64, now: u64) {
        self.state = ReplicationState::Snapshot { index };
        self.in_flight.clear();
        self.probe_sent_at = Some(now);
    }

    /// Records an AppendEntries sent at `now` whose last entry is
    /// `last_index` (`next_index - 1` when it carried none). One carrying
    /// a single entry larger than the batch budget (`oversized`) may take
    /// long to arrive, so it does not stand in for a heartbeat: behind a
    /// megabyte entry on a busy link the follower would time out.
    pub fn on_sent(
        &mut self,
        last_index: u64,
        carried_entries: bool,
        (oversized, unacked): (bool, bool),
        leader_commit: u64,
        now: u64,
    ) {
        if !oversized {
            self.last_sent_at = now;
        }
        self.commit_sent = leader_commit;
        match self.state {
            ReplicationState::Probe => self.probe_sent_at = Some(now),
            ReplicationState::Replicate if carried_entries => {
                self.next_index = last_index + 1;
                self.in_flight.push_back(InFlight { last_index, sent_at: now, unacked });
            }
            ReplicationState::Replicate | ReplicationState::Snapshot { .. } => {}
        }
    }

    /// The follower holds our log up to `match_index`. Returns whether it
    /// told us something new.
    pub fn on_success(&mut self, match_index: u64) -> bool {
        let advanced = match_index > self.match_index;
        self.short_log_rejections = 0;
        self.match_index = self.match_index.max(match_index);
        self.next_index = self.next_index.max(self.match_index + 1);
        match self.state {
            // Streaming resumes right after what the follower holds (etcd's
            // `BecomeReplicate`), not at the probe's index: the answer may
            // be an old one (a lost probe, a delayed acknowledgement), and
            // with nothing in flight the gap between them would never be
            // sent, since heartbeats at `match_index` succeed.
            ReplicationState::Probe => self.become_replicate(),
            ReplicationState::Replicate => {
                self.in_flight.retain(|f| f.last_index > self.match_index);
            }
            // Only an answer covering the snapshot ends the wait (the
            // follower installed it, or had it): replicate after it.
            ReplicationState::Snapshot { index } if self.match_index >= index => self.become_replicate(),
            ReplicationState::Snapshot { .. } => {}
        }
        advanced
    }

    /// Streams entries from right after `match_index`, nothing in flight.
    fn become_replicate(&mut self) {
        self.state = ReplicationState::Replicate;
        self.next_index = self.match_index + 1;
        self.probe_sent_at = None;
        self.in_flight.clear();
    }

    /// A rejection of the AppendEntries with `prev_log_index ==
    /// rejected_index` is stale when we have moved past it since.
    pub fn is_stale_rejection(&self, rejected_index: u64) -> bool {
        match self.state {
            ReplicationState::Probe => rejected_index + 1 != self.next_index,
            ReplicationState::Replicate => rejected_index <= self.match_index,
            // A heartbeat's rejection: the snapshot has not arrived yet.
            ReplicationState::Snapshot { .. } => true,
        }
    }

    /// The follower says it holds at most `last_index`, less than it
    /// acknowledged. After [`SHORT_LOG_REJECTIONS`] such answers without a
    /// success between them the leader believes it.
    pub fn on_short_log_rejection(&mut self, last_index: u64) {
        self.short_log_rejections += 1;
        if self.short_log_rejections >= SHORT_LOG_REJECTIONS {
            self.short_log_rejections = 0;
            self.match_index = self.match_index.min(last_index);
            self.in_flight.clear();
        }
    }

    /// Back to probing from `next_index` (after a rejection or a loss).
    pub fn probe_from(&mut self, next_index: u64) {
        self.state = ReplicationState::Probe;
        self.next_index = next_index.max(self.match_index + 1);
        self.in_flight.clear();
        self.probe_sent_at = None;
    }

    /// The leader clock value at which `tick_heartbeats` next has something
    /// to do for this follower: a heartbeat, or a resend of what is
    /// unanswered (see [`Progress::is_overdue`]).
    pub fn next_due(&self, interval: u64, resend: u64) -> u64 {
        let heartbeat = self.last_sent_at + interval;
        match self.unanswered_since() {
            Some(at) => heartbeat.min(at + self.resend_after(interval, resend)),
            None => heartbeat,
        }
    }

    /// True when what was sent has gone unanswered too long and is taken as
    /// lost: a probe after a heartbeat `interval` (it is repeated empty,
    /// which costs nothing), entries in flight after `resend` ticks (a
    /// driver whose transport retransmits by itself makes that longer, so a
    /// large entry that is merely slow is not sent twice).
    pub fn is_overdue(&self, now: u64, interval: u64, resend: u64) -> bool {
        self.unanswered_since()
            .is_some_and(|at| now.saturating_sub(at) >= self.resend_after(interval, resend))
    }

    fn unanswered_since(&self) -> Option<u64> {
        match self.state {
            ReplicationState::Probe | ReplicationState::Snapshot { .. } => self.probe_sent_at,
            ReplicationState::Replicate => self.in_flight.front().map(|f| f.sent_at),
        }
    }

    fn resend_after(&self, interval: u64, resend: u64) -> u64 {
        match self.state {
            ReplicationState::Probe => interval,
            // Nothing but the core resends it.
            ReplicationState::Replicate if self.in_flight.front().is_some_and(|f| f.unacked) => interval,
            // A snapshot is repeated as seldom as a batch of entries: the
            // driver may still be streaming it.
            ReplicationState::Replicate | ReplicationState::Snapshot { .. } => resend,
        }
    }
}
