//! The receive path of [`Endpoint`]: checks in order (size and structure,
//! checksum, cluster id, MAC, peer table or client admission), then the
//! sender's boot (a retired one is dropped), then acks (only those for our
//! own boot count), then data: dedup per (peer, boot), reassembly,
//! delivery. Every datagram that fails a check is dropped and counted;
//! nothing here panics on any input.

use std::net::SocketAddr;

use crate::counters::DropReason;
use crate::endpoint::{Delivered, Endpoint};
use crate::faults::Verdict;
use crate::reassembly::Inserted;
use crate::wire::{self, Ack, Decoded, Header, FLAG_BUSY, FLAG_DATA, FLAG_UNACKED};

/// Refusals kept per peer, to send and received.
const MAX_REFUSALS: usize = 64;

impl Endpoint {
    /// The sender and version of the last datagram in another wire format
    /// version since the last call: a member or client of another release,
    /// which this one cannot talk to (the driver says so once).
    pub fn take_foreign_version(&mut self) -> Option<(SocketAddr, u8)> {
        self.foreign_version.take()
    }

    /// Handles one received datagram from `from`. Delivered messages come
    /// out of `poll_event` / `poll_message`; acks to send come out of
    /// `poll_transmit`.
    pub fn handle_datagram(&mut self, now_us: u64, from: SocketAddr, bytes: &[u8]) {
        self.counters.datagrams_received += 1;
        self.counters.bytes_received += bytes.len() as u64;
        let peer = self.by_addr.get(&from).copied();
        if self.faults.inbound(peer.map(|i| self.peers[i].id)) == Verdict::Drop {
            self.counters.drop(DropReason::Injected);
            return;
        }
        let decoded = match self.check(peer, bytes) {
            Ok(d) => d,
            Err(reason) => {
                if reason == DropReason::Version {
                    self.foreign_version = Some((from, bytes[2]));
                }
                if reason == DropReason::Auth {
                    self.on_unauthenticated(now_us, from, bytes);
                }
                self.counters.drop(reason);
                return;
            }
        };
        let h = decoded.header;
        if h.flags & crate::wire::FLAG_UNAUTH != 0 {
            // A notice that passed: this endpoint has no secret at all.
            return self.on_notice(from, &decoded);
        }
        // Learning a client may evict another (a swap_remove that moves
        // slots): `peer` is stale after it, only the index returned counts.
        let i = match peer {
            Some(i) if self.peers[i].id == h.from => i,
            _ if h.from < crate::config::CLIENT_ID_MIN => {
                // Admitted by `accept_members`: a member we did not know.
                self.set_peer(h.from, from);
                let Some(&i) = self.by_id.get(&h.from) else { return };
                i
            }
            _ => self.learn_client(now_us, h.from, from),
        };
        self.peers[i].last_heard_us = now_us;
        if !self.admit_boot(i, h.from_boot) {
            return;
        }
        self.peers[i].dedup.advance(h.from_boot, h.low_watermark);
        self.on_acks(now_us, i, h.ack_boot, &decoded.acks);
        if h.flags & FLAG_BUSY != 0 {
            self.on_busy(i, h.ack_boot, h.msg_id);
        }
        if h.flags & FLAG_DATA != 0 {
            self.on_data(now_us, i, &h, decoded.data);
        }
        // Acks to send, or a window the acks just opened.
        self.activate(i);
    }

    /// Every check a datagram must pass before it may change any state.
    fn check<'a>(&self, peer: Option<usize>, bytes: &'a [u8]) -> Result<Decoded<'a>, DropReason> {
        let d = wire::decode(bytes)?;
        if d.header.cluster_id != self.config.cluster_id {
            return Err(DropReason::WrongCluster);
        }
        if !self.auth.verify(d.signed, d.mac) {
            return Err(DropReason::Auth);
        }
        match peer {
            Some(i) if self.peers[i].id == d.header.from && d.header.to == self.config.id => Ok(d),
            _ if peer.is_none_or(|i| self.peers[i].is_client) && self.admits_client(&d.header) => Ok(d),
            None if self.admits_member(&d.header) => Ok(d),
            _ => Err(DropReason::UnknownPeer),
        }
    }

    /// Gives the sender's boot its dedup window (a fresh one if the boot
    /// is new). False, and counted, when the boot is retired.
    fn admit_boot(&mut self, i: usize, boot: u64) -> bool {
        match self.peers[i].dedup.admit(boot) {
            Ok(restarted) => {
                if restarted {
                    self.counters.peer_restarts += 1;
                    tracing::debug!(target: "net", peer = self.peers[i].id, boot, "peer restarted (new boot)");
                }
                true
            }
            Err(_) => {
                self.counters.drop(DropReason::RetiredBoot);
                false
            }
        }
    }

    /// Acks for `ack_boot`: ours, or a previous incarnation's (ignored: an
    /// ack of message k of an old boot says nothing of our message k).
    fn on_acks(&mut self, now_us: u64, i: usize, ack_boot: u64, acks: &[Ack]) {
        self.counters.acks_received += acks.len() as u64;
        if ack_boot != self.boot {
            self.counters.stale_acks += acks.len() as u64;
            return;
        }
        let peer = &mut self.peers[i];
        let mut newly = false;
        for ack in acks {
            newly |= peer.sender.on_ack(now_us, ack.msg_id, ack.frag_index, &mut peer.rto);
        }
        if newly {
            self.counters.retransmissions += peer.sender.detect_losses(&peer.rto);
        }
    }

    fn on_data(&mut self, now_us: u64, i: usize, h: &Header, data: &[u8]) {
        if h.flags & FLAG_UNACKED != 0 {
            return self.on_unacked(i, h, data);
        }
        let ack = (h.from_boot, Ack { msg_id: h.msg_id, frag_index: h.frag_index });
        let key = (self.peers[i].id, h.from_boot, h.msg_id);
        if self.peers[i].dedup.seen(h.from_boot, h.msg_id) || self.reassembly.holds(key, h.frag_index) {
            self.counters.duplicates += 1;
            self.queue_ack(now_us, i, ack, false);
            return;
        }
        if self.events.len() >= self.config.event_queue {
            // Not acked: the sender tries again once the application caught up.
            self.counters.drop(DropReason::QueueFull);
            return;
        }
        // A message of at most max_message_bytes has at most this many
        // fragments; the reassembly checks it again before it allocates.
        let too_many = h.frag_count as usize > self.reassembly.limits().max_fragments;
        if too_many || (h.frag_count == 1 && data.len() > self.config.max_message_bytes) {
            self.counters.drop(DropReason::TooLarge);
            return;
        }
        if h.frag_count == 1 {
            self.deliver(i, h, data.to_vec());
            self.queue_ack(now_us, i, ack, true);
            return;
        }
        match self.reassembly.insert(now_us, key, h.frag_index, h.frag_count, data) {
            Inserted::Stored => self.queue_ack(now_us, i, ack, false),
            Inserted::Complete(bytes) => {
                self.deliver(i, h, bytes);
                self.queue_ack(now_us, i, ack, false);
            }
            Inserted::Duplicate => {
                self.counters.duplicates += 1;
                self.queue_ack(now_us, i, ack, false);
            }
            Inserted::Full => {
                self.counters.drop(DropReason::QueueFull);
                self.refuse_busy(i, h.from_boot, h.msg_id);
            }
            Inserted::Inconsistent => self.counters.drop(DropReason::Malformed),
            Inserted::TooManyFragments => self.counters.drop(DropReason::TooLarge),
        }
    }

    /// A client's message the reassembly has no room for: it is told so
    /// (`FLAG_BUSY`), once per message, rather than left to resend its
    /// fragments into the full buffer. Members' messages are only dropped:
    /// Raft and the transport resend them.
    fn refuse_busy(&mut self, i: usize, boot: u64, msg_id: u64) {
        let peer = &mut self.peers[i];
        if !peer.is_client || peer.busy.iter().any(|&b| b == (boot, msg_id)) {
            return;
        }
        peer.busy.push_back((boot, msg_id));
        if peer.busy.len() > MAX_REFUSALS {
            peer.busy.pop_front();
        }
    }

    /// The peer refused our message `msg_id` as busy: it is dropped here
    /// and remembered for [`Endpoint::was_refused`].
    fn on_busy(&mut self, i: usize, boot: u64, msg_id: u64) {
        if boot != self.boot {
            return;
        }
        let peer = &mut self.peers[i];
        if peer.sender.give_up(msg_id) {
            self.counters.refused += 1;
        }
        peer.refused.push_back(msg_id);
        if peer.refused.len() > MAX_REFUSALS {
            peer.refused.pop_front();
        }
    }

    /// A whole message sent once: delivered as it comes (a duplicate the
    /// network made is delivered again; its sender tolerates that), never
    /// acknowledged.
    fn on_unacked(&mut self, i: usize, h: &Header, data: &[u8]) {
        if self.events.len() >= self.config.event_queue {
            self.counters.drop(DropReason::QueueFull);
            return;
        }
        self.counters.messages_delivered += 1;
        let from = self.peers[i].id;
        self.events.push_back(Delivered { from, boot: h.from_boot, msg_id: h.msg_id, bytes: data.to_vec() });
    }

    fn deliver(&mut self, i: usize, h: &Header, bytes: Vec<u8>) {
        let peer = &mut self.peers[i];
        let folded = peer.dedup.mark(h.from_boot, h.msg_id);
        self.counters.drop_n(DropReason::QueueFull, folded as u64);
        self.counters.messages_delivered += 1;
        self.events.push_back(Delivered { from: peer.id, boot: h.from_boot, msg_id: h.msg_id, bytes });
    }

    /// Queues an ack of a fragment of `ack.0`, a boot of peer `i`.
    /// `may_wait`: the ack of a whole single-datagram message, which may
    /// wait a little for a reply to ride on (`client_ack_delay_us`);
    /// others (fragments, duplicates) make every queued ack due now.
    fn queue_ack(&mut self, now_us: u64, i: usize, ack: (u64, Ack), may_wait: bool) {
        let peer = &mut self.peers[i];
        let due_now = now_us.saturating_sub(self.config.client_ack_delay_us);
        if peer.acks.is_empty() {
            peer.acks_since_us = if may_wait { now_us } else { due_now };
        } else if !may_wait {
            peer.acks_since_us = peer.acks_since_us.min(due_now);
        }
        let acks = &mut peer.acks;
        acks.push_back(ack);
        if acks.len() > self.config.ack_queue {
            acks.pop_front();
            self.counters.drop(DropReason::QueueFull);
        }
    }
}
