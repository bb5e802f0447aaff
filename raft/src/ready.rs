//! The hand-off between the core and its driver (etcd's `Ready`).

use crate::{Entry, HardState, Message, SnapshotMeta};

/// Everything the core wants done, in the order it must be done:
///
/// 1. persist `hard_state` (if any), then install `snapshot` (if any), then
///    persist `entries` (if any), durably;
/// 2. only then send `messages` (a vote or an acknowledgement promises that
///    the state behind it survives a crash);
/// 3. apply `committed_entries` to the state machine, in order;
/// 4. call [`crate::Raft::advance`].
///
/// A driver may instead overlap the writes with the network and the next
/// turns (thesis §10.2.1): write, send [`Ready::take_early_messages`] at
/// once, apply, and hold the rest of `messages` until the writes are
/// durable; then send them and call [`crate::Raft::persisted`] with
/// `mark` (not `advance`). Writes must become durable in the order they
/// were handed out. A leader counts its own log toward a majority only as
/// far as it is durable, so its entries may commit on its followers'
/// disks while its own write is still in progress.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ready {
    /// New `current_term` / `voted_for` to persist.
    pub hard_state: Option<crate::HardState>,
    /// A snapshot a leader sent (its data is with the driver) to make this
    /// member's durably, before `entries`; the state machine is reset to it
    /// before `committed_entries` are applied, which all come after it.
    pub snapshot: Option<SnapshotInstall>,
    /// Log entries to persist, consecutive. The first one's index may be at
    /// or below the last persisted index: an entry at index i replaces every
    /// persisted entry from i on (Figure 2, AppendEntries step 3).
    pub entries: Vec<Entry>,
    /// Messages to hand to the network after the persist above.
    pub messages: Vec<Message>,
    /// Newly committed entries, to apply in index order. Membership
    /// entries are among them; state machines skip them.
    pub committed_entries: Vec<Entry>,
    /// The configuration in force changed since the last `Ready` (an
    /// appended, truncated or installed membership entry): the driver
    /// updates whom it can reach.
    pub membership: Option<crate::Membership>,
    /// Reads placed since the last `Ready` (serve each once the state
    /// machine has applied its index) or refused (`read_index.rs`).
    /// Nothing to persist for them.
    pub read_states: Vec<crate::ReadState>,
    /// Names this Ready's writes, for [`crate::Raft::persisted`].
    pub mark: crate::WriteMark,
}

impl Ready {
    /// Takes out of `messages` those that may leave before this Ready's
    /// writes are durable: a leader's AppendEntries, InstallSnapshot and
    /// TimeoutNow, and reads' traffic. None of them vouches for this
    /// member's durable state (thesis §10.2.1: "the leader may send
    /// AppendEntries before its own write completes"); votes, vote
    /// requests and acknowledgements do, and stay.
    pub fn take_early_messages(&mut self) -> Vec<Message> {
        let (early, after): (Vec<Message>, Vec<Message>) =
            std::mem::take(&mut self.messages).into_iter().partition(|m| m.body.may_precede_persist());
        self.messages = after;
        early
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.committed_entries.is_empty()
            && self.membership.is_none()
            && self.read_states.is_empty()
    }
}

/// An incoming snapshot to install (§7 InstallSnapshot, receiver steps 5
/// to 8), and what it does to the persisted log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInstall {
    pub snapshot: SnapshotMeta,
    /// The configuration in force at the snapshot, to store with it.
    pub membership: crate::Membership,
    /// True when the log held the snapshot's last entry (§7 rule 6) and
    /// the persisted entries after it are still the log's: they stay
    /// (entries at or below it may be dropped). False: every persisted
    /// entry goes, and the `entries` of the same `Ready` are the whole log
    /// after the snapshot (rule 7; or rule 6 on a log whose entries there
    /// were replaced in memory since the last `Ready`, so the disk holds
    /// another history after the snapshot).
    pub keep_suffix: bool,
}

/// What survived a crash: the input to [`crate::Raft::new`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Persisted {
    pub hard_state: HardState,
    /// The newest snapshot the service holds durably (index 0: none). The
    /// service restores its state machine from it; the core starts with
    /// everything up to it committed and applied.
    pub snapshot: SnapshotMeta,
    /// The configuration in force at the snapshot, as stored with it.
    /// None: no membership entry was ever compacted (or there is no
    /// snapshot), and [`crate::Config::voters`], the bootstrap
    /// configuration, is in force until the log says otherwise.
    pub membership: Option<crate::Membership>,
    /// The persisted log. Entries at or below the snapshot are skipped;
    /// the rest must follow it without a gap. If the log holds an entry at
    /// the snapshot's index with another term (a crash while a snapshot
    /// was installed, before the log was discarded), every entry after it
    /// is skipped too: they belong to a history the snapshot replaced.
    pub entries: Vec<Entry>,
}
