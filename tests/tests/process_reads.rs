//! Reads outside the log against real processes on loopback: clients put
//! and get (linearizable and lease, from any member: mostly followers)
//! while the leader is killed with SIGKILL and restarted; the history they
//! saw, timed by this process's clock, must be linearizable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::client::{Client, ClientError, ReadFrom};
use node::config::ClusterConfig;
use node::proto::Consistency;
use rand::{Rng, SeedableRng};
use tests::linearizability::{self, KvOp, Operation};
use tests::procs::{ClusterSpec, ProcCluster};

const TIMEOUT: Duration = Duration::from_secs(10);
const KEYS: [&str; 3] = ["a", "b", "c"];

/// One client: puts unique values and gets, one at a time, until `stop`;
/// the operations it saw. A put that failed may have happened (no
/// return); a get that failed saw nothing and is left out.
fn client(config: ClusterConfig, c: u64, epoch: Instant, stop: Arc<AtomicBool>) -> Vec<Operation> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(c);
    let mut client = Client::new(&config, Duration::from_secs(2)).expect("client");
    let mut history = Vec::new();
    let us = |t: Instant| t.duration_since(epoch).as_micros() as u64;
    for seq in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = KEYS[rng.random_range(0..KEYS.len())];
        let invoked = Instant::now();
        let (op, ok) = if rng.random_bool(0.3) {
            let value = format!("{c}.{seq}");
            let result = client.put(key, value.as_bytes());
            (KvOp::Put(value.into_bytes()), result.is_ok())
        } else {
            let consistency =
                if rng.random_bool(0.5) { Consistency::Linearizable } else { Consistency::Lease };
            match client.get_with(key, consistency, ReadFrom::Any) {
                Ok(v) => (KvOp::Get(v), true),
                Err(ClientError::Timeout(_)) => continue,
                Err(e) => panic!("client {c}: {e}"),
            }
        };
        let returned = ok.then(|| us(Instant::now()));
        history.push(Operation { client: c, key: key.into(), op, invoked: us(invoked), returned });
    }
    history
}

#[test]
fn follower_reads_stay_linearizable_while_the_leader_is_killed() {
    let mut spec = ClusterSpec::loopback(3).unwrap();
    spec.extra_toml = "[reads]\nlease = true\n".into();
    let mut cluster = ProcCluster::start(spec).unwrap();
    cluster.wait_leader(TIMEOUT).unwrap();
    let config = ClusterConfig::load(cluster.config_path()).unwrap();
    let (epoch, stop) = (Instant::now(), Arc::new(AtomicBool::new(false)));
    let clients: Vec<_> = (1..=6)
        .map(|c| {
            let (config, stop) = (config.clone(), stop.clone());
            std::thread::spawn(move || client(config, c, epoch, stop))
        })
        .collect();
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        let old = cluster.wait_leader(TIMEOUT).unwrap();
        cluster.kill(old).unwrap();
        let new = cluster.wait_leader(TIMEOUT).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_ne!(new, old);
        cluster.spawn(old).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let history: Vec<Operation> =
        clients.into_iter().flat_map(|h| h.join().expect("client thread")).collect();
    let gets = history.iter().filter(|o| matches!(o.op, KvOp::Get(_))).count();
    assert!(gets > 100, "only {gets} gets answered");
    if let Err(v) = linearizability::check(&history) {
        panic!("not linearizable on {:?}: {:?}", v.key, v.operations);
    }
}
