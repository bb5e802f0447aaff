//! The client against an in-process 3-member cluster on loopback: finding
//! the leader, failing over, timing out.

mod common;

use std::time::{Duration, Instant};

use common::{leader, local_config, start, wait_for};
use node::client::{Client, ClientError};
use node::kv::KvStore;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn the_client_finds_the_leader_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(3, dir.path());
    let servers: Vec<_> = (1..=3).map(|id| start(&config, id, Box::new(KvStore::default()))).collect();
    let mut client = Client::new(&config, LIMIT).unwrap();
    client.put("k", b"v1").unwrap();
    let refs: Vec<_> = servers.iter().collect();
    assert_eq!(client.leader(), leader(&refs));
    assert_eq!(client.get("k").unwrap().as_deref(), Some(&b"v1"[..]));
    client.delete("k").unwrap();
    assert_eq!(client.get("k").unwrap(), None);
    let status = client.status();
    assert!(status.iter().all(|(_, s)| s.is_some()));
}

#[test]
fn the_client_follows_a_new_leader_after_the_old_one_stops() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(3, dir.path());
    let mut servers: Vec<_> = (1..=3).map(|id| start(&config, id, Box::new(KvStore::default()))).collect();
    let mut client = Client::new(&config, LIMIT).unwrap();
    client.put("a", b"1").unwrap();
    let old = client.leader().unwrap();
    let position = servers.iter().position(|s| s.id() == old).unwrap();
    servers.remove(position).stop();
    client.put("b", b"2").unwrap();
    assert_ne!(client.leader(), Some(old));
    assert_eq!(client.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(client.get("b").unwrap().as_deref(), Some(&b"2"[..]));
    let (m, s) = client.status().into_iter().find(|(m, _)| m.id == old).unwrap();
    assert_eq!((m.id, s), (old, None), "the stopped member is unreachable");
}

#[test]
fn without_a_majority_the_client_times_out_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(3, dir.path());
    let only = start(&config, 1, Box::new(KvStore::default()));
    let timeout = Duration::from_millis(600);
    let mut client = Client::new(&config, timeout).unwrap();
    let began = Instant::now();
    let err = client.put("k", b"v").unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    assert!(err.to_string().contains("600ms"), "{err}");
    assert!(began.elapsed() < timeout + Duration::from_millis(500));
    wait_for(LIMIT, "member still up", || Some(only.status()));
}

#[test]
fn a_client_without_the_secret_is_not_answered_but_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(1, dir.path());
    let _server = start(&config, 1, Box::new(KvStore::default()));
    let mut wrong = config.clone();
    wrong.secret = Some(b"guess".to_vec());
    let mut client = Client::new(&wrong, Duration::from_millis(300)).unwrap();
    let err = client.put("k", b"v").unwrap_err();
    assert!(matches!(err, ClientError::WrongSecret { member: 1 }), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert!(client.status().iter().all(|(_, s)| s.is_none()));
    // Nothing at all to a client without a secret but the same notice.
    let mut none = config.clone();
    none.secret = None;
    let mut client = Client::new(&none, Duration::from_millis(300)).unwrap();
    assert!(matches!(client.get("k"), Err(ClientError::WrongSecret { member: 1 })));
}

/// With an uncommitted budget of one byte the leader admits one proposal
/// at a time and answers every other "busy": concurrent clients back off
/// and retry, and every write lands within the timeout.
#[test]
fn clients_of_a_busy_leader_back_off_and_all_writes_land() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = local_config(3, dir.path());
    config.limits.max_uncommitted_bytes = 1;
    let _servers: Vec<_> = (1..=3).map(|id| start(&config, id, Box::new(KvStore::default()))).collect();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let config = config.clone();
            std::thread::spawn(move || {
                let mut client = Client::new(&config, LIMIT).unwrap();
                for i in 0..20 {
                    client.put(&format!("w{w}-{i}"), &[7; 2000]).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("a writer failed");
    }
    let mut client = Client::new(&config, LIMIT).unwrap();
    assert_eq!(client.get("w7-19").unwrap().as_deref(), Some(&[7; 2000][..]));
}

/// A leader with a lower entry limit than the client's file refuses at
/// once, and the client reports it in the client's own terms.
#[test]
fn a_leaders_size_refusal_is_reported_as_value_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = local_config(3, dir.path());
    config.limits.max_entry_bytes = 10_000;
    let _servers: Vec<_> = (1..=3).map(|id| start(&config, id, Box::new(KvStore::default()))).collect();
    let mut roomier = config.clone();
    roomier.limits = Default::default();
    let mut client = Client::new(&roomier, LIMIT).unwrap();
    client.put("small", b"v").unwrap();
    let began = Instant::now();
    let err = client.put("k", &[1; 20_000]).unwrap_err();
    let max = node::kv::max_value_bytes("k", 10_000).unwrap();
    assert!(matches!(err, ClientError::ValueTooLarge { bytes: 20_000, max: m } if m == max), "{err}");
    assert_eq!(err.to_string(), format!("value too large: 20000 bytes (at most {max})"));
    assert_eq!(err.exit_code(), 2);
    assert!(began.elapsed() < Duration::from_millis(500), "refused at once");
    client.put("k", &[1; 9_000]).unwrap();
}
