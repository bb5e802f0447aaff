//! Peers added, moved and removed while endpoints run (`set_peer`,
//! `remove_peer`), sans-IO in virtual time. Datagrams are routed by the
//! address they are sent to, as a socket would: a node "rebinds" by
//! changing the address it sends from and is reached at.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use net::{Config, Endpoint, SendError, CLIENT_ID_MIN};
use proptest::prelude::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An endpoint for `id` that knows only itself at `at`.
fn alone(id: u64, at: SocketAddr) -> Endpoint {
    let mut c = Config::new(5, id, BTreeMap::from([(id, at)]));
    c.accept_clients = true;
    Endpoint::new(c).unwrap()
}

/// Nodes by id, each at its current address.
struct World {
    now_us: u64,
    nodes: BTreeMap<u64, (SocketAddr, Endpoint)>,
    /// (receiver, sender, payload) of every message delivered.
    delivered: Vec<(u64, u64, u32)>,
    /// Datagrams sent to an address nobody holds.
    lost: usize,
}

impl World {
    fn new(nodes: Vec<(u64, SocketAddr)>) -> World {
        let nodes = nodes.into_iter().map(|(id, at)| (id, (at, alone(id, at)))).collect();
        World { now_us: 0, nodes, delivered: Vec::new(), lost: 0 }
    }

    fn ep(&mut self, id: u64) -> &mut Endpoint {
        &mut self.nodes.get_mut(&id).unwrap().1
    }

    fn send(&mut self, from: u64, to: u64, payload: u32) -> Result<u64, SendError> {
        let now = self.now_us;
        self.ep(from).send(now, to, &payload)
    }

    /// Moves datagrams until none are left, `limit` datagrams at most
    /// (to stop mid-stream); returns how many moved.
    fn pump(&mut self, limit: usize) -> usize {
        let mut moved = 0;
        loop {
            let mut any = false;
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            for id in ids {
                let now = self.now_us;
                let (from_addr, ep) = self.nodes.get_mut(&id).unwrap();
                let from_addr = *from_addr;
                let Some(t) = ep.poll_transmit(now) else { continue };
                any = true;
                moved += 1;
                match self.nodes.iter_mut().find(|(_, (a, _))| *a == t.to) {
                    Some((_, (_, dest))) => dest.handle_datagram(now, from_addr, &t.bytes),
                    None => self.lost += 1,
                }
                if moved >= limit {
                    break;
                }
            }
            self.collect();
            if !any || moved >= limit {
                return moved;
            }
        }
    }

    fn collect(&mut self) {
        for (&id, (_, ep)) in &mut self.nodes {
            while let Some((from, m)) = ep.poll_message::<u32>() {
                self.delivered.push((id, from, m));
            }
            ep.check_indexes().unwrap();
        }
    }

    /// Runs timers and moves datagrams for `ms` of virtual time.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 10 {
            self.now_us += 10_000;
            let now = self.now_us;
            self.nodes.values_mut().for_each(|(_, ep)| ep.handle_timeout(now));
            self.pump(usize::MAX);
        }
    }

    fn got(&self, receiver: u64, from: u64) -> Vec<u32> {
        let mut v: Vec<u32> =
            self.delivered.iter().filter(|d| d.0 == receiver && d.1 == from).map(|d| d.2).collect();
        v.sort_unstable();
        v
    }
}

#[test]
fn a_peer_added_later_exchanges_both_ways() {
    let mut w = World::new(vec![(1, addr(7001)), (2, addr(7002))]);
    assert!(matches!(w.send(1, 2, 0), Err(SendError::UnknownPeer(2))));
    w.ep(1).set_peer(2, addr(7002));
    assert_eq!(w.ep(1).peer_addr(2), Some(addr(7002)));
    // 2 does not know 1 yet: member ids are not learned like clients.
    w.send(1, 2, 1).unwrap();
    w.pump(usize::MAX);
    assert_eq!(w.ep(2).counters().drops.unknown_peer, 1);
    assert!(w.got(2, 1).is_empty());
    w.ep(2).set_peer(1, addr(7001));
    w.run(3000);
    w.send(2, 1, 2).unwrap();
    w.run(1000);
    assert_eq!(w.got(2, 1), vec![1], "retransmitted once 2 knew 1");
    assert_eq!(w.got(1, 2), vec![2]);
    assert_eq!((w.ep(1).queued(2), w.ep(2).queued(1)), (0, 0));
}

#[test]
fn an_address_change_mid_stream_delivers_everything_once_to_the_new_address() {
    let (old, new) = (addr(7002), addr(7102));
    let mut w = World::new(vec![(1, addr(7001)), (2, old)]);
    w.ep(1).set_peer(2, old);
    w.ep(2).set_peer(1, addr(7001));
    for n in 0..200 {
        w.send(1, 2, n).unwrap();
        w.send(2, 1, 1000 + n).unwrap();
    }
    w.pump(150);
    let before = w.got(2, 1).len();
    assert!(before > 0 && before < 200, "mid-stream: {before} delivered");
    // 2 moves: its socket is now at `new`, and 1 learns it.
    w.nodes.get_mut(&2).unwrap().0 = new;
    w.ep(1).set_peer(2, new);
    assert_eq!(w.ep(1).peer_addr(2), Some(new));
    let rtt_before = w.ep(1).rtt(2).unwrap();
    let lost_before = w.lost;
    w.run(3000);
    assert_eq!(w.got(2, 1), (0..200).collect::<Vec<_>>(), "each once");
    assert_eq!(w.got(1, 2), (1000..1200).collect::<Vec<_>>(), "each once, from the new address");
    assert_eq!((w.ep(1).queued(2), w.ep(2).queued(1)), (0, 0));
    assert_eq!(w.lost, lost_before, "nothing went to the old address after the change");
    assert!(w.ep(1).rtt(2).unwrap().srtt_us.is_some() && rtt_before.srtt_us.is_some());
    assert!(w.ep(1).counters().duplicates + w.ep(2).counters().duplicates < 400);
}

#[test]
fn a_removed_peer_is_unknown_and_its_datagrams_are_not_delivered() {
    let mut w = World::new(vec![(1, addr(7001)), (2, addr(7002))]);
    w.ep(1).set_peer(2, addr(7002));
    w.ep(2).set_peer(1, addr(7001));
    w.send(1, 2, 1).unwrap();
    w.run(100);
    assert_eq!(w.got(2, 1), vec![1]);
    w.send(1, 2, 2).unwrap(); // queued, then dropped with the peer
    assert!(w.ep(1).remove_peer(2));
    assert!(!w.ep(1).remove_peer(2));
    assert_eq!(w.ep(1).peer_addr(2), None);
    assert!(!w.ep(1).config().peers.contains_key(&2));
    assert!(matches!(w.send(1, 2, 3), Err(SendError::UnknownPeer(2))));
    assert_eq!(w.ep(1).queued(2), 0);
    w.send(2, 1, 10).unwrap();
    w.run(1000);
    assert!(w.got(1, 2).is_empty(), "not delivered as a member message");
    assert!(w.ep(1).counters().drops.unknown_peer > 0);
    assert_eq!(w.ep(1).clients(), 0, "a member id is never learned as a client");
    assert_eq!(w.got(2, 1), vec![1]);
}

#[test]
fn a_peer_removed_and_added_again_is_heard() {
    let mut w = World::new(vec![(1, addr(7001)), (2, addr(7002))]);
    w.ep(1).set_peer(2, addr(7002));
    w.ep(2).set_peer(1, addr(7001));
    w.send(1, 2, 1).unwrap();
    w.run(100);
    w.ep(1).remove_peer(2);
    w.run(100);
    // Back on another address.
    w.nodes.get_mut(&2).unwrap().0 = addr(7202);
    w.ep(1).set_peer(2, addr(7202));
    w.send(1, 2, 2).unwrap();
    w.send(2, 1, 20).unwrap();
    w.run(1000);
    assert_eq!(w.got(2, 1), vec![1, 2]);
    assert_eq!(w.got(1, 2), vec![20]);
}

#[test]
fn a_learned_client_made_a_member_keeps_its_queue() {
    let client = CLIENT_ID_MIN + 3;
    let mut w = World::new(vec![(1, addr(7001)), (client, addr(40_003))]);
    w.ep(client).set_peer(1, addr(7001));
    w.send(client, 1, 5).unwrap();
    w.pump(usize::MAX);
    assert_eq!(w.ep(1).clients(), 1);
    w.send(1, client, 6).unwrap(); // queued for the client, not yet sent
    w.ep(1).set_peer(client, addr(40_003));
    assert_eq!(w.ep(1).clients(), 0);
    assert_eq!(w.ep(1).queued(client), 1, "queue kept");
    assert_eq!(w.ep(1).members().count(), 1);
    w.run(100);
    assert_eq!(w.got(client, 1), vec![6]);
}

#[test]
fn a_member_set_at_a_clients_address_takes_it_over() {
    let client = CLIENT_ID_MIN + 4;
    let mut w = World::new(vec![(1, addr(7001)), (client, addr(7002))]);
    w.ep(client).set_peer(1, addr(7001));
    w.send(client, 1, 5).unwrap();
    w.run(100);
    assert_eq!(w.ep(1).clients(), 1);
    w.ep(1).set_peer(2, addr(7002));
    assert_eq!(w.ep(1).clients(), 0, "the client at that address is forgotten");
    assert_eq!(w.ep(1).peer_addr(client), None);
    w.ep(1).check_indexes().unwrap();
}

/// Two members on one address (a table mid-change): the one holding the
/// address entry leaves, and the other still gets the address's datagrams.
#[test]
fn a_member_sharing_an_address_keeps_it_when_the_other_leaves() {
    let mut e = alone(1, addr(7001));
    e.set_peer(2, addr(7003));
    e.set_peer(5, addr(7003));
    e.remove_peer(5);
    e.check_indexes().unwrap();
    e.set_peer(5, addr(7003));
    e.set_peer(5, addr(7004));
    e.check_indexes().unwrap();
    let mut two = alone(2, addr(7003));
    two.set_peer(1, addr(7001));
    two.send(0, 1, &3u32).unwrap();
    while let Some(t) = two.poll_transmit(0) {
        e.handle_datagram(0, addr(7003), &t.bytes);
    }
    assert_eq!(e.poll_message::<u32>(), Some((2, 3)));
}

#[derive(Debug, Clone)]
enum Op {
    Set(u64, u16),
    Remove(u64),
    /// A client (by number) sends from a port.
    Client(u64, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (2..6u64, 0..6u16).prop_map(|(id, p)| Op::Set(id, p)),
        (2..6u64).prop_map(Op::Remove),
        (0..6u64, 0..6u16).prop_map(|(n, p)| Op::Client(n, p)),
        (2..6u64).prop_map(|n| Op::Remove(CLIENT_ID_MIN + n)),
    ]
}

proptest! {
    /// Any mix of members set, moved and removed, clients learned,
    /// rebound and evicted (a table of 3) keeps both index maps exact, and
    /// every member reachable at the address last set for it.
    #[test]
    fn the_index_maps_stay_consistent(ops in proptest::collection::vec(op(), 1..60)) {
        let mut c = Config::new(5, 1, BTreeMap::from([(1, addr(7001))]));
        c.accept_clients = true;
        c.max_clients = 3;
        let mut server = Endpoint::new(c).unwrap();
        let mut members: BTreeMap<u64, SocketAddr> = BTreeMap::new();
        for (t, op) in ops.into_iter().enumerate() {
            let now = t as u64 * 1000;
            match op {
                Op::Set(id, p) => {
                    server.set_peer(id, addr(8000 + p));
                    members.insert(id, addr(8000 + p));
                }
                Op::Remove(id) => {
                    server.remove_peer(id);
                    members.remove(&id);
                }
                Op::Client(n, p) => {
                    let id = CLIENT_ID_MIN + n;
                    let at = addr(8000 + p);
                    let mut client = alone(id, at);
                    client.set_peer(1, addr(7001));
                    client.send(now, 1, &0u32).unwrap();
                    while let Some(d) = client.poll_transmit(now) {
                        server.handle_datagram(now, at, &d.bytes);
                    }
                    while server.poll_transmit(now).is_some() {}
                }
            }
            prop_assert_eq!(server.check_indexes(), Ok(()));
            let got: BTreeMap<u64, SocketAddr> = server.members().collect();
            prop_assert_eq!(&got, &members);
            for (&id, &at) in &members {
                prop_assert_eq!(server.peer_addr(id), Some(at));
                prop_assert!(server.send(now, id, &1u32).is_ok());
            }
        }
    }
}

/// The driver: a peer set on a running transport is reached over real
/// sockets, and a removed one is not.
#[test]
fn the_transport_sets_and_removes_peers() {
    use std::net::UdpSocket;
    use std::time::Duration;
    let (sa, sb) = (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
    let (a_at, b_at) = (sa.local_addr().unwrap(), sb.local_addr().unwrap());
    let config = |id, at| Config::new(5, id, BTreeMap::from([(id, at)]));
    let mut a = net::Transport::<u32>::with_socket(config(1, a_at), sa).unwrap();
    let mut b = net::Transport::<u32>::with_socket(config(2, b_at), sb).unwrap();
    a.set_peer(2, b_at);
    b.set_peer(1, a_at);
    assert_eq!(a.peer_addr(2), Some(b_at));
    a.send(2, &7).unwrap();
    let got = async_io::block_on(b.recv_timeout(Duration::from_secs(5)));
    assert_eq!(got, Some((1, 7)));
    b.send(1, &8).unwrap();
    assert_eq!(async_io::block_on(a.recv_timeout(Duration::from_secs(5))), Some((2, 8)));
    assert!(a.remove_peer(2));
    assert!(matches!(a.send(2, &9), Err(SendError::UnknownPeer(2))));
    b.send(1, &10).unwrap();
    assert_eq!(async_io::block_on(a.recv_timeout(Duration::from_millis(300))), None);
    assert!(a.endpoint().counters().drops.unknown_peer > 0);
}

/// `accept_members`: a member waiting to be added hears a leader it has
/// never heard of, learns its address, and can answer it.
#[test]
fn an_unknown_member_is_learned_only_with_accept_members() {
    let mut w = World::new(vec![(1, addr(7001)), (4, addr(7004))]);
    w.ep(1).set_peer(4, addr(7004));
    w.send(1, 4, 1).unwrap();
    w.run(200);
    assert!(w.got(4, 1).is_empty(), "off by default: a stranger stays unheard");
    let mut c = Config::new(5, 4, BTreeMap::from([(4, addr(7004))]));
    c.accept_members = true;
    w.nodes.get_mut(&4).unwrap().1 = Endpoint::new(c).unwrap();
    w.send(1, 4, 2).unwrap();
    w.run(1000);
    assert_eq!(w.got(4, 1).last(), Some(&2));
    assert_eq!(w.ep(4).peer_addr(1), Some(addr(7001)));
    w.send(4, 1, 40).unwrap();
    w.run(1000);
    assert_eq!(w.got(1, 4), vec![40]);
    w.ep(4).check_indexes().unwrap();
}
