//! The hand-off between the core and its driver (etcd's `Ready`).

use crate::{Entry, HardState, Message};

/// Everything the core wants done, in the order it must be done:
///
/// 1. persist `hard_state` (if any) and `entries` (if any), durably;
/// 2. only then send `messages` (a vote or an acknowledgement promises that
///    the state behind it survives a crash);
/// 3. apply `committed_entries` to the state machine, in order;
/// 4. call [`crate::Raft::advance`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ready {
    /// New `current_term` / `voted_for` to persist.
    pub hard_state: Option<crate::HardState>,
    /// Log entries to persist, consecutive. The first one's index may be at
    /// or below the last persisted index: an entry at index i replaces every
    /// persisted entry from i on (Figure 2, AppendEntries step 3).
    pub entries: Vec<Entry>,
    /// Messages to hand to the network after the persist above.
    pub messages: Vec<Message>,
    /// Newly committed entries, to apply in index order.
    pub committed_entries: Vec<Entry>,
}

impl Ready {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.committed_entries.is_empty()
    }
}

/// What survived a crash: the input to [`crate::Raft::new`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Persisted {
    pub hard_state: HardState,
    /// The persisted log, consecutive from index 1.
    pub entries: Vec<Entry>,
}
