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

/// Seeds of the removal operators in `cargo test`: their runs are short
/// (about a hundred a second each), and their faults rare per run.
const OPERATOR_SEEDS: u64 = 200;

/// Runs `nemesis` (an operator's) over the seeds; returns the seeds run
/// and the changes the leaders took.
fn run_operator(nemesis: &'static str) -> (u64, u64) {
    let (mut seeds, mut taken) = (0, 0);
    for seed in seeds_from_env(OPERATOR_SEEDS) {
        let run = chaos::run(seed, nemesis, DiskProfile::TORN);
        if let Err(e) = &run.result {
            panic!("{nemesis} seed {seed}: {e}\nreplay: {}", chaos::replay_command(&run));
        }
        assert!(run.operations > 0, "{nemesis} seed {seed}: no operation completed");
        seeds += 1;
        taken += run.churn.accepted;
    }
    (seeds, taken)
}

/// The leader removes itself and is cut off at once (alone or with one
/// other server), with 1 to 4 voters: the member holding its own
/// uncommitted removal must still stand when only it can win, and the
/// cluster converges once healed.
#[test]
fn chaos_selfremove() {
    let (seeds, taken) = run_operator("selfremove");
    assert!(taken >= 5 * seeds, "{taken} changes taken in {seeds} runs");
}

/// Learners removed and added again under loss and held-back messages,
/// part of it on an idle cluster: every member of the final
/// configuration converges, learners included.
#[test]
fn chaos_relearn() {
    let (seeds, taken) = run_operator("relearn");
    assert!(taken >= 10 * seeds, "{taken} changes taken in {seeds} runs");
}

#[test]
fn chaos_clock() {
    run("clock");
}

/// Every kind of read is served: ReadIndex at leaders and followers, the
/// lease, serializable reads.
#[test]
fn every_kind_of_read_is_served() {
    let run = chaos::run(1, "none", DiskProfile::TORN);
    assert!(run.result.is_ok(), "{:?}", run.result);
    let r = run.reads;
    assert!(r.read_index > 50 && r.lease > 50 && r.serializable > 50, "{r:?}");
}

/// The drift bound is what keeps lease reads linearizable: with the
/// leader's clock 5× slow (`clockbeyond`) and partitions cutting it off
/// while clients still reach it, the checker finds stale reads.
#[test]
fn a_clock_drift_beyond_the_bound_is_caught_by_the_checker() {
    let caught = (0..40).any(|seed| {
        let run = chaos::run(seed, "partition,clockbeyond", DiskProfile::TORN);
        matches!(&run.result, Err(e) if e.to_string().contains("not linearizable"))
    });
    assert!(caught, "no stale lease read in 40 seeds with clocks far beyond the bound");
}

#[test]
fn chaos_reorder() {
    run("reorder");
}

/// A tenth of the messages arrive up to 5 ms late, after those sent just
/// after them: a follower takes a reordered AppendEntries without a
/// rejection and the leader keeps pipelining, rather than falling back to
/// probing. Rejections and probes per 1,000 committed entries, over the
/// seeds.
#[test]
fn reordering_costs_few_rejections_and_probes() {
    let (mut rejections, mut probes, mut entries) = (0, 0, 0);
    for seed in 0..10 {
        let run = chaos::run(seed, "reorder", DiskProfile::TORN);
        assert!(run.result.is_ok(), "seed {seed}: {:?}", run.result);
        let (counters, committed) = run.replication;
        rejections += counters.rejections;
        probes += counters.probes;
        entries += committed;
    }
    let per_1000 = |n: u64| n as f64 * 1000.0 / entries as f64;
    println!(
        "reorder: {entries} entries, {:.1} rejections and {:.1} probes per 1,000",
        per_1000(rejections),
        per_1000(probes)
    );
    assert!(per_1000(rejections) < 5.0, "{:.1} rejections per 1,000 entries", per_1000(rejections));
    assert!(per_1000(probes) < 5.0, "{:.1} probes per 1,000 entries", per_1000(probes));
}
