//! The leader's lease (thesis §6.4.1), on the driver's clock.
//!
//! The core names the latest round of messages a majority answered
//! ([`raft::Raft::lease_read`]); the lease runs from the moment that round
//! left, which the member notes just before each `ready` hands a round out
//! ([`Lease::note_round`]). A follower that answered refuses to vote for
//! anyone else until a minimum election timeout of its own ticks has
//! passed since it heard the round, so no other leader can exist before
//! then. The lease is that timeout less one tick (a follower's first tick
//! may come right after the message), divided by the drift bound: how
//! much faster than the leader's clock a follower's may run.
//!
//! The clock must keep counting while the process is stopped or the
//! machine suspended (a lease counted in ticks would not: ticks stop with
//! the process, time does not): [`BootClock`] reads `CLOCK_BOOTTIME`.

use std::collections::VecDeque;
use std::time::Duration;

/// A monotonic clock.
pub trait Clock: Send + 'static {
    /// Time since some fixed origin; never goes backwards.
    fn now(&self) -> Duration;
}

/// `CLOCK_BOOTTIME`: monotonic, and counts time the machine spent
/// suspended (`CLOCK_MONOTONIC`, behind `std::time::Instant`, does not).
#[derive(Debug, Clone, Copy, Default)]
pub struct BootClock;

impl Clock for BootClock {
    fn now(&self) -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
    }
}

/// Rounds remembered at most: a leader that hears from nobody starts a
/// round per turn until CheckQuorum deposes it. Forgetting the oldest
/// only ends a lease early.
const MAX_ROUNDS: usize = 4096;

/// A leader's lease, off unless [`Lease::new`] was given a duration.
pub struct Lease {
    clock: Box<dyn Clock>,
    duration: Option<Duration>,
    /// When each recent round was handed out, oldest first.
    starts: VecDeque<(u64, Duration)>,
}

impl Lease {
    /// A lease of `duration` on `clock` (None: lease reads off).
    pub fn new(clock: Box<dyn Clock>, duration: Option<Duration>) -> Lease {
        Lease { clock, duration, starts: VecDeque::new() }
    }

    /// How long a lease lasts when followers wait `election_min_ticks`
    /// ticks of `tick` before voting for another, and no clock runs more
    /// than `drift_bound` times as fast as another.
    pub fn duration(tick: Duration, election_min_ticks: u32, drift_bound: f64) -> Duration {
        let timeout = tick * election_min_ticks.saturating_sub(1);
        timeout.div_f64(drift_bound.max(1.0))
    }

    pub fn is_on(&self) -> bool {
        self.duration.is_some()
    }

    /// The next `ready` hands out `round` (None: not leading). Called just
    /// before it, so every message of the round leaves after the time
    /// noted.
    pub fn note_round(&mut self, round: Option<u64>) {
        let Some(round) = round.filter(|_| self.is_on()) else {
            self.starts.clear();
            return;
        };
        if self.starts.back().is_some_and(|&(r, _)| r >= round) {
            return;
        }
        self.starts.push_back((round, self.clock.now()));
        if self.starts.len() > MAX_ROUNDS {
            self.starts.pop_front();
        }
    }

    /// True while the lease that round `round` (answered by a majority)
    /// gave is running.
    pub fn holds(&mut self, round: u64) -> bool {
        let Some(duration) = self.duration else { return false };
        while self.starts.len() > 1 && self.starts[1].0 <= round {
            self.starts.pop_front();
        }
        match self.starts.front() {
            Some(&(r, start)) if r == round => self.clock.now() < start + duration,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;

    struct Manual(Arc<AtomicU64>);

    impl Clock for Manual {
        fn now(&self) -> Duration {
            Duration::from_millis(self.0.load(Ordering::Relaxed))
        }
    }

    fn lease(ms: u64) -> (Lease, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1000));
        (Lease::new(Box::new(Manual(now.clone())), Some(Duration::from_millis(ms))), now)
    }

    #[test]
    fn a_lease_runs_from_when_its_round_left_not_from_when_it_was_answered() {
        let (mut l, now) = lease(100);
        l.note_round(Some(1));
        now.store(1090, Ordering::Relaxed);
        l.note_round(Some(2));
        assert!(l.holds(1));
        now.store(1100, Ordering::Relaxed);
        assert!(!l.holds(1), "round 1 left at 1000: its lease ended at 1100");
        assert!(l.holds(2));
    }

    #[test]
    fn an_unknown_round_gives_no_lease() {
        let (mut l, _) = lease(100);
        assert!(!l.holds(0));
        l.note_round(Some(5));
        assert!(!l.holds(4));
        l.note_round(None);
        assert!(!l.holds(5), "a member that stopped leading forgets its rounds");
    }

    #[test]
    fn the_duration_leaves_a_tick_and_divides_by_the_drift_bound() {
        let d = Lease::duration(Duration::from_millis(10), 30, 1.1);
        assert_eq!(d, Duration::from_millis(290).div_f64(1.1));
        assert!(Lease::new(Box::new(BootClock), None).duration.is_none());
    }

    #[test]
    fn the_boot_clock_moves_forward() {
        let (a, b) = (BootClock.now(), BootClock.now());
        assert!(b >= a && a > Duration::ZERO);
    }
}
