//! The harness itself: runs replay exactly from their seed, and the lab's
//! helpers fail when the cluster cannot do what they ask.

use std::time::Duration;

use tests::harness::{cmd, Backend, Failure, Tester};
use tests::runner::run_once;
use tests::scenarios;
use tests::sim::Sim;

fn tester(servers: usize, seed: u64) -> Tester {
    Tester::new(Box::new(Sim::new(servers, seed, false)), seed)
}

#[test]
fn a_seed_replays_exactly() {
    for name in ["backup_2b", "figure8_unreliable_2c"] {
        let s = scenarios::find(name).expect("registered");
        let (a, b) = (run_once(s, 3, false), run_once(s, 3, false));
        let key = |r: &tests::runner::Run| {
            (r.summary.rpcs, r.summary.bytes, r.summary.commands, r.summary.seconds.to_bits())
        };
        assert_eq!(key(&a), key(&b), "{name}: same seed, different run");
        assert_ne!(key(&a), key(&run_once(s, 4, false)), "{name}: seeds 3 and 4 ran alike");
    }
}

#[test]
fn one_fails_without_a_majority() {
    let mut t = tester(3, 1);
    t.check_one_leader().expect("a leader");
    t.disconnect(0);
    t.disconnect(1);
    let start = t.now();
    let result = t.one(&cmd(7), 3, false);
    assert!(matches!(result, Err(Failure::Scenario { .. })), "{result:?}");
    assert!(t.now() - start <= Duration::from_secs(11), "one() gave up late");
}

#[test]
fn check_no_leader_fails_while_a_leader_is_connected() {
    let mut t = tester(3, 2);
    t.check_one_leader().expect("a leader");
    assert!(t.check_no_leader().is_err());
}

#[test]
fn a_restarted_server_keeps_its_persisted_log() {
    let mut sim = Sim::new(3, 5, false);
    let mut t = Tester::new(Box::new(Sim::new(3, 5, false)), 5);
    let index = t.one(&cmd(42), 3, false).expect("committed");
    for i in 0..3 {
        t.restart(i);
        t.connect(i);
    }
    let index2 = t.one(&cmd(43), 3, true).expect("committed after restart");
    assert_eq!(index2, index + 1, "the restarted cluster lost its log");
    assert_eq!(t.n_committed(index), (3, Some(cmd(42))));
    // A crashed server keeps only its disk; a disconnected one is not
    // connected by restart.
    sim.sleep(Duration::from_secs(2)).expect("no violation");
    sim.crash(0);
    assert_eq!(sim.state(0), None);
    sim.restart(0);
    assert!(!sim.is_connected(0));
    assert!(sim.state(0).is_some());
}
