//! Splitting messages into fragments and reassembling them, with a bound on
//! the memory held for incomplete messages and a timeout that drops them.

use std::collections::{HashMap, VecDeque};

use crate::wire::FRAGMENT_BYTES;

/// Number of fragments for a message of `len` bytes (an empty message
/// still takes one).
pub fn fragment_count(len: usize) -> usize {
    len.div_ceil(FRAGMENT_BYTES).max(1)
}

/// The bytes of fragment `index` of `message`.
pub fn fragment(message: &[u8], index: usize) -> &[u8] {
    let start = (index * FRAGMENT_BYTES).min(message.len());
    let end = (start + FRAGMENT_BYTES).min(message.len());
    &message[start..end]
}

/// What happened to an inserted fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Stored; the message is still incomplete.
    Stored,
    /// This fragment completed the message.
    Complete(Vec<u8>),
    /// This fragment was already held.
    Duplicate,
    /// Not stored: holding it would exceed the memory bound.
    Full,
    /// Its fragment count disagrees with earlier fragments of the message.
    Inconsistent,
}

#[derive(Debug)]
struct Partial {
    expires_us: u64,
    parts: Vec<Option<Vec<u8>>>,
    received: usize,
    bytes: usize,
}

/// Incomplete messages, keyed by (sender, message id).
#[derive(Debug)]
pub struct Reassembly {
    partial: HashMap<(u64, u64), Partial>,
    /// Keys in arrival order; since the timeout is the same for all, the
    /// front expires first. Entries of completed messages are skipped.
    expiry: VecDeque<(u64, (u64, u64))>,
    bytes_held: usize,
    max_bytes: usize,
    timeout_us: u64,
}

impl Reassembly {
    pub fn new(max_bytes: usize, timeout_us: u64) -> Self {
        Reassembly { partial: HashMap::new(), expiry: VecDeque::new(), bytes_held: 0, max_bytes, timeout_us }
    }

    /// Adds fragment `index` of `count` of message `key`.
    pub fn insert(&mut self, now_us: u64, key: (u64, u64), index: u16, count: u16, data: &[u8]) -> Inserted {
        if !self.partial.contains_key(&key) {
            if self.bytes_held + data.len() > self.max_bytes {
                return Inserted::Full;
            }
            let partial = Partial {
                expires_us: now_us + self.timeout_us,
                parts: vec![None; count as usize],
                received: 0,
                bytes: 0,
            };
            self.partial.insert(key, partial);
            self.expiry.push_back((now_us + self.timeout_us, key));
        }
        let Some(p) = self.partial.get_mut(&key) else { return Inserted::Full };
        if p.parts.len() != count as usize {
            return Inserted::Inconsistent;
        }
        let slot = &mut p.parts[index as usize];
        if slot.is_some() {
            return Inserted::Duplicate;
        }
        if self.bytes_held + data.len() > self.max_bytes {
            return Inserted::Full;
        }
        *slot = Some(data.to_vec());
        p.received += 1;
        p.bytes += data.len();
        self.bytes_held += data.len();
        if p.received < p.parts.len() {
            return Inserted::Stored;
        }
        let done = self.remove(&key).map(|p| p.parts.into_iter().flatten().flatten().collect());
        done.map_or(Inserted::Full, Inserted::Complete)
    }

    /// Whether fragment `index` of message `key` is held.
    pub fn holds(&self, key: (u64, u64), index: u16) -> bool {
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
            let live = self.partial.get(&key).is_some_and(|p| p.expires_us == at);
            if live && self.remove(&key).is_some() {
                dropped += 1;
            }
        }
        dropped
    }

    /// When the oldest incomplete message expires.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.front().map(|&(at, _)| at)
    }

    pub fn bytes_held(&self) -> usize {
        self.bytes_held
    }

    pub fn incomplete(&self) -> usize {
        self.partial.len()
    }

    fn remove(&mut self, key: &(u64, u64)) -> Option<Partial> {
        let p = self.partial.remove(key)?;
        self.bytes_held -= p.bytes;
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_in_any_order() {
        let msg: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let n = fragment_count(msg.len());
        assert_eq!(n, 3);
        let mut r = Reassembly::new(1 << 20, 1_000);
        assert_eq!(r.insert(0, (1, 9), 2, 3, fragment(&msg, 2)), Inserted::Stored);
        assert_eq!(r.insert(0, (1, 9), 2, 3, fragment(&msg, 2)), Inserted::Duplicate);
        assert_eq!(r.insert(0, (1, 9), 0, 3, fragment(&msg, 0)), Inserted::Stored);
        assert_eq!(r.insert(0, (1, 9), 1, 3, fragment(&msg, 1)), Inserted::Complete(msg));
        assert_eq!(r.bytes_held(), 0);
    }

    #[test]
    fn memory_bound_and_timeout() {
        let mut r = Reassembly::new(1500, 1_000);
        assert_eq!(r.insert(0, (1, 1), 0, 2, &[0; 1000]), Inserted::Stored);
        assert_eq!(r.insert(0, (1, 2), 0, 2, &[0; 1000]), Inserted::Full);
        assert_eq!(r.insert(0, (1, 1), 1, 3, &[0; 10]), Inserted::Inconsistent);
        assert_eq!(r.next_expiry(), Some(1_000));
        assert_eq!(r.expire(999), 0);
        assert_eq!(r.expire(1_000), 1);
        assert_eq!(r.bytes_held(), 0);
        assert_eq!(r.insert(0, (1, 2), 0, 2, &[0; 1000]), Inserted::Stored);
    }
}
