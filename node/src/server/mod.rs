//! One running member: the WAL, the UDP transport and the Raft core, driven
//! by an event loop on its own thread (smol's reactor), and a [`Server`]
//! handle to it.
//!
//! The loop owns the member's logic ([`crate::member::Member`]: core,
//! state machine, waiting clients) and hands it inputs only between turns.
//! The handle sends it commands ([`Server::propose`], the lab's `Start()`,
//! waits for the loop's answer; blocking peers, faults, stopping) and reads
//! the status the loop publishes after each turn ([`Server::status`], the
//! lab's `GetState()`). `event_loop.rs` holds the loop.

mod event_loop;
pub mod resolver;
mod wal_writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use smol::channel::{Receiver, Sender};

use crate::config::{ClusterConfig, ConfigError};
use crate::member::snapshot_store::SnapshotPolicy;
use crate::member::Member;
use crate::storage::{Storage, StorageError};

pub use crate::member::StateMachine;

/// How to start one member.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub config: ClusterConfig,
    pub id: u64,
    /// This member's WAL directory (created if missing).
    pub data_dir: PathBuf,
    /// Append a no-op entry on election, so entries of earlier terms commit
    /// (and reads through the log proceed) without waiting for a client
    /// write. True for `node run`; the lab's tester expects indexes 1, 2, 3
    /// for its own commands and sets it false.
    pub noop_on_election: bool,
    /// `Some(addr)`: this member is not in the cluster file (`node run
    /// --join`). It listens on `addr` and starts outside every
    /// configuration, waiting for a leader to add it; after a restart its
    /// log knows the configuration.
    pub join: Option<crate::addr::PeerAddr>,
}

/// Why a member could not start: one line each.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("raft: {0}")]
    Raft(#[from] raft::RestoreError),
    /// A record in the data directory says this member was removed: not a
    /// failure, the operator's earlier request (`crate::removed`).
    #[error("removed from the cluster (by the configuration at index {index}); stopping")]
    Removed { index: u64 },
    #[error("removal record: {0}")]
    RemovalRecord(#[from] crate::removed::RecordError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: net::BindError },
    #[error("cannot start the event loop thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics { addr: std::net::SocketAddr, source: std::io::Error },
}

/// Why a running member stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the event loop thread panicked")]
    Panicked,
    #[error(transparent)]
    Snapshot(#[from] crate::member::snapshot_store::SnapshotError),
    /// Not an error of the member's: an operator removed it.
    #[error("removed from the cluster (by the configuration at index {index}); stopping")]
    Removed { index: u64 },
}

/// The lab's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Raft requests (RequestVote, AppendEntries) handed to the transport.
    pub rpcs: u64,
    /// Their postcard-encoded bytes (the `raft::Message`, without framing).
    pub rpc_bytes: u64,
    /// Every Raft message handed to the transport, replies included.
    pub messages: u64,
}

/// What the loop publishes for the handle, and its counters.
struct Shared {
    published: Mutex<Published>,
    metrics: crate::metrics::Metrics,
    rpcs: AtomicU64,
    rpc_bytes: AtomicU64,
    messages: AtomicU64,
}

/// The member as of the end of the loop's last turn.
#[derive(Debug, Clone, Copy)]
struct Published {
    status: raft::Status,
    /// As of the last time it was asked for, or of the loop's end.
    raft_state_bytes: usize,
}

impl Shared {
    fn new(member: &Member, metrics: crate::metrics::Metrics) -> Shared {
        let published = Published { status: member.status(), raft_state_bytes: member.raft_state_bytes() };
        Shared {
            published: Mutex::new(published),
            metrics,
            rpcs: AtomicU64::new(0),
            rpc_bytes: AtomicU64::new(0),
            messages: AtomicU64::new(0),
        }
    }

    fn published(&self) -> Published {
        // Plain data: a panic elsewhere cannot leave it half written.
        *self.published.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, update: impl FnOnce(&mut Published)) {
        update(&mut self.published.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// What the handle asks of the loop.
enum Command {
    /// The lab's `Start()`: the index and term the command will commit at,
    /// if this member leads.
    Propose {
        data: Vec<u8>,
        placed: Sender<Option<(u64, u64)>>,
    },
    RaftStateBytes {
        bytes: Sender<usize>,
    },
    SetBlocked {
        peer: u64,
        blocked: bool,
        done: Sender<()>,
    },
    SetFaults {
        faults: net::FaultConfig,
        done: Sender<()>,
    },
    /// The WAL thread synced every write up to this one (None: it only
    /// compacted), or failed.
    Synced(Result<Option<crate::member::WriteId>, StorageError>),
    /// The writer thread finished a snapshot.
    SnapshotWritten(
        Result<crate::member::snapshot_store::SnapshotInfo, crate::member::snapshot_store::SnapshotError>,
    ),
    /// A resolver thread resolved a silent peer's name (`resolver.rs`).
    Resolved {
        peer: u64,
        addr: std::io::Result<std::net::SocketAddr>,
    },
    Stop,
}

/// One running member: its event loop runs on its own thread (smol).
pub struct Server {
    id: u64,
    shared: Arc<Shared>,
    commands: Sender<Command>,
    thread: Option<JoinHandle<Result<(), FatalError>>>,
    metrics: Option<crate::metrics::http::MetricsServer>,
}

impl Server {
    /// Opens (recovers) the WAL, binds the UDP address of `id`, starts the
    /// event loop; returns once it is listening.
    pub fn start(options: ServerOptions, sm: Box<dyn StateMachine>) -> Result<Server, StartError> {
        let (name, addr) = own_address(&options)?;
        let identity = wal::Identity { cluster_id: options.config.cluster_id, member_id: options.id };
        let log = options.config.log;
        let opened = Storage::open(&options.data_dir, identity, log.segment_bytes)?;
        if let Some(index) = crate::removed::recorded(&options.data_dir)? {
            return Err(StartError::Removed { index });
        }
        let (mut sm, mut persisted) = (sm, opened.persisted);
        let (snapshot, membership) = restore(&mut *sm, opened.snapshot)?;
        persisted.membership = membership;
        let store = crate::snapshot_files::FileSnapshots::new(&options.data_dir, identity, snapshot);
        let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(random_u64()));
        let peers = resolver::resolve_members(&options.config, options.id, addr);
        let mut net_config = net_config(&options.config, options.id, peers.clone());
        // Waiting to be added: the leader that adds us may be one the
        // cluster file does not name.
        net_config.accept_members = options.join.is_some();
        let raft = raft::Raft::new(raft_config(&options, &net_config), persisted, rng)?;
        let policy = SnapshotPolicy { entries: log.snapshot_entries, bytes: log.snapshot_bytes };
        let mut member = Member::with_snapshots(raft, sm, Box::new(store), policy);
        member.set_snapshot_send_rate(log.snapshot_send_bytes_per_tick(&options.config.timing));
        if let Some(lease) = options.config.reads.lease(&options.config.timing) {
            member.set_lease(Box::new(crate::member::lease::BootClock), lease);
        }
        let transport = net::Transport::bind(net_config)
            .map_err(|source| StartError::Bind { addr: display_addr(&name, addr), source })?;
        let (metrics, registry) = crate::metrics::Metrics::new();
        let metrics_addr = options.config.member(options.id).and_then(|m| m.metrics_addr);
        let metrics_server = match metrics_addr {
            Some(addr) => Some(
                crate::metrics::http::MetricsServer::start(addr, registry)
                    .map_err(|source| StartError::Metrics { addr, source })?,
            ),
            None => None,
        };
        let shared = Arc::new(Shared::new(&member, metrics.clone()));
        let (commands, inbox) = smol::channel::unbounded();
        let wal = wal_writer::WalWriter::spawn(opened.storage, commands.clone(), metrics)
            .map_err(StartError::Thread)?;
        let tick = Duration::from_millis(options.config.timing.tick_ms);
        let resolver = resolver::for_member(&options.config, options.id, &peers, commands.clone());
        let bootstrap = options.config.nodes.iter().map(|m| (m.id, m.addr.clone())).collect();
        let event_loop = event_loop::EventLoop::new(
            member,
            shared.clone(),
            wal,
            (transport, resolver, bootstrap),
            (commands.clone(), inbox),
            tick,
        );
        let thread = std::thread::Builder::new()
            .name(format!("node-{}", options.id))
            .spawn(move || smol::block_on(event_loop.run()))
            .map_err(StartError::Thread)?;
        tracing::info!(target: "election", id = options.id, addr = %display_addr(&name, addr), "member started");
        Ok(Server { id: options.id, shared, commands, thread: Some(thread), metrics: metrics_server })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where the member serves its metrics, if it does.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(|m| m.addr())
    }

    /// Role, term, commit, last and applied index (applied by the state
    /// machine, not only handed out by Raft).
    /// As of the end of the loop's last turn.
    pub fn status(&self) -> raft::Status {
        self.shared.published().status
    }

    /// Bytes of the log the core holds (each entry's data with its
    /// framing) and its hard state: the lab's "persisted Raft state", the
    /// snapshot not included. Asked of the loop; once it has ended, as of
    /// its end.
    pub fn raft_state_bytes(&self) -> usize {
        let (bytes, wait) = smol::channel::bounded(1);
        let asked = self.commands.send_blocking(Command::RaftStateBytes { bytes }).is_ok();
        match asked.then(|| wait.recv_blocking().ok()).flatten() {
            Some(bytes) => bytes,
            None => self.shared.published().raft_state_bytes,
        }
    }

    /// Raw Raft propose (the lab's Start()): Some((index, term)) if leader.
    /// The loop takes it between two turns and sends it with the next.
    pub fn propose(&self, data: Vec<u8>) -> Option<(u64, u64)> {
        let (placed, wait) = smol::channel::bounded(1);
        self.commands.send_blocking(Command::Propose { data, placed }).ok()?;
        wait.recv_blocking().ok().flatten()
    }

    /// Cuts this member off from `peer` in both directions (transport
    /// blocking), or reconnects it. In force when this returns.
    pub fn set_blocked(&self, peer: u64, blocked: bool) {
        let (done, wait) = smol::channel::bounded(1);
        self.ask(Command::SetBlocked { peer, blocked, done }, wait);
    }

    /// Replaces the transport's fault settings. In force when this returns.
    pub fn set_faults(&self, faults: net::FaultConfig) {
        let (done, wait) = smol::channel::bounded(1);
        self.ask(Command::SetFaults { faults, done }, wait);
    }

    /// Raft requests handed to the transport since start, and their bytes.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            rpcs: self.shared.rpcs.load(Ordering::Relaxed),
            rpc_bytes: self.shared.rpc_bytes.load(Ordering::Relaxed),
            messages: self.shared.messages.load(Ordering::Relaxed),
        }
    }

    /// True once the loop ended on its own (a fatal WAL error).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the event loop, closes socket and WAL (lock released); returns
    /// when done.
    pub fn stop(self) {
        drop(self);
    }

    /// Like [`Server::stop`], and says whether the loop had failed.
    pub fn shutdown(mut self) -> Result<(), FatalError> {
        self.join()
    }

    fn ask(&self, command: Command, wait: Receiver<()>) {
        if self.commands.send_blocking(command).is_ok() {
            let _ = wait.recv_blocking();
        }
    }

    fn join(&mut self) -> Result<(), FatalError> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        let _ = self.commands.send_blocking(Command::Stop);
        thread.join().unwrap_or(Err(FatalError::Panicked))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(e) = self.join() {
            tracing::error!(target: "wal", id = self.id, error = %e, "member had stopped");
        }
    }
}

/// The name and address this member listens on: its own in the cluster
/// file, or the one `--join` gave. Off loopback, a secret is required.
fn own_address(options: &ServerOptions) -> Result<(crate::addr::PeerAddr, std::net::SocketAddr), StartError> {
    let Some(name) = &options.join else {
        let member = options.config.require_member(options.id)?;
        let (name, addr) = (member.addr.clone(), member.resolve()?);
        options.config.check_secure(options.id)?;
        return Ok((name, addr));
    };
    let (id, reason) = (options.id, |e: std::io::Error| e.to_string());
    let addr =
        name.resolve().map_err(|e| ConfigError::Resolve { id, addr: name.clone(), reason: reason(e) })?;
    let config = &options.config;
    if config.secret.is_none() && !config.insecure && !addr.ip().is_loopback() {
        return Err(ConfigError::Insecure { id, addr: name.clone(), resolved: addr }.into());
    }
    Ok((name.clone(), addr))
}

/// Restores the state machine from the newest snapshot on disk, if any,
/// and returns the configuration stored with it.
fn restore(
    sm: &mut dyn StateMachine,
    snapshot: Option<wal::snapshot::SnapshotReader>,
) -> Result<(Option<wal::snapshot::SnapshotReader>, Option<raft::Membership>), StorageError> {
    let Some(mut reader) = snapshot else { return Ok((None, None)) };
    let membership = match crate::member::config_frame::read_with_membership(&mut reader, |r| sm.restore(r)) {
        Ok(m) => m,
        Err(reason) => return Err(StorageError::Snapshot { path: reader.path().to_path_buf(), reason }),
    };
    tracing::info!(target: "wal", path = %reader.path().display(), index = reader.info().meta.index,
        "state machine restored from snapshot");
    Ok((Some(reader), membership))
}

fn raft_config(options: &ServerOptions, net: &net::Config) -> raft::Config {
    let t = options.config.timing;
    let voters = if options.join.is_some() { Vec::new() } else { options.config.ids() };
    raft::Config {
        resend_ticks: resend_ticks(t, net.message_deadline_us),
        unacked_append_bytes: UNACKED_APPEND_BYTES,
        noop_on_election: options.noop_on_election,
        check_quorum: true,
        lease_reads: options.config.reads.lease,
        max_entry_bytes: options.config.limits.max_entry_bytes,
        max_uncommitted_bytes: options.config.limits.max_uncommitted_bytes,
        ..t.core_config(options.id, voters)
    }
}

/// Appends whose entries take at most this many bytes (as the core counts
/// them) encode into one fragment, which `send_raft` sends unacknowledged:
/// the core resends them after a heartbeat interval, not `resend_ticks`.
/// The rest of the fragment is the message's own fields and tags.
const UNACKED_APPEND_BYTES: usize = net::wire::FRAGMENT_BYTES - 96;

/// The transport retransmits lost datagrams itself and gives a message up
/// only at its deadline, so the core resends entries once that has passed:
/// sooner, a large entry that is merely slow to arrive (a busy link, a
/// loaded machine) would be sent again while the first copy still travels,
/// and the copies would crowd each other out of the follower's reassembly.
fn resend_ticks(timing: crate::config::Timing, message_deadline_us: u64) -> u32 {
    let deadline_ms = message_deadline_us / 1000;
    u32::try_from(deadline_ms.div_ceil(timing.tick_ms.max(1))).unwrap_or(u32::MAX)
}

/// `db1:7101 (10.0.0.1:7101)` for a name, `10.0.0.1:7101` for an IP.
fn display_addr(name: &crate::addr::PeerAddr, addr: std::net::SocketAddr) -> String {
    match name.ip_literal() {
        Some(_) => name.to_string(),
        None => format!("{name} ({addr})"),
    }
}

/// `peers`: the members' addresses resolved at start (`resolver.rs`).
fn net_config(config: &ClusterConfig, id: u64, peers: BTreeMap<u64, std::net::SocketAddr>) -> net::Config {
    let mut c = net::Config::new(config.cluster_id, id, peers);
    c.secret = config.secret.clone();
    c.accept_clients = true;
    c.max_message_bytes = crate::limits::MAX_MESSAGE_BYTES;
    c
}

/// A random u64 from the OS-seeded hasher keys of the standard library
/// (different per process and per call), for RNG seeds and client ids.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
