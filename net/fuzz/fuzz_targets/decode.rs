//! Feeds arbitrary bytes to the datagram decoder and to an endpoint's whole
//! receive path, with and without a MAC key. Run with
//! `cargo +nightly fuzz run decode` from `net/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use net::{Config, Endpoint};

fuzz_target!(|data: &[u8]| {
    let _ = net::wire::decode(data);
    let peers: BTreeMap<u64, SocketAddr> = [(1, "127.0.0.1:7001".parse().unwrap()), (2, "127.0.0.1:7002".parse().unwrap())].into();
    for secret in [None, Some(b"key".to_vec())] {
        let mut e = Endpoint::new(Config { secret, ..Config::new(42, 2, peers.clone()) }).unwrap();
        e.handle_datagram(0, "127.0.0.1:7001".parse().unwrap(), data);
        e.handle_timeout(u64::MAX / 2);
        while e.poll_transmit(0).is_some() {}
        while e.poll_event().is_some() {}
        assert_eq!(e.counters().datagrams_received, 1);
    }
});
