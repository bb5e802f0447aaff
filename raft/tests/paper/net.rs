//! A tiny synchronous network of cores for the paper tests: messages are
//! queued and delivered on demand, persisting is instant.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft::{Body, Config, Entry, Message, NodeId, Persisted, Raft, Role};
use rand_chacha::rand_core::SeedableRng;

pub fn rng(seed: u64) -> Box<rand_chacha::ChaCha8Rng> {
    Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
}

pub fn entry(index: u64, term: u64) -> Entry {
    Entry { index, term, data: vec![index as u8, term as u8].into() }
}

/// Entries 1.. with the given terms.
pub fn log_of(terms: &[u64]) -> Vec<Entry> {
    terms.iter().enumerate().map(|(i, &t)| entry(i as u64 + 1, t)).collect()
}

pub fn new_raft(id: NodeId, n: u64, persisted: Persisted) -> Raft {
    Raft::new(Config::lab(id, (1..=n).collect()), persisted, rng(id)).expect("valid config")
}

/// Members 1..=n, a message queue, per-member applied entries, and the
/// members cut off from everyone or deaf to everyone.
pub struct Net {
    pub nodes: BTreeMap<NodeId, Raft>,
    pub queue: VecDeque<Message>,
    pub applied: BTreeMap<NodeId, Vec<Entry>>,
    pub cut: BTreeSet<NodeId>,
    /// Members that can send but not receive (a one-way partition).
    pub deaf: BTreeSet<NodeId>,
    /// Every message handed to the network, in order.
    pub sent: Vec<Message>,
}

impl Net {
    pub fn new(n: u64) -> Net {
        Net::with_logs(n, |_| Persisted::default())
    }

    pub fn with_logs(n: u64, persisted: impl Fn(NodeId) -> Persisted) -> Net {
        Net::build(n, persisted, |_| {})
    }

    /// Members with a configuration changed by `adjust`.
    pub fn with_config(n: u64, adjust: impl Fn(&mut Config)) -> Net {
        Net::build(n, |_| Persisted::default(), adjust)
    }

    fn build(n: u64, persisted: impl Fn(NodeId) -> Persisted, adjust: impl Fn(&mut Config)) -> Net {
        let make = |id| {
            let mut config = Config::lab(id, (1..=n).collect());
            adjust(&mut config);
            Raft::new(config, persisted(id), rng(id)).expect("valid config")
        };
        let nodes = (1..=n).map(|id| (id, make(id))).collect();
        Net {
            nodes,
            queue: VecDeque::new(),
            applied: BTreeMap::new(),
            cut: BTreeSet::new(),
            deaf: BTreeSet::new(),
            sent: Vec::new(),
        }
    }

    pub fn node(&mut self, id: NodeId) -> &mut Raft {
        self.nodes.get_mut(&id).expect("member exists")
    }

    /// Drains every member's Ready: instant persist, queue messages, apply.
    pub fn flush(&mut self) {
        for (&id, raft) in self.nodes.iter_mut() {
            while raft.has_ready() {
                let ready = raft.ready();
                self.applied.entry(id).or_default().extend(ready.committed_entries);
                self.sent.extend(ready.messages.iter().cloned());
                self.queue.extend(ready.messages);
                raft.advance();
            }
        }
    }

    /// Delivers queued messages (dropping those to or from cut members)
    /// until the network is quiet.
    pub fn deliver_all(&mut self) {
        self.flush();
        while let Some(msg) = self.queue.pop_front() {
            if self.cut.contains(&msg.from) || self.cut.contains(&msg.to) || self.deaf.contains(&msg.to) {
                continue;
            }
            self.node(msg.to).step(msg).expect("well-formed message");
            self.flush();
        }
    }

    /// Drops every queued message.
    pub fn drop_all(&mut self) {
        self.flush();
        self.queue.clear();
    }

    pub fn tick_all(&mut self, ticks: u32) {
        for _ in 0..ticks {
            for raft in self.nodes.values_mut() {
                raft.tick();
            }
            self.deliver_all();
        }
    }

    /// Ticks only `id` until it starts an election, then delivers.
    pub fn campaign(&mut self, id: NodeId) {
        let term = self.node(id).current_term();
        while self.node(id).current_term() == term {
            self.node(id).tick();
        }
        self.deliver_all();
    }

    pub fn leaders(&self) -> Vec<NodeId> {
        self.nodes.values().filter(|r| r.role() == Role::Leader).map(|r| r.id()).collect()
    }

    pub fn requests_sent(&self) -> usize {
        self.sent.iter().filter(|m| m.is_request()).count()
    }
}

pub fn is_append(m: &Message) -> bool {
    matches!(m.body, Body::AppendEntries { .. })
}
