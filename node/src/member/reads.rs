//! Client reads that write nothing to the log (`Wire::Read`): the member's
//! side of ReadIndex (raft's `read_index.rs`), the lease, and serializable
//! reads.
//!
//! - **Serializable**: answered at once from what this member applied.
//! - **Linearizable**: the core places the read at a commit index
//!   (confirmed by a round at the leader; asked of the leader by a
//!   follower); it is answered once the state machine has applied that
//!   far. A member that cannot place it redirects the client.
//! - **Lease**: at a leader whose lease holds (`lease.rs`), answered at its
//!   commit index without a round; anywhere else, as linearizable.
//!
//! A read the core never answers (a forwarded one lost on the way, a
//! leader gone) is redirected after [`EXPIRY_TICKS`], or at once when this
//! member's role or term changes: the client tries again, elsewhere.

use std::collections::BTreeMap;

use super::lease::Lease;
use super::ClientReply;
use crate::proto::{Consistency, ReadFrom, Reply};

/// Ticks a read may wait for the core before its client is redirected:
/// long enough for a round or two of heartbeats, short next to a client's
/// patience.
pub const EXPIRY_TICKS: u64 = 100;

/// A client's read.
#[derive(Debug)]
pub(super) struct Read {
    pub client: u64,
    pub seq: u64,
    pub query: Vec<u8>,
    /// The member's tick when it arrived.
    since: u64,
}

/// Reads a member answered, by how it made sure they were fresh enough.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// At an index the core placed (a round at the leader, or asked of it).
    pub read_index: u64,
    /// Within the leader's lease, without a round.
    pub lease: u64,
    pub serializable: u64,
}

impl std::ops::AddAssign for ReadCounts {
    fn add_assign(&mut self, c: ReadCounts) {
        self.read_index += c.read_index;
        self.lease += c.lease;
        self.serializable += c.serializable;
    }
}

/// The reads a member holds, and its lease.
pub(super) struct Reads {
    pub lease: Lease,
    pub counts: ReadCounts,
    next_ctx: u64,
    ticks: u64,
    /// Waiting for the core's outcome, by ctx.
    placing: BTreeMap<u64, Read>,
    /// Placed, waiting for the state machine, by (index, ctx).
    applying: BTreeMap<(u64, u64), Read>,
    /// Redirects to send between turns.
    pub refused: Vec<(Read, Reply)>,
}

impl Reads {
    pub fn new(lease: Lease) -> Reads {
        Reads {
            lease,
            counts: ReadCounts::default(),
            next_ctx: 0,
            ticks: 0,
            placing: BTreeMap::new(),
            applying: BTreeMap::new(),
            refused: Vec::new(),
        }
    }

    pub fn read(&self, client: u64, seq: u64, query: Vec<u8>) -> Read {
        Read { client, seq, query, since: self.ticks }
    }

    /// A name for a read the core is asked to place.
    pub fn next_ctx(&mut self) -> u64 {
        self.next_ctx += 1;
        self.next_ctx
    }

    pub fn placing(&mut self, ctx: u64, read: Read) {
        self.placing.insert(ctx, read);
    }

    /// Waits until the state machine has applied `index`.
    pub fn applying(&mut self, index: u64, read: Read) {
        self.next_ctx += 1;
        self.applying.insert((index, self.next_ctx), read);
    }

    /// The core's outcomes: placed reads wait for their index; refused
    /// ones are redirected with `redirect`.
    pub fn outcomes(&mut self, states: Vec<raft::ReadState>, redirect: &Reply) {
        for state in states {
            let Some(read) = self.placing.remove(&state.ctx) else { continue };
            match state.index {
                Some(index) => {
                    self.applying.insert((index, state.ctx), read);
                }
                None => self.refused.push((read, redirect.clone())),
            }
        }
    }

    /// The reads the state machine can answer now that it applied
    /// `applied`, in the order they were placed.
    pub fn due(&mut self, applied: u64) -> Vec<Read> {
        let later = self.applying.split_off(&(applied + 1, 0));
        std::mem::replace(&mut self.applying, later).into_values().collect()
    }

    /// One tick: reads the core has held too long are redirected.
    pub fn tick(&mut self, redirect: &Reply) {
        self.ticks += 1;
        let now = self.ticks;
        let expired: Vec<u64> =
            self.placing.iter().filter(|(_, r)| now - r.since >= EXPIRY_TICKS).map(|(&c, _)| c).collect();
        for ctx in expired {
            if let Some(read) = self.placing.remove(&ctx) {
                self.refused.push((read, redirect.clone()));
            }
        }
    }

    /// The role or term changed: reads still waiting for the core go
    /// elsewhere (an answer from the old term would be dropped anyway).
    pub fn abandon(&mut self, redirect: &Reply) {
        let placing = std::mem::take(&mut self.placing);
        self.refused.extend(placing.into_values().map(|r| (r, redirect.clone())));
    }

    /// Redirects to send, as client replies.
    pub fn take_refused(&mut self) -> Vec<ClientReply> {
        let refused = std::mem::take(&mut self.refused);
        refused.into_iter().map(|(r, reply)| ClientReply { client: r.client, seq: r.seq, reply }).collect()
    }

    pub fn has_refused(&self) -> bool {
        !self.refused.is_empty()
    }
}

impl super::Member {
    /// A client's read (see the module doc): answered now, or later from
    /// a turn, or redirected (always, by a member that does not lead, when
    /// the client asked for the leader).
    pub fn on_read(
        &mut self,
        client: u64,
        seq: u64,
        query: Vec<u8>,
        (consistency, from): (Consistency, ReadFrom),
    ) -> Option<ClientReply> {
        if from == ReadFrom::Leader && self.raft.role() != raft::Role::Leader {
            return Some(ClientReply { client, seq, reply: self.redirect() });
        }
        let read = self.reads.read(client, seq, query);
        if consistency == Consistency::Serializable {
            self.reads.counts.serializable += 1;
            return Some(self.answer(read));
        }
        if consistency == Consistency::Lease {
            if let Some(basis) = self.raft.lease_read().filter(|b| self.reads.lease.holds(b.round)) {
                self.reads.counts.lease += 1;
                if basis.index <= self.applied_index {
                    return Some(self.answer(read));
                }
                self.reads.applying(basis.index, read);
                return None;
            }
        }
        let ctx = self.reads.next_ctx();
        match self.raft.read_index(ctx) {
            Ok(()) => {
                self.reads.placing(ctx, read);
                None
            }
            Err(raft::ReadError::NoLeader) => {
                Some(ClientReply { client: read.client, seq: read.seq, reply: self.redirect() })
            }
        }
    }

    /// Reads answered so far, by kind.
    pub fn read_counts(&self) -> ReadCounts {
        self.reads.counts
    }

    /// The state machine's answer to `read`, now.
    fn answer(&self, read: Read) -> ClientReply {
        let reply = Reply::Applied(self.sm.query(&read.query));
        ClientReply { client: read.client, seq: read.seq, reply }
    }

    /// After a turn applied its entries: the core's read outcomes, and the
    /// reads the state machine can now answer.
    pub(super) fn serve_reads(&mut self, states: Vec<raft::ReadState>) -> Vec<ClientReply> {
        if !states.is_empty() {
            let redirect = self.redirect();
            self.reads.counts.read_index += states.iter().filter(|s| s.index.is_some()).count() as u64;
            self.reads.outcomes(states, &redirect);
        }
        let due = self.reads.due(self.applied_index);
        due.into_iter().map(|read| self.answer(read)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads() -> Reads {
        Reads::new(Lease::new(Box::new(super::super::lease::BootClock), None))
    }

    #[test]
    fn placed_reads_wait_for_their_index_and_come_out_in_order() {
        let mut r = reads();
        for (ctx, seq) in [(1, 10), (2, 11), (3, 12)] {
            let read = r.read(7, seq, Vec::new());
            r.placing(ctx, read);
        }
        let states = [(1, Some(5)), (2, Some(3)), (3, None)];
        let redirect = Reply::Busy;
        r.outcomes(states.iter().map(|&(ctx, index)| raft::ReadState { ctx, index }).collect(), &redirect);
        assert_eq!(r.take_refused().len(), 1);
        assert!(r.due(2).is_empty());
        assert_eq!(r.due(4).iter().map(|x| x.seq).collect::<Vec<_>>(), vec![11]);
        assert_eq!(r.due(9).iter().map(|x| x.seq).collect::<Vec<_>>(), vec![10]);
    }

    #[test]
    fn reads_the_core_holds_too_long_are_redirected() {
        let mut r = reads();
        let read = r.read(7, 1, Vec::new());
        r.placing(1, read);
        for _ in 1..EXPIRY_TICKS {
            r.tick(&Reply::Busy);
        }
        assert!(!r.has_refused());
        r.tick(&Reply::Busy);
        assert_eq!(r.take_refused().len(), 1);
    }
}
