//! Running a scenario once on a live cluster: for the `live_*` tests and
//! the `lab --live` report.

use std::time::{Duration, Instant};

use crate::harness::{Failure, Summary, Tester};
use crate::runner::Run;
use crate::scenarios::snapshot_2d::SNAPSHOT_INTERVAL;
use crate::scenarios::{Part, Scenario};

use super::Live;

/// The seed of a live run: `SEED=<n>`, else `default`. (A live run is not
/// replayable from its seed: real time decides; the seed fixes the
/// scenario's own choices.)
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var("SEED").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Runs `scenario` once on a fresh live cluster (reliable network).
pub fn run_once(scenario: &'static Scenario, seed: u64) -> Run {
    let wall = Instant::now();
    let snapshot_entries = (scenario.part == Part::D).then_some(SNAPSHOT_INTERVAL);
    let (summary, result) = match Live::with_snapshots(scenario.servers, seed, snapshot_entries) {
        Ok(live) => {
            let mut t = Tester::new(Box::new(live), seed);
            t.begin(scenario.name);
            let result = (scenario.run)(&mut t);
            let summary = t.end();
            drop(t); // stops the members before the wall clock stops
            (summary, result)
        }
        Err(e) => {
            let what = format!("live back end: cannot set up the cluster: {e}");
            let summary =
                Summary { name: scenario.name.to_string(), servers: scenario.servers, ..Summary::default() };
            (summary, Err(Failure::Scenario { event: 0, what }))
        }
    };
    let mut summary = summary;
    summary.wall = wall.elapsed();
    Run { scenario: scenario.name, seed, unreliable: false, summary, result, state: String::new() }
}

/// The failure text of a live run, with how to run it again.
pub fn failure_report(run: &Run, f: &Failure) -> String {
    format!(
        "live {} failed (seed {}, reliable network) {} ms after start: {f}\n  again: SEED={} cargo test --release -p tests live_{} -- --exact --nocapture",
        run.scenario,
        run.seed,
        f.event(),
        run.seed,
        run.scenario,
    )
}

/// The body of each `live_<scenario>` test: one run, seed from `SEED` or 1.
/// Panics with the failure report.
pub fn run_test(name: &str) {
    let Some(scenario) = crate::scenarios::find(name) else { panic!("no scenario named {name}") };
    let run = run_once(scenario, seed_from_env(1));
    if let Err(f) = &run.result {
        panic!("{}", failure_report(&run, f));
    }
    println!(
        "{}  (live, seed {}, wall {:.2} s)",
        run.summary.line(),
        run.seed,
        run.summary.wall.as_secs_f64()
    );
}

/// CPU time (user + system) this process used so far, all threads
/// together, from `/proc/self/stat` (10 ms resolution); `None` where that
/// file is missing or unreadable.
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in its parens:
    // state is field 3, utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |k: usize| fields.get(k - 3).and_then(|f| f.parse::<u64>().ok());
    // Linux reports these in USER_HZ, which is 100 on every architecture.
    Some(Duration::from_millis((ticks(14)? + ticks(15)?) * 10))
}
