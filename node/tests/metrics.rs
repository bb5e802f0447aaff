//! A member's metrics endpoint, scraped as Prometheus would: over HTTP by
//! a real client, the answer parsed by a Prometheus text parser.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{local_config, start, wait_for};
use node::client::Client;
use node::kv::KvStore;

const LIMIT: Duration = Duration::from_secs(10);

/// Every sample of a scrape of `addr`, by metric name (label sets summed).
fn scrape(addr: std::net::SocketAddr) -> BTreeMap<String, f64> {
    let mut response = ureq::get(&format!("http://{addr}/metrics")).call().expect("a scrape");
    let body = response.body_mut().read_to_string().expect("a text body");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let mut values = BTreeMap::new();
    for s in scrape.samples {
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        };
        *values.entry(s.metric).or_insert(0.0) += v;
    }
    values
}

#[test]
fn a_scrape_shows_the_leader_its_writes_and_its_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = local_config(3, dir.path());
    for m in &mut config.nodes {
        m.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    }
    let servers: Vec<_> = (1..=3).map(|id| start(&config, id, Box::new(KvStore::default()))).collect();
    let mut client = Client::new(&config, LIMIT).unwrap();
    for i in 0..20 {
        client.put(&format!("k{i}"), b"value").unwrap();
    }
    assert_eq!(client.get("k3").unwrap().as_deref(), Some(&b"value"[..]));
    let leader = client.leader().unwrap();
    let addr = |id: u64| servers[id as usize - 1].metrics_addr().expect("metrics served");
    // The loop publishes at the end of its turn; heartbeats keep turning.
    let m = wait_for(LIMIT, "the leader's metrics", || {
        let m = scrape(addr(leader));
        (m.get("raftudp_server_proposals_applied_total") >= Some(&21.0)
            && m.get("raftudp_network_peer_round_trip_time_seconds_count") > Some(&0.0))
        .then_some(m)
    });
    let get = |name: &str| *m.get(name).unwrap_or_else(|| panic!("{name} in the scrape: {m:?}"));
    assert_eq!(get("raftudp_server_is_leader"), 1.0);
    assert_eq!(get("raftudp_server_has_leader"), 1.0);
    assert!(get("raftudp_server_leader_changes_seen_total") >= 1.0);
    assert!(get("raftudp_server_current_term") >= 1.0);
    assert!(get("raftudp_server_commit_index") >= 21.0);
    assert!(get("raftudp_disk_wal_fsync_duration_seconds_count") >= 1.0);
    assert!(get("raftudp_disk_wal_write_bytes_total") > 0.0);
    assert!(get("raftudp_network_datagrams_sent_total") > 0.0);
    assert!(get("raftudp_network_datagrams_received_total") > 0.0);
    assert!(get("raftudp_client_requests_total") >= 21.0);
    assert!(get("raftudp_client_replies_total") >= 21.0);
    assert!(get("raftudp_server_read_index_rounds_total") >= 1.0);
    // A follower knows the leader and is not it.
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let f = scrape(addr(follower));
    assert_eq!(f.get("raftudp_server_is_leader"), Some(&0.0));
    assert_eq!(f.get("raftudp_server_has_leader"), Some(&1.0));
}

#[test]
fn anything_but_the_metrics_path_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = local_config(1, dir.path());
    config.nodes[0].metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let server = start(&config, 1, Box::new(KvStore::default()));
    let addr = server.metrics_addr().unwrap();
    let err = ureq::get(&format!("http://{addr}/")).call().unwrap_err();
    assert!(matches!(err, ureq::Error::StatusCode(404)), "{err}");
}
