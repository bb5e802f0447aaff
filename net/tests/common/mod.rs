//! A tiny virtual-time network for `net::Endpoint`s: datagrams take a fixed
//! one-way latency; an optional filter drops chosen datagrams. Faults
//! configured on the endpoints apply as usual.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;

use net::{Config, Endpoint};
use serde::{Deserialize, Serialize};

/// The message the tests send: who, which, when, and some padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg {
    pub from: u64,
    pub seq: u64,
    pub sent_us: u64,
    pub pad: Vec<u8>,
}

pub type Filter = Box<dyn FnMut(u64, u64, &[u8]) -> bool>;
/// A datagram on the wire: (arrival time, sequence, from, to, bytes).
type InFlight = (u64, u64, u64, u64, Vec<u8>);

pub struct Sim {
    pub now_us: u64,
    pub latency_us: u64,
    pub nodes: BTreeMap<u64, Endpoint>,
    pub addrs: BTreeMap<u64, SocketAddr>,
    /// Messages each node received: (receiver, message, arrival time).
    pub delivered: Vec<(u64, Msg, u64)>,
    /// Return false to lose a datagram: (from, to, bytes).
    pub filter: Option<Filter>,
    /// Every datagram put on the wire: (time, from, to, len).
    pub wire_log: Vec<(u64, u64, u64, usize)>,
    flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
}

pub fn addrs(n: u64) -> BTreeMap<u64, SocketAddr> {
    (1..=n).map(|i| (i, SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16)))).collect()
}

pub fn config(n: u64, id: u64) -> Config {
    let mut c = Config::new(42, id, addrs(n));
    c.faults.seed = id;
    c
}

impl Sim {
    pub fn new(configs: Vec<Config>) -> Sim {
        let addrs = configs[0].peers.clone();
        let nodes = configs.into_iter().map(|c| (c.id, Endpoint::new(c).unwrap())).collect();
        Sim {
            now_us: 0,
            latency_us: 100,
            nodes,
            addrs,
            delivered: Vec::new(),
            filter: None,
            wire_log: Vec::new(),
            flight: BinaryHeap::new(),
            seq: 0,
        }
    }

    pub fn send(&mut self, from: u64, to: u64, seq: u64, pad: usize) {
        let msg = Msg { from, seq, sent_us: self.now_us, pad: vec![(seq % 251) as u8; pad] };
        self.nodes.get_mut(&from).unwrap().send(self.now_us, to, &msg).unwrap();
    }

    /// Moves every datagram waiting to leave any node onto the wire.
    fn flush(&mut self) {
        for (&id, node) in self.nodes.iter_mut() {
            while let Some(t) = node.poll_transmit(self.now_us) {
                let to = *self.addrs.iter().find(|(_, a)| **a == t.to).unwrap().0;
                self.wire_log.push((self.now_us, id, to, t.bytes.len()));
                if self.filter.as_mut().is_some_and(|f| !f(id, to, &t.bytes)) {
                    continue;
                }
                self.seq += 1;
                self.flight.push(Reverse((self.now_us + self.latency_us, self.seq, id, to, t.bytes)));
            }
        }
    }

    /// Advances to the next event (arrival or timer); false when there is none
    /// before `until_us`.
    pub fn step(&mut self, until_us: u64) -> bool {
        self.flush();
        let arrival = self.flight.peek().map(|Reverse(f)| f.0);
        let timer = self.nodes.values().filter_map(|n| n.poll_timeout()).min();
        let Some(next) = arrival.into_iter().chain(timer).min() else { return false };
        if next > until_us {
            self.now_us = until_us;
            return false;
        }
        self.now_us = self.now_us.max(next);
        while self.flight.peek().is_some_and(|Reverse(f)| f.0 <= self.now_us) {
            let Reverse((_, _, from, to, bytes)) = self.flight.pop().unwrap();
            let from_addr = self.addrs[&from];
            self.nodes.get_mut(&to).unwrap().handle_datagram(self.now_us, from_addr, &bytes);
        }
        for (&id, node) in self.nodes.iter_mut() {
            node.handle_timeout(self.now_us);
            while let Some((_, m)) = node.poll_message::<Msg>() {
                self.delivered.push((id, m, self.now_us));
            }
        }
        self.flush();
        true
    }

    /// Runs until nothing is left to do or `until_us`.
    pub fn run_until(&mut self, until_us: u64) {
        while self.step(until_us) {}
    }

    /// Runs until no node has unacknowledged messages (or `until_us`).
    pub fn run_until_acked(&mut self, until_us: u64) {
        while self.step(until_us) {
            let busy = self.nodes.values().any(|n| n.config().peers.keys().any(|&p| n.queued(p) > 0));
            if !busy {
                break;
            }
        }
    }

    pub fn node(&self, id: u64) -> &Endpoint {
        &self.nodes[&id]
    }
}
