//! Membership changes, one server at a time (thesis §4.1–§4.2), and
//! learners.
//!
//! The rules a leader checks before it appends a membership entry:
//!
//! 1. Only one change is in flight: the latest membership entry is
//!    committed (§4.1). Adding or removing one voter changes the majority
//!    by one, so any majority of the old voters and any majority of the new
//!    ones overlap; two changes in flight could make two disjoint majorities.
//! 2. The leader has committed an entry of its own term (the fix to the
//!    single-server algorithm found after the thesis was published, "bug
//!    in single-server membership changes", raft-dev 2015). Without it, a
//!    leader elected under one configuration could append a change on top
//!    of an uncommitted change of an earlier leader that another majority
//!    never saw, and two leaders could be elected in one term.
//! 3. No leadership transfer is under way.
//! 4. A learner is promoted only once it is within `max_promotion_lag`
//!    entries of the leader's log, so the new majority can commit at once.
//!
//! A configuration is in force as soon as its entry is in a log (§4.1):
//! the leader replicates to a new member from then on and counts
//! majorities of the new voters. Members a change removed are still sent
//! entries until it commits, so that they usually learn it did; a leader
//! removed by the change steps down once it commits (§4.2.2).

use crate::progress::Progress;
use crate::replication::AppendKind;
use crate::server::Raft;
use crate::{Entry, Membership, MembershipChange, NodeId};

/// A membership change the leader refused; nothing was appended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader { leader_hint: Option<NodeId> },
    #[error("the change at index {index} is not committed yet: one change at a time")]
    ChangePending { index: u64 },
    #[error("this leader has not committed an entry of its term yet; retry shortly")]
    NoCommitInTerm,
    #[error("transferring leadership to {target}")]
    Transferring { target: NodeId },
    #[error("member id {0} is not allowed (0 is reserved)")]
    BadId(NodeId),
    #[error("{0} is already a member")]
    AlreadyMember(NodeId),
    #[error("{0} is already a voter")]
    AlreadyVoter(NodeId),
    #[error("{0} is not a member")]
    NotAMember(NodeId),
    #[error("{0} is the last voter; a cluster needs one")]
    LastVoter(NodeId),
    #[error("learner {id} is not caught up: it holds the log up to {match_index}, the leader's ends at {last_index} (promotion needs it within {max_lag} entries)")]
    Lagging { id: NodeId, match_index: u64, last_index: u64, max_lag: u64 },
    #[error("a configuration holds at most {0} members")]
    TooManyMembers(usize),
    #[error("address of {bytes} bytes (at most {max})")]
    AddressTooLong { bytes: usize, max: usize },
}

impl Raft {
    /// Appends a membership entry for `change`, which is in force at once
    /// (see the module doc for what is refused). Returns the index and term
    /// it will commit at, if it commits.
    pub fn propose_membership(&mut self, change: MembershipChange) -> Result<(u64, u64), MembershipError> {
        self.check_can_change()?;
        if let MembershipChange::Promote { id } = change {
            self.check_caught_up(id)?;
        }
        let next = self.log.membership().apply(&change)?;
        let (index, term) = (self.log.last_index() + 1, self.current_term);
        let entry = Entry::membership(index, term, &next);
        if let Some(leader) = self.leader_mut() {
            // Counted like a command's (`maybe_commit` frees it on commit).
            leader.uncommitted_bytes += entry.data.len();
            leader.proposals_pending = true;
        }
        self.log.push(entry);
        self.sync_progress();
        // A change that leaves the leader alone commits on its own persist.
        Ok((index, term))
    }

    /// The configuration in force at `index`, which the service stores with
    /// a snapshot through it. None below the log's snapshot or past its end.
    pub fn membership_at(&self, index: u64) -> Option<&Membership> {
        (index <= self.log.last_index()).then(|| self.log.membership_at(index)).flatten()
    }

    fn check_can_change(&self) -> Result<(), MembershipError> {
        let Some(leader) = self.leader() else {
            return Err(MembershipError::NotLeader { leader_hint: self.leader_id });
        };
        if let Some(t) = &leader.transfer {
            return Err(MembershipError::Transferring { target: t.target });
        }
        let pending = self.log.membership_index();
        if pending > self.commit_index {
            return Err(MembershipError::ChangePending { index: pending });
        }
        if self.log.term(self.commit_index) != Some(self.current_term) {
            return Err(MembershipError::NoCommitInTerm);
        }
        Ok(())
    }

    fn check_caught_up(&self, id: NodeId) -> Result<(), MembershipError> {
        let Some(pr) = self.progress(id) else { return Ok(()) }; // `apply` names the error
        let last_index = self.log.last_index();
        let max_lag = self.config.max_promotion_lag;
        if last_index.saturating_sub(pr.match_index) > max_lag {
            return Err(MembershipError::Lagging { id, match_index: pr.match_index, last_index, max_lag });
        }
        Ok(())
    }

    /// Leader: one `Progress` per member of the configuration in force, and
    /// per member of the committed one it may be replacing (so a removed
    /// member hears that its removal committed). New followers are probed
    /// from the end of the log.
    pub(crate) fn sync_progress(&mut self) {
        let next_index = self.log.last_index() + 1;
        for id in self.track_members(next_index) {
            self.send_append(id, AppendKind::Probe);
        }
    }

    /// Leader: adds a `Progress` (from `next_index`) for each member to
    /// replicate to that has none, drops the others; returns the added.
    pub(crate) fn track_members(&mut self, next_index: u64) -> Vec<NodeId> {
        let me = self.config.id;
        let latest = self.log.membership();
        let committed = self.log.membership_at(self.commit_index.max(self.log.snapshot().index));
        let mut wanted: Vec<NodeId> = latest.members().filter(|&id| id != me).collect();
        if let Some(c) = committed {
            wanted.extend(c.members().filter(|&id| id != me));
        }
        let now = self.now;
        let Some(leader) = self.leader_mut() else { return Vec::new() };
        leader.progress.retain(|id, _| wanted.contains(id));
        let mut added = Vec::new();
        for id in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = leader.progress.entry(id) {
                slot.insert(Progress::new(next_index, now));
                added.push(id);
            }
        }
        added
    }

    /// Leader: the commit index moved. A committed change no longer needs
    /// the members it removed; a leader it removed steps down (§4.2.2),
    /// after telling them the commit index once more.
    pub(crate) fn on_commit_advanced(&mut self) {
        let index = self.log.membership_index();
        if index == 0 || index > self.commit_index {
            return;
        }
        let removed_self = !self.log.membership().is_voter(self.config.id);
        for peer in self.followers() {
            if removed_self || !self.log.membership().contains(peer) {
                self.tell_commit(peer, index);
            }
        }
        if removed_self {
            self.become_follower(self.current_term, None);
        } else {
            self.sync_progress();
        }
    }

    /// The last message to `peer` before it leaves our replication: the
    /// commit index, with the entries up to the change at `index` if it
    /// lacks them (a follower takes a commit index only as far as the
    /// request vouches for), so that a removed member learns it was.
    fn tell_commit(&mut self, peer: NodeId, index: u64) {
        let Some(pr) = self.progress_mut(peer) else { return };
        if pr.match_index >= index {
            return self.send_heartbeat(peer);
        }
        let from = pr.match_index + 1;
        pr.probe_from(from);
        self.send_append(peer, AppendKind::Probe);
    }
}
