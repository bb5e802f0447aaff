//! Garbage datagrams sprayed at members' UDP ports (random bytes and
//! valid-looking headers in the `net` wire format: bad CRC, another
//! cluster, an outsider id, a member's id with a forged MAC, cut short)
//! while a client writes: every write still succeeds and no member dies.

use std::time::Duration;

use tests::procs::faults::{spray, SprayTarget};
use tests::procs::oracle::{assert_final, Writer};
use tests::procs::{ClusterSpec, ProcCluster};

#[test]
fn garbage_datagrams_do_not_stop_a_member_from_serving() {
    let mut spec = ClusterSpec::loopback(3).unwrap();
    spec.secret = Some("garbage-test-secret".into());
    let mut cluster = ProcCluster::start(spec).unwrap();
    let leader = cluster.wait_leader(Duration::from_secs(10)).unwrap();
    let writer = Writer::start(cluster.cli().clone(), "g");
    assert!(writer.wait_progress(5, Duration::from_secs(15)), "no writes before spraying");

    let before = writer.acked();
    let sprayers: Vec<_> = cluster
        .ids()
        .into_iter()
        .map(|id| {
            let target = SprayTarget {
                addr: cluster.addr(id).unwrap(),
                cluster_id: cluster.spec().cluster_id,
                target_id: id,
                member_ids: cluster.ids(),
            };
            let count = if id == leader { 60_000 } else { 20_000 };
            std::thread::spawn(move || spray(&target, count, Duration::from_secs(4), id).unwrap())
        })
        .collect();
    let mut sent = 0;
    for sprayer in sprayers {
        let stats = sprayer.join().unwrap();
        assert!(stats.forged_member > 0 && stats.random > 0 && stats.truncated > 0);
        sent += stats.total();
    }
    let during = writer.acked() - before;
    assert!(during >= 5, "only {during} writes acknowledged during 4 s of spraying");
    assert!(writer.wait_progress(5, Duration::from_secs(15)), "no writes after spraying");
    cluster.check_alive().unwrap();
    let report = writer.stop();
    eprintln!("{sent} datagrams sprayed; {during} writes acknowledged meanwhile");
    assert_eq!(report.not_acked, 0, "writes failed while garbage was sprayed");
    assert_final(&mut cluster, &report);
}
