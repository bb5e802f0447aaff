//! Clients of an endpoint with `Config::accept_clients`: peers that are not
//! in the peer table, with ids at or above [`CLIENT_ID_MIN`], whose address
//! is learned from their first datagram that passes every check. The table
//! is bounded (`Config::max_clients`); a new client evicts the one heard
//! from least recently, with whatever was queued for it.

use std::net::SocketAddr;

use crate::config::{NodeId, CLIENT_ID_MIN};
use crate::endpoint::{Endpoint, Peer};
use crate::wire::Header;

impl Endpoint {
    /// May a datagram from a member id the table lacks introduce it
    /// (`Config::accept_members`)? The caller has checked cluster id and MAC.
    pub(crate) fn admits_member(&self, h: &Header) -> bool {
        self.config.accept_members
            && h.from < CLIENT_ID_MIN
            && h.from != self.config.id
            && h.to == self.config.id
            && !self.by_id.contains_key(&h.from)
    }

    /// May a datagram with this header, from an address not (or no longer)
    /// matching its sender in the table, introduce a client? The caller has
    /// checked cluster id and MAC.
    pub(crate) fn admits_client(&self, h: &Header) -> bool {
        if !self.config.accept_clients || h.from < CLIENT_ID_MIN || h.to != self.config.id {
            return false;
        }
        // A client id never takes over a member's slot.
        self.by_id.get(&h.from).is_none_or(|&i| self.peers[i].is_client)
    }

    /// The table slot of client `id` at `addr`: its own slot (moved to
    /// `addr` if it rebound), or a new one.
    pub(crate) fn learn_client(&mut self, now_us: u64, id: NodeId, addr: SocketAddr) -> usize {
        if let Some(&i) = self.by_id.get(&id) {
            let old = self.peers[i].addr;
            if self.by_addr.get(&old) == Some(&i) {
                self.by_addr.remove(&old);
            }
            self.peers[i].addr = addr;
            self.by_addr.insert(addr, i);
            return i;
        }
        if self.clients() >= self.config.max_clients {
            self.evict_oldest_client();
        }
        let mut peer = Peer::new(id, addr, &self.config);
        peer.is_client = true;
        peer.last_heard_us = now_us;
        let i = self.peers.len();
        self.peers.push(peer);
        self.by_id.insert(id, i);
        self.by_addr.insert(addr, i);
        self.counters.clients_learned += 1;
        tracing::debug!(target: "net", client = id, %addr, "client learned");
        i
    }

    fn evict_oldest_client(&mut self) {
        let oldest = (self.peers.iter().enumerate().filter(|(_, p)| p.is_client))
            .min_by_key(|(_, p)| p.last_heard_us)
            .map(|(i, _)| i);
        let Some(i) = oldest else { return };
        // remove_slot re-points the peer swapped into slot i.
        let gone = self.remove_slot(i);
        self.counters.clients_evicted += 1;
        tracing::debug!(target: "net", client = gone.id, "client forgotten (table full)");
    }
}
