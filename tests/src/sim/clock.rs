//! Each simulated server's clock, and the clock nemesis.
//!
//! A server's clock runs at its own rate against virtual time: its ticks
//! come every `TICK_US / rate` µs and its lease is measured on
//! `virtual time × rate`, as a machine whose oscillator runs fast or slow
//! counts both its timers and its monotonic clock faster or slower. The
//! nemesis (`clock`) draws rates whose ratio stays within the lease's drift
//! bound ([`DRIFT_BOUND`]): lease reads must stay linearizable.
//! [`Sim::set_clock_rate`] can go beyond it, to show the checker catches
//! what the bound is for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use super::nemesis::Fault;
use super::{Sim, TICK_US};

/// How much faster one server's clock may run than another's, as the
/// simulated cluster's lease assumes (cluster.toml's
/// `clock_drift_percent = 10`).
pub const DRIFT_BOUND: f64 = 1.1;

/// `clockbeyond`: the leader's clock rate, far outside [`DRIFT_BOUND`]
/// (its lease lasts 5× as long in virtual time as the others wait).
const BEYOND_RATE: f64 = 0.2;

/// Virtual time, shared with every server's clock.
pub(super) type Now = Arc<AtomicU64>;

/// Where a server's clock stood when its rate last changed.
#[derive(Debug, Clone, Copy)]
struct Segment {
    since_us: u64,
    local_us: f64,
    rate: f64,
}

/// A server's clock: from each rate change on, it advances at its rate
/// against virtual time (so it never jumps, whatever the rates).
#[derive(Clone)]
pub(super) struct SimClock {
    now_us: Now,
    segment: Arc<Mutex<Segment>>,
}

impl SimClock {
    fn new(now_us: Now, rate: f64) -> SimClock {
        let at = now_us.load(Ordering::Relaxed);
        let segment = Segment { since_us: at, local_us: at as f64, rate };
        SimClock { now_us, segment: Arc::new(Mutex::new(segment)) }
    }

    fn local_us(&self) -> f64 {
        let s = *self.segment.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.now_us.load(Ordering::Relaxed);
        s.local_us + now.saturating_sub(s.since_us) as f64 * s.rate
    }

    fn set_rate(&self, rate: f64) {
        let local_us = self.local_us();
        let since_us = self.now_us.load(Ordering::Relaxed);
        *self.segment.lock().unwrap_or_else(|p| p.into_inner()) = Segment { since_us, local_us, rate };
    }

    fn rate(&self) -> f64 {
        self.segment.lock().unwrap_or_else(|p| p.into_inner()).rate
    }
}

impl node::member::lease::Clock for SimClock {
    fn now(&self) -> Duration {
        Duration::from_micros(self.local_us() as u64)
    }
}

/// Every server's clock, at rate 1 until told otherwise.
pub(super) fn clocks(now_us: &Now, servers: usize) -> Vec<SimClock> {
    (0..servers).map(|_| SimClock::new(now_us.clone(), 1.0)).collect()
}

/// The lease the simulated servers hold: the lab's timing, [`DRIFT_BOUND`].
pub(super) fn lease() -> Duration {
    let lab = node::config::Timing::LAB;
    node::member::lease::Lease::duration(Duration::from_micros(TICK_US), lab.election_min_ticks, DRIFT_BOUND)
}

impl Sim {
    /// From now on server `i`'s clock runs at `rate` × virtual time (its
    /// ticks and its lease). A rate of 1 is exact.
    pub fn set_clock_rate(&mut self, i: usize, rate: f64) {
        self.clocks[i].set_rate(rate);
    }

    /// Virtual µs between two of server `i`'s ticks.
    pub(super) fn tick_us(&self, i: usize) -> u64 {
        ((TICK_US as f64 / self.clocks[i].rate()).round() as u64).max(1)
    }

    /// Server `i`'s clock, for its lease.
    pub(super) fn clock_of(&self, i: usize) -> SimClock {
        self.clocks[i].clone()
    }

    /// The clock nemesis: every server draws a rate in `[1/√D, √D]` (so any
    /// two differ by at most [`DRIFT_BOUND`]), again every 0.3–1 s.
    pub(super) fn clock_next(&mut self) {
        let half = DRIFT_BOUND.sqrt();
        let slow = self.current_leader().filter(|_| self.nemesis.clock_beyond);
        for i in 0..self.clocks.len() {
            let rate = match slow {
                Some(leader) => {
                    if i == leader {
                        BEYOND_RATE
                    } else {
                        1.0
                    }
                }
                None => self.rng.random_range(1.0 / half..=half),
            };
            self.set_clock_rate(i, rate);
        }
        self.nemesis_in(300_000..1_000_000, Fault::ClockNext);
    }
}
