//! What each role has that the others do not (§5.1; Figure 2's "Volatile
//! state on leaders"). Becoming a role builds its state fresh, so nothing
//! is cleared by hand on a change of role, and a handler that needs a
//! role's state gets it by pattern ([`crate::Raft::leader_mut`] and
//! friends) rather than by a role check and a field that may be stale.

use std::collections::{BTreeMap, BTreeSet};

use crate::progress::Progress;
use crate::read_index::ReadRounds;
use crate::server::Role;
use crate::transfer::Transfer;
use crate::NodeId;

/// The role of a server and the state only that role has.
pub(crate) enum RoleState {
    Follower(Follower),
    /// Asking for pre-votes (thesis §9.6): who said they would vote for
    /// us at the next term, ourselves included.
    PreCandidate {
        votes: BTreeSet<NodeId>,
    },
    /// Who granted us their vote this term, ourselves included.
    Candidate {
        votes: BTreeSet<NodeId>,
    },
    Leader(Leader),
}

/// What only a follower has.
#[derive(Default)]
pub(crate) struct Follower {
    /// AppendEntries of this term that arrived ahead of a gap in the log
    /// (the network reordered them), held until the entries before them
    /// arrive instead of being rejected (`replication.rs`).
    pub reordered: Vec<crate::replication::AppendRequest>,
    /// When (the core's tick count) the oldest of `reordered` arrived.
    pub held_since: u64,
    /// It took an AppendEntries of this term: the leader pipelines to it,
    /// so a gap means a late request, not a log that is behind (a new
    /// leader's first probe past its log is refused at once, as Figure 2
    /// says, so that the leader backs off without waiting).
    pub replicating: bool,
}

/// What only a leader has.
pub(crate) struct Leader {
    /// Figure 2 "Volatile state on leaders", per follower (learners and
    /// members a change is removing included).
    pub progress: BTreeMap<NodeId, Progress>,
    /// Ticks since the last CheckQuorum round.
    pub quorum_check_elapsed: u32,
    /// Data bytes of the entries past the commit index
    /// (`Config::max_uncommitted_bytes`).
    pub uncommitted_bytes: usize,
    /// Proposals since the last `ready`, still to be sent.
    pub proposals_pending: bool,
    /// The commit index, or a follower's match index, advanced since the
    /// last `ready`: some follower may be able to apply more.
    pub commit_to_announce: bool,
    /// A leadership transfer under way (§3.10).
    pub transfer: Option<Transfer>,
    /// Reads waiting for a round of messages, and the rounds
    /// (`read_index.rs`).
    pub reads: ReadRounds,
}

impl RoleState {
    /// A pre-candidate or candidate that has only its own vote.
    pub fn pre_candidate(me: NodeId) -> RoleState {
        RoleState::PreCandidate { votes: BTreeSet::from([me]) }
    }

    pub fn candidate(me: NodeId) -> RoleState {
        RoleState::Candidate { votes: BTreeSet::from([me]) }
    }

    pub fn role(&self) -> Role {
        match self {
            RoleState::Follower(_) => Role::Follower,
            RoleState::PreCandidate { .. } => Role::PreCandidate,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    /// The votes gathered so far, while asking for (pre-)votes.
    pub fn votes(&self) -> Option<&BTreeSet<NodeId>> {
        match self {
            RoleState::PreCandidate { votes } | RoleState::Candidate { votes } => Some(votes),
            RoleState::Follower(_) | RoleState::Leader(_) => None,
        }
    }
}

impl Leader {
    /// A new leader: no follower tracked yet, `uncommitted_bytes` of
    /// entries it inherited past the commit index.
    pub fn new(uncommitted_bytes: usize) -> Leader {
        Leader {
            progress: BTreeMap::new(),
            quorum_check_elapsed: 0,
            uncommitted_bytes,
            proposals_pending: false,
            commit_to_announce: false,
            transfer: None,
            reads: ReadRounds::new(),
        }
    }
}
