//! The lab's `config`: a [`Backend`] plus the scenario's own seeded RNG and
//! the bookkeeping for the result line each scenario prints.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{ApplyChecker, Backend, Failure, TestResult};

/// What one scenario run measured: the lab's result line
/// (`name  seconds  servers  rpcs  bytes  commands`) plus wall time and
/// the scenario's own notes (e.g. count_2b's rpcs per phase).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub name: String,
    /// Cluster time (virtual in the simulator).
    pub seconds: f64,
    pub servers: usize,
    pub rpcs: u64,
    pub bytes: u64,
    /// Highest index applied anywhere, less the one at `begin`.
    pub commands: u64,
    pub wall: Duration,
    pub notes: Vec<(&'static str, u64)>,
}

impl Summary {
    /// The lab's line.
    pub fn line(&self) -> String {
        format!(
            "{}  {:.1}  {}  {}  {}  {}",
            self.name, self.seconds, self.servers, self.rpcs, self.bytes, self.commands
        )
    }
}

/// Counters at `begin`, to report differences at `end`.
struct Start {
    name: String,
    at: Duration,
    rpcs: u64,
    bytes: u64,
    max_index: u64,
    wall: Instant,
}

/// A scenario's handle on the cluster: the back end, a seeded RNG for the
/// scenario's own random choices, and the lab's helpers (`checks.rs`).
pub struct Tester {
    backend: Box<dyn Backend>,
    rng: ChaCha8Rng,
    start: Start,
    notes: Vec<(&'static str, u64)>,
}

impl Tester {
    /// `seed` drives the scenario's choices; the back end has its own.
    pub fn new(backend: Box<dyn Backend>, seed: u64) -> Tester {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1); // independent of a simulator seeded the same way
        let start = Start {
            name: String::new(),
            at: Duration::ZERO,
            rpcs: 0,
            bytes: 0,
            max_index: 0,
            wall: Instant::now(),
        };
        Tester { backend, rng, start, notes: Vec::new() }
    }

    /// Starts the counters of the result line (the lab's `begin`).
    pub fn begin(&mut self, name: &str) {
        self.start = Start {
            name: name.to_string(),
            at: self.backend.now(),
            rpcs: self.backend.rpc_count(),
            bytes: self.backend.byte_count(),
            max_index: self.backend.apply_checker().max_index(),
            wall: Instant::now(),
        };
        self.notes.clear();
    }

    /// The result line since `begin` (the lab's `end`).
    /// The back end's timeline of the run, if it recorded one.
    pub fn take_timeline(&mut self, title: &str) -> Option<node::timeline::Timeline> {
        self.backend.take_timeline(title)
    }

    pub fn end(&mut self) -> Summary {
        Summary {
            name: self.start.name.clone(),
            seconds: (self.backend.now() - self.start.at).as_secs_f64(),
            servers: self.backend.servers(),
            rpcs: self.backend.rpc_count() - self.start.rpcs,
            bytes: self.backend.byte_count() - self.start.bytes,
            commands: self.backend.apply_checker().max_index() - self.start.max_index,
            wall: self.start.wall.elapsed(),
            notes: std::mem::take(&mut self.notes),
        }
    }

    /// Records a measurement for the report (shown by the `lab` binary).
    pub fn note(&mut self, key: &'static str, value: u64) {
        self.notes.push((key, value));
    }

    /// A scenario check failed: the lab's `Fatalf`.
    pub fn fail(&self, what: impl Into<String>) -> Failure {
        Failure::Scenario { event: self.backend.event_number(), what: what.into() }
    }

    /// Fails with `what` unless `ok`.
    pub fn check(&self, ok: bool, what: impl FnOnce() -> String) -> TestResult<()> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(what()))
        }
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// A random server number.
    pub fn random_server(&mut self) -> usize {
        let n = self.n();
        self.rng.random_range(0..n)
    }

    /// A random integer command (the lab's `rand.Int()`).
    pub fn random_cmd(&mut self) -> Vec<u8> {
        cmd(self.rng.random_range(0..1u64 << 62))
    }

    pub fn n(&self) -> usize {
        self.backend.servers()
    }
    pub fn now(&self) -> Duration {
        self.backend.now()
    }
    pub fn sleep(&mut self, d: Duration) -> TestResult<()> {
        self.backend.sleep(d)
    }
    pub fn sleep_ms(&mut self, ms: u64) -> TestResult<()> {
        self.backend.sleep(Duration::from_millis(ms))
    }
    pub fn connect(&mut self, i: usize) {
        self.backend.connect(i)
    }
    pub fn disconnect(&mut self, i: usize) {
        self.backend.disconnect(i)
    }
    pub fn set_deaf(&mut self, i: usize, deaf: bool) -> TestResult<()> {
        self.backend.set_deaf(i, deaf)
    }

    pub fn is_connected(&self, i: usize) -> bool {
        self.backend.is_connected(i)
    }
    pub fn crash(&mut self, i: usize) {
        self.backend.crash(i)
    }
    pub fn restart(&mut self, i: usize) {
        self.backend.restart(i)
    }
    pub fn propose(&mut self, i: usize, cmd: &[u8]) -> Option<(u64, u64)> {
        self.backend.propose(i, cmd)
    }
    pub fn state(&self, i: usize) -> Option<(u64, bool)> {
        self.backend.state(i)
    }
    pub fn is_alive(&self, i: usize) -> bool {
        self.backend.state(i).is_some()
    }
    /// The back end's own account of its servers (see [`Backend::describe`]).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }
    pub fn raft_state_bytes(&self, i: usize) -> usize {
        self.backend.raft_state_bytes(i)
    }
    pub fn rpc_count(&self) -> u64 {
        self.backend.rpc_count()
    }
    pub fn byte_count(&self) -> u64 {
        self.backend.byte_count()
    }
    pub fn set_unreliable(&mut self, on: bool) {
        self.backend.set_unreliable(on)
    }
    pub fn set_long_reordering(&mut self, on: bool) {
        self.backend.set_long_reordering(on)
    }
    pub fn apply_checker(&self) -> &ApplyChecker {
        self.backend.apply_checker()
    }
}

/// The lab's integer commands, as 8 bytes little endian.
pub fn cmd(x: u64) -> Vec<u8> {
    x.to_le_bytes().to_vec()
}
