//! Messages sent once (`Endpoint::send_unacked`): one datagram each, no
//! ack back, no resend when lost; larger ones fall back to reliable
//! delivery.

mod common;

use common::{addrs, config};
use net::{Config, Endpoint};

fn pair() -> (Endpoint, Endpoint) {
    (Endpoint::new(config(2, 1)).unwrap(), Endpoint::new(config(2, 2)).unwrap())
}

/// Hands every datagram `from` has to send to `to`; how many there were.
fn carry(from: &mut Endpoint, to: &mut Endpoint, now: u64) -> usize {
    let from_addr = addrs(2)[&from.id()];
    let mut n = 0;
    while let Some(t) = from.poll_transmit(now) {
        to.handle_datagram(now, from_addr, &t.bytes);
        n += 1;
    }
    n
}

#[test]
fn an_unacked_message_is_one_datagram_and_nothing_comes_back() {
    let (mut a, mut b) = pair();
    a.send_unacked(0, 2, postcard::to_allocvec(&"append").unwrap()).unwrap();
    assert_eq!(carry(&mut a, &mut b, 0), 1);
    assert_eq!(b.poll_message::<String>(), Some((1, "append".to_string())));
    b.handle_timeout(1_000_000);
    assert_eq!(carry(&mut b, &mut a, 1_000_000), 0, "an ack went back");
    assert_eq!(b.counters().acks_sent, 0);
}

#[test]
fn a_lost_unacked_message_is_not_resent() {
    let (mut a, _) = pair();
    a.send_unacked(0, 2, vec![1, 2, 3]).unwrap();
    assert!(a.poll_transmit(0).is_some(), "sent once");
    for now in [10_000, 1_000_000, 10_000_000] {
        a.handle_timeout(now);
        assert!(a.poll_transmit(now).is_none(), "resent at {now} µs");
    }
    assert_eq!(a.poll_timeout(), None, "a timer was left for it");
}

#[test]
fn an_unacked_message_too_large_for_one_datagram_goes_reliably() {
    let (mut a, mut b) = pair();
    let big = vec![7u8; 5_000];
    a.send_unacked(0, 2, postcard::to_allocvec(&big).unwrap()).unwrap();
    assert!(carry(&mut a, &mut b, 0) > 1);
    assert_eq!(b.poll_message::<Vec<u8>>().map(|(_, m)| m.len()), Some(5_000));
    b.handle_timeout(1_000_000);
    assert!(carry(&mut b, &mut a, 1_000_000) > 0, "its fragments are acknowledged");
}

/// Unacked and reliable messages share the id space; neither confuses the
/// receiver's duplicate detection of the other.
#[test]
fn unacked_and_reliable_messages_interleave() {
    let (mut a, mut b) = pair();
    for i in 0..50u32 {
        if i % 3 == 0 {
            a.send(0, 2, &i).unwrap();
        } else {
            a.send_unacked(0, 2, postcard::to_allocvec(&i).unwrap()).unwrap();
        }
        carry(&mut a, &mut b, i as u64);
        carry(&mut b, &mut a, i as u64);
    }
    let got: Vec<u32> = std::iter::from_fn(|| b.poll_message::<u32>().map(|(_, m)| m)).collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[test]
fn unacked_datagrams_are_authenticated_like_others() {
    let keyed = |id| Endpoint::new(Config { secret: Some(b"k".to_vec()), ..config(2, id) }).unwrap();
    let (mut a, mut b) =
        (keyed(1), Endpoint::new(Config { secret: Some(b"other".to_vec()), ..config(2, 2) }).unwrap());
    a.send_unacked(0, 2, vec![1]).unwrap();
    carry(&mut a, &mut b, 0);
    assert!(b.poll_message::<Vec<u8>>().is_none());
    let mut good = keyed(2);
    a.send_unacked(0, 2, postcard::to_allocvec(&vec![1u8]).unwrap()).unwrap();
    carry(&mut a, &mut good, 0);
    assert_eq!(good.poll_message::<Vec<u8>>().map(|(_, m)| m), Some(vec![1]));
}
