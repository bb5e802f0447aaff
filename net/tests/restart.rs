//! Restarts without a clock: a new endpoint for a node id is a new boot,
//! heard at once whatever its clock says or its peers' dedup floors hold;
//! the old boot's stragglers are delivered at most once; its acks do not
//! acknowledge the new boot's messages (sans-IO, virtual time, datagrams
//! moved by hand).

mod common;

use std::collections::BTreeSet;
use std::num::NonZeroU64;

use common::{addrs, config};
use net::reliability::dedup::BOOT_WINDOWS;
use net::{Config, Endpoint};
use proptest::prelude::*;

/// The test message: a sequence number and padding (3000 bytes of padding
/// take 3 fragments).
type Msg = (u64, Vec<u8>);

fn msg(seq: u64, pad: usize) -> Msg {
    (seq, vec![seq as u8; pad])
}

fn node(id: u64) -> Endpoint {
    Endpoint::new(config(2, id)).unwrap()
}

/// Every datagram `e` sends at `now_us`.
fn out(e: &mut Endpoint, now_us: u64) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| e.poll_transmit(now_us)).map(|t| t.bytes).collect()
}

/// Hands `datagrams` from node `from` to `e`.
fn feed(e: &mut Endpoint, now_us: u64, from: u64, datagrams: &[Vec<u8>]) {
    for d in datagrams {
        e.handle_datagram(now_us, addrs(2)[&from], d);
    }
}

/// What `e` delivered: (sequence number, padding length), padding checked.
fn received(e: &mut Endpoint) -> Vec<(u64, usize)> {
    let all: Vec<Msg> = std::iter::from_fn(|| e.poll_message::<Msg>()).map(|(_, m)| m).collect();
    assert!(all.iter().all(|(seq, pad)| pad.iter().all(|&b| b == *seq as u8)), "a message was garbled");
    all.into_iter().map(|(seq, pad)| (seq, pad.len())).collect()
}

/// Moves datagrams both ways (no loss) until neither side has any.
fn settle(a: &mut Endpoint, a_now: u64, b: &mut Endpoint, b_now: u64) {
    loop {
        let (to_b, to_a) = (out(a, a_now), out(b, b_now));
        if to_b.is_empty() && to_a.is_empty() {
            return;
        }
        feed(b, b_now, a.id(), &to_b);
        feed(a, a_now, b.id(), &to_a);
    }
}

#[test]
fn a_sender_restarted_with_its_clock_set_back_is_heard_at_once() {
    let late = 1_000_000_000_000; // 10^12 µs: 11.6 days
    let (mut a, mut b) = (node(1), node(2));
    for seq in 0..1000 {
        a.send(late, 2, &msg(seq, 0)).unwrap();
    }
    settle(&mut a, late, &mut b, late);
    assert_eq!(received(&mut b).len(), 1000);
    assert_eq!(a.queued(2), 0);

    // Node 1 again, a brand-new process (no state kept), its clock at 0.
    let mut a = node(1);
    assert_eq!(a.send(0, 2, &msg(1000, 0)).unwrap(), 1, "ids start at 1 in every boot");
    let first = out(&mut a, 0);
    assert_eq!(first.len(), 1);
    feed(&mut b, late + 1, 1, &first);
    assert_eq!(received(&mut b), vec![(1000, 0)], "delivered on its first datagram");
    assert_eq!(b.counters().peer_restarts, 1);
    feed(&mut a, 1, 2, &out(&mut b, late + 1));
    assert_eq!((a.queued(2), a.counters().retransmissions), (0, 0));
}

#[test]
fn stale_datagrams_of_the_old_boot_are_delivered_at_most_once() {
    let (mut a, mut b) = (node(1), node(2));
    a.send(0, 2, &msg(1, 0)).unwrap();
    let delivered_before = out(&mut a, 0);
    a.send(0, 2, &msg(2, 0)).unwrap();
    let in_flight = out(&mut a, 0); // still in the network at the restart
    a.send(0, 2, &msg(3, 3000)).unwrap();
    let big = out(&mut a, 0);
    assert_eq!(big.len(), 3);
    feed(&mut b, 0, 1, &delivered_before);
    feed(&mut b, 0, 1, &big[..2]);
    assert_eq!(received(&mut b), vec![(1, 0)]);

    // The new boot reuses ids 1..=3, for other messages.
    let mut a = node(1);
    a.send(10, 2, &msg(11, 0)).unwrap();
    a.send(10, 2, &msg(12, 0)).unwrap();
    a.send(10, 2, &msg(13, 3000)).unwrap();
    feed(&mut b, 10, 1, &out(&mut a, 10));
    assert_eq!(received(&mut b), vec![(11, 0), (12, 0), (13, 3000)]);

    // Late and duplicated datagrams of the old boot.
    let before = b.counters().duplicates;
    feed(&mut b, 20, 1, &delivered_before);
    feed(&mut b, 20, 1, &in_flight);
    feed(&mut b, 20, 1, &in_flight);
    feed(&mut b, 20, 1, &big[2..]);
    feed(&mut b, 20, 1, &big);
    assert_eq!(received(&mut b), vec![(2, 0), (3, 3000)], "each old message once, none mixed with new ones");
    assert_eq!(b.counters().duplicates - before, 5);
    assert_eq!(b.counters().peer_restarts, 1, "stragglers are not restarts");

    // After BOOT_WINDOWS more restarts the first boot's window is retired:
    // its datagrams are dropped, not taken for a new boot.
    for n in 0..BOOT_WINDOWS as u64 {
        let mut a = node(1);
        a.send(30, 2, &msg(20 + n, 0)).unwrap();
        feed(&mut b, 30, 1, &out(&mut a, 30));
    }
    assert_eq!(received(&mut b).len(), BOOT_WINDOWS);
    feed(&mut b, 40, 1, &delivered_before);
    feed(&mut b, 40, 1, &in_flight);
    assert_eq!(received(&mut b), vec![]);
    assert_eq!(b.counters().drops.retired_boot, 2);
    assert_eq!(b.counters().messages_delivered, 6 + BOOT_WINDOWS as u64);
}

#[test]
fn an_ack_for_the_old_boot_does_not_acknowledge_the_new_boots_message() {
    let (mut a, mut b) = (node(1), node(2));
    assert_eq!(a.send(0, 2, &msg(1, 0)).unwrap(), 1);
    feed(&mut b, 0, 1, &out(&mut a, 0));
    let old_ack = out(&mut b, 0);
    assert_eq!(old_ack.len(), 1);
    a.send(0, 2, &msg(2, 0)).unwrap();
    feed(&mut b, 0, 1, &out(&mut a, 0)); // its ack waits in b's queue

    let mut a = node(1);
    assert_eq!(a.send(5, 2, &msg(3, 0)).unwrap(), 1, "the same id as the acked message");
    let new_data = out(&mut a, 5);
    feed(&mut a, 6, 2, &old_ack);
    assert_eq!(a.queued(2), 1, "the old boot's ack of id 1 left the new id 1 unacked");
    assert_eq!(a.counters().stale_acks, 1);

    // b acks the old boot's id 2 and the new boot's id 1 in separate
    // datagrams, each naming its boot; only the second acks anything.
    feed(&mut b, 6, 1, &new_data);
    let acks = out(&mut b, 6);
    assert_eq!(acks.len(), 2);
    feed(&mut a, 7, 2, &acks);
    assert_eq!((a.queued(2), a.counters().stale_acks), (0, 2));
    assert_eq!(received(&mut b), vec![(1, 0), (2, 0), (3, 0)]);
}

#[test]
fn a_restarted_sender_is_heard_when_the_receiver_folded_many_ids_into_its_floor() {
    let mut a = node(1);
    let mut b = Endpoint::new(Config { dedup_entries: 4, ..config(2, 2) }).unwrap();
    for seq in 0..100 {
        a.send(0, 2, &msg(seq, 0)).unwrap();
    }
    // No ack reaches a, so its low watermark stays at 1 and b folds ids.
    feed(&mut b, 0, 1, &out(&mut a, 0));
    assert_eq!(received(&mut b).len(), 100);
    assert_eq!(b.counters().drops.queue_full, 96, "ids folded into the floor");

    let mut a = node(1);
    a.send(0, 2, &msg(100, 0)).unwrap();
    feed(&mut b, 0, 1, &out(&mut a, 0));
    assert_eq!(received(&mut b), vec![(100, 0)]);
}

#[test]
fn every_endpoint_has_its_own_boot_id() {
    let ids: std::collections::BTreeSet<u64> = (0..100).map(|_| node(1).boot_id()).collect();
    assert_eq!(ids.len(), 100);
    let fixed = Endpoint::with_boot_id(config(2, 1), NonZeroU64::new(7).unwrap()).unwrap();
    assert_eq!(fixed.boot_id(), 7);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Several boots of node 1 in a row, part of each boot's datagrams
    /// arriving while it is the current one, then any of them replayed in
    /// any order, any number of times: no message is delivered twice.
    #[test]
    fn replayed_datagrams_of_any_boot_are_delivered_at_most_once(
        boots in 1usize..8,
        per_boot in 1u64..6,
        replays in prop::collection::vec(any::<prop::sample::Index>(), 0..200),
    ) {
        let mut b = node(2);
        let mut sent = Vec::new();
        for boot in 0..boots as u64 {
            let mut a = node(1);
            for n in 0..per_boot {
                let seq = boot * 10 + n;
                a.send(0, 2, &msg(seq, if n % 3 == 0 { 2500 } else { 0 })).unwrap();
            }
            let datagrams = out(&mut a, 0);
            feed(&mut b, 0, 1, &datagrams[..datagrams.len() / 2]);
            sent.extend(datagrams);
        }
        for i in &replays {
            feed(&mut b, 1, 1, std::slice::from_ref(&sent[i.index(sent.len())]));
        }
        let got = received(&mut b);
        let unique: BTreeSet<u64> = got.iter().map(|(seq, _)| *seq).collect();
        prop_assert_eq!(unique.len(), got.len(), "delivered twice: {:?}", got);
    }
}
