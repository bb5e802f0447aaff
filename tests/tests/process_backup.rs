//! Backup and disaster recovery on real `node` processes: write, back up,
//! write more, kill every member and wipe their directories, restore into
//! a new cluster id, start: every write acknowledged before the backup
//! reads back, none acknowledged after it does, and the restored cluster
//! takes writes. A restore into the old cluster id, or over a data
//! directory in use, is refused.

use std::process::Output;
use std::time::Duration;

use node::client::Client;
use node::config::ClusterConfig;
use tests::procs::{ClusterSpec, ProcCluster};

const LIMIT: Duration = Duration::from_secs(10);

fn node(cluster: &ProcCluster, args: &[&str]) -> Output {
    cluster.cli().run(args).unwrap()
}

fn client(cluster: &ProcCluster) -> Client {
    Client::new(&ClusterConfig::load(cluster.config_path()).unwrap(), LIMIT).unwrap()
}

#[test]
fn a_restored_cluster_holds_what_was_acknowledged_before_the_backup_and_nothing_after() {
    let mut cluster = ProcCluster::start(ClusterSpec::loopback(3).unwrap()).unwrap();
    cluster.wait_leader(LIMIT).unwrap();
    let mut c = client(&cluster);
    for i in 0..50 {
        c.put(&format!("before{i}"), format!("v{i}").as_bytes()).unwrap();
    }
    let file = cluster.root().join("cluster.backup");
    let out = node(&cluster, &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "node backup: {}", String::from_utf8_lossy(&out.stderr));
    for i in 0..10 {
        c.put(&format!("after{i}"), b"x").unwrap();
    }
    drop(c);
    cluster.kill_all().unwrap();

    // Into the same cluster id: refused, nothing written.
    let out = node(&cluster, &["restore", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another cluster_id"));

    // A new cluster id; over the old directories: refused; wiped: restored.
    let text = std::fs::read_to_string(cluster.config_path()).unwrap();
    let old_id = ClusterConfig::load(cluster.config_path()).unwrap().cluster_id;
    let text = text.replace(&format!("cluster_id = {old_id}"), &format!("cluster_id = {}", old_id + 1));
    std::fs::write(cluster.config_path(), text).unwrap();
    let out = node(&cluster, &["restore", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "over data in use: {}", String::from_utf8_lossy(&out.stderr));
    for id in cluster.ids() {
        std::fs::remove_dir_all(cluster.data_dir(id)).unwrap();
    }
    let out = node(&cluster, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "node restore: {}", String::from_utf8_lossy(&out.stderr));

    for id in cluster.ids() {
        cluster.spawn(id).unwrap();
    }
    cluster.wait_leader(LIMIT).unwrap();
    let mut c = client(&cluster);
    for i in 0..50 {
        assert_eq!(c.get(&format!("before{i}")).unwrap(), Some(format!("v{i}").into_bytes()), "before{i}");
    }
    for i in 0..10 {
        assert_eq!(c.get(&format!("after{i}")).unwrap(), None, "after{i} was acknowledged after the backup");
    }
    c.put("restored", b"yes").unwrap();
    assert_eq!(c.get("restored").unwrap().as_deref(), Some(&b"yes"[..]));
}
