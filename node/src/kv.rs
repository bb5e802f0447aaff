//! The key-value state machine of `node`, with client sessions.
//!
//! Every command in the log names its client (a random id in net's client
//! range) and that client's sequence number. A client has one request
//! outstanding at a time and retries it with the same number, so a session
//! of (last seq, last reply) per client is enough to apply a retried write
//! once: a command whose seq equals the session's gets the stored reply
//! without being applied again, an older one gets [`KvReply::Stale`].
//!
//! Gets go through the log too (that is what makes them linearizable: a
//! get sees every write committed before it was proposed); they need no
//! session entry, since applying a get twice changes nothing.
//!
//! A put's value is kept as a slice of the log entry it came in (the entry's
//! data is reference-counted), so a value lives once in memory, not once in
//! the Raft log and again in the map.
//!
//! Sessions are bounded ([`KvStore::with_max_sessions`], default
//! [`DEFAULT_MAX_SESSIONS`]): past the bound the session used least
//! recently (by log index, so every replica evicts the same one) is
//! forgotten, and a retry from that client after so long would apply again.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::server::StateMachine;

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

impl KvCommand {
    pub fn encode(&self) -> Vec<u8> {
        // Encoding a plain struct of integers, strings and bytes into a Vec
        // cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
struct Session {
    seq: u64,
    reply: KvReply,
    last_index: u64,
}

/// The map and the sessions.
#[derive(Debug, Clone)]
pub struct KvStore {
    /// Values are slices of the entries they were put by.
    data: BTreeMap<String, Bytes>,
    sessions: HashMap<u64, Session>,
    /// Sessions by `last_index`, for eviction.
    by_age: BTreeMap<u64, u64>,
    max_sessions: usize,
}

impl Default for KvStore {
    fn default() -> Self {
        KvStore::with_max_sessions(DEFAULT_MAX_SESSIONS)
    }
}

impl KvStore {
    pub fn with_max_sessions(max_sessions: usize) -> KvStore {
        KvStore { data: BTreeMap::new(), sessions: HashMap::new(), by_age: BTreeMap::new(), max_sessions }
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

    /// Applies the command `cmd`, decoded from `data`, at log `index`.
    fn execute(&mut self, index: u64, cmd: CommandRef<'_>, data: &Bytes) -> KvReply {
        let value_of = |v: Option<&Bytes>| KvReply::Value(v.map(|b| b.to_vec()));
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
                self.data.insert(key.to_owned(), data.slice_ref(value));
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
            let Some((_, oldest)) = self.by_age.pop_first() else { break };
            self.sessions.remove(&oldest);
        }
    }
}

impl StateMachine for KvStore {
    fn apply(&mut self, index: u64, data: &Bytes) -> Vec<u8> {
        let reply = match postcard::from_bytes::<CommandRef<'_>>(data) {
            Ok(cmd) => self.execute(index, cmd, data),
            Err(_) => KvReply::Malformed,
        };
        postcard::to_allocvec(&reply).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client_id: u64, seq: u64, key: &str, value: &str) -> KvCommand {
        let op = Op::Put { key: key.into(), value: value.into() };
        KvCommand { client_id, seq, op }
    }

    /// Applies `cmd` the way the server does: encoded, as an entry's data.
    fn exec(store: &mut KvStore, index: u64, cmd: KvCommand) -> KvReply {
        let reply = store.apply(index, &Bytes::from(cmd.encode()));
        postcard::from_bytes(&reply).unwrap()
    }

    fn get(store: &mut KvStore, index: u64, key: &str) -> KvReply {
        exec(store, index, KvCommand { client_id: 99, seq: 1, op: Op::Get { key: key.into() } })
    }

    #[test]
    fn a_retried_write_is_applied_once() {
        let mut kv = KvStore::default();
        assert_eq!(exec(&mut kv, 1, put(7, 1, "k", "a")), KvReply::Done);
        assert_eq!(exec(&mut kv, 2, put(8, 1, "k", "b")), KvReply::Done);
        // Client 7's retry of seq 1 arrives late: must not overwrite "b".
        assert_eq!(exec(&mut kv, 3, put(7, 1, "k", "a")), KvReply::Done);
        assert_eq!(get(&mut kv, 4, "k"), KvReply::Value(Some(b"b".to_vec())));
    }

    #[test]
    fn an_older_seq_is_stale_and_not_applied() {
        let mut kv = KvStore::default();
        exec(&mut kv, 1, put(7, 2, "k", "new"));
        assert_eq!(exec(&mut kv, 2, put(7, 1, "k", "old")), KvReply::Stale);
        assert_eq!(kv.get("k"), Some(&b"new"[..]));
    }

    #[test]
    fn deletes_and_gets() {
        let mut kv = KvStore::default();
        exec(&mut kv, 1, put(7, 1, "k", "v"));
        exec(&mut kv, 2, put(7, 2, "j", "w"));
        assert_eq!((kv.len(), kv.is_empty()), (2, false));
        let del = KvCommand { client_id: 7, seq: 3, op: Op::Delete { key: "k".into() } };
        assert_eq!(exec(&mut kv, 3, del), KvReply::Done);
        assert_eq!(kv.len(), 1);
        assert_eq!(get(&mut kv, 4, "k"), KvReply::Value(None));
    }

    #[test]
    fn sessions_are_bounded_least_recent_first() {
        let mut kv = KvStore::with_max_sessions(2);
        exec(&mut kv, 1, put(1, 1, "a", "1"));
        exec(&mut kv, 2, put(2, 1, "b", "1"));
        exec(&mut kv, 3, put(1, 2, "a", "2")); // client 1 is now the most recent
        exec(&mut kv, 4, put(3, 1, "c", "1")); // evicts client 2
        assert_eq!(kv.sessions(), 2);
        // Client 1's retry is still recognised.
        assert_eq!(exec(&mut kv, 5, put(1, 2, "a", "changed")), KvReply::Done);
        assert_eq!(kv.get("a"), Some(&b"2"[..]));
    }

    #[test]
    fn a_value_shares_the_entry_it_came_in() {
        let mut kv = KvStore::default();
        let entry = Bytes::from(put(7, 1, "k", "value").encode());
        kv.apply(1, &entry);
        let stored = kv.data.get("k").unwrap();
        assert_eq!(&stored[..], b"value");
        let within = entry.as_ptr_range();
        assert!(within.contains(&stored.as_ptr()), "the value is a slice of the entry, not a copy");
    }

    #[test]
    fn garbage_entries_change_nothing() {
        let mut kv = KvStore::default();
        let reply: KvReply =
            postcard::from_bytes(&kv.apply(1, &Bytes::from_static(&[0xff, 0xff, 0xff]))).unwrap();
        assert_eq!(reply, KvReply::Malformed);
        assert!(kv.is_empty());
    }
}
