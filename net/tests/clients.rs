//! `Config::accept_clients`: endpoints with ephemeral addresses, outside the
//! peer table, talking to a member (sans-IO, virtual time).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use net::{Config, Endpoint, CLIENT_ID_MIN};

const SERVER: u64 = 1;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn server(accept: bool, max_clients: usize, secret: Option<&[u8]>) -> Endpoint {
    let peers = BTreeMap::from([(SERVER, addr(7000))]);
    let mut c = Config::new(9, SERVER, peers);
    c.accept_clients = accept;
    c.max_clients = max_clients;
    c.secret = secret.map(<[u8]>::to_vec);
    Endpoint::new(c).unwrap()
}

/// A client knows the server and itself.
fn client(n: u64, secret: Option<&[u8]>) -> (Endpoint, SocketAddr) {
    let id = CLIENT_ID_MIN + n;
    let me = addr(40_000 + n as u16);
    let mut c = Config::new(9, id, BTreeMap::from([(SERVER, addr(7000)), (id, me)]));
    c.secret = secret.map(<[u8]>::to_vec);
    (Endpoint::new(c).unwrap(), me)
}

/// Moves every datagram of `from` (at `from_addr`) into `to`.
fn pump(from: &mut Endpoint, from_addr: SocketAddr, to: &mut Endpoint) {
    while let Some(t) = from.poll_transmit(0) {
        to.handle_datagram(0, from_addr, &t.bytes);
    }
}

/// Client sends "ping", the server answers "pong" to the learned address.
fn round_trip(server: &mut Endpoint, client: &mut Endpoint, me: SocketAddr) -> Option<String> {
    client.send(0, SERVER, "ping").unwrap();
    pump(client, me, server);
    let (from, msg) = server.poll_message::<String>()?;
    assert_eq!(msg, "ping");
    server.send(0, from, "pong").unwrap();
    let mut replies = Vec::new();
    while let Some(t) = server.poll_transmit(0) {
        assert_eq!(t.to, me, "reply goes to the learned address");
        replies.push(t);
    }
    for t in replies {
        client.handle_datagram(0, addr(7000), &t.bytes);
    }
    client.poll_message::<String>().map(|(_, m)| m)
}

#[test]
fn a_client_is_learned_and_answered() {
    let mut s = server(true, 8, None);
    let (mut c, me) = client(1, None);
    assert_eq!(round_trip(&mut s, &mut c, me).as_deref(), Some("pong"));
    assert_eq!(s.clients(), 1);
    assert_eq!(s.counters().clients_learned, 1);
}

#[test]
fn clients_are_refused_unless_accepted() {
    let mut s = server(false, 8, None);
    let (mut c, me) = client(1, None);
    assert_eq!(round_trip(&mut s, &mut c, me), None);
    assert_eq!(s.counters().drops.unknown_peer, 1);
    assert_eq!(s.clients(), 0);
}

#[test]
fn ids_below_the_client_range_are_not_learned() {
    let mut s = server(true, 8, None);
    let mut c =
        Endpoint::new(Config::new(9, 5, BTreeMap::from([(SERVER, addr(7000)), (5, addr(40_005))]))).unwrap();
    c.send(0, SERVER, "ping").unwrap();
    pump(&mut c, addr(40_005), &mut s);
    assert_eq!(s.poll_message::<String>(), None);
    assert_eq!(s.counters().drops.unknown_peer, 1);
}

#[test]
fn clients_are_authenticated_like_members() {
    let mut s = server(true, 8, Some(b"secret"));
    let (mut wrong, me) = client(1, Some(b"guess"));
    assert_eq!(round_trip(&mut s, &mut wrong, me), None);
    assert_eq!(s.counters().drops.auth, 1);
    assert_eq!(s.clients(), 0);
    let (mut right, me) = client(2, Some(b"secret"));
    assert_eq!(round_trip(&mut s, &mut right, me).as_deref(), Some("pong"));
}

#[test]
fn the_client_table_is_bounded_and_evicts_the_least_recently_heard() {
    let mut s = server(true, 2, None);
    let mut clients: Vec<_> = (1..=3).map(|n| client(n, None)).collect();
    for (c, me) in clients.iter_mut() {
        assert_eq!(round_trip(&mut s, c, *me).as_deref(), Some("pong"));
    }
    assert_eq!(s.clients(), 2);
    assert_eq!(s.counters().clients_evicted, 1);
    // The evicted first client is learned again on its next datagram.
    let (c, me) = &mut clients[0];
    assert_eq!(round_trip(&mut s, c, *me).as_deref(), Some("pong"));
    assert_eq!(s.clients(), 2);
}

#[test]
fn a_client_process_reusing_an_id_is_heard_at_once() {
    let mut s = server(true, 8, None);
    let (mut c, me) = client(1, None);
    for _ in 0..50 {
        assert_eq!(round_trip(&mut s, &mut c, me).as_deref(), Some("pong"));
    }
    // A new short-lived process with the same client id: a new boot, its
    // ids from 1 again, answered on its first request.
    let (mut again, me) = client(1, None);
    assert_eq!(round_trip(&mut s, &mut again, me).as_deref(), Some("pong"));
    assert_eq!((s.clients(), s.counters().peer_restarts), (1, 1));
}

#[test]
fn a_client_that_rebinds_is_answered_at_its_new_address() {
    let mut s = server(true, 8, None);
    let (mut c, me) = client(1, None);
    assert_eq!(round_trip(&mut s, &mut c, me).as_deref(), Some("pong"));
    let moved = addr(41_000);
    assert_eq!(round_trip(&mut s, &mut c, moved).as_deref(), Some("pong"));
    assert_eq!(s.clients(), 1);
}

/// A client's request is acknowledged by the reply when the reply comes
/// within `client_ack_delay_us`: one datagram back, not two. Without a
/// reply the ack goes alone once the delay has passed, and
/// `poll_timeout` says when.
#[test]
fn a_clients_ack_waits_for_the_reply_then_goes_alone_at_the_delay() {
    let mut s = server(true, 8, None);
    let (mut c, me) = client(1, None);
    let delay = Config::new(9, SERVER, BTreeMap::new()).client_ack_delay_us;
    let t0 = 1_000_000;
    c.send(t0, SERVER, "ping").unwrap();
    while let Some(t) = c.poll_transmit(t0) {
        s.handle_datagram(t0, me, &t.bytes);
    }
    let (from, _) = s.poll_message::<String>().expect("request");
    assert!(s.poll_transmit(t0).is_none(), "the ack went at once");
    assert_eq!(s.poll_timeout(), Some(t0 + delay), "no timer for the held ack");
    s.send(t0 + delay / 2, from, "pong").unwrap();
    let replies: Vec<_> = std::iter::from_fn(|| s.poll_transmit(t0 + delay / 2)).collect();
    assert_eq!(replies.len(), 1, "the reply carries the ack");
    for t in &replies {
        c.handle_datagram(t0 + delay / 2, addr(7000), &t.bytes);
    }
    assert_eq!(c.counters().acks_received, 1);
    // A second request, never answered: its ack goes alone at the delay.
    c.send(t0 + delay, SERVER, "ping").unwrap();
    while let Some(t) = c.poll_transmit(t0 + delay) {
        s.handle_datagram(t0 + delay, me, &t.bytes);
    }
    s.handle_timeout(t0 + delay + delay / 2);
    assert!(s.poll_transmit(t0 + delay + delay / 2).is_none());
    assert_eq!(s.poll_timeout(), Some(t0 + 2 * delay));
    s.handle_timeout(t0 + 2 * delay);
    assert!(s.poll_transmit(t0 + 2 * delay).is_some(), "the ack did not go at the delay");
}

/// A client's message the server's reassembly has no room for is refused
/// whole with one busy datagram: the client drops it (nothing more of it
/// goes out) and learns it was refused, instead of resending fragments
/// into a full buffer. A message that fits is taken as usual.
#[test]
fn a_client_message_without_room_is_refused_as_busy() {
    let peers = BTreeMap::from([(SERVER, addr(7000))]);
    let mut c = Config::new(9, SERVER, peers);
    c.accept_clients = true;
    c.reassembly_bytes = 64 << 10;
    let mut s = Endpoint::new(c).unwrap();
    let (mut small, small_addr) = client(1, None);
    let (mut big, big_addr) = client(2, None);
    let id = big.send(0, SERVER, &vec![7u8; 200 << 10]).unwrap();
    pump(&mut big, big_addr, &mut s);
    pump(&mut s, addr(7000), &mut big);
    assert!(big.was_refused(SERVER, id), "not refused");
    assert_eq!(big.counters().refused, 1);
    assert!(big.poll_transmit(0).is_none(), "a refused message is still sent");
    big.handle_timeout(10_000_000);
    assert!(big.poll_transmit(10_000_000).is_none(), "a refused message is resent");
    small.send(0, SERVER, &vec![1u8; 20 << 10]).unwrap();
    pump(&mut small, small_addr, &mut s);
    assert_eq!(s.poll_message::<Vec<u8>>().map(|(_, m)| m.len()), Some(20 << 10));
}
