//! A client of the cluster over the members' own UDP transport.
//!
//! It binds an ephemeral port with a random id in net's client range (the
//! members learn its address, see `docs/net.md`), and for each command:
//!
//! - sends it to the member it believes leads (at first the first one in
//!   the file), follows `NotLeader` hints, and tries the next member when an
//!   attempt goes unanswered;
//! - retries with the same client id and sequence number, so the KV
//!   store's sessions apply a retried write once;
//! - gives up after its timeout with [`ClientError::Timeout`].
//!
//! Gets go through the log like writes (see `kv.rs`), so they are
//! linearizable.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::config::{ClusterConfig, Member};
use crate::kv::{KvCommand, KvReply, Op};
use crate::proto::{MemberStatus, Reply, Wire};

/// How long one attempt at one member may take before the next member is
/// tried: longer than a commit, shorter than an election.
const ATTEMPT: Duration = Duration::from_millis(400);
/// Pause after "not the leader, and I do not know who is": an election is
/// on.
const NO_LEADER_PAUSE: Duration = Duration::from_millis(50);
/// `status` waits at most this long for members that do not answer.
const STATUS_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot open a UDP socket: {0}")]
    Bind(#[from] std::io::Error),
    #[error("cannot set up the transport: {0}")]
    Transport(#[from] net::BindError),
    #[error("no answer from the cluster within {} (is a majority of its members running?)", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("the cluster answered with something this client does not understand")]
    BadReply,
}

/// One client: a socket, an id and a sequence number.
pub struct Client {
    members: Vec<Member>,
    transport: net::Transport<Wire>,
    client_id: u64,
    seq: u64,
    leader: Option<u64>,
    timeout: Duration,
}

impl Client {
    /// A client of the cluster in `config`; each command gives up after
    /// `timeout`.
    pub fn new(config: &ClusterConfig, timeout: Duration) -> Result<Client, ClientError> {
        let any: SocketAddr = match config.nodes.first().map(|m| m.addr) {
            Some(SocketAddr::V6(_)) => "[::]:0".parse().unwrap_or(SocketAddr::from(([0; 16], 0))),
            _ => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let socket = UdpSocket::bind(any)?;
        let client_id = net::CLIENT_ID_MIN | crate::server::random_u64();
        let mut peers: std::collections::BTreeMap<_, _> =
            config.nodes.iter().map(|m| (m.id, m.addr)).collect();
        peers.insert(client_id, socket.local_addr()?);
        let mut net_config = net::Config::new(config.cluster_id, client_id, peers);
        net_config.secret = config.secret.clone();
        let transport = net::Transport::with_socket(net_config, socket)?;
        tracing::debug!(target: "client", client_id, "client ready");
        Ok(Client { members: config.nodes.clone(), transport, client_id, seq: 0, leader: None, timeout })
    }

    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<(), ClientError> {
        self.write(Op::Put { key: key.into(), value: value.to_vec() })
    }

    pub fn delete(&mut self, key: &str) -> Result<(), ClientError> {
        self.write(Op::Delete { key: key.into() })
    }

    /// The value of `key`, linearizable (read through the log).
    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
        match self.command(Op::Get { key: key.into() })? {
            KvReply::Value(v) => Ok(v),
            _ => Err(ClientError::BadReply),
        }
    }

    /// The member that answered last as leader, if any.
    pub fn leader(&self) -> Option<u64> {
        self.leader
    }

    /// Every member's status, or `None` for those that did not answer.
    pub fn status(&mut self) -> Vec<(Member, Option<MemberStatus>)> {
        self.seq += 1;
        let seq = self.seq;
        for m in &self.members {
            let _ = self.transport.send(m.id, &Wire::StatusQuery { seq });
        }
        let mut answers: Vec<(Member, Option<MemberStatus>)> =
            self.members.iter().map(|m| (*m, None)).collect();
        let deadline = Instant::now() + self.timeout.min(STATUS_WAIT);
        while answers.iter().any(|(_, s)| s.is_none()) {
            let Some((from, wire)) = self.recv_until(deadline) else { break };
            if let Wire::StatusReply { seq: s, status } = wire {
                if let Some(slot) = answers.iter_mut().find(|(m, _)| m.id == from && s == seq) {
                    slot.1 = Some(status);
                }
            }
        }
        answers
    }

    fn write(&mut self, op: Op) -> Result<(), ClientError> {
        match self.command(op)? {
            KvReply::Done => Ok(()),
            _ => Err(ClientError::BadReply),
        }
    }

    /// Sends `op` until a member applies it, or the timeout.
    fn command(&mut self, op: Op) -> Result<KvReply, ClientError> {
        self.seq += 1;
        let seq = self.seq;
        let command = KvCommand { client_id: self.client_id, seq, op }.encode();
        let deadline = Instant::now() + self.timeout;
        let mut target = self.leader.unwrap_or_else(|| self.members.first().map_or(0, |m| m.id));
        while Instant::now() < deadline {
            tracing::debug!(target: "client", seq, to = target, "request");
            let _ = self.transport.send(target, &Wire::Request { seq, command: command.clone() });
            match self.await_reply(seq, (Instant::now() + ATTEMPT).min(deadline)) {
                Some((from, Reply::Applied(bytes))) => {
                    self.leader = Some(from);
                    return postcard::from_bytes(&bytes).map_err(|_| ClientError::BadReply);
                }
                Some((from, Reply::NotLeader { leader_hint: Some(hint) })) if hint != from => target = hint,
                Some((from, Reply::NotLeader { .. })) => {
                    target = self.next_member(from);
                    let pause = (Instant::now() + NO_LEADER_PAUSE).min(deadline);
                    if let Some((from, Reply::Applied(bytes))) = self.await_reply(seq, pause) {
                        self.leader = Some(from);
                        return postcard::from_bytes(&bytes).map_err(|_| ClientError::BadReply);
                    }
                }
                None => target = self.next_member(target),
            }
        }
        self.leader = None;
        Err(ClientError::Timeout(self.timeout))
    }

    /// The reply to request `seq` from any member, until `until`.
    fn await_reply(&mut self, seq: u64, until: Instant) -> Option<(u64, Reply)> {
        loop {
            match self.recv_until(until)? {
                (from, Wire::Reply { seq: s, reply }) if s == seq => return Some((from, reply)),
                _ => continue, // an old reply or a late status answer
            }
        }
    }

    fn recv_until(&mut self, until: Instant) -> Option<(u64, Wire)> {
        let left = until.checked_duration_since(Instant::now())?;
        smol::block_on(self.transport.recv_timeout(left))
    }

    fn next_member(&self, after: u64) -> u64 {
        let i = self.members.iter().position(|m| m.id == after).map_or(0, |i| i + 1);
        self.members.get(i % self.members.len().max(1)).map_or(after, |m| m.id)
    }
}
