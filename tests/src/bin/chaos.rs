//! `chaos`: key-value workloads on the simulator under each nemesis
//! (docs/simulator.md): simulated clients through the node's member logic,
//! faults for 5 s of virtual time, then healed; every operation must
//! complete and every history must be linearizable. Prints runs per second
//! and the first failure with its replay command.
//!
//! ```text
//! cargo run --release -p tests --bin chaos -- --seeds 1000
//! cargo run --release -p tests --bin chaos -- --nemesis crash --seed 17
//! ```

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use tests::chaos::{self, ChaosRun};
use tests::sim::{DiskProfile, Nemesis};

#[derive(Parser, Debug)]
#[command(about = "Run key-value workloads on the simulator under nemeses and check linearizability")]
struct Args {
    /// Seeds per nemesis profile.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed (seeds are consecutive from here).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Run this one seed only (a replay).
    #[arg(long)]
    seed: Option<u64>,
    /// One nemesis profile (none, crash, partition, oneway, holdback,
    /// slowdisk, forge, clock, all, churn, selfremove, relearn), or several
    /// joined by commas (`partition,clockbeyond`); default: every one.
    #[arg(long, value_parser = nemesis_list)]
    nemesis: Option<&'static str>,
    /// Disk profile: instant, ssd or torn.
    #[arg(long, default_value = "torn", value_parser = clap::builder::PossibleValuesParser::new(["instant", "ssd", "torn"]))]
    disk: String,
    /// Worker threads (default: available cores).
    #[arg(long)]
    jobs: Option<usize>,
}

/// A profile list `Nemesis::parse` takes (leaked: it lives for the run).
fn nemesis_list(s: &str) -> Result<&'static str, String> {
    match Nemesis::parse(s) {
        Some(_) => Ok(Box::leak(s.to_owned().into_boxed_str())),
        None => Err(format!(
            "unknown nemesis in {s:?}; one of {} (or clockbeyond), joined by commas",
            Nemesis::NAMES.join(", ")
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let disk = DiskProfile::by_name(&args.disk).unwrap_or(DiskProfile::TORN);
    let profiles: Vec<&'static str> = match &args.nemesis {
        Some(n) => vec![n],
        None => Nemesis::NAMES.to_vec(),
    };
    let seeds = match args.seed {
        Some(s) => s..s + 1,
        None => args.first_seed..args.first_seed + args.seeds,
    };
    let tasks: Vec<(&'static str, u64)> =
        profiles.iter().flat_map(|&p| seeds.clone().map(move |s| (p, s))).collect();
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let wall = Instant::now();
    let runs = run_all(&tasks, jobs, disk);
    report(&runs, &profiles, wall.elapsed().as_secs_f64())
}

fn run_all(tasks: &[(&'static str, u64)], jobs: usize, disk: DiskProfile) -> Vec<ChaosRun> {
    let run = |&(nemesis, seed): &(&'static str, u64)| chaos::run(seed, nemesis, disk);
    let failure = |_: &(&'static str, u64), r: &ChaosRun| {
        r.result.is_err().then(|| format!("{} seed {}", r.nemesis, r.seed))
    };
    tests::parallel::run_all(tasks, jobs, run, failure)
}

fn report(runs: &[ChaosRun], profiles: &[&'static str], wall_s: f64) -> ExitCode {
    println!("{:<10} {:>8} {:>7} {:>10} {:>12}", "nemesis", "runs", "failed", "ops/run", "events/run");
    for &p in profiles {
        let of: Vec<_> = runs.iter().filter(|r| r.nemesis == p).collect();
        let n = of.len().max(1) as f64;
        let failed = of.iter().filter(|r| r.result.is_err()).count();
        let ops = of.iter().map(|r| r.operations as f64).sum::<f64>() / n;
        let events = of.iter().map(|r| r.events as f64).sum::<f64>() / n;
        println!("{p:<10} {:>8} {failed:>7} {ops:>10.0} {events:>12.0}", of.len());
    }
    let failed: Vec<_> = runs.iter().filter(|r| r.result.is_err()).collect();
    println!(
        "{} runs, {} failed; wall {wall_s:.1} s, {:.1} runs/s",
        runs.len(),
        failed.len(),
        runs.len() as f64 / wall_s.max(1e-9)
    );
    let Some(first) = failed.iter().min_by_key(|r| (r.nemesis, r.seed)) else { return ExitCode::SUCCESS };
    if let Err(e) = &first.result {
        println!(
            "first failure: {} seed {}: {e}\nreplay: {}",
            first.nemesis,
            first.seed,
            chaos::replay_command(first)
        );
    }
    ExitCode::FAILURE
}
