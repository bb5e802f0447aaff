//! Admission on real `node` processes: a put of any size is acknowledged
//! or refused at once, and the cluster keeps committing. Once a value a
//! little under the transport's limit was accepted by the leader and could
//! never be sent, and nothing committed after it.

use std::process::Command;
use std::time::{Duration, Instant};

use node::client::{Client, ClientError};
use node::config::ClusterConfig;
use node::limits::MAX_MESSAGE_BYTES;
use tests::procs::{ClusterSpec, ProcCluster};

/// An accepted put of about 1 MiB commits well within this (three fsyncs
/// and 2 × 1,000 datagrams on loopback).
const ACK_WITHIN: Duration = Duration::from_secs(2);
/// A refusal needs no round trip.
const REFUSED_WITHIN: Duration = Duration::from_millis(50);

#[test]
fn puts_around_the_size_limit_are_acknowledged_or_refused_at_once() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(Duration::from_secs(10)).unwrap();
    let config = ClusterConfig::load(cluster.config_path()).unwrap();
    let mut client = Client::new(&config, Duration::from_secs(5)).unwrap();
    let key = "big";
    let limit = client.max_value_bytes(key).unwrap();
    let mut sizes: Vec<usize> = (limit - 64..=limit + 64).collect();
    sizes.extend([1_048_540, 1_048_550, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES + 1]);
    for size in sizes {
        let began = Instant::now();
        let result = client.put(key, &vec![(size % 251) as u8; size]);
        let took = began.elapsed();
        if size <= limit {
            result.unwrap_or_else(|e| panic!("{size} bytes (limit {limit}): {e}"));
            assert!(took < ACK_WITHIN, "{size} bytes acknowledged after {took:?}");
        } else {
            let err = result.expect_err("over the limit");
            assert!(
                matches!(err, ClientError::ValueTooLarge { bytes, max } if bytes == size && max == limit)
            );
            assert!(took < REFUSED_WITHIN, "{size} bytes refused after {took:?}");
        }
    }
    let began = Instant::now();
    client.put("small", b"after").unwrap();
    assert!(began.elapsed() < Duration::from_secs(1), "small put took {:?}", began.elapsed());
    let value = client.get(key).unwrap().expect("the last accepted value");
    assert_eq!(value.len(), limit);
    cluster.check_alive().unwrap();
}

/// The command line says it in one line and exits 2; a value at the limit
/// read from a file is stored.
#[test]
fn the_cli_refuses_an_oversized_put_with_exit_2() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(Duration::from_secs(10)).unwrap();
    let config = ClusterConfig::load(cluster.config_path()).unwrap();
    let limit = node::kv::max_value_bytes("k", config.limits.max_entry_bytes).unwrap();
    let file = cluster.config_path().with_file_name("value");
    let put = |size: usize| {
        std::fs::write(&file, vec![b'v'; size]).unwrap();
        let cli = cluster.cli();
        let mut cmd = Command::new(&cli.bin);
        cmd.arg("put").arg("--config").arg(&cli.config).args(["k", "--value-file"]).arg(&file);
        cmd.output().unwrap()
    };
    let out = put(limit + 1);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end(), format!("node: value too large: {} bytes (at most {limit})", limit + 1));
    let out = put(limit);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut client = Client::new(&config, Duration::from_secs(5)).unwrap();
    assert_eq!(client.get("k").unwrap().map(|v| v.len()), Some(limit));
}
