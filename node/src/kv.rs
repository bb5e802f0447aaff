//! The key-value state machine of `node`, with client sessions.
//!
//! Every command in the log names its client (a random id in net's client
//! range) and that client's sequence number. A client has one request
//! outstanding at a time and retries it with the same number, so a session
//! of (last seq, last reply) per client is enough to apply a retried write
//! once: a command whose seq equals the session's gets the stored reply
//! without being applied again, an older one gets [`KvReply::Stale`].
//!
//! Gets are queries ([`StateMachine::query`]: a `Op::Get` encoded like a
//! command's op) answered from the applied state; the member decides when
//! that state is fresh enough for the read's consistency. A get may also
//! go through the log as a command; it needs no session entry, since
//! applying a get twice changes nothing.
//!
//! A put's value is copied out of the log entry it came in, not kept as
//! a slice of it. A slice would
//! save one copy while the entry is in the log, but it keeps the whole
//! buffer the entry was decoded from alive for as long as the key holds
//! that value: a network reassembly buffer of a whole AppendEntries, or the
//! map of a WAL segment. Once snapshots let the log be compacted, the log
//! drops those buffers and the files behind them are deleted, yet every
//! value still pointing into one would pin it, so neither memory nor disk
//! space would be given back (a deleted file's blocks stay in use while
//! they are mapped). A copy costs the value's bytes once and frees the log.
//!
//! Sessions are bounded ([`KvStore::with_max_sessions`], default
//! [`DEFAULT_MAX_SESSIONS`]): past the bound the session used least
//! recently (by log index, so every replica evicts the same one) is
//! forgotten, and a retry from that client after so long would apply again.
//!
//! Snapshots ([`KvStore::snapshot_view`], [`KvView::write_to`],
//! [`KvStore::restore_from`], `kv/snapshot_format.rs`): the maps are persistent
//! ones ([`imbl`]), whose clone is O(1) and shares every node with the
//! original until either side changes it. So the event loop takes a view
//! of the whole state in nanoseconds, where a clone of `std` maps of
//! 100,000 keys of 100 bytes stalls it for about 30 ms
//! (`benches/kv_snapshot.rs`), and the view is written out on another
//! thread while the store goes on applying entries. While a view lives,
//! the first write into a node of the map copies that node (about 15 µs for
//! a put into 100,000 keys); all of them together copy no more than one
//! clone would. [`KvStore::digest`] hashes the snapshot's encoding, for
//! replicas to compare their states.

mod sizes;
mod snapshot_format;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use imbl::{HashMap, OrdMap};
use serde::{Deserialize, Serialize};

use crate::member::StateMachine;

pub use sizes::{max_value_bytes, put_len};
pub use snapshot_format::{
    KvSnapshotError, KvView, SnapshotSection, MAX_KEY_BYTES, MAX_VALUE_BYTES, SNAPSHOT_VERSION,
};

/// Sessions kept by default.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// One entry's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvCommand {
    pub client_id: u64,
    pub seq: u64,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Put { key: String, value: Vec<u8> },
    Get { key: String },
    Delete { key: String },
}

/// [`KvCommand`] decoded in place: same encoding, borrowing from the
/// entry's data (postcard writes a `Vec<u8>` and a `&[u8]`, a `String` and
/// a `&str` alike).
#[derive(Debug, Deserialize)]
struct CommandRef<'a> {
    client_id: u64,
    seq: u64,
    #[serde(borrow)]
    op: OpRef<'a>,
}

/// [`Op`] borrowed; the variants in the same order.
#[derive(Debug, Deserialize)]
enum OpRef<'a> {
    Put { key: &'a str, value: &'a [u8] },
    Get { key: &'a str },
    Delete { key: &'a str },
}

/// What a command returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvReply {
    /// A put or delete was applied.
    Done,
    /// A get's value.
    Value(Option<Vec<u8>>),
    /// The client has already moved past this seq; nothing applied.
    Stale,
    /// The entry did not decode as a [`KvCommand`]; nothing applied.
    Malformed,
}

impl Op {
    /// A get's query for [`StateMachine::query`].
    pub fn get_query(key: &str) -> Vec<u8> {
        postcard::to_allocvec(&Op::Get { key: key.into() }).unwrap_or_default()
    }
}

impl KvCommand {
    pub fn encode(&self) -> Vec<u8> {
        // Encoding a plain struct of integers, strings and bytes into a Vec
        // cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    seq: u64,
    reply: KvReply,
    last_index: u64,
}

/// The map and the sessions.
///
/// `Clone` is O(1) (the maps are persistent). Two stores are equal
/// (`==`) when their keys, values and sessions are, whatever their
/// `max_sessions`.
#[derive(Debug, Clone)]
pub struct KvStore {
    /// Values are copies, not slices of the entries they were put by (see
    /// the module's doc).
    /// Keys and values boxed, not `String` and `Bytes`: 16 bytes each in
    /// the map's nodes instead of 24 and 32 (about a fifth less memory for
    /// small values).
    data: OrdMap<Box<str>, Box<[u8]>>,
    sessions: HashMap<u64, Session>,
    /// Sessions by `last_index`, for eviction: one entry per session.
    by_age: OrdMap<u64, u64>,
    max_sessions: usize,
}

impl PartialEq for KvStore {
    fn eq(&self, other: &KvStore) -> bool {
        // `by_age` follows from the sessions' `last_index`.
        self.data == other.data && self.sessions == other.sessions
    }
}

impl Eq for KvStore {}

impl Default for KvStore {
    fn default() -> Self {
        KvStore::with_max_sessions(DEFAULT_MAX_SESSIONS)
    }
}

impl KvStore {
    pub fn with_max_sessions(max_sessions: usize) -> KvStore {
        KvStore { data: OrdMap::new(), sessions: HashMap::new(), by_age: OrdMap::new(), max_sessions }
    }

    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.data.get(key).map(|v| &v[..])
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Applies the command `cmd` at log `index`. A put's value is copied
    /// out of the entry, so that the store keeps no reference to the log's
    /// buffers (see the module's doc).
    fn execute(&mut self, index: u64, cmd: CommandRef<'_>) -> KvReply {
        let value_of = |v: Option<&Box<[u8]>>| KvReply::Value(v.map(|b| b.to_vec()));
        if let OpRef::Get { key } = cmd.op {
            return value_of(self.data.get(key));
        }
        if let Some(s) = self.sessions.get(&cmd.client_id) {
            if cmd.seq == s.seq {
                return s.reply.clone();
            }
            if cmd.seq < s.seq {
                return KvReply::Stale;
            }
        }
        let reply = match cmd.op {
            OpRef::Put { key, value } => {
                self.data.insert(key.into(), value.into());
                KvReply::Done
            }
            OpRef::Delete { key } => {
                self.data.remove(key);
                KvReply::Done
            }
            OpRef::Get { key } => value_of(self.data.get(key)),
        };
        self.remember(index, cmd.client_id, cmd.seq, reply.clone());
        reply
    }

    fn remember(&mut self, index: u64, client_id: u64, seq: u64, reply: KvReply) {
        if let Some(old) = self.sessions.insert(client_id, Session { seq, reply, last_index: index }) {
            self.by_age.remove(&old.last_index);
        }
        self.by_age.insert(index, client_id);
        while self.sessions.len() > self.max_sessions {
            let Some(&(age, oldest)) = self.by_age.get_min() else { break };
            self.by_age.remove(&age);
            self.sessions.remove(&oldest);
        }
    }
}

impl StateMachine for KvStore {
    fn apply(&mut self, index: u64, data: &Bytes) -> Vec<u8> {
        let reply = match postcard::from_bytes::<CommandRef<'_>>(data) {
            Ok(cmd) => self.execute(index, cmd),
            Err(_) => KvReply::Malformed,
        };
        postcard::to_allocvec(&reply).unwrap_or_default()
    }

    /// `query` is an [`Op::Get`], postcard-encoded; the answer a
    /// [`KvReply::Value`] (or `Malformed`).
    fn query(&self, query: &[u8]) -> Vec<u8> {
        let reply = match postcard::from_bytes::<OpRef<'_>>(query) {
            Ok(OpRef::Get { key }) => KvReply::Value(self.get(key).map(<[u8]>::to_vec)),
            _ => KvReply::Malformed,
        };
        postcard::to_allocvec(&reply).unwrap_or_default()
    }

    /// O(1): the maps are persistent, so the view shares them and later
    /// applies copy only the paths they change.
    fn snapshot(&self) -> Box<dyn crate::member::snapshot_store::SnapshotSource> {
        Box::new(self.snapshot_view())
    }

    fn restore(&mut self, data: &mut dyn std::io::Read) -> Result<(), String> {
        *self = KvStore::restore_from(data, self.max_sessions()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl crate::member::snapshot_store::SnapshotSource for KvView {
    fn write_to(self: Box<Self>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        KvView::write_to(&self, out).map(drop)
    }
}
