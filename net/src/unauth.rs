//! Telling a client its secret is wrong, without weakening authentication.
//!
//! A datagram from a client id whose MAC does not verify is dropped as
//! before; the member also answers it with a fixed-size notice
//! ([`FLAG_UNAUTH`]: a header alone, no data, no MAC, since the member
//! cannot sign anything the client could check), at most
//! [`NOTICES_PER_SEC`] a second over all senders, so it cannot be used to
//! amplify traffic. The notice carries nothing but "this member could not
//! authenticate you". A client that gets one from a member of its table
//! remembers it ([`Endpoint::refused_secret_by`]) and only uses it to say
//! why it timed out: a forged notice can change that message, never the
//! outcome of a request.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::config::{NodeId, CLIENT_ID_MIN};
use crate::endpoint::{Endpoint, Transmit};
use crate::wire::{self, Decoded, Frame, Header, FLAG_UNAUTH};

/// Notices sent per second at most, and the burst.
pub const NOTICES_PER_SEC: u64 = 10;
/// Notices waiting to be sent at most.
const QUEUED_MAX: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct Notices {
    out: VecDeque<(SocketAddr, NodeId)>,
    tokens: u64,
    refilled_us: u64,
    refused_by: Option<NodeId>,
}

impl Endpoint {
    /// A member of this client's table that could not authenticate it
    /// (its secret differs from the cluster's), if one said so.
    pub fn refused_secret_by(&self) -> Option<NodeId> {
        self.notices.refused_by
    }

    /// A datagram from `from` failed authentication: answer a client's with
    /// a notice, if the budget allows.
    pub(crate) fn on_unauthenticated(&mut self, now_us: u64, from: SocketAddr, bytes: &[u8]) {
        let Ok(d) = wire::decode(bytes) else { return };
        let h = &d.header;
        if h.flags & FLAG_UNAUTH != 0 {
            return self.on_notice(from, &d);
        }
        let ours = h.cluster_id == self.config.cluster_id && h.to == self.config.id;
        if !ours || h.from < CLIENT_ID_MIN || !self.take_token(now_us) {
            return;
        }
        if self.notices.out.len() < QUEUED_MAX {
            self.notices.out.push_back((from, h.from));
        }
    }

    /// A notice: believed only from a member of our table at its address.
    pub(crate) fn on_notice(&mut self, from: SocketAddr, d: &Decoded<'_>) {
        let Some(&i) = self.by_addr.get(&from) else { return };
        let peer = &self.peers[i];
        if !peer.is_client && peer.id == d.header.from && d.header.to == self.config.id {
            self.notices.refused_by = Some(peer.id);
        }
    }

    fn take_token(&mut self, now_us: u64) -> bool {
        let n = &mut self.notices;
        let earned = now_us.saturating_sub(n.refilled_us) * NOTICES_PER_SEC / 1_000_000;
        if earned > 0 {
            n.tokens = (n.tokens + earned).min(NOTICES_PER_SEC);
            n.refilled_us = now_us;
        }
        let ok = n.tokens > 0;
        n.tokens = n.tokens.saturating_sub(1);
        ok
    }

    /// The next notice to send: to whom, and the datagram.
    pub(crate) fn build_notice(&mut self) -> Option<(NodeId, Transmit)> {
        let (to, client) = self.notices.out.pop_front()?;
        let header = Header {
            flags: FLAG_UNAUTH,
            cluster_id: self.config.cluster_id,
            from: self.config.id,
            to: client,
            from_boot: self.boot,
            ..Header::default()
        };
        let bytes = wire::encode(&Frame { header, acks: &[], data: &[] }, 0);
        Some((client, Transmit { to, bytes }))
    }
}
