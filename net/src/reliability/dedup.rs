//! The receiver's dedup window for one peer: a message is delivered at most
//! once.
//!
//! Every id at or below `floor` counts as already delivered; ids above it
//! that were delivered sit in a set. The sender's low watermark (the lowest
//! id it may still send us) raises the floor, so the set holds only ids the
//! sender may still resend and stays small. If the set still grows past its
//! bound, its lowest ids fold into the floor: a late first copy of such a
//! message is then taken for a duplicate and lost, never delivered twice.

use std::collections::BTreeSet;

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
    fn bound_folds_lowest_into_floor() {
        let mut w = DedupWindow::new(2);
        w.mark(10);
        w.mark(20);
        assert_eq!(w.mark(30), 1);
        assert_eq!(w.floor(), 10);
        assert!(w.seen(9) && w.seen(20) && !w.seen(15));
    }
}
