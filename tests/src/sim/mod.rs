//! A deterministic simulator of a Raft group: virtual time, a seeded RNG,
//! an event queue, a faulty network, a simulated disk per server, and the
//! node's own member logic (`node::member`) on each. It runs a 17 s
//! scenario in milliseconds, checks the safety invariants after every
//! event (against what is durable, where that matters), and replays a run
//! exactly from its seed.
//!
//! Each server's clock ticks every 10 ms (`Config::lab`) with its own
//! random phase. A proposal marks its server dirty; the member is polled
//! before virtual time moves on, so proposals made at one instant leave
//! together. A persist makes the member wait for its sync (the disk's
//! latency profile); inputs meanwhile wait for the turn to end, as in the
//! event loop. A nemesis ([`Nemesis`]) can crash servers at chosen points
//! of a turn, partition, delay, slow disks down and forge messages;
//! simulated clients ([`clients`]) run a key-value workload whose history
//! is checked for linearizability.

mod churn;
pub mod clients;
mod clock;
mod disk;
mod driver;
mod invariants;
mod nemesis;
mod network;
mod node;
mod queue;
mod removals;
mod snapshots;
mod timeline;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::harness::{ApplyChecker, Backend, Failure, LabMachine, TestResult};
use ::node::timeline::Kind;
use clients::Clients;
use invariants::Invariants;
use network::Network;
use node::{SimNode, Violations};
use queue::EventQueue;

pub use churn::Churn;
pub use clock::DRIFT_BOUND;
pub use disk::{Disk, DiskProfile};
pub use nemesis::Nemesis;
pub use node::CrashPoint;

/// One tick of every server's clock, in µs: the lab's (`Timing::LAB`).
const TICK_US: u64 = ::node::config::Timing::LAB.tick_ms * 1000;

/// The simulated cluster. All randomness comes from `seed`.
pub struct Sim {
    seed: u64,
    now_us: u64,
    rng: ChaCha8Rng,
    queue: EventQueue,
    nodes: Vec<SimNode>,
    network: Network,
    checker: Arc<ApplyChecker>,
    /// What the lab's state machines found wrong, for the next check.
    violations: Violations,
    invariants: Invariants,
    /// Key-value clients (none for the lab's scenarios).
    clients: Clients,
    nemesis: Nemesis,
    /// Crash points at which a server was crashed so far.
    points_hit: Vec<CrashPoint>,
    /// Events handled so far: the position a failure report names.
    events: u64,
    failure: Option<Failure>,
    rpcs: u64,
    bytes: u64,
    snapshot_entries: Option<u64>,
    /// The bootstrap configuration's size (`SimOptions::voters`).
    voters: usize,
    churn: churn::Churn,
    /// Replication counters of the members crashed so far.
    replication_of_the_dead: raft::ReplicationCounters,
    /// Virtual time, as every server's clock reads it (`clock.rs`).
    clock: clock::Now,
    /// Each server's clock (its rate against virtual time).
    clocks: Vec<clock::SimClock>,
    /// What happened, for a picture of the run (`timeline.rs`), if asked.
    timeline: Option<timeline::Recorder>,
}

/// What a simulated run is made of.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    pub servers: usize,
    pub seed: u64,
    /// The lab's unreliable network from the start.
    pub unreliable: bool,
    pub disk: DiskProfile,
    pub nemesis: Nemesis,
    /// Key-value clients; 0 runs the lab's state machine instead of the
    /// key-value store.
    pub clients: usize,
    /// Each server snapshots its state machine every this many applied
    /// entries (the lab's `SNAPSHOT_INTERVAL`); `None`: never.
    pub snapshot_entries: Option<u64>,
    /// Servers 1..=voters are the bootstrap configuration; the others
    /// start outside it, waiting to be added (the `churn` nemesis adds
    /// them). All of them unless membership changes are simulated.
    pub voters: usize,
}

impl SimOptions {
    /// The lab's scenarios: no clients, no nemesis, the torn disk.
    pub fn lab(servers: usize, seed: u64, unreliable: bool) -> SimOptions {
        SimOptions {
            servers,
            seed,
            unreliable,
            disk: DiskProfile::TORN,
            nemesis: Nemesis::NONE,
            clients: 0,
            snapshot_entries: None,
            voters: servers,
        }
    }
}

impl Sim {
    /// `servers` servers, all started and connected; `unreliable` selects
    /// the lab's unreliable network from the start.
    pub fn new(servers: usize, seed: u64, unreliable: bool) -> Sim {
        Sim::with_options(SimOptions::lab(servers, seed, unreliable))
    }

    pub fn with_options(o: SimOptions) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
        let clients = Clients::new(o.clients, o.servers, rng.random());
        let mut sim = Sim {
            seed: o.seed,
            now_us: 0,
            rng,
            queue: EventQueue::default(),
            nodes: (0..o.servers).map(|_| SimNode::new(o.disk)).collect(),
            network: Network::new(o.servers),
            checker: Arc::new(ApplyChecker::new(o.servers)),
            violations: Arc::new(Mutex::new(None)),
            invariants: Invariants::new(o.servers),
            clients,
            nemesis: o.nemesis,
            points_hit: Vec::new(),
            events: 0,
            failure: None,
            rpcs: 0,
            bytes: 0,
            snapshot_entries: o.snapshot_entries,
            voters: o.voters.min(o.servers),
            churn: churn::Churn::default(),
            replication_of_the_dead: raft::ReplicationCounters::default(),
            clock: clock::Now::default(),
            clocks: Vec::new(),
            timeline: None,
        };
        sim.clocks = clock::clocks(&sim.clock, o.servers);
        sim.network.unreliable = o.unreliable;
        for i in 0..o.servers {
            sim.start(i);
        }
        sim.start_clients();
        sim.start_nemesis();
        sim
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// What server `i` holds durably.
    pub fn disk(&self, i: usize) -> &Disk {
        self.nodes[i].disk.durable()
    }

    /// The first violation found, if any.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Records the first invariant violation; later ones follow from it.
    fn violation(&mut self, what: String) {
        if self.failure.is_none() {
            self.failure = Some(Failure::Invariant { event: self.events, what });
        }
    }

    /// Builds server `i` from what its disk holds durably and starts its
    /// clock at a random phase.
    fn start(&mut self, i: usize) {
        self.note(i, Kind::Restart, String::new());
        let voters: Vec<u64> = match i < self.voters {
            true => (1..=self.voters as u64).collect(),
            false => Vec::new(), // a server waiting to be added
        };
        // With clients, the key-value store: reads of every consistency,
        // lease reads included.
        let kv = self.clients.any();
        let config =
            raft::Config { noop_on_election: kv, lease_reads: kv, ..raft::Config::lab(i as u64 + 1, voters) };
        let rng = Box::new(ChaCha8Rng::seed_from_u64(self.rng.random()));
        let mut persisted = self.nodes[i].disk.persisted();
        self.checker.reset(i);
        let (sm, membership) = match self.state_machine(i) {
            Ok(restored) => restored,
            Err(e) => return self.violation(format!("server {i} cannot restore its snapshot: {e}")),
        };
        persisted.membership = membership;
        let raft = match raft::Raft::new(config, persisted, rng) {
            Ok(r) => r,
            Err(e) => {
                return self.violation(format!("server {i} cannot restart from what it persisted: {e}"))
            }
        };
        let store = Box::new(snapshots::SimStore(self.nodes[i].disk.files.clone()));
        let policy = match self.snapshot_entries {
            Some(entries) => ::node::member::snapshot_store::SnapshotPolicy { entries, bytes: u64::MAX },
            None => ::node::member::snapshot_store::SnapshotPolicy::NEVER,
        };
        let mut member = ::node::member::Member::with_snapshots(raft, sm, store, policy);
        if kv {
            member.set_lease(Box::new(self.clock_of(i)), clock::lease());
        }
        let node = &mut self.nodes[i];
        node.member = Some(member);
        node.incarnation += 1;
        let incarnation = node.incarnation;
        self.invariants.on_restart(i);
        let phase = self.rng.random_range(1..=self.tick_us(i));
        self.queue.push(self.now_us + phase, queue::Event::Tick { server: i, incarnation });
    }

    /// Server `i`'s state machine, restored from its durable snapshot, and
    /// the configuration stored with it.
    fn state_machine(
        &mut self,
        i: usize,
    ) -> Result<(Box<dyn ::node::member::StateMachine>, Option<raft::Membership>), String> {
        let mut sm: Box<dyn ::node::member::StateMachine> = if self.clients.any() {
            Box::new(::node::kv::KvStore::default())
        } else {
            let violations = self.violations.clone();
            let report: crate::harness::Report = Arc::new(move |what| {
                violations.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(what);
            });
            Box::new(LabMachine::new(i, self.checker.clone(), report))
        };
        let current = snapshots::lock(&self.nodes[i].disk.files).current.clone();
        let Some(snapshot) = current else { return Ok((sm, None)) };
        let restore = |r: &mut dyn std::io::Read| sm.restore(r);
        let membership =
            ::node::member::config_frame::read_with_membership(&mut &snapshot.data[..], restore)?;
        Ok((sm, membership))
    }

    /// Server `i` stops where it is: what it had not synced is lost (or
    /// torn), its turn in progress and waiting inputs with it.
    fn crash(&mut self, i: usize) {
        self.note(i, Kind::Crash, String::new());
        let node = &mut self.nodes[i];
        if let Some(member) = node.member.take() {
            node.incarnation += 1;
            self.clients.count_reads(member.read_counts());
            self.replication_of_the_dead += member.raft().replication_counters();
        }
        node.dirty = false;
        node.deferred.clear();
        node.crash_at = None;
        node.written = None;
        node.syncing = None;
        if let Err(e) = node.disk.crash(i, &mut self.rng, &mut self.invariants) {
            self.violation(e);
        }
    }
}

impl Backend for Sim {
    fn servers(&self) -> usize {
        self.nodes.len()
    }

    fn take_timeline(&mut self, title: &str) -> Option<::node::timeline::Timeline> {
        Sim::take_timeline(self, title)
    }

    fn raft_state_bytes(&self, i: usize) -> usize {
        self.nodes[i].disk.durable().raft_state_bytes()
    }

    fn describe(&self) -> String {
        self.describe_servers()
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
        self.note(i, Kind::Connect, String::new());
    }

    fn disconnect(&mut self, i: usize) {
        self.network.set_connected(i, false);
        self.note(i, Kind::Disconnect, String::new());
    }

    fn is_connected(&self, i: usize) -> bool {
        self.network.is_connected(i)
    }

    fn crash(&mut self, i: usize) {
        self.network.set_connected(i, false);
        Sim::crash(self, i);
    }

    fn restart(&mut self, i: usize) {
        Backend::crash(self, i);
        self.start(i);
    }

    fn propose(&mut self, i: usize, cmd: &[u8]) -> Option<(u64, u64)> {
        let node = &mut self.nodes[i];
        let accepted = node.member.as_mut()?.propose(cmd.to_vec())?;
        node.dirty = true;
        Some(accepted)
    }

    fn state(&self, i: usize) -> Option<(u64, bool)> {
        let r = self.nodes[i].member.as_ref()?.raft();
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

impl Sim {
    /// The crash points at which a server was crashed so far.
    /// Rejections and probes over the run, every member's, and the highest
    /// commit index: what replication cost beyond its entries.
    pub fn replication_counts(&self) -> (raft::ReplicationCounters, u64) {
        let mut total = self.replication_of_the_dead;
        let mut commit = 0;
        for raft in self.nodes.iter().filter_map(|n| n.member.as_ref()).map(|m| m.raft()) {
            total += raft.replication_counters();
            commit = commit.max(raft.status().commit_index);
        }
        (total, commit)
    }

    pub fn crash_points_hit(&self) -> &[CrashPoint] {
        &self.points_hit
    }

    /// Whether the cluster has converged: one leader leads, and every
    /// member of its configuration is running and has applied the
    /// leader's log through its commit index (the invariants check that
    /// what it applied is the leader's). `Err` says who has not.
    pub fn converged(&self) -> Result<(), String> {
        let leader = self.current_leader().ok_or("no leader")?;
        let raft = self.nodes[leader].member.as_ref().ok_or("no leader")?.raft();
        let commit = raft.commit_index();
        for id in raft.membership().members() {
            let member = self.nodes.get(driver::server_of(id)).and_then(|n| n.member.as_ref());
            if member.is_none_or(|m| m.applied_index() < commit) {
                return Err(format!("member {id} has not applied the leader's log through {commit}"));
            }
        }
        Ok(())
    }
}

impl Sim {
    /// Each server's role, term, commit, applied, last and snapshot index.
    fn describe_servers(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let line = match &n.member {
                Some(m) => {
                    let s = m.status();
                    let c = m.raft().membership();
                    format!(
                        "server {i}: {:?} term {} commit {} applied {} last {} snapshot {} connected {} \
                         voters {:?} learners {:?}\n",
                        s.role,
                        s.current_term,
                        s.commit_index,
                        s.applied_index,
                        s.last_index,
                        s.snapshot_index,
                        self.network.is_connected(i),
                        c.voters.keys().collect::<Vec<_>>(),
                        c.learners.keys().collect::<Vec<_>>(),
                    )
                }
                None => format!("server {i}: crashed\n"),
            };
            out.push_str(&line);
        }
        out
    }
}
