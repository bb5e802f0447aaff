//! Running a scenario on the simulator for one seed or many: used by the
//! `#[test]`s (which panic with a replay command) and the `lab` report.

use std::time::Instant;

use crate::harness::{Failure, Summary, Tester};
use crate::scenarios::snapshot_2d::SNAPSHOT_INTERVAL;
use crate::scenarios::{Part, Scenario};
use crate::sim::{DiskProfile, Nemesis, Sim, SimOptions};

/// The outcome of one scenario run on one seed and profile.
#[derive(Debug, Clone)]
pub struct Run {
    pub scenario: &'static str,
    pub seed: u64,
    pub unreliable: bool,
    pub summary: Summary,
    pub result: Result<(), Failure>,
    /// The servers' states when the run ended, for a failure report.
    pub state: String,
}

/// Runs `scenario` on a fresh simulator seeded with `seed`, with the
/// default (torn) disk.
pub fn run_once(scenario: &'static Scenario, seed: u64, unreliable: bool) -> Run {
    run_with(scenario, seed, unreliable, DiskProfile::TORN, Nemesis::NONE)
}

/// Runs `scenario` on a fresh simulator seeded with `seed`, with the disk
/// profile `disk` and the faults of `nemesis` on top of the scenario's own
/// (a nemesis that crashes or partitions breaks the scenarios' timing
/// checks; `slowdisk`, `holdback` at most stretch them, `forge` is
/// invisible to a correct member).
pub fn run_with(
    scenario: &'static Scenario,
    seed: u64,
    unreliable: bool,
    disk: DiskProfile,
    nemesis: Nemesis,
) -> Run {
    run_recorded(scenario, seed, unreliable, disk, nemesis, false).0
}

/// [`run_with`], and the run's timeline when `timeline` is set.
pub fn run_recorded(
    scenario: &'static Scenario,
    seed: u64,
    unreliable: bool,
    disk: DiskProfile,
    nemesis: Nemesis,
    timeline: bool,
) -> (Run, Option<node::timeline::Timeline>) {
    let wall = Instant::now();
    let snapshot_entries = (scenario.part == Part::D).then_some(SNAPSHOT_INTERVAL);
    let options =
        SimOptions { disk, nemesis, snapshot_entries, ..SimOptions::lab(scenario.servers, seed, unreliable) };
    let mut sim = Sim::with_options(options);
    if timeline {
        sim.record_timeline();
    }
    let mut t = Tester::new(Box::new(sim), seed);
    t.begin(scenario.name);
    let result = (scenario.run)(&mut t);
    let state = if result.is_err() { t.describe() } else { String::new() };
    let network = if unreliable { "unreliable network" } else { "reliable network" };
    let title = format!("{} seed {seed} ({network}, simulated)", scenario.name);
    let recorded = t.take_timeline(&title);
    let mut summary = t.end();
    summary.wall = wall.elapsed();
    (Run { scenario: scenario.name, seed, unreliable, summary, result, state }, recorded)
}

/// Seeds from the environment: `SEED=<n>` runs that one seed, `SEEDS=<n>`
/// runs seeds `0..n`, else `0..default`.
pub fn seeds_from_env(default: u64) -> Vec<u64> {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(seed) = var("SEED") {
        return vec![seed];
    }
    (0..var("SEEDS").unwrap_or(default)).collect()
}

/// Seeds each `#[test]` runs by default: the whole `cargo test` stays
/// within a couple of minutes on two cores.
pub const DEFAULT_SEEDS: u64 = 500;

/// The body of each scenario's `#[test]`: every seed, on the reliable
/// profile and (where the scenario allows) the unreliable one. Panics on
/// the first failure with what is needed to replay it.
pub fn run_test(name: &str) {
    let Some(scenario) = crate::scenarios::find(name) else { panic!("no scenario named {name}") };
    let profiles: &[bool] = if scenario.unreliable_too { &[false, true] } else { &[false] };
    for seed in seeds_from_env(DEFAULT_SEEDS) {
        for &unreliable in profiles {
            let run = run_once(scenario, seed, unreliable);
            if let Err(f) = &run.result {
                panic!("{}", failure_report(&run, f));
            }
            println!("{}  (seed {seed}{})", run.summary.line(), if unreliable { ", unreliable" } else { "" });
        }
    }
}

/// The failure text: scenario, seed, profile, event, and how to replay.
pub fn failure_report(run: &Run, f: &Failure) -> String {
    let profile = if run.unreliable { "unreliable" } else { "reliable" };
    format!(
        "{} failed on seed {} ({profile} network) at event {}: {f}\n  replay: SEED={} cargo test --release -p tests {} -- --exact --nocapture\n{}",
        run.scenario,
        run.seed,
        f.event(),
        run.seed,
        run.scenario,
        run.state,
    )
}
