//! Boot ids: every endpoint draws a random nonzero 64-bit id when it is
//! created, and every datagram it sends carries it. A restarted member (or
//! one whose data directory was wiped, or a client process) is a new boot:
//! its message ids start again at 1, and its peers keep a fresh dedup window
//! for it instead of comparing its ids with the previous boot's. No clock
//! and no persisted state are involved, so a clock set back or an empty
//! disk changes nothing; two boots of one node collide with probability
//! 2^-64.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::OsRng;
use rand::TryRngCore;

/// A fresh boot id from the operating system's random source.
pub(crate) fn random_boot_id() -> NonZeroU64 {
    let drawn = OsRng.try_next_u64().unwrap_or_else(|_| fallback());
    NonZeroU64::new(drawn).unwrap_or(NonZeroU64::MIN)
}

/// If the OS random source fails: std's hasher keys (also seeded by the OS,
/// once per thread, then stepped per hasher) over a process-wide counter,
/// still distinct per call and unpredictable across processes.
fn fallback() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ids_are_nonzero_and_distinct() {
        let ids: std::collections::BTreeSet<NonZeroU64> = (0..1000).map(|_| random_boot_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert_ne!(fallback(), fallback());
    }
}
