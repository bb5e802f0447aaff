//! What a snapshot of the key-value state machine costs the event loop:
//! 100,000 keys of 100-byte values and 10,000 sessions.
//!
//! `nice cargo bench -p node --bench kv_snapshot`
//!
//! - `view/plain std clone`: cloning the maps as `KvStore` held them before
//!   snapshots (`BTreeMap<String, Bytes>`, `HashMap` of sessions,
//!   `BTreeMap` by age), the stall a snapshot by clone would cost;
//! - `view/snapshot_view`: [`KvStore::snapshot_view`] on persistent maps;
//! - `view/first put after a view`: the copy-on-write a view makes the next
//!   write pay;
//! - `insert/*`: what the persistent map costs every put (no view alive),
//!   against the `BTreeMap` it replaced: 1,000 overwrites spread over the
//!   100,000 keys;
//! - `stream/*`: writing the view out and reading it back (off the event
//!   loop), and the state digest.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use node::kv::{KvCommand, KvReply, KvStore, Op, DEFAULT_MAX_SESSIONS};
use node::member::StateMachine;

const KEYS: u64 = 100_000;
const VALUE_BYTES: usize = 100;
const CLIENTS: u64 = DEFAULT_MAX_SESSIONS as u64;

fn key(i: u64) -> String {
    format!("key-{i:08}")
}

fn value(i: u64) -> Vec<u8> {
    vec![i as u8; VALUE_BYTES]
}

fn put(index: u64, i: u64) -> Bytes {
    let op = Op::Put { key: key(i), value: value(i) };
    Bytes::from(KvCommand { client_id: index % CLIENTS + 1, seq: index / CLIENTS + 1, op }.encode())
}

/// 100k puts through `apply`, from 10k clients: 100k keys, 10k sessions.
fn store() -> KvStore {
    let mut kv = KvStore::default();
    for i in 0..KEYS {
        kv.apply(i + 1, &put(i, i));
    }
    assert_eq!((kv.len(), kv.sessions()), (KEYS as usize, DEFAULT_MAX_SESSIONS));
    kv
}

/// The same state in the layout of `KvStore` before snapshots.
struct Plain {
    data: BTreeMap<String, Bytes>,
    sessions: HashMap<u64, (u64, KvReply, u64)>,
    by_age: BTreeMap<u64, u64>,
}

fn plain() -> Plain {
    let mut plain = Plain { data: BTreeMap::new(), sessions: HashMap::new(), by_age: BTreeMap::new() };
    for i in 0..KEYS {
        plain.data.insert(key(i), Bytes::copy_from_slice(&value(i)));
    }
    for index in KEYS - CLIENTS..KEYS {
        let client = index % CLIENTS + 1;
        plain.sessions.insert(client, (index / CLIENTS + 1, KvReply::Done, index + 1));
        plain.by_age.insert(index + 1, client);
    }
    plain
}

fn view(c: &mut Criterion) {
    let kv = store();
    let plain = plain();
    let mut group = c.benchmark_group("view");
    group.bench_function("plain std clone", |b| {
        b.iter_with_large_drop(|| {
            let p = black_box(&plain);
            (p.data.clone(), p.sessions.clone(), p.by_age.clone())
        })
    });
    group.bench_function("snapshot_view", |b| b.iter_with_large_drop(|| black_box(&kv).snapshot_view()));
    let entry = put(KEYS, KEYS / 2);
    group.bench_function("first put after a view", |b| {
        b.iter_batched(
            || (kv.clone(), kv.snapshot_view()),
            |(mut store, view)| {
                store.apply(KEYS + 1, &entry);
                (store, view)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn insert(c: &mut Criterion) {
    let mut plain = plain().data;
    let mut ord: imbl::OrdMap<String, Bytes> = plain.clone().into_iter().collect();
    let value = Bytes::copy_from_slice(&value(7));
    let keys: Vec<String> = (0..1_000).map(|i| key(i * 7_919 % KEYS)).collect();
    let mut group = c.benchmark_group("insert");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("std BTreeMap", |b| {
        b.iter(|| {
            for k in &keys {
                plain.insert(k.clone(), value.clone());
            }
        })
    });
    group.bench_function("imbl OrdMap", |b| {
        b.iter(|| {
            for k in &keys {
                ord.insert(k.clone(), value.clone());
            }
        })
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    let kv = store();
    let view = kv.snapshot_view();
    let mut bytes = Vec::new();
    view.write_to(&mut bytes).unwrap();
    let mut group = c.benchmark_group("stream");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("write_to", |b| b.iter(|| view.write_to(&mut std::io::sink()).unwrap()));
    group.bench_function("restore_from", |b| {
        b.iter_with_large_drop(|| KvStore::restore_from(&mut &bytes[..], DEFAULT_MAX_SESSIONS).unwrap())
    });
    group.bench_function("digest", |b| b.iter(|| kv.digest()));
    group.finish();
}

criterion_group!(benches, view, insert, stream);
criterion_main!(benches);
