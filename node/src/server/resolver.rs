//! Re-resolving the names of silent peers.
//!
//! A member named by host name (`db1.internal:7101`) is resolved once at
//! start. If the machine behind the name is replaced, or DNS was not ready
//! at start, its old address (or none) would be used forever; so when a
//! peer with a name has not been heard for a while, the name is resolved
//! again and a new address is handed to the transport (`set_peer`, which
//! keeps what was queued for the peer).
//!
//! Timing: a peer is due once it has been silent for [`SILENCE`]; each try
//! that finds nothing new doubles the wait before the next, up to
//! [`MAX_BACKOFF`]; hearing from the peer, or finding a new address,
//! starts over. IP literals are never re-resolved. At most one resolution
//! per peer is in flight.
//!
//! Resolution may block for seconds (DNS timeouts), so it never runs on
//! the event loop: each one runs on a short-lived thread, which reports
//! through the loop's command channel (`Command::Resolved`, sent by the
//! [`ReportFn`] the server gives). Tries are
//! at most one per peer per [`SILENCE`], so the threads stay few.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::channel::Sender;

use super::Command;
use crate::addr::PeerAddr;
use crate::config::ClusterConfig;

/// Silence after which a named peer is resolved again.
pub const SILENCE: Duration = Duration::from_secs(2);
/// The longest wait between two tries for one silent peer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How names are resolved: [`PeerAddr::resolve`], or a fake in tests.
pub type ResolveFn = Arc<dyn Fn(&PeerAddr) -> io::Result<SocketAddr> + Send + Sync>;
/// Where a resolver thread reports (peer, outcome); the server's sends
/// `Command::Resolved` to its event loop.
pub type ReportFn = Arc<dyn Fn(u64, io::Result<SocketAddr>) + Send + Sync>;

struct PeerState {
    addr: PeerAddr,
    /// The address the transport has for it, if any resolved.
    current: Option<SocketAddr>,
    last_heard: Instant,
    /// The earliest next try, and the wait after it.
    next_try: Instant,
    backoff: Duration,
    in_flight: bool,
}

impl PeerState {
    fn new(addr: PeerAddr, current: Option<SocketAddr>, now: Instant) -> PeerState {
        PeerState { addr, current, last_heard: now, next_try: now, backoff: SILENCE, in_flight: false }
    }

    fn is_due(&self, now: Instant) -> bool {
        let silent = self.current.is_none() || now.saturating_duration_since(self.last_heard) >= SILENCE;
        self.addr.ip_literal().is_none() && !self.in_flight && silent && now >= self.next_try
    }
}

/// The peers' names, current addresses and when each was last heard.
pub struct Resolver {
    peers: BTreeMap<u64, PeerState>,
    resolve: ResolveFn,
    /// Where the threads report; `None` in tests that drive `resolved`.
    report: Option<ReportFn>,
}

impl Resolver {
    /// `members`: every peer's name (not this member's own); `current`:
    /// what each resolved to at start (a peer missing there is due at once).
    pub fn new(
        members: BTreeMap<u64, PeerAddr>,
        current: &BTreeMap<u64, SocketAddr>,
        resolve: ResolveFn,
        report: Option<ReportFn>,
        now: Instant,
    ) -> Resolver {
        let peers = (members.into_iter())
            .map(|(id, addr)| (id, PeerState::new(addr, current.get(&id).copied(), now)))
            .collect();
        Resolver { peers, resolve, report }
    }

    /// A message from `peer` arrived: its address works.
    pub fn heard(&mut self, peer: u64, now: Instant) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.last_heard = now;
            p.backoff = SILENCE;
            p.next_try = now;
        }
    }

    /// Named peers to resolve now (silent for [`SILENCE`], or never
    /// resolved, and past their backoff); each is marked in flight until
    /// [`Resolver::resolved`].
    pub fn due(&mut self, now: Instant) -> Vec<(u64, PeerAddr)> {
        let mut due = Vec::new();
        for (&id, p) in self.peers.iter_mut().filter(|(_, p)| p.is_due(now)) {
            p.in_flight = true;
            p.next_try = now + p.backoff;
            p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
            due.push((id, p.addr.clone()));
        }
        due
    }

    /// The outcome of a try: `Some(addr)` when the peer is now at another
    /// address, which the caller gives the transport.
    pub fn resolved(
        &mut self,
        peer: u64,
        result: io::Result<SocketAddr>,
        now: Instant,
    ) -> Option<SocketAddr> {
        let p = self.peers.get_mut(&peer)?;
        p.in_flight = false;
        match result {
            Ok(addr) if Some(addr) != p.current => {
                tracing::info!(target: "net", peer, name = %p.addr, %addr, old = ?p.current, "peer re-resolved");
                p.current = Some(addr);
                p.backoff = SILENCE;
                p.next_try = now + SILENCE;
                Some(addr)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(target: "net", peer, name = %p.addr, error = %e, "cannot resolve peer");
                None
            }
        }
    }

    /// The membership changed: peers not in `members` are forgotten, new
    /// ones (and ones whose name changed) start afresh, due at once unless
    /// their address is an IP literal.
    pub fn set_members(&mut self, members: BTreeMap<u64, PeerAddr>, now: Instant) {
        self.peers.retain(|id, p| members.get(id) == Some(&p.addr));
        for (id, addr) in members {
            self.peers.entry(id).or_insert_with(|| {
                let current = addr.ip_literal();
                PeerState::new(addr, current, now)
            });
        }
    }

    /// The address `peer` was last resolved to.
    pub fn current(&self, peer: u64) -> Option<SocketAddr> {
        self.peers.get(&peer)?.current
    }

    /// Starts a thread for each due peer; each reports through the
    /// [`ReportFn`]. Called on the loop's ticks.
    pub fn tick(&mut self, now: Instant) {
        let Some(report) = self.report.clone() else { return };
        for (peer, addr) in self.due(now) {
            let (resolve, report) = (self.resolve.clone(), report.clone());
            let spawned = std::thread::Builder::new().name("resolver".into()).spawn(move || {
                report(peer, resolve(&addr));
            });
            if let Err(e) = spawned {
                self.resolved(peer, Err(e), now);
            }
        }
    }
}

/// Every member's address at start, resolved here (this may block: the
/// loop is not running yet). A peer whose name does not resolve is left
/// out with a warning, for the resolver to find later; this member's own
/// address is `own`.
pub(super) fn resolve_members(config: &ClusterConfig, id: u64, own: SocketAddr) -> BTreeMap<u64, SocketAddr> {
    let mut peers = BTreeMap::from([(id, own)]);
    for m in config.nodes.iter().filter(|m| m.id != id) {
        match m.addr.resolve() {
            Ok(addr) => drop(peers.insert(m.id, addr)),
            Err(e) => tracing::warn!(target: "net", peer = m.id, name = %m.addr, error = %e,
                "cannot resolve peer; will try again"),
        }
    }
    peers
}

/// The resolver for member `id` of `config`, reporting to `report`.
pub(super) fn for_member(
    config: &ClusterConfig,
    id: u64,
    current: &BTreeMap<u64, SocketAddr>,
    report: Sender<Command>,
) -> Resolver {
    let names = config.nodes.iter().filter(|m| m.id != id).map(|m| (m.id, m.addr.clone())).collect();
    let report: ReportFn =
        Arc::new(move |peer, addr| drop(report.send_blocking(Command::Resolved { peer, addr })));
    Resolver::new(names, current, Arc::new(PeerAddr::resolve), Some(report), Instant::now())
}

#[cfg(test)]
mod tests;
