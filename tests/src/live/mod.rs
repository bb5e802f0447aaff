//! The live back end: the [`Backend`] API over real members, each a
//! `node` [`Server`] (its own event loop thread) talking UDP on loopback,
//! its WAL on disk in a temporary directory. Time is real: `sleep` sleeps.
//!
//! - Ports: free loopback ports below the ephemeral range, never handed
//!   out twice in a process ([`ports`]), so the clusters of tests running
//!   in parallel threads are independent; each cluster also has its own
//!   cluster id, so a stray datagram from another cluster is dropped.
//! - Timing: the lab's (10 ms tick, heartbeat every 10 ticks, elections
//!   after 30–60 ticks), no no-op entry on election.
//! - connect / disconnect: the transport's peer blocking, set on both ends
//!   of every link; a link is up while both ends are connected (as in the
//!   lab). Unlike labrpc, a message the transport still retransmits when a
//!   link comes back may arrive late; Raft tolerates that.
//! - crash: `Server::stop` (socket and WAL closed), the WAL directory
//!   kept; restart: `Server::start` on the same directory and port, cut
//!   off from everyone until connected. The other members already block
//!   it, so nothing passes in the moment before it blocks them itself.
//! - applies: reported to the shared [`ApplyChecker`] from the members'
//!   threads; the first violation ends the next (or the current) `sleep`.
//!   A restarted member applies its log again from index 1.
//! - counters: `Server::stats` summed over members and incarnations.
//! - unreliable: the transport's fault injector drops 10% of datagrams
//!   each way and delays sends by 0–26 ms. The transport retransmits lost
//!   datagrams, so a message is lost less often than labrpc's 10%. Long
//!   reordering holds back two thirds of the datagrams by 200 ms more, a
//!   fixed delay where labrpc draws 200–2200 ms.
//!
//! A failure's "event" is the number of milliseconds since the cluster
//! started.
//!
//! ```no_run
//! use tests::harness::{cmd, Tester};
//! use tests::live::Live;
//!
//! let live = Live::new(3, 1).expect("a cluster on loopback");
//! let mut t = Tester::new(Box::new(live), 1);
//! assert_eq!(t.one(&cmd(100), 3, false).unwrap(), 1);
//! ```

mod member;
mod ports;
mod run;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use node::config::{ClusterConfig, Member as ConfigMember, Timing};
use node::server::{Server, ServerOptions};

use crate::harness::{ApplyChecker, Backend, Failure, LabMachine, TestResult};
use member::{Counts, Member, Shared};

pub use ports::free_addrs;
pub use run::{failure_report, process_cpu_time, run_once, run_test, seed_from_env};

/// labrpc's unreliable network: 10% loss, requests delayed 0–26 ms.
const UNRELIABLE_DROP: f64 = 0.1;
const UNRELIABLE_DELAY_US: (u64, u64) = (0, 26_000);
/// Long reordering: 600 of 900 held back by 200 ms more.
const REORDER: f64 = 600.0 / 900.0;
const REORDER_DELAY_US: u64 = 200_000;

/// A live cluster. Dropping it stops every member and removes the WAL
/// directories.
pub struct Live {
    cluster_id: u64,
    addrs: Vec<SocketAddr>,
    members: Vec<Member>,
    connected: Vec<bool>,
    unreliable: bool,
    long_reordering: bool,
    shared: Arc<Shared>,
    seed: u64,
    /// Holds the members' WAL directories; removed after `Drop::drop`
    /// stopped the members.
    dir: tempfile::TempDir,
    /// Members snapshot every this many applied entries (`None`: never).
    snapshot_entries: Option<u64>,
}

/// Why a live cluster could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("loopback ports: {0}")]
    Ports(std::io::Error),
    #[error("starting member {id}: {error}")]
    Start { id: u64, error: String },
}

impl Live {
    /// `servers` members, all started and connected, on a reliable network.
    /// `seed` seeds the fault injectors and the cluster id.
    pub fn new(servers: usize, seed: u64) -> Result<Live, SetupError> {
        Live::with_snapshots(servers, seed, None)
    }

    /// Like [`Live::new`], members snapshotting every `snapshot_entries`
    /// applied entries (never with `None`).
    pub fn with_snapshots(
        servers: usize,
        seed: u64,
        snapshot_entries: Option<u64>,
    ) -> Result<Live, SetupError> {
        let dir = tempfile::Builder::new().prefix("raft-live-").tempdir().map_err(SetupError::TempDir)?;
        let addrs = ports::free_addrs(servers).map_err(SetupError::Ports)?;
        let mut live = Live {
            // Distinct per cluster (the first port is never reused in this
            // process), so clusters cannot hear each other.
            cluster_id: seed.rotate_left(16) ^ u64::from(addrs.first().map_or(0, |a| a.port())),
            addrs,
            members: (0..servers).map(|_| Member::default()).collect(),
            connected: vec![true; servers],
            unreliable: false,
            long_reordering: false,
            shared: Arc::new(Shared::new(servers)),
            seed,
            dir,
            snapshot_entries,
        };
        for i in 0..servers {
            let server =
                live.start_server(i).map_err(|error| SetupError::Start { id: i as u64 + 1, error })?;
            live.members[i].server = Some(server);
        }
        Ok(live)
    }

    /// The cluster's configuration, as `cluster.toml` would give it.
    pub fn cluster_config(&self) -> ClusterConfig {
        let nodes = self
            .addrs
            .iter()
            .enumerate()
            .map(|(i, &addr)| ConfigMember { id: Self::id(i), addr: addr.into(), metrics_addr: None })
            .collect();
        ClusterConfig {
            cluster_id: self.cluster_id,
            secret: None,
            timing: Timing::LAB,
            limits: Default::default(),
            log: node::config::LogSettings {
                snapshot_entries: self.snapshot_entries.unwrap_or(u64::MAX),
                snapshot_bytes: u64::MAX,
                ..Default::default()
            },
            reads: Default::default(),
            insecure: false,
            data_dir: self.dir.path().to_path_buf(),
            nodes,
        }
    }

    /// Where member `i` keeps its WAL.
    pub fn wal_dir(&self, i: usize) -> PathBuf {
        self.cluster_config().node_data_dir(Self::id(i))
    }

    fn id(i: usize) -> u64 {
        i as u64 + 1
    }

    /// Starts a new incarnation of member `i` on its WAL directory.
    fn start_server(&mut self, i: usize) -> Result<Server, String> {
        let options = ServerOptions {
            config: self.cluster_config(),
            id: Self::id(i),
            data_dir: self.wal_dir(i),
            noop_on_election: false,
            join: None,
        };
        let shared = Arc::clone(&self.shared);
        let report: crate::harness::Report =
            Arc::new(move |what| shared.record(Failure::Invariant { event: shared.event(), what }));
        let sm = Box::new(LabMachine::new(i, Arc::clone(&self.shared.checker), report));
        self.members[i].incarnations += 1;
        Server::start(options, sm).map_err(|e| e.to_string())
    }

    /// A link is up while both ends are connected (and running).
    fn link_up(&self, i: usize, j: usize) -> bool {
        self.connected[i] && self.connected[j]
    }

    /// Sets both ends of every link of member `i` to match `connected`.
    fn apply_links(&self, i: usize) {
        for j in (0..self.members.len()).filter(|&j| j != i) {
            let blocked = !self.link_up(i, j);
            if let Some(s) = &self.members[i].server {
                s.set_blocked(Self::id(j), blocked);
            }
            if let Some(s) = &self.members[j].server {
                s.set_blocked(Self::id(i), blocked);
            }
        }
    }

    /// The fault settings of member `i` for the current profile, with the
    /// peers it must block.
    fn faults(&self, i: usize) -> net::FaultConfig {
        let blocked: BTreeSet<u64> =
            (0..self.members.len()).filter(|&j| j != i && !self.link_up(i, j)).map(Self::id).collect();
        let mut f = net::FaultConfig {
            blocked,
            seed: self.seed ^ (Self::id(i) << 32) ^ self.members[i].incarnations,
            ..Default::default()
        };
        if self.unreliable {
            f.drop_outbound = UNRELIABLE_DROP;
            f.delay_us = UNRELIABLE_DELAY_US;
        }
        if self.long_reordering {
            f.reorder = REORDER;
            f.reorder_delay_us = REORDER_DELAY_US;
        }
        f
    }

    /// Hands every running member its fault settings.
    fn apply_faults(&self) {
        for (i, m) in self.members.iter().enumerate() {
            if let Some(s) = &m.server {
                s.set_faults(self.faults(i));
            }
        }
    }

    fn fail(&self, what: String) {
        self.shared.record(Failure::Scenario { event: self.shared.event(), what });
    }

    fn totals(&self) -> Counts {
        self.members
            .iter()
            .map(Member::counts)
            .fold(Counts::default(), |a, c| Counts { rpcs: a.rpcs + c.rpcs, bytes: a.bytes + c.bytes })
    }
}

impl Backend for Live {
    fn servers(&self) -> usize {
        self.members.len()
    }

    fn raft_state_bytes(&self, i: usize) -> usize {
        self.members[i].raft_state_bytes()
    }

    fn now(&self) -> Duration {
        self.shared.started.elapsed()
    }

    fn sleep(&mut self, d: Duration) -> TestResult<()> {
        self.shared.sleep(d)?;
        // A loop that ended without `stop` hit a fatal WAL error or panicked.
        if let Some(i) = self.members.iter().position(|m| m.server.as_ref().is_some_and(Server::is_finished))
        {
            self.fail(format!("live back end: server {i}'s event loop stopped on its own"));
        }
        self.shared.sleep(Duration::ZERO)
    }

    fn connect(&mut self, i: usize) {
        self.connected[i] = true;
        self.apply_links(i);
    }

    fn disconnect(&mut self, i: usize) {
        self.connected[i] = false;
        self.apply_links(i);
    }

    fn is_connected(&self, i: usize) -> bool {
        self.connected[i]
    }

    fn crash(&mut self, i: usize) {
        // Cut off first, so nothing it says while stopping gets out.
        self.disconnect(i);
        self.members[i].stop();
    }

    fn restart(&mut self, i: usize) {
        self.crash(i);
        self.shared.checker.reset(i);
        match self.start_server(i) {
            Ok(server) => {
                self.members[i].server = Some(server);
                // Disconnected: the others block it already; now its own
                // side, and the network profile.
                if let Some(s) = &self.members[i].server {
                    s.set_faults(self.faults(i));
                }
            }
            Err(e) => self.fail(format!("live back end: restarting server {i}: {e}")),
        }
    }

    fn propose(&mut self, i: usize, cmd: &[u8]) -> Option<(u64, u64)> {
        self.members[i].server.as_ref()?.propose(cmd.to_vec())
    }

    fn state(&self, i: usize) -> Option<(u64, bool)> {
        let status = self.members[i].server.as_ref()?.status();
        Some((status.current_term, status.role == raft::Role::Leader))
    }

    fn rpc_count(&self) -> u64 {
        self.totals().rpcs
    }

    fn byte_count(&self) -> u64 {
        self.totals().bytes
    }

    fn set_unreliable(&mut self, on: bool) {
        self.unreliable = on;
        self.apply_faults();
    }

    fn set_long_reordering(&mut self, on: bool) {
        self.long_reordering = on;
        self.apply_faults();
    }

    fn apply_checker(&self) -> &ApplyChecker {
        &self.shared.checker
    }

    fn event_number(&self) -> u64 {
        self.shared.event()
    }
}

impl Drop for Live {
    /// Stops every member (joining its thread, closing its WAL) before the
    /// temporary directory goes.
    fn drop(&mut self) {
        for m in &mut self.members {
            m.stop();
        }
    }
}
