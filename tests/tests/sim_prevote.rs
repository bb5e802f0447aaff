//! PreVote (thesis §9.6) on the simulator: a follower cut off for 10
//! election timeouts and reconnected causes no election and no term
//! change, over many seeds and on the lab's unreliable network too.
//! `SEEDS=<n>` for a soak, `SEED=<n>` to replay one seed.

use std::time::Duration;

use tests::harness::Backend;
use tests::runner::seeds_from_env;
use tests::sim::Sim;

/// The lab's largest election timeout (the simulator runs its timing).
fn election_timeout() -> Duration {
    node::config::Timing::LAB.election_timeout_max()
}

fn leaders(sim: &Sim) -> Vec<(usize, u64)> {
    (0..sim.servers()).filter_map(|i| sim.state(i).filter(|s| s.1).map(|s| (i, s.0))).collect()
}

fn returning_member(seed: u64, unreliable: bool) {
    let mut sim = Sim::new(3, seed, false);
    let mut waited = Duration::ZERO;
    let (leader, term) = loop {
        sim.sleep(Duration::from_millis(50)).unwrap();
        waited += Duration::from_millis(50);
        assert!(waited < Duration::from_secs(5), "seed {seed}: no leader");
        if let [only] = leaders(&sim)[..] {
            break only;
        }
    };
    sim.set_unreliable(unreliable);
    let follower = (leader + 1) % 3;
    sim.disconnect(follower);
    sim.sleep(election_timeout() * 10).unwrap();
    assert_eq!(sim.state(follower).map(|s| s.0), Some(term), "seed {seed}: the cut-off member's term moved");
    sim.connect(follower);
    sim.sleep(election_timeout() * 5).unwrap();
    assert_eq!(leaders(&sim), vec![(leader, term)], "seed {seed} (unreliable {unreliable}): an election ran");
    for i in 0..3 {
        assert_eq!(sim.state(i).map(|s| s.0), Some(term), "seed {seed}: server {i}'s term moved");
    }
}

#[test]
fn a_returning_member_causes_no_election() {
    for seed in seeds_from_env(50) {
        returning_member(seed, false);
    }
}

#[test]
fn a_returning_member_causes_no_election_on_an_unreliable_network() {
    for seed in seeds_from_env(50) {
        returning_member(seed, true);
    }
}
