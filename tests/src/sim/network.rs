//! The network model: who is connected, and what happens to each message
//! (lost, delayed, duplicated) under the lab's reliable and unreliable
//! profiles (labrpc's `processReq`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Delays in microseconds.
const RELIABLE_DELAY_US: std::ops::Range<u64> = 100..500;
/// labrpc: an unreliable request waits `rand() % 27` ms first.
const UNRELIABLE_REQUEST_DELAY_US: std::ops::Range<u64> = 0..27_000;
/// labrpc drops 10% of requests and 10% of replies when unreliable.
const LOSS_PER_MILLE: u32 = 100;
/// Not in labrpc, but real networks do it: a few messages arrive twice.
const DUPLICATE_PER_MILLE: u32 = 10;
/// How long a held-back message waits (a nemesis): across several terms.
const HOLD_BACK_US: std::ops::Range<u64> = 500_000..3_000_000;
/// The extra delay of a reordered message (the `reorder` nemesis): a few
/// times the usual one, so it arrives after those sent just after it.
const REORDER_US: std::ops::Range<u64> = 200..5_000;

/// Connection state and fault profile of the simulated network.
pub struct Network {
    connected: Vec<bool>,
    /// Can send but not receive (a one-way partition).
    deaf: Vec<bool>,
    /// Partition groups: servers in different groups cannot talk.
    groups: Option<Vec<usize>>,
    pub unreliable: bool,
    pub long_reordering: bool,
    /// Per mille of messages held back for 0.5–3 s.
    pub hold_back_per_mille: u32,
    /// Per mille of messages delayed by `REORDER_US` (reordering).
    pub reorder_per_mille: u32,
}

impl Network {
    /// All servers connected, reliable.
    pub fn new(servers: usize) -> Network {
        Network {
            connected: vec![true; servers],
            deaf: vec![false; servers],
            groups: None,
            unreliable: false,
            long_reordering: false,
            hold_back_per_mille: 0,
            reorder_per_mille: 0,
        }
    }

    pub fn is_connected(&self, i: usize) -> bool {
        self.connected[i]
    }

    pub fn set_connected(&mut self, i: usize, on: bool) {
        self.connected[i] = on;
    }

    pub fn set_deaf(&mut self, i: usize, deaf: bool) {
        self.deaf[i] = deaf;
    }

    /// Splits the servers into groups (`groups[i]` is server i's); `None`
    /// heals the partition.
    pub fn set_groups(&mut self, groups: Option<Vec<usize>>) {
        self.groups = groups;
    }

    /// A message may pass between `from` and `to` only while both are
    /// connected, in the same partition group, and `to` is not deaf
    /// (checked at send and again at delivery).
    pub fn link_up(&self, from: usize, to: usize) -> bool {
        let same_side = self.groups.as_ref().is_none_or(|g| g[from] == g[to]);
        self.connected[from] && self.connected[to] && !self.deaf[to] && same_side
    }

    /// Clients reach a server while it is connected (and not deaf, for what
    /// the client sends); partitions are between servers.
    pub fn client_link_up(&self, server: usize, to_server: bool) -> bool {
        self.connected[server] && !(to_server && self.deaf[server])
    }

    /// The delays (µs) of the copies of one message that will arrive:
    /// none when it is lost, two when it is duplicated.
    pub fn fates(&self, is_request: bool, rng: &mut ChaCha8Rng) -> Vec<u64> {
        let mut fates = self.lab_fates(is_request, rng);
        for (per_mille, extra) in
            [(self.hold_back_per_mille, HOLD_BACK_US), (self.reorder_per_mille, REORDER_US)]
        {
            if per_mille == 0 {
                continue;
            }
            for delay in &mut fates {
                if rng.random_range(0..1000) < per_mille {
                    *delay += rng.random_range(extra.clone());
                }
            }
        }
        fates
    }

    fn lab_fates(&self, is_request: bool, rng: &mut ChaCha8Rng) -> Vec<u64> {
        if !self.unreliable {
            let delay = rng.random_range(RELIABLE_DELAY_US) + self.reorder_delay(is_request, rng);
            return vec![delay];
        }
        if rng.random_range(0..1000) < LOSS_PER_MILLE {
            return Vec::new();
        }
        let mut copies = vec![self.unreliable_delay(is_request, rng)];
        if rng.random_range(0..1000) < DUPLICATE_PER_MILLE {
            copies.push(self.unreliable_delay(is_request, rng));
        }
        copies
    }

    fn unreliable_delay(&self, is_request: bool, rng: &mut ChaCha8Rng) -> u64 {
        let base = if is_request {
            rng.random_range(UNRELIABLE_REQUEST_DELAY_US)
        } else {
            rng.random_range(RELIABLE_DELAY_US)
        };
        base + self.reorder_delay(is_request, rng)
    }

    /// labrpc's long reordering: 600 of 900 replies wait
    /// `200 + rand(1 + rand(2000))` ms.
    fn reorder_delay(&self, is_request: bool, rng: &mut ChaCha8Rng) -> u64 {
        if is_request || !self.long_reordering || rng.random_range(0..900) >= 600 {
            return 0;
        }
        let upper = rng.random_range(0..2000u64);
        (200 + rng.random_range(0..=upper)) * 1000
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn unreliable_loses_about_a_tenth_and_delays_requests() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut net = Network::new(3);
        net.unreliable = true;
        let fates: Vec<Vec<u64>> = (0..10_000).map(|_| net.fates(true, &mut rng)).collect();
        let lost = fates.iter().filter(|f| f.is_empty()).count();
        assert!((800..1200).contains(&lost), "lost {lost} of 10000");
        assert!(fates.iter().flatten().all(|&d| d < 27_000));
        assert!(fates.iter().any(|f| f.len() == 2));
    }

    #[test]
    fn long_reordering_delays_replies_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut net = Network::new(3);
        net.long_reordering = true;
        let long = (0..900).filter(|_| net.fates(false, &mut rng)[0] >= 200_000).count();
        assert!((500..700).contains(&long), "{long} of 900 delayed");
        assert!((0..100).all(|_| net.fates(true, &mut rng)[0] < 1_000));
    }
}
