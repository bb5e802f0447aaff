//! A deterministic simulator of a Raft group: virtual time, a seeded RNG,
//! an event queue, a faulty network and per-server in-memory disks. It runs
//! a 17 s scenario in milliseconds, checks the safety invariants after
//! every event, and replays a run exactly from its seed.
//!
//! Each server's clock ticks every 10 ms (`Config::lab`) with its own
//! random phase. A proposal marks its server dirty; the `Ready` is
//! processed before virtual time moves on, so proposals made at one instant
//! leave together.

mod driver;
mod invariants;
mod network;
mod node;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::harness::{ApplyChecker, Backend, Failure, TestResult};
use invariants::Invariants;
use network::Network;
use node::SimNode;
use queue::EventQueue;

pub use node::Disk;

/// One tick of every server's clock, in µs (`Config::lab` expects 10 ms).
const TICK_US: u64 = 10_000;

/// The simulated cluster. All randomness comes from `seed`.
pub struct Sim {
    seed: u64,
    now_us: u64,
    rng: ChaCha8Rng,
    queue: EventQueue,
    nodes: Vec<SimNode>,
    network: Network,
    checker: Arc<ApplyChecker>,
    invariants: Invariants,
    /// Events handled so far: the position a failure report names.
    events: u64,
    failure: Option<Failure>,
    rpcs: u64,
    bytes: u64,
}

impl Sim {
    /// `servers` servers, all started and connected; `unreliable` selects
    /// the lab's unreliable network from the start.
    pub fn new(servers: usize, seed: u64, unreliable: bool) -> Sim {
        let mut sim = Sim {
            seed,
            now_us: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: EventQueue::default(),
            nodes: (0..servers).map(|_| SimNode::new()).collect(),
            network: Network::new(servers),
            checker: Arc::new(ApplyChecker::new(servers)),
            invariants: Invariants::new(servers),
            events: 0,
            failure: None,
            rpcs: 0,
            bytes: 0,
        };
        sim.network.unreliable = unreliable;
        for i in 0..servers {
            sim.start(i);
        }
        sim
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// What server `i` has persisted.
    pub fn disk(&self, i: usize) -> &Disk {
        &self.nodes[i].disk
    }

    /// Records the first invariant violation; later ones follow from it.
    fn violation(&mut self, what: String) {
        if self.failure.is_none() {
            self.failure = Some(Failure::Invariant { event: self.events, what });
        }
    }

    /// Builds server `i` from its disk and starts its clock at a random
    /// phase.
    fn start(&mut self, i: usize) {
        let voters: Vec<u64> = (1..=self.nodes.len() as u64).collect();
        let config = raft::Config::lab(i as u64 + 1, voters);
        let rng = Box::new(ChaCha8Rng::seed_from_u64(self.rng.random()));
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        match raft::Raft::new(config, node.disk.persisted(), rng) {
            Ok(r) => node.raft = Some(r),
            Err(e) => {
                let what = format!("server {i} cannot restart from what it persisted: {e}");
                self.violation(what);
                return;
            }
        }
        let incarnation = node.incarnation;
        self.checker.reset(i);
        self.invariants.on_restart(i);
        let phase = self.rng.random_range(1..=TICK_US);
        self.queue.push(self.now_us + phase, queue::Event::Tick { server: i, incarnation });
    }
}

impl Backend for Sim {
    fn servers(&self) -> usize {
        self.nodes.len()
    }

    fn now(&self) -> Duration {
        Duration::from_micros(self.now_us)
    }

    fn sleep(&mut self, d: Duration) -> TestResult<()> {
        let until = self.now_us + u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2);
        self.run_until(until);
        match &self.failure {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    fn connect(&mut self, i: usize) {
        self.network.set_connected(i, true);
    }

    fn disconnect(&mut self, i: usize) {
        self.network.set_connected(i, false);
    }

    fn is_connected(&self, i: usize) -> bool {
        self.network.is_connected(i)
    }

    fn crash(&mut self, i: usize) {
        self.network.set_connected(i, false);
        let node = &mut self.nodes[i];
        if node.raft.take().is_some() {
            node.incarnation += 1;
        }
        node.dirty = false;
    }

    fn restart(&mut self, i: usize) {
        self.crash(i);
        self.start(i);
    }

    fn propose(&mut self, i: usize, cmd: &[u8]) -> Option<(u64, u64)> {
        let node = &mut self.nodes[i];
        let accepted = node.raft.as_mut()?.propose(cmd.to_vec()).ok()?;
        node.dirty = true;
        Some(accepted)
    }

    fn state(&self, i: usize) -> Option<(u64, bool)> {
        let r = self.nodes[i].raft.as_ref()?;
        Some((r.current_term(), r.role() == raft::Role::Leader))
    }

    fn rpc_count(&self) -> u64 {
        self.rpcs
    }

    fn byte_count(&self) -> u64 {
        self.bytes
    }

    fn set_unreliable(&mut self, on: bool) {
        self.network.unreliable = on;
    }

    fn set_long_reordering(&mut self, on: bool) {
        self.network.long_reordering = on;
    }

    fn set_deaf(&mut self, i: usize, deaf: bool) -> TestResult<()> {
        self.network.set_deaf(i, deaf);
        Ok(())
    }

    fn apply_checker(&self) -> &ApplyChecker {
        &self.checker
    }

    fn event_number(&self) -> u64 {
        self.events
    }
}
