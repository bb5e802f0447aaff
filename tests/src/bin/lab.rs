//! `lab`: runs the lab's scenarios on the simulator over many seeds and
//! prints a table per scenario (pass count, virtual seconds, wall ms,
//! rpcs, bytes, commands), with the hand-out's reference beside the 2B rows.
//! With `--live`, on live clusters (real nodes over UDP on loopback, real
//! time; reliable profile only), all runs at once unless `--jobs` says
//! otherwise, and the process's CPU time in the totals.
//!
//! ```text
//! cargo run --release -p tests --bin lab -- --seeds 100 --scenario 2b
//! cargo run --release -p tests --bin lab -- --live --scenario 2b
//! cargo run --release -p tests --bin lab -- --scenario figure_8_unreliable_2c --first-seed 3 --timeline run.html
//! ```
//!
//! `--timeline FILE` runs one scenario (`--scenario`, its exact name) once
//! at `--first-seed` on the simulator's reliable profile and writes the
//! run as a self-contained HTML page (`node::timeline`).

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use tests::runner::{failure_report, run_with, Run};
use tests::scenarios::{self, Scenario};
use tests::sim::{DiskProfile, Nemesis};

#[derive(Parser, Debug)]
#[command(about = "Run the lab's Raft scenarios on the simulator and report")]
struct Args {
    /// Seeds per scenario and profile.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// First seed (seeds are consecutive from here).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Only scenarios whose name contains this (e.g. `2b`, `churn`).
    #[arg(long)]
    scenario: Option<String>,
    /// Worker threads (default: available cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Print each run's lab result line too.
    #[arg(long)]
    lines: bool,
    /// Run on live clusters (real nodes, UDP on loopback, real time)
    /// instead of the simulator; reliable network only.
    #[arg(long)]
    live: bool,
    /// The simulator's disk: instant (syncs take no time), ssd (50-400 µs,
    /// a crash loses what is unsynced) or torn (as ssd; a crash keeps a
    /// random prefix of it).
    #[arg(long, default_value = "torn", value_parser = clap::builder::PossibleValuesParser::new(["instant", "ssd", "torn"]))]
    disk: String,
    /// Faults on top of the scenarios' own, comma-separated (slowdisk,
    /// forge, holdback keep the scenarios' checks meaningful; crash,
    /// partition and oneway break their timing assumptions).
    #[arg(long, default_value = "none", value_parser = parse_nemesis)]
    nemesis: Nemesis,
    /// Run `--scenario` (its exact name) once at `--first-seed` and draw
    /// the run into this HTML file: lanes per member, roles and terms,
    /// crashes, partitions, commits, snapshots, sampled messages.
    #[arg(long, conflicts_with = "live")]
    timeline: Option<std::path::PathBuf>,
}

fn parse_nemesis(s: &str) -> Result<Nemesis, String> {
    Nemesis::parse(s).ok_or_else(|| format!("want a comma-separated list of {}", Nemesis::NAMES.join(", ")))
}

/// One unit of work: a scenario, a seed, a profile.
type Task = (&'static Scenario, u64, bool);

fn tasks(args: &Args) -> Vec<Task> {
    let filter = args.scenario.as_deref().unwrap_or("");
    let mut out = Vec::new();
    let on_back_end = |s: &&Scenario| !(args.live && s.part == scenarios::Part::X);
    for s in scenarios::all().iter().filter(|s| s.name.contains(filter)).filter(on_back_end) {
        for seed in args.first_seed..args.first_seed + args.seeds {
            out.push((s, seed, false));
            if s.unreliable_too && !args.live {
                out.push((s, seed, true));
            }
        }
    }
    out
}

/// Runs the tasks on `jobs` threads, with a progress bar on stderr.
fn run_all(tasks: &[Task], jobs: usize, live: bool, disk: DiskProfile, nemesis: Nemesis) -> Vec<Run> {
    let run = |&(s, seed, unreliable): &Task| {
        if live {
            tests::live::run_once(s, seed)
        } else {
            run_with(s, seed, unreliable, disk, nemesis)
        }
    };
    let failure = |_: &Task, r: &Run| r.result.is_err().then(|| format!("{} seed {}", r.scenario, r.seed));
    tests::parallel::run_all(tasks, jobs, run, failure)
}

/// `--timeline FILE`: one run, drawn.
fn timeline(args: &Args, file: &std::path::Path) -> ExitCode {
    let name = args.scenario.as_deref().unwrap_or("");
    let Some(s) = scenarios::all().iter().find(|s| s.name == name) else {
        eprintln!("lab: --timeline needs --scenario with a scenario's exact name (no scenario is {name:?})");
        return ExitCode::from(2);
    };
    let disk = DiskProfile::by_name(&args.disk).unwrap_or(DiskProfile::TORN);
    let (run, drawn) = tests::runner::run_recorded(s, args.first_seed, false, disk, args.nemesis, true);
    let Some(drawn) = drawn else {
        eprintln!("lab: the simulator recorded no timeline");
        return ExitCode::FAILURE;
    };
    if let Err(e) = std::fs::write(file, drawn.render_html()) {
        eprintln!("lab: cannot write {}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    let outcome = if run.result.is_ok() { "passed" } else { "FAILED" };
    println!(
        "{} seed {} {outcome}: {} events drawn in {}",
        s.name,
        args.first_seed,
        drawn.events.len(),
        file.display()
    );
    if let Err(f) = &run.result {
        println!("{}", failure_report(&run, f));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(file) = &args.timeline {
        return timeline(&args, file);
    }
    let tasks = tasks(&args);
    if tasks.is_empty() {
        eprintln!("lab: no scenario matches {:?}", args.scenario.unwrap_or_default());
        return ExitCode::FAILURE;
    }
    // Live runs mostly sleep (real time): run them all at once by default.
    let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or_else(|| if args.live { tasks.len() } else { cores() });
    let cpu0 = tests::live::process_cpu_time();
    let start = Instant::now();
    let disk = DiskProfile::by_name(&args.disk).unwrap_or(DiskProfile::TORN);
    let mut runs = run_all(&tasks, jobs, args.live, disk, args.nemesis);
    let wall = start.elapsed();
    let cpu = tests::live::process_cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    runs.sort_by_key(|r| (r.scenario, r.unreliable, r.seed));
    if args.lines {
        for r in &runs {
            println!(
                "{}  (seed {}{})",
                r.summary.line(),
                r.seed,
                if r.unreliable { ", unreliable" } else { "" }
            );
        }
    }
    print!("{}", tests::report::table(&runs));
    let failures: Vec<&Run> = runs.iter().filter(|r| r.result.is_err()).collect();
    for r in &failures {
        if let Err(f) = &r.result {
            let report = if args.live { tests::live::failure_report(r, f) } else { failure_report(r, f) };
            println!("{report}");
        }
    }
    print!("{}", tests::report::totals(&runs, wall, jobs));
    if args.live {
        let cpu = cpu.map_or("unknown".to_string(), |c| format!("{:.2} s", c.as_secs_f64()));
        println!("live: CPU time of all runs (user + system, all threads) {cpu}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
