//! Simulated key-value clients, and the history they leave for the
//! linearizability checker.
//!
//! Each client has one operation outstanding at a time (a put, a get or a
//! delete on a few shared keys, put values unique), sends it to the member
//! it believes leads, follows redirects, backs off when the leader is busy,
//! and after a timeout retries the same sequence number at the next member:
//! the key-value store's sessions apply a retried write once. An operation
//! is invoked when first sent and returns when its reply arrives; a write
//! still unanswered at the end may or may not have happened.
//!
//! Gets are reads outside the log, of every consistency, half of them sent
//! to the leader and half to a member drawn at random (`--from any`).
//! Linearizable and lease gets join the history the linearizability
//! checker takes; serializable ones are kept apart
//! ([`Clients::serializable_reads`]): they may be stale, but must never see
//! a value no put wrote.

use node::kv::{KvCommand, KvReply, Op};
use node::member::{ClientReply, ReadCounts};
use node::proto::{Consistency, ReadFrom, Reply};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::queue::{Addr, Event, Packet};
use super::Sim;
use crate::linearizability::{KvOp, Operation};

/// Keys the clients share: few, so operations overlap.
const KEYS: [&str; 3] = ["a", "b", "c"];
/// Without an answer, a request goes to the next member after this.
const RETRY_US: u64 = 100_000;
/// A redirected request goes out after this (no storm while no member
/// knows the leader).
const REDIRECT_US: u64 = 2_000;
/// A busy leader is asked again after this.
const BUSY_US: u64 = 10_000;
/// Pause between one operation's reply and the next one.
const THINK_US: std::ops::Range<u64> = 0..10_000;

/// One outstanding operation.
#[derive(Debug, Clone)]
struct Pending {
    seq: u64,
    key: String,
    /// For a get, its result is filled in on return.
    op: KvOp,
    command: Vec<u8>,
    invoked: u64,
    /// A get: its consistency.
    read: Option<Consistency>,
    /// The member a get from any member goes to (None: the leader).
    to: Option<usize>,
}

#[derive(Debug)]
struct SimClient {
    id: u64,
    seq: u64,
    /// The member requests go to.
    leader: usize,
    pending: Option<Pending>,
    /// Bumped whenever a timer is set: an older timer is stale.
    generation: u64,
    /// The pending timer is a timeout (try the next member), not a resend.
    timeout: bool,
}

/// The clients of one run and their history.
pub struct Clients {
    list: Vec<SimClient>,
    servers: usize,
    rng: ChaCha8Rng,
    history: Vec<Operation>,
    /// Serializable gets that returned: not linearizable by design.
    serializable: Vec<Operation>,
    /// Reads answered by servers that crashed since (their counts die
    /// with them).
    reads_of_the_dead: ReadCounts,
    /// No new operation starts after this (µs).
    pub stop_at_us: u64,
}

impl Clients {
    pub fn new(count: usize, servers: usize, seed: u64) -> Clients {
        let list = (0..count)
            .map(|c| SimClient {
                id: net::CLIENT_ID_MIN + c as u64 + 1,
                seq: 0,
                leader: c % servers.max(1),
                pending: None,
                generation: 0,
                timeout: false,
            })
            .collect();
        Clients {
            list,
            servers,
            rng: ChaCha8Rng::seed_from_u64(seed),
            history: Vec::new(),
            serializable: Vec::new(),
            reads_of_the_dead: ReadCounts::default(),
            stop_at_us: u64::MAX,
        }
    }

    /// True when this run has clients (and so the key-value store).
    pub fn any(&self) -> bool {
        !self.list.is_empty()
    }

    /// Operations still waiting for an answer.
    pub fn outstanding(&self) -> usize {
        self.list.iter().filter(|c| c.pending.is_some()).count()
    }

    /// The history: every returned operation, and every write still
    /// outstanding (with no return).
    pub fn history(&self) -> Vec<Operation> {
        let mut h = self.history.clone();
        for c in &self.list {
            if let Some(p) = c.pending.as_ref().filter(|p| !matches!(p.op, KvOp::Get(_))) {
                h.push(Operation {
                    client: c.id,
                    key: p.key.clone(),
                    op: p.op.clone(),
                    invoked: p.invoked,
                    returned: None,
                });
            }
        }
        h
    }

    /// Serializable gets that returned.
    pub fn serializable_reads(&self) -> &[Operation] {
        &self.serializable
    }

    /// Adds the reads a crashed server had answered.
    pub(super) fn count_reads(&mut self, c: ReadCounts) {
        self.reads_of_the_dead += c;
    }

    /// A new operation for client `c`.
    fn next_op(&mut self, c: usize, now_us: u64) -> Pending {
        let key = KEYS[self.rng.random_range(0..KEYS.len())].to_string();
        let client = &mut self.list[c];
        client.seq += 1;
        let seq = client.seq;
        let (op, kv_op) = match self.rng.random_range(0..20) {
            0..9 => {
                let value = format!("{c}.{seq}").into_bytes();
                (Op::Put { key: key.clone(), value: value.clone() }, KvOp::Put(value))
            }
            9..18 => {
                const MODES: [Consistency; 3] =
                    [Consistency::Linearizable, Consistency::Lease, Consistency::Serializable];
                let read = MODES[self.rng.random_range(0..MODES.len())];
                let to = self.rng.random_bool(0.5).then(|| self.rng.random_range(0..self.servers));
                let command = Op::get_query(&key);
                return Pending {
                    seq,
                    key,
                    op: KvOp::Get(None),
                    command,
                    invoked: now_us,
                    read: Some(read),
                    to,
                };
            }
            _ => (Op::Delete { key: key.clone() }, KvOp::Delete),
        };
        let command = KvCommand { client_id: client.id, seq, op }.encode();
        Pending { seq, key, op: kv_op, command, invoked: now_us, read: None, to: None }
    }
}

impl Sim {
    pub(super) fn client_index(&self, id: u64) -> Option<usize> {
        let c = usize::try_from(id.checked_sub(net::CLIENT_ID_MIN + 1)?).ok()?;
        (c < self.clients.list.len()).then_some(c)
    }

    /// Every client starts within its first 20 ms.
    pub(super) fn start_clients(&mut self) {
        for c in 0..self.clients.list.len() {
            let at = self.now_us + self.rng.random_range(0..20_000);
            self.queue.push(at, Event::Client { client: c, generation: 0 });
        }
    }

    /// The client history so far (see [`Clients::history`]).
    pub fn client_history(&self) -> Vec<Operation> {
        self.clients.history()
    }

    /// Serializable gets that returned (see [`Clients::serializable_reads`]).
    pub fn serializable_reads(&self) -> &[Operation] {
        self.clients.serializable_reads()
    }

    /// Reads the servers answered in this run, by kind.
    pub fn read_counts(&self) -> ReadCounts {
        let mut total = self.clients.reads_of_the_dead;
        for member in self.nodes.iter().filter_map(|n| n.member.as_ref()) {
            total += member.read_counts();
        }
        total
    }

    pub fn clients_outstanding(&self) -> usize {
        self.clients.outstanding()
    }

    /// New operations stop starting at `at` (virtual time).
    pub fn stop_clients_at(&mut self, at: std::time::Duration) {
        self.clients.stop_at_us = at.as_micros() as u64;
    }

    pub(super) fn client_timer(&mut self, c: usize, generation: u64) {
        let client = &mut self.clients.list[c];
        if client.generation != generation {
            return;
        }
        if let Some(p) = client.pending.as_mut() {
            if client.timeout {
                let servers = self.clients.servers;
                match p.to.as_mut() {
                    Some(to) => *to = (*to + 1) % servers,
                    None => client.leader = (client.leader + 1) % servers,
                }
            }
        } else if self.now_us < self.clients.stop_at_us {
            let op = self.clients.next_op(c, self.now_us);
            self.clients.list[c].pending = Some(op);
        } else {
            return;
        }
        self.client_send(c);
        self.client_timer_in(c, RETRY_US, true);
    }

    fn client_timer_in(&mut self, c: usize, after_us: u64, timeout: bool) {
        let client = &mut self.clients.list[c];
        client.generation += 1;
        client.timeout = timeout;
        let event = Event::Client { client: c, generation: client.generation };
        self.queue.push(self.now_us + after_us, event);
    }

    fn client_send(&mut self, c: usize) {
        let client = &self.clients.list[c];
        let Some(p) = client.pending.as_ref() else { return };
        let (id, seq, command) = (client.id, p.seq, p.command.clone());
        let packet = match p.read {
            Some(consistency) => {
                let from = if p.to.is_some() { ReadFrom::Any } else { ReadFrom::Leader };
                Packet::Read { client: id, seq, query: command, consistency, from }
            }
            None => Packet::Request { client: id, seq, command },
        };
        let to = Addr::Server(p.to.unwrap_or(client.leader));
        self.transmit(packet, Addr::Client(c), to, true);
    }

    pub(super) fn client_reply(&mut self, c: usize, r: ClientReply) {
        let client = &mut self.clients.list[c];
        let Some(p) = client.pending.as_ref().filter(|p| p.seq == r.seq) else { return };
        match r.reply {
            Reply::Applied(bytes) => {
                let op = match (postcard::from_bytes::<KvReply>(&bytes), &p.op) {
                    (Ok(KvReply::Value(v)), KvOp::Get(_)) => KvOp::Get(v),
                    (Ok(KvReply::Done), KvOp::Put(_) | KvOp::Delete) => p.op.clone(),
                    (got, _) => {
                        let what = format!("client {c} got {got:?} for {:?} on {}", p.op, p.key);
                        return self.violation(what);
                    }
                };
                let (key, invoked, read) = (p.key.clone(), p.invoked, p.read);
                client.pending = None;
                let done = Operation { client: client.id, key, op, invoked, returned: Some(self.now_us) };
                match read {
                    Some(Consistency::Serializable) => self.clients.serializable.push(done),
                    _ => self.clients.history.push(done),
                }
                let think = self.rng.random_range(THINK_US);
                self.client_timer_in(c, think, false);
            }
            Reply::NotLeader { leader_hint, .. } => {
                let servers = self.clients.servers;
                let next =
                    leader_hint.and_then(|h| usize::try_from(h).ok()).filter(|&h| (1..=servers).contains(&h));
                client.leader = next.map_or((client.leader + 1) % servers, |h| h - 1);
                // A member that cannot serve a read sends it to the leader.
                if let Some(p) = client.pending.as_mut() {
                    p.to = None;
                }
                self.client_timer_in(c, REDIRECT_US, false);
            }
            Reply::Busy => self.client_timer_in(c, BUSY_US, false),
            Reply::Refused(_) | Reply::Members(_) | Reply::Backup(_) => {
                self.violation(format!("client {c} got an operator's answer {:?}", r.reply))
            }
            Reply::TooLarge { bytes, max } => {
                self.violation(format!("client {c}'s {bytes}-byte command refused as too large (max {max})"))
            }
        }
    }
}
