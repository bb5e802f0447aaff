//! The receiver's dedup state: a message is delivered at most once.
//!
//! Message ids count within one boot of the sender (see `crate::boot`), so
//! the receiver keeps a [`DedupWindow`] per (peer, boot), in
//! [`BootWindows`]. A window: every id at or below `floor` counts as
//! already delivered; ids above it that were delivered sit in a set. The
//! sender's low watermark (the lowest id it may still send us) raises the
//! floor, so the set holds only ids the sender may still resend and stays
//! small. If the set still grows past its bound, its lowest ids fold into
//! the floor: a late first copy of such a message is then taken for a
//! duplicate and lost, never delivered twice.
//!
//! A new boot of a peer gets a fresh window at once, whatever ids its
//! previous boot used. The windows of the peer's [`BOOT_WINDOWS`] most
//! recently heard boots are kept, so stragglers of a previous boot (late or
//! duplicated datagrams still in the network) are still delivered at most
//! once. A boot whose window is pushed out is remembered among the peer's
//! last [`RETIRED_BOOTS`] retired boots, and its datagrams are dropped
//! rather than taken for a new boot and delivered again. Only a boot
//! retired longer ago than that is forgotten; its stragglers would have to
//! outlive [`RETIRED_BOOTS`] + [`BOOT_WINDOWS`] restarts of the peer.

use std::collections::{BTreeSet, VecDeque};

/// Windows kept per peer: its current boot and the previous ones.
pub const BOOT_WINDOWS: usize = 3;
/// Retired boots remembered per peer (8 bytes each).
pub const RETIRED_BOOTS: usize = 32;

/// A datagram from a boot whose window was retired: drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("boot {0:#x} of this peer is retired")]
pub struct RetiredBoot(pub u64);

/// The dedup windows of one peer's recent boots, least recently heard
/// first, and the boots retired before them.
#[derive(Debug, Clone)]
pub struct BootWindows {
    windows: VecDeque<(u64, DedupWindow)>,
    retired: VecDeque<u64>,
    max_entries: usize,
}

impl BootWindows {
    /// `max_entries`: the bound of each window's set.
    pub fn new(max_entries: usize) -> Self {
        BootWindows { windows: VecDeque::new(), retired: VecDeque::new(), max_entries }
    }

    /// Makes `boot` the most recently heard one, with a fresh window if it
    /// is new. Returns whether it is new and followed another boot (the
    /// peer restarted), or the error if it was retired.
    pub fn admit(&mut self, boot: u64) -> Result<bool, RetiredBoot> {
        if let Some(at) = self.windows.iter().position(|(b, _)| *b == boot) {
            if at + 1 < self.windows.len() {
                let w = self.windows.remove(at);
                self.windows.extend(w);
            }
            return Ok(false);
        }
        if self.retired.contains(&boot) {
            return Err(RetiredBoot(boot));
        }
        let restarted = !self.windows.is_empty();
        self.windows.push_back((boot, DedupWindow::new(self.max_entries)));
        if self.windows.len() > BOOT_WINDOWS {
            if let Some((old, _)) = self.windows.pop_front() {
                self.retired.push_back(old);
            }
            if self.retired.len() > RETIRED_BOOTS {
                self.retired.pop_front();
            }
        }
        Ok(restarted)
    }

    /// The window of `boot`, if it was admitted and not retired since.
    pub fn window(&self, boot: u64) -> Option<&DedupWindow> {
        self.windows.iter().find(|(b, _)| *b == boot).map(|(_, w)| w)
    }

    /// Was message `id` of `boot` delivered already? A boot without a
    /// window counts as having delivered everything.
    pub fn seen(&self, boot: u64, id: u64) -> bool {
        self.window(boot).is_none_or(|w| w.seen(id))
    }

    /// Records a delivery; see [`DedupWindow::mark`].
    pub fn mark(&mut self, boot: u64, id: u64) -> usize {
        self.window_mut(boot).map_or(0, |w| w.mark(id))
    }

    /// See [`DedupWindow::advance`].
    pub fn advance(&mut self, boot: u64, low_watermark: u64) {
        if let Some(w) = self.window_mut(boot) {
            w.advance(low_watermark);
        }
    }

    /// Boots with a window, least recently heard first.
    pub fn boots(&self) -> impl Iterator<Item = u64> + '_ {
        self.windows.iter().map(|(b, _)| *b)
    }

    pub fn is_retired(&self, boot: u64) -> bool {
        self.retired.contains(&boot)
    }

    fn window_mut(&mut self, boot: u64) -> Option<&mut DedupWindow> {
        self.windows.iter_mut().find(|(b, _)| *b == boot).map(|(_, w)| w)
    }
}

#[derive(Debug, Clone)]
pub struct DedupWindow {
    floor: u64,
    above: BTreeSet<u64>,
    max_entries: usize,
}

impl DedupWindow {
    pub fn new(max_entries: usize) -> Self {
        DedupWindow { floor: 0, above: BTreeSet::new(), max_entries: max_entries.max(1) }
    }

    /// Was message `id` delivered already (or given up by its sender)?
    pub fn seen(&self, id: u64) -> bool {
        id <= self.floor || self.above.contains(&id)
    }

    /// Records a delivery. Returns how many entries were folded into the
    /// floor to keep the bound.
    pub fn mark(&mut self, id: u64) -> usize {
        if id > self.floor {
            self.above.insert(id);
        }
        let mut folded = 0;
        while self.above.len() > self.max_entries {
            if let Some(lowest) = self.above.pop_first() {
                self.floor = lowest;
                folded += 1;
            }
        }
        folded
    }

    /// The sender will never send ids below `low_watermark` again.
    pub fn advance(&mut self, low_watermark: u64) {
        let floor = low_watermark.saturating_sub(1);
        if floor > self.floor {
            self.floor = floor;
            self.above = self.above.split_off(&(floor + 1));
        }
    }

    pub fn floor(&self) -> u64 {
        self.floor
    }

    pub fn len(&self) -> usize {
        self.above.len()
    }

    pub fn is_empty(&self) -> bool {
        self.above.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_once_and_floor_prunes() {
        let mut w = DedupWindow::new(8);
        assert!(!w.seen(5));
        w.mark(5);
        w.mark(7);
        assert!(w.seen(5) && w.seen(7) && !w.seen(6));
        w.advance(6);
        assert_eq!(w.floor(), 5);
        assert_eq!(w.len(), 1);
        assert!(w.seen(3) && !w.seen(6) && w.seen(7));
        w.advance(2); // an old watermark never lowers the floor
        assert_eq!(w.floor(), 5);
    }

    #[test]
    fn a_new_boot_gets_a_fresh_window_and_old_ones_retire() {
        let mut b = BootWindows::new(8);
        assert_eq!(b.admit(100), Ok(false));
        b.mark(100, 5);
        b.advance(100, 1_000_000);
        assert!(b.seen(100, 7));
        assert_eq!(b.admit(200), Ok(true)); // restarted: ids start again
        assert!(!b.seen(200, 1) && !b.seen(200, 7));
        assert!(b.seen(100, 7), "the previous boot's window is kept");
        assert_eq!(b.admit(100), Ok(false)); // a straggler: not a restart
        assert_eq!(b.boots().collect::<Vec<_>>(), vec![200, 100]);
        for boot in 300..300 + BOOT_WINDOWS as u64 {
            assert_eq!(b.admit(boot), Ok(true));
        }
        assert_eq!(b.admit(200), Err(RetiredBoot(200)));
        assert_eq!(b.admit(100), Err(RetiredBoot(100)));
        assert!(b.seen(100, 1), "a retired boot delivers nothing");
        for boot in 1000..1000 + RETIRED_BOOTS as u64 {
            assert_eq!(b.admit(boot), Ok(true));
        }
        assert!(!b.is_retired(200) && b.is_retired(1000));
    }

    #[test]
    fn bound_folds_lowest_into_floor() {
        let mut w = DedupWindow::new(2);
        w.mark(10);
        w.mark(20);
        assert_eq!(w.mark(30), 1);
        assert_eq!(w.floor(), 10);
        assert!(w.seen(9) && w.seen(20) && !w.seen(15));
    }
}
