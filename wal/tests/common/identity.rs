//! Logs with an identity, for the identity tests.

use std::path::Path;

use wal::{inspect, Entry, HardState, Identity, Wal, WalOptions};

use super::{entry, small};

pub const ME: Identity = Identity { cluster_id: 7001, member_id: 2 };

pub fn options(identity: Identity) -> WalOptions {
    WalOptions { identity, ..small(4096) }
}

/// A synced log of `n` entries of 100 bytes over several segments.
pub fn build(dir: &Path, identity: Identity, n: u64) -> Vec<Entry> {
    let entries: Vec<Entry> = (1..=n).map(|i| entry(i, 1, 100)).collect();
    let (mut wal, _) = Wal::open(dir, options(identity)).unwrap();
    wal.set_hard_state(HardState { current_term: 1, voted_for: Some(identity.member_id) }).unwrap();
    wal.append(&entries).unwrap();
    wal.sync().unwrap();
    entries
}

/// Rewrites every segment header of `dir` as a version-1 log's: no identity.
pub fn make_version_1(dir: &Path) {
    for path in inspect::segments(dir).unwrap() {
        let (mut header, _, _) = inspect::walk_segment(&path, &mut |_, _, _| {}).unwrap();
        header.identity = None;
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..wal::format::HEADER_LEN].copy_from_slice(&header.encode());
        std::fs::write(&path, bytes).unwrap();
    }
}
