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
//! Sessions are bounded ([`KvStore::with_max_sessions`], default
//! [`DEFAULT_MAX_SESSIONS`]): past the bound the session used least
//! recently (by log index, so every replica evicts the same one) is
//! forgotten, and a retry from that client after so long would apply again.

use std::collections::{BTreeMap, HashMap};

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
    data: BTreeMap<String, Vec<u8>>,
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
        self.data.get(key).map(Vec::as_slice)
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

    /// Applies one decoded command at log `index`.
    pub fn execute(&mut self, index: u64, cmd: KvCommand) -> KvReply {
        if let Op::Get { key } = &cmd.op {
            return KvReply::Value(self.data.get(key).cloned());
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
            Op::Put { key, value } => {
                self.data.insert(key, value);
                KvReply::Done
            }
            Op::Delete { key } => {
                self.data.remove(&key);
                KvReply::Done
            }
            Op::Get { key } => KvReply::Value(self.data.get(&key).cloned()),
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
    fn apply(&mut self, index: u64, data: &[u8]) -> Vec<u8> {
        let reply = match postcard::from_bytes::<KvCommand>(data) {
            Ok(cmd) => self.execute(index, cmd),
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

    fn get(store: &mut KvStore, index: u64, key: &str) -> KvReply {
        store.execute(index, KvCommand { client_id: 99, seq: 1, op: Op::Get { key: key.into() } })
    }

    #[test]
    fn a_retried_write_is_applied_once() {
        let mut kv = KvStore::default();
        assert_eq!(kv.execute(1, put(7, 1, "k", "a")), KvReply::Done);
        assert_eq!(kv.execute(2, put(8, 1, "k", "b")), KvReply::Done);
        // Client 7's retry of seq 1 arrives late: must not overwrite "b".
        assert_eq!(kv.execute(3, put(7, 1, "k", "a")), KvReply::Done);
        assert_eq!(get(&mut kv, 4, "k"), KvReply::Value(Some(b"b".to_vec())));
    }

    #[test]
    fn an_older_seq_is_stale_and_not_applied() {
        let mut kv = KvStore::default();
        kv.execute(1, put(7, 2, "k", "new"));
        assert_eq!(kv.execute(2, put(7, 1, "k", "old")), KvReply::Stale);
        assert_eq!(kv.get("k"), Some(&b"new"[..]));
    }

    #[test]
    fn deletes_and_gets() {
        let mut kv = KvStore::default();
        kv.execute(1, put(7, 1, "k", "v"));
        let del = KvCommand { client_id: 7, seq: 2, op: Op::Delete { key: "k".into() } };
        assert_eq!(kv.execute(2, del), KvReply::Done);
        assert_eq!(get(&mut kv, 3, "k"), KvReply::Value(None));
    }

    #[test]
    fn sessions_are_bounded_least_recent_first() {
        let mut kv = KvStore::with_max_sessions(2);
        kv.execute(1, put(1, 1, "a", "1"));
        kv.execute(2, put(2, 1, "b", "1"));
        kv.execute(3, put(1, 2, "a", "2")); // client 1 is now the most recent
        kv.execute(4, put(3, 1, "c", "1")); // evicts client 2
        assert_eq!(kv.sessions(), 2);
        // Client 1's retry is still recognised.
        assert_eq!(kv.execute(5, put(1, 2, "a", "changed")), KvReply::Done);
        assert_eq!(kv.get("a"), Some(&b"2"[..]));
    }

    #[test]
    fn garbage_entries_change_nothing() {
        let mut kv = KvStore::default();
        let reply: KvReply = postcard::from_bytes(&kv.apply(1, &[0xff, 0xff, 0xff])).unwrap();
        assert_eq!(reply, KvReply::Malformed);
        assert!(kv.is_empty());
    }
}
