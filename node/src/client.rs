//! A client of the cluster over the members' own UDP transport.
//!
//! It resolves the members' addresses once, at start (a name that does not
//! resolve is a one-line error), binds an ephemeral port (on IPv6 when the
//! first member is on IPv6) with a random id in net's client range (the
//! members learn its address, see `docs/net.md`), and for each command:
//!
//! - sends it to the member it believes leads (at first the first one in
//!   the file), follows `NotLeader` hints, and tries the next member when an
//!   attempt goes unanswered;
//! - retries with the same client id and sequence number, so the KV
//!   store's sessions apply a retried write once;
//! - backs off and retries while the leader answers "busy" (its
//!   uncommitted budget is spent);
//! - refuses at once, without sending, a command larger than the cluster's
//!   largest entry (`limits.rs`), and reports a leader's refusal the same
//!   way;
//! - gives up after its timeout with [`ClientError::Timeout`].
//!
//! Gets go through the log like writes (see `kv.rs`), so they are
//! linearizable.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::config::{ClusterConfig, ConfigError, Member};
use crate::kv::{KvCommand, KvReply, Op};
use crate::proto::{MemberStatus, Reply, Wire};

/// How long one attempt at one member may take before the next member is
/// tried: longer than a commit, shorter than an election.
const ATTEMPT: Duration = Duration::from_millis(400);
/// Pause after "not the leader, and I do not know who is": an election is
/// on.
const NO_LEADER_PAUSE: Duration = Duration::from_millis(50);
/// Fragments a client has in flight at most (a member's window is 256): a
/// member takes requests from many clients at once, and their datagrams
/// share its socket with the other members' heartbeats and replies.
const CLIENT_WINDOW_FRAGMENTS: usize = 32;
/// First and longest pause after "busy"; the pause doubles in between.
const BUSY_PAUSE_MIN: Duration = Duration::from_millis(5);
const BUSY_PAUSE_MAX: Duration = Duration::from_millis(200);
/// `status` waits at most this long for members that do not answer.
const STATUS_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot open a UDP socket: {0}")]
    Bind(#[from] std::io::Error),
    /// A member's name does not resolve.
    #[error(transparent)]
    Resolve(#[from] ConfigError),
    #[error("cannot set up the transport: {0}")]
    Transport(#[from] net::BindError),
    #[error("no answer from the cluster within {} (is a majority of its members running?)", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("the cluster answered with something this client does not understand")]
    BadReply,
    #[error("value too large: {bytes} bytes (at most {max})")]
    ValueTooLarge { bytes: usize, max: usize },
    #[error("command too large: {bytes} bytes encoded (at most {max}; is the key too long?)")]
    CommandTooLarge { bytes: usize, max: usize },
}

impl ClientError {
    /// The `node` binary's exit code: 2 for a command the cluster can never
    /// take (bad input), 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::ValueTooLarge { .. } | ClientError::CommandTooLarge { .. } => 2,
            _ => 1,
        }
    }
}

/// One client: a socket, an id and a sequence number.
pub struct Client {
    members: Vec<Member>,
    transport: net::Transport<Wire>,
    client_id: u64,
    seq: u64,
    leader: Option<u64>,
    timeout: Duration,
    /// The largest entry the cluster admits (cluster.toml's limits).
    max_entry_bytes: usize,
}

impl Client {
    /// A client of the cluster in `config`; each command gives up after
    /// `timeout`.
    pub fn new(config: &ClusterConfig, timeout: Duration) -> Result<Client, ClientError> {
        let resolved = (config.nodes.iter())
            .map(|m| Ok((m.id, m.resolve()?)))
            .collect::<Result<Vec<(u64, SocketAddr)>, ConfigError>>()?;
        let v6 = matches!(resolved.first(), Some((_, SocketAddr::V6(_))));
        let any = match v6 {
            true => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            false => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        };
        let socket = UdpSocket::bind(any)?;
        let client_id = net::CLIENT_ID_MIN | crate::server::random_u64();
        let mut peers: std::collections::BTreeMap<_, _> =
            resolved.into_iter().map(|(id, addr)| (id, same_family(addr, v6))).collect();
        peers.insert(client_id, socket.local_addr()?);
        let mut net_config = net::Config::new(config.cluster_id, client_id, peers);
        net_config.secret = config.secret.clone();
        net_config.max_message_bytes = crate::limits::MAX_MESSAGE_BYTES;
        net_config.window_fragments = CLIENT_WINDOW_FRAGMENTS;
        let transport = net::Transport::with_socket(net_config, socket)?;
        tracing::debug!(target: "client", client_id, "client ready");
        let max_entry_bytes = config.limits.max_entry_bytes;
        Ok(Client {
            members: config.nodes.clone(),
            transport,
            client_id,
            seq: 0,
            leader: None,
            timeout,
            max_entry_bytes,
        })
    }

    /// Sets `key`. A value larger than the cluster takes is refused at
    /// once ([`ClientError::ValueTooLarge`], also when a leader with a lower
    /// limit refuses it).
    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<(), ClientError> {
        let too_large = |max_entry| {
            let max = crate::limits::max_value_bytes(key, max_entry).unwrap_or(0);
            ClientError::ValueTooLarge { bytes: value.len(), max }
        };
        if crate::limits::put_len(key, value.len()) > self.max_entry_bytes {
            return Err(too_large(self.max_entry_bytes));
        }
        match self.write(Op::Put { key: key.into(), value: value.to_vec() }) {
            Err(ClientError::CommandTooLarge { max, .. }) => Err(too_large(max)),
            other => other,
        }
    }

    /// The largest value a put of `key` may carry here, if any.
    pub fn max_value_bytes(&self, key: &str) -> Option<usize> {
        crate::limits::max_value_bytes(key, self.max_entry_bytes)
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
            self.members.iter().map(|m| (m.clone(), None)).collect();
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

    /// Sends `op` until a member applies it, a member refuses it for good,
    /// or the timeout.
    fn command(&mut self, op: Op) -> Result<KvReply, ClientError> {
        self.seq += 1;
        let seq = self.seq;
        let command = KvCommand { client_id: self.client_id, seq, op }.encode();
        if command.len() > self.max_entry_bytes {
            return Err(ClientError::CommandTooLarge { bytes: command.len(), max: self.max_entry_bytes });
        }
        let deadline = Instant::now() + self.timeout;
        let mut target = self.leader.unwrap_or_else(|| self.members.first().map_or(0, |m| m.id));
        let mut busy_pause = BUSY_PAUSE_MIN;
        while Instant::now() < deadline {
            tracing::debug!(target: "client", seq, to = target, "request");
            let _ = self.transport.send(target, &Wire::Request { seq, command: command.clone() });
            let mut reply = self.await_reply(seq, (Instant::now() + ATTEMPT).min(deadline));
            let pause = match reply {
                Some((from, Reply::NotLeader { leader_hint: Some(hint) })) if hint != from => {
                    target = hint;
                    continue;
                }
                Some((from, Reply::NotLeader { .. })) => {
                    target = self.next_member(from);
                    NO_LEADER_PAUSE
                }
                Some((_, Reply::Busy)) => {
                    let pause = busy_pause;
                    busy_pause = (busy_pause * 2).min(BUSY_PAUSE_MAX);
                    pause
                }
                None => {
                    target = self.next_member(target);
                    continue;
                }
                _ => Duration::ZERO,
            };
            if !pause.is_zero() {
                // A reply to an earlier attempt may still arrive meanwhile.
                reply = self.await_reply(seq, (Instant::now() + pause).min(deadline)).or(reply);
            }
            match reply {
                Some((from, Reply::Applied(bytes))) => {
                    self.leader = Some(from);
                    return postcard::from_bytes(&bytes).map_err(|_| ClientError::BadReply);
                }
                Some((_, Reply::TooLarge { bytes, max })) => {
                    let (bytes, max) = (bytes as usize, max as usize);
                    return Err(ClientError::CommandTooLarge { bytes, max });
                }
                _ => {}
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

/// A member's address as the client's socket sees it: on an IPv6 socket
/// (the first member is on IPv6) an IPv4 member is reached, and answers
/// from, its IPv4-mapped address (`::ffff:a.b.c.d`); the transport must
/// know it by that form or it would drop the answers as from a stranger.
fn same_family(addr: SocketAddr, v6: bool) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if v6 => SocketAddr::from((a.ip().to_ipv6_mapped(), a.port())),
        other => other,
    }
}
