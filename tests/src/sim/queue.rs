//! The simulator's agenda: events ordered by virtual time, ties broken by
//! insertion order, so a run is a pure function of its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use node::member::ClientReply;
use raft::Message;

use super::nemesis::Fault;

/// A simulated process: a server (0-based) or a client (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    Server(usize),
    Client(usize),
}

/// What travels on the simulated network.
#[derive(Debug, Clone)]
pub enum Packet {
    /// Server to server. `hostile`: forged by a nemesis, to be refused.
    Raft { msg: Message, hostile: bool },
    /// Client to server: propose `command`.
    Request { client: u64, seq: u64, command: Vec<u8> },
    /// Client to server: answer `query` as fresh as `consistency` asks.
    Read {
        client: u64,
        seq: u64,
        query: Vec<u8>,
        consistency: node::proto::Consistency,
        from: node::proto::ReadFrom,
    },
    /// Server to client.
    Reply(ClientReply),
    /// Server to server: a snapshot chunk or its acknowledgement.
    Snapshot(node::member::snapshot_store::SnapshotPart),
}

/// Something that happens at an instant of virtual time.
#[derive(Debug)]
pub enum Event {
    /// Server `server`'s clock ticks (only for the incarnation that
    /// scheduled it; a crash ends the chain).
    Tick { server: usize, incarnation: u64 },
    /// A packet arrives, if both ends are still the incarnations that
    /// existed when it was sent, alive and connected.
    Deliver { packet: Packet, from: Addr, to: Addr, from_incarnation: u64, to_incarnation: u64 },
    /// Server `server`'s sync completes.
    SyncDone { server: usize, incarnation: u64 },
    /// Server `server`'s write of its own snapshot is durable.
    SnapshotWritten { server: usize, incarnation: u64, snapshot: super::snapshots::Snapshot },
    /// A client's timer: issue the next operation or retry.
    Client { client: usize, generation: u64 },
    /// The nemesis acts.
    Nemesis(Fault),
}

struct Scheduled {
    at_us: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.seq) == (other.at_us, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_us, other.seq).cmp(&(self.at_us, self.seq))
    }
}

/// A min-heap of events by `(time, sequence number)`.
#[derive(Default)]
pub struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
}

impl EventQueue {
    pub fn push(&mut self, at_us: u64, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled { at_us, seq: self.seq, event });
    }

    /// The earliest event at or before `until_us`, with its time.
    pub fn pop_due(&mut self, until_us: u64) -> Option<(u64, Event)> {
        if self.heap.peek()?.at_us > until_us {
            return None;
        }
        self.heap.pop().map(|s| (s.at_us, s.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_insertion_order() {
        let mut q = EventQueue::default();
        q.push(20, Event::Tick { server: 0, incarnation: 0 });
        q.push(10, Event::Tick { server: 1, incarnation: 0 });
        q.push(10, Event::Tick { server: 2, incarnation: 0 });
        let order: Vec<usize> = std::iter::from_fn(|| q.pop_due(15))
            .map(|(_, e)| match e {
                Event::Tick { server, .. } => server,
                _ => usize::MAX,
            })
            .collect();
        assert_eq!(order, vec![1, 2]);
        assert!(q.pop_due(19).is_none());
        assert!(q.pop_due(20).is_some());
    }
}
