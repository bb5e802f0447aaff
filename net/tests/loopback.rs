//! The driver on real UDP sockets on loopback, with injected faults. Waits
//! on events with timeouts; never sleeps to synchronise.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use async_io::block_on;
use net::{Config, FaultConfig, Transport};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Msg {
    seq: u64,
    pad: Vec<u8>,
}

fn sockets(n: usize) -> (Vec<UdpSocket>, BTreeMap<u64, SocketAddr>) {
    let socks: Vec<UdpSocket> = (0..n).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    let addrs = socks.iter().enumerate().map(|(i, s)| (i as u64 + 1, s.local_addr().unwrap())).collect();
    (socks, addrs)
}

fn transport(
    id: u64,
    sock: UdpSocket,
    addrs: &BTreeMap<u64, SocketAddr>,
    faults: FaultConfig,
) -> Transport<Msg> {
    let mut c = Config::new(9, id, addrs.clone());
    c.faults = FaultConfig { seed: id, ..faults };
    c.secret = Some(b"loopback".to_vec());
    Transport::with_socket(c, sock).unwrap()
}

/// Node 1 sends `msgs` to node 2 and drives until all are acked; node 2
/// collects what it receives until node 1 is done. Returns what node 2 got.
fn exchange(faults: FaultConfig, msgs: Vec<Msg>) -> (Vec<Msg>, net::Counters) {
    let (mut socks, addrs) = sockets(2);
    let mut b = transport(2, socks.pop().unwrap(), &addrs, faults.clone());
    let mut a = transport(1, socks.pop().unwrap(), &addrs, faults);
    let done = Arc::new(AtomicBool::new(false));
    let done_b = done.clone();
    let receiver = thread::spawn(move || {
        let mut got = Vec::new();
        let start = Instant::now();
        while !done_b.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(20) {
            if let Some((from, m)) = block_on(b.recv_timeout(Duration::from_millis(20))) {
                assert_eq!(from, 1);
                got.push(m);
            }
        }
        got
    });
    let start = Instant::now();
    block_on(async {
        for m in &msgs {
            a.send(2, m).unwrap();
            while a.endpoint().queued(2) > 64 {
                a.drive().await;
            }
        }
        while a.endpoint().queued(2) > 0 && start.elapsed() < Duration::from_secs(15) {
            a.drive().await;
        }
    });
    done.store(true, Ordering::Release);
    let got = receiver.join().unwrap();
    (got, *a.endpoint().counters())
}

fn messages(n: u64) -> Vec<Msg> {
    (0..n).map(|seq| Msg { seq, pad: vec![seq as u8; if seq % 25 == 0 { 20_000 } else { 100 }] }).collect()
}

fn assert_exactly_once(got: &[Msg], sent: &[Msg]) {
    let seqs: BTreeSet<u64> = got.iter().map(|m| m.seq).collect();
    assert_eq!(seqs.len(), got.len(), "a message was delivered twice");
    assert_eq!(seqs.len(), sent.len(), "missing messages");
    for m in got {
        assert_eq!(m, &sent[m.seq as usize]);
    }
}

#[test]
fn messages_arrive_on_a_clean_loopback() {
    let msgs = messages(300);
    let (got, c) = exchange(FaultConfig::default(), msgs.clone());
    assert_exactly_once(&got, &msgs);
    assert_eq!(c.drops.deadline, 0);
}

#[test]
fn messages_arrive_once_despite_loss_duplication_and_reordering() {
    let faults = FaultConfig {
        drop_outbound: 0.15,
        drop_inbound: 0.05,
        duplicate: 0.1,
        reorder: 0.1,
        reorder_delay_us: 1_000,
        delay_us: (0, 200),
        ..Default::default()
    };
    let msgs = messages(300);
    let (got, c) = exchange(faults, msgs.clone());
    assert_exactly_once(&got, &msgs);
    assert!(c.retransmissions > 0 && c.drops.injected > 0, "{c:?}");
}

#[test]
fn garbage_and_dead_peers_do_not_stop_the_driver() {
    let (mut socks, mut addrs) = sockets(2);
    // Node 3's port is closed: sends to it may get ICMP port unreachable.
    addrs.insert(3, UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let mut b = transport(2, socks.pop().unwrap(), &addrs, FaultConfig::default());
    let mut a = transport(1, socks.pop().unwrap(), &addrs, FaultConfig::default());
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_addr = addrs[&2];
    block_on(async {
        for seq in 0..20 {
            a.send(3, &Msg { seq, pad: vec![] }).unwrap();
        }
        stranger.send_to(b"not a datagram", b_addr).unwrap();
        stranger.send_to(&[0u8; 1500], b_addr).unwrap();
        a.send(2, &Msg { seq: 7, pad: vec![1; 3000] }).unwrap();
        let got = b.recv_timeout(Duration::from_secs(5)).await;
        assert_eq!(got.map(|(from, m)| (from, m.seq)), Some((1, 7)));
        // Garbage is read before or with the message: both counted by now.
        let drops = b.endpoint().counters().drops;
        assert_eq!(drops.malformed + drops.too_large + drops.unknown_peer, 2, "{drops:?}");
        for _ in 0..5 {
            a.drive().await;
        }
    });
}

/// A socket that never runs dry (garbage arriving faster than it is read)
/// does not starve whatever `recv` is raced against: after a turn that
/// delivered nothing it yields, so a timer that is due fires before the
/// backlog is drained, not after.
#[test]
fn a_backlog_of_garbage_does_not_starve_a_timer_raced_against_recv() {
    let (mut socks, addrs) = sockets(1);
    let target = addrs[&1];
    let mut t = transport(1, socks.pop().unwrap(), &addrs, FaultConfig::default());
    let flooder = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..2000 {
        flooder.send_to(&[0xab; 200], target).unwrap();
    }
    let got = block_on(t.recv_timeout(Duration::ZERO));
    let read = t.endpoint().counters().datagrams_received;
    assert!(got.is_none(), "garbage delivered as a message");
    assert!(read <= 128, "read {read} datagrams before the due timer could fire");
    // The rest is read (and refused) by later calls.
    while block_on(t.recv_timeout(Duration::from_millis(20))).is_some() {}
    assert!(t.endpoint().counters().datagrams_received > 1000);
}

/// The blocking driver talks to the async one like another async one
/// would: requests and replies while 20% of the async side's datagrams
/// are lost (the blocking side's retransmissions run while it waits), and a wait with nothing to receive ends at
/// its timeout.
#[test]
fn a_blocking_transport_exchanges_with_an_async_one_under_loss() {
    let (mut socks, addrs) = sockets(2);
    let faults = FaultConfig { drop_outbound: 0.2, ..FaultConfig::default() };
    let mut server = transport(2, socks.pop().unwrap(), &addrs, faults);
    let mut c = Config::new(9, 1, addrs.clone());
    c.secret = Some(b"loopback".to_vec());
    let mut client = net::BlockingTransport::<Msg>::with_socket(c, socks.pop().unwrap()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_server = stop.clone();
    let echo = thread::spawn(move || {
        while !stop_server.load(Ordering::Acquire) {
            if let Some((from, m)) = block_on(server.recv_timeout(Duration::from_millis(20))) {
                server.send(from, &m).unwrap();
            }
        }
    });
    for seq in 0..50 {
        client.send(2, &Msg { seq, pad: vec![7; 100] }).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let reply = loop {
            match client.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Some((2, m)) if m.seq == seq => break Some(m),
                Some(_) => continue, // a duplicate of an earlier reply
                None => break None,
            }
        };
        assert_eq!(reply.map(|m| m.seq), Some(seq), "no reply to {seq}");
    }
    assert!(client.endpoint().counters().retransmissions > 0, "20% loss and nothing resent");
    let started = Instant::now();
    assert!(client.recv_timeout(Duration::from_millis(50)).is_none());
    assert!(started.elapsed() >= Duration::from_millis(50));
    stop.store(true, Ordering::Release);
    echo.join().unwrap();
}
