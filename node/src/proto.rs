//! What travels between members and clients: one enum on the `net`
//! transport, for Raft's messages and the client protocol.
//!
//! The server does not interpret client commands: a [`Wire::Request`]
//! carries the bytes to propose, and the reply carries what the state
//! machine returned for them. Retries are safe because the state machine
//! deduplicates (the KV store keys its sessions by client id and sequence
//! number inside the command). The `seq` here only pairs replies with
//! requests on the client side.

use bytes::Bytes;
use raft::SnapshotMeta;
use serde::{Deserialize, Serialize};

/// One message on the transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wire {
    /// Member to member.
    Raft(raft::Message),
    /// Client to any member: propose `command`; answered once it is
    /// committed and applied.
    Request {
        seq: u64,
        command: Vec<u8>,
    },
    /// Member to client.
    Reply {
        seq: u64,
        reply: Reply,
    },
    /// Client to any member: how are you?
    StatusQuery {
        seq: u64,
    },
    StatusReply {
        seq: u64,
        status: MemberStatus,
    },
    /// Member to member: a snapshot streaming (`member::snapshot_store`).
    Snapshot(SnapshotPart),
    /// Operator to any member: a membership query or change, or a
    /// leadership transfer; answered with a [`Wire::Reply`] (redirects and
    /// "busy" as for requests).
    Admin {
        seq: u64,
        request: AdminRequest,
    },
    /// Client to any member: answer `query` from the state machine, as
    /// fresh as `consistency` asks (`member/reads.rs`). No log entry. Last, so that
    /// the variants before it keep their encoding.
    Read {
        seq: u64,
        query: Vec<u8>,
        consistency: Consistency,
        from: ReadFrom,
    },
}

/// What an operator asks of the cluster (`node members`, `add`, `promote`,
/// `remove`, `transfer-leader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// The configuration in force, as the leader sees it, with each
    /// follower's progress: answered with [`Reply::Members`].
    Members,
    /// A single-server change: answered with `Applied` once committed.
    Change(raft::MembershipChange),
    /// Hand leadership to this voter: answered with `Applied` once the
    /// transfer has started (the client then waits for the new leader).
    TransferLeader(u64),
    /// `node backup`: a chunk of the leader's snapshot at `offset`, once
    /// it has one at `index` or later (it takes one if not: `Busy` until
    /// it is durable). Sent after a linearizable read, with the applied
    /// index the leader gives for `index: 0` (answered with `Applied`,
    /// the index as postcard `u64`).
    Backup { index: u64, offset: u64 },
}

/// A piece of a leader's snapshot for `node backup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupChunk {
    pub index: u64,
    pub term: u64,
    /// The whole snapshot's length and CRC32C.
    pub len: u64,
    pub crc32c: u32,
    pub offset: u64,
    pub data: Vec<u8>,
}

/// The leader's view of the configuration, for `node members` and `node
/// status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersInfo {
    pub leader: u64,
    pub term: u64,
    pub membership: raft::Membership,
    /// Index of the entry that made it (0: the bootstrap or a snapshot's).
    pub membership_index: u64,
    pub commit_index: u64,
    pub last_index: u64,
    /// Each follower's match index: what the leader knows it holds.
    pub matched: Vec<(u64, u64)>,
}

/// How fresh a read must be (`node get --consistency`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Consistency {
    /// Sees every write acknowledged before the read was sent: the leader
    /// confirms with a round of heartbeats that it still leads (ReadIndex,
    /// thesis §6.4), or a follower asks the leader for that index.
    #[default]
    Linearizable,
    /// Linearizable as long as no member's clock runs faster than the
    /// cluster's stated drift bound relative to another's: the leader
    /// answers within its lease without a round (thesis §6.4.1). Without
    /// `[reads] lease = true` in cluster.toml, the same as linearizable.
    Lease,
    /// Whatever the member that answers has applied: possibly stale, never
    /// a value that was not committed.
    Serializable,
}

impl Consistency {
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Lease => "lease",
            Consistency::Serializable => "serializable",
        }
    }
}

/// Which member a read goes to (`node get --from`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum ReadFrom {
    /// The leader (found and followed like for writes): another member
    /// redirects the read.
    #[default]
    Leader,
    /// Any member: each client picks one of its file by its id, so many
    /// clients spread their reads over all members. A follower serves a
    /// linearizable read after one message to the leader.
    Any,
}

/// A member's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Committed and applied; the state machine's reply. For a
    /// [`Wire::Read`], the state machine's answer to the query.
    Applied(Vec<u8>),
    /// Ask someone else; the leader of the current term if known.
    /// `leader_addr`: its address, when the configuration records one (a
    /// member added later, which the client's cluster file may not name).
    NotLeader { leader_hint: Option<u64>, leader_addr: Option<String> },
    /// Refused: the command is `bytes` long, entries may be `max`.
    TooLarge { bytes: u64, max: u64 },
    /// Refused for now: the leader holds as much uncommitted as it may,
    /// or is handing leadership over. Retry after a pause.
    Busy,
    /// An operator's request the leader refused, and why (one line).
    Refused(String),
    /// The answer to [`AdminRequest::Members`].
    Members(Box<MembersInfo>),
    /// The answer to [`AdminRequest::Backup`].
    Backup(Box<BackupChunk>),
}

/// A member's state, as `node status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: u64,
    pub role: Role,
    pub term: u64,
    pub leader_id: Option<u64>,
    pub commit_index: u64,
    pub last_index: u64,
    pub applied_index: u64,
    /// The member's transport counters when it answered (zero when built
    /// from a bare [`raft::Status`]).
    pub net: NetCounters,
}

/// Part of [`net::Counters`] on the wire: traffic, retransmissions, and
/// every dropped datagram or message by reason. (Not all of it: a
/// [`Wire::StatusReply`] should stay near the size of the other variants.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCounters {
    pub datagrams_received: u64,
    pub bytes_received: u64,
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    pub retransmissions: u64,
    pub drops: net::Drops,
}

impl From<&net::Counters> for NetCounters {
    fn from(c: &net::Counters) -> NetCounters {
        NetCounters {
            datagrams_received: c.datagrams_received,
            bytes_received: c.bytes_received,
            datagrams_sent: c.datagrams_sent,
            bytes_sent: c.bytes_sent,
            retransmissions: c.retransmissions,
            drops: c.drops,
        }
    }
}

/// [`raft::Role`] on the wire (raft's own type is not serde).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
    PreCandidate,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
            Role::PreCandidate => "pre-candidate",
        }
    }
}

impl From<raft::Role> for Role {
    fn from(r: raft::Role) -> Role {
        match r {
            raft::Role::Follower => Role::Follower,
            raft::Role::PreCandidate => Role::PreCandidate,
            raft::Role::Candidate => Role::Candidate,
            raft::Role::Leader => Role::Leader,
        }
    }
}

impl From<raft::Status> for MemberStatus {
    fn from(s: raft::Status) -> MemberStatus {
        MemberStatus {
            id: s.id,
            role: s.role.into(),
            term: s.current_term,
            leader_id: s.leader_id,
            commit_index: s.commit_index,
            last_index: s.last_index,
            applied_index: s.applied_index,
            net: NetCounters::default(),
        }
    }
}

/// A complete snapshot: where it ends in the log, and its data's size and
/// checksum (CRC32C), which a receiver checks before installing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub meta: SnapshotMeta,
    pub len: u64,
    pub crc32c: u32,
}

/// What travels between members while a snapshot streams, beside Raft's
/// own messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotPart {
    /// Leader to follower: bytes `offset..offset + data.len()` of `info`,
    /// sent in `term`.
    Chunk { term: u64, info: SnapshotInfo, offset: u64, data: Bytes },
    /// Follower to leader: it holds the first `received` bytes of the
    /// snapshot at `snapshot`; `done` once all of it is verified and
    /// durable (or it needed none of it).
    Ack { term: u64, snapshot: SnapshotMeta, received: u64, done: bool },
}
