//! Static configuration of one member: who is in the cluster and how its
//! clock (in ticks) drives elections and heartbeats.

use crate::NodeId;

/// What one entry costs in an AppendEntries besides its data, counted in
/// the byte budget: room for its index, term and data length as varints
/// (10 + 10 + 10 bytes at most), so a budget in bytes also bounds the
/// number of entries, empty ones included.
pub const ENTRY_OVERHEAD_BYTES: usize = 30;

/// The lab's timing in ticks ([`Config::lab`]): heartbeats every 10,
/// elections after 30–60 ticks of silence.
pub const LAB_HEARTBEAT_TICKS: u32 = 10;
pub const LAB_ELECTION_TICKS: (u32, u32) = (30, 60);

/// What a leader may hold uncommitted unless configured otherwise
/// ([`Config::max_uncommitted_bytes`]).
pub const DEFAULT_MAX_UNCOMMITTED_BYTES: usize = 64 << 20;

/// Configuration of one Raft member. Time is counted in ticks, one per call
/// of [`crate::Raft::tick`]; the application decides how long a tick is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This member's id.
    pub id: NodeId,
    /// The bootstrap configuration: the voters a new cluster starts with.
    /// Only in force while neither the log nor the snapshot records a
    /// configuration (membership entries, `Persisted::membership`). A
    /// member started to join an existing cluster leaves it empty: it is
    /// nobody's voter until a leader adds it.
    pub voters: Vec<NodeId>,
    /// Election timeouts are drawn uniformly from `[min, max)` (§5.2,
    /// "randomized election timeouts").
    pub election_timeout_min_ticks: u32,
    pub election_timeout_max_ticks: u32,
    /// A leader sends each follower something at least this often (§5.2),
    /// and repeats an unanswered probe after this long.
    pub heartbeat_interval_ticks: u32,
    /// How long entries sent to a follower may go unanswered before the
    /// leader takes them as lost and sends them again. Over a network that
    /// loses messages, the heartbeat interval; a driver whose transport
    /// retransmits by itself sets it longer, so that a large entry that is
    /// merely slow to arrive is not sent twice.
    pub resend_ticks: u32,
    /// AppendEntries whose entries take at most this many bytes (data and
    /// [`ENTRY_OVERHEAD_BYTES`] each) are taken as lost after a heartbeat
    /// interval, not `resend_ticks`: the driver sends them in one datagram
    /// its transport does not retransmit (the node's Raft messages), so
    /// only the core resends them. 0: every append waits `resend_ticks`.
    pub unacked_append_bytes: usize,
    /// Append an empty entry on winning an election (§8: "each leader
    /// commit a blank no-op entry into the log at the start of its term"),
    /// so entries of earlier terms commit without waiting for a client.
    /// Off for the lab's scenarios, which expect command indexes 1, 2, 3, …
    pub noop_on_election: bool,
    /// Soft bound on the entry bytes of one AppendEntries (data plus
    /// [`ENTRY_OVERHEAD_BYTES`] per entry); a single entry is always sent,
    /// however large. [`Config::max_append_entry_bytes`] gives the hard
    /// bound that follows.
    pub max_append_bytes: usize,
    /// The largest `data` a proposal may carry (etcd's `MaxSizePerMsg`
    /// plays this part there). A driver sets it from what its transport can
    /// carry, so that nothing the leader accepts is unsendable.
    pub max_entry_bytes: usize,
    /// A leader refuses proposals while the data of its uncommitted entries
    /// exceeds this (etcd's `MaxUncommittedEntriesSize`): a leader that
    /// cannot commit stops growing its log and its send queues. One
    /// proposal is always admitted when nothing is uncommitted.
    pub max_uncommitted_bytes: usize,
    /// At most this many AppendEntries carrying entries may be unanswered
    /// per follower (flow control, like etcd's inflights).
    pub max_inflight_appends: usize,
    /// A leader that has not heard from a majority for
    /// `election_timeout_max_ticks` steps down (etcd's CheckQuorum). Its
    /// clients then look for the real leader instead of waiting on one
    /// that cannot commit, and it stops sending to peers it cannot reach.
    pub check_quorum: bool,
    /// Ask for pre-votes before campaigning (thesis §9.6): a member
    /// starts an election, and raises its term, only once a majority says
    /// it could win (its log is up to date and they have not heard from a
    /// leader within the minimum election timeout). A member that was cut
    /// off and comes back, or one whose log is too stale to win, no
    /// longer deposes a working leader by bumping the term.
    pub pre_vote: bool,
    /// A learner is promoted to voter only when its log is at most this
    /// many entries behind the leader's (§4.2.1: a new voter that cannot
    /// commit at once would leave the cluster without a working majority
    /// while it catches up).
    pub max_promotion_lag: u64,
    /// The driver serves lease reads (§6.4.1, `read_index.rs`): the core
    /// then names the rounds a majority answered ([`crate::Raft::lease_read`]),
    /// and a member that starts refuses to vote for a minimum election
    /// timeout, as if it had just heard from a leader (it may have, before
    /// a crash), so that a restart cannot cut a lease short. Needs
    /// `check_quorum`, whose `in_lease` the lease rests on.
    pub lease_reads: bool,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("voter id {0} is listed twice")]
    DuplicateVoter(NodeId),
    #[error("the election timeout range [{min}, {max}) ticks is empty")]
    EmptyElectionRange { min: u32, max: u32 },
    #[error("the heartbeat interval ({heartbeat} ticks) must be shorter than the minimum election timeout ({election_min} ticks)")]
    HeartbeatTooSlow { heartbeat: u32, election_min: u32 },
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("lease reads need check_quorum: a follower's refusal to vote within the lease is CheckQuorum's")]
    LeaseWithoutCheckQuorum,
}

impl Config {
    /// The timing the lab's tester expects, with 10 ms ticks: heartbeats
    /// every 100 ms (at most 10 per second), elections after 300–600 ms of
    /// silence, no no-op entry on election.
    pub fn lab(id: NodeId, voters: Vec<NodeId>) -> Config {
        Config {
            id,
            voters,
            election_timeout_min_ticks: LAB_ELECTION_TICKS.0,
            election_timeout_max_ticks: LAB_ELECTION_TICKS.1,
            heartbeat_interval_ticks: LAB_HEARTBEAT_TICKS,
            resend_ticks: 10,
            unacked_append_bytes: 0,
            noop_on_election: false,
            max_append_bytes: 64 * 1024,
            max_entry_bytes: 1 << 20,
            max_uncommitted_bytes: DEFAULT_MAX_UNCOMMITTED_BYTES,
            max_inflight_appends: 4,
            check_quorum: true,
            pre_vote: true,
            max_promotion_lag: 1000,
            lease_reads: false,
        }
    }

    /// Checks the invariants the core relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(ConfigError::Zero("id"));
        }
        for (i, v) in self.voters.iter().enumerate() {
            if self.voters[..i].contains(v) {
                return Err(ConfigError::DuplicateVoter(*v));
            }
        }
        let (min, max) = (self.election_timeout_min_ticks, self.election_timeout_max_ticks);
        if min >= max {
            return Err(ConfigError::EmptyElectionRange { min, max });
        }
        if self.heartbeat_interval_ticks == 0 {
            return Err(ConfigError::Zero("heartbeat_interval_ticks"));
        }
        let at_least_one = [
            ("max_inflight_appends", self.max_inflight_appends),
            ("resend_ticks", self.resend_ticks as usize),
            ("max_append_bytes", self.max_append_bytes),
            ("max_entry_bytes", self.max_entry_bytes),
            ("max_uncommitted_bytes", self.max_uncommitted_bytes),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Zero(name));
        }
        if self.lease_reads && !self.check_quorum {
            return Err(ConfigError::LeaseWithoutCheckQuorum);
        }
        if self.heartbeat_interval_ticks >= min {
            return Err(ConfigError::HeartbeatTooSlow {
                heartbeat: self.heartbeat_interval_ticks,
                election_min: min,
            });
        }
        Ok(())
    }

    /// The most entry bytes (data plus [`ENTRY_OVERHEAD_BYTES`] per entry)
    /// one AppendEntries carries: the byte budget, or one entry of the
    /// largest admitted size when that is more. Entries persisted under an
    /// earlier, larger `max_entry_bytes` can exceed it; a driver bounds
    /// those with its transport's limit.
    pub fn max_append_entry_bytes(&self) -> usize {
        self.max_append_bytes.max(self.max_entry_bytes.saturating_add(ENTRY_OVERHEAD_BYTES))
    }
}
