//! The one rule for entry indexes, shared by `append` (to refuse bad input)
//! and replay (to rebuild the log): an entry at index `i` replaces every
//! entry from `i` on and must not leave a gap; a truncate removes every
//! entry from its index on. An empty log accepts any first index.

use crate::error::{Error, Result};

/// First and last index of the live log, `None` when it is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    range: Option<(u64, u64)>,
}

impl Bounds {
    /// Checks that an entry at `index` may be appended now.
    pub fn check_entry(&self, index: u64) -> Result<()> {
        if index == 0 {
            return Err(Error::ZeroIndex);
        }
        match self.range {
            Some((_, last)) if index > last.saturating_add(1) => Err(Error::IndexGap { index, last }),
            _ => Ok(()),
        }
    }

    /// Records an entry at `index` (already checked).
    pub fn on_entry(&mut self, index: u64) {
        self.range = match self.range {
            Some((first, _)) if index > first => Some((first, index)),
            _ => Some((index, index)),
        };
    }

    /// Records a truncation of everything from `from_index` on.
    pub fn on_truncate(&mut self, from_index: u64) {
        self.range = match self.range {
            Some((first, _)) if from_index <= first => None,
            Some((first, last)) => Some((first, last.min(from_index - 1))),
            None => None,
        };
    }

    /// Last index, if any.
    pub fn last(&self) -> Option<u64> {
        self.range.map(|(_, last)| last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_replace_and_truncate() {
        let mut b = Bounds::default();
        assert!(b.check_entry(0).is_err());
        b.on_entry(5);
        b.on_entry(6);
        b.on_entry(7);
        assert!(matches!(b.check_entry(9), Err(Error::IndexGap { index: 9, last: 7 })));
        b.on_entry(6);
        assert_eq!(b, Bounds { range: Some((5, 6)) });
        b.on_truncate(6);
        assert_eq!(b.last(), Some(5));
        b.on_truncate(5);
        assert_eq!(b.last(), None);
        assert!(b.check_entry(100).is_ok());
    }
}
