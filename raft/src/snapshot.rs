//! Log compaction (§7): the service's snapshots, and the InstallSnapshot
//! RPC on both sides.
//!
//! The core never holds snapshot data. The service tells it that a durable
//! snapshot covers the log through some index ([`Raft::compact`]); the core
//! drops those entries and keeps the last one's term. When a follower needs
//! an entry the leader has dropped, the leader's core emits
//! [`Body::InstallSnapshot`] naming its snapshot, and the driver streams
//! the data; the follower's driver steps the same message into its core
//! once the data is on its disk and verified, and the core hands it back in
//! [`crate::Ready::snapshot`] to install, ahead of any entry after it.

use crate::progress::ReplicationState;
use crate::replication::AppendKind;
use crate::server::{CompactError, Raft};
use crate::{AppendReply, Body, Membership, NodeId, SnapshotInstall, SnapshotMeta};

impl Raft {
    /// The service holds a durable snapshot of its state machine through
    /// `index` (at most what [`crate::Ready::committed_entries`] handed
    /// out): the log drops every entry up to it. A leader sends this
    /// snapshot to followers that need what was dropped. Compacting at or
    /// below the current snapshot does nothing. Refused where the
    /// configuration in force is not known (a member that joined, before
    /// the entry that added it): the snapshot could not record it.
    pub fn compact(&mut self, index: u64) -> Result<(), CompactError> {
        if index <= self.log.snapshot().index {
            return Ok(());
        }
        if index > self.last_applied {
            return Err(CompactError::NotApplied { index, applied: self.last_applied });
        }
        if !self.log.membership_at(index).is_some_and(Membership::is_well_formed) {
            return Err(CompactError::UnknownConfiguration { index });
        }
        self.log.compact(index);
        Ok(())
    }

    /// The driver's report on a snapshot it was streaming to `peer` for a
    /// [`Body::InstallSnapshot`] this core sent: `delivered` when the
    /// follower has all of it, false when the transfer was given up. Either
    /// way the leader probes again: from after the snapshot if it arrived
    /// (the follower's answer may have been lost), from where it was
    /// otherwise, which sends the snapshot again if it is still needed.
    pub fn report_snapshot(&mut self, peer: NodeId, delivered: bool) {
        let Some(pr) = self.progress_mut(peer) else { return };
        let Some(pending) = pr.pending_snapshot() else { return };
        let next = if delivered { pending + 1 } else { pr.match_index + 1 };
        pr.probe_from(next);
        self.send_append(peer, AppendKind::Probe);
    }

    /// Leader: `to` needs entries before our first one; send our snapshot
    /// instead and wait for it in `Snapshot` state.
    pub(crate) fn send_snapshot(&mut self, to: NodeId) {
        let snapshot = self.log.snapshot();
        let Some(membership) = self.log.membership_at(snapshot.index).cloned() else { return };
        let now = self.now;
        let Some(pr) = self.progress_mut(to) else { return };
        pr.become_snapshot(snapshot.index, now);
        self.send(to, Body::InstallSnapshot { snapshot, membership });
    }

    /// InstallSnapshot receiver (§7), for a request of our current term;
    /// the driver has the data. Answered like an AppendEntries: the log now
    /// matches the leader's up to the snapshot's index, or further.
    pub(crate) fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        snapshot: SnapshotMeta,
        membership: Membership,
    ) {
        self.become_follower(self.current_term, Some(from));
        self.reset_election_timer();
        if snapshot.index <= self.commit_index {
            // Nothing new: we hold everything up to our commit index, and it
            // matches every later leader's log (§5.4 Leader Completeness).
            let match_index = self.commit_index;
            self.send(from, Body::AppendEntriesReply(AppendReply::Success { match_index, round: 0 }));
            return;
        }
        let installed = self.log.install(snapshot, membership.clone());
        let keep_suffix = installed == crate::log::Installed::KeptSuffix;
        // "Reset state machine using snapshot contents": the service does,
        // from `Ready::snapshot`, before any later entry is applied.
        self.commit_index = snapshot.index;
        self.last_applied = snapshot.index;
        // Two in one turn: the persisted log keeps its suffix only if both
        // kept theirs.
        let keep_suffix = keep_suffix && self.pending_install.as_ref().is_none_or(|e| e.keep_suffix);
        self.pending_install = Some(SnapshotInstall { snapshot, membership, keep_suffix });
        let match_index = snapshot.index;
        self.send(from, Body::AppendEntriesReply(AppendReply::Success { match_index, round: 0 }));
    }

    /// True when a follower at `next_index` needs an entry the log no
    /// longer holds: the entry at `next_index` is compacted, so an
    /// AppendEntries cannot carry it. That includes `next_index == 1`: the
    /// empty prefix still names its term, but the entries after it are
    /// gone (an AppendEntries after index 0 would carry the first entry
    /// held instead, which no follower accepts).
    pub(crate) fn needs_snapshot(&self, next_index: u64) -> bool {
        next_index <= self.log.snapshot().index
    }
}

impl crate::progress::Progress {
    /// The snapshot index this follower is being sent, if it is.
    pub fn pending_snapshot(&self) -> Option<u64> {
        match self.state {
            ReplicationState::Snapshot { index } => Some(index),
            _ => None,
        }
    }
}
