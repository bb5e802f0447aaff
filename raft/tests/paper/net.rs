//! A tiny synchronous network of cores for the paper tests: messages are
//! queued and delivered on demand, persisting is instant.
//!
//! Each member has a model disk (`disk`) that takes every `Ready` as its
//! contract says (hard state, then the snapshot install, then the entries),
//! and a model state machine (`applied`, reset by a snapshot install or a
//! restart to `snapshot_at`). A member can be compacted (`compact`,
//! `compact_every`, like the lab's service that snapshots every few
//! entries) and restarted from its disk (`restart`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft::{
    Body, CompactError, Config, Entry, Message, NodeId, Persisted, Raft, Role, SnapshotInstall, SnapshotMeta,
};
use rand_chacha::rand_core::SeedableRng;

pub fn rng(seed: u64) -> Box<rand_chacha::ChaCha8Rng> {
    Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
}

pub fn entry(index: u64, term: u64) -> Entry {
    Entry::new(index, term, vec![index as u8, term as u8])
}

/// Entries 1.. with the given terms.
pub fn log_of(terms: &[u64]) -> Vec<Entry> {
    terms.iter().enumerate().map(|(i, &t)| entry(i as u64 + 1, t)).collect()
}

/// The lab's configuration with Figure 2's elections as the paper has
/// them: a timeout starts an election at once. The PreVote tests
/// (`prevote_9_6.rs`) turn §9.6 back on.
pub fn paper_config(id: NodeId, voters: Vec<NodeId>) -> Config {
    Config { pre_vote: false, ..Config::lab(id, voters) }
}

pub fn new_raft(id: NodeId, n: u64, persisted: Persisted) -> Raft {
    Raft::new(paper_config(id, (1..=n).collect()), persisted, rng(id)).expect("valid config")
}

pub use raft::testing::persist;

/// The service's compaction: a durable snapshot through `index`, then the
/// core's log and the disk's drop what it covers.
fn compact_member(raft: &mut Raft, disk: &mut Persisted, index: u64) -> Result<(), CompactError> {
    let membership = raft.membership_at(index).cloned();
    raft.compact(index)?;
    raft::testing::compact(disk, raft.log().snapshot(), membership);
    Ok(())
}

/// Members 1..=n, a message queue, per-member applied entries, and the
/// members cut off from everyone or deaf to everyone.
pub struct Net {
    pub nodes: BTreeMap<NodeId, Raft>,
    pub queue: VecDeque<Message>,
    /// What each member's state machine applied since `snapshot_at`.
    pub applied: BTreeMap<NodeId, Vec<Entry>>,
    /// The snapshot each member's state machine was last reset to (by an
    /// install from a leader, or at a restart); none: the empty state.
    pub snapshot_at: BTreeMap<NodeId, SnapshotMeta>,
    /// Every snapshot install handed out, in order.
    pub installs: Vec<(NodeId, SnapshotInstall)>,
    /// What each member has on disk.
    pub disk: BTreeMap<NodeId, Persisted>,
    pub cut: BTreeSet<NodeId>,
    /// Members that can send but not receive (a one-way partition).
    pub deaf: BTreeSet<NodeId>,
    /// Links `(from, to)` that lose every message.
    pub down: BTreeSet<(NodeId, NodeId)>,
    /// InstallSnapshot messages are not stepped but kept in `held`, as a
    /// driver does while it streams the snapshot's data.
    pub hold_snapshots: bool,
    pub held: Vec<Message>,
    /// Every message handed to the network, in order.
    pub sent: Vec<Message>,
    /// Every read outcome each member handed out, in order.
    pub read_states: BTreeMap<NodeId, Vec<raft::ReadState>>,
    /// Panic when a member's Ready would leave a gap on its disk (off for
    /// tests that drain a member's Ready themselves, bypassing the disk).
    pub check_disk: bool,
    /// Compact every member at its applied index once that is this many
    /// entries past its snapshot.
    pub compact_every: Option<u64>,
    configs: BTreeMap<NodeId, Config>,
    restarts: u64,
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

    pub fn build(n: u64, persisted: impl Fn(NodeId) -> Persisted, adjust: impl Fn(&mut Config)) -> Net {
        let configs: BTreeMap<NodeId, Config> = (1..=n)
            .map(|id| {
                let mut config = paper_config(id, (1..=n).collect());
                adjust(&mut config);
                (id, config)
            })
            .collect();
        let disk: BTreeMap<NodeId, Persisted> = (1..=n).map(|id| (id, persisted(id))).collect();
        let nodes = configs
            .iter()
            .map(|(&id, config)| {
                (id, Raft::new(config.clone(), disk[&id].clone(), rng(id)).expect("valid config"))
            })
            .collect();
        let snapshot_at =
            disk.iter().filter(|(_, d)| d.snapshot.index > 0).map(|(&id, d)| (id, d.snapshot)).collect();
        Net {
            nodes,
            queue: VecDeque::new(),
            applied: BTreeMap::new(),
            snapshot_at,
            installs: Vec::new(),
            disk,
            cut: BTreeSet::new(),
            deaf: BTreeSet::new(),
            down: BTreeSet::new(),
            hold_snapshots: false,
            held: Vec::new(),
            sent: Vec::new(),
            read_states: BTreeMap::new(),
            check_disk: false,
            compact_every: None,
            configs,
            restarts: 0,
        }
    }

    /// Starts member `id`, empty and outside every configuration (a member
    /// about to be added), with the timing of member 1.
    pub fn join(&mut self, id: NodeId) {
        let config = Config { id, voters: Vec::new(), ..self.configs[&1].clone() };
        let raft = Raft::new(config.clone(), Persisted::default(), rng(id)).expect("valid config");
        self.configs.insert(id, config);
        self.disk.insert(id, Persisted::default());
        self.nodes.insert(id, raft);
    }

    pub fn node(&mut self, id: NodeId) -> &mut Raft {
        self.nodes.get_mut(&id).expect("member exists")
    }

    /// Members 1..=3 with leader 1, which has committed entry 1 and then
    /// added member `id` as a learner (entry 2), which holds the log.
    pub fn with_learner(id: NodeId) -> Net {
        let mut net = Net::new(3);
        net.campaign(1);
        net.node(1).propose(b"a".to_vec()).expect("leader");
        net.deliver_all();
        net.join(id);
        let learner = raft::MembershipChange::AddLearner { id, address: format!("n{id}") };
        net.node(1).propose_membership(learner).expect("change accepted");
        net.deliver_all();
        net
    }

    /// Drains every member's Ready: instant persist, queue messages, apply.
    pub fn flush(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.flush_member(id);
        }
    }

    /// Drains one member's Ready (see [`Net::flush`]).
    pub fn flush_member(&mut self, id: NodeId) {
        let Some(raft) = self.nodes.get_mut(&id) else { return };
        let disk = self.disk.entry(id).or_default();
        while raft.has_ready() {
            let ready = raft.ready();
            if let Err(gap) = persist(disk, &ready) {
                assert!(!self.check_disk, "member {id}: {gap}");
            }
            if let Some(install) = ready.snapshot {
                // The state machine is reset to the snapshot's state.
                self.snapshot_at.insert(id, install.snapshot);
                self.applied.insert(id, Vec::new());
                self.installs.push((id, install));
            }
            let base = self.snapshot_at.get(&id).map_or(0, |s| s.index);
            let applied = self.applied.entry(id).or_default();
            for e in &ready.committed_entries {
                let next = applied.last().map_or(base, |l| l.index) + 1;
                assert_eq!(e.index, next, "member {id} applied {} where {next} was due", e.index);
                applied.push(e.clone());
            }
            self.read_states.entry(id).or_default().extend(ready.read_states.iter().copied());
            self.sent.extend(ready.messages.iter().cloned());
            self.queue.extend(ready.messages);
            raft.advance();
            if let Some(every) = self.compact_every {
                let applied = raft.status().applied_index;
                if applied >= raft.log().snapshot().index + every {
                    match compact_member(raft, disk, applied) {
                        // A member that joined, before the entry adding it.
                        Ok(()) | Err(CompactError::UnknownConfiguration { .. }) => {}
                        Err(e) => panic!("member {id}: compaction at the applied index: {e}"),
                    }
                }
            }
        }
    }

    /// The service of `id` snapshots through `index`: the core compacts,
    /// and so does the disk.
    pub fn compact(&mut self, id: NodeId, index: u64) -> Result<(), CompactError> {
        let raft = self.nodes.get_mut(&id).expect("member exists");
        compact_member(raft, self.disk.entry(id).or_default(), index)
    }

    /// `id` crashes and restarts from its disk: the state machine restores
    /// the disk's snapshot and applies what commits after it again.
    pub fn restart(&mut self, id: NodeId) {
        self.flush_member(id);
        self.restarts += 1;
        let disk = self.disk[&id].clone();
        let raft = Raft::new(self.configs[&id].clone(), disk.clone(), rng(id + 1000 * self.restarts))
            .expect("the disk restores");
        self.nodes.insert(id, raft);
        if disk.snapshot.index > 0 {
            self.snapshot_at.insert(id, disk.snapshot);
        } else {
            self.snapshot_at.remove(&id);
        }
        self.applied.insert(id, Vec::new());
    }

    /// True when the message is lost on its way (cut, deaf, a link down).
    pub fn is_lost(&self, msg: &Message) -> bool {
        self.cut.contains(&msg.from)
            || self.cut.contains(&msg.to)
            || self.deaf.contains(&msg.to)
            || self.down.contains(&(msg.from, msg.to))
    }

    /// Delivers one message (InstallSnapshot goes to `held` when
    /// `hold_snapshots`), then flushes. False when the queue is empty.
    pub fn deliver_one(&mut self) -> bool {
        let Some(msg) = self.queue.pop_front() else { return false };
        if self.is_lost(&msg) || !self.nodes.contains_key(&msg.to) {
            return true;
        }
        if self.hold_snapshots && matches!(msg.body, Body::InstallSnapshot { .. }) {
            self.held.push(msg);
            return true;
        }
        self.node(msg.to).step(msg).expect("well-formed message");
        self.flush();
        true
    }

    /// One turn of the cluster: up to `k` queued messages are stepped into
    /// their members with no `ready` in between, then every member's Ready
    /// is drained (a driver that steps what arrived together, then
    /// persists once).
    pub fn deliver_turn(&mut self, k: usize) {
        for _ in 0..k {
            let Some(msg) = self.queue.pop_front() else { break };
            if self.is_lost(&msg) || !self.nodes.contains_key(&msg.to) {
                continue;
            }
            if self.hold_snapshots && matches!(msg.body, Body::InstallSnapshot { .. }) {
                self.held.push(msg);
                continue;
            }
            self.node(msg.to).step(msg).expect("well-formed message");
        }
        self.flush();
    }

    /// Delivers queued messages (dropping those to or from cut members)
    /// until the network is quiet.
    pub fn deliver_all(&mut self) {
        self.flush();
        while self.deliver_one() {}
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

    /// Ticks `id` until its election timer fires (a pre-vote round, or an
    /// election when PreVote is off), then delivers everything.
    pub fn campaign(&mut self, id: NodeId) {
        let term = self.node(id).current_term();
        while self.node(id).current_term() == term && self.node(id).role() != Role::PreCandidate {
            self.node(id).tick();
        }
        self.deliver_all();
    }

    /// Ticks every member (delivering as it goes) until exactly one member
    /// outside `except` leads; its id. Panics after `limit` ticks.
    pub fn await_leader_except(&mut self, except: &[NodeId], limit: u32) -> NodeId {
        for _ in 0..limit {
            self.tick_all(1);
            let leaders: Vec<NodeId> = self.leaders().into_iter().filter(|l| !except.contains(l)).collect();
            if let [leader] = leaders[..] {
                return leader;
            }
        }
        let states: Vec<_> = self.nodes.values().map(|r| r.status()).collect();
        panic!("no single leader outside {except:?} within {limit} ticks: {states:?}");
    }

    pub fn leaders(&self) -> Vec<NodeId> {
        self.nodes.values().filter(|r| r.role() == Role::Leader).map(|r| r.id()).collect()
    }

    pub fn requests_sent(&self) -> usize {
        self.sent.iter().filter(|m| m.is_request()).count()
    }

    /// Panics unless the disk of `id` restores to exactly the log its core
    /// holds (snapshot and entries), without a gap after the snapshot.
    pub fn assert_disk_matches(&self, id: NodeId) {
        let raft = &self.nodes[&id];
        let disk = &self.disk[&id];
        let log = raft.log();
        assert_eq!(disk.snapshot, log.snapshot(), "member {id}: snapshot on disk");
        let on_disk: Vec<&Entry> = disk.entries.iter().filter(|e| e.index > disk.snapshot.index).collect();
        let in_memory: Vec<&Entry> = log.slice(log.first_index(), log.last_index()).iter().collect();
        assert_eq!(on_disk, in_memory, "member {id}: the log on disk is not the core's");
        let restored =
            Raft::new(self.configs[&id].clone(), disk.clone(), rng(id)).expect("the disk restores");
        assert_eq!(restored.log().last_index(), log.last_index(), "member {id}: restored log");
    }
}

pub fn is_append(m: &Message) -> bool {
    matches!(m.body, Body::AppendEntries { .. })
}
