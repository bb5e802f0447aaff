//! Property tests of the receive path: random bytes and mutations of valid
//! datagrams never panic, and every one that is not a valid datagram is
//! dropped and counted.

mod common;

use common::{addrs, config, Msg};
use net::{Config, Endpoint};
use proptest::prelude::*;

fn receiver(secret: bool) -> Endpoint {
    let c = config(3, 2);
    Endpoint::new(Config { secret: secret.then(|| b"key".to_vec()), ..c }).unwrap()
}

/// Valid datagrams from node 1 to node 2 carrying a message of `pad` bytes
/// (and acks, after a first exchange).
fn valid_datagrams(pad: usize, secret: bool) -> Vec<Vec<u8>> {
    let mut a = Endpoint::new(Config { secret: secret.then(|| b"key".to_vec()), ..config(3, 1) }).unwrap();
    let mut b = receiver(secret);
    b.send(0, 1, &7u8).unwrap();
    while let Some(t) = b.poll_transmit(0) {
        a.handle_datagram(0, addrs(3)[&2], &t.bytes);
    }
    a.send(0, 2, &Msg { from: 1, seq: 1, sent_us: 0, pad: vec![3; pad] }).unwrap();
    std::iter::from_fn(|| a.poll_transmit(0)).map(|t| t.bytes).collect()
}

fn fix_crc(bytes: &mut [u8]) {
    if bytes.len() < net::wire::HEADER_BYTES {
        return;
    }
    bytes[4..8].fill(0);
    let crc = crc32c_of(bytes);
    bytes[4..8].copy_from_slice(&crc.to_be_bytes());
}

fn crc32c_of(bytes: &[u8]) -> u32 {
    // CRC-32C (Castagnoli), bitwise: an independent check of the wire format.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    Overwrite(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Overwrite(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Flip(i, bit) => bytes[i % len] ^= 1 << bit,
        Mutation::Truncate(n) => bytes.truncate(n % len),
        Mutation::Extend(v) => bytes.extend_from_slice(v),
        Mutation::Overwrite(i, v) => {
            for (k, b) in v.iter().enumerate() {
                bytes[(i + k) % len] = *b;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_dropped_and_counted(bytes in prop::collection::vec(any::<u8>(), 0..1500), secret: bool) {
        let mut b = receiver(secret);
        b.handle_datagram(0, addrs(3)[&1], &bytes);
        prop_assert_eq!(b.counters().drops.rejected(), 1);
        prop_assert!(b.poll_event().is_none());
    }

    #[test]
    fn mutated_datagrams_are_dropped_and_counted(
        pad in 0usize..3000, secret: bool, pick: usize, muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let datagrams = valid_datagrams(pad, secret);
        let original = &datagrams[pick % datagrams.len()];
        let mut bytes = original.clone();
        for m in &muts {
            if !bytes.is_empty() {
                apply(&mut bytes, m);
            }
        }
        prop_assume!(&bytes != original);
        let mut b = receiver(secret);
        b.handle_datagram(0, addrs(3)[&1], &bytes);
        prop_assert_eq!(b.counters().drops.rejected(), 1);
        prop_assert!(b.poll_event().is_none());
    }

    /// Mutations with the checksum fixed up reach the deeper checks
    /// (fragment counts, acks, reassembly): still no panic, and whatever is
    /// not delivered or stored is counted.
    #[test]
    fn mutated_datagrams_with_a_good_checksum_never_panic(
        pad in 0usize..5000, muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let datagrams = valid_datagrams(pad, false);
        let mut b = receiver(false);
        for original in &datagrams {
            let mut bytes = original.clone();
            for m in &muts {
                if !bytes.is_empty() {
                    apply(&mut bytes, m);
                }
            }
            fix_crc(&mut bytes);
            b.handle_datagram(0, addrs(3)[&1], &bytes);
            b.handle_timeout(10_000_000);
            while b.poll_transmit(0).is_some() {}
            let _ = b.poll_message::<Msg>();
        }
        prop_assert_eq!(b.counters().datagrams_received, datagrams.len() as u64);
    }
}

#[test]
fn the_reference_crc_matches_the_wire_format() {
    let datagrams = valid_datagrams(10, false);
    let mut copy = datagrams[0].clone();
    fix_crc(&mut copy);
    assert_eq!(copy, datagrams[0]);
}

#[test]
fn a_datagram_of_another_wire_version_is_dropped_and_its_sender_named() {
    let mut b = receiver(false);
    let from = addrs(3)[&1];
    for version in [net::WIRE_VERSION - 1, net::WIRE_VERSION + 1] {
        let mut bytes = valid_datagrams(10, false).remove(0);
        bytes[2] = version;
        fix_crc(&mut bytes);
        b.handle_datagram(0, from, &bytes);
        assert_eq!(b.take_foreign_version(), Some((from, version)));
        assert_eq!(b.take_foreign_version(), None, "taken once");
    }
    assert_eq!(b.counters().drops.version, 2);
    assert_eq!(b.poll_event(), None);
}
