//! The node's logic for one member, without I/O: the Raft core, the state
//! machine, the clients waiting for their entries, and the order in which a
//! turn's work must be done. The event loop (`server/event_loop.rs`) drives
//! it with the WAL, a UDP socket and a clock; the simulator in the `tests`
//! crate drives the same code with a simulated disk, network and clock, and
//! can crash the member between any two steps of a turn.
//!
//! A driver feeds inputs ([`Member::tick`], [`Member::step`],
//! [`Member::on_request`], [`Member::propose`]) and then polls
//! [`Member::poll`] until it says [`Action::Idle`], doing what each action
//! asks before polling again:
//!
//! ```text
//! loop {
//!     match member.poll() {
//!         Action::Write(writes, id) => storage.write(&writes)?, // not yet durable
//!         Action::Send(messages) => send each,  // votes and acks only once durable
//!         Action::Reply(replies) => answer each, // entries applied first
//!         Action::RoleChanged { change, abandoned } => log it, answer each,
//!         Action::Transfer(parts) => send each (snapshot chunks and acks),
//!         Action::Membership(m) => update whom the network reaches,
//!         Action::WriteSnapshot(job) => write it (anywhere), then
//!             member.snapshot_written(outcome) and compact the WAL,
//!         Action::Failed(why) => stop the member,
//!         Action::Idle => break,
//!     }
//! }
//! // and whenever a sync covering writes up to `id` completed (at once, or
//! // later on another thread while inputs go on): member.synced(id)
//! ```
//!
//! The order lives here, not in the drivers: a leader's AppendEntries go
//! out while its own write is in progress, votes and acknowledgements only
//! once the writes behind them are durable (`writes.rs`), and a client is
//! answered only after its entry is applied. A simulated driver lets
//! virtual time pass between two polls and can crash the member there.
//! Inputs wait while a turn is in progress (the event loop handles them
//! between turns), not while a sync is.

mod admin;
mod backup;
pub mod config_frame;
pub mod lease;
mod reads;

pub use reads::ReadCounts;
mod requests;
pub mod snapshot_store;
pub mod transfer;
mod writes;

pub use writes::WriteId;

use raft::{Message, Raft, Role};

use crate::proto::Reply;
use lease::Lease;
use reads::Reads;
use requests::Requests;
use snapshot_store::{SnapshotJob, SnapshotPart, SnapshotPolicy, SnapshotSource, SnapshotStore};
use transfer::Senders;
use writes::Writes;

/// What the log's committed entries are applied to.
pub trait StateMachine: Send + 'static {
    /// Applies the entry at `index`. `data` is never empty: no-op entries
    /// (a new leader's) are skipped. Returns the reply for the client that
    /// proposed it (ignored for entries proposed with [`Member::propose`]).
    /// `data` is shared with the log; a state machine should copy what it
    /// keeps (a slice would pin the log's buffers after compaction).
    fn apply(&mut self, index: u64, data: &bytes::Bytes) -> Vec<u8>;

    /// Answers a read-only `query` from the state as applied so far (a
    /// read that does not go through the log: `member/reads.rs` decides
    /// when the state is fresh enough). The default knows no queries.
    fn query(&self, query: &[u8]) -> Vec<u8> {
        let _ = query;
        Vec::new()
    }

    /// A consistent view of the state after the last applied entry, cheap
    /// to take: it is written out while the state machine goes on. The
    /// default has no data (for state machines that never snapshot: run
    /// them with [`SnapshotPolicy::NEVER`]).
    fn snapshot(&self) -> Box<dyn SnapshotSource> {
        Box::new(NoData)
    }

    /// Replaces the whole state with a snapshot's, read from `data`.
    fn restore(&mut self, data: &mut dyn std::io::Read) -> Result<(), String> {
        let _ = data;
        Err("this state machine cannot restore snapshots".into())
    }
}

struct NoData;

impl SnapshotSource for NoData {
    fn write_to(self: Box<Self>, _out: &mut dyn std::io::Write) -> std::io::Result<()> {
        Ok(())
    }
}

/// An answer for a client, to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientReply {
    pub client: u64,
    pub seq: u64,
    pub reply: Reply,
}

/// One member's Raft core, state machine and waiting clients.
pub struct Member {
    raft: Raft,
    sm: Box<dyn StateMachine>,
    requests: Requests,
    /// Client reads outside the log, and the lease (`reads.rs`).
    reads: Reads,
    /// Index of the last entry the state machine has applied (the core's own
    /// `applied_index` counts what it handed out, one step earlier).
    applied_index: u64,
    /// Role and term at the end of the last turn.
    last_seen: (Role, u64),
    /// This member has been in a configuration in force (it is not one
    /// still waiting to be added): once it is no longer in one that
    /// committed, it was removed.
    was_member: bool,
    phase: Phase,
    snapshots: Snapshots,
    /// Writes in progress and the messages that wait for them.
    writes: Writes,
}

/// The member's snapshot state.
struct Snapshots {
    store: Box<dyn SnapshotStore>,
    policy: SnapshotPolicy,
    senders: Senders,
    receiver: transfer::Receiver,
    /// Chunks and acknowledgements to send.
    parts: Vec<(u64, SnapshotPart)>,
    /// A snapshot to hand to the driver, and the one it is writing.
    job: Option<SnapshotJob>,
    writing: Option<raft::SnapshotMeta>,
    /// Entries and data bytes applied since the last snapshot.
    since: (u64, u64),
    /// The configurations read from the first chunks of the last few
    /// snapshots being received.
    incoming_memberships: Vec<(raft::SnapshotMeta, raft::Membership)>,
    /// What the metrics count of snapshots.
    counts: SnapshotCounts,
    /// A backup asked for a snapshot now, the policy aside.
    forced: bool,
}

/// Restore times kept for a driver that does not take them.
const MAX_RESTORE_TIMES: usize = 16;

/// Snapshots sent and received whole, and how long restores took (taken
/// by the driver for its metrics).
#[derive(Debug, Default, Clone)]
pub struct SnapshotCounts {
    pub sent: u64,
    pub received: u64,
    pub restores: Vec<std::time::Duration>,
}

/// A role or term change seen at the end of a turn, for the driver's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChange {
    pub role: Role,
    pub term: u64,
    pub leader: Option<u64>,
}

/// What the driver must do next.
#[derive(Debug)]
#[must_use = "an action must be done before polling again"]
pub enum Action {
    /// Write `hard_state`, the snapshot's log replacement and `entries`,
    /// in order after every earlier write; they need not be durable when
    /// the driver polls again. Syncs make writes durable in order (one
    /// covers all written before it); report each with
    /// [`Member::synced`]. An entry at index i replaces every persisted
    /// entry from i on. The other fields are empty.
    Write(raft::Ready, WriteId),
    /// Hand these messages to the network.
    Send(Vec<Message>),
    /// Answer these clients (their entries are applied).
    Reply(Vec<ClientReply>),
    /// Send these snapshot chunks and acknowledgements.
    Transfer(Vec<(u64, SnapshotPart)>),
    /// The configuration in force changed (before the messages of the
    /// same turn go out): reach its members at their addresses (an empty
    /// one: the driver's bootstrap address for that id), and no others.
    Membership(raft::Membership),
    /// Write this snapshot durably, then report with
    /// [`Member::snapshot_written`].
    WriteSnapshot(SnapshotJob),
    /// The member cannot go on (a snapshot it must install or restore
    /// cannot be read); stop it.
    Failed(snapshot_store::SnapshotError),
    /// The role or term changed; the clients waiting on entries a new
    /// leader may replace are told to ask elsewhere.
    RoleChanged { change: RoleChange, abandoned: Vec<ClientReply> },
    /// Nothing to do until the next input.
    Idle,
}

/// Where the member is in a turn (one `Ready` being worked off).
#[derive(Debug, Default)]
enum Phase {
    #[default]
    Idle,
    /// Its writes were handed out; the messages that may go and the
    /// committed entries wait.
    Persisting(raft::Ready),
    /// Its messages were handed out; the committed entries wait.
    Sending(raft::Ready),
}

impl Member {
    /// A member that never takes a snapshot and holds none.
    pub fn new(raft: Raft, sm: Box<dyn StateMachine>) -> Member {
        Member::with_snapshots(raft, sm, Box::new(snapshot_store::NoSnapshots), SnapshotPolicy::NEVER)
    }

    /// A member whose snapshots live in `store`, taken by `policy`. `sm`
    /// must already hold the store's current snapshot, the one `raft` was
    /// restored with.
    pub fn with_snapshots(
        raft: Raft,
        sm: Box<dyn StateMachine>,
        store: Box<dyn SnapshotStore>,
        policy: SnapshotPolicy,
    ) -> Member {
        let last_seen = (raft.role(), raft.current_term());
        let snapshots = Snapshots {
            store,
            policy,
            senders: Senders::default(),
            receiver: transfer::Receiver::default(),
            parts: Vec::new(),
            job: None,
            writing: None,
            since: (0, 0),
            incoming_memberships: Vec::new(),
            counts: SnapshotCounts::default(),
            forced: false,
        };
        let applied_index = raft.status().applied_index;
        let was_member = storage_names(&raft, raft.id());
        Member {
            raft,
            sm,
            requests: Requests::default(),
            reads: Reads::new(Lease::new(Box::new(lease::BootClock), None)),
            applied_index,
            last_seen,
            was_member,
            phase: Phase::Idle,
            snapshots,
            writes: Writes::default(),
        }
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Serves lease reads for `duration` after a round a majority
    /// answered, on `clock` (see `lease.rs`); the core's
    /// `Config::lease_reads` must be on.
    pub fn set_lease(&mut self, clock: Box<dyn lease::Clock>, duration: std::time::Duration) {
        self.reads.lease = Lease::new(clock, Some(duration));
    }

    /// Snapshots sent and received so far; the restore times since the
    /// last call.
    pub fn take_snapshot_counts(&mut self) -> SnapshotCounts {
        let counts = &mut self.snapshots.counts;
        SnapshotCounts {
            sent: counts.sent,
            received: counts.received,
            restores: std::mem::take(&mut counts.restores),
        }
    }

    /// Snapshot transfers send at most `bytes_per_tick` together
    /// (`u64::MAX`: no limit; see `transfer/`).
    pub fn set_snapshot_send_rate(&mut self, bytes_per_tick: u64) {
        self.snapshots.senders.set_rate(bytes_per_tick);
    }

    /// The core's status, with the index the state machine has applied.
    pub fn status(&self) -> raft::Status {
        let mut s = self.raft.status();
        s.applied_index = self.applied_index;
        s
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// A sync completed that covers every write up to `id`: the messages
    /// waiting for them go at the next poll, and a leader counts its log
    /// that far toward a majority.
    pub fn synced(&mut self, id: WriteId) {
        if let Some(mark) = self.writes.durable(id) {
            self.raft.persisted(mark);
        }
    }

    /// Writes handed out and not yet reported durable.
    pub fn writes_in_progress(&self) -> usize {
        self.writes.in_progress()
    }

    /// Bytes of the log the core holds (each entry's data with its
    /// framing) and its hard state: the lab's "persisted Raft state", the
    /// snapshot not included.
    pub fn raft_state_bytes(&self) -> usize {
        let log = self.raft.log();
        raft_state_bytes(log.slice(log.first_index(), log.last_index()))
    }

    pub fn tick(&mut self) {
        self.raft.tick();
        let redirect = self.redirect();
        self.reads.tick(&redirect);
        let mut out = transfer::SendOutcome::default();
        self.snapshots.senders.tick(&mut out);
        self.send_outcome(out);
    }

    /// A Raft message that arrived from transport peer `from`. Refused when
    /// it claims another sender than the one the transport authenticated, or
    /// comes from a client id, or the core refuses it.
    pub fn step(&mut self, from: u64, msg: Message) -> Result<(), raft::StepError> {
        if msg.from != from || from >= net::CLIENT_ID_MIN {
            return Err(raft::StepError::UnknownSender(from));
        }
        self.raft.step(msg)
    }

    /// Raw proposal (the lab's `Start()`): the index and term it will commit
    /// at, if this member leads.
    pub fn propose(&mut self, data: Vec<u8>) -> Option<(u64, u64)> {
        self.raft.propose(data).ok()
    }

    /// A client's command: proposed if we lead (the answer follows its
    /// apply), else refused at once with the returned reply.
    pub fn on_request(&mut self, client: u64, seq: u64, command: Vec<u8>) -> Option<ClientReply> {
        if command.is_empty() {
            return None; // empty entries are no-ops; nothing to answer with
        }
        let reply = match self.raft.propose(command) {
            Ok((index, term)) => {
                tracing::debug!(target: "client", client, seq, index, "proposed");
                self.requests.insert(index, term, client, seq);
                return None;
            }
            Err(raft::ProposeError::NotLeader { .. }) => self.redirect(),
            Err(raft::ProposeError::TooLarge { bytes, max }) => {
                Reply::TooLarge { bytes: bytes as u64, max: max as u64 }
            }
            Err(raft::ProposeError::Busy { .. }) => Reply::Busy,
            // The new leader takes it in a moment; the client retries.
            Err(raft::ProposeError::Transferring { .. }) => Reply::Busy,
        };
        tracing::debug!(target: "client", client, seq, ?reply, "refused");
        Some(ClientReply { client, seq, reply })
    }

    /// "Not the leader": who leads, if we know, and its address when the
    /// configuration records one. A member outside its configuration (one
    /// removed, or not added yet) names nobody: what it knows of the
    /// leader may be long stale, and two removed members could send a
    /// client back and forth between them.
    pub fn redirect(&self) -> Reply {
        let leader_hint = self.raft.leader_id().filter(|_| self.raft.is_member(self.raft.id()));
        let address = leader_hint.and_then(|l| self.raft.membership().address(l)).filter(|a| !a.is_empty());
        Reply::NotLeader { leader_hint, leader_addr: address.map(str::to_owned) }
    }

    /// True while a turn is in progress: poll until [`Action::Idle`]
    /// before giving the member another input.
    pub fn in_turn(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// The next thing to do; see the module docs.
    pub fn poll(&mut self) -> Action {
        match std::mem::take(&mut self.phase) {
            Phase::Idle => self.between_turns(),
            Phase::Persisting(mut ready) => {
                if let Some(membership) = ready.membership.take() {
                    self.was_member |= membership.contains(self.raft.id());
                    self.phase = Phase::Persisting(ready);
                    return Action::Membership(membership);
                }
                let messages = self.take_snapshot_requests(std::mem::take(&mut ready.messages));
                self.phase = Phase::Sending(ready);
                if messages.is_empty() {
                    return self.poll();
                }
                Action::Send(messages)
            }
            Phase::Sending(ready) => {
                let mut replies = Vec::new();
                if let Some(install) = &ready.snapshot {
                    let started = std::time::Instant::now();
                    let restored = self.restore(install.snapshot);
                    let restores = &mut self.snapshots.counts.restores;
                    if restores.len() >= MAX_RESTORE_TIMES {
                        restores.remove(0);
                    }
                    restores.push(started.elapsed());
                    match restored {
                        Ok(forgotten) => replies = forgotten,
                        Err(e) => return Action::Failed(e),
                    }
                }
                replies.extend(self.apply(ready.committed_entries));
                replies.extend(self.serve_reads(ready.read_states));
                self.maybe_snapshot();
                if replies.is_empty() {
                    return self.poll();
                }
                Action::Reply(replies)
            }
        }
    }

    /// Work outside a turn (chunks to send, a snapshot to write), then the
    /// next turn.
    fn between_turns(&mut self) -> Action {
        if self.writes.has_released() {
            return Action::Send(self.writes.take_released());
        }
        if !self.snapshots.parts.is_empty() {
            return Action::Transfer(std::mem::take(&mut self.snapshots.parts));
        }
        if self.reads.has_refused() {
            return Action::Reply(self.reads.take_refused());
        }
        if let Some(job) = self.snapshots.job.take() {
            return Action::WriteSnapshot(job);
        }
        self.start_turn()
    }

    /// Takes the core's next `Ready` and hands out its writes; or, when
    /// there is none, ends the turn.
    fn start_turn(&mut self) -> Action {
        if !self.raft.has_ready() {
            return self.end_turn();
        }
        self.reads.lease.note_round(self.raft.open_round());
        let mut ready = self.raft.ready();
        if let Some(install) = &ready.snapshot {
            // The received data is durable already; it becomes current
            // before the driver drops the log it replaces.
            if let Err(e) = self.snapshots.store.install(install.snapshot) {
                return Action::Failed(snapshot_store::SnapshotError::Install(e));
            }
        }
        let writes = raft::Ready {
            hard_state: ready.hard_state.take(),
            snapshot: ready.snapshot.clone(),
            entries: std::mem::take(&mut ready.entries),
            ..raft::Ready::default()
        };
        let early = ready.take_early_messages();
        let held = std::mem::replace(&mut ready.messages, early);
        if writes.is_empty() {
            let now = self.writes.hold(held);
            ready.messages.extend(now);
            self.phase = Phase::Persisting(ready);
            return self.poll();
        }
        let id = self.writes.begin(ready.mark, held);
        self.phase = Phase::Persisting(ready);
        Action::Write(writes, id)
    }

    /// Applies committed entries in order; the replies for the clients
    /// whose entries they are.
    fn apply(&mut self, committed: Vec<raft::Entry>) -> Vec<ClientReply> {
        let mut replies = Vec::new();
        for entry in committed {
            // No-op entries (a new leader's) and configurations are not the
            // state machine's business; an operator waits on the latter.
            let command = entry.kind == raft::EntryKind::Normal && !entry.data.is_empty();
            let reply = match command {
                true => Some(self.sm.apply(entry.index, &entry.data)),
                false => (entry.kind == raft::EntryKind::Membership).then(Vec::new),
            };
            self.applied_index = entry.index;
            self.snapshots.since.0 += 1;
            self.snapshots.since.1 += entry.data.len() as u64;
            if let (Some(reply), Some((client, seq))) =
                (reply, self.requests.applied(entry.index, entry.term))
            {
                tracing::debug!(target: "client", client, seq, index = entry.index, "applied, answering");
                replies.push(ClientReply { client, seq, reply: Reply::Applied(reply) });
            }
        }
        replies
    }

    /// No more work: if the role or term changed, says so and abandons the
    /// clients waiting on entries a new leader may replace. Entries proposed
    /// in an earlier term may still commit under the new leader; their
    /// clients retry there and the state machine's sessions apply each
    /// command once.
    fn end_turn(&mut self) -> Action {
        let (role, term, leader) = (self.raft.role(), self.raft.current_term(), self.raft.leader_id());
        if (role, term) == self.last_seen {
            return Action::Idle;
        }
        self.last_seen = (role, term);
        if role != Role::Leader {
            self.snapshots.senders.clear();
        }
        let keep_term = (role == Role::Leader).then_some(term);
        let redirect = self.redirect();
        let abandoned = self.requests.abandon(&redirect, keep_term);
        let mut abandoned: Vec<ClientReply> =
            abandoned.into_iter().map(|(client, seq, reply)| ClientReply { client, seq, reply }).collect();
        self.reads.abandon(&redirect);
        abandoned.extend(self.reads.take_refused());
        Action::RoleChanged { change: RoleChange { role, term, leader }, abandoned }
    }
}

mod snapshot_flows;
#[cfg(test)]
mod tests;

/// The lab's "persisted Raft state" of a log holding `entries`: the hard
/// state (16 bytes) and each entry's data with its framing.
pub fn raft_state_bytes(entries: &[raft::Entry]) -> usize {
    16 + entries.iter().map(|e| e.data.len() + raft::ENTRY_OVERHEAD_BYTES).sum::<usize>()
}

/// True when a configuration the core restored names `id`: the one at its
/// snapshot (the bootstrap one without a snapshot) or one in its log. A
/// member restarted after its removal reached it is then known to have
/// been a member, not one still waiting to be added.
fn storage_names(raft: &Raft, id: raft::NodeId) -> bool {
    let log = raft.log();
    let at_snapshot = log.membership_at(log.snapshot().index).is_some_and(|m| m.contains(id));
    let entries = log.slice(log.first_index(), log.last_index()).iter();
    at_snapshot || entries.filter_map(raft::Entry::as_membership).any(|m| m.contains(id))
}
