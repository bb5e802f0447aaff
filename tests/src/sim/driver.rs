//! The simulator's event loop and the driver side of the core's `Ready`
//! hand-off: persist, then send, then apply, then `advance`.

use raft::Message;

use super::queue::Event;
use super::{Sim, TICK_US};

impl Sim {
    /// Handles every event up to `until_us`, checking the invariants after
    /// each, and stops at the first violation.
    pub(super) fn run_until(&mut self, until_us: u64) {
        for i in 0..self.nodes.len() {
            if std::mem::take(&mut self.nodes[i].dirty) && self.failure.is_none() {
                self.events += 1;
                self.process_ready(i);
            }
        }
        while self.failure.is_none() {
            let Some((at_us, event)) = self.queue.pop_due(until_us) else { break };
            self.now_us = at_us;
            self.events += 1;
            match event {
                Event::Tick { server, incarnation } => self.tick(server, incarnation),
                Event::Deliver { msg, from_incarnation, to_incarnation } => {
                    self.deliver(msg, from_incarnation, to_incarnation)
                }
            }
        }
        if self.failure.is_none() {
            self.now_us = until_us;
        }
    }

    fn tick(&mut self, server: usize, incarnation: u64) {
        let node = &mut self.nodes[server];
        if node.incarnation != incarnation {
            return; // crashed since: its clock stopped
        }
        let Some(raft) = node.raft.as_mut() else { return };
        raft.tick();
        self.queue.push(self.now_us + TICK_US, Event::Tick { server, incarnation });
        self.process_ready(server);
    }

    fn deliver(&mut self, msg: Message, from_incarnation: u64, to_incarnation: u64) {
        let (from, to) = (server_of(msg.from), server_of(msg.to));
        let alive = |s: &Sim, i: usize, inc: u64| s.nodes[i].incarnation == inc && s.nodes[i].raft.is_some();
        if !self.network.link_up(from, to)
            || !alive(self, from, from_incarnation)
            || !alive(self, to, to_incarnation)
        {
            return;
        }
        let Some(raft) = self.nodes[to].raft.as_mut() else { return };
        if let Err(e) = raft.step(msg) {
            self.violation(format!("server {to} refused a message: {e}"));
            return;
        }
        self.process_ready(to);
    }

    /// Drains server `i`'s `Ready`s in the required order and checks what
    /// changed.
    pub(super) fn process_ready(&mut self, i: usize) {
        let mut outbox = Vec::new();
        loop {
            let node = &mut self.nodes[i];
            let Some(raft) = node.raft.as_mut() else { return };
            if !raft.has_ready() {
                break;
            }
            let ready = raft.ready();
            if let Some(hs) = ready.hard_state {
                if let Err(e) = self.invariants.on_hard_state(i, node.disk.hard_state, hs) {
                    return self.violation(e);
                }
                node.disk.hard_state = hs;
            }
            node.disk.write(&ready.entries);
            if let Err(e) = self.invariants.on_entries(i, &node.disk, &ready.entries) {
                return self.violation(e);
            }
            outbox.extend(ready.messages);
            for e in &ready.committed_entries {
                if let Err(what) = self.checker.apply(i, e.index, &e.data) {
                    return self.violation(what);
                }
            }
            raft.advance();
        }
        for msg in outbox {
            self.send(i, msg);
        }
        let node = &self.nodes[i];
        if let Some(raft) = node.raft.as_ref() {
            if let Err(e) = self.invariants.observe(i, raft) {
                self.violation(e);
            }
        }
    }

    /// Hands one message to the network: counted if it is a request, then
    /// lost, delayed or duplicated by the network model.
    fn send(&mut self, from: usize, msg: Message) {
        if msg.is_request() {
            self.rpcs += 1;
            self.bytes += postcard::experimental::serialized_size(&msg).unwrap_or(0) as u64;
        }
        let to = server_of(msg.to);
        if to >= self.nodes.len() || !self.network.link_up(from, to) || self.nodes[to].raft.is_none() {
            return;
        }
        let (from_incarnation, to_incarnation) = (self.nodes[from].incarnation, self.nodes[to].incarnation);
        let fates = self.network.fates(msg.is_request(), &mut self.rng);
        for delay_us in fates {
            let event = Event::Deliver { msg: msg.clone(), from_incarnation, to_incarnation };
            self.queue.push(self.now_us + delay_us, event);
        }
    }
}

/// Raft ids are 1-based; server numbers 0-based.
fn server_of(id: raft::NodeId) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX).wrapping_sub(1)
}
