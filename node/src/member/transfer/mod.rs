//! Streaming a snapshot between two members in bounded chunks, outside the
//! Raft core (which only says which snapshot, [`raft::Body::InstallSnapshot`]).
//!
//! The leader keeps at most [`WINDOW_CHUNKS`] chunks of [`CHUNK_BYTES`]
//! unacknowledged per follower and reads each from the store when it sends
//! it, so neither side holds a snapshot in memory. The follower appends
//! chunks in order only and acknowledges with the length it holds, so a
//! lost or reordered chunk costs a rewind to that length: after
//! [`RESEND_TICKS`] without progress the leader goes back to what was
//! acknowledged (go-back-N over a transport that already retransmits).
//! A transfer that makes no progress for [`GIVE_UP_TICKS`] is abandoned and
//! the core told, which starts it again later. A new transfer of the same
//! snapshot (after a leader change or a give-up) resumes where the
//! follower's incoming copy ends: the first acknowledgement says where.
//!
//! The leader's transfers together send at most a set number of bytes per
//! tick ([`Senders::set_rate`]; the node's `[log] snapshot_send_mb_per_s`):
//! a catch-up at the transport's full rate takes the CPU and the socket the
//! leader's writes need, and on a small machine the members beside it too.
//! Chunks are small so the budget spreads over the acknowledgements that
//! come within a tick rather than leaving in one burst each tick.

use std::collections::BTreeMap;

use bytes::Bytes;
use raft::{NodeId, SnapshotMeta};

use super::snapshot_store::{SnapshotData, SnapshotInfo, SnapshotPart, SnapshotStore};

/// Data bytes per chunk: well under the transport's 1 MiB message limit,
/// and a fraction of the budget of a tick at the usual rates.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight per follower: about the transport's window of
/// fragments, so a window of chunks is in the network, not queued in it.
pub const WINDOW_CHUNKS: u64 = 4;
/// Ticks without an acknowledgement that moves on before going back.
pub const RESEND_TICKS: u64 = 20;
/// Ticks without any progress before a transfer is given up.
pub const GIVE_UP_TICKS: u64 = 500;

/// One snapshot being sent to one follower.
struct Outgoing {
    data: Box<dyn SnapshotData>,
    info: SnapshotInfo,
    term: u64,
    /// Bytes the follower holds.
    acked: u64,
    /// Next offset to send.
    next: u64,
    /// Tick of the last progress (or of the last rewind).
    progress_at: u64,
    /// Tick of the last acknowledgement that moved `acked`, or of the start.
    moved_at: u64,
    /// The one chunk of an empty snapshot went out.
    empty_sent: bool,
}

/// What a sender's input led to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SendOutcome {
    pub parts: Vec<(NodeId, SnapshotPart)>,
    /// Transfers that ended: `(peer, delivered)` for `Raft::report_snapshot`.
    pub reports: Vec<(NodeId, bool)>,
}

/// The leader's transfers, by follower.
pub struct Senders {
    by_peer: BTreeMap<NodeId, Outgoing>,
    now: u64,
    /// Bytes all transfers may send per tick.
    rate: u64,
    /// Bytes they may send now: a tick's worth is added each tick, up to a
    /// tick's worth and one chunk (so what a tick leaves unspent for want
    /// of a whole chunk is not lost).
    budget: u64,
}

impl Default for Senders {
    fn default() -> Self {
        Senders { by_peer: BTreeMap::new(), now: 0, rate: u64::MAX, budget: u64::MAX }
    }
}

impl Senders {
    /// At most `bytes_per_tick` of snapshot data leave per tick, over all
    /// transfers; `u64::MAX` (the default) for no limit.
    pub fn set_rate(&mut self, bytes_per_tick: u64) {
        self.rate = bytes_per_tick.max(1);
        self.budget = self.budget.min(self.budget_cap());
    }

    fn budget_cap(&self) -> u64 {
        self.rate.saturating_add(CHUNK_BYTES as u64)
    }

    /// The core wants `peer` to get the snapshot at `meta`. A transfer of
    /// that snapshot already under way goes on; one of another is replaced.
    pub fn start(
        &mut self,
        store: &mut dyn SnapshotStore,
        peer: NodeId,
        term: u64,
        meta: SnapshotMeta,
        out: &mut SendOutcome,
    ) {
        if self.by_peer.get(&peer).is_some_and(|o| o.info.meta == meta && o.term == term) {
            return;
        }
        let data = match store.open_current() {
            Ok(data) if data.info().meta == meta => data,
            Ok(data) => {
                let current = data.info().meta;
                tracing::warn!(target: "replication", peer, ?meta, ?current, "snapshot to send is not current");
                return out.reports.push((peer, false));
            }
            Err(e) => {
                tracing::error!(target: "replication", peer, error = %e, "cannot open the snapshot to send");
                return out.reports.push((peer, false));
            }
        };
        let info = data.info();
        tracing::debug!(target: "replication", peer, ?meta, len = info.len, "sending snapshot");
        let now = self.now;
        let o = Outgoing {
            data,
            info,
            term,
            acked: 0,
            next: 0,
            progress_at: now,
            moved_at: now,
            empty_sent: false,
        };
        self.by_peer.insert(peer, o);
        self.pump(peer, out);
    }

    /// Sends what the window allows to `peer`.
    fn pump(&mut self, peer: NodeId, out: &mut SendOutcome) {
        let Some(o) = self.by_peer.get_mut(&peer) else { return };
        let window_end = o.acked.saturating_add(WINDOW_CHUNKS * CHUNK_BYTES as u64).min(o.info.len);
        // An empty snapshot still takes one (empty) chunk.
        while o.next < window_end || (o.info.len == 0 && !o.empty_sent) {
            let len = (o.info.len - o.next).min(CHUNK_BYTES as u64) as usize;
            if self.budget < len as u64 {
                return;
            }
            let mut buf = vec![0; len];
            if let Err(e) = read_exact_at(&*o.data, o.next, &mut buf) {
                tracing::error!(target: "replication", peer, error = %e, "cannot read the snapshot");
                self.by_peer.remove(&peer);
                return out.reports.push((peer, false));
            }
            let data = Bytes::from(buf);
            out.parts.push((peer, SnapshotPart::Chunk { term: o.term, info: o.info, offset: o.next, data }));
            o.next += len as u64;
            o.empty_sent = true;
            self.budget -= len as u64;
        }
    }

    /// The follower's acknowledgement: it holds `received` bytes (cumulative).
    pub fn on_ack(
        &mut self,
        peer: NodeId,
        snapshot: SnapshotMeta,
        received: u64,
        done: bool,
        out: &mut SendOutcome,
    ) {
        let now = self.now;
        let Some(o) = self.by_peer.get_mut(&peer) else { return };
        if o.info.meta != snapshot || received > o.info.len {
            return;
        }
        if done {
            self.by_peer.remove(&peer);
            return out.reports.push((peer, true));
        }
        if received > o.acked {
            // Progress; or, at the start, a resumed transfer: the follower
            // already holds this much of the same snapshot.
            o.acked = received;
            o.next = o.next.max(received);
            (o.moved_at, o.progress_at) = (now, now);
        } else if received == 0 && o.acked > 0 {
            // The follower holds nothing of it any more (it restarted, or
            // refused the data): begin again.
            (o.acked, o.next, o.empty_sent, o.progress_at) = (0, 0, false, now);
        }
        self.pump(peer, out);
    }

    /// One tick: adds to the budget, rewinds stalled transfers, gives up
    /// dead ones, sends what the budget and the windows allow.
    pub fn tick(&mut self, out: &mut SendOutcome) {
        self.now += 1;
        let now = self.now;
        self.budget = self.budget.saturating_add(self.rate).min(self.budget_cap());
        self.by_peer.retain(|&peer, o| {
            if now - o.moved_at >= GIVE_UP_TICKS {
                tracing::debug!(target: "replication", peer, "snapshot transfer given up");
                out.reports.push((peer, false));
                return false;
            }
            if now - o.progress_at >= RESEND_TICKS {
                (o.next, o.empty_sent, o.progress_at) = (o.acked, false, now);
            }
            true
        });
        let peers: Vec<NodeId> = self.by_peer.keys().copied().collect();
        for peer in peers {
            self.pump(peer, out);
        }
    }

    /// Not the leader any more: every transfer stops.
    pub fn clear(&mut self) {
        self.by_peer.clear();
    }
}

pub(crate) fn read_exact_at(
    data: &dyn SnapshotData,
    mut offset: u64,
    mut buf: &mut [u8],
) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = data.read_at(offset, buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        offset += n as u64;
        buf = &mut buf[n..];
    }
    Ok(())
}

/// The snapshot a follower is receiving.
#[derive(Debug, Clone, Copy)]
struct Incoming {
    info: SnapshotInfo,
    received: u64,
}

/// What a received chunk led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Acknowledge with this.
    Ack(SnapshotPart),
    /// Complete, verified and durable: step `InstallSnapshot` into the core
    /// (from the chunk's sender, in its term), then send the ack.
    Complete { info: SnapshotInfo, ack: SnapshotPart },
}

/// The follower's side: at most one incoming snapshot.
#[derive(Default)]
pub struct Receiver {
    incoming: Option<Incoming>,
}

impl Receiver {
    /// A chunk arrived. `commit_index` is the core's: a snapshot it already
    /// covers is acknowledged as done without being received.
    pub fn on_chunk(
        &mut self,
        store: &mut dyn SnapshotStore,
        term: u64,
        info: SnapshotInfo,
        offset: u64,
        data: &[u8],
        commit_index: u64,
    ) -> Received {
        let ack = |received, done| SnapshotPart::Ack { term, snapshot: info.meta, received, done };
        if info.meta.index <= commit_index {
            return Received::Complete { info, ack: ack(info.len, true) };
        }
        // Chunks are taken in order only; anything else is answered with
        // what is held, which rewinds (or, for a resumed transfer,
        // fast-forwards) the sender.
        let held = self.incoming.filter(|i| i.info == info).map_or(0, |i| i.received);
        if offset != held {
            return Received::Ack(ack(held, false));
        }
        if let Err(e) = store.receive(info, offset, data) {
            tracing::warn!(target: "replication", error = %e, "cannot store a snapshot chunk");
            self.incoming = None;
            return Received::Ack(ack(0, false));
        }
        let received = offset + data.len() as u64;
        self.incoming = Some(Incoming { info, received });
        if received < info.len {
            return Received::Ack(ack(received, false));
        }
        self.incoming = None;
        match store.finish_receive(info) {
            Ok(()) => Received::Complete { info, ack: ack(received, true) },
            Err(e) => {
                tracing::warn!(target: "replication", error = %e, "received snapshot refused");
                Received::Ack(ack(0, false))
            }
        }
    }
}

#[cfg(test)]
mod tests;
