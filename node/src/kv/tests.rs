//! The state machine's tests: commands (the sessions, values copied out of
//! their entries) and snapshots (round trips, eviction order, views,
//! refusals of damaged streams).

use std::io::{self, Read, Write};

use bytes::Bytes;
use proptest::prelude::*;

use super::snapshot_format::{Encoder, Header, SessionRecord, MAGIC, MAX_RECORD_BYTES};
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
fn a_value_does_not_share_the_entry_it_came_in() {
    let mut kv = KvStore::default();
    let entry = Bytes::from(put(7, 1, "k", "value").encode());
    kv.apply(1, &entry);
    let stored = kv.data.get("k").unwrap();
    assert_eq!(&stored[..], b"value");
    let within = entry.as_ptr_range();
    assert!(!within.contains(&stored.as_ptr()), "the value is a copy, not a slice of the entry");
    // Nothing in the store holds the entry's buffer: once the log drops
    // it, it is freed.
    assert!(entry.is_unique(), "the store keeps no reference to the entry");
}

#[test]
fn garbage_entries_change_nothing() {
    let mut kv = KvStore::default();
    let reply: KvReply =
        postcard::from_bytes(&kv.apply(1, &Bytes::from_static(&[0xff, 0xff, 0xff]))).unwrap();
    assert_eq!(reply, KvReply::Malformed);
    assert!(kv.is_empty());
}

// Snapshots.

fn delete(client_id: u64, seq: u64, key: &str) -> KvCommand {
    KvCommand { client_id, seq, op: Op::Delete { key: key.into() } }
}

/// The snapshot of `kv` as of now, checking the count `write_to` returns.
fn snapshot(kv: &KvStore) -> Vec<u8> {
    let mut out = Vec::new();
    let written = kv.snapshot_view().write_to(&mut out).unwrap();
    assert_eq!(written, out.len() as u64);
    out
}

fn restore(bytes: &[u8], max_sessions: usize) -> Result<KvStore, KvSnapshotError> {
    KvStore::restore_from(&mut &bytes[..], max_sessions)
}

/// Asserts that `a` and `b` hold the same state, eviction order included.
fn assert_same(a: &KvStore, b: &KvStore) {
    assert_eq!(a, b);
    assert_eq!(a.by_age, b.by_age, "the same sessions are evicted next");
    assert_eq!(a.digest(), b.digest());
}

/// Keys and values of many lengths, deletes, sessions of 40 clients, more
/// than `max_sessions` of them.
fn busy_store(keys: u64, max_sessions: usize) -> KvStore {
    let mut kv = KvStore::with_max_sessions(max_sessions);
    let mut seqs = [0u64; 40];
    for i in 0..keys {
        let client = (i * 7) % 40;
        seqs[client as usize] += 1;
        let seq = seqs[client as usize];
        let key = format!("key-{:05}", (i * 7919) % (keys.max(1) * 2));
        let cmd = if i % 11 == 10 {
            delete(client + 1, seq, &format!("key-{:05}", (i * 31) % (keys.max(1) * 2)))
        } else {
            let value: String = (0..(i % 300)).map(|j| char::from(b'a' + ((i + j) % 26) as u8)).collect();
            put(client + 1, seq, &key, &value)
        };
        exec(&mut kv, i + 1, cmd);
    }
    exec(&mut kv, keys + 1, put(100, 1, "", "the empty key"));
    exec(&mut kv, keys + 2, put(101, 1, "clé ünïcode ✓", ""));
    kv
}

/// A stream of `records` between the magic bytes and a trailer with the
/// right digest: for streams that only their content makes wrong.
fn craft(records: impl FnOnce(&mut Encoder<&mut Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out);
    encoder.magic().unwrap();
    records(&mut encoder).unwrap();
    let digest = encoder.digest();
    encoder.trailer(digest).unwrap();
    out
}

fn header(entries: u64, sessions: u64) -> Header {
    Header { version: SNAPSHOT_VERSION, entries, sessions }
}

fn session(client_id: u64, last_index: u64) -> SessionRecord<'static> {
    SessionRecord { client_id, seq: 1, last_index, reply: &KvReply::Done }
}

#[test]
fn an_empty_store_round_trips() {
    let kv = KvStore::default();
    let bytes = snapshot(&kv);
    let restored = restore(&bytes, 5).unwrap();
    assert_same(&kv, &restored);
    assert!(restored.is_empty());
    assert_eq!((restored.sessions(), restored.max_sessions()), (0, 5));
}

#[test]
fn many_keys_and_sessions_round_trip() {
    let kv = busy_store(3_000, 25);
    assert!(kv.len() > 1_000);
    assert_eq!(kv.sessions(), 25);
    let bytes = snapshot(&kv);
    let restored = restore(&bytes, 25).unwrap();
    assert_same(&kv, &restored);
    assert_eq!(restored.get(""), Some(&b"the empty key"[..]));
    assert_eq!(restored.get("clé ünïcode ✓"), Some(&b""[..]));
    for (key, value) in kv.data.iter() {
        assert_eq!(restored.get(key), Some(&value[..]));
    }
    // The same state writes the same bytes.
    assert_eq!(snapshot(&restored), bytes);
}

#[test]
fn every_kind_of_stored_reply_round_trips() {
    let mut kv = KvStore::default();
    kv.remember(1, 1, 3, KvReply::Done);
    kv.remember(2, 2, 3, KvReply::Value(None));
    kv.remember(3, 3, 3, KvReply::Value(Some(b"stored".to_vec())));
    kv.remember(4, 4, 3, KvReply::Value(Some(Vec::new())));
    kv.remember(5, 5, 3, KvReply::Stale);
    kv.remember(6, 6, 3, KvReply::Malformed);
    let restored = restore(&snapshot(&kv), DEFAULT_MAX_SESSIONS).unwrap();
    assert_same(&kv, &restored);
    assert_eq!(restored.sessions.get(&3).unwrap().reply, KvReply::Value(Some(b"stored".to_vec())));
}

#[test]
fn eviction_order_is_preserved() {
    let mut kv = KvStore::with_max_sessions(3);
    exec(&mut kv, 1, put(1, 1, "a", "1"));
    exec(&mut kv, 2, put(2, 1, "b", "1"));
    exec(&mut kv, 3, put(3, 1, "c", "1"));
    exec(&mut kv, 4, put(1, 2, "a", "2")); // least recent first: 2, 3, 1
    let mut restored = restore(&snapshot(&kv), 3).unwrap();
    assert_same(&kv, &restored);
    for store in [&mut kv, &mut restored] {
        exec(store, 5, put(4, 1, "d", "1")); // evicts client 2
        assert!(!store.sessions.contains_key(&2));
        assert!(store.sessions.contains_key(&3));
    }
    assert_same(&kv, &restored);
    for store in [&mut kv, &mut restored] {
        exec(store, 6, put(5, 1, "e", "1")); // then client 3
        assert!(!store.sessions.contains_key(&3));
        assert!(store.sessions.contains_key(&1));
    }
    assert_same(&kv, &restored);
}

#[test]
fn restoring_with_fewer_sessions_keeps_the_most_recent() {
    let mut kv = KvStore::with_max_sessions(10);
    for client in 1..=6 {
        exec(&mut kv, client, put(client, 1, "k", "v"));
    }
    let restored = restore(&snapshot(&kv), 2).unwrap();
    let mut kept: Vec<u64> = restored.sessions.keys().copied().collect();
    kept.sort();
    assert_eq!(kept, [5, 6]);
    assert_eq!(restored.by_age.len(), 2);
    assert_eq!(restored.max_sessions(), 2);
}

#[test]
fn a_retried_write_after_restore_is_still_deduplicated() {
    let mut kv = KvStore::default();
    exec(&mut kv, 1, put(7, 1, "k", "a"));
    exec(&mut kv, 2, put(8, 1, "k", "b"));
    let mut restored = restore(&snapshot(&kv), DEFAULT_MAX_SESSIONS).unwrap();
    // Client 7's retry of seq 1 arrives after the restore: must not
    // overwrite "b", and gets the reply it would have had.
    assert_eq!(exec(&mut restored, 3, put(7, 1, "k", "a")), KvReply::Done);
    assert_eq!(restored.get("k"), Some(&b"b"[..]));
    exec(&mut restored, 4, put(7, 2, "k", "c"));
    assert_eq!(exec(&mut restored, 5, put(7, 1, "k", "a")), KvReply::Stale);
    assert_eq!(restored.get("k"), Some(&b"c"[..]));
}

#[test]
fn a_view_is_unaffected_by_later_writes() {
    let mut kv = busy_store(500, 10);
    let view = kv.snapshot_view();
    let (bytes, digest, len) = (snapshot(&kv), kv.digest(), kv.len());
    let old = kv.get("key-00000").map(<[u8]>::to_vec);
    // Writes, deletes, new sessions (evicting old ones) after the view.
    exec(&mut kv, 10_001, put(500, 1, "key-00000", "changed"));
    exec(&mut kv, 10_002, delete(501, 1, "key-00007"));
    for i in 0..20 {
        exec(&mut kv, 10_003 + i, put(600 + i, 1, &format!("new-{i}"), "x"));
    }
    assert_ne!(kv.digest(), digest);
    assert_eq!(view.get("key-00000").map(<[u8]>::to_vec), old);
    assert_eq!(view.len(), len);
    assert_eq!(view.digest(), digest);
    // Written out on another thread while the store goes on.
    let writer = std::thread::spawn(move || {
        let mut out = Vec::new();
        view.write_to(&mut out).unwrap();
        out
    });
    for i in 0..200 {
        exec(&mut kv, 20_000 + i, put(700, i + 1, &format!("key-{:05}", i * 3), "later"));
    }
    assert_eq!(writer.join().unwrap(), bytes);
}

#[test]
fn a_view_is_send_and_static() {
    fn send_static<T: Send + 'static>() {}
    send_static::<KvView>();
    send_static::<KvStore>();
}

#[test]
fn the_digest_is_stable_and_tells_states_apart() {
    let mut kv = KvStore::default();
    exec(&mut kv, 1, put(1, 1, "a", "1"));
    exec(&mut kv, 2, put(2, 1, "b", "22"));
    exec(&mut kv, 3, delete(1, 2, "a"));
    // Pinned: the same state hashes the same in every process and build; a
    // change here is a change of the snapshot format (bump its version).
    assert_eq!(kv.digest(), 0x0198_1d56_f9b6_bbea);
    assert_eq!(kv.snapshot_view().digest(), kv.digest());

    let mut other = kv.clone();
    exec(&mut other, 4, put(2, 2, "b", "23"));
    assert_ne!(other.digest(), kv.digest(), "a value");
    let mut other = kv.clone();
    other.remember(4, 3, 1, KvReply::Done);
    assert_ne!(other.digest(), kv.digest(), "a session");
    let mut other = KvStore::default();
    exec(&mut other, 1, put(2, 1, "b", "22"));
    exec(&mut other, 2, put(1, 1, "a", "1"));
    exec(&mut other, 3, delete(1, 2, "a"));
    assert_eq!(other.data, kv.data);
    assert_ne!(other, kv, "the same keys, but sessions last used at other indices");
    assert_ne!(other.digest(), kv.digest(), "and so evicted in another order");
}

#[test]
fn a_truncated_snapshot_is_refused_at_every_length() {
    let mut kv = KvStore::default();
    exec(&mut kv, 1, put(1, 1, "a", "one"));
    exec(&mut kv, 2, put(2, 1, "bb", "two"));
    exec(&mut kv, 3, put(1, 2, "a", "uno"));
    let bytes = snapshot(&kv);
    assert_same(&restore(&bytes, 10).unwrap(), &kv);
    for len in 0..bytes.len() {
        match restore(&bytes[..len], 10) {
            Err(KvSnapshotError::Truncated { .. }) => {}
            other => panic!("{len} of {} bytes: {other:?}", bytes.len()),
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = snapshot(&busy_store(10, 5));
    bytes.push(0);
    assert!(matches!(restore(&bytes, 5), Err(KvSnapshotError::TrailingBytes)));
}

#[test]
fn every_single_byte_change_is_refused() {
    let mut kv = KvStore::default();
    exec(&mut kv, 1, put(1, 1, "a", "one"));
    exec(&mut kv, 2, put(2, 1, "bb", "two"));
    let bytes = snapshot(&kv);
    for i in 0..bytes.len() {
        for flip in [0x01, 0x40, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= flip;
            assert!(restore(&damaged, 10).is_err(), "byte {i} ^ {flip:#x} accepted");
        }
    }
}

#[test]
fn a_bad_magic_or_version_is_named() {
    let mut bytes = snapshot(&KvStore::default());
    bytes[0] ^= 1;
    assert!(matches!(restore(&bytes, 1), Err(KvSnapshotError::BadMagic)));
    let bytes = craft(|e| e.record(&Header { version: 2, entries: 0, sessions: 0 }));
    assert!(matches!(restore(&bytes, 1), Err(KvSnapshotError::UnsupportedVersion { found: 2 })));
    // A later version's header may differ past the version.
    let bytes = craft(|e| e.record(&(7u32, "another layout")));
    let err = restore(&bytes, 1).unwrap_err();
    assert!(matches!(err, KvSnapshotError::UnsupportedVersion { found: 7 }));
    assert_eq!(err.to_string(), "snapshot format version 7 is not supported (this build reads version 1)");
}

#[test]
fn lengths_above_the_bounds_are_refused_before_reading() {
    // A header that claims a huge record: refused from its length alone.
    let mut bytes = MAGIC.to_vec();
    bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    match restore(&bytes, 1) {
        Err(KvSnapshotError::RecordTooLong { part: SnapshotSection::Header, len, max }) => {
            assert_eq!((len, max), (u64::from(u32::MAX), MAX_RECORD_BYTES));
        }
        other => panic!("{other:?}"),
    }
    let mut bytes = MAGIC.to_vec();
    bytes.extend([0xff; 9]);
    bytes.push(0x01);
    assert!(matches!(restore(&bytes, 1), Err(KvSnapshotError::RecordTooLong { len: u64::MAX, .. })));
    let mut bytes = MAGIC.to_vec();
    bytes.extend([0xff; 10]);
    assert!(matches!(
        restore(&bytes, 1),
        Err(KvSnapshotError::Malformed { part: SnapshotSection::Header, .. })
    ));

    let long = "k".repeat(MAX_KEY_BYTES + 1);
    let bytes = craft(|e| {
        e.record(&header(1, 0))?;
        e.record(&(long.as_str(), Bytes::new()))
    });
    match restore(&bytes, 1) {
        Err(KvSnapshotError::KeyTooLong { part: SnapshotSection::Entry(0), len, .. }) => {
            assert_eq!(len, MAX_KEY_BYTES + 1)
        }
        other => panic!("{other:?}"),
    }
    let long = Bytes::from(vec![0; MAX_VALUE_BYTES + 1]);
    let bytes = craft(|e| {
        e.record(&header(2, 0))?;
        e.record(&("a", Bytes::new()))?;
        e.record(&("b", long))
    });
    assert!(matches!(
        restore(&bytes, 1),
        Err(KvSnapshotError::ValueTooLong { part: SnapshotSection::Entry(1), .. })
    ));
}

#[test]
fn a_value_above_the_bound_is_not_written() {
    let mut kv = KvStore::default();
    kv.data.insert("big".into(), vec![0; MAX_VALUE_BYTES + 1].into());
    let err = kv.snapshot_view().write_to(&mut io::sink()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_ne!(kv.digest(), KvStore::default().digest());
}

#[test]
fn duplicate_and_unordered_records_are_refused() {
    let duplicate_key = craft(|e| {
        e.record(&header(2, 0))?;
        e.record(&("a", Bytes::new()))?;
        e.record(&("a", Bytes::from_static(b"again")))
    });
    match restore(&duplicate_key, 1) {
        Err(err @ KvSnapshotError::DuplicateKey { part: SnapshotSection::Entry(1), .. }) => {
            assert_eq!(err.to_string(), "key/value record 1 repeats the key \"a\"");
        }
        other => panic!("{other:?}"),
    }
    let unordered = craft(|e| {
        e.record(&header(2, 0))?;
        e.record(&("b", Bytes::new()))?;
        e.record(&("a", Bytes::new()))
    });
    assert!(matches!(
        restore(&unordered, 1),
        Err(KvSnapshotError::KeyOutOfOrder { part: SnapshotSection::Entry(1), .. })
    ));
    let duplicate_session = craft(|e| {
        e.record(&header(0, 3))?;
        e.record(&session(1, 1))?;
        e.record(&session(2, 2))?;
        e.record(&session(1, 3))
    });
    // Refused even when the first of the two would have been evicted.
    assert!(matches!(
        restore(&duplicate_session, 1),
        Err(KvSnapshotError::DuplicateSession { part: SnapshotSection::Session(2), client_id: 1 })
    ));
    let unordered = craft(|e| {
        e.record(&header(0, 2))?;
        e.record(&session(1, 5))?;
        e.record(&session(2, 5))
    });
    assert!(matches!(
        restore(&unordered, 10),
        Err(KvSnapshotError::SessionOutOfOrder {
            part: SnapshotSection::Session(1),
            last_index: 5,
            previous: 5
        })
    ));
}

#[test]
fn malformed_records_are_named() {
    let not_utf8 = craft(|e| {
        e.record(&header(1, 0))?;
        e.record(&(Bytes::from_static(&[0xff, 0xfe]), Bytes::new()))
    });
    let err = restore(&not_utf8, 1).unwrap_err();
    assert!(matches!(err, KvSnapshotError::Malformed { part: SnapshotSection::Entry(0), .. }), "{err:?}");
    let left_over = craft(|e| {
        e.record(&header(0, 1))?;
        e.record(&(1u64, 1u64, 1u64, &KvReply::Done, 9u8))
    });
    match restore(&left_over, 1) {
        Err(KvSnapshotError::Malformed { part: SnapshotSection::Session(0), reason }) => {
            assert!(reason.contains("left over"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let bad_reply = craft(|e| {
        e.record(&header(0, 1))?;
        e.record(&(1u64, 1u64, 1u64, 9u8))
    });
    assert!(matches!(restore(&bad_reply, 1), Err(KvSnapshotError::Malformed { .. })));
}

#[test]
fn a_wrong_digest_is_refused() {
    let kv = busy_store(50, 5);
    let bytes = snapshot(&kv);
    let trailer = |digest: u64| {
        let mut out = Vec::new();
        Encoder::new(&mut out).trailer(digest).unwrap();
        out
    };
    let right = trailer(kv.digest());
    assert!(bytes.ends_with(&right), "the trailer holds the state's digest");
    let mut damaged = bytes[..bytes.len() - right.len()].to_vec();
    damaged.extend(trailer(12345));
    match restore(&damaged, 5) {
        Err(KvSnapshotError::DigestMismatch { expected, actual }) => {
            assert_eq!((expected, actual), (12345, kv.digest()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn read_errors_are_passed_on() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    match KvStore::restore_from(&mut Failing, 1) {
        Err(err @ KvSnapshotError::Io { part: SnapshotSection::Magic, .. }) => {
            assert_eq!(err.to_string(), "reading the magic bytes: disk on fire");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn write_errors_are_passed_on() {
    /// Takes its count of bytes more, then fails.
    struct Full(usize);
    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let view = busy_store(2_000, 10).snapshot_view();
    let mut all = Vec::new();
    let len = view.write_to(&mut all).unwrap() as usize;
    assert!(len > 200_000);
    for room in [0, 100, 70_000, len - 1] {
        let err = view.write_to(&mut Full(room)).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }
    assert_eq!(view.write_to(&mut Full(len)).unwrap() as usize, len);
}

#[test]
fn a_reader_giving_one_byte_at_a_time_is_enough() {
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else { return Ok(0) };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }
    let kv = busy_store(200, 8);
    let bytes = snapshot(&kv);
    assert_same(&KvStore::restore_from(&mut Trickle(&bytes), 8).unwrap(), &kv);
}

/// One command of a random history: client, key, value (none: a delete),
/// how far its seq lags behind the newest (a retry or a stale command).
type Command = (u64, u8, Option<Vec<u8>>, u64);

fn command() -> impl Strategy<Value = Command> {
    (0..6u64, 0..12u8, prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..20)), 0..3u64)
}

/// Applies `history` from log index `first`; returns the replies.
fn apply_history(kv: &mut KvStore, first: u64, history: &[Command]) -> Vec<KvReply> {
    let mut replies = Vec::new();
    for (i, (client, key, value, lag)) in history.iter().enumerate() {
        let index = first + i as u64;
        let seq = (1 + index / 2).saturating_sub(*lag);
        let key = format!("k{key}");
        let op = match value {
            Some(value) => Op::Put { key: key.clone(), value: value.clone() },
            None => Op::Delete { key: key.clone() },
        };
        replies.push(exec(kv, index, KvCommand { client_id: *client, seq, op }));
        replies.push(get(kv, index, &key));
    }
    replies
}

proptest! {
    #[test]
    fn garbage_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(restore(&bytes, 4).is_err());
        let mut after_magic = MAGIC.to_vec();
        after_magic.extend(&bytes);
        prop_assert!(restore(&after_magic, 4).is_err());
    }

    #[test]
    fn any_change_to_a_snapshot_is_refused(
        history in prop::collection::vec(command(), 1..40),
        at in any::<prop::sample::Index>(),
        xor in 1..=255u8,
    ) {
        let mut kv = KvStore::with_max_sessions(4);
        apply_history(&mut kv, 1, &history);
        let mut bytes = snapshot(&kv);
        let at = at.index(bytes.len());
        bytes[at] ^= xor;
        prop_assert!(restore(&bytes, 4).is_err());
    }

    /// A restored replica behaves as the original from then on: same
    /// replies, same evictions, same state.
    #[test]
    fn a_restored_store_goes_on_as_the_original(
        before in prop::collection::vec(command(), 0..40),
        after in prop::collection::vec(command(), 0..40),
    ) {
        let mut kv = KvStore::with_max_sessions(4);
        apply_history(&mut kv, 1, &before);
        let mut restored = restore(&snapshot(&kv), 4).unwrap();
        assert_same(&kv, &restored);
        let first = before.len() as u64 + 1;
        let replies = apply_history(&mut kv, first, &after);
        prop_assert_eq!(apply_history(&mut restored, first, &after), replies);
        assert_same(&kv, &restored);
    }
}
