//! A member's metrics in the Prometheus text format, on the HTTP address
//! its cluster file gives (`metrics_addr`; off unless set; `http.rs`).
//!
//! Where a metric means what one of etcd's means it has that name under
//! our prefix (`raftudp_server_has_leader` for `etcd_server_has_leader`),
//! so an etcd dashboard is easy to port. Every metric is an atomic the
//! thread that knows the value updates: the event loop at the end of each
//! turn (the core's status and the transport's counters: a few dozen
//! relaxed stores per turn, never per message), the WAL thread around each
//! sync, the snapshot writer around each snapshot. A scrape only reads.

pub mod http;
pub mod rtt;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::Ordering;

/// The prefix of every metric name.
pub const PREFIX: &str = "raftudp";

/// What kind of client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Write,
    Read,
    Admin,
}

/// How a client request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Applied, or read.
    Ok,
    /// Sent to the leader (this member does not lead).
    Redirect,
    /// Refused for now (the uncommitted budget is full, a transfer runs).
    Busy,
    /// Refused: too large, or an operator's request the leader declined.
    Refused,
}

impl RequestKind {
    const ALL: [RequestKind; 3] = [RequestKind::Write, RequestKind::Read, RequestKind::Admin];

    fn label(self) -> &'static str {
        match self {
            RequestKind::Write => "write",
            RequestKind::Read => "read",
            RequestKind::Admin => "admin",
        }
    }
}

impl Outcome {
    const ALL: [Outcome; 4] = [Outcome::Ok, Outcome::Redirect, Outcome::Busy, Outcome::Refused];

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Redirect => "redirect",
            Outcome::Busy => "busy",
            Outcome::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PeerLabel {
    to: String,
}

/// Handles on every metric; clones share them.
#[derive(Clone)]
pub struct Metrics {
    has_leader: Gauge,
    is_leader: Gauge,
    leader_changes: Counter,
    term: Gauge,
    commit_index: Gauge,
    applied_index: Gauge,
    proposals_committed: Gauge,
    proposals_applied: Gauge,
    proposals_pending: Gauge,
    proposals_failed: Counter,
    wal_fsync: Histogram,
    wal_write_bytes: Counter,
    snapshot_save: Histogram,
    snapshot_install: Histogram,
    snapshots_sent: Counter,
    snapshots_received: Counter,
    peer_rtt: Family<PeerLabel, Histogram>,
    datagrams_sent: Counter,
    datagrams_received: Counter,
    retransmissions: Counter,
    drops: Family<ReasonLabel, Counter>,
    client_requests: Family<KindLabel, Counter>,
    client_replies: Family<OutcomeLabel, Counter>,
    /// The families' counters for each kind and outcome, made once: a
    /// request or reply increments one without the family's lock.
    requests_by_kind: [Counter; 3],
    replies_by_outcome: [Counter; 4],
    read_index_rounds: Counter,
    reassembly_bytes: Gauge,
    /// The leader this member last saw, for `leader_changes`.
    last_leader: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Buckets for disk and network times: 100 µs to about 13 s, doubling.
fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    /// The metrics, and the registry that encodes them (for `http.rs`).
    pub fn new() -> (Metrics, Registry) {
        let mut m = Metrics {
            has_leader: Gauge::default(),
            is_leader: Gauge::default(),
            leader_changes: Counter::default(),
            term: Gauge::default(),
            commit_index: Gauge::default(),
            applied_index: Gauge::default(),
            proposals_committed: Gauge::default(),
            proposals_applied: Gauge::default(),
            proposals_pending: Gauge::default(),
            proposals_failed: Counter::default(),
            wal_fsync: seconds_buckets(),
            wal_write_bytes: Counter::default(),
            snapshot_save: seconds_buckets(),
            snapshot_install: seconds_buckets(),
            snapshots_sent: Counter::default(),
            snapshots_received: Counter::default(),
            peer_rtt: Family::new_with_constructor(seconds_buckets),
            datagrams_sent: Counter::default(),
            datagrams_received: Counter::default(),
            retransmissions: Counter::default(),
            drops: Family::default(),
            client_requests: Family::default(),
            client_replies: Family::default(),
            requests_by_kind: Default::default(),
            replies_by_outcome: Default::default(),
            read_index_rounds: Counter::default(),
            reassembly_bytes: Gauge::default(),
            last_leader: Default::default(),
        };
        for kind in RequestKind::ALL {
            m.requests_by_kind[kind as usize] =
                m.client_requests.get_or_create(&KindLabel { kind: kind.label() }).clone();
        }
        for outcome in Outcome::ALL {
            m.replies_by_outcome[outcome as usize] =
                m.client_replies.get_or_create(&OutcomeLabel { outcome: outcome.label() }).clone();
        }
        let mut registry = Registry::with_prefix(PREFIX);
        m.register(&mut registry);
        (m, registry)
    }

    fn register(&self, r: &mut Registry) {
        let server = r.sub_registry_with_prefix("server");
        server.register("has_leader", "1 if this member knows a leader of its term", self.has_leader.clone());
        server.register("is_leader", "1 if this member leads", self.is_leader.clone());
        server.register(
            "leader_changes_seen",
            "Times the leader this member knows changed",
            self.leader_changes.clone(),
        );
        server.register("current_term", "The member's current term", self.term.clone());
        server.register("commit_index", "Highest log index known committed", self.commit_index.clone());
        server.register(
            "applied_index",
            "Highest log index applied to the store",
            self.applied_index.clone(),
        );
        server.register(
            "proposals_committed_total",
            "Entries committed (the commit index)",
            self.proposals_committed.clone(),
        );
        server.register(
            "proposals_applied_total",
            "Entries applied (the applied index)",
            self.proposals_applied.clone(),
        );
        server.register(
            "proposals_pending",
            "Client writes waiting to commit at this member",
            self.proposals_pending.clone(),
        );
        server.register(
            "proposals_failed",
            "Client writes abandoned when leadership was lost",
            self.proposals_failed.clone(),
        );
        server.register(
            "read_index_rounds",
            "Heartbeat rounds started for linearizable reads",
            self.read_index_rounds.clone(),
        );
        let disk = r.sub_registry_with_prefix("disk");
        disk.register_with_unit(
            "wal_fsync_duration",
            "WAL sync latency",
            Unit::Seconds,
            self.wal_fsync.clone(),
        );
        disk.register_with_unit(
            "wal_write",
            "Bytes of entries written to the WAL",
            Unit::Bytes,
            self.wal_write_bytes.clone(),
        );
        let snap = r.sub_registry_with_prefix("snapshot");
        snap.register_with_unit(
            "save_duration",
            "Time to write and sync a snapshot",
            Unit::Seconds,
            self.snapshot_save.clone(),
        );
        snap.register_with_unit(
            "install_duration",
            "Time to restore the store from a snapshot",
            Unit::Seconds,
            self.snapshot_install.clone(),
        );
        let net = r.sub_registry_with_prefix("network");
        net.register(
            "snapshot_send_success",
            "Snapshots sent whole to a follower",
            self.snapshots_sent.clone(),
        );
        net.register(
            "snapshot_receive_success",
            "Snapshots received whole from a leader",
            self.snapshots_received.clone(),
        );
        net.register_with_unit(
            "peer_round_trip_time",
            "Leader to follower round trips",
            Unit::Seconds,
            self.peer_rtt.clone(),
        );
        net.register("datagrams_sent", "UDP datagrams sent", self.datagrams_sent.clone());
        net.register("datagrams_received", "UDP datagrams received", self.datagrams_received.clone());
        net.register(
            "retransmissions",
            "Fragments sent again by the transport",
            self.retransmissions.clone(),
        );
        net.register("drops", "Datagrams or messages dropped, by reason", self.drops.clone());
        net.register_with_unit(
            "reassembly",
            "Memory held by partly received messages",
            Unit::Bytes,
            self.reassembly_bytes.clone(),
        );
        let client = r.sub_registry_with_prefix("client");
        client.register("requests", "Client requests received, by kind", self.client_requests.clone());
        client.register("replies", "Client requests answered, by outcome", self.client_replies.clone());
    }

    /// The member's state at the end of a turn.
    pub fn observe_status(&self, s: &raft::Status, pending_writes: usize) {
        let leader = s.leader_id.unwrap_or(0);
        if self.last_leader.swap(leader, Ordering::Relaxed) != leader && leader != 0 {
            self.leader_changes.inc();
        }
        self.has_leader.set(i64::from(leader != 0));
        self.is_leader.set(i64::from(s.leader_id == Some(s.id)));
        self.term.set(as_i64(s.current_term));
        self.commit_index.set(as_i64(s.commit_index));
        self.applied_index.set(as_i64(s.applied_index));
        self.proposals_committed.set(as_i64(s.commit_index));
        self.proposals_applied.set(as_i64(s.applied_index));
        self.proposals_pending.set(as_i64(pending_writes as u64));
    }

    /// The transport's totals at the end of a turn.
    pub fn observe_net(&self, c: &net::Counters, reassembly_bytes: usize) {
        let store = |counter: &Counter, v: u64| counter.inner().store(v, Ordering::Relaxed);
        store(&self.datagrams_sent, c.datagrams_sent);
        store(&self.datagrams_received, c.datagrams_received);
        store(&self.retransmissions, c.retransmissions);
        for (reason, n) in c.drops.named() {
            if n > 0 {
                store(&self.drops.get_or_create(&ReasonLabel { reason }), n);
            }
        }
        self.reassembly_bytes.set(as_i64(reassembly_bytes as u64));
    }

    pub fn client_request(&self, kind: RequestKind) {
        self.requests_by_kind[kind as usize].inc();
    }

    pub fn client_reply(&self, reply: &crate::proto::Reply) {
        use crate::proto::Reply;
        let outcome = match reply {
            Reply::Applied(_) | Reply::Members(_) | Reply::Backup(_) => Outcome::Ok,
            Reply::NotLeader { .. } => Outcome::Redirect,
            Reply::Busy => Outcome::Busy,
            Reply::TooLarge { .. } | Reply::Refused(_) => Outcome::Refused,
        };
        self.replies_by_outcome[outcome as usize].inc();
    }

    pub fn proposals_failed(&self, n: usize) {
        self.proposals_failed.inc_by(n as u64);
    }

    pub fn read_index_rounds(&self, n: u64) {
        self.read_index_rounds.inc_by(n);
    }

    /// Snapshots sent and received whole so far.
    pub fn observe_snapshots(&self, sent: u64, received: u64) {
        self.snapshots_sent.inner().store(sent, Ordering::Relaxed);
        self.snapshots_received.inner().store(received, Ordering::Relaxed);
    }

    pub fn wal_synced(&self, seconds: f64, bytes: u64) {
        self.wal_fsync.observe(seconds);
        self.wal_write_bytes.inc_by(bytes);
    }

    pub fn snapshot_saved(&self, seconds: f64) {
        self.snapshot_save.observe(seconds);
    }

    pub fn snapshot_installed(&self, seconds: f64) {
        self.snapshot_install.observe(seconds);
    }

    pub fn peer_round_trip(&self, to: u64, seconds: f64) {
        self.peer_rtt.get_or_create(&PeerLabel { to: to.to_string() }).observe(seconds);
    }
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The registry's text, as a scrape gets it.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String does not fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests;
