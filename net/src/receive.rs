//! The receive path of [`Endpoint`]: checks in order (size and structure,
//! checksum, cluster id, MAC, peer table or client admission), then acks, then data: dedup,
//! reassembly, delivery. Every datagram that fails a check is dropped and
//! counted; nothing here panics on any input.

use std::net::SocketAddr;

use crate::counters::DropReason;
use crate::endpoint::{Delivered, Endpoint};
use crate::faults::Verdict;
use crate::reassembly::Inserted;
use crate::wire::{self, Ack, Decoded, Header, FLAG_DATA};

impl Endpoint {
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
                self.counters.drop(reason);
                return;
            }
        };
        let h = decoded.header;
        let i = match peer {
            Some(i) if self.peers[i].id == h.from => i,
            _ => self.learn_client(now_us, h.from, from),
        };
        self.peers[i].last_heard_us = now_us;
        self.peers[i].dedup.advance(h.low_watermark);
        self.on_acks(now_us, i, &decoded.acks);
        if h.flags & FLAG_DATA != 0 {
            self.on_data(now_us, i, &h, decoded.data);
        }
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
            _ => Err(DropReason::UnknownPeer),
        }
    }

    fn on_acks(&mut self, now_us: u64, i: usize, acks: &[Ack]) {
        let peer = &mut self.peers[i];
        self.counters.acks_received += acks.len() as u64;
        let mut newly = false;
        for ack in acks {
            newly |= peer.sender.on_ack(now_us, ack.msg_id, ack.frag_index, &mut peer.rto);
        }
        if newly {
            self.counters.retransmissions += peer.sender.detect_losses(&peer.rto);
        }
    }

    fn on_data(&mut self, now_us: u64, i: usize, h: &Header, data: &[u8]) {
        let ack = Ack { msg_id: h.msg_id, frag_index: h.frag_index };
        let from = self.peers[i].id;
        if self.peers[i].dedup.seen(h.msg_id) || self.reassembly.holds((from, h.msg_id), h.frag_index) {
            self.counters.duplicates += 1;
            self.queue_ack(i, ack);
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
            self.deliver(i, h.msg_id, data.to_vec());
            self.queue_ack(i, ack);
            return;
        }
        match self.reassembly.insert(now_us, (from, h.msg_id), h.frag_index, h.frag_count, data) {
            Inserted::Stored => self.queue_ack(i, ack),
            Inserted::Complete(bytes) => {
                self.deliver(i, h.msg_id, bytes);
                self.queue_ack(i, ack);
            }
            Inserted::Duplicate => {
                self.counters.duplicates += 1;
                self.queue_ack(i, ack);
            }
            Inserted::Full => self.counters.drop(DropReason::QueueFull),
            Inserted::Inconsistent => self.counters.drop(DropReason::Malformed),
            Inserted::TooManyFragments => self.counters.drop(DropReason::TooLarge),
        }
    }

    fn deliver(&mut self, i: usize, msg_id: u64, bytes: Vec<u8>) {
        let peer = &mut self.peers[i];
        let folded = peer.dedup.mark(msg_id);
        self.counters.drop_n(DropReason::QueueFull, folded as u64);
        self.counters.messages_delivered += 1;
        self.events.push_back(Delivered { from: peer.id, msg_id, bytes });
    }

    fn queue_ack(&mut self, i: usize, ack: Ack) {
        let acks = &mut self.peers[i].acks;
        acks.push_back(ack);
        if acks.len() > self.config.ack_queue {
            acks.pop_front();
            self.counters.drop(DropReason::QueueFull);
        }
    }
}
