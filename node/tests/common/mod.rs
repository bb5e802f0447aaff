//! An in-process cluster on loopback for the node's tests.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use node::config::{ClusterConfig, Member, Timing};
use node::server::{Server, ServerOptions, StateMachine};

/// A cluster.toml for `n` members on free loopback ports, data under `dir`.
pub fn local_config(n: u64, dir: &Path) -> ClusterConfig {
    // Bind all first so no two members get the same port.
    let sockets: Vec<UdpSocket> = (0..n).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    let nodes = (1..=n)
        .zip(&sockets)
        .map(|(id, s)| Member { id, addr: s.local_addr().unwrap().into(), metrics_addr: None })
        .collect();
    ClusterConfig {
        cluster_id: 77,
        secret: Some(b"test secret".to_vec()),
        timing: Timing::FAST_TEST,
        limits: Default::default(),
        log: Default::default(),
        reads: Default::default(),
        insecure: false,
        data_dir: dir.to_path_buf(),
        nodes,
    }
}

/// Records what it applies.
#[derive(Clone, Default)]
pub struct Recorder(pub Applied);

/// (index, data) of every applied entry.
pub type Applied = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

impl StateMachine for Recorder {
    fn apply(&mut self, index: u64, data: &bytes::Bytes) -> Vec<u8> {
        self.0.lock().unwrap().push((index, data.to_vec()));
        data.to_vec()
    }
}

pub fn start(config: &ClusterConfig, id: u64, sm: Box<dyn StateMachine>) -> Server {
    let options = ServerOptions {
        config: config.clone(),
        id,
        data_dir: config.node_data_dir(id),
        noop_on_election: true,
        join: None,
    };
    Server::start(options, sm).unwrap()
}

/// Polls `f` until it returns Some, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The id of the one leader among `servers` (of the highest term).
pub fn leader(servers: &[&Server]) -> Option<u64> {
    let leaders: Vec<_> =
        servers.iter().map(|s| s.status()).filter(|s| s.role == raft::Role::Leader).collect();
    leaders.iter().max_by_key(|s| s.current_term).map(|s| s.id)
}
