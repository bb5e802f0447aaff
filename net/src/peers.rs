//! The peer table at run time: members added, moved to a new address, or
//! removed while the endpoint runs (membership changes, a member whose
//! host name now resolves elsewhere).
//!
//! The table is a `Vec<Peer>` indexed twice, by id (`by_id`) and by
//! address (`by_addr`). Both maps must always point at the slot holding
//! that id or address, or the receive path would credit a datagram to the
//! wrong peer. The invariants, checked by [`Endpoint::check_indexes`]:
//!
//! - `by_id[id] = i` exactly when `peers[i].id == id` (one slot per id);
//! - `by_addr[a] = i` implies `peers[i].addr == a`; a peer may lack an
//!   address entry (a client whose address another client took over), but
//!   a member whose address no other member shares always has one.
//!
//! Removing a slot swaps the last one into its place, so every removal
//! goes through [`Endpoint::remove_slot`], which re-points the moved peer.

use std::net::SocketAddr;

use crate::config::NodeId;
use crate::endpoint::{Endpoint, Peer};

impl Endpoint {
    /// Adds member `id` at `addr`, or moves it there.
    ///
    /// A member already known keeps its send queue, RTO estimate and dedup
    /// windows: only where its datagrams go and whose datagrams count as
    /// its changes (what is in flight is retransmitted to the new address on
    /// its timer). A learned client with this id becomes a member, its
    /// state kept likewise. A client that was learned at `addr` is
    /// forgotten: the address is the member's now. `id` being this
    /// endpoint's own only updates `config().peers` (the socket is not
    /// rebound).
    pub fn set_peer(&mut self, id: NodeId, addr: SocketAddr) {
        self.config.peers.insert(id, addr);
        if id == self.config.id {
            return;
        }
        if let Some(&j) = self.by_addr.get(&addr) {
            if self.peers[j].id != id && self.peers[j].is_client {
                self.remove_slot(j);
            }
        }
        let i = match self.by_id.get(&id) {
            Some(&i) => {
                let old = self.peers[i].addr;
                self.peers[i].addr = addr;
                self.peers[i].is_client = false;
                if old != addr && self.by_addr.get(&old) == Some(&i) {
                    self.by_addr.remove(&old);
                    self.adopt_addr(old);
                }
                i
            }
            None => {
                let i = self.peers.len();
                self.peers.push(Peer::new(id, addr, &self.config));
                self.by_id.insert(id, i);
                i
            }
        };
        self.by_addr.insert(addr, i);
        tracing::debug!(target: "net", peer = id, %addr, "peer set");
    }

    /// Forgets peer `id` (a member or a client) with whatever was queued
    /// for it. Later sends to it fail with `SendError::UnknownPeer`, and
    /// its datagrams are judged as any unknown sender's (dropped as
    /// `unknown_peer`, unless it is admitted as a client). False if there
    /// was no such peer.
    pub fn remove_peer(&mut self, id: NodeId) -> bool {
        if id != self.config.id {
            self.config.peers.remove(&id);
        }
        let Some(&i) = self.by_id.get(&id) else { return false };
        self.remove_slot(i);
        tracing::debug!(target: "net", peer = id, "peer removed");
        true
    }

    /// Where datagrams to `id` go now (a member's or a learned client's
    /// address); this endpoint's own from its config.
    pub fn peer_addr(&self, id: NodeId) -> Option<SocketAddr> {
        match self.by_id.get(&id) {
            Some(&i) => Some(self.peers[i].addr),
            None if id == self.config.id => self.config.peers.get(&id).copied(),
            None => None,
        }
    }

    /// Member peers (not clients) and their addresses, in no set order.
    pub fn members(&self) -> impl Iterator<Item = (NodeId, SocketAddr)> + '_ {
        self.peers.iter().filter(|p| !p.is_client).map(|p| (p.id, p.addr))
    }

    /// Removes slot `i`; the last slot moves into it, and its index
    /// entries are re-pointed. Returns the peer removed.
    pub(crate) fn remove_slot(&mut self, i: usize) -> Peer {
        let gone = self.peers.swap_remove(i);
        self.by_id.remove(&gone.id);
        let held = self.by_addr.get(&gone.addr) == Some(&i);
        if held {
            self.by_addr.remove(&gone.addr);
        }
        let last = self.peers.len();
        if let Some(moved) = self.peers.get(i) {
            self.by_id.insert(moved.id, i);
            if self.by_addr.get(&moved.addr) == Some(&last) {
                self.by_addr.insert(moved.addr, i);
            }
        }
        if held {
            self.adopt_addr(gone.addr);
        }
        gone
    }

    /// `addr` has no entry any more: a member that shares it (two members
    /// on one address, a mistake in the caller's table, or a move in two
    /// steps) takes the entry, so it is still heard.
    fn adopt_addr(&mut self, addr: SocketAddr) {
        if let Some(j) = self.peers.iter().position(|p| !p.is_client && p.addr == addr) {
            self.by_addr.insert(addr, j);
        }
    }

    /// Checks the index invariants of the module doc; for tests and
    /// fuzzing, cheap enough to call after every operation.
    #[doc(hidden)]
    pub fn check_indexes(&self) -> Result<(), String> {
        if self.by_id.len() != self.peers.len() {
            return Err(format!("{} ids for {} peers", self.by_id.len(), self.peers.len()));
        }
        for (&id, &i) in &self.by_id {
            if self.peers.get(i).map(|p| p.id) != Some(id) {
                return Err(format!("by_id[{id}] = {i} holds another peer"));
            }
        }
        for (&addr, &i) in &self.by_addr {
            if self.peers.get(i).map(|p| p.addr) != Some(addr) {
                return Err(format!("by_addr[{addr}] = {i} holds another address"));
            }
        }
        for p in self.peers.iter().filter(|p| !p.is_client) {
            let holder = self.by_addr.get(&p.addr).map(|&i| &self.peers[i]);
            if holder.is_none_or(|h| h.is_client) {
                return Err(format!("member {} at {} has no address entry", p.id, p.addr));
            }
        }
        Ok(())
    }
}
