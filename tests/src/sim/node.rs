//! One simulated server: the Raft core, its incarnation number, and the
//! in-memory "disk" that survives a crash.

use raft::{Entry, HardState, Persisted, Raft};

/// What a server persisted: what its `Ready`s asked to persist, applied
/// with the core's rule that an entry at index i replaces every persisted
/// entry from i on. A restart gets exactly this back.
#[derive(Debug, Default, Clone)]
pub struct Disk {
    pub hard_state: HardState,
    pub entries: Vec<Entry>,
}

impl Disk {
    /// Writes `entries` (consecutive): the first one's index cuts the
    /// persisted log there.
    pub fn write(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        let keep = usize::try_from(first.index.saturating_sub(1)).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
    }

    /// Term of the persisted entry at `index` (0 for index 0).
    pub fn term(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.entries.get(usize::try_from(i - 1).ok()?).map(|e| e.term),
        }
    }

    pub fn persisted(&self) -> Persisted {
        Persisted { hard_state: self.hard_state, entries: self.entries.clone() }
    }
}

/// A server slot: the running core (`None` while crashed) and its disk.
pub struct SimNode {
    pub raft: Option<Raft>,
    /// Bumped by every crash and restart: messages and ticks of an older
    /// incarnation are dropped.
    pub incarnation: u64,
    pub disk: Disk,
    /// A proposal is waiting for its `Ready` to be processed.
    pub dirty: bool,
}

impl SimNode {
    pub fn new() -> SimNode {
        SimNode { raft: None, incarnation: 0, disk: Disk::default(), dirty: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(index: u64, term: u64) -> Entry {
        Entry { index, term, data: vec![index as u8].into() }
    }

    #[test]
    fn an_entry_replaces_everything_from_its_index_on() {
        let mut d = Disk::default();
        d.write(&[e(1, 1), e(2, 1), e(3, 1)]);
        d.write(&[e(2, 2)]);
        assert_eq!(d.entries, vec![e(1, 1), e(2, 2)]);
        assert_eq!(d.term(2), Some(2));
        assert_eq!(d.term(3), None);
        assert_eq!(d.term(0), Some(0));
    }
}
