//! Nemeses: faults the simulator injects on its own schedule, each drawn
//! from the run's seed, to hunt for what a scripted scenario would not try.
//!
//! - crash: crash-restart storms: 2–5 crashes 10–100 ms apart, each of a
//!   server (the leader a third of the time) at once or at a chosen point
//!   of its next turn (before the write, during the sync, before the
//!   messages, before the replies), restarted 0–150 ms later: several
//!   crashes within one election timeout, often during elections. Storms
//!   are 0.3–1 s apart.
//! - partition: bursts of 100–300 ms during which the servers are split
//!   into random groups every 5–50 ms; between bursts, 0.3–1 s of one
//!   random partition or none.
//! - oneway: a server, or the leader, can send but not receive for
//!   50–400 ms.
//! - holdback: 2% of messages are held back 0.5–3 s (across several terms)
//!   and then delivered.
//! - slowdisk: a server's syncs take 2–20 ms for 100–500 ms.
//! - forge: 1% of messages are followed by a forged copy with an extreme
//!   value (a term past `MAX_TERM`, a log position with index and term
//!   disagreeing, entries out of order), which the receiver must refuse.
//! - clock: every server's clock runs at its own rate, within the lease's
//!   drift bound, redrawn every 0.3–1 s (`clock.rs`). `clockbeyond` breaks
//!   the bound (the leader's clock runs 5× slow), for the test that shows
//!   the checker catches what the bound is for; never in `all`.
//! - churn: membership changes and leadership transfers every 50–300 ms
//!   (`churn.rs`), with every other fault above: the run has 7 servers, 3
//!   of them the bootstrap voters, and the voters go between 3 and 7.
//! - selfremove, relearn: operators that remove the leader while it is cut
//!   off, and remove and re-add learners on a lossy network
//!   (`removals.rs`).
//!
//! Faults stop at [`Sim::heal`]; the run then checks that every client
//! operation completes.

use raft::{Body, Message};
use rand::Rng;

use super::node::CrashPoint;
use super::queue::{Addr, Event, Packet};
use super::Sim;

/// Which faults a run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Nemesis {
    pub crash: bool,
    pub partition: bool,
    pub one_way: bool,
    pub hold_back: bool,
    pub slow_disk: bool,
    pub forge: bool,
    pub churn: bool,
    pub self_remove: bool,
    pub relearn: bool,
    pub clock: bool,
    pub clock_beyond: bool,
    pub reorder: bool,
}

impl Nemesis {
    pub const NONE: Nemesis = Nemesis {
        crash: false,
        partition: false,
        one_way: false,
        hold_back: false,
        slow_disk: false,
        forge: false,
        churn: false,
        self_remove: false,
        relearn: false,
        clock: false,
        clock_beyond: false,
        reorder: false,
    };
    pub const ALL: Nemesis = Nemesis {
        crash: true,
        partition: true,
        one_way: true,
        hold_back: true,
        slow_disk: true,
        forge: true,
        churn: false,
        self_remove: false,
        relearn: false,
        clock: true,
        clock_beyond: false,
        reorder: true,
    };

    /// Profile names, for the command line and the tests.
    pub const NAMES: [&'static str; 13] = [
        "none",
        "crash",
        "partition",
        "oneway",
        "holdback",
        "slowdisk",
        "forge",
        "clock",
        "reorder",
        "all",
        "churn",
        "selfremove",
        "relearn",
    ];

    pub fn by_name(name: &str) -> Option<Nemesis> {
        let n = Nemesis::NONE;
        Some(match name {
            "none" => n,
            "crash" => Nemesis { crash: true, ..n },
            "partition" => Nemesis { partition: true, ..n },
            "oneway" => Nemesis { one_way: true, ..n },
            "holdback" => Nemesis { hold_back: true, ..n },
            "slowdisk" => Nemesis { slow_disk: true, ..n },
            "forge" => Nemesis { forge: true, ..n },
            "clock" => Nemesis { clock: true, ..n },
            "clockbeyond" => Nemesis { clock: true, clock_beyond: true, ..n },
            "reorder" => Nemesis { reorder: true, ..n },
            "all" => Nemesis::ALL,
            "churn" => Nemesis { churn: true, ..Nemesis::ALL },
            "selfremove" => Nemesis { self_remove: true, ..n },
            "relearn" => Nemesis { relearn: true, hold_back: true, ..n },
            _ => return None,
        })
    }

    /// A comma-separated list of names: every fault any of them injects.
    pub fn parse(list: &str) -> Option<Nemesis> {
        list.split(',').map(|name| Nemesis::by_name(name.trim())).try_fold(Nemesis::NONE, |acc, n| {
            let n = n?;
            Some(Nemesis {
                crash: acc.crash || n.crash,
                partition: acc.partition || n.partition,
                one_way: acc.one_way || n.one_way,
                hold_back: acc.hold_back || n.hold_back,
                slow_disk: acc.slow_disk || n.slow_disk,
                forge: acc.forge || n.forge,
                churn: acc.churn || n.churn,
                self_remove: acc.self_remove || n.self_remove,
                relearn: acc.relearn || n.relearn,
                clock: acc.clock || n.clock,
                clock_beyond: acc.clock_beyond || n.clock_beyond,
                reorder: acc.reorder || n.reorder,
            })
        })
    }
}

/// One nemesis action.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The next crash; `left` more in this storm.
    CrashNext {
        left: u32,
    },
    Restart {
        server: usize,
    },
    /// The next re-partition; the burst lasts until `until_us`.
    PartitionNext {
        until_us: u64,
    },
    OneWayNext,
    Hear {
        server: usize,
    },
    SlowDiskNext,
    /// The next membership change or leadership transfer.
    ChurnNext,
    /// The next step of the `selfremove` and `relearn` operators.
    SelfRemoveNext,
    RelearnNext,
    /// New clock rates (`clock.rs`).
    ClockNext,
    /// The end of a `selfremove` cut.
    Rejoin,
}

impl Sim {
    pub(super) fn start_nemesis(&mut self) {
        let n = self.nemesis;
        let first = [
            (n.crash, Fault::CrashNext { left: 0 }),
            (n.partition, Fault::PartitionNext { until_us: 0 }),
            (n.one_way, Fault::OneWayNext),
            (n.slow_disk, Fault::SlowDiskNext),
            (n.churn, Fault::ChurnNext),
            (n.self_remove, Fault::SelfRemoveNext),
            (n.relearn, Fault::RelearnNext),
            (n.clock, Fault::ClockNext),
        ];
        for (on, fault) in first {
            if on {
                self.nemesis_in(50_000..300_000, fault);
            }
        }
        if n.hold_back {
            self.network.hold_back_per_mille = 20;
        }
        if n.reorder {
            self.network.reorder_per_mille = 100;
        }
        if n.relearn {
            self.network.unreliable = true;
        }
    }

    /// Schedules `fault` after a delay drawn from `after_us`.
    pub(super) fn nemesis_in(&mut self, after_us: std::ops::Range<u64>, fault: Fault) {
        let at = self.now_us + self.rng.random_range(after_us);
        self.queue.push(at, Event::Nemesis(fault));
    }

    /// Stops every fault: crashed servers restart, the network heals, disks
    /// are fast again. Faults already scheduled do nothing.
    pub fn heal(&mut self) {
        if self.nemesis.relearn {
            self.network.unreliable = false;
        }
        self.nemesis = Nemesis::NONE;
        self.network.hold_back_per_mille = 0;
        self.network.reorder_per_mille = 0;
        self.network.set_groups(None);
        for i in 0..self.nodes.len() {
            self.network.set_deaf(i, false);
            self.nodes[i].disk.slow_until_us = 0;
            self.nodes[i].crash_at = None;
            if self.nodes[i].member.is_none() {
                self.start(i);
            }
        }
    }

    pub(super) fn nemesis_acts(&mut self, fault: Fault) {
        let n = self.nemesis;
        match fault {
            Fault::CrashNext { left } if n.crash => self.crash_storm(left),
            Fault::Restart { server } if n.crash => {
                self.nodes[server].crash_at = None;
                if self.nodes[server].member.is_none() {
                    self.start(server);
                }
            }
            Fault::PartitionNext { until_us } if n.partition => self.repartition(until_us),
            Fault::OneWayNext if n.one_way => {
                let server = self.victim();
                self.network.set_deaf(server, true);
                self.nemesis_in(50_000..400_000, Fault::Hear { server });
                self.nemesis_in(100_000..600_000, Fault::OneWayNext);
            }
            Fault::Hear { server } => self.network.set_deaf(server, false),
            Fault::SlowDiskNext if n.slow_disk => {
                let server = self.rng.random_range(0..self.nodes.len());
                self.nodes[server].disk.slow_until_us = self.now_us + self.rng.random_range(100_000..500_000);
                self.nemesis_in(200_000..800_000, Fault::SlowDiskNext);
            }
            Fault::ChurnNext if n.churn => {
                self.churn_next();
                self.nemesis_in(50_000..300_000, Fault::ChurnNext);
            }
            Fault::SelfRemoveNext if n.self_remove => self.self_remove_next(),
            Fault::RelearnNext if n.relearn => self.relearn_next(),
            Fault::ClockNext if n.clock => self.clock_next(),
            Fault::Rejoin => self.network.set_groups(None),
            _ => {} // healed since
        }
    }

    /// The leader a third of the time, else any server.
    fn victim(&mut self) -> usize {
        let leader = (0..self.nodes.len())
            .find(|&i| self.nodes[i].member.as_ref().is_some_and(|m| m.raft().role() == raft::Role::Leader));
        match leader {
            Some(l) if self.rng.random_range(0..3) == 0 => l,
            _ => self.rng.random_range(0..self.nodes.len()),
        }
    }

    /// One crash of a storm; the next one soon, or the next storm later.
    fn crash_storm(&mut self, left: u32) {
        let server = self.victim();
        if self.nodes[server].member.is_some() {
            if self.rng.random_bool(0.5) {
                self.crash(server);
            } else {
                let point = CrashPoint::ALL[self.rng.random_range(0..CrashPoint::ALL.len())];
                self.nodes[server].crash_at = Some(point);
            }
            self.nemesis_in(0..150_000, Fault::Restart { server });
        }
        if left > 0 {
            self.nemesis_in(10_000..100_000, Fault::CrashNext { left: left - 1 });
        } else {
            let storm = self.rng.random_range(1..5);
            self.nemesis_in(300_000..1_000_000, Fault::CrashNext { left: storm });
        }
    }

    /// Random groups, again and again until `until_us`; then one random
    /// partition (or none) that holds until the next burst.
    fn repartition(&mut self, until_us: u64) {
        let servers = self.nodes.len();
        let groups =
            self.rng.random_bool(0.7).then(|| (0..servers).map(|_| self.rng.random_range(0..2)).collect());
        self.network.set_groups(groups);
        if self.now_us < until_us {
            self.nemesis_in(5_000..50_000, Fault::PartitionNext { until_us });
        } else {
            let burst_end = |s: &mut Sim, at: u64| at + s.rng.random_range(100_000..300_000);
            let next_at = self.now_us + self.rng.random_range(300_000..1_000_000);
            let until_us = burst_end(self, next_at);
            self.queue.push(next_at, Event::Nemesis(Fault::PartitionNext { until_us }));
        }
    }

    /// With the forge nemesis, sometimes follows `msg` with a forged copy
    /// that no correct member sends.
    pub(super) fn nemesis_forge(&mut self, from: usize, msg: &Message) {
        if !self.nemesis.forge || self.rng.random_range(0..100) != 0 {
            return;
        }
        let mut forged = msg.clone();
        match (&mut forged.body, self.rng.random_range(0..3)) {
            (Body::RequestVote { last_log_index, last_log_term, leadership_transfer: false }, 1) => {
                *last_log_index = u64::MAX;
                *last_log_term = 0;
            }
            (Body::AppendEntries { entries, .. }, 2) if !entries.is_empty() => {
                entries[0].index = entries[0].index.wrapping_add(1 + self.rng.random_range(0..u64::MAX / 2));
            }
            _ => {
                let past = raft::MAX_TERM + raft::MAX_TERM_JUMP + 1;
                forged.term = past + self.rng.random_range(0..u64::from(u32::MAX) - raft::MAX_TERM_JUMP);
            }
        }
        let to = Addr::Server(super::driver::server_of(forged.to));
        let is_request = forged.is_request();
        self.transmit(Packet::Raft { msg: forged, hostile: true }, Addr::Server(from), to, is_request);
    }
}
