//! Feeds arbitrary bytes to the datagram decoder and to an endpoint's whole
//! receive path. Run with `cargo +nightly fuzz run decode` from `net/`.
//!
//! 1. The whole input as one datagram, as it came, to `wire::decode` and
//!    to an endpoint with and without a MAC key: never panics, counted once.
//! 2. The input as a sequence of up to 64 datagrams whose CRC (and, when
//!    the endpoint has a key and the datagram's MAC flag is set, MAC) is
//!    recomputed, so they get past the checksum to dedup, reassembly, acks
//!    and client admission. Byte 0: bit 0 a key, bit 1 `accept_clients`;
//!    then per datagram a 4-byte record (length u16 BE, source address,
//!    time step in units of 20 ms) and the datagram bytes. The endpoint
//!    (node 2 of 1, 2, 3, a fixed boot id [`BOOT`]) first queues three
//!    messages of its own (one of three fragments), so fuzzed acks have
//!    something to acknowledge. Checked: nothing panics; every datagram it
//!    transmits decodes and is at most `MAX_DATAGRAM`; no message
//!    (sender, boot, id) is delivered twice unless more boots of that
//!    sender than the dedup windows remember were heard since
//!    (`BOOT_WINDOWS + RETIRED_BOOTS`, the documented bound); delivered
//!    messages are at most `max_message_bytes`.
#![no_main]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroU64;

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use net::reliability::dedup::{BOOT_WINDOWS, RETIRED_BOOTS};
use net::wire::{FLAG_MAC, HEADER_BYTES, MAC_BYTES, MAX_DATAGRAM};
use net::{Config, Endpoint};
use sha2::Sha256;

const SECRET: &[u8] = b"key";
const CLUSTER: u64 = 42;
/// The fuzzed endpoint's boot id (what valid acks name in their ack boot).
const BOOT: u64 = 0xB0B0_B0B0;
const SOURCES: [&str; 4] = ["127.0.0.1:7001", "127.0.0.1:7003", "127.0.0.1:9001", "127.0.0.1:9002"];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn endpoint(secret: bool, accept_clients: bool) -> Endpoint {
    let peers: BTreeMap<u64, SocketAddr> =
        [(1, addr("127.0.0.1:7001")), (2, addr("127.0.0.1:7002")), (3, addr("127.0.0.1:7003"))].into();
    let config =
        Config { secret: secret.then(|| SECRET.to_vec()), accept_clients, ..Config::new(CLUSTER, 2, peers) };
    Endpoint::with_boot_id(config, NonZeroU64::new(BOOT).unwrap()).unwrap()
}

/// Recomputes the CRC (bytes 4..8, over everything before the MAC with
/// the field zeroed), and the MAC when `secret` and the flag says one is
/// there.
fn fix_up(d: &mut [u8], secret: bool) {
    if d.len() < HEADER_BYTES {
        return;
    }
    let mac = secret && d[3] & FLAG_MAC != 0 && d.len() >= HEADER_BYTES + MAC_BYTES;
    let body_end = if d[3] & FLAG_MAC != 0 { d.len().saturating_sub(MAC_BYTES) } else { d.len() };
    if body_end < HEADER_BYTES {
        return;
    }
    d[4..8].fill(0);
    let crc = crc32c::crc32c(&d[..body_end]);
    d[4..8].copy_from_slice(&crc.to_be_bytes());
    if mac {
        let mut m = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        m.update(&d[..body_end]);
        let tag = m.finalize().into_bytes();
        d[body_end..].copy_from_slice(&tag[..MAC_BYTES]);
    }
}

fn drain(e: &mut Endpoint, now: u64, delivered: &mut Delivered) {
    while let Some(t) = e.poll_transmit(now) {
        assert!(t.bytes.len() <= MAX_DATAGRAM, "sent {} bytes", t.bytes.len());
        assert!(net::wire::decode(&t.bytes).is_ok(), "sent a datagram that does not decode");
    }
    while let Some(d) = e.poll_event() {
        assert!(d.bytes.len() <= 1 << 20);
        delivered.record(d.from, d.boot, d.msg_id);
    }
}

/// What was delivered, and the boots heard per sender since.
#[derive(Default)]
struct Delivered {
    /// (sender, boot, id) → distinct boots of the sender heard when it was
    /// delivered.
    messages: HashMap<(u64, u64, u64), usize>,
    /// Per sender id in a datagram, the distinct boots seen in datagrams.
    boots: HashMap<u64, HashSet<u64>>,
}

impl Delivered {
    fn heard(&mut self, d: &[u8]) {
        if d.len() >= HEADER_BYTES {
            let from = u64::from_be_bytes(d[16..24].try_into().unwrap());
            let boot = u64::from_be_bytes(d[32..40].try_into().unwrap());
            self.boots.entry(from).or_default().insert(boot);
        }
    }

    fn record(&mut self, from: u64, boot: u64, id: u64) {
        let boots = self.boots.get(&from).map_or(0, HashSet::len);
        if let Some(then) = self.messages.insert((from, boot, id), boots) {
            // The window of `boot` can have been forgotten only after
            // BOOT_WINDOWS + RETIRED_BOOTS other boots of `from` arrived.
            assert!(
                boots - then >= BOOT_WINDOWS + RETIRED_BOOTS,
                "message {id} of boot {boot:#x} from {from} delivered twice ({} boots heard between)",
                boots - then
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. As it came.
    let _ = net::wire::decode(data);
    for secret in [false, true] {
        let mut e = endpoint(secret, false);
        e.handle_datagram(0, addr(SOURCES[0]), data);
        e.handle_timeout(u64::MAX / 2);
        while e.poll_transmit(0).is_some() {}
        while e.poll_event().is_some() {}
        assert_eq!(e.counters().datagrams_received, 1);
    }

    // 2. A sequence with checksums (and MACs) fixed up.
    let Some((&flags, mut rest)) = data.split_first() else { return };
    let secret = flags & 1 != 0;
    let mut e = endpoint(secret, flags & 2 != 0);
    let mut now = 0u64;
    e.send_bytes(now, 1, vec![1; 10]).unwrap();
    e.send_bytes(now, 1, vec![2; 3000]).unwrap();
    e.send_bytes(now, 3, vec![3; 10]).unwrap();
    let mut delivered = Delivered::default();
    drain(&mut e, now, &mut delivered);
    let mut received = 0;
    while rest.len() >= 4 && received < 64 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 4);
        let source = addr(SOURCES[usize::from(rest[2]) % SOURCES.len()]);
        now += u64::from(rest[3]) * 20_000;
        let mut d = rest[4..4 + len].to_vec();
        rest = &rest[4 + len..];
        fix_up(&mut d, secret);
        delivered.heard(&d);
        e.handle_datagram(now, source, &d);
        received += 1;
        e.handle_timeout(now);
        drain(&mut e, now, &mut delivered);
    }
    assert_eq!(e.counters().datagrams_received, received);
});
