//! The sans-IO protocol core. It reads no clock and owns no socket: the
//! caller passes the time (microseconds since an epoch of its choice) to
//! every call, feeds it received datagrams, and sends what
//! [`Endpoint::poll_transmit`] hands out. [`Endpoint::poll_timeout`] says
//! when to call [`Endpoint::handle_timeout`] next.
//!
//! The receive path lives in `receive.rs`; this file holds the state and
//! the send path.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::num::NonZeroU64;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::Auth;
use crate::boot::random_boot_id;
use crate::config::{Config, ConfigError, NodeId};
use crate::counters::{Counters, DropReason};
use crate::faults::{FaultConfig, FaultInjector, Verdict};
use crate::fragment::fragment_count;
use crate::reassembly::{Reassembly, ReassemblyLimits};
use crate::reliability::dedup::BootWindows;
use crate::reliability::rto::RtoEstimator;
use crate::reliability::sender::{SendLimits, SendQueue};
use crate::wire::{
    self, Ack, Frame, Header, FLAG_ACK, FLAG_BUSY, FLAG_DATA, FLAG_UNACKED, FRAGMENT_BYTES, MAX_ACKS,
    MAX_PIGGYBACK_ACKS,
};

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Transmit {
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// A message received whole, not delivered before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub from: NodeId,
    /// The sender's boot id: (from, boot, msg_id) names the message.
    pub boot: u64,
    pub msg_id: u64,
    pub bytes: Vec<u8>,
}

/// The current RTT estimate for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimate {
    /// Smoothed RTT, once a sample was taken.
    pub srtt_us: Option<u64>,
    pub rttvar_us: u64,
    /// RTO before backoff.
    pub rto_us: u64,
}

/// Why `send` refused a message.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("node {0} is not a peer")]
    UnknownPeer(NodeId),
    #[error("message of {len} bytes is over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("cannot encode message: {0}")]
    Encode(#[from] postcard::Error),
}

#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) sender: SendQueue,
    pub(crate) rto: RtoEstimator,
    /// Messages to send once, unacknowledged (`Endpoint::send_unacked`):
    /// id and bytes.
    pub(crate) unacked: VecDeque<(u64, Vec<u8>)>,
    /// Acks to send, each with the boot of this peer it is for.
    pub(crate) acks: VecDeque<(u64, Ack)>,
    /// Refusals to send (`FLAG_BUSY`): the peer's boot and message id.
    pub(crate) busy: VecDeque<(u64, u64)>,
    /// Our messages this peer refused as busy, latest last (a few).
    pub(crate) refused: VecDeque<u64>,
    /// When the oldest ack in `acks` was queued.
    pub(crate) acks_since_us: u64,
    pub(crate) dedup: BootWindows,
    /// A learned client rather than a member from the peer table.
    pub(crate) is_client: bool,
    /// When a valid datagram from it last arrived (clients are evicted by it).
    pub(crate) last_heard_us: u64,
    /// In `Endpoint::active`: it may have something to send.
    pub(crate) active: bool,
}

impl Peer {
    pub(crate) fn new(id: NodeId, addr: SocketAddr, config: &Config) -> Peer {
        let limits = SendLimits {
            max_messages: config.send_queue_messages,
            max_bytes: config.send_queue_bytes,
            window_fragments: config.window_fragments,
        };
        Peer {
            id,
            addr,
            sender: SendQueue::new(limits),
            rto: RtoEstimator::new(config.rto),
            unacked: VecDeque::new(),
            acks: VecDeque::new(),
            busy: VecDeque::new(),
            refused: VecDeque::new(),
            acks_since_us: 0,
            dedup: BootWindows::new(config.dedup_entries),
            is_client: false,
            last_heard_us: 0,
            active: false,
        }
    }
}

/// One endpoint of the cluster: the whole protocol state.
#[derive(Debug)]
pub struct Endpoint {
    pub(crate) config: Config,
    pub(crate) peers: Vec<Peer>,
    pub(crate) by_id: HashMap<NodeId, usize>,
    pub(crate) by_addr: HashMap<SocketAddr, usize>,
    pub(crate) reassembly: Reassembly,
    pub(crate) faults: FaultInjector<(NodeId, Transmit)>,
    pub(crate) auth: Auth,
    pub(crate) counters: Counters,
    /// The last datagram of another wire version: from where, which.
    pub(crate) foreign_version: Option<(SocketAddr, u8)>,
    /// Notices to clients whose secret is wrong, and one received.
    pub(crate) notices: crate::unauth::Notices,
    pub(crate) events: VecDeque<Delivered>,
    /// This endpoint's boot id, in every datagram it sends.
    pub(crate) boot: u64,
    /// Message ids start at 1 in every boot.
    next_id: u64,
    /// The peers that may have a datagram to send, in turn (a peer with
    /// more goes to the back). `poll_transmit` looks at these only, not at
    /// every peer: a leader with hundreds of clients has work for a few.
    /// An id may be stale (the peer removed): it is skipped.
    active: VecDeque<NodeId>,
}

impl Endpoint {
    /// A new endpoint, with a random boot id (see [`Endpoint::boot_id`]).
    /// Says once (a `tracing` warning) when it runs without a shared secret.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        Self::with_boot_id(config, random_boot_id())
    }

    /// A new endpoint with the boot id given, for deterministic
    /// simulations. Two endpoints of one node id must never share a boot id:
    /// peers would take the second for the first and drop its messages as
    /// duplicates.
    pub fn with_boot_id(config: Config, boot: NonZeroU64) -> Result<Self, ConfigError> {
        config.validate()?;
        if config.secret.is_none() {
            tracing::warn!(target: "net", node = config.id, "no shared secret: datagrams are not authenticated");
        }
        let peers: Vec<Peer> = (config.peers.iter().filter(|(id, _)| **id != config.id))
            .map(|(&id, &addr)| Peer::new(id, addr, &config))
            .collect();
        Ok(Endpoint {
            by_id: peers.iter().enumerate().map(|(i, p)| (p.id, i)).collect(),
            by_addr: peers.iter().enumerate().map(|(i, p)| (p.addr, i)).collect(),
            peers,
            reassembly: Reassembly::new(ReassemblyLimits {
                max_bytes: config.reassembly_bytes,
                max_fragments: fragment_count(config.max_message_bytes),
                timeout_us: config.reassembly_timeout_us,
            }),
            faults: FaultInjector::new(config.faults.clone()),
            auth: Auth::new(config.secret.as_deref()),
            counters: Counters::default(),
            foreign_version: None,
            notices: Default::default(),
            events: VecDeque::new(),
            boot: boot.get(),
            next_id: 1,
            active: VecDeque::new(),
            config,
        })
    }

    /// Encodes `msg` with postcard and queues it for `to`.
    pub fn send<M: Serialize + ?Sized>(
        &mut self,
        now_us: u64,
        to: NodeId,
        msg: &M,
    ) -> Result<u64, SendError> {
        let bytes = postcard::to_allocvec(msg)?;
        self.send_bytes(now_us, to, bytes)
    }

    /// Queues an already encoded message for `to`; returns its id.
    pub fn send_bytes(&mut self, now_us: u64, to: NodeId, bytes: Vec<u8>) -> Result<u64, SendError> {
        let Some(&index) = self.by_id.get(&to) else { return Err(SendError::UnknownPeer(to)) };
        let max = self.config.max_message_bytes;
        if bytes.len() > max {
            self.counters.drop(DropReason::TooLarge);
            return Err(SendError::TooLarge { len: bytes.len(), max });
        }
        let id = self.next_id;
        self.next_id += 1;
        let count = fragment_count(bytes.len()) as u16;
        let deadline = now_us + self.config.message_deadline_us;
        let evicted = self.peers[index].sender.push(id, bytes, count, deadline);
        self.activate(index);
        self.counters.messages_sent += 1;
        self.counters.drop_n(DropReason::QueueFull, evicted);
        Ok(id)
    }

    /// Queues an encoded message for `to` to go once, in one datagram,
    /// neither acknowledged nor resent nor deduplicated by the receiver:
    /// for messages the application resends on its own (Raft's), which
    /// then cost one datagram, not a datagram and an ack. A message larger
    /// than one fragment goes as [`Endpoint::send_bytes`] does. Returns
    /// its id.
    pub fn send_unacked(&mut self, now_us: u64, to: NodeId, bytes: Vec<u8>) -> Result<u64, SendError> {
        if bytes.len() > FRAGMENT_BYTES {
            return self.send_bytes(now_us, to, bytes);
        }
        let Some(&index) = self.by_id.get(&to) else { return Err(SendError::UnknownPeer(to)) };
        let id = self.next_id;
        self.next_id += 1;
        let queue = &mut self.peers[index].unacked;
        queue.push_back((id, bytes));
        if queue.len() > self.config.send_queue_messages {
            queue.pop_front();
            self.counters.drop(DropReason::QueueFull);
        }
        self.counters.messages_sent += 1;
        self.activate(index);
        Ok(id)
    }

    /// The next datagram to send, if any. Call until it returns `None`,
    /// and again after `handle_timeout` (retransmissions and held acks
    /// become due there).
    pub fn poll_transmit(&mut self, now_us: u64) -> Option<Transmit> {
        loop {
            let (peer, t) = match self.faults.release(now_us) {
                Some(held) => held,
                None => {
                    let (peer, t) = self.build_next(now_us)?;
                    match self.faults.outbound(now_us, peer, (peer, t)) {
                        (_, Some(pass)) => pass,
                        (Verdict::Drop, None) => {
                            self.counters.drop(DropReason::Injected);
                            continue;
                        }
                        (_, None) => continue,
                    }
                }
            };
            tracing::trace!(target: "net", to = peer, len = t.bytes.len(), "transmit");
            self.counters.datagrams_sent += 1;
            self.counters.bytes_sent += t.bytes.len() as u64;
            return Some(t);
        }
    }

    /// Runs the timers due at `now_us`: retransmissions, message deadlines,
    /// reassembly timeouts.
    pub fn handle_timeout(&mut self, now_us: u64) {
        for i in 0..self.peers.len() {
            let expired = self.peers[i].sender.on_timers(now_us);
            self.counters.retransmissions += expired.retransmits;
            self.counters.drop_n(DropReason::Deadline, expired.deadline_drops);
            let acks_due = !self.peers[i].acks.is_empty() && !self.acks_may_wait(now_us, i);
            if expired.retransmits + expired.deadline_drops > 0 || acks_due {
                self.activate(i);
            }
        }
        let dropped = self.reassembly.expire(now_us) as u64;
        self.counters.drop_n(DropReason::ReassemblyTimeout, dropped);
    }

    /// When `handle_timeout` should run next (it may be early, never late).
    pub fn poll_timeout(&self) -> Option<u64> {
        let peers = self.peers.iter().filter_map(|p| p.sender.next_timer());
        let timers = peers.chain(self.reassembly.next_expiry()).chain(self.faults.next_release());
        timers.chain(self.acks_due()).min()
    }

    /// The next delivered message, as bytes.
    pub fn poll_event(&mut self) -> Option<Delivered> {
        self.events.pop_front()
    }

    /// The next delivered message decoded as `M`; messages that do not
    /// decode are dropped and counted.
    pub fn poll_message<M: DeserializeOwned>(&mut self) -> Option<(NodeId, M)> {
        while let Some(d) = self.events.pop_front() {
            match postcard::from_bytes(&d.bytes) {
                Ok(m) => return Some((d.from, m)),
                Err(_) => self.counters.drop(DropReason::Decode),
            }
        }
        None
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// This endpoint's boot id: random per endpoint, carried in every
    /// datagram; peers keep their dedup state per (node, boot), so a new
    /// endpoint for a node id is heard at once whatever its clock or disk.
    pub fn boot_id(&self) -> u64 {
        self.boot
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The RTT estimate for `peer`.
    pub fn rtt(&self, peer: NodeId) -> Option<RttEstimate> {
        let p = &self.peers[*self.by_id.get(&peer)?];
        Some(RttEstimate { srtt_us: p.rto.srtt_us(), rttvar_us: p.rto.rttvar_us(), rto_us: p.rto.rto_us() })
    }

    /// Whether `peer` acknowledged any of message `msg_id` (it is alive and
    /// taking it), or the message is no longer waiting for acks at all
    /// (acknowledged whole, refused, given up, the peer forgotten).
    pub fn is_acknowledged(&self, peer: NodeId, msg_id: u64) -> bool {
        self.by_id.get(&peer).is_none_or(|&i| self.peers[i].sender.acked_any(msg_id))
    }

    /// Whether `peer` refused message `msg_id` as busy (`FLAG_BUSY`): it is
    /// alive but had no room for it; the message was dropped, not resent.
    pub fn was_refused(&self, peer: NodeId, msg_id: u64) -> bool {
        self.by_id.get(&peer).is_some_and(|&i| self.peers[i].refused.contains(&msg_id))
    }

    /// Gives up message `msg_id` to `peer`: it is not sent again (an
    /// application that asks elsewhere now).
    pub fn cancel(&mut self, peer: NodeId, msg_id: u64) {
        if let Some(&i) = self.by_id.get(&peer) {
            self.peers[i].sender.give_up(msg_id);
        }
    }

    /// Messages to `peer` not yet fully acknowledged (for flow control).
    pub fn queued(&self, peer: NodeId) -> usize {
        self.by_id.get(&peer).map_or(0, |&i| self.peers[i].sender.queued())
    }

    /// Cuts `peer` off in both directions, or reconnects it.
    pub fn set_blocked(&mut self, peer: NodeId, blocked: bool) {
        self.faults.set_blocked(peer, blocked);
    }

    /// The fault settings in force.
    pub fn faults(&self) -> &FaultConfig {
        self.faults.config()
    }

    /// Bytes charged for incomplete messages (what their slots, fragments
    /// and bookkeeping allocate; at most `Config::reassembly_bytes`) and how
    /// many there are.
    pub fn reassembly_held(&self) -> (usize, usize) {
        (self.reassembly.bytes_charged(), self.reassembly.incomplete())
    }

    /// The reassembly buffer itself, for its accounting.
    pub fn reassembly(&self) -> &Reassembly {
        &self.reassembly
    }

    /// Replaces the fault settings.
    pub fn set_faults(&mut self, faults: FaultConfig) {
        self.faults.set_config(faults);
    }

    /// Clients whose address is known now.
    pub fn clients(&self) -> usize {
        self.peers.iter().filter(|p| p.is_client).count()
    }

    pub(crate) fn record_send_error(&mut self) {
        self.counters.send_errors += 1;
    }

    pub(crate) fn record_recv_error(&mut self) {
        self.counters.recv_errors += 1;
    }

    /// The next datagram by round robin over peers: a fragment (with acks
    /// piggy-backed), else a datagram of acks alone.
    fn build_next(&mut self, now_us: u64) -> Option<(NodeId, Transmit)> {
        if let Some(notice) = self.build_notice() {
            return Some(notice);
        }
        while let Some(id) = self.active.pop_front() {
            let Some(&i) = self.by_id.get(&id) else { continue };
            let built = self.build_busy(i).or_else(|| self.build_data(now_us, i));
            if let Some(t) = built.or_else(|| self.build_acks(now_us, i)) {
                self.active.push_back(id);
                return Some((id, t));
            }
            self.peers[i].active = false;
        }
        None
    }

    /// Peer `i` may have something to send: queued data, acks, a window
    /// just opened or a retransmission due.
    pub(crate) fn activate(&mut self, i: usize) {
        let peer = &mut self.peers[i];
        if !peer.active {
            peer.active = true;
            self.active.push_back(peer.id);
        }
    }

    fn build_data(&mut self, now_us: u64, i: usize) -> Option<Transmit> {
        self.build_unacked(i).or_else(|| self.build_reliable(now_us, i))
    }

    fn build_busy(&mut self, i: usize) -> Option<Transmit> {
        let (boot, msg_id) = self.peers[i].busy.pop_front()?;
        let mut header = self.header(i);
        header.flags = FLAG_BUSY;
        header.ack_boot = boot;
        header.msg_id = msg_id;
        Some(self.seal(i, &Frame { header, acks: &[], data: &[] }))
    }

    fn build_unacked(&mut self, i: usize) -> Option<Transmit> {
        let (msg_id, data) = self.peers[i].unacked.pop_front()?;
        let (ack_boot, acks) = self.take_acks(i, MAX_PIGGYBACK_ACKS);
        let mut header = self.header(i);
        header.flags = FLAG_DATA | FLAG_UNACKED | if acks.is_empty() { 0 } else { FLAG_ACK };
        header.ack_boot = ack_boot;
        header.msg_id = msg_id;
        header.frag_count = 1;
        self.counters.acks_sent += acks.len() as u64;
        Some(self.seal(i, &Frame { header, acks: &acks, data: &data }))
    }

    fn build_reliable(&mut self, now_us: u64, i: usize) -> Option<Transmit> {
        let peer = &mut self.peers[i];
        let frag = peer.sender.next_fragment(now_us, &peer.rto)?;
        let (ack_boot, acks) = self.take_acks(i, MAX_PIGGYBACK_ACKS);
        let mut header = self.header(i);
        header.flags = FLAG_DATA | if acks.is_empty() { 0 } else { FLAG_ACK };
        header.ack_boot = ack_boot;
        header.msg_id = frag.msg_id;
        header.frag_index = frag.index;
        header.frag_count = frag.count;
        self.counters.acks_sent += acks.len() as u64;
        Some(self.seal(i, &Frame { header, acks: &acks, data: &frag.data }))
    }

    fn build_acks(&mut self, now_us: u64, i: usize) -> Option<Transmit> {
        if self.peers[i].acks.is_empty() || self.acks_may_wait(now_us, i) {
            return None;
        }
        let (ack_boot, acks) = self.take_acks(i, MAX_ACKS);
        let mut header = self.header(i);
        header.flags = FLAG_ACK;
        header.ack_boot = ack_boot;
        self.counters.acks_sent += acks.len() as u64;
        Some(self.seal(i, &Frame { header, acks: &acks, data: &[] }))
    }

    /// A client's acks wait for a message to ride on, up to
    /// `client_ack_delay_us` and while they fit in one datagram.
    fn acks_may_wait(&self, now_us: u64, i: usize) -> bool {
        let peer = &self.peers[i];
        peer.is_client
            && peer.acks.len() < MAX_PIGGYBACK_ACKS
            && now_us < peer.acks_since_us.saturating_add(self.config.client_ack_delay_us)
    }

    /// When the acks held for clients must go at the latest.
    fn acks_due(&self) -> Option<u64> {
        let delay = self.config.client_ack_delay_us;
        let waiting = self.peers.iter().filter(|p| p.is_client && !p.acks.is_empty());
        waiting.map(|p| p.acks_since_us.saturating_add(delay)).min()
    }

    /// Up to `max` queued acks for peer `i`, all for one boot of it (the
    /// oldest ack's): a datagram names the one boot its acks are for.
    fn take_acks(&mut self, i: usize, max: usize) -> (u64, Vec<Ack>) {
        let queue = &mut self.peers[i].acks;
        let Some(&(boot, _)) = queue.front() else { return (0, Vec::new()) };
        let take = queue.iter().take(max).take_while(|(b, _)| *b == boot).count();
        (boot, queue.drain(..take).map(|(_, ack)| ack).collect())
    }

    fn header(&self, i: usize) -> Header {
        let peer = &self.peers[i];
        Header {
            cluster_id: self.config.cluster_id,
            from: self.config.id,
            to: peer.id,
            from_boot: self.boot,
            low_watermark: peer.sender.low_watermark(self.next_id),
            ..Header::default()
        }
    }

    fn seal(&self, i: usize, frame: &Frame<'_>) -> Transmit {
        let mut bytes = wire::encode(frame, self.auth.mac_len());
        self.auth.sign(&mut bytes);
        Transmit { to: self.peers[i].addr, bytes }
    }
}
