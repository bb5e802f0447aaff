//! Endpoint configuration: who we are, who the peers are, and every bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::faults::FaultConfig;
use crate::reliability::rto::RtoConfig;
use crate::wire::FRAGMENT_BYTES;

/// A node id, unique within one cluster.
pub type NodeId = u64;

/// Ids at or above this are clients: processes with an ephemeral address,
/// not in any peer table. An endpoint with [`Config::accept_clients`] set
/// learns their address from their first valid datagram. Member ids must
/// stay below it.
pub const CLIENT_ID_MIN: NodeId = 1 << 63;

/// How long a member holds a client's ack by default for a reply to carry
/// it (`Config::client_ack_delay_us`); clients time their first wait on it.
pub const CLIENT_ACK_DELAY_US: u64 = 20_000;

/// Configuration of one endpoint. [`Config::new`] fills in defaults meant
/// for a LAN cluster; every field may be changed before use.
#[derive(Debug, Clone)]
pub struct Config {
    /// Datagrams carrying another cluster id are dropped.
    pub cluster_id: u64,
    /// This endpoint's node id.
    pub id: NodeId,
    /// Every member's address, this one's included (the driver binds it).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Shared secret: with one, every datagram carries a MAC and datagrams
    /// without a valid one are dropped.
    pub secret: Option<Vec<u8>>,
    pub rto: RtoConfig,
    /// A message not acknowledged this long after `send` is dropped.
    pub message_deadline_us: u64,
    /// Largest message (encoded bytes) accepted by `send` or reassembled.
    pub max_message_bytes: usize,
    /// Per peer: unacknowledged messages and their bytes kept at most; past
    /// that the oldest is dropped.
    pub send_queue_messages: usize,
    pub send_queue_bytes: usize,
    /// Per peer: fragments sent and not yet acked, at most.
    pub window_fragments: usize,
    /// Memory held for incomplete messages (all peers together), and how
    /// long one may stay incomplete.
    pub reassembly_bytes: usize,
    pub reassembly_timeout_us: u64,
    /// Per peer and boot of it: ids remembered above the sender's low
    /// watermark (windows of a few boots per peer are kept, see
    /// `reliability::dedup`).
    pub dedup_entries: usize,
    /// Per peer: acks waiting to be sent.
    pub ack_queue: usize,
    /// A client's acks wait up to this long for a message to it to ride
    /// on (a request is acked by its reply, when the reply comes soon),
    /// and go alone after it; acks to members go at once. The client's
    /// RTO follows, since its RTT samples are then the replies' latency;
    /// a resend before the reply is acknowledged at once (a duplicate).
    pub client_ack_delay_us: u64,
    /// Delivered messages the application has not taken yet.
    pub event_queue: usize,
    pub faults: FaultConfig,
    /// Accept datagrams from clients (ids at or above [`CLIENT_ID_MIN`]) that
    /// are not in `peers`: once a datagram from one passes every other check
    /// (cluster id, MAC when a secret is set, addressed to us) its address
    /// is learned, so replies can be sent to it. Off by default.
    pub accept_clients: bool,
    /// Clients remembered at most; past that the one heard from least
    /// recently is forgotten (with whatever was queued for it).
    pub max_clients: usize,
    /// Accept datagrams from member ids (below [`CLIENT_ID_MIN`]) that are
    /// not in `peers`, after the same checks, and add the sender as a
    /// member peer at its address ([`crate::Endpoint::set_peer`]). For a
    /// member waiting to be added to a cluster, whose leader may be one it
    /// has never heard of. Off by default: a removed member stays unheard.
    pub accept_members: bool,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("node {0} is not in the peer table")]
    SelfNotInPeers(NodeId),
    #[error("max_message_bytes {0} needs more than 65535 fragments")]
    MessageTooLarge(usize),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl Config {
    pub fn new(cluster_id: u64, id: NodeId, peers: BTreeMap<NodeId, SocketAddr>) -> Self {
        Config {
            cluster_id,
            id,
            peers,
            secret: None,
            rto: RtoConfig::default(),
            message_deadline_us: 3_000_000,
            max_message_bytes: 1 << 20,
            send_queue_messages: 4096,
            send_queue_bytes: 16 << 20,
            window_fragments: 256,
            reassembly_bytes: 8 << 20,
            reassembly_timeout_us: 5_000_000,
            dedup_entries: 65_536,
            ack_queue: 4096,
            client_ack_delay_us: CLIENT_ACK_DELAY_US,
            event_queue: 65_536,
            faults: FaultConfig::default(),
            accept_clients: false,
            max_clients: 1024,
            accept_members: false,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.peers.contains_key(&self.id) {
            return Err(ConfigError::SelfNotInPeers(self.id));
        }
        if self.max_message_bytes.div_ceil(FRAGMENT_BYTES) > u16::MAX as usize {
            return Err(ConfigError::MessageTooLarge(self.max_message_bytes));
        }
        let nonzero = [
            ("send_queue_messages", self.send_queue_messages),
            ("window_fragments", self.window_fragments),
            ("ack_queue", self.ack_queue),
            ("event_queue", self.event_queue),
            ("max_clients", self.max_clients),
        ];
        match nonzero.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(ConfigError::Zero(name)),
            None => Ok(()),
        }
    }
}
