//! The simulator's event loop, and the driver side of the node's member
//! logic: inputs wait while a turn is in progress, a persist writes to the
//! simulated disk and the turn resumes when its sync completes, and a
//! crash point can stop the member between any two steps.

use node::member::snapshot_store::{SnapshotJob, SnapshotPart};
use node::member::{Action, ClientReply};
use raft::Message;

use super::invariants::check_promise;
use super::node::{CrashPoint, Input};
use super::queue::{Addr, Event, Packet};
use super::snapshots::{self, Snapshot};
use super::Sim;

impl Sim {
    /// Handles every event up to `until_us`, checking the invariants after
    /// each, and stops at the first violation.
    pub(super) fn run_until(&mut self, until_us: u64) {
        for i in 0..self.nodes.len() {
            if std::mem::take(&mut self.nodes[i].dirty) && self.failure.is_none() && !self.nodes[i].busy() {
                self.events += 1;
                self.work(i);
            }
        }
        while self.failure.is_none() {
            let Some((at_us, event)) = self.queue.pop_due(until_us) else { break };
            self.now_us = at_us;
            self.clock.store(at_us, std::sync::atomic::Ordering::Relaxed);
            self.events += 1;
            self.handle(event);
        }
        if self.failure.is_none() {
            self.now_us = until_us;
            self.clock.store(until_us, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Tick { server, incarnation } => {
                if self.nodes[server].incarnation == incarnation && self.nodes[server].member.is_some() {
                    self.queue.push(self.now_us + self.tick_us(server), Event::Tick { server, incarnation });
                    self.input(server, Input::Tick);
                }
            }
            Event::Deliver { packet, from, to, from_incarnation, to_incarnation } => {
                self.deliver(packet, from, to, from_incarnation, to_incarnation)
            }
            Event::SyncDone { server, incarnation } => self.sync_done(server, incarnation),
            Event::SnapshotWritten { server, incarnation, snapshot } => {
                self.snapshot_written(server, incarnation, snapshot)
            }
            Event::Client { client, generation } => self.client_timer(client, generation),
            Event::Nemesis(fault) => self.nemesis_acts(fault),
        }
    }

    fn alive(&self, a: Addr, incarnation: u64) -> bool {
        match a {
            Addr::Server(i) => self.nodes[i].incarnation == incarnation && self.nodes[i].member.is_some(),
            Addr::Client(_) => true,
        }
    }

    fn deliver(&mut self, packet: Packet, from: Addr, to: Addr, from_inc: u64, to_inc: u64) {
        if !self.link_up(from, to) || !self.alive(from, from_inc) || !self.alive(to, to_inc) {
            return;
        }
        match to {
            Addr::Server(i) => self.input(i, Input::Packet { from, packet }),
            Addr::Client(c) => {
                if let Packet::Reply(reply) = packet {
                    self.client_reply(c, reply);
                }
            }
        }
    }

    /// An input for server `i`: handled now, or after the turn in progress.
    fn input(&mut self, i: usize, input: Input) {
        let node = &mut self.nodes[i];
        if node.member.is_none() {
            return;
        }
        if node.busy() {
            node.deferred.push_back(input);
            return;
        }
        self.take_input(i, input);
        self.observe(i);
        self.work(i);
    }

    fn take_input(&mut self, i: usize, input: Input) {
        let Some(member) = self.nodes[i].member.as_mut() else { return };
        match input {
            Input::Tick => member.tick(),
            Input::Packet { from: Addr::Server(from), packet: Packet::Raft { msg, hostile } } => {
                let sender = from as u64 + 1;
                if let Err(e) = member.step(sender, msg) {
                    if !hostile {
                        self.violation(format!("server {i} refused a message: {e}"));
                    }
                } else if hostile {
                    self.violation(format!("server {i} accepted a forged message with extreme values"));
                }
            }
            Input::Packet { from: Addr::Server(from), packet: Packet::Snapshot(part) } => {
                if let Err(e) = member.step_snapshot(from as u64 + 1, part) {
                    self.violation(format!("server {i} refused a snapshot part: {e}"));
                }
            }
            Input::Packet { from: Addr::Client(c), packet: Packet::Request { client, seq, command } } => {
                if let Some(refusal) = member.on_request(client, seq, command) {
                    self.send_reply(i, c, refusal);
                }
            }
            Input::Packet {
                from: Addr::Client(c),
                packet: Packet::Read { client, seq, query, consistency, from },
            } => {
                if let Some(reply) = member.on_read(client, seq, query, (consistency, from)) {
                    self.send_reply(i, c, reply);
                }
            }
            Input::Packet { .. } => {}
        }
    }

    /// Polls server `i`'s member until it is idle or waits for a sync.
    pub(super) fn work(&mut self, i: usize) {
        while self.failure.is_none() {
            let Some(member) = self.nodes[i].member.as_ref() else { return };
            let starting = !member.in_turn() && member.raft().has_ready();
            if starting && self.crash_point(i, CrashPoint::BeforeWrite) {
                return self.crash(i);
            }
            let Some(member) = self.nodes[i].member.as_mut() else { return };
            match member.poll() {
                Action::Write(writes, id) => {
                    if let Err(e) = self.nodes[i].disk.write(&writes) {
                        return self.violation(format!("server {i} {e}"));
                    }
                    self.nodes[i].written = Some(id);
                }
                Action::Send(messages) => {
                    if self.crash_point(i, CrashPoint::BeforeSend) {
                        return self.crash(i);
                    }
                    for msg in messages {
                        self.send_raft(i, msg);
                    }
                }
                Action::Reply(replies) => {
                    if self.crash_point(i, CrashPoint::BeforeReply) {
                        return self.crash(i);
                    }
                    self.check_machine();
                    self.send_replies(i, replies);
                }
                Action::RoleChanged { change, abandoned } => {
                    let role = format!("{:?}", change.role).to_lowercase();
                    let leader = change.leader.map_or("no leader".into(), |l| format!("leader {l}"));
                    self.note(i, ::node::timeline::Kind::Role { role, term: change.term }, leader);
                    self.send_replies(i, abandoned)
                }
                Action::Transfer(parts) => {
                    for (to, part) in parts {
                        self.send_part(i, to, part);
                    }
                }
                Action::WriteSnapshot(job) => self.write_snapshot(i, job),
                // The simulated network reaches every server by its index.
                Action::Membership(m) => {
                    let ids = |map: &std::collections::BTreeMap<u64, String>| {
                        map.keys().copied().collect::<Vec<_>>()
                    };
                    let text = format!("voters {:?}, learners {:?}", ids(&m.voters), ids(&m.learners));
                    self.note(i, ::node::timeline::Kind::Membership { text }, String::new());
                }
                Action::Failed(why) => return self.violation(format!("server {i} stopped: {why}")),
                Action::Idle => {
                    self.note_commit(i);
                    self.begin_sync(i);
                    if !self.take_deferred(i) {
                        return;
                    }
                }
            }
        }
    }

    /// Starts a sync of what server `i` wrote, unless one is in progress
    /// (it starts when that one ends: group commit) or nothing is
    /// unsynced. The member goes on meanwhile.
    fn begin_sync(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let (Some(id), None) = (node.written, node.syncing) else { return };
        let unsynced = node.disk.unsynced_writes();
        if unsynced == 0 {
            return;
        }
        node.syncing = Some((id, unsynced));
        let latency = node.disk.sync_latency(self.now_us, &mut self.rng);
        let incarnation = node.incarnation;
        self.queue.push(self.now_us + latency, Event::SyncDone { server: i, incarnation });
    }

    /// The turn is over: checks, then hands the member the inputs that
    /// waited for it. False when there were none.
    fn take_deferred(&mut self, i: usize) -> bool {
        self.check_machine();
        self.observe(i);
        let deferred = std::mem::take(&mut self.nodes[i].deferred);
        if deferred.is_empty() {
            return false;
        }
        for input in deferred {
            self.take_input(i, input);
        }
        self.observe(i);
        true
    }

    fn sync_done(&mut self, i: usize, incarnation: u64) {
        if self.nodes[i].incarnation != incarnation || self.nodes[i].member.is_none() {
            return;
        }
        if self.crash_point(i, CrashPoint::DuringSync) {
            return self.crash(i);
        }
        let Some((id, covered)) = self.nodes[i].syncing.take() else { return };
        if let Err(e) = self.nodes[i].disk.sync_first(covered, i, &mut self.invariants) {
            return self.violation(e);
        }
        if let Some(member) = self.nodes[i].member.as_mut() {
            member.synced(id);
        }
        if !self.nodes[i].busy() {
            self.work(i);
        }
    }

    /// True when server `i` is to crash at `point` now (and counts it).
    fn crash_point(&mut self, i: usize, point: CrashPoint) -> bool {
        let hit = self.nodes[i].crashes_at(point);
        if hit && !self.points_hit.contains(&point) {
            self.points_hit.push(point);
        }
        hit
    }

    /// A violation a state machine recorded, if any.
    fn check_machine(&mut self) {
        let seen = self.violations.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(what) = seen {
            self.violation(what);
        }
    }

    /// Election Safety, Leader Completeness and the commit checks for
    /// server `i`.
    fn observe(&mut self, i: usize) {
        let Some(member) = self.nodes[i].member.as_ref() else { return };
        let nodes = &self.nodes;
        let durable = || nodes.iter().map(|n| n.disk.durable()).collect();
        if let Err(e) = self.invariants.observe(i, member.raft(), &durable) {
            self.violation(e);
        }
    }

    /// Hands one Raft message to the network, after checking that what it
    /// promises is durable: counted if it is a request, then lost, delayed
    /// or duplicated by the network model.
    fn send_raft(&mut self, from: usize, msg: Message) {
        self.note_message(from, &msg);
        let node = &self.nodes[from];
        if let Some(member) = node.member.as_ref() {
            let durable = (node.disk.durable(), node.disk.snapshot());
            if let Err(e) = check_promise(from, &msg, durable, member.raft().log()) {
                return self.violation(e);
            }
        }
        if msg.is_request() {
            self.rpcs += 1;
            self.bytes += postcard::experimental::serialized_size(&msg).unwrap_or(0) as u64;
        }
        let to = server_of(msg.to);
        if to >= self.nodes.len() {
            return;
        }
        self.nemesis_forge(from, &msg);
        let is_request = msg.is_request();
        self.transmit(Packet::Raft { msg, hostile: false }, Addr::Server(from), Addr::Server(to), is_request);
    }

    /// A snapshot chunk counts as a request, as InstallSnapshot does in the
    /// lab's counters.
    fn send_part(&mut self, from: usize, to: raft::NodeId, part: SnapshotPart) {
        let is_request = matches!(part, SnapshotPart::Chunk { .. });
        if is_request {
            self.rpcs += 1;
            self.bytes += postcard::experimental::serialized_size(&part).unwrap_or(0) as u64;
        }
        let to = server_of(to);
        if to < self.nodes.len() {
            self.transmit(Packet::Snapshot(part), Addr::Server(from), Addr::Server(to), is_request);
        }
    }

    /// Writes server `i`'s snapshot as of now; it is durable after a write
    /// and a sync's time (the member goes on meanwhile, as with the event
    /// loop's writer thread).
    fn write_snapshot(&mut self, i: usize, job: SnapshotJob) {
        let mut data = Vec::new();
        if let Err(e) = job.source.write_to(&mut data) {
            return self.violation(format!("server {i} could not write its snapshot: {e}"));
        }
        let snapshot = Snapshot::new(job.meta, data);
        let node = &self.nodes[i];
        let latency = 2 * node.disk.sync_latency(self.now_us, &mut self.rng);
        let incarnation = node.incarnation;
        self.queue.push(self.now_us + latency, Event::SnapshotWritten { server: i, incarnation, snapshot });
    }

    /// Server `i`'s snapshot is durable: its member adopts it and the disk
    /// drops the log it covers.
    fn snapshot_written(&mut self, i: usize, incarnation: u64, snapshot: Snapshot) {
        let node = &mut self.nodes[i];
        if node.incarnation != incarnation || node.member.is_none() {
            return;
        }
        let info = snapshot.info;
        snapshots::lock(&node.disk.files).written = Some(snapshot);
        let Some(member) = node.member.as_mut() else { return };
        let compacted = member.snapshot_written(Ok(info));
        if let Some(index) = compacted {
            node.disk.compact(index);
        }
        let busy = node.busy();
        if let Some(index) = compacted {
            self.note(i, ::node::timeline::Kind::Snapshot { index }, String::new());
        }
        if !busy {
            self.observe(i);
            self.work(i);
        }
    }

    fn send_replies(&mut self, from: usize, replies: Vec<ClientReply>) {
        for r in replies {
            if let Some(c) = self.client_index(r.client) {
                self.send_reply(from, c, r);
            }
        }
    }

    fn send_reply(&mut self, from: usize, client: usize, reply: ClientReply) {
        self.transmit(Packet::Reply(reply), Addr::Server(from), Addr::Client(client), false);
    }

    /// Puts `packet` on the network: its copies arrive after the network
    /// model's delays, unless the link is down.
    pub(super) fn transmit(&mut self, packet: Packet, from: Addr, to: Addr, is_request: bool) {
        if !self.link_up(from, to) {
            return;
        }
        let incarnation = |a: Addr| match a {
            Addr::Server(i) => self.nodes[i].incarnation,
            Addr::Client(_) => 0,
        };
        let (from_incarnation, to_incarnation) = (incarnation(from), incarnation(to));
        if let Addr::Server(i) = to {
            if self.nodes[i].member.is_none() {
                return;
            }
        }
        let fates = self.network.fates(is_request, &mut self.rng);
        let Some((&last, rest)) = fates.split_last() else { return };
        for &delay_us in rest {
            let event = Event::Deliver { packet: packet.clone(), from, to, from_incarnation, to_incarnation };
            self.queue.push(self.now_us + delay_us, event);
        }
        let event = Event::Deliver { packet, from, to, from_incarnation, to_incarnation };
        self.queue.push(self.now_us + last, event);
    }

    fn link_up(&self, from: Addr, to: Addr) -> bool {
        match (from, to) {
            (Addr::Server(a), Addr::Server(b)) => self.network.link_up(a, b),
            (Addr::Client(_), Addr::Server(s)) => self.network.client_link_up(s, true),
            (Addr::Server(s), Addr::Client(_)) => self.network.client_link_up(s, false),
            (Addr::Client(_), Addr::Client(_)) => false,
        }
    }
}

/// Raft ids are 1-based; server numbers 0-based.
pub(super) fn server_of(id: raft::NodeId) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX).wrapping_sub(1)
}
