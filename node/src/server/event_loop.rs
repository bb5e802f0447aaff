//! The event loop of one member. Each turn:
//!
//! 1. wait for an input (tick timer, datagram, command from the handle),
//!    then take every other input already waiting;
//! 2. drain the member's turns ([`crate::member`]): hand the WAL batch to
//!    the WAL thread (`wal_writer.rs`), send what need not wait for it (a
//!    leader's AppendEntries), apply the committed entries and answer the
//!    clients whose entries they are; repeat while the core has more.
//!
//! The WAL thread writes and syncs while the loop goes on; its report
//! ([`Command::Synced`]) is an input like any other: the votes and
//! acknowledgements that waited for the sync go out, and a leader counts
//! its own log that far.
//!
//! Proposals made during a turn leave in one AppendEntries per follower,
//! since `ready()` runs once per turn.
//!
//! The clock does not wake the loop every tick: it sleeps until the tick
//! at which the core can next act (`Raft::ticks_until_due`: an election
//! timeout, a heartbeat, a resend) and makes up the elapsed ticks whenever
//! it wakes, before handling any input. The core sees the same ticks as
//! with a wake-up per tick; an idle follower wakes only for heartbeats.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::future;
use smol::channel::{Receiver, Sender};

use std::collections::BTreeMap;

use super::resolver::Resolver;
use super::wal_writer::WalWriter;
use super::{Command, FatalError, Shared};
use crate::addr::PeerAddr;
use crate::member::snapshot_store::{SnapshotError, SnapshotInfo, SnapshotJob, SnapshotPart};
use crate::member::{Action, ClientReply, Member};
use crate::metrics::RequestKind;
use crate::proto::{MemberStatus, Wire};

/// Inputs taken per turn before the turn's persist, at most (so a flood of
/// datagrams cannot starve the timer).
const MAX_INPUTS_PER_TURN: usize = 256;

enum Event {
    Tick,
    Wire(u64, Wire),
    Command(Command),
    /// The handle is gone.
    Closed,
}

pub(super) struct EventLoop {
    /// The member's logic, owned here: inputs reach it only between turns.
    member: Member,
    /// What the handle reads: the status after each turn, the counters.
    shared: Arc<Shared>,
    wal: WalWriter,
    transport: net::Transport<Wire>,
    /// Re-resolves the names of silent peers (`resolver.rs`).
    resolver: Resolver,
    /// The cluster file's addresses: where a member of a configuration
    /// entry without an address of its own (the bootstrap ones) is.
    bootstrap: BTreeMap<u64, PeerAddr>,
    inbox: Receiver<Command>,
    /// For the snapshot writer thread's report.
    commands: Sender<Command>,
    tick: Duration,
    /// When the last tick given to the core was due.
    last_tick: Instant,
    /// Ticks the core may go without (from `last_tick`), and when the last
    /// of them is due: the timer's deadline.
    planned_ticks: u64,
    next_tick: Instant,
    /// Heartbeat round trips to followers, for the metrics.
    round_trips: crate::metrics::rtt::RoundTrips,
    /// The term and round of the last read-index round counted.
    counted_round: (u64, u64),
    /// Senders of another wire format version already reported.
    foreign: std::collections::BTreeSet<std::net::SocketAddr>,
}

impl EventLoop {
    pub(super) fn new(
        member: Member,
        shared: Arc<Shared>,
        wal: WalWriter,
        (transport, resolver, bootstrap): (net::Transport<Wire>, Resolver, BTreeMap<u64, PeerAddr>),
        (commands, inbox): (Sender<Command>, Receiver<Command>),
        tick: Duration,
    ) -> EventLoop {
        let now = Instant::now();
        EventLoop {
            member,
            shared,
            wal,
            transport,
            resolver,
            bootstrap,
            inbox,
            commands,
            tick,
            last_tick: now,
            planned_ticks: 1,
            next_tick: now + tick,
            round_trips: Default::default(),
            counted_round: (0, 0),
            foreign: Default::default(),
        }
    }

    /// Runs until stopped (`Ok`) or a WAL error (`Err`, logged here).
    pub(super) async fn run(mut self) -> Result<(), FatalError> {
        let id = self.transport.endpoint().id();
        // The configuration in force may not be the cluster file's (a log
        // or a snapshot says otherwise): reach its members from the start.
        let membership = self.member.raft().membership().clone();
        self.reach(&membership);
        let result = self.turns().await;
        let bytes = self.member.raft_state_bytes();
        self.shared.publish(|p| p.raft_state_bytes = bytes);
        match &result {
            Err(e @ FatalError::Removed { .. }) => tracing::warn!(target: "election", id, "{e}"),
            Err(e) => tracing::error!(target: "wal", id, error = %e, "stopping: the log cannot be written"),
            Ok(()) => {}
        }
        tracing::info!(target: "election", id, "member stopped");
        result
    }

    async fn turns(&mut self) -> Result<(), FatalError> {
        loop {
            let first = self.next_event().await;
            self.catch_up_ticks();
            if !self.handle(first)? {
                return Ok(());
            }
            for _ in 0..MAX_INPUTS_PER_TURN {
                let Some(event) = self.try_next_event() else { break };
                if !self.handle(event)? {
                    return Ok(());
                }
            }
            self.drain_turns()?;
            let status = self.member.status();
            self.shared.publish(|p| p.status = status);
            self.observe(&status);
            self.plan_ticks();
        }
    }

    /// A peer of another release: said once per address, on stderr and
    /// in the log, since the two cannot talk at all.
    fn report_foreign_version(&mut self) {
        let Some((addr, theirs)) = self.transport.endpoint_mut().take_foreign_version() else { return };
        if self.foreign.len() >= MAX_FOREIGN_REPORTED || !self.foreign.insert(addr) {
            return;
        }
        let (id, ours) = (self.transport.endpoint().id(), net::WIRE_VERSION);
        let line = format!(
            "node {id}: {addr} speaks wire format version {theirs}, this member version {ours}: \
             they cannot talk; run one release in a cluster (docs/operations.md, \"Upgrading\")"
        );
        tracing::warn!(target: "net", "{line}");
        eprintln!("{line}");
    }

    /// The metrics of a turn's end: a few relaxed stores.
    fn observe(&mut self, status: &raft::Status) {
        self.report_foreign_version();
        let metrics = &self.shared.metrics;
        metrics.observe_status(status, status.last_index.saturating_sub(status.commit_index) as usize);
        let endpoint = self.transport.endpoint();
        metrics.observe_net(endpoint.counters(), endpoint.reassembly_held().0);
        let counts = self.member.take_snapshot_counts();
        metrics.observe_snapshots(counts.sent, counts.received);
        counts.restores.iter().for_each(|d| metrics.snapshot_installed(d.as_secs_f64()));
        // Rounds are numbered from 1 in each term; count those begun.
        if let Some(round) = self.member.raft().open_round() {
            let (term, counted) = self.counted_round;
            let since = if term == status.current_term { counted } else { 1 };
            metrics.read_index_rounds(round.saturating_sub(since));
            self.counted_round = (status.current_term, round);
        }
    }

    /// Gives the core the ticks that elapsed since the last one, at most
    /// as many as were planned: after a stall (debugger, overloaded
    /// machine) the clock jumps rather than firing a burst of ticks, which
    /// would start elections at once.
    fn catch_up_ticks(&mut self) {
        let now = Instant::now();
        let tick_ns = self.tick.as_nanos().max(1);
        let elapsed = (now.saturating_duration_since(self.last_tick).as_nanos() / tick_ns) as u64;
        let n = elapsed.min(self.planned_ticks);
        if n == 0 {
            return;
        }
        for _ in 0..n {
            self.member.tick();
        }
        self.planned_ticks -= n;
        self.last_tick = if elapsed > n { now } else { self.last_tick + self.tick * n as u32 };
        if self.planned_ticks == 0 {
            // Tick by tick until the end of the turn plans again.
            self.planned_ticks = 1;
            self.next_tick = self.last_tick + self.tick;
        }
    }

    /// Sets the timer to the next tick at which the core can act.
    fn plan_ticks(&mut self) {
        let due = self.member.raft().ticks_until_due();
        self.planned_ticks = due;
        self.next_tick = self.last_tick + self.tick * u32::try_from(due).unwrap_or(u32::MAX);
    }

    async fn next_event(&mut self) -> Event {
        if Instant::now() >= self.next_tick {
            return Event::Tick;
        }
        let (inbox, transport, at) = (&self.inbox, &mut self.transport, self.next_tick);
        let command = async { inbox.recv().await.map_or(Event::Closed, Event::Command) };
        let datagram = async {
            let (from, wire) = transport.recv().await;
            Event::Wire(from, wire)
        };
        let timer = async {
            Timer::at(at).await;
            Event::Tick
        };
        future::or(command, future::or(datagram, timer)).await
    }

    fn try_next_event(&mut self) -> Option<Event> {
        if Instant::now() >= self.next_tick {
            return Some(Event::Tick);
        }
        if let Ok(c) = self.inbox.try_recv() {
            return Some(Event::Command(c));
        }
        self.transport.try_recv().map(|(from, wire)| Event::Wire(from, wire))
    }

    /// Handles one input; false to stop.
    fn handle(&mut self, event: Event) -> Result<bool, FatalError> {
        match event {
            Event::Tick => {
                self.catch_up_ticks();
                self.resolver.tick(Instant::now());
            }
            Event::Wire(from, wire) => self.on_wire(from, wire),
            Event::Command(Command::SnapshotWritten(outcome)) => self.on_snapshot_written(outcome),
            Event::Command(Command::Synced(outcome)) => {
                if let Some(id) = outcome? {
                    self.member.synced(id);
                }
            }
            Event::Command(c) => return Ok(self.on_command(c)),
            Event::Closed => return Ok(false),
        }
        Ok(true)
    }

    /// Our snapshot is durable (or failed): the core drops its log through
    /// it, then the WAL its segments.
    fn on_snapshot_written(&mut self, outcome: Result<SnapshotInfo, SnapshotError>) {
        if let Some(index) = self.member.snapshot_written(outcome) {
            self.wal.compact(index);
        }
    }

    /// Writes the snapshot on a thread of its own, so the loop goes on; the
    /// thread reports with [`Command::SnapshotWritten`].
    fn write_snapshot(&mut self, job: SnapshotJob) {
        let dir = self.wal.dir().to_path_buf();
        let identity = self.wal.identity();
        let report = self.commands.clone();
        let metrics = self.shared.metrics.clone();
        let spawned = std::thread::Builder::new().name("snapshot-writer".into()).spawn(move || {
            let started = Instant::now();
            let outcome = write_snapshot_file(&dir, identity, job);
            if outcome.is_ok() {
                metrics.snapshot_saved(started.elapsed().as_secs_f64());
            }
            let _ = report.send_blocking(Command::SnapshotWritten(outcome));
        });
        if let Err(e) = spawned {
            let _ = self.member.snapshot_written(Err(SnapshotError::Writer(e)));
        }
    }

    fn on_command(&mut self, command: Command) -> bool {
        match command {
            Command::Propose { data, placed } => {
                let _ = placed.try_send(self.member.propose(data));
            }
            Command::RaftStateBytes { bytes } => {
                let now = self.member.raft_state_bytes();
                self.shared.publish(|p| p.raft_state_bytes = now);
                let _ = bytes.try_send(now);
            }
            Command::SetBlocked { peer, blocked, done } => {
                self.transport.endpoint_mut().set_blocked(peer, blocked);
                let _ = done.try_send(());
            }
            Command::SetFaults { faults, done } => {
                self.transport.endpoint_mut().set_faults(faults);
                let _ = done.try_send(());
            }
            Command::Resolved { peer, addr } => {
                if let Some(addr) = self.resolver.resolved(peer, addr, Instant::now()) {
                    self.transport.set_peer(peer, addr);
                }
            }
            Command::SnapshotWritten(_) | Command::Synced(_) | Command::Stop => return false,
        }
        true
    }

    fn on_wire(&mut self, from: u64, wire: Wire) {
        self.resolver.heard(from, Instant::now());
        match wire {
            Wire::Raft(msg) => {
                if let Some(rtt) = self.round_trips.received(&msg) {
                    self.shared.metrics.peer_round_trip(from, rtt.as_secs_f64());
                }
                if let Err(e) = self.member.step(from, msg) {
                    tracing::debug!(target: "net", from, error = %e, "message refused");
                }
            }
            Wire::Request { seq, command } => {
                self.shared.metrics.client_request(RequestKind::Write);
                let refusal = self.member.on_request(from, seq, command);
                if let Some(reply) = refusal {
                    self.reply(reply);
                }
            }
            Wire::Read { seq, query, consistency, from: at } => {
                self.shared.metrics.client_request(RequestKind::Read);
                if let Some(reply) = self.member.on_read(from, seq, query, (consistency, at)) {
                    self.reply(reply);
                }
            }
            Wire::Admin { seq, request } => {
                self.shared.metrics.client_request(RequestKind::Admin);
                let answer = self.member.on_admin(from, seq, request);
                if let Some(reply) = answer {
                    self.reply(reply);
                }
            }
            Wire::Snapshot(part) => {
                if let Err(e) = self.member.step_snapshot(from, part) {
                    tracing::debug!(target: "net", from, error = %e, "snapshot part refused");
                }
            }
            Wire::StatusQuery { seq } => {
                let mut status = MemberStatus::from(self.member.status());
                status.net = self.transport.endpoint().counters().into();
                self.send(from, &Wire::StatusReply { seq, status });
            }
            other => tracing::debug!(target: "net", from, ?other, "unexpected message dropped"),
        }
    }

    /// Persist, send, apply, in the member's order, until it is idle.
    fn drain_turns(&mut self) -> Result<(), FatalError> {
        loop {
            let action = self.member.poll();
            match action {
                Action::Write(writes, id) => self.wal.write(writes, id),
                Action::Send(messages) => messages.into_iter().for_each(|m| self.send_raft(m)),
                Action::Reply(replies) => replies.into_iter().for_each(|r| self.reply(r)),
                Action::RoleChanged { change, abandoned } => {
                    let id = self.transport.endpoint().id();
                    tracing::info!(target: "election", id, role = ?change.role, term = change.term,
                        leader = ?change.leader, "role or term changed");
                    self.round_trips.clear();
                    self.shared.metrics.proposals_failed(abandoned.len());
                    abandoned.into_iter().for_each(|r| self.reply(r));
                }
                Action::Transfer(parts) => parts.into_iter().for_each(|(to, part)| self.send_part(to, part)),
                Action::WriteSnapshot(job) => self.write_snapshot(job),
                Action::Membership(membership) => self.reach(&membership),
                Action::Failed(e) => {
                    tracing::error!(target: "wal", error = %e, "stopping");
                    return Err(FatalError::Snapshot(e));
                }
                Action::Idle => {
                    self.transport.flush();
                    let Some(index) = self.member.removed() else { return Ok(()) };
                    if let Err(e) = crate::removed::record(self.wal.dir(), index) {
                        tracing::warn!(target: "election", error = %e, "cannot record the removal");
                    }
                    return Err(FatalError::Removed { index });
                }
            }
        }
    }

    /// A new configuration is in force: the transport reaches its members
    /// (at the address in the configuration, or the cluster file's for one
    /// without), and the resolver watches their names. Members no longer in
    /// it are dropped, once this member is in it.
    fn reach(&mut self, membership: &raft::Membership) {
        let me = self.transport.endpoint().id();
        let voters: Vec<u64> = membership.voters.keys().copied().collect();
        let learners: Vec<u64> = membership.learners.keys().copied().collect();
        tracing::info!(target: "election", id = me, ?voters, ?learners, "configuration in force");
        // The members a change removed stay reachable until it commits: the
        // leader still tells them the commit index, so that they stop.
        let raft = self.member.raft();
        let committed = raft.membership_at(raft.commit_index()).cloned();
        let mut names = BTreeMap::new();
        for m in std::iter::once(membership).chain(committed.as_ref()) {
            self.names_of(m, me, &mut names);
        }
        // A member outside the configuration (waiting to be added) keeps
        // the cluster file's peers: one of them will add it.
        let prune = membership.contains(me);
        if !prune {
            for (&id, name) in self.bootstrap.iter().filter(|(&id, _)| id != me) {
                names.entry(id).or_insert_with(|| name.clone());
            }
        }
        let members: Vec<u64> = self.transport.endpoint().members().map(|(id, _)| id).collect();
        for gone in members.into_iter().filter(|id| prune && *id != me && !names.contains_key(id)) {
            self.transport.remove_peer(gone);
        }
        for (&id, name) in &names {
            if let Some(addr) = name.ip_literal().or_else(|| self.resolver.current(id)) {
                self.transport.set_peer(id, addr);
            }
        }
        tracing::info!(target: "election", id = me, voters = ?membership.voters.keys().collect::<Vec<_>>(),
            learners = ?membership.learners.keys().collect::<Vec<_>>(), "configuration in force");
        self.resolver.set_members(names, Instant::now());
    }

    /// The name of each member of `membership` but `me`: the address in
    /// the configuration, or the cluster file's for one without.
    fn names_of(&self, membership: &raft::Membership, me: u64, names: &mut BTreeMap<u64, PeerAddr>) {
        for id in membership.members().filter(|&id| id != me) {
            if names.contains_key(&id) {
                continue;
            }
            let written = membership.address(id).unwrap_or_default();
            let name = match written {
                "" => self.bootstrap.get(&id).cloned(),
                text => PeerAddr::parse(text)
                    .map_err(|e| tracing::warn!(target: "net", peer = id, error = %e, "bad address in the configuration"))
                    .ok(),
            };
            if let Some(name) = name {
                names.insert(id, name);
            }
        }
    }

    /// A snapshot chunk counts as a request, as InstallSnapshot does in the
    /// lab's counters.
    fn send_part(&mut self, to: u64, part: SnapshotPart) {
        let is_request = matches!(part, SnapshotPart::Chunk { .. });
        let wire = Wire::Snapshot(part);
        self.shared.messages.fetch_add(1, Ordering::Relaxed);
        if is_request {
            let bytes = postcard::experimental::serialized_size(&wire).unwrap_or(0);
            self.shared.rpcs.fetch_add(1, Ordering::Relaxed);
            self.shared.rpc_bytes.fetch_add(bytes.saturating_sub(1) as u64, Ordering::Relaxed);
        }
        self.send(to, &wire);
    }

    fn reply(&mut self, r: ClientReply) {
        self.shared.metrics.client_reply(&r.reply);
        self.send(r.client, &Wire::Reply { seq: r.seq, reply: r.reply });
    }

    fn send_raft(&mut self, msg: raft::Message) {
        self.round_trips.sent(&msg);
        let (to, is_request) = (msg.to, msg.is_request());
        let wire = Wire::Raft(msg);
        let bytes = match postcard::to_allocvec(&wire) {
            Ok(b) => b,
            Err(e) => return tracing::error!(target: "net", to, error = %e, "cannot encode"),
        };
        self.shared.messages.fetch_add(1, Ordering::Relaxed);
        if is_request {
            self.shared.rpcs.fetch_add(1, Ordering::Relaxed);
            // Less the one-byte variant tag of `Wire::Raft`: the message's own bytes.
            self.shared.rpc_bytes.fetch_add(bytes.len() as u64 - 1, Ordering::Relaxed);
        }
        // Raft resends what is lost on its own (the next append's
        // consistency check, heartbeats, election timeouts): one datagram,
        // no transport ack or resend.
        let now = self.transport.now_us();
        if let Err(e) = self.transport.endpoint_mut().send_unacked(now, to, bytes) {
            tracing::debug!(target: "net", to, error = %e, "not sent");
        }
    }

    /// Queues `wire` for `to`; it leaves with the turn's other datagrams
    /// when the turn ends (`drain_turns`), a few per system call.
    fn send(&mut self, to: u64, wire: &Wire) {
        let now = self.transport.now_us();
        if let Err(e) = self.transport.endpoint_mut().send(now, to, wire) {
            tracing::debug!(target: "net", to, error = %e, "not sent");
        }
    }
}

/// Addresses of another wire version reported at most (one line each).
const MAX_FOREIGN_REPORTED: usize = 64;

/// Streams `job` into a snapshot file of `dir` and makes it durable.
fn write_snapshot_file(
    dir: &std::path::Path,
    identity: wal::Identity,
    job: SnapshotJob,
) -> Result<SnapshotInfo, SnapshotError> {
    let meta = crate::snapshot_files::to_wal_meta(job.meta);
    let index = meta.index;
    let file = |source| SnapshotError::File { index, source };
    let mut writer = wal::snapshot::SnapshotWriter::create(dir, identity, meta).map_err(file)?;
    job.source.write_to(&mut writer).map_err(|source| SnapshotError::Write { index, source })?;
    let info = writer.finish().map_err(file)?;
    Ok(crate::snapshot_files::info_of(&info))
}
