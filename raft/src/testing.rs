//! Helpers for the tests of drivers and of the core itself (feature
//! `test-support`): one model of a disk that takes each [`Ready`] as its
//! contract says, so every test harness persists the same way.

use crate::{Persisted, Ready, SnapshotMeta};

/// Takes `ready` onto `disk` in the order its contract gives: hard state,
/// then the snapshot (dropping the whole log, or only what it covers when
/// `keep_suffix`), then the entries, each replacing what the disk holds
/// from its index on. An error when the entries would leave a gap after
/// the disk's log (the disk takes them anyway, for the caller to judge).
pub fn persist(disk: &mut Persisted, ready: &Ready) -> Result<(), String> {
    if let Some(hs) = ready.hard_state {
        disk.hard_state = hs;
    }
    if let Some(install) = &ready.snapshot {
        let at = install.snapshot.index;
        if install.keep_suffix {
            disk.entries.retain(|e| e.index > at);
        } else {
            disk.entries.clear();
        }
        disk.snapshot = install.snapshot;
        disk.membership = Some(install.membership.clone());
    }
    let mut gap = Ok(());
    if let Some(first) = ready.entries.first() {
        let last = last_index(disk);
        if first.index <= disk.snapshot.index || first.index > last + 1 {
            gap = Err(format!(
                "entries from {} handed out for a disk holding snapshot {:?} and a log through {last}",
                first.index, disk.snapshot
            ));
        }
        disk.entries.retain(|e| e.index < first.index);
        disk.entries.extend(ready.entries.iter().cloned());
    }
    gap
}

/// The last index a model disk holds (its snapshot's when it has no entries).
pub fn last_index(disk: &Persisted) -> u64 {
    disk.entries.last().map_or(disk.snapshot.index, |e| e.index)
}

/// The service's snapshot through `snapshot` (with the configuration in
/// force there) is durable: the disk drops the entries it covers.
pub fn compact(disk: &mut Persisted, snapshot: SnapshotMeta, membership: Option<crate::Membership>) {
    if snapshot.index > disk.snapshot.index {
        disk.snapshot = snapshot;
        disk.membership = membership;
        disk.entries.retain(|e| e.index > snapshot.index);
    }
}
