//! Key-value workloads on the simulator under a nemesis: simulated clients
//! write and read a few keys through the node's member logic while the
//! nemesis injects faults; then the faults heal, every operation must
//! complete, and the history must be linearizable. Used by the `chaos`
//! tests and the `chaos` binary.

use std::time::{Duration, Instant};

use crate::harness::{Backend, Failure};
use crate::linearizability;
use crate::sim::{Churn, CrashPoint, DiskProfile, Nemesis, Sim, SimOptions};

/// How long the nemesis acts, in virtual time.
pub const FAULTS_FOR: Duration = Duration::from_secs(5);
/// After healing, every outstanding operation must complete within this.
pub const SETTLE_WITHIN: Duration = Duration::from_secs(10);
/// Servers and clients of a run.
pub const SERVERS: usize = 5;
pub const CLIENTS: usize = 4;

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct ChaosRun {
    pub seed: u64,
    pub nemesis: &'static str,
    /// Operations in the checked history.
    pub operations: usize,
    /// Simulator events handled.
    pub events: u64,
    pub wall: Duration,
    /// The crash points at which a server was crashed.
    pub crash_points: Vec<CrashPoint>,
    /// What the `churn` nemesis did.
    pub churn: Churn,
    /// Reads the servers answered, by kind.
    pub reads: node::member::ReadCounts,
    /// Rejections and probes over the run, and the entries committed.
    pub replication: (raft::ReplicationCounters, u64),
    pub result: Result<(), Failure>,
}

/// Each server snapshots its key-value store every this many applied
/// entries, so crashed and cut-off servers come back through snapshots
/// (a run applies a few thousand entries).
pub const SNAPSHOT_ENTRIES: u64 = 100;

/// One run of `nemesis` (a [`Nemesis::NAMES`] entry) on `seed`.
pub fn run(seed: u64, nemesis: &'static str, disk: DiskProfile) -> ChaosRun {
    let wall = Instant::now();
    let profile = Nemesis::parse(nemesis).unwrap_or(Nemesis::NONE);
    // Membership changes need servers to add: 7, 3 of them the bootstrap
    // voters; the selfremove operator starts from 2 voters of 5.
    let (servers, voters) = match profile {
        Nemesis { churn: true, .. } | Nemesis { relearn: true, .. } => (7, 3),
        Nemesis { self_remove: true, .. } => (SERVERS, 2),
        _ => (SERVERS, SERVERS),
    };
    let options = SimOptions {
        servers,
        seed,
        unreliable: false,
        disk,
        nemesis: profile,
        clients: CLIENTS,
        snapshot_entries: Some(SNAPSHOT_ENTRIES),
        voters,
    };
    let mut sim = Sim::with_options(options);
    // The relearn operator goes on against an idle cluster for a while.
    sim.stop_clients_at(if profile.relearn { FAULTS_FOR / 2 } else { FAULTS_FOR });
    let result = drive(&mut sim);
    let operations = sim.client_history().len();
    let crash_points = sim.crash_points_hit().to_vec();
    ChaosRun {
        seed,
        nemesis,
        operations,
        events: sim.event_number(),
        wall: wall.elapsed(),
        crash_points,
        churn: sim.churn_stats(),
        reads: sim.read_counts(),
        replication: sim.replication_counts(),
        result,
    }
}

fn drive(sim: &mut Sim) -> Result<(), Failure> {
    sim.sleep(FAULTS_FOR)?;
    sim.heal();
    let deadline = FAULTS_FOR + SETTLE_WITHIN;
    while sim.clients_outstanding() > 0 && sim.now() < deadline {
        sim.sleep(Duration::from_millis(100))?;
    }
    let event = sim.event_number();
    if sim.clients_outstanding() > 0 {
        let what = format!(
            "{} operations still outstanding {SETTLE_WITHIN:?} after the faults healed\n{}",
            sim.clients_outstanding(),
            sim.describe()
        );
        return Err(Failure::Scenario { event, what });
    }
    let history = sim.client_history();
    linearizability::check(&history).map_err(|v| Failure::Invariant {
        event,
        what: format!("history not linearizable on key {:?}: {:?}", v.key, v.operations),
    })?;
    linearizability::check_serializable(sim.serializable_reads(), &history).map_err(|read| {
        Failure::Invariant { event, what: format!("a serializable read saw a value no put wrote: {read:?}") }
    })?;
    converge(sim)
}

/// Once healed and idle, the cluster converges within [`SETTLE_WITHIN`]:
/// a leader, and every member of its configuration (learners included)
/// holding its committed log. A member that is never sent what it lacks
/// fails here, though every client was answered.
fn converge(sim: &mut Sim) -> Result<(), Failure> {
    let deadline = sim.now() + SETTLE_WITHIN;
    loop {
        let Err(why) = sim.converged() else { return Ok(()) };
        if sim.now() >= deadline {
            let what = format!(
                "not converged {SETTLE_WITHIN:?} after the clients finished: {why}\n{}",
                sim.describe()
            );
            return Err(Failure::Scenario { event: sim.event_number(), what });
        }
        sim.sleep(Duration::from_millis(100))?;
    }
}

/// The command that replays a run.
pub fn replay_command(run: &ChaosRun) -> String {
    format!("cargo run --release -p tests --bin chaos -- --nemesis {} --seed {}", run.nemesis, run.seed)
}
