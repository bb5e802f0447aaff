//! The reassembly bound is on what reassembly allocates: adversarial
//! fragment floods (1-byte fragments claiming the most fragments, many ids,
//! many peers, duplicates, inconsistent counts) never take the charge past
//! the bound; the charge is released exactly on completion and expiry; and
//! the heap really held stays within the charge (a counting allocator).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::{addrs, config};
use net::reassembly::{Inserted, MessageKey, Reassembly, ReassemblyLimits, ALLOC_OVERHEAD};
use net::wire::{self, Frame, Header, FLAG_DATA, FRAGMENT_BYTES};
use net::{Config, Endpoint, CLIENT_ID_MIN};
use proptest::prelude::*;

const SECOND: u64 = 1_000_000;

/// Counts the heap bytes and allocations live on the current thread, so
/// tests running in parallel do not disturb each other.
struct Counting;

thread_local! {
    static HEAP: Cell<(isize, isize)> = const { Cell::new((0, 0)) };
}

fn track(bytes: isize, allocations: isize) {
    let _ = HEAP.try_with(|h| {
        let (b, a) = h.get();
        h.set((b + bytes, a + allocations));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize, 1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize, 0);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap in use on this thread, each allocation costed at its size plus the
/// overhead the reassembly's charge assumes.
fn heap() -> isize {
    let (bytes, allocations) = HEAP.with(Cell::get);
    bytes + allocations * ALLOC_OVERHEAD as isize
}

fn limits(max_bytes: usize, max_fragments: usize) -> ReassemblyLimits {
    ReassemblyLimits { max_bytes, max_fragments, timeout_us: SECOND }
}

/// Inserts and checks, after each insert, the charge against the bound,
/// against its recomputation, and against the heap really held.
struct Checked {
    r: Reassembly,
    base: isize,
}

impl Checked {
    fn new(limits: ReassemblyLimits) -> Checked {
        let base = heap();
        Checked { r: Reassembly::new(limits), base }
    }

    fn insert(&mut self, now_us: u64, key: MessageKey, index: u16, count: u16, data: &[u8]) -> Inserted {
        // A completed message is the caller's, not the reassembly's: drop
        // it before the heap is counted.
        let got = match self.r.insert(now_us, key, index, count, data) {
            Inserted::Complete(_) => Inserted::Complete(Vec::new()),
            other => other,
        };
        self.check();
        got
    }

    fn expire(&mut self, now_us: u64) -> usize {
        let n = self.r.expire(now_us);
        self.check();
        n
    }

    fn check(&self) {
        let charged = self.r.bytes_charged();
        assert!(charged <= self.r.limits().max_bytes, "{charged} over {:?}", self.r.limits());
        assert_eq!(charged, self.r.recomputed_charge());
        let held = heap() - self.base;
        assert!(held <= charged as isize, "heap {held} over the charge {charged}");
        if self.r.incomplete() == 0 {
            assert_eq!((charged, held), (0, 0));
        }
    }
}

#[test]
fn one_byte_fragments_claiming_the_most_fragments_stay_within_the_bound() {
    // (fragments claimed, messages sent): several times what fits.
    for (max_fragments, flood) in [(u16::MAX as usize, 20), (1024, 500), (2, 10_000)] {
        let mut c = Checked::new(limits(4 << 20, max_fragments));
        let count = max_fragments as u16;
        let mut full = 0;
        for id in 0..flood {
            match c.insert(0, (1, 1, id), count - 1, count, &[0xAA]) {
                Inserted::Stored => {}
                Inserted::Full => full += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(full > 0, "the bound was never reached with {max_fragments} fragments");
        assert_eq!(c.expire(SECOND), flood as usize - full);
        assert_eq!(c.r.bytes_charged(), 0);
    }
}

#[test]
fn many_senders_duplicates_and_inconsistent_counts_stay_within_the_bound() {
    let mut c = Checked::new(limits(1 << 20, 1024));
    for round in 0..3u16 {
        for from in 0..500u64 {
            let key = (from, 1, u64::from(round % 2));
            // The same fragment again, the same message with another count,
            // an index past the count: none may add to the charge.
            let first = c.insert(0, key, round, 64, &[round as u8; 100]);
            assert!(matches!(first, Inserted::Stored | Inserted::Duplicate | Inserted::Full), "{first:?}");
            let before = c.r.bytes_charged();
            assert!(matches!(c.insert(0, key, round, 64, &[9; 100]), Inserted::Duplicate | Inserted::Full));
            assert!(matches!(c.insert(0, key, 0, 65, &[9; 3]), Inserted::Inconsistent | Inserted::Full));
            assert_eq!(c.insert(0, key, 64, 64, &[9]), Inserted::Inconsistent);
            assert_eq!(c.insert(0, key, 0, 1025, &[9]), Inserted::TooManyFragments);
            assert_eq!(c.r.bytes_charged(), before);
        }
    }
    c.expire(SECOND);
    assert_eq!(c.r.incomplete(), 0);
}

#[test]
fn completion_releases_exactly_what_was_charged() {
    let msg: Vec<u8> = (0..10 * FRAGMENT_BYTES as u32 + 7).map(|i| i as u8).collect();
    let parts: Vec<&[u8]> = msg.chunks(FRAGMENT_BYTES).collect();
    let count = parts.len() as u16;
    let mut c = Checked::new(limits(8 << 20, 1024));
    for id in 0..200u64 {
        for (i, part) in parts.iter().enumerate().rev().skip(1) {
            assert_eq!(c.insert(0, (7, 1, id), i as u16, count, part), Inserted::Stored);
        }
    }
    for id in 0..200u64 {
        assert_eq!(
            c.r.insert(0, (7, 1, id), count - 1, count, parts[count as usize - 1]),
            Inserted::Complete(msg.clone())
        );
        c.check();
    }
    assert_eq!((c.r.bytes_charged(), c.r.incomplete()), (0, 0));
}

#[derive(Debug, Clone)]
enum Op {
    Insert { from: u64, id: u64, index: u16, count: u16, len: usize },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u64..4, 0u64..16, 0u16..8, 1u16..8, 0usize..1100)
            .prop_map(|(from, id, index, count, len)| Op::Insert { from, id, index, count, len }),
        1 => (0u64..2 * SECOND).prop_map(Op::Advance),
        1 => (1u16..=u16::MAX, 0u64..1000).prop_map(|(count, id)| Op::Insert { from: 9, id, index: count - 1, count, len: 1 }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random inserts and expiries: the charge never passes the bound, it
    /// always equals its recomputation, the heap stays within it, and it is
    /// 0 whenever nothing is held.
    #[test]
    fn the_charge_stays_within_the_bound_and_returns_to_zero(
        max_bytes in 0usize..200_000, max_fragments in 1usize..=65_535, ops in prop::collection::vec(op(), 1..300),
    ) {
        let mut c = Checked::new(limits(max_bytes, max_fragments));
        let data = [0x5Au8; 1100];
        let mut now = 0;
        for op in &ops {
            match *op {
                Op::Insert { from, id, index, count, len } => {
                    let _ = c.insert(now, (from, 1, id), index, count, &data[..len]);
                }
                Op::Advance(dt) => {
                    now += dt;
                    c.expire(now);
                }
            }
        }
        c.expire(now + SECOND);
        prop_assert_eq!((c.r.bytes_charged(), c.r.incomplete()), (0, 0));
    }
}

/// A data datagram from `from` to node 2 carrying fragment `index` of
/// `count` of message `msg_id`.
fn fragment_datagram(from: u64, msg_id: u64, index: u16, count: u16, data: &[u8]) -> Vec<u8> {
    let header = Header {
        flags: FLAG_DATA,
        cluster_id: 42,
        from,
        to: 2,
        from_boot: 0xB007,
        ack_boot: 0,
        msg_id,
        low_watermark: 1,
        frag_index: index,
        frag_count: count,
    };
    wire::encode(&Frame { header, acks: &[], data }, 0)
}

#[test]
fn an_endpoint_flooded_with_fragments_claiming_the_most_fragments_stays_within_its_bound() {
    let bound = 4 << 20;
    let receiver = |max_message_bytes| Config { reassembly_bytes: bound, max_message_bytes, ..config(2, 2) };
    // Messages of up to 64 MiB may have 65,535 fragments.
    let mut b = Endpoint::new(receiver(u16::MAX as usize * FRAGMENT_BYTES)).unwrap();
    for id in 1..=5_000 {
        b.handle_datagram(0, addrs(2)[&1], &fragment_datagram(1, id, 0, u16::MAX, &[1]));
        assert!(b.reassembly_held().0 <= bound);
    }
    let held = b.reassembly_held();
    assert_eq!(held.0, b.reassembly().recomputed_charge());
    assert_eq!(b.counters().drops.queue_full, 5_000 - held.1 as u64);
    assert!(held.1 < 5, "{held:?}");
    b.handle_timeout(b.config().reassembly_timeout_us);
    assert_eq!(b.reassembly_held(), (0, 0));

    // With the default 1 MiB messages, a claim of 65,535 fragments is a lie
    // and is refused before anything is allocated.
    let mut b = Endpoint::new(receiver(1 << 20)).unwrap();
    for id in 1..=100 {
        b.handle_datagram(0, addrs(2)[&1], &fragment_datagram(1, id, 5, u16::MAX, &[1]));
    }
    assert_eq!((b.counters().drops.too_large, b.reassembly_held()), (100, (0, 0)));
}

#[test]
fn an_endpoint_flooded_by_many_clients_stays_within_its_bound() {
    let bound = 1 << 20;
    let peers = BTreeMap::from([(2, SocketAddr::from(([127, 0, 0, 1], 7002)))]);
    let mut c = Config::new(42, 2, peers);
    c.reassembly_bytes = bound;
    c.accept_clients = true;
    c.max_clients = 4096;
    let mut b = Endpoint::new(c).unwrap();
    for n in 0..3_000u64 {
        let addr = SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 9000));
        for id in 1..=3 {
            b.handle_datagram(0, addr, &fragment_datagram(CLIENT_ID_MIN + n, id, 1, 1024, &[1]));
        }
        assert!(b.reassembly_held().0 <= bound);
    }
    assert!(b.counters().drops.queue_full > 0);
    assert_eq!(b.reassembly_held().0, b.reassembly().recomputed_charge());
    b.handle_timeout(b.config().reassembly_timeout_us);
    assert_eq!(b.reassembly_held(), (0, 0));
}
