//! Figure 2 "Rules for Servers": the `Raft` state machine, its inputs
//! (`tick`, `step`, `propose`) and its output (`ready` / `advance`).
//!
//! The rules of each role live in their own files: `election.rs` (followers
//! and candidates, RequestVote), `replication.rs` (AppendEntries, both
//! sides), `commit.rs` (the leader's commit rule and apply).

use std::collections::BTreeMap;

use rand::{Rng, RngCore};

use crate::log::RaftLog;
use crate::progress::Progress;
use crate::role::{Leader, RoleState};
use crate::{Body, Config, ConfigError, HardState, Message, NodeId, Persisted, Ready, SnapshotInstall};

/// The role of a server (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Follower,
    /// Asking for pre-votes (thesis §9.6), at the term it has: a follower
    /// in all but name, which becomes a candidate once a majority would
    /// vote for it.
    PreCandidate,
    Candidate,
    Leader,
}

/// A proposal the core refused; nothing was appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Only the leader takes proposals.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The leader of the current term, if this server has heard from it.
        leader_hint: Option<NodeId>,
    },
    /// Leadership is being handed to `target` (§3.10); retry there.
    #[error("transferring leadership to {target}")]
    Transferring { target: NodeId },
    /// The data is larger than [`Config::max_entry_bytes`].
    #[error("entry too large: {bytes} bytes (at most {max})")]
    TooLarge { bytes: usize, max: usize },
    /// The leader's uncommitted entries already hold
    /// [`Config::max_uncommitted_bytes`]: retry once some commit.
    #[error("busy: {uncommitted_bytes} bytes uncommitted (at most {max})")]
    Busy { uncommitted_bytes: usize, max: usize },
}

/// A message the core refused. None of these change any state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("message for member {to} delivered to member {me}")]
    NotForMe { to: NodeId, me: NodeId },
    /// A message claiming to come from this member itself. Messages from
    /// ids outside the configuration are taken (thesis §4.1: "servers
    /// process incoming RPC requests without consulting their current
    /// configurations"): a new member hears from a leader it does not know
    /// yet, and a removed one is answered rather than ignored.
    #[error("message from {0}, which cannot be another member (our own id, or a client's)")]
    UnknownSender(NodeId),
    #[error("malformed message from {from}: {reason}")]
    Malformed { from: NodeId, reason: &'static str },
}

/// Persisted state that breaks the core's invariants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("persisted log is not consecutive after its snapshot (entry {position} has index {index})")]
    Gap { position: usize, index: u64 },
    #[error("persisted log terms go backwards at index {0}")]
    TermsDecrease(u64),
    #[error("persisted log entry {0} has term 0, which only the empty prefix has")]
    TermZero(u64),
    #[error("persisted log has term {log_term}, newer than the persisted current term {current_term}")]
    TermAhead { log_term: u64, current_term: u64 },
    #[error("persisted snapshot at index {index} has term {term}: index 0 is the empty prefix of term 0 and every entry has a term of at least 1")]
    SnapshotTerm { index: u64, term: u64 },
    #[error("persisted snapshot at index {0} is above the largest index {max}", max = crate::MAX_INDEX)]
    IndexTooLarge(u64),
    #[error("persisted membership entry {0} is not a well-formed configuration")]
    BadMembership(u64),
    #[error(
        "the configuration stored with the snapshot is not well formed (no voter, id 0, or a member twice)"
    )]
    BadSnapshotMembership,
}

/// A compaction the core refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// A snapshot may only cover entries the state machine was handed.
    #[error("cannot compact through index {index}: only {applied} is applied")]
    NotApplied { index: u64, applied: u64 },
    /// A snapshot records the configuration in force at its index; a
    /// member that joined knows none before the entry that added it.
    #[error("cannot compact through index {index}: the configuration in force there is not known (this member joined after it)")]
    UnknownConfiguration { index: u64 },
}

/// A read-only summary of a server, for status pages and test harnesses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub current_term: u64,
    pub voted_for: Option<NodeId>,
    pub leader_id: Option<NodeId>,
    pub commit_index: u64,
    pub last_index: u64,
    pub applied_index: u64,
    /// The last index the log compacted into a snapshot (0: none).
    pub snapshot_index: u64,
}

/// One Raft server: a pure state machine (no I/O, no clock, no threads).
pub struct Raft {
    pub(crate) config: Config,
    pub(crate) rng: Box<dyn RngCore + Send>,
    // Figure 2 "Persistent state on all servers".
    pub(crate) current_term: u64,
    pub(crate) voted_for: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) hard_state_changed: bool,
    // Figure 2 "Volatile state on all servers".
    pub(crate) commit_index: u64,
    /// Last index handed out in `Ready::committed_entries`.
    pub(crate) last_applied: u64,
    /// The role, with what only that role has (`role.rs`).
    pub(crate) state: RoleState,
    pub(crate) leader_id: Option<NodeId>,
    /// Ticks since the election timer was last reset (§5.2).
    pub(crate) election_elapsed: u32,
    pub(crate) election_timeout: u32,
    /// Ticks since start: the leader's clock for heartbeats and resends.
    pub(crate) now: u64,
    /// A snapshot installed since the last `ready`, to hand out.
    pub(crate) pending_install: Option<SnapshotInstall>,
    /// The log's membership generation last handed out in a `Ready`.
    pub(crate) membership_announced: u64,
    pub(crate) messages: Vec<Message>,
    /// Reads placed or refused since the last `ready` (`read_index.rs`).
    pub(crate) read_states: Vec<crate::ReadState>,
    /// Lease reads are on and this member has not yet let a minimum
    /// election timeout pass since it started: it refuses to vote as if it
    /// had just heard from a leader (it may have, before a restart).
    pub(crate) start_lease: bool,
    /// What replication cost beyond the entries themselves.
    pub(crate) replication_counters: crate::ReplicationCounters,
}

impl Raft {
    /// A server starting from what it persisted (`Persisted::default()` for
    /// a brand-new one). `rng` draws the election timeouts, so a seeded one
    /// makes runs reproducible.
    pub fn new(
        config: Config,
        persisted: Persisted,
        rng: Box<dyn RngCore + Send>,
    ) -> Result<Raft, RestoreError> {
        config.validate()?;
        let (hard_state, adopted) = adopt_snapshot_term(persisted.hard_state, persisted.snapshot);
        let (snapshot, entries) = check_persisted(persisted.snapshot, persisted.entries, hard_state)?;
        let membership = match persisted.membership {
            Some(m) if !m.is_well_formed() => return Err(RestoreError::BadSnapshotMembership),
            Some(m) => m,
            None => crate::Membership::bootstrap(&config.voters),
        };
        let mut raft = Raft {
            config,
            rng,
            current_term: hard_state.current_term,
            voted_for: hard_state.voted_for,
            log: RaftLog::restore(snapshot, membership, entries),
            hard_state_changed: adopted,
            // A snapshot holds committed entries only, and the service
            // restores its state machine from it.
            commit_index: snapshot.index,
            last_applied: snapshot.index,
            state: RoleState::Follower(Default::default()),
            leader_id: None,
            election_elapsed: 0,
            election_timeout: 0,
            now: 0,
            pending_install: None,
            membership_announced: 0,
            messages: Vec::new(),
            read_states: Vec::new(),
            start_lease: false,
            replication_counters: crate::ReplicationCounters::default(),
        };
        raft.start_lease = raft.config.lease_reads;
        raft.reset_election_timer();
        Ok(raft)
    }

    /// One step of the logical clock.
    pub fn tick(&mut self) {
        self.now += 1;
        match self.role() {
            Role::Leader => {
                self.tick_heartbeats();
                self.tick_check_quorum();
                self.tick_transfer();
            }
            Role::Follower => {
                self.tick_reordered();
                self.tick_election();
            }
            Role::PreCandidate | Role::Candidate => self.tick_election(),
        }
    }

    /// How many `tick` calls may pass before one of them can do anything
    /// (start an election, send a heartbeat or a resend, check the quorum);
    /// at least 1. A driver may sleep that long instead of waking every
    /// tick, provided it makes up the ticks that elapsed before it handles
    /// the next input. Any input can change the answer: ask again after it.
    pub fn ticks_until_due(&self) -> u64 {
        let due = match self.role() {
            Role::Follower | Role::PreCandidate | Role::Candidate => {
                let election = u64::from(self.election_timeout.saturating_sub(self.election_elapsed));
                election.min(self.reordered_due().unwrap_or(u64::MAX))
            }
            Role::Leader => self.leader_ticks_until_due(),
        };
        due.max(1)
    }

    fn leader_ticks_until_due(&self) -> u64 {
        let interval = u64::from(self.config.heartbeat_interval_ticks);
        let resend = u64::from(self.config.resend_ticks);
        let mut due = u64::MAX;
        let Some(leader) = self.leader() else { return due };
        if self.config.check_quorum {
            let period = self.config.election_timeout_max_ticks;
            due = u64::from(period.saturating_sub(leader.quorum_check_elapsed));
        }
        for pr in leader.progress.values() {
            due = due.min(pr.next_due(interval, resend).saturating_sub(self.now));
        }
        due
    }

    /// Feeds one message from another member.
    /// A message refused with an error changes nothing.
    pub fn step(&mut self, msg: Message) -> Result<(), StepError> {
        self.check_sender(&msg)?;
        crate::validate::check_message(&msg)?;
        if msg.term >= self.current_term {
            self.check_against_state(&msg)?;
        }
        if msg.term > self.current_term {
            let disruptive = matches!(
                msg.body,
                Body::RequestVote { leadership_transfer: false, .. } | Body::PreVote { .. }
            );
            if self.in_lease() && disruptive {
                // CheckQuorum's lease: a leader we heard from recently is
                // alive, so a higher-term candidate is disruptive (one-way
                // connectivity, a returning member); drop its request
                // without adopting its term, as etcd does "in lease".
                return Ok(());
            }
            // "If RPC request or response contains term T > currentTerm: set
            // currentTerm = T, convert to follower (§5.1)." Except the
            // term of a pre-vote, which is only a question (§9.6).
            if !is_pre_vote_question(&msg.body) {
                self.become_follower(msg.term, None);
            }
        }
        if msg.term < self.current_term {
            self.answer_stale(&msg);
            return Ok(());
        }
        match msg.body {
            Body::RequestVote { last_log_index, last_log_term, .. } => {
                self.handle_request_vote(msg.from, last_log_index, last_log_term);
            }
            Body::RequestVoteReply { vote_granted } => self.handle_vote_reply(msg.from, vote_granted),
            Body::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit, round } => {
                let request = crate::replication::AppendRequest {
                    from: msg.from,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                    round,
                };
                self.handle_append_entries(request);
            }
            Body::AppendEntriesReply(reply) => self.handle_append_reply(msg.from, reply),
            Body::InstallSnapshot { snapshot, membership } => {
                self.handle_install_snapshot(msg.from, snapshot, membership);
            }
            Body::TimeoutNow => self.handle_timeout_now(msg.from),
            Body::PreVote { last_log_index, last_log_term } => {
                self.handle_pre_vote(msg.from, msg.term, last_log_index, last_log_term);
            }
            Body::PreVoteReply { vote_granted } => {
                self.handle_pre_vote_reply(msg.from, msg.term, vote_granted)
            }
            Body::ReadIndex { ctx } => self.handle_read_index(msg.from, ctx),
            Body::ReadIndexReply { ctx, index } => self.handle_read_index_reply(ctx, index),
        }
        Ok(())
    }

    /// "If command received from client: append entry to local log" (Figure
    /// 2, Leaders). Returns the index and term the entry will commit at, if
    /// it commits. Proposals made between two calls of `ready` go out
    /// together, in one AppendEntries per follower. Refused, with nothing
    /// appended, when this is not the leader, the data is over
    /// `max_entry_bytes`, or the uncommitted budget is spent.
    pub fn propose(&mut self, data: impl Into<bytes::Bytes>) -> Result<(u64, u64), ProposeError> {
        let data = data.into();
        let (max_entry, max_uncommitted) = (self.config.max_entry_bytes, self.config.max_uncommitted_bytes);
        let leader_hint = self.leader_id;
        let Some(leader) = self.leader_mut() else { return Err(ProposeError::NotLeader { leader_hint }) };
        if let Some(t) = &leader.transfer {
            return Err(ProposeError::Transferring { target: t.target });
        }
        if data.len() > max_entry {
            return Err(ProposeError::TooLarge { bytes: data.len(), max: max_entry });
        }
        let uncommitted_bytes = leader.uncommitted_bytes;
        if uncommitted_bytes > 0 && uncommitted_bytes.saturating_add(data.len()) > max_uncommitted {
            return Err(ProposeError::Busy { uncommitted_bytes, max: max_uncommitted });
        }
        leader.uncommitted_bytes += data.len();
        leader.proposals_pending = true;
        let (index, term) = (self.log.last_index() + 1, self.current_term);
        self.log.push(crate::Entry::new(index, term, data));
        Ok((index, term))
    }

    /// True when `ready` would return something to do.
    pub fn has_ready(&self) -> bool {
        self.leader().is_some_and(|l| l.proposals_pending || l.commit_to_announce || l.reads.needs_round())
            || !self.read_states.is_empty()
            || self.hard_state_changed
            || self.pending_install.is_some()
            || self.membership_announced != self.log.membership_generation()
            || self.log.has_unpersisted()
            || !self.messages.is_empty()
            || self.last_applied < self.commit_index
    }

    /// Takes what the driver must do now; see [`Ready`] for the order.
    pub fn ready(&mut self) -> Ready {
        if self.leader_mut().is_some_and(|l| std::mem::take(&mut l.proposals_pending)) {
            self.send_new_entries();
        }
        if self.leader_mut().is_some_and(|l| std::mem::take(&mut l.commit_to_announce)) {
            self.announce_commit();
        }
        self.close_round();
        let hard_state = std::mem::take(&mut self.hard_state_changed).then(|| self.hard_state());
        let committed_entries = self.log.slice(self.last_applied + 1, self.commit_index).to_vec();
        self.last_applied = self.commit_index;
        let generation = self.log.membership_generation();
        let membership = (std::mem::replace(&mut self.membership_announced, generation) != generation)
            .then(|| self.log.membership().clone());
        Ready {
            membership,
            hard_state,
            snapshot: self.pending_install.take(),
            entries: self.log.take_unpersisted(),
            messages: std::mem::take(&mut self.messages),
            committed_entries,
            read_states: std::mem::take(&mut self.read_states),
            mark: self.log.write_mark(),
        }
    }

    /// The driver persisted everything that `ready` handed out so far. A
    /// leader counts its own log toward a quorum only from here on.
    pub fn advance(&mut self) {
        self.log.mark_stable();
        self.maybe_commit();
    }

    /// The writes of the `Ready` that carried `mark`, and all before them,
    /// are durable (for drivers that overlap writes, see [`Ready`]). A
    /// leader counts its own log toward a quorum only as far as this says.
    pub fn persisted(&mut self, mark: crate::WriteMark) {
        self.log.mark_stable_to(mark);
        self.maybe_commit();
    }

    pub fn status(&self) -> Status {
        Status {
            id: self.config.id,
            role: self.role(),
            current_term: self.current_term,
            voted_for: self.voted_for,
            leader_id: self.leader_id,
            commit_index: self.commit_index,
            last_index: self.log.last_index(),
            applied_index: self.last_applied,
            snapshot_index: self.log.snapshot().index,
        }
    }

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// Rejections and probes since start, over every term this member led.
    pub fn replication_counters(&self) -> crate::ReplicationCounters {
        self.replication_counters
    }

    pub fn role(&self) -> Role {
        self.state.role()
    }

    /// The leader's own state, while this member leads.
    pub(crate) fn leader(&self) -> Option<&Leader> {
        match &self.state {
            RoleState::Leader(leader) => Some(leader),
            _ => None,
        }
    }

    pub(crate) fn leader_mut(&mut self) -> Option<&mut Leader> {
        match &mut self.state {
            RoleState::Leader(leader) => Some(leader),
            _ => None,
        }
    }

    /// Leader: what it knows of follower `id`.
    pub(crate) fn progress(&self, id: NodeId) -> Option<&Progress> {
        self.leader()?.progress.get(&id)
    }

    pub(crate) fn progress_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.leader_mut()?.progress.get_mut(&id)
    }

    pub fn current_term(&self) -> u64 {
        self.current_term
    }

    pub fn leader_id(&self) -> Option<NodeId> {
        self.leader_id
    }

    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    pub fn hard_state(&self) -> HardState {
        HardState { current_term: self.current_term, voted_for: self.voted_for }
    }

    /// The log, for inspection.
    pub fn log(&self) -> &RaftLog {
        &self.log
    }

    /// True when `id` is a voter or learner of the configuration in
    /// force (this one included).
    pub fn is_member(&self, id: NodeId) -> bool {
        self.log.membership().contains(id)
    }

    /// The configuration in force: the latest in the log (§4.1).
    pub fn membership(&self) -> &crate::Membership {
        self.log.membership()
    }

    /// The voters other than this member: whom an election asks.
    pub(crate) fn peers(&self) -> Vec<NodeId> {
        let me = self.config.id;
        self.log.membership().voters.keys().copied().filter(|&v| v != me).collect()
    }

    /// Leader: every follower it replicates to, learners included.
    pub(crate) fn followers(&self) -> Vec<NodeId> {
        self.leader().map_or_else(Vec::new, |l| l.progress.keys().copied().collect())
    }

    /// Leader: what each follower holds (its match index), for status
    /// pages: how far a learner has caught up, how far behind a voter is.
    pub fn follower_match(&self) -> BTreeMap<NodeId, u64> {
        let progress = self.leader().map(|l| &l.progress).into_iter().flatten();
        progress.map(|(&id, pr)| (id, pr.match_index)).collect()
    }

    pub(crate) fn send(&mut self, to: NodeId, body: Body) {
        self.send_at(to, self.current_term, body);
    }

    /// Sends with a term other than ours: only pre-votes do (§9.6).
    pub(crate) fn send_at(&mut self, to: NodeId, term: u64, body: Body) {
        let msg = Message { from: self.config.id, to, term, body };
        self.messages.push(msg);
    }

    /// Converts to follower of `term`; a new term forgets the vote.
    /// A follower of the same term stays as it is (with the requests it
    /// holds).
    pub(crate) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        let stays = term <= self.current_term && matches!(self.state, RoleState::Follower(_));
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
            self.hard_state_changed = true;
        }
        if self.leader().is_some() {
            // A leader runs no election timer; start a fresh one.
            self.reset_election_timer();
            self.refuse_reads();
        }
        if !stays {
            self.state = RoleState::Follower(Default::default());
        }
        self.leader_id = leader;
    }

    /// §5.2: a new randomized timeout. Called only when granting a vote,
    /// hearing from the current leader, or starting an election.
    pub(crate) fn reset_election_timer(&mut self) {
        let (min, max) = (self.config.election_timeout_min_ticks, self.config.election_timeout_max_ticks);
        self.election_elapsed = 0;
        self.election_timeout = self.rng.random_range(min..max);
    }

    fn check_sender(&self, msg: &Message) -> Result<(), StepError> {
        if msg.to != self.config.id {
            return Err(StepError::NotForMe { to: msg.to, me: self.config.id });
        }
        if msg.from == self.config.id {
            return Err(StepError::UnknownSender(msg.from));
        }
        Ok(())
    }

    /// Figure 2: requests from an older term are answered `false` with our
    /// term; replies from an older term are dropped.
    fn answer_stale(&mut self, msg: &Message) {
        match msg.body {
            Body::RequestVote { .. } => {
                self.send(msg.from, Body::RequestVoteReply { vote_granted: false });
            }
            Body::PreVote { .. } => self.send(msg.from, Body::PreVoteReply { vote_granted: false }),
            Body::AppendEntries { .. } | Body::InstallSnapshot { .. } => {
                self.send(msg.from, Body::AppendEntriesReply(crate::AppendReply::StaleTerm));
            }
            // Our term tells the follower its leader is stale.
            Body::ReadIndex { ctx } => self.send(msg.from, Body::ReadIndexReply { ctx, index: None }),
            Body::RequestVoteReply { .. }
            | Body::AppendEntriesReply(_)
            | Body::PreVoteReply { .. }
            | Body::TimeoutNow
            | Body::ReadIndexReply { .. } => {}
        }
    }
}

/// A snapshot received from a leader is made durable before the core hears
/// of it (the driver streams it, then steps `InstallSnapshot`). A crash in
/// between leaves a snapshot whose term the persisted hard state may not
/// have reached yet: a member that joined and heard of the cluster only
/// through the snapshot still holds term 0. The snapshot holds committed
/// entries of its term, so that term exists; a member may always adopt a
/// term it has seen, without a vote. Returns the hard state to use and
/// whether it changed (to persist).
fn adopt_snapshot_term(hard_state: HardState, snapshot: crate::SnapshotMeta) -> (HardState, bool) {
    if snapshot.term > hard_state.current_term {
        return (HardState { current_term: snapshot.term, voted_for: None }, true);
    }
    (hard_state, false)
}

/// A pre-vote, or a pre-vote granted: its term is the one the pre-candidate
/// would campaign at, which nobody holds yet. A refusal carries the
/// refuser's real term, which the pre-candidate adopts like any other.
fn is_pre_vote_question(body: &Body) -> bool {
    matches!(body, Body::PreVote { .. } | Body::PreVoteReply { vote_granted: true })
}

/// Checks what storage gave back and returns the snapshot and the entries
/// after it (see [`Persisted::entries`] for the ones skipped).
fn check_persisted(
    snapshot: crate::SnapshotMeta,
    mut entries: Vec<crate::Entry>,
    hard_state: HardState,
) -> Result<(crate::SnapshotMeta, Vec<crate::Entry>), RestoreError> {
    if (snapshot.index == 0) != (snapshot.term == 0) {
        return Err(RestoreError::SnapshotTerm { index: snapshot.index, term: snapshot.term });
    }
    if snapshot.index > crate::MAX_INDEX {
        // No message installs one there (`validate.rs`), and at `u64::MAX`
        // the index after it would overflow.
        return Err(RestoreError::IndexTooLarge(snapshot.index));
    }
    if let Some(at) = entries.iter().position(|e| e.index == snapshot.index && snapshot.index > 0) {
        let replaced = entries[at].term != snapshot.term;
        entries.drain(..=at);
        if replaced {
            entries.clear();
        }
    } else {
        entries.retain(|e| e.index > snapshot.index);
    }
    let mut prev_term = snapshot.term;
    for (position, e) in entries.iter().enumerate() {
        if e.index != snapshot.index + position as u64 + 1 {
            return Err(RestoreError::Gap { position, index: e.index });
        }
        if e.term == 0 {
            return Err(RestoreError::TermZero(e.index));
        }
        if e.kind == crate::EntryKind::Membership && e.as_membership().is_none() {
            return Err(RestoreError::BadMembership(e.index));
        }
        if e.term < prev_term {
            return Err(RestoreError::TermsDecrease(e.index));
        }
        prev_term = e.term;
    }
    if prev_term > hard_state.current_term {
        return Err(RestoreError::TermAhead { log_term: prev_term, current_term: hard_state.current_term });
    }
    Ok((snapshot, entries))
}
