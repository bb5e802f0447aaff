//! Leadership transfer (thesis §3.10): before a planned restart, the
//! leader hands its role to a chosen voter instead of leaving the cluster
//! to time out.
//!
//! 1. The leader stops accepting proposals (they would only have to be
//!    replicated to the target too, and could keep it from ever catching
//!    up).
//! 2. It brings the target's log up to its own with ordinary replication.
//! 3. It sends the target `TimeoutNow`; the target starts an election at
//!    once, skipping PreVote, and its RequestVote is marked so that voters
//!    in lease answer it: the leader asked for this election. It wins
//!    (its log is as up to date as any), and the old leader steps down on
//!    its higher term.
//!
//! If the target has not taken over within an election timeout
//! (`election_timeout_max_ticks`) the leader gives up and takes proposals
//! again.

use crate::server::{Raft, Role};
use crate::{Body, NodeId};

/// A transfer under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    pub target: NodeId,
    /// Ticks since it began.
    pub elapsed: u32,
}

/// A transfer the leader refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader { leader_hint: Option<NodeId> },
    #[error("{0} is not a voter of the configuration in force")]
    NotAVoter(NodeId),
}

impl Raft {
    /// Starts handing leadership to `target` (see the module doc). A
    /// transfer to this member itself succeeds at once; a new transfer
    /// replaces one under way.
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), TransferError> {
        let (me, leader_hint) = (self.config.id, self.leader_id);
        let is_voter = self.log.membership().is_voter(target);
        let Some(leader) = self.leader_mut() else { return Err(TransferError::NotLeader { leader_hint }) };
        if target == me {
            leader.transfer = None;
            return Ok(());
        }
        if !is_voter {
            return Err(TransferError::NotAVoter(target));
        }
        leader.transfer = Some(Transfer { target, elapsed: 0 });
        self.maybe_send_timeout_now(target);
        Ok(())
    }

    /// The member leadership is being handed to, while a transfer is under
    /// way.
    pub fn transfer_target(&self) -> Option<NodeId> {
        self.leader()?.transfer.map(|t| t.target)
    }

    /// Leader, every tick: a transfer that has not finished within an
    /// election timeout is given up.
    pub(crate) fn tick_transfer(&mut self) {
        let limit = self.config.election_timeout_max_ticks;
        let Some(leader) = self.leader_mut() else { return };
        let Some(t) = &mut leader.transfer else { return };
        t.elapsed += 1;
        if t.elapsed >= limit {
            leader.transfer = None;
        }
    }

    /// Leader: the target holds our whole log; tell it to campaign.
    pub(crate) fn maybe_send_timeout_now(&mut self, peer: NodeId) {
        let Some(t) = self.leader().and_then(|l| l.transfer) else { return };
        let caught_up = self.progress(peer).is_some_and(|pr| pr.match_index == self.log.last_index());
        if t.target == peer && caught_up {
            self.send(peer, Body::TimeoutNow);
            if let Some(leader) = self.leader_mut() {
                // Its election may come any time now, even after the
                // transfer is given up (a delayed message): no lease.
                leader.reads.lease_forfeited = true;
            }
        }
    }

    /// Follower: our leader asked us to take over. Only a voter does, and
    /// only for the leader of our term (`step` dropped older ones).
    pub(crate) fn handle_timeout_now(&mut self, from: NodeId) {
        let from_leader = self.role() == Role::Follower && self.leader_id == Some(from);
        if from_leader && self.log.membership().is_voter(self.config.id) {
            self.campaign(true);
        }
    }
}
