//! Reads without a log entry (thesis §6.4): ReadIndex on the leader and
//! for followers, and what a driver needs for the leader's lease (§6.4.1).
//!
//! **ReadIndex.** A read records the commit index when it arrives. The
//! leader then confirms it still leads: every message it builds carries
//! the number of its current *round* (the batch of messages the next
//! [`Raft::ready`] hands out), and followers echo it in their replies. A
//! read that arrived while round r was being built is served once a
//! majority (the leader included) answered a message of round r or later:
//! those messages left after the read arrived, so no other leader had
//! committed anything when the majority answered. All reads of a round
//! share it, and an AppendEntries of that batch carries it; voters that
//! get nothing else in the batch get a heartbeat. A new leader places
//! reads only once an entry of its own term has committed (§6.4 step 1):
//! before that its commit index may lag its predecessor's.
//!
//! A follower forwards a read to the leader (`ReadIndex`) and gets the
//! index back (`ReadIndexReply`); it serves the read once it has applied
//! that far. The core hands the outcome of every read in
//! [`crate::Ready::read_states`]; a read whose leader is lost before it is
//! placed is reported refused when it was this member's own, and is never
//! answered when it was forwarded (the driver gives up on it after a
//! while).
//!
//! **Lease.** [`Raft::lease_read`] names the latest round a majority
//! answered. The driver knows when that round left (it noted the time at
//! the `ready` that handed it out, [`Raft::open_round`]) and serves a read
//! without a round while its monotonic clock is within the lease of that
//! time. That is safe because a follower that answered refuses to vote
//! for anyone else for a minimum election timeout (CheckQuorum's
//! `in_lease`), also right after a restart ([`crate::Config::lease_reads`]);
//! a leader that asked for a leadership transfer gives up its lease for
//! the rest of its term.

use std::collections::{BTreeMap, VecDeque};

use crate::server::Raft;
use crate::{Body, NodeId};

/// The outcome of a read: `index` is the commit index the state machine
/// must have applied before the read is served; None when it was refused
/// (this member lost its leader, or does not lead): ask elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub ctx: u64,
    pub index: Option<u64>,
}

/// A read the core cannot place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not the leader, and no leader known to ask.
    #[error("no leader known")]
    NoLeader,
}

/// What a lease read needs: the latest round a majority answered, and the
/// commit index to serve at. Valid while the driver's clock is within the
/// lease of the time `round` left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseRead {
    pub round: u64,
    pub index: u64,
}

/// A read waiting for its round to be answered by a majority.
#[derive(Clone, Copy, Debug)]
struct PendingRead {
    ctx: u64,
    /// This member, or the follower that forwarded it.
    from: NodeId,
    index: u64,
    round: u64,
}

/// A leader's reads and rounds.
#[derive(Debug)]
pub(crate) struct ReadRounds {
    /// The round of the messages built now; handed out by the next `ready`.
    pub round: u64,
    /// The latest round each follower answered in this term.
    acked: BTreeMap<NodeId, u64>,
    /// Placed reads, oldest (lowest round) first.
    pending: VecDeque<PendingRead>,
    /// Reads that arrived before an entry of this term committed.
    before_commit: Vec<(u64, NodeId)>,
    /// A leadership transfer was asked for this term: no lease reads.
    pub lease_forfeited: bool,
}

impl ReadRounds {
    pub fn new() -> ReadRounds {
        ReadRounds {
            round: 1,
            acked: BTreeMap::new(),
            pending: VecDeque::new(),
            before_commit: Vec::new(),
            lease_forfeited: false,
        }
    }

    /// True when a placed read waits for the round being built, which must
    /// then go out.
    pub fn needs_round(&self) -> bool {
        self.pending.back().is_some_and(|r| r.round == self.round)
    }
}

impl Raft {
    /// A read-only request, named `ctx` by the driver (unique among its
    /// reads in flight). Its outcome comes in a later `Ready`'s
    /// `read_states`. A follower asks its leader.
    pub fn read_index(&mut self, ctx: u64) -> Result<(), ReadError> {
        let me = self.config.id;
        if self.leader().is_some() {
            self.place_read(ctx, me);
            return Ok(());
        }
        match self.leader_id.filter(|&l| l != me) {
            Some(leader) => {
                self.send(leader, Body::ReadIndex { ctx });
                Ok(())
            }
            None => Err(ReadError::NoLeader),
        }
    }

    /// Leader: the latest round a majority answered and the commit index,
    /// when the lease may serve reads (see the module doc); None when it
    /// may not: not the leader, lease reads off, no entry of this term
    /// committed yet, or a transfer asked for this term.
    pub fn lease_read(&self) -> Option<LeaseRead> {
        let reads = &self.leader()?.reads;
        let usable = self.config.lease_reads && !reads.lease_forfeited && self.committed_in_term();
        usable.then(|| LeaseRead { round: self.quorum_round(), index: self.commit_index })
    }

    /// Leader: the round the next `ready` hands out. A driver that notes
    /// its clock before that `ready` knows every message of the round left
    /// after that time.
    pub fn open_round(&self) -> Option<u64> {
        Some(self.leader()?.reads.round)
    }

    /// §6.4 step 1: an entry of the leader's own term has committed, so
    /// its commit index is at least every earlier leader's.
    fn committed_in_term(&self) -> bool {
        self.log.term(self.commit_index) == Some(self.current_term)
    }

    /// Leader: a read from `from` (this member or a follower) joins the
    /// round being built, at the commit index; or waits for this term's
    /// first commit.
    fn place_read(&mut self, ctx: u64, from: NodeId) {
        let (committed, index) = (self.committed_in_term(), self.commit_index);
        let Some(leader) = self.leader_mut() else { return };
        let reads = &mut leader.reads;
        if !committed {
            reads.before_commit.push((ctx, from));
            return;
        }
        let round = reads.round;
        reads.pending.push_back(PendingRead { ctx, from, index, round });
        self.confirm_reads();
    }

    /// Leader, once its commit index advanced: reads that waited for this
    /// term's first commit are placed now.
    pub(crate) fn place_reads_after_commit(&mut self) {
        if !self.committed_in_term() {
            return;
        }
        let Some(leader) = self.leader_mut() else { return };
        for (ctx, from) in std::mem::take(&mut leader.reads.before_commit) {
            self.place_read(ctx, from);
        }
    }

    /// A follower's read, at the leader; refused by anyone else.
    pub(crate) fn handle_read_index(&mut self, from: NodeId, ctx: u64) {
        match self.leader().is_some() {
            true => self.place_read(ctx, from),
            false => self.send(from, Body::ReadIndexReply { ctx, index: None }),
        }
    }

    /// The leader's answer to one of our forwarded reads.
    pub(crate) fn handle_read_index_reply(&mut self, ctx: u64, index: Option<u64>) {
        self.read_states.push(crate::ReadState { ctx, index });
    }

    /// Leader: `from` answered a message of `round` while taking us for
    /// leader of this term.
    pub(crate) fn on_round_answered(&mut self, from: NodeId, round: u64) {
        let Some(leader) = self.leader_mut() else { return };
        let acked = leader.reads.acked.entry(from).or_default();
        if round <= *acked {
            return;
        }
        *acked = round;
        self.confirm_reads();
    }

    /// The latest round a majority of the voters in force answered, the
    /// leader counting for the round it is building (0 for none).
    pub(crate) fn quorum_round(&self) -> u64 {
        let Some(leader) = self.leader() else { return 0 };
        let membership = self.log.membership();
        let mut rounds: Vec<u64> = (membership.voters.keys())
            .map(|&v| match v == self.config.id {
                true => leader.reads.round,
                false => leader.reads.acked.get(&v).copied().unwrap_or(0),
            })
            .collect();
        if rounds.is_empty() {
            return 0;
        }
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds[membership.quorum() - 1]
    }

    /// Serves the reads whose round a majority answered: ours go to
    /// `read_states`, followers' back to them.
    fn confirm_reads(&mut self) {
        let (confirmed, me) = (self.quorum_round(), self.config.id);
        let Some(leader) = self.leader_mut() else { return };
        let mut done = Vec::new();
        while leader.reads.pending.front().is_some_and(|r| r.round <= confirmed) {
            done.extend(leader.reads.pending.pop_front());
        }
        for read in done {
            match read.from == me {
                true => self.read_states.push(crate::ReadState { ctx: read.ctx, index: Some(read.index) }),
                false => {
                    self.send(read.from, Body::ReadIndexReply { ctx: read.ctx, index: Some(read.index) })
                }
            }
        }
    }

    /// Leader, in `ready`: every voter that gets no message of the round
    /// being built while reads wait for it gets a heartbeat; then the
    /// round is handed out and the next one begins.
    pub(crate) fn close_round(&mut self) {
        let Some(leader) = self.leader() else { return };
        let round = leader.reads.round;
        if leader.reads.needs_round() {
            let me = self.config.id;
            let voters: Vec<NodeId> =
                self.log.membership().voters.keys().copied().filter(|&v| v != me).collect();
            for peer in voters {
                let carried = self.messages.iter().any(|m| {
                    m.to == peer && matches!(m.body, Body::AppendEntries { round: r, .. } if r == round)
                });
                if !carried {
                    self.send_heartbeat(peer);
                }
            }
        }
        if let Some(leader) = self.leader_mut() {
            leader.reads.round += 1;
        }
    }

    /// A leader stepping down: its own reads are refused (followers' are
    /// not answered; their drivers give up on them).
    pub(crate) fn refuse_reads(&mut self) {
        let (me, Some(leader)) = (self.config.id, self.leader_mut()) else { return };
        let pending = std::mem::take(&mut leader.reads.pending).into_iter().map(|r| (r.ctx, r.from));
        let waiting = std::mem::take(&mut leader.reads.before_commit);
        let refused: Vec<u64> =
            pending.chain(waiting).filter(|&(_, from)| from == me).map(|(ctx, _)| ctx).collect();
        self.read_states.extend(refused.into_iter().map(|ctx| crate::ReadState { ctx, index: None }));
    }
}
