//! Members on IPv6 and by host name, end to end: an in-process cluster
//! and a client exchanging a put and a get.

mod common;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::{local_config, start};
use node::addr::PeerAddr;
use node::client::Client;
use node::config::{ClusterConfig, Member};
use node::kv::KvStore;

const LIMIT: Duration = Duration::from_secs(10);

/// Three free ports on `ip`, or why there are none.
fn free_ports(ip: &str) -> io::Result<Vec<u16>> {
    let sockets = (0..3).map(|_| UdpSocket::bind((ip, 0))).collect::<io::Result<Vec<_>>>()?;
    sockets.iter().map(|s| Ok(s.local_addr()?.port())).collect()
}

fn cluster_on(dir: &std::path::Path, addrs: Vec<PeerAddr>) -> ClusterConfig {
    let mut config = local_config(0, dir);
    config.nodes = (1..).zip(addrs).map(|(id, addr)| Member { id, addr, metrics_addr: None }).collect();
    config
}

fn put_and_get(config: &ClusterConfig) {
    let servers: Vec<_> = (1..=3).map(|id| start(config, id, Box::new(KvStore::default()))).collect();
    let mut client = Client::new(config, LIMIT).unwrap();
    client.put("k", b"over v6").unwrap();
    assert_eq!(client.get("k").unwrap().as_deref(), Some(&b"over v6"[..]));
    assert!(client.status().iter().all(|(_, s)| s.is_some()));
    drop(servers);
}

/// Whether this machine can bind ::1; the skip is allowed under CI only
/// for "no IPv6 here" errors.
fn ipv6_ports() -> Option<Vec<u16>> {
    match free_ports("::1") {
        Ok(ports) => Some(ports),
        Err(e) => {
            // EAFNOSUPPORT (97) and EADDRNOTAVAIL (99) on Linux: IPv6 off.
            let no_ipv6 =
                matches!(e.raw_os_error(), Some(97 | 99)) || e.kind() == io::ErrorKind::AddrNotAvailable;
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci || no_ipv6, "cannot bind [::1]:0 under CI: {e}");
            eprintln!("skipped: cannot bind [::1]:0 ({e}): no IPv6 loopback here");
            None
        }
    }
}

#[test]
fn a_cluster_on_ipv6_loopback_serves_a_client() {
    let Some(ports) = ipv6_ports() else { return };
    let dir = tempfile::tempdir().unwrap();
    let addrs = ports.iter().map(|p| PeerAddr::parse(&format!("[::1]:{p}")).unwrap()).collect();
    let config = cluster_on(dir.path(), addrs);
    put_and_get(&config);
}

/// Members named `localhost:PORT`: each binds what the name resolves to
/// (first result), and the client reaches them by the same resolution.
#[test]
fn a_cluster_by_host_name_serves_a_client() {
    let at: SocketAddr = PeerAddr::parse("localhost:0").unwrap().resolve().unwrap();
    let ports = free_ports(&at.ip().to_string()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addrs = ports.iter().map(|p| PeerAddr::parse(&format!("localhost:{p}")).unwrap()).collect();
    let mut config = cluster_on(dir.path(), addrs);
    config.secret = None; // localhost is loopback: allowed without one
    config.check_secure(1).unwrap();
    put_and_get(&config);
}

/// A client of an IPv6 cluster reaches an IPv4 member too (through its
/// v4-mapped address on the client's IPv6 socket).
#[test]
fn a_client_on_ipv6_also_reaches_ipv4_members() {
    let Some(v6) = ipv6_ports() else { return };
    let v4 = free_ports("127.0.0.1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_on(
        dir.path(),
        vec![
            PeerAddr::parse(&format!("[::1]:{}", v6[0])).unwrap(),
            format!("127.0.0.1:{}", v4[1]).parse().unwrap(),
        ],
    );
    // One member on each family cannot form a cluster; ask each for its status.
    let servers: Vec<_> = (1..=2).map(|id| start(&config, id, Box::new(KvStore::default()))).collect();
    let mut client = Client::new(&config, LIMIT).unwrap();
    let answers = client.status();
    assert!(
        answers.iter().all(|(_, s)| s.is_some()),
        "{:?}",
        answers.iter().map(|(m, s)| (m.id, s.is_some())).collect::<Vec<_>>()
    );
    drop(servers);
}
