//! Key-value workloads under each nemesis on the simulator (the node's
//! member logic on simulated disks): every invariant after every event,
//! every operation completes once the faults heal, every history is
//! linearizable. `SEEDS=<n>` for a soak, `SEED=<n>` to replay one seed;
//! `cargo run --release -p tests --bin chaos` for many seeds at once.

use tests::chaos;
use tests::runner::seeds_from_env;
use tests::sim::DiskProfile;

/// Seeds per profile in `cargo test`: the whole file stays within about
/// half a minute on two cores.
const SEEDS: u64 = 40;

fn run(nemesis: &'static str) {
    for seed in seeds_from_env(SEEDS) {
        let run = chaos::run(seed, nemesis, DiskProfile::TORN);
        if let Err(e) = &run.result {
            panic!("{nemesis} seed {seed}: {e}\nreplay: {}", chaos::replay_command(&run));
        }
        assert!(run.operations > 0, "{nemesis} seed {seed}: no operation completed");
    }
}

#[test]
fn chaos_none() {
    run("none");
}

#[test]
fn chaos_crash() {
    run("crash");
}

#[test]
fn chaos_partition() {
    run("partition");
}

#[test]
fn chaos_oneway() {
    run("oneway");
}

#[test]
fn chaos_holdback() {
    run("holdback");
}

#[test]
fn chaos_slowdisk() {
    run("slowdisk");
}

#[test]
fn chaos_forge() {
    run("forge");
}

#[test]
fn chaos_all() {
    run("all");
}

/// Every crash point is reached in a crash storm, and a torn crash leaves
/// a prefix the member restarts from (no failure to restart is a
/// violation the run would report).
#[test]
fn crash_storms_reach_every_crash_point() {
    let mut hit = Vec::new();
    for seed in 0..20 {
        hit.extend(chaos::run(seed, "crash", DiskProfile::TORN).crash_points);
    }
    for point in tests::sim::CrashPoint::ALL {
        assert!(hit.contains(&point), "{point:?} never reached in 20 seeds: {hit:?}");
    }
}

/// Membership changes and leadership transfers, 3 to 7 voters, under every
/// other fault; the operator's requests must mostly be taken, and the
/// voters must really move.
#[test]
fn chaos_churn() {
    let mut most = 0;
    for seed in seeds_from_env(SEEDS) {
        let run = chaos::run(seed, "churn", DiskProfile::TORN);
        if let Err(e) = &run.result {
            panic!("churn seed {seed}: {e}\nreplay: {}", chaos::replay_command(&run));
        }
        assert!(run.operations > 0, "churn seed {seed}: no operation completed");
        assert!(run.churn.accepted > 0, "churn seed {seed}: no change taken: {:?}", run.churn);
        most = most.max(run.churn.voters_seen.1);
    }
    assert!(most >= 5, "the voters never grew past {most}");
}
