//! Putting fragmented messages back together, bounded by what that
//! allocates, with a timeout for messages that stay incomplete.
//!
//! The first fragment of a message allocates one slot per fragment the
//! message claims, so a bound on data bytes alone bounds nothing: 1-byte
//! fragments that each claim 65,535 fragments would allocate about 1 MiB of
//! slots apiece. Every incomplete message is therefore charged what it can
//! make the process allocate, reserved in full when its first fragment
//! arrives, and a first fragment whose reservation would take the total
//! past the bound is refused ([`Inserted::Full`]; not acknowledged, so the
//! sender tries again later):
//!
//! - [`BOOKKEEPING_BYTES`] for its map entry and its expiry queue entry, at
//!   [`MAP_SLACK`] and [`QUEUE_SLACK`] times their size: both tables grow
//!   by doubling and are shrunk after every change that leaves them sparser
//!   than that, so their allocations stay within the charge at all times;
//!   plus the allocator's overhead for the slot vector and the two tables;
//! - `count × SLOT_BYTES` for its slot vector;
//! - `count × (FRAGMENT_BYTES + ALLOC_OVERHEAD)` for the fragments it may
//!   store.
//!
//! Reserving the whole message up front is what keeps many concurrent large
//! messages live: a message that was admitted always has room to complete,
//! so the buffer never fills with halves of messages that all wait for room
//! (charging fragments as they came, 8 clients sending 1 MiB each wedged
//! the 8 MiB buffer until the timeout, again and again). On completion or
//! expiry exactly what the message was charged is released, so the total is
//! 0 whenever nothing is held. A fragment count above the limit (more
//! fragments than a message of `max_message_bytes` needs) is refused before
//! anything is allocated.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;

use crate::wire::FRAGMENT_BYTES;

/// Which message a fragment belongs to: (sender, sender's boot, message
/// id). Message ids restart in every boot, so the boot is part of the name.
pub type MessageKey = (u64, u64, u64);

/// Bytes the allocator uses per allocation beyond those asked for (glibc's
/// malloc: an 8-byte header, sizes rounded up to 16, a 32-byte minimum).
pub const ALLOC_OVERHEAD: usize = 32;
/// One slot of a message's slot vector (a fragment's bytes, or nothing yet).
pub const SLOT_BYTES: usize = size_of::<Option<Box<[u8]>>>();
/// The map's buckets per message held, at most: after every change the map
/// is shrunk to fit twice its entries, which hashbrown rounds up to a power
/// of two of buckets at 7/8 load (at most 16/7 × 2 < 5 buckets per entry).
pub const MAP_SLACK: usize = 5;
/// The expiry queue's capacity per message held, at most (it doubles when
/// full and is shrunk to twice its length when over four times).
pub const QUEUE_SLACK: usize = 4;
/// The hash table's fixed part: trailing control bytes and alignment.
const TABLE_FIXED_BYTES: usize = 32;
/// What a message is charged besides its slots and fragments.
pub const BOOKKEEPING_BYTES: usize = MAP_SLACK * (size_of::<(MessageKey, Partial)>() + 1)
    + QUEUE_SLACK * size_of::<(u64, MessageKey)>()
    + TABLE_FIXED_BYTES
    + 3 * ALLOC_OVERHEAD;

/// What happened to an inserted fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Stored; the message is still incomplete.
    Stored,
    /// This fragment completed the message.
    Complete(Vec<u8>),
    /// This fragment was already held.
    Duplicate,
    /// Not stored: holding it would take the charge past the bound.
    Full,
    /// Its fragment count disagrees with earlier fragments of the message,
    /// or its index is not below its count.
    Inconsistent,
    /// It claims more fragments than the largest message allowed has.
    TooManyFragments,
}

/// The bounds of one reassembly buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Bytes charged for all incomplete messages together, at most.
    pub max_bytes: usize,
    /// Fragments a message may claim, at most.
    pub max_fragments: usize,
    /// How long a message may stay incomplete.
    pub timeout_us: u64,
}

#[derive(Debug)]
struct Partial {
    expires_us: u64,
    parts: Box<[Option<Box<[u8]>>]>,
    received: usize,
    /// Everything this message was charged, released when it goes.
    charged: usize,
}

/// Incomplete messages, keyed by [`MessageKey`].
#[derive(Debug)]
pub struct Reassembly {
    partial: HashMap<MessageKey, Partial>,
    /// One entry per incomplete message, in expiry order (the timeout is
    /// the same for all, so arrival order; kept sorted even if the caller's
    /// clock steps back).
    expiry: VecDeque<(u64, MessageKey)>,
    charged: usize,
    limits: ReassemblyLimits,
}

/// What a message of `count` fragments is charged, all of it reserved at
/// its first fragment: the most it can make the process allocate.
fn message_charge(count: u16) -> usize {
    BOOKKEEPING_BYTES + count as usize * (SLOT_BYTES + FRAGMENT_BYTES + ALLOC_OVERHEAD)
}

impl Reassembly {
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembly { partial: HashMap::new(), expiry: VecDeque::new(), charged: 0, limits }
    }

    /// Adds fragment `index` of `count` of message `key`.
    pub fn insert(&mut self, now_us: u64, key: MessageKey, index: u16, count: u16, data: &[u8]) -> Inserted {
        if count as usize > self.limits.max_fragments {
            return Inserted::TooManyFragments;
        }
        if index >= count {
            return Inserted::Inconsistent;
        }
        if !self.partial.contains_key(&key) {
            if !self.fits(message_charge(count)) {
                return Inserted::Full;
            }
            self.start(now_us, key, count);
        }
        self.store(key, index, count, data)
    }

    /// Whether fragment `index` of message `key` is held.
    pub fn holds(&self, key: MessageKey, index: u16) -> bool {
        self.partial.get(&key).and_then(|p| p.parts.get(index as usize)).is_some_and(|s| s.is_some())
    }

    /// Drops incomplete messages whose time is up; returns how many.
    pub fn expire(&mut self, now_us: u64) -> usize {
        let mut dropped = 0;
        while let Some(&(at, key)) = self.expiry.front() {
            if at > now_us {
                break;
            }
            self.expiry.pop_front();
            if let Some(p) = self.partial.remove(&key) {
                self.charged -= p.charged;
                dropped += 1;
            }
        }
        self.shrink();
        dropped
    }

    /// When the oldest incomplete message expires.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.front().map(|&(at, _)| at)
    }

    /// Bytes charged for everything held now (never above the bound).
    pub fn bytes_charged(&self) -> usize {
        self.charged
    }

    /// The charge recomputed from what is held, message by message; equal
    /// to [`Reassembly::bytes_charged`] unless the accounting is wrong (for
    /// tests).
    pub fn recomputed_charge(&self) -> usize {
        self.partial.values().map(|p| message_charge(p.parts.len() as u16)).sum()
    }

    /// Incomplete messages held.
    pub fn incomplete(&self) -> usize {
        self.partial.len()
    }

    pub fn limits(&self) -> ReassemblyLimits {
        self.limits
    }

    fn fits(&self, charge: usize) -> bool {
        self.charged.saturating_add(charge) <= self.limits.max_bytes
    }

    /// A new incomplete message with no fragment yet (the caller checked
    /// that its charge fits).
    fn start(&mut self, now_us: u64, key: MessageKey, count: u16) {
        let latest = self.expiry.back().map_or(0, |&(at, _)| at);
        let expires_us = now_us.saturating_add(self.limits.timeout_us).max(latest);
        let charged = message_charge(count);
        let parts = vec![None; count as usize].into_boxed_slice();
        self.partial.insert(key, Partial { expires_us, parts, received: 0, charged });
        self.expiry.push_back((expires_us, key));
        self.charged += charged;
        // Removals leave tombstones, and hashbrown may grow a table full of
        // them to twice its size with only half of it live.
        self.shrink();
    }

    /// Stores a fragment of a started message (its room was reserved).
    fn store(&mut self, key: MessageKey, index: u16, count: u16, data: &[u8]) -> Inserted {
        let Some(p) = self.partial.get_mut(&key) else { return Inserted::Full };
        if p.parts.len() != count as usize {
            return Inserted::Inconsistent;
        }
        let Some(slot) = p.parts.get_mut(index as usize) else { return Inserted::Inconsistent };
        if slot.is_some() {
            return Inserted::Duplicate;
        }
        if data.len() > FRAGMENT_BYTES {
            return Inserted::Inconsistent; // the decoder refuses these already
        }
        *slot = Some(data.into());
        p.received += 1;
        if p.received < p.parts.len() {
            return Inserted::Stored;
        }
        self.remove(&key).map_or(Inserted::Full, |p| Inserted::Complete(join(&p.parts)))
    }

    fn remove(&mut self, key: &MessageKey) -> Option<Partial> {
        let p = self.partial.remove(key)?;
        let from = self.expiry.partition_point(|&(at, _)| at < p.expires_us);
        let same_time = (from..self.expiry.len()).take_while(|&i| self.expiry[i].0 == p.expires_us);
        if let Some(at) = same_time.into_iter().find(|&i| self.expiry[i].1 == *key) {
            self.expiry.remove(at);
        }
        self.charged -= p.charged;
        self.shrink();
        Some(p)
    }

    /// Gives memory back when the tables are sparser than the charge
    /// assumes; run after every change, so the charge covers them at all
    /// times. Shrinking to twice the entries leaves room to grow: a table
    /// shrinks again only once its entries halved and grows only once they
    /// doubled, so this is O(1) amortized.
    fn shrink(&mut self) {
        let live = self.partial.len();
        // A no-op unless the map has more buckets than 2 × live need (its
        // `capacity()` would not tell: it leaves out tombstones).
        self.partial.shrink_to(2 * live);
        if self.expiry.capacity() > QUEUE_SLACK * live {
            self.expiry.shrink_to(2 * live);
        }
    }
}

/// The message from its fragments, in one allocation.
fn join(parts: &[Option<Box<[u8]>>]) -> Vec<u8> {
    let len = parts.iter().flatten().map(|d| d.len()).sum();
    let mut out = Vec::with_capacity(len);
    parts.iter().flatten().for_each(|d| out.extend_from_slice(d));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::{fragment, fragment_count};

    fn limits(max_bytes: usize) -> ReassemblyLimits {
        ReassemblyLimits { max_bytes, max_fragments: 1024, timeout_us: 1_000 }
    }

    #[test]
    fn split_and_join_in_any_order() {
        let msg: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let n = fragment_count(msg.len());
        assert_eq!(n, 3);
        let mut r = Reassembly::new(limits(1 << 20));
        assert_eq!(r.insert(0, (1, 1, 9), 2, 3, fragment(&msg, 2)), Inserted::Stored);
        let charged = r.bytes_charged();
        assert_eq!(charged, message_charge(3), "the whole message is reserved at once");
        assert_eq!(r.insert(0, (1, 1, 9), 2, 3, fragment(&msg, 2)), Inserted::Duplicate);
        assert_eq!(r.bytes_charged(), charged);
        assert_eq!(r.insert(0, (1, 1, 9), 0, 3, fragment(&msg, 0)), Inserted::Stored);
        assert_eq!(r.bytes_charged(), r.recomputed_charge());
        assert_eq!(r.insert(0, (1, 1, 9), 1, 3, fragment(&msg, 1)), Inserted::Complete(msg));
        assert_eq!((r.bytes_charged(), r.incomplete(), r.next_expiry()), (0, 0, None));
    }

    #[test]
    fn memory_bound_and_timeout() {
        let one = message_charge(2);
        let mut r = Reassembly::new(limits(one + one / 2));
        assert_eq!(r.insert(0, (1, 1, 1), 0, 2, &[0; 1000]), Inserted::Stored);
        assert_eq!(r.insert(0, (1, 1, 2), 0, 2, &[0; 1000]), Inserted::Full);
        assert_eq!(r.insert(0, (1, 1, 1), 1, 3, &[0; 10]), Inserted::Inconsistent);
        assert_eq!(r.bytes_charged(), one);
        assert_eq!(r.next_expiry(), Some(1_000));
        assert_eq!(r.expire(999), 0);
        assert_eq!(r.expire(1_000), 1);
        assert_eq!(r.bytes_charged(), 0);
        assert_eq!(r.insert(0, (1, 1, 2), 0, 2, &[0; 1000]), Inserted::Stored);
    }

    #[test]
    fn the_whole_message_is_charged_before_any_data() {
        // 1 byte of data claiming the most fragments: charged for all of them.
        let mut r = Reassembly::new(limits(message_charge(1024)));
        assert_eq!(r.insert(0, (1, 1, 1), 1023, 1024, &[7]), Inserted::Stored);
        assert_eq!(r.bytes_charged(), message_charge(1024));
        assert_eq!(r.insert(0, (1, 1, 2), 1023, 1024, &[7]), Inserted::Full);
        assert_eq!(r.insert(0, (1, 1, 3), 0, 1025, &[7]), Inserted::TooManyFragments);
        assert_eq!(r.insert(0, (1, 1, 4), 5, 5, &[7]), Inserted::Inconsistent);
        assert_eq!(r.incomplete(), 1);
    }

    /// Admitted messages always have room to complete: interleaved
    /// fragments of more messages than fit never wedge the buffer.
    #[test]
    fn interleaved_large_messages_complete_while_others_wait() {
        let mut r = Reassembly::new(limits(3 * message_charge(64)));
        let mut complete = 0;
        for round in 0..64u16 {
            for id in 0..8 {
                match r.insert(0, (1, 1, id), round, 64, &[0; FRAGMENT_BYTES]) {
                    Inserted::Complete(m) => {
                        assert_eq!(m.len(), 64 * FRAGMENT_BYTES);
                        complete += 1;
                    }
                    Inserted::Stored | Inserted::Full => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(complete, 3, "the three admitted messages completed");
        // Their room went to the next three, admitted at their last round.
        assert_eq!(r.bytes_charged(), 3 * message_charge(64));
    }

    #[test]
    fn a_completed_message_leaves_no_expiry_entry_behind() {
        let mut r = Reassembly::new(limits(1 << 20));
        for id in 0..100 {
            assert_eq!(r.insert(0, (1, 1, id), 0, 2, &[1]), Inserted::Stored);
        }
        for id in (0..100).rev() {
            assert_eq!(r.insert(0, (1, 1, id), 1, 2, &[2]), Inserted::Complete(vec![1, 2]));
        }
        assert_eq!((r.expiry.len(), r.partial.len(), r.bytes_charged()), (0, 0, 0));
        assert_eq!((r.expiry.capacity(), r.partial.capacity()), (0, 0));
    }
}
