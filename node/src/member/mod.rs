//! The node's logic for one member, without I/O: the Raft core, the state
//! machine, the clients waiting for their entries, and the order in which a
//! turn's work must be done. The event loop (`server/event_loop.rs`) drives
//! it with the WAL, a UDP socket and a clock; the simulator in the `tests`
//! crate drives the same code with a simulated disk, network and clock, and
//! can crash the member between any two steps of a turn.
//!
//! A driver feeds inputs ([`Member::tick`], [`Member::step`],
//! [`Member::on_request`], [`Member::propose`]) and then drains the turns:
//!
//! ```text
//! while let Some(mut turn) = member.next_turn() {
//!     storage.persist(turn.ready())?;          // write, then sync: durable
//!     for msg in turn.take_messages() { send } // only now: votes and acks promise durability
//!     for out in member.apply(turn) { send }   // apply committed entries, answer their clients
//! }
//! for out in member.end_turn() { send }        // a role change abandons waiting clients
//! ```
//!
//! Each step is a separate call so that a crash can fall between any two.

mod requests;

use raft::{Message, Raft, Role};

use crate::proto::Reply;
use requests::Requests;

/// What the log's committed entries are applied to.
pub trait StateMachine: Send + 'static {
    /// Applies the entry at `index`. `data` is never empty: no-op entries
    /// (a new leader's) are skipped. Returns the reply for the client that
    /// proposed it (ignored for entries proposed with [`Member::propose`]).
    /// `data` is shared with the log: a state machine may keep slices of
    /// it instead of copies.
    fn apply(&mut self, index: u64, data: &bytes::Bytes) -> Vec<u8>;
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
    /// Index of the last entry the state machine has applied (the core's own
    /// `applied_index` counts what it handed out, one step earlier).
    applied_index: u64,
    /// Role and term at the end of the last turn.
    last_seen: (Role, u64),
}

/// A role or term change seen at the end of a turn, for the driver's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChange {
    pub role: Role,
    pub term: u64,
    pub leader: Option<u64>,
}

/// One `Ready` in the middle of being worked off: first persisted, then its
/// messages sent, then its committed entries applied by [`Member::apply`].
#[derive(Debug)]
#[must_use = "a turn must be persisted, its messages sent and then applied"]
pub struct Turn {
    ready: raft::Ready,
}

impl Turn {
    /// What to make durable before anything else: the hard state and the
    /// entries (an entry at index i replaces every persisted entry from i on).
    pub fn ready(&self) -> &raft::Ready {
        &self.ready
    }

    /// The messages, to send once the turn's writes are durable.
    pub fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.ready.messages)
    }
}

impl Member {
    pub fn new(raft: Raft, sm: Box<dyn StateMachine>) -> Member {
        let last_seen = (raft.role(), raft.current_term());
        Member { raft, sm, requests: Requests::default(), applied_index: 0, last_seen }
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
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

    pub fn tick(&mut self) {
        self.raft.tick();
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
            Err(raft::ProposeError::NotLeader { leader_hint }) => Reply::NotLeader { leader_hint },
            Err(raft::ProposeError::TooLarge { bytes, max }) => {
                Reply::TooLarge { bytes: bytes as u64, max: max as u64 }
            }
            Err(raft::ProposeError::Busy { .. }) => Reply::Busy,
        };
        tracing::debug!(target: "client", client, seq, ?reply, "refused");
        Some(ClientReply { client, seq, reply })
    }

    /// The next piece of work, if the core has any.
    pub fn next_turn(&mut self) -> Option<Turn> {
        self.raft.has_ready().then(|| Turn { ready: self.raft.ready() })
    }

    /// After the turn's writes are durable and its messages sent: applies
    /// its committed entries, in order, and answers the clients whose
    /// entries they are; then tells the core the writes are durable.
    pub fn apply(&mut self, turn: Turn) -> Vec<ClientReply> {
        let mut replies = Vec::new();
        for entry in turn.ready.committed_entries {
            // No-op entries (a new leader's) are not the state machine's business.
            let reply = (!entry.data.is_empty()).then(|| self.sm.apply(entry.index, &entry.data));
            self.applied_index = entry.index;
            if let (Some(reply), Some((client, seq))) =
                (reply, self.requests.applied(entry.index, entry.term))
            {
                tracing::debug!(target: "client", client, seq, index = entry.index, "applied, answering");
                replies.push(ClientReply { client, seq, reply: Reply::Applied(reply) });
            }
        }
        self.raft.advance();
        replies
    }

    /// After the last turn: if the role or term changed, says so, and the
    /// clients waiting on entries a new leader may replace are told to look
    /// elsewhere. Entries proposed in an earlier term may still commit under
    /// the new leader; their clients retry there and the state machine's
    /// sessions apply each command once.
    pub fn end_turn(&mut self) -> (Option<RoleChange>, Vec<ClientReply>) {
        let (role, term, leader) = (self.raft.role(), self.raft.current_term(), self.raft.leader_id());
        if (role, term) == self.last_seen {
            return (None, Vec::new());
        }
        self.last_seen = (role, term);
        let keep_term = (role == Role::Leader).then_some(term);
        let abandoned = self.requests.abandon(leader, keep_term);
        let replies = abandoned.into_iter().map(|(client, seq, reply)| ClientReply { client, seq, reply });
        (Some(RoleChange { role, term, leader }), replies.collect())
    }
}

#[cfg(test)]
mod tests;
