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
//! Operators' requests ([`Client::members`], [`Client::change`],
//! [`Client::transfer_leader`]) go through the same loop; the leader's
//! refusal of one is [`ClientError::Refused`] with its reason. The client
//! knows the members of its cluster file, and those a leader's
//! [`MembersInfo`] named since (added later, at the address their
//! configuration gives); a redirect to a member it does not know is
//! treated as "no leader known".
//!
//! Gets write nothing to the log: [`Client::get_with`] reads at one of
//! three consistencies ([`Consistency`]: linearizable, the default; lease;
//! serializable) from the leader or from any member ([`ReadFrom`]); a
//! member that cannot serve a read redirects like a leader refusing a
//! write.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use raft::MembershipChange;

use crate::addr::PeerAddr;
use crate::config::{ClusterConfig, ConfigError, Member};
use crate::kv::{KvCommand, KvReply, Op};
pub use crate::proto::ReadFrom;
use crate::proto::{AdminRequest, Consistency, MemberStatus, MembersInfo, Reply, Role, Wire};

/// How long one attempt at one member may take before the next member is
/// tried: longer than a commit, shorter than an election.
const ATTEMPT: Duration = Duration::from_millis(400);
/// How long a member may stay silent, neither answering nor acknowledging
/// the request, before the next member is tried: three times the longest a
/// member holds its ack for a reply to carry, so one that says nothing by
/// then is down or cut off, and waiting the whole attempt on it would cost
/// every client of a killed leader 400 ms.
const FIRST_SIGN: Duration = Duration::from_micros(3 * net::CLIENT_ACK_DELAY_US);
/// How often an attempt looks again whether its member acknowledged or
/// refused the request.
const ATTEMPT_POLL: Duration = Duration::from_millis(5);
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
    /// No answer, and a member said it could not authenticate this client.
    #[error("member {member} could not authenticate this client: its secret differs from the cluster's (secret or secret_file in the cluster file)")]
    WrongSecret { member: u64 },
    #[error("the cluster answered with something this client does not understand")]
    BadReply,
    #[error("value too large: {bytes} bytes (at most {max})")]
    ValueTooLarge { bytes: usize, max: usize },
    #[error("command too large: {bytes} bytes encoded (at most {max}; is the key too long?)")]
    CommandTooLarge { bytes: usize, max: usize },
    /// The leader refused an operator's request, and why.
    #[error("refused: {0}")]
    Refused(String),
}

impl ClientError {
    /// The `node` binary's exit code: 2 for a command the cluster can never
    /// take (bad input), 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::ValueTooLarge { .. }
            | ClientError::CommandTooLarge { .. }
            | ClientError::WrongSecret { .. } => 2,
            _ => 1,
        }
    }
}

/// One client: a socket, an id and a sequence number.
pub struct Client {
    members: Vec<Member>,
    transport: net::BlockingTransport<Wire>,
    client_id: u64,
    seq: u64,
    leader: Option<u64>,
    timeout: Duration,
    /// The largest entry the cluster admits (cluster.toml's limits).
    max_entry_bytes: usize,
    /// The socket is IPv6 (the first member is): IPv4 members are known
    /// by their v4-mapped address.
    v6: bool,
}

/// How a request ended: the final reply (not a redirect or "busy"), and
/// whether an earlier attempt went unanswered (a member may have taken
/// that copy: a redirect or "busy" says it did not).
struct Answer {
    reply: Reply,
    unanswered: bool,
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
        let transport = net::BlockingTransport::with_socket(net_config, socket)?;
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
            v6,
        })
    }

    /// Sets `key`. A value larger than the cluster takes is refused at
    /// once ([`ClientError::ValueTooLarge`], also when a leader with a lower
    /// limit refuses it).
    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<(), ClientError> {
        let too_large = |max_entry| {
            let max = crate::kv::max_value_bytes(key, max_entry).unwrap_or(0);
            ClientError::ValueTooLarge { bytes: value.len(), max }
        };
        if crate::kv::put_len(key, value.len()) > self.max_entry_bytes {
            return Err(too_large(self.max_entry_bytes));
        }
        match self.write(Op::Put { key: key.into(), value: value.to_vec() }) {
            Err(ClientError::CommandTooLarge { max, .. }) => Err(too_large(max)),
            other => other,
        }
    }

    /// The largest value a put of `key` may carry here, if any.
    pub fn max_value_bytes(&self, key: &str) -> Option<usize> {
        crate::kv::max_value_bytes(key, self.max_entry_bytes)
    }

    pub fn delete(&mut self, key: &str) -> Result<(), ClientError> {
        self.write(Op::Delete { key: key.into() })
    }

    /// The value of `key`, linearizable, read at the leader.
    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
        self.get_with(key, Consistency::Linearizable, ReadFrom::Leader)
    }

    /// The value of `key`, as fresh as `consistency` asks, read from
    /// `from`. No log entry is written.
    pub fn get_with(
        &mut self,
        key: &str,
        consistency: Consistency,
        from: ReadFrom,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        self.seq += 1;
        let seq = self.seq;
        let query = Op::get_query(key);
        if query.len() > self.max_entry_bytes {
            return Err(ClientError::CommandTooLarge { bytes: query.len(), max: self.max_entry_bytes });
        }
        let start = match from {
            ReadFrom::Leader => None,
            ReadFrom::Any => {
                self.members.get(self.client_id as usize % self.members.len().max(1)).map(|m| m.id)
            }
        };
        let reply = match self.call_from(seq, Wire::Read { seq, query, consistency, from }, start)?.reply {
            Reply::Applied(bytes) => postcard::from_bytes(&bytes).map_err(|_| ClientError::BadReply)?,
            _ => return Err(ClientError::BadReply),
        };
        match reply {
            KvReply::Value(v) => Ok(v),
            _ => Err(ClientError::BadReply),
        }
    }

    /// The member that answered last as leader, if any.
    pub fn leader(&self) -> Option<u64> {
        self.leader
    }

    /// Every known member's status (see [`Client::known_members`]), or
    /// `None` for those that did not answer. A leader among them is where
    /// the next request goes.
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
        let leader =
            answers.iter().filter_map(|(_, s)| s.filter(|s| s.role == Role::Leader)).max_by_key(|s| s.term);
        if let Some(s) = leader {
            self.leader = Some(s.id);
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
        match self.call(seq, Wire::Request { seq, command })?.reply {
            Reply::Applied(bytes) => postcard::from_bytes(&bytes).map_err(|_| ClientError::BadReply),
            Reply::TooLarge { bytes, max } => {
                Err(ClientError::CommandTooLarge { bytes: bytes as usize, max: max as usize })
            }
            _ => Err(ClientError::BadReply),
        }
    }

    /// The leader's view of the configuration and of each follower's
    /// progress. Members it names that this client did not know (added
    /// after the cluster file was written) are reachable from then on.
    pub fn members(&mut self) -> Result<MembersInfo, ClientError> {
        match self.admin(AdminRequest::Members)?.reply {
            Reply::Members(info) => {
                self.learn(&info);
                Ok(*info)
            }
            Reply::Refused(why) => Err(ClientError::Refused(why)),
            _ => Err(ClientError::BadReply),
        }
    }

    /// A single-server membership change; returns once it is committed.
    /// Refused at once (with the leader's reason) when it cannot be made,
    /// e.g. a learner that lags too far to be promoted. A change whose
    /// request had to be sent again and is then refused as already made
    /// (an earlier copy went unanswered: it may have committed, its reply
    /// lost) counts as made.
    pub fn change(&mut self, change: MembershipChange) -> Result<(), ClientError> {
        let answer = self.admin(AdminRequest::Change(change.clone()))?;
        match answer.reply {
            Reply::Applied(_) => Ok(()),
            Reply::Refused(_)
                if answer.unanswered && self.members().is_ok_and(|m| in_effect(&m, &change)) =>
            {
                Ok(())
            }
            Reply::Refused(why) => Err(ClientError::Refused(why)),
            _ => Err(ClientError::BadReply),
        }
    }

    /// The leader's applied index, to back up from (see [`crate::backup`]).
    pub fn backup_index(&mut self) -> Result<u64, ClientError> {
        match self.admin(AdminRequest::Backup { index: 0, offset: 0 })?.reply {
            Reply::Applied(bytes) => postcard::from_bytes(&bytes).map_err(|_| ClientError::BadReply),
            Reply::Refused(why) => Err(ClientError::Refused(why)),
            _ => Err(ClientError::BadReply),
        }
    }

    /// The chunk at `offset` of the leader's snapshot at `index` or later.
    pub fn backup_chunk(
        &mut self,
        index: u64,
        offset: u64,
    ) -> Result<crate::proto::BackupChunk, ClientError> {
        match self.admin(AdminRequest::Backup { index, offset })?.reply {
            Reply::Backup(chunk) => Ok(*chunk),
            Reply::Refused(why) => Err(ClientError::Refused(why)),
            _ => Err(ClientError::BadReply),
        }
    }

    /// Asks the leader to hand leadership to voter `id`; returns once the
    /// transfer has started (see [`Client::members`] to see it finish).
    pub fn transfer_leader(&mut self, id: u64) -> Result<(), ClientError> {
        match self.admin(AdminRequest::TransferLeader(id))?.reply {
            Reply::Applied(_) => Ok(()),
            Reply::Refused(why) => Err(ClientError::Refused(why)),
            _ => Err(ClientError::BadReply),
        }
    }

    /// The members this client can reach: the cluster file's, then those
    /// it learned from a [`MembersInfo`].
    pub fn known_members(&self) -> &[Member] {
        &self.members
    }

    /// How long each command may take from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn admin(&mut self, request: AdminRequest) -> Result<Answer, ClientError> {
        self.seq += 1;
        let seq = self.seq;
        self.call(seq, Wire::Admin { seq, request })
    }

    /// Makes the members of `info` this client does not know yet
    /// reachable, at the address their configuration gives (those without
    /// one are in the cluster file, or unreachable from here).
    fn learn(&mut self, info: &MembersInfo) {
        for id in info.membership.members() {
            self.learn_member(id, info.membership.address(id).unwrap_or_default());
        }
    }

    /// Makes member `id` at `address` (as a configuration writes it)
    /// reachable, unless it is known already or the address is empty or
    /// does not resolve.
    fn learn_member(&mut self, id: u64, address: &str) {
        if self.knows(id) {
            return;
        }
        let Ok(addr) = PeerAddr::parse(address) else { return };
        let member = Member { id, addr, metrics_addr: None };
        match member.resolve() {
            Ok(resolved) => {
                self.transport.set_peer(id, same_family(resolved, self.v6));
                tracing::debug!(target: "client", id, %resolved, "member learned from the leader");
                self.members.push(member);
            }
            Err(e) => tracing::debug!(target: "client", id, error = %e, "member not reachable"),
        }
    }

    fn knows(&self, id: u64) -> bool {
        self.members.iter().any(|m| m.id == id)
    }

    /// The one retry loop of every request: sends `wire` (request `seq`)
    /// to the member believed to lead, follows redirects, tries the next
    /// member when an attempt goes unanswered, backs off while the leader
    /// is busy, until a member answers for good or the timeout.
    fn call(&mut self, seq: u64, wire: Wire) -> Result<Answer, ClientError> {
        self.call_from(seq, wire, None)
    }

    /// [`Client::call`], first at `start` (the believed leader if none).
    /// A member that answers a read is not taken for the leader.
    fn call_from(&mut self, seq: u64, wire: Wire, start: Option<u64>) -> Result<Answer, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let is_read = matches!(wire, Wire::Read { .. });
        let believed = self.leader.unwrap_or_else(|| self.members.first().map_or(0, |m| m.id));
        let mut target = start.unwrap_or(believed);
        let mut busy_pause = BUSY_PAUSE_MIN;
        let mut unanswered = false;
        while Instant::now() < deadline {
            tracing::debug!(target: "client", seq, to = target, "request");
            let sent = self.transport.send(target, &wire).ok();
            let mut reply = self.await_attempt(seq, (target, sent), deadline);
            if let Some((_, Reply::NotLeader { leader_hint: Some(hint), leader_addr: Some(addr) })) = &reply {
                // A leader added after the cluster file was written.
                let (hint, addr) = (*hint, addr.clone());
                self.learn_member(hint, &addr);
            }
            let pause = match reply {
                Some((from, Reply::NotLeader { leader_hint: Some(hint), .. }))
                    if hint != from && self.knows(hint) =>
                {
                    target = hint;
                    continue;
                }
                // No leader known, or one this client cannot reach.
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
                    unanswered = true;
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
                Some((
                    from,
                    reply @ (Reply::Applied(_) | Reply::Members(_) | Reply::Backup(_) | Reply::Refused(_)),
                )) => {
                    if !is_read || start.is_none() {
                        self.leader = Some(from);
                    }
                    return Ok(Answer { reply, unanswered });
                }
                Some((_, reply @ Reply::TooLarge { .. })) => return Ok(Answer { reply, unanswered }),
                _ => {}
            }
        }
        self.leader = None;
        Err(self.timed_out())
    }

    /// Why nothing answered in time: a member that said it could not
    /// authenticate us (`net`'s notice, believed only for this message),
    /// else a plain timeout.
    fn timed_out(&self) -> ClientError {
        match self.transport.endpoint().refused_secret_by() {
            Some(member) => ClientError::WrongSecret { member },
            None => ClientError::Timeout(self.timeout),
        }
    }

    /// One attempt's reply to request `seq`, sent to `to` as transport
    /// message `sent`: waited for until the attempt's end, or only until
    /// `FIRST_SIGN` while `to` has acknowledged none of the request. A
    /// member that refused the request as busy (its reassembly had no room
    /// for it) counts as a `Busy` reply. A request left unanswered is
    /// cancelled, so it does not keep going out beside the next attempt's.
    fn await_attempt(
        &mut self,
        seq: u64,
        (to, sent): (u64, Option<u64>),
        deadline: Instant,
    ) -> Option<(u64, Reply)> {
        let start = Instant::now();
        let (first_sign, end) = ((start + FIRST_SIGN).min(deadline), (start + ATTEMPT).min(deadline));
        loop {
            let endpoint = self.transport.endpoint();
            if sent.is_some_and(|id| endpoint.was_refused(to, id)) {
                return Some((to, Reply::Busy));
            }
            let alive = sent.is_some_and(|id| endpoint.is_acknowledged(to, id));
            let until = if alive { end } else { first_sign };
            if Instant::now() >= until {
                if let Some(id) = sent {
                    self.transport.cancel(to, id);
                }
                return None;
            }
            let slice = (Instant::now() + ATTEMPT_POLL).min(until);
            if let Some(reply) = self.await_reply(seq, slice) {
                return Some(reply);
            }
        }
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
        self.transport.recv_timeout(left)
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

/// Whether the configuration of `info` already holds what `change` makes.
fn in_effect(info: &MembersInfo, change: &MembershipChange) -> bool {
    let m = &info.membership;
    match change {
        MembershipChange::AddLearner { id, address } => m.learners.get(id) == Some(address),
        MembershipChange::AddVoter { id, address } => m.voters.get(id) == Some(address),
        MembershipChange::Promote { id } => m.is_voter(*id),
        MembershipChange::Remove { id } => !m.contains(*id),
    }
}
