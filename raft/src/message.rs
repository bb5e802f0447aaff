//! The messages of Figure 2 ("RequestVote RPC", "AppendEntries RPC") and the
//! persistent state they carry.
//!
//! Raft's RPCs are modelled as one-way messages: a reply is a message of its
//! own that names what it answers, so a transport that loses, duplicates or
//! reorders datagrams needs no request/response pairing.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A member of the cluster. Ids are chosen by the application; 0 is reserved
/// for "nobody" on the wire of some applications, so prefer ids ≥ 1.
pub type NodeId = u64;

/// One log entry (§5.3). An entry with empty `data` is a no-op, the kind a
/// leader appends on election when [`crate::Config::noop_on_election`] is set;
/// state machines skip it.
///
/// `data` is reference-counted: the log, the messages that carry an entry
/// and the state machine that applies it can share one copy (a write-ahead
/// log's recovery can hand out slices of its file maps, a state machine
/// can keep slices of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub kind: EntryKind,
    pub data: Bytes,
}

/// What an entry's data is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// A command for the state machine (or a no-op, when empty).
    #[default]
    Normal,
    /// A configuration ([`crate::Membership`], postcard-encoded): the
    /// core's, in force from the moment it is appended (§4.1). State
    /// machines skip it.
    Membership,
}

impl Entry {
    /// A command (or, with empty data, a no-op).
    pub fn new(index: u64, term: u64, data: impl Into<Bytes>) -> Entry {
        Entry { index, term, kind: EntryKind::Normal, data: data.into() }
    }

    /// A configuration entry.
    pub fn membership(index: u64, term: u64, membership: &crate::Membership) -> Entry {
        Entry { index, term, kind: EntryKind::Membership, data: membership.encode() }
    }

    /// The configuration a membership entry carries (None for a command,
    /// or data that is not a well-formed configuration).
    pub fn as_membership(&self) -> Option<crate::Membership> {
        match self.kind {
            EntryKind::Membership => crate::Membership::decode(&self.data),
            EntryKind::Normal => None,
        }
    }
}

/// Figure 2 "Persistent state on all servers", less the log itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub current_term: u64,
    pub voted_for: Option<NodeId>,
}

/// A snapshot's position in the log (§7): it replaces every entry up to and
/// including `index` (the paper's "last included index"), whose term was
/// `term` ("last included term"). The state it holds is the service's
/// business: the core never sees the data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub index: u64,
    pub term: u64,
}

/// A message between two members. `term` is the sender's `current_term`
/// (Figure 2 "Rules for Servers": every message carries it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: u64,
    pub body: Body,
}

/// The four message kinds of Figure 2, §7's InstallSnapshot and the
/// thesis' PreVote (§9.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// "Invoked by candidates to gather votes (§5.2)."
    /// `leadership_transfer`: sent on a `TimeoutNow` (§3.10), so voters
    /// in lease answer it; a leader asked them to.
    RequestVote { last_log_index: u64, last_log_term: u64, leadership_transfer: bool },
    /// The answer to a `RequestVote` of the same term.
    RequestVoteReply { vote_granted: bool },
    /// "Invoked by leader to replicate log entries (§5.3); also used as
    /// heartbeat (§5.2)." `entries` are consecutive, starting at
    /// `prev_log_index + 1`. `round`: the leader's round of messages this
    /// one belongs to (`read_index.rs`), echoed in the reply, so that the
    /// leader knows a follower still took it for leader after a read
    /// arrived (§6.4); 0 for none.
    AppendEntries {
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        round: u64,
    },
    /// The answer to an `AppendEntries` or an `InstallSnapshot` of the
    /// same term.
    AppendEntriesReply(AppendReply),
    /// "Invoked by leader to send chunks of a snapshot to a follower"
    /// (§7), without the chunks: the leader's core sends this when a
    /// follower needs entries it has compacted away, the driver streams the
    /// service's snapshot at `snapshot` to the follower out of band, and the
    /// follower's driver steps this message into its core once the whole
    /// snapshot is on its disk and verified. Answered with
    /// `AppendEntriesReply(Success { match_index })`: the follower's log
    /// now matches the leader's up to `match_index`.
    /// `membership` is the configuration in force at the snapshot's index.
    InstallSnapshot { snapshot: SnapshotMeta, membership: crate::Membership },
    /// PreVote (thesis §9.6): "would you vote for me?", asked before a
    /// member starts an election. The message's `term` is the term the
    /// sender would campaign at (its own plus one); nobody adopts it, so a
    /// member that cannot win (cut off, or with a stale log) never raises
    /// the cluster's term.
    PreVote { last_log_index: u64, last_log_term: u64 },
    /// The answer to a `PreVote`. A granted one carries the term asked
    /// about; a refusal carries the refuser's own term.
    PreVoteReply { vote_granted: bool },
    /// Leadership transfer (thesis §3.10): the leader tells a follower
    /// whose log is as long as its own to start an election now.
    TimeoutNow,
    /// A follower asks its leader for a read index (thesis §6.4, "to serve
    /// read-only requests from followers"): `ctx` is the follower's own
    /// name for the read.
    ReadIndex { ctx: u64 },
    /// The leader's answer: the commit index the follower must apply
    /// before it serves read `ctx`, once the leader confirmed it still
    /// leads; None when it cannot serve reads (it does not lead).
    ReadIndexReply { ctx: u64, index: Option<u64> },
}

impl Body {
    /// True for messages that promise nothing about the sender's durable
    /// state (see [`crate::Ready::take_early_messages`]).
    pub fn may_precede_persist(&self) -> bool {
        matches!(
            self,
            Body::AppendEntries { .. }
                | Body::InstallSnapshot { .. }
                | Body::TimeoutNow
                | Body::ReadIndex { .. }
                | Body::ReadIndexReply { .. }
        )
    }
}

/// What a follower answers to `AppendEntries`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendReply {
    /// The follower's log matches the leader's up to `match_index`, which is
    /// `prev_log_index + entries.len()` of the request answered (never the
    /// follower's own log length, which may hold a stale suffix). `round`
    /// is the request's (0 for an InstallSnapshot).
    Success { match_index: u64, round: u64 },
    /// The consistency check of the request with `prev_log_index ==
    /// rejected_index` failed. The hint lets the leader skip a whole term at
    /// a time (§5.3, "the leader can decrement nextIndex to bypass all of
    /// the conflicting entries in that term"):
    /// `conflict_term` is the term of the follower's entry at
    /// `rejected_index` (none if its log is shorter), `conflict_index` the
    /// first index the follower holds of that term (or its last index + 1).
    /// `round` is the request's: a rejection still takes the sender for
    /// leader of its term.
    Conflict { rejected_index: u64, conflict_term: Option<u64>, conflict_index: u64, round: u64 },
    /// The request came from an older term than ours; the reply's `term`
    /// makes a stale leader step down (Figure 2, "Reply false if term <
    /// currentTerm").
    StaleTerm,
}

impl Message {
    /// True for the messages the lab's tester counts as RPCs: requests, not
    /// replies.
    pub fn is_request(&self) -> bool {
        matches!(
            self.body,
            Body::RequestVote { .. }
                | Body::AppendEntries { .. }
                | Body::InstallSnapshot { .. }
                | Body::PreVote { .. }
                | Body::TimeoutNow
                | Body::ReadIndex { .. }
        )
    }
}
