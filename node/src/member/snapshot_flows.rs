//! The member's snapshot work: taking its own, streaming the current one to
//! followers that need it, receiving one, restoring the state machine. See
//! `snapshot_store.rs` for the flows and `transfer/` for the chunk protocol.

use raft::{Body, Message, SnapshotMeta};

use super::config_frame::{peek_membership, read_with_membership, WithMembership};
use super::snapshot_store::{DataReader, SnapshotError, SnapshotInfo, SnapshotJob, SnapshotPart};
use super::transfer::{Received, SendOutcome};
use super::{ClientReply, Member};

impl Member {
    /// A snapshot part from member `from`. Refused like [`Member::step`]
    /// refuses a message: an unknown sender, or values no member sends.
    pub fn step_snapshot(&mut self, from: u64, part: SnapshotPart) -> Result<(), raft::StepError> {
        let malformed = |reason| Err(raft::StepError::Malformed { from, reason });
        // Not only members of our configuration: a member being added
        // hears from a leader it does not know yet (thesis §4.1).
        if from >= net::CLIENT_ID_MIN || from == self.raft.id() {
            return Err(raft::StepError::UnknownSender(from));
        }
        match part {
            SnapshotPart::Chunk { term, info, offset, data } => {
                if info.meta.index == 0 || info.meta.term == 0 || info.meta.term > term {
                    return malformed("snapshot chunk names an impossible snapshot");
                }
                let end = offset.checked_add(data.len() as u64);
                if data.len() > super::transfer::CHUNK_BYTES || end.is_none_or(|end| end > info.len) {
                    return malformed("snapshot chunk outside its snapshot");
                }
                self.on_chunk(from, term, info, offset, &data)
            }
            SnapshotPart::Ack { term, snapshot, received, done } => {
                if term != self.raft.current_term() {
                    return Ok(()); // an answer to an earlier leader of ours, or a stray
                }
                let mut out = SendOutcome::default();
                self.snapshots.senders.on_ack(from, snapshot, received, done, &mut out);
                self.send_outcome(out);
                Ok(())
            }
        }
    }

    fn on_chunk(
        &mut self,
        from: u64,
        term: u64,
        info: SnapshotInfo,
        offset: u64,
        data: &[u8],
    ) -> Result<(), raft::StepError> {
        if term < self.raft.current_term() {
            // A deposed leader's: the core answers it with our term (§7
            // "Reply immediately if term < currentTerm"), which ends it.
            let me = self.raft.id();
            // The core answers a stale term before it looks at the rest; the
            // configuration only has to pass the message checks (ours may
            // be empty, on a member waiting to be added).
            let membership = raft::Membership::bootstrap(&[from]);
            let body = Body::InstallSnapshot { snapshot: info.meta, membership };
            return self.raft.step(Message { from, to: me, term, body });
        }
        if offset == 0 {
            // The configuration leads the data, well inside the first chunk.
            // Kept per snapshot: chunks of another leader's may come between.
            if let Some(m) = peek_membership(data) {
                let seen = &mut self.snapshots.incoming_memberships;
                seen.retain(|(meta, _)| *meta != info.meta);
                if seen.len() >= 4 {
                    seen.remove(0);
                }
                seen.push((info.meta, m));
            }
        }
        let commit_index = self.raft.commit_index();
        let store = &mut *self.snapshots.store;
        match self.snapshots.receiver.on_chunk(store, term, info, offset, data, commit_index) {
            Received::Ack(ack) => self.snapshots.parts.push((from, ack)),
            Received::Complete { info, ack } => {
                self.snapshots.counts.received += 1;
                let me = self.raft.id();
                // The configuration from the snapshot's first chunk; for one
                // the core already covers (acknowledged without receiving
                // it), ours at its index will do.
                let seen = self.snapshots.incoming_memberships.iter().find(|(meta, _)| *meta == info.meta);
                let ours = || self.raft.membership_at(info.meta.index).or(Some(self.raft.membership()));
                let membership = seen.map(|(_, m)| m).or_else(ours).filter(|m| m.is_well_formed()).cloned();
                if let Some(membership) = membership {
                    let body = Body::InstallSnapshot { snapshot: info.meta, membership };
                    self.raft.step(Message { from, to: me, term, body })?;
                }
                self.snapshots.parts.push((from, ack));
            }
        }
        Ok(())
    }

    /// The driver finished writing the snapshot of a [`SnapshotJob`]:
    /// `Ok` once it is durable. On success the core drops its log through
    /// it, and the returned index is how far the driver may drop its
    /// persisted log.
    pub fn snapshot_written(&mut self, outcome: Result<SnapshotInfo, SnapshotError>) -> Option<u64> {
        let meta = self.snapshots.writing.take()?;
        if meta.index <= self.raft.log().snapshot().index {
            // A newer snapshot was installed while this one was written: it
            // is stale (the next snapshot's cleanup removes its file).
            tracing::debug!(target: "wal", ?meta, "snapshot written after a newer one was installed; dropped");
            return None;
        }
        let info = match outcome {
            Ok(info) if info.meta == meta => info,
            Ok(info) => {
                tracing::error!(target: "wal", ?meta, written = ?info.meta, "a different snapshot was written");
                return None;
            }
            Err(why) => {
                tracing::error!(target: "wal", ?meta, error = %why, "snapshot not written");
                return None;
            }
        };
        if let Err(e) = self.snapshots.store.adopt(info) {
            tracing::error!(target: "wal", ?meta, error = %e, "snapshot written but not adopted");
            return None;
        }
        if let Err(e) = self.raft.compact(meta.index) {
            // Unreachable: the job was made at an applied index.
            tracing::error!(target: "wal", ?meta, error = %e, "log not compacted");
            return None;
        }
        tracing::info!(target: "wal", index = meta.index, len = info.len, "snapshot taken, log compacted");
        Some(meta.index)
    }

    /// The core's InstallSnapshot requests become transfers; the other
    /// messages go out as they are.
    pub(super) fn take_snapshot_requests(&mut self, messages: Vec<Message>) -> Vec<Message> {
        let mut out = SendOutcome::default();
        let mut rest = Vec::with_capacity(messages.len());
        for msg in messages {
            match msg.body {
                Body::InstallSnapshot { snapshot, .. } => {
                    let store = &mut *self.snapshots.store;
                    self.snapshots.senders.start(store, msg.to, msg.term, snapshot, &mut out);
                }
                _ => rest.push(msg),
            }
        }
        self.send_outcome(out);
        rest
    }

    /// Queues the parts and tells the core about finished transfers.
    pub(super) fn send_outcome(&mut self, out: SendOutcome) {
        self.snapshots.parts.extend(out.parts);
        for (peer, delivered) in out.reports {
            self.snapshots.counts.sent += u64::from(delivered);
            self.raft.report_snapshot(peer, delivered);
        }
    }

    /// Resets the state machine to the snapshot the core installed. The
    /// clients waiting on entries it covers are told to ask again (those
    /// entries will never be applied here; the sessions apply each command
    /// once).
    pub(super) fn restore(&mut self, meta: SnapshotMeta) -> Result<Vec<ClientReply>, SnapshotError> {
        let data = self.snapshots.store.open_current().map_err(SnapshotError::Open)?;
        if data.info().meta != meta {
            return Err(SnapshotError::NotCurrent { current: data.info().meta, installed: meta });
        }
        let sm = &mut self.sm;
        read_with_membership(&mut DataReader::new(&*data), |r| sm.restore(r))
            .map_err(|reason| SnapshotError::Restore { meta, reason })?;
        self.applied_index = meta.index;
        self.snapshots.since = (0, 0);
        tracing::info!(target: "replication", index = meta.index, term = meta.term, "snapshot installed");
        let forgotten = self.requests.forget_through(meta.index, &self.redirect());
        Ok(forgotten.into_iter().map(|(client, seq, reply)| ClientReply { client, seq, reply }).collect())
    }

    /// After an apply: hands the driver a snapshot job when the policy says
    /// so and none is being written.
    pub(super) fn maybe_snapshot(&mut self) {
        let s = &self.snapshots;
        let last_len = s.store.current().map_or(0, |info| info.len);
        let due = s.forced || s.policy.is_due(s.since.0, s.since.1, last_len);
        if s.writing.is_some() || s.job.is_some() || !due {
            return;
        }
        let index = self.applied_index;
        let Some(term) = self.raft.log().term(index).filter(|_| index > self.raft.log().snapshot().index)
        else {
            return;
        };
        let meta = SnapshotMeta { index, term };
        // A member that joined an existing cluster does not know the
        // configuration in force before the first membership entry it
        // holds (its own bootstrap one is empty): it snapshots only from
        // there on, so that every snapshot holds a real configuration.
        let Some(membership) = self.raft.membership_at(index).filter(|m| m.is_well_formed()).cloned() else {
            return;
        };
        let source = Box::new(WithMembership { membership, source: self.sm.snapshot() });
        self.snapshots.job = Some(SnapshotJob { meta, source });
        self.snapshots.writing = Some(meta);
        self.snapshots.since = (0, 0);
        self.snapshots.forced = false;
    }
}
