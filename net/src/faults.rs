//! Fault injection: a seeded layer between the protocol core and the network
//! that drops (per direction), delays, duplicates and reorders datagrams,
//! and blocks chosen peers entirely (partitions).
//!
//! The endpoint passes every outgoing datagram through [`FaultInjector::outbound`]
//! and every received one through [`FaultInjector::inbound`], so the same
//! faults apply on real sockets and in virtual time. Held-back datagrams come
//! out of [`FaultInjector::release`] when their time comes; the endpoint's
//! `poll_timeout` includes that time. With the same seed and the same inputs
//! the same faults happen.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to inject. The default injects nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultConfig {
    /// Probability of dropping an outgoing datagram.
    pub drop_outbound: f64,
    /// Probability of dropping a received datagram.
    pub drop_inbound: f64,
    /// Outgoing datagrams are held for a uniformly drawn delay in this range
    /// (microseconds, inclusive). `(0, 0)`: no delay.
    pub delay_us: (u64, u64),
    /// Probability of sending an outgoing datagram twice.
    pub duplicate: f64,
    /// Probability of holding an outgoing datagram back by `reorder_delay_us`
    /// more, so that later ones overtake it.
    pub reorder: f64,
    pub reorder_delay_us: u64,
    /// Peers cut off in both directions.
    pub blocked: BTreeSet<u64>,
    /// Seed of the injector's random numbers.
    pub seed: u64,
}

impl FaultConfig {
    /// True when nothing would ever be injected.
    pub fn is_none(&self) -> bool {
        self.drop_outbound <= 0.0
            && self.drop_inbound <= 0.0
            && self.delay_us.1 == 0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.blocked.is_empty()
    }
}

/// A datagram held back until `release_us`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held<T: Ord> {
    release_us: u64,
    seq: u64,
    item: T,
}

/// The injector. `T` is what a held datagram carries (destination and bytes).
#[derive(Debug)]
pub struct FaultInjector<T: Ord> {
    config: FaultConfig,
    rng: ChaCha8Rng,
    held: BinaryHeap<Reverse<Held<T>>>,
    seq: u64,
    /// Nothing configured: skip the dice.
    inactive: bool,
}

/// The injector's verdict on one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on now.
    Pass,
    /// Dropped.
    Drop,
    /// Held back; it comes out of `release` later.
    Held,
}

impl<T: Ord + Clone> FaultInjector<T> {
    pub fn new(config: FaultConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        let inactive = config.is_none();
        FaultInjector { config, rng, held: BinaryHeap::new(), seq: 0, inactive }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Replaces the fault settings (the random sequence goes on).
    pub fn set_config(&mut self, config: FaultConfig) {
        self.inactive = config.is_none();
        self.config = config;
    }

    /// Cuts a peer off (both directions) or reconnects it.
    pub fn set_blocked(&mut self, peer: u64, blocked: bool) {
        if blocked {
            self.config.blocked.insert(peer);
        } else {
            self.config.blocked.remove(&peer);
        }
        self.inactive = self.config.is_none();
    }

    /// Decides about a received datagram from `peer` (if known).
    pub fn inbound(&mut self, peer: Option<u64>) -> Verdict {
        if self.inactive {
            return Verdict::Pass;
        }
        if peer.is_some_and(|p| self.config.blocked.contains(&p)) || self.chance(self.config.drop_inbound) {
            return Verdict::Drop;
        }
        Verdict::Pass
    }

    /// Decides about an outgoing datagram to `peer`: returns it when it is
    /// to be sent now; a held (delayed, reordered or duplicated) copy comes
    /// out of `release` later. `None` with nothing held means dropped.
    pub fn outbound(&mut self, now_us: u64, peer: u64, item: T) -> (Verdict, Option<T>) {
        if self.inactive {
            return (Verdict::Pass, Some(item));
        }
        if self.config.blocked.contains(&peer) || self.chance(self.config.drop_outbound) {
            return (Verdict::Drop, None);
        }
        let copies = if self.chance(self.config.duplicate) { 2 } else { 1 };
        let mut now = None;
        for _ in 0..copies {
            let mut delay = self.delay();
            if self.chance(self.config.reorder) {
                delay += self.config.reorder_delay_us.max(1);
            }
            if delay == 0 && now.is_none() {
                now = Some(item.clone());
            } else {
                self.hold(now_us + delay, item.clone());
            }
        }
        match now {
            Some(item) => (Verdict::Pass, Some(item)),
            None => (Verdict::Held, None),
        }
    }

    /// The next held datagram whose time has come.
    pub fn release(&mut self, now_us: u64) -> Option<T> {
        if self.held.peek().is_some_and(|Reverse(h)| h.release_us <= now_us) {
            return self.held.pop().map(|Reverse(h)| h.item);
        }
        None
    }

    /// When the next held datagram is due.
    pub fn next_release(&self) -> Option<u64> {
        self.held.peek().map(|Reverse(h)| h.release_us)
    }

    fn hold(&mut self, release_us: u64, item: T) {
        self.seq += 1;
        self.held.push(Reverse(Held { release_us, seq: self.seq, item }));
    }

    fn delay(&mut self) -> u64 {
        let (lo, hi) = self.config.delay_us;
        if hi == 0 || hi < lo {
            return lo;
        }
        self.rng.random_range(lo..=hi)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_drop_rate_and_blocking() {
        let config = FaultConfig { drop_outbound: 0.3, seed: 1, ..Default::default() };
        let mut f = FaultInjector::<u32>::new(config.clone());
        let drops = (0..10_000).filter(|&i| f.outbound(0, 2, i).0 == Verdict::Drop).count();
        assert!((2_700..3_300).contains(&drops), "{drops}");
        let mut g = FaultInjector::<u32>::new(config);
        let again = (0..10_000).filter(|&i| g.outbound(0, 2, i).0 == Verdict::Drop).count();
        assert_eq!(drops, again);
        f.set_blocked(3, true);
        assert_eq!(f.inbound(Some(3)), Verdict::Drop);
        assert_eq!(f.outbound(0, 3, 1), (Verdict::Drop, None));
    }

    #[test]
    fn delayed_and_duplicated_come_out_in_time_order() {
        let config = FaultConfig { delay_us: (10, 10), duplicate: 1.0, seed: 2, ..Default::default() };
        let mut f = FaultInjector::<u32>::new(config);
        assert_eq!(f.outbound(0, 2, 7), (Verdict::Held, None));
        assert_eq!(f.next_release(), Some(10));
        assert_eq!(f.release(9), None);
        assert_eq!(f.release(10), Some(7));
        assert_eq!(f.release(10), Some(7));
        assert_eq!(f.release(10), None);
    }
}
