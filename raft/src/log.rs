//! The replicated log of Figure 2 ("log[]"), held in memory from the last
//! snapshot on (§7), with the bookkeeping of which suffix still has to be
//! handed out for persisting.

use crate::membership::MembershipLog;
use crate::{Entry, Membership, SnapshotMeta};

/// The in-memory log. Indexes start at 1; index 0 is the empty prefix with
/// term 0, which makes the consistency check of the first entry uniform.
/// Entries up to `snapshot.index` have been compacted into a snapshot: the
/// log knows only the last one's term, and `entries[0]` is at
/// `snapshot.index + 1`.
#[derive(Debug, Default, Clone)]
pub struct RaftLog {
    /// The last compacted entry (index 0, term 0 before any snapshot).
    snapshot: SnapshotMeta,
    entries: Vec<Entry>,
    /// First index not yet handed out in a `Ready` for persisting.
    unpersisted_from: u64,
    /// Last index handed out for persisting but not yet confirmed durable.
    persisting_up_to: u64,
    /// Entries up to here are durable (confirmed by `advance` or
    /// `persisted`).
    stable_index: u64,
    /// Bumped whenever persisted entries are replaced (a truncation, a
    /// snapshot that drops the log): a confirmation of writes handed out
    /// before then says nothing of the entries that replaced them.
    epoch: u64,
    /// The configurations of the snapshot and of the membership entries.
    memberships: MembershipLog,
}

/// Names the writes handed out by one [`crate::Ready`], for
/// [`crate::Raft::persisted`]: the last index handed out by then, and the
/// log's epoch (see `RaftLog::epoch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteMark {
    index: u64,
    epoch: u64,
}

/// What [`RaftLog::install`] did to the persisted entries after the
/// snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Installed {
    /// The log held the snapshot's last entry, and what follows it on disk
    /// is what follows it here: the entries after it stay.
    KeptSuffix,
    /// The whole persisted log goes: the log did not hold the snapshot's
    /// last entry (rule 7, the log is gone here too), or held it only since
    /// a replacement not yet handed out (the entries after it stay here,
    /// and are handed out again).
    Discarded,
}

impl RaftLog {
    /// A log restored from storage: everything in it is already durable.
    /// `entries` follow `snapshot` without a gap (checked by the caller).
    /// `membership` is the configuration in force at the snapshot.
    pub(crate) fn restore(snapshot: SnapshotMeta, membership: Membership, entries: Vec<Entry>) -> RaftLog {
        let last = snapshot.index + entries.len() as u64;
        let mut memberships = MembershipLog::new(membership);
        record_memberships(&mut memberships, &entries);
        RaftLog {
            snapshot,
            entries,
            unpersisted_from: last + 1,
            persisting_up_to: last,
            stable_index: last,
            epoch: 0,
            memberships,
        }
    }

    /// The latest configuration in the log, committed or not: the one in
    /// force (§4.1).
    pub fn membership(&self) -> &Membership {
        self.memberships.latest()
    }

    /// The index of the latest membership entry; at or below the snapshot
    /// (reported as 0) when the snapshot's configuration is in force.
    pub fn membership_index(&self) -> u64 {
        self.memberships.latest_index()
    }

    /// Changes whenever [`RaftLog::membership`] may have.
    pub(crate) fn membership_generation(&self) -> u64 {
        self.memberships.generation()
    }

    /// The configuration in force at `index`, for the service to store
    /// with a snapshot through it. None below the snapshot.
    pub fn membership_at(&self, index: u64) -> Option<&Membership> {
        (index >= self.snapshot.index).then(|| self.memberships.at(index))
    }

    /// True when `id` votes in the configuration in force at `index` (at
    /// or above the snapshot) or in any later one in the log.
    pub(crate) fn is_voter_since(&self, index: u64, id: crate::NodeId) -> bool {
        self.memberships.is_voter_since(index.max(self.snapshot.index), id)
    }

    /// The snapshot the log starts after.
    pub fn snapshot(&self) -> SnapshotMeta {
        self.snapshot
    }

    /// The first index the log still holds an entry for (or would, once
    /// one is appended).
    pub fn first_index(&self) -> u64 {
        self.snapshot.index + 1
    }

    pub fn last_index(&self) -> u64 {
        self.snapshot.index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot.term, |e| e.term)
    }

    /// The term of the entry at `index`: `Some(0)` for index 0, the
    /// snapshot's term at its index, `None` past the end or below the
    /// snapshot (compacted).
    pub fn term(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i if i == self.snapshot.index => Some(self.snapshot.term),
            i => self.entry(i).map(|e| e.term),
        }
    }

    /// True when `index` is below the snapshot: the entry is committed and
    /// gone from memory, and so is its term (the snapshot's own index
    /// keeps its term; index 0 is the empty prefix, never compacted).
    pub fn is_compacted(&self, index: u64) -> bool {
        index != 0 && index < self.snapshot.index
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let i = usize::try_from(index.checked_sub(self.first_index())?).ok()?;
        self.entries.get(i)
    }

    /// Position in `entries` of `index`, clamped to the held range.
    fn position(&self, index: u64) -> usize {
        let offset = index.saturating_sub(self.first_index());
        usize::try_from(offset).unwrap_or(usize::MAX).min(self.entries.len())
    }

    /// Entries from `from` on, as many as fit in `max_bytes` (data plus
    /// [`crate::ENTRY_OVERHEAD_BYTES`] each; at least one when any exists).
    pub fn entries_from(&self, from: u64, max_bytes: usize) -> Vec<Entry> {
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for e in &self.entries[self.position(from)..] {
            bytes = bytes.saturating_add(e.data.len() + crate::ENTRY_OVERHEAD_BYTES);
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        out
    }

    /// The entries held from `from` to `to`, inclusive.
    pub fn slice(&self, from: u64, to: u64) -> &[Entry] {
        let to = to.min(self.last_index());
        if from > to || from == 0 {
            return &[];
        }
        &self.entries[self.position(from)..self.position(to + 1)]
    }

    /// §5.4.1: a candidate's log is "at least as up-to-date" as ours when its
    /// last term is newer, or equal with a last index at least ours.
    pub fn is_up_to_date(&self, last_log_index: u64, last_log_term: u64) -> bool {
        (last_log_term, last_log_index) >= (self.last_term(), self.last_index())
    }

    /// First index of the run of `term` that contains `index` (for the
    /// conflict hint of a rejected AppendEntries); the run is cut at the
    /// snapshot, whose entries all match the leader's.
    pub fn first_index_of_term_run(&self, index: u64) -> u64 {
        let Some(term) = self.term(index) else { return self.last_index() + 1 };
        let mut first = index;
        while first > self.first_index() && self.term(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// Last index holding an entry of `term`, if any (leader side of the
    /// fast backoff). Terms are non-decreasing along the log, so a binary
    /// search finds it.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        let n = self.entries.partition_point(|e| e.term <= term);
        if n > 0 && self.entries[n - 1].term == term {
            return Some(self.snapshot.index + n as u64);
        }
        (n == 0 && term == self.snapshot.term && term != 0).then_some(self.snapshot.index)
    }

    /// Data bytes of the entries from `from` to `to`, inclusive.
    pub fn data_bytes(&self, from: u64, to: u64) -> usize {
        self.slice(from, to).iter().map(|e| e.data.len()).sum()
    }

    /// Appends one entry at the end (a leader's proposal).
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        record_memberships(&mut self.memberships, std::slice::from_ref(&entry));
        self.entries.push(entry);
    }

    /// The index of the first of `entries` that conflicts with ours (same
    /// index, other term), if any.
    pub fn first_conflict(&self, entries: &[Entry]) -> Option<u64> {
        entries.iter().find(|e| self.term(e.index).is_some_and(|t| t != e.term)).map(|e| e.index)
    }

    /// Figure 2, AppendEntries steps 3 and 4: drops the first entry that
    /// conflicts (same index, other term) and everything after it, then
    /// appends what is new. Entries we already hold are kept, so a stale or
    /// duplicated request never shortens the log. `entries` start after
    /// the snapshot. Returns whether anything changed.
    pub(crate) fn merge(&mut self, entries: &[Entry]) -> bool {
        if let Some(index) = self.first_conflict(entries) {
            self.truncate_from(index);
        }
        let Some(k) = entries.iter().position(|e| e.index > self.last_index()) else { return false };
        record_memberships(&mut self.memberships, &entries[k..]);
        self.entries.extend_from_slice(&entries[k..]);
        true
    }

    fn truncate_from(&mut self, index: u64) {
        debug_assert!(index > self.snapshot.index, "compacted entries are committed");
        self.entries.truncate(self.position(index));
        self.memberships.truncate_from(index);
        self.unpersisted_from = self.unpersisted_from.min(index);
        self.persisting_up_to = self.persisting_up_to.min(index - 1);
        self.stable_index = self.stable_index.min(index - 1);
        self.epoch += 1;
    }

    /// The service holds a snapshot through `index` (which the log holds):
    /// the entries up to it go, its term stays.
    pub(crate) fn compact(&mut self, index: u64) {
        let Some(term) = self.term(index).filter(|_| index > self.snapshot.index) else { return };
        self.entries.drain(..self.position(index + 1));
        self.memberships.compact(index);
        self.snapshot = SnapshotMeta { index, term };
        self.unpersisted_from = self.unpersisted_from.max(index + 1);
    }

    /// §7 InstallSnapshot receiver, steps 6 and 7: "If existing log entry
    /// has same index and term as snapshot's last included entry, retain
    /// log entries following it"; else "discard the entire log".
    ///
    /// The answer is about the persisted log, which storage is told to keep
    /// after the snapshot or drop ([`crate::SnapshotInstall::keep_suffix`]):
    /// it keeps its suffix only when that is this log's, that is when
    /// nothing at or below the snapshot still waits to be handed out. An
    /// AppendEntries of the same turn may have replaced entries there in
    /// memory only; the disk then still holds the history it replaced
    /// after the snapshot too, so it drops its log, and every entry this
    /// log holds after the snapshot is handed out again.
    pub(crate) fn install(&mut self, snapshot: SnapshotMeta, membership: Membership) -> Installed {
        let kept = self.term(snapshot.index) == Some(snapshot.term);
        self.memberships.install(snapshot.index, membership, kept);
        if kept {
            self.entries.drain(..self.position(snapshot.index + 1));
        } else {
            self.entries.clear();
        }
        self.snapshot = snapshot;
        if kept && self.unpersisted_from > snapshot.index {
            return Installed::KeptSuffix;
        }
        // The persisted log goes: what follows the snapshot here (nothing
        // after rule 7) is all still to persist.
        self.unpersisted_from = snapshot.index + 1;
        self.persisting_up_to = self.persisting_up_to.min(snapshot.index);
        self.stable_index = self.stable_index.min(snapshot.index);
        self.epoch += 1;
        Installed::Discarded
    }

    /// Hands out the suffix not yet given to the driver for persisting.
    pub(crate) fn take_unpersisted(&mut self) -> Vec<Entry> {
        let out = self.slice(self.unpersisted_from, self.last_index()).to_vec();
        self.unpersisted_from = self.last_index() + 1;
        self.persisting_up_to = self.last_index();
        out
    }

    pub(crate) fn has_unpersisted(&self) -> bool {
        self.unpersisted_from <= self.last_index()
    }

    /// The driver confirmed that everything handed out is durable.
    pub(crate) fn mark_stable(&mut self) {
        self.stable_index = self.persisting_up_to;
    }

    /// What is handed out so far, to confirm later with `mark_stable_to`.
    pub(crate) fn write_mark(&self) -> WriteMark {
        WriteMark { index: self.persisting_up_to, epoch: self.epoch }
    }

    /// The driver confirmed the writes handed out up to `mark`: durable,
    /// unless entries they held were replaced since.
    pub(crate) fn mark_stable_to(&mut self, mark: WriteMark) {
        if mark.epoch == self.epoch {
            self.stable_index = self.stable_index.max(mark.index.min(self.persisting_up_to));
        }
    }

    /// Entries up to here are durable on this member.
    pub fn stable_index(&self) -> u64 {
        self.stable_index
    }
}

/// Records the configuration of each membership entry among `entries`
/// (checked well-formed when they arrived or were restored).
fn record_memberships(memberships: &mut MembershipLog, entries: &[Entry]) {
    for e in entries {
        if let Some(m) = e.as_membership() {
            memberships.push(e.index, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(terms: &[u64]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry::new(i as u64 + 1, term, vec![i as u8]))
            .collect();
        RaftLog::restore(SnapshotMeta::default(), Membership::default(), entries)
    }

    fn e(index: u64, term: u64) -> Entry {
        Entry::new(index, term, bytes::Bytes::new())
    }

    #[test]
    fn merge_keeps_matching_entries_of_a_stale_request() {
        let mut l = log(&[1, 1, 2, 2]);
        assert!(!l.merge(&[e(2, 1), e(3, 2)]));
        assert_eq!(l.last_index(), 4);
    }

    #[test]
    fn merge_truncates_from_first_conflict() {
        let mut l = log(&[1, 1, 2, 2]);
        assert!(l.merge(&[e(2, 1), e(3, 3)]));
        assert_eq!(l.last_index(), 3);
        assert_eq!(l.term(3), Some(3));
        assert_eq!(l.stable_index(), 2);
        assert_eq!(l.take_unpersisted(), vec![e(3, 3)]);
    }

    /// Writes confirmed after a truncation replaced some of them: the
    /// confirmation is of the old entries, not of those that replaced them.
    #[test]
    fn a_write_mark_from_before_a_truncation_marks_nothing_durable() {
        let mut l = log(&[1, 1]);
        l.push(e(3, 1));
        l.push(e(4, 1));
        assert_eq!(l.take_unpersisted().len(), 2);
        let old = l.write_mark();
        assert!(l.merge(&[e(3, 2)]));
        assert_eq!(l.take_unpersisted(), vec![e(3, 2)]);
        let new = l.write_mark();
        l.mark_stable_to(old);
        assert_eq!(l.stable_index(), 2, "entry 3 of term 2 is not durable yet");
        l.mark_stable_to(new);
        assert_eq!(l.stable_index(), 3);
    }

    /// Marks confirm in order, and each only as far as it reached.
    #[test]
    fn write_marks_confirm_up_to_their_own_index() {
        let mut l = log(&[1]);
        l.push(e(2, 1));
        l.take_unpersisted();
        let first = l.write_mark();
        l.push(e(3, 1));
        l.take_unpersisted();
        let second = l.write_mark();
        l.mark_stable_to(first);
        assert_eq!(l.stable_index(), 2);
        l.mark_stable_to(second);
        assert_eq!(l.stable_index(), 3);
        l.mark_stable_to(first);
        assert_eq!(l.stable_index(), 3, "a late mark never lowers it");
    }

    #[test]
    fn term_runs_for_conflict_hints() {
        let l = log(&[1, 1, 4, 4, 4, 5]);
        assert_eq!(l.first_index_of_term_run(5), 3);
        assert_eq!(l.first_index_of_term_run(1), 1);
        assert_eq!(l.last_index_of_term(4), Some(5));
        assert_eq!(l.last_index_of_term(3), None);
        assert_eq!(l.last_index_of_term(5), Some(6));
    }

    #[test]
    fn up_to_date_compares_last_term_then_index() {
        let l = log(&[1, 2, 2]);
        assert!(l.is_up_to_date(1, 3));
        assert!(l.is_up_to_date(3, 2));
        assert!(!l.is_up_to_date(2, 2));
        assert!(!l.is_up_to_date(9, 1));
    }

    #[test]
    fn entries_from_respects_the_byte_budget_but_sends_one() {
        let mut l = RaftLog::default();
        for i in 1..=3 {
            l.push(Entry::new(i, 1, vec![0; 100]));
        }
        assert_eq!(l.entries_from(1, 10).len(), 1);
        assert_eq!(l.entries_from(1, 300).len(), 2, "130 bytes each with the overhead");
        assert_eq!(l.entries_from(2, 1000).len(), 2);
        assert!(l.entries_from(4, 1000).is_empty());
    }
}
