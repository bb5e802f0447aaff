//! The replicated log of Figure 2 ("log[]"), held in memory, with the
//! bookkeeping of which suffix still has to be handed out for persisting.

use crate::Entry;

/// The in-memory log. Indexes start at 1; index 0 is the empty prefix with
/// term 0, which makes the consistency check of the first entry uniform.
#[derive(Debug, Default, Clone)]
pub struct RaftLog {
    entries: Vec<Entry>,
    /// First index not yet handed out in a `Ready` for persisting.
    unpersisted_from: u64,
    /// Last index handed out for persisting but not yet confirmed durable.
    persisting_up_to: u64,
    /// Entries up to here are durable (confirmed by `advance`).
    stable_index: u64,
}

impl RaftLog {
    /// A log restored from storage: everything in it is already durable.
    pub(crate) fn restore(entries: Vec<Entry>) -> RaftLog {
        let last = entries.len() as u64;
        RaftLog { entries, unpersisted_from: last + 1, persisting_up_to: last, stable_index: last }
    }

    pub fn last_index(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// The term of the entry at `index`: `Some(0)` for index 0, `None` past
    /// the end.
    pub fn term(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.entry(i).map(|e| e.term),
        }
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let i = usize::try_from(index).ok()?.checked_sub(1)?;
        self.entries.get(i)
    }

    /// Entries from `from` on, as many as fit in `max_bytes` (data plus
    /// [`crate::ENTRY_OVERHEAD_BYTES`] each; at least one when any exists).
    pub fn entries_from(&self, from: u64, max_bytes: usize) -> Vec<Entry> {
        let start = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for e in self.entries.iter().skip(start) {
            bytes = bytes.saturating_add(e.data.len() + crate::ENTRY_OVERHEAD_BYTES);
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        out
    }

    /// All entries from `from` to `to`, inclusive.
    pub fn slice(&self, from: u64, to: u64) -> &[Entry] {
        let to = to.min(self.last_index());
        if from > to || from == 0 {
            return &[];
        }
        &self.entries[(from - 1) as usize..to as usize]
    }

    /// §5.4.1: a candidate's log is "at least as up-to-date" as ours when its
    /// last term is newer, or equal with a last index at least ours.
    pub fn is_up_to_date(&self, last_log_index: u64, last_log_term: u64) -> bool {
        (last_log_term, last_log_index) >= (self.last_term(), self.last_index())
    }

    /// First index of the run of `term` that contains `index` (for the
    /// conflict hint of a rejected AppendEntries).
    pub fn first_index_of_term_run(&self, index: u64) -> u64 {
        let Some(term) = self.term(index) else { return self.last_index() + 1 };
        let mut first = index;
        while first > 1 && self.term(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// Last index holding an entry of `term`, if any (leader side of the
    /// fast backoff). Terms are non-decreasing along the log, so a binary
    /// search finds it.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        let n = self.entries.partition_point(|e| e.term <= term);
        (n > 0 && self.entries[n - 1].term == term).then_some(n as u64)
    }

    /// Data bytes of the entries from `from` to `to`, inclusive.
    pub fn data_bytes(&self, from: u64, to: u64) -> usize {
        self.slice(from, to).iter().map(|e| e.data.len()).sum()
    }

    /// Appends one entry at the end (a leader's proposal).
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
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
    /// duplicated request never shortens the log. Returns whether anything
    /// changed.
    pub(crate) fn merge(&mut self, entries: &[Entry]) -> bool {
        if let Some(index) = self.first_conflict(entries) {
            self.truncate_from(index);
        }
        let Some(k) = entries.iter().position(|e| e.index > self.last_index()) else { return false };
        self.entries.extend_from_slice(&entries[k..]);
        true
    }

    fn truncate_from(&mut self, index: u64) {
        self.entries.truncate((index - 1) as usize);
        self.unpersisted_from = self.unpersisted_from.min(index);
        self.persisting_up_to = self.persisting_up_to.min(index - 1);
        self.stable_index = self.stable_index.min(index - 1);
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

    /// Entries up to here are durable on this member.
    pub fn stable_index(&self) -> u64 {
        self.stable_index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(terms: &[u64]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry { index: i as u64 + 1, term, data: vec![i as u8].into() })
            .collect();
        RaftLog::restore(entries)
    }

    fn e(index: u64, term: u64) -> Entry {
        Entry { index, term, data: Default::default() }
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
            l.push(Entry { index: i, term: 1, data: vec![0; 100].into() });
        }
        assert_eq!(l.entries_from(1, 10).len(), 1);
        assert_eq!(l.entries_from(1, 300).len(), 2, "130 bytes each with the overhead");
        assert_eq!(l.entries_from(2, 1000).len(), 2);
        assert!(l.entries_from(4, 1000).is_empty());
    }
}
