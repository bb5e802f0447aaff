//! `node bench put|get|mixed|floor|suite`: load from many clients against the
//! cluster of a cluster.toml, reported beside a floor measured on this
//! machine in the same run (modelled on etcd's `benchmark` and `etcdctl
//! check perf`).
//!
//! Each client is an OS thread with its own [`Client`] and one request in
//! flight (a closed loop, `drive.rs`). The floor (`floor.rs`) is what the
//! machine does without Raft: a UDP echo of the same payload over loopback
//! from as many clients, and `write` + `fdatasync` of the value's size.
//! Figures are printed as ratios to it, so runs on different machines
//! compare. The load itself is in `load.rs`, the table and JSON in
//! `report.rs`; `suite.rs` runs all of it at several client counts in one
//! invocation, into one table (`suite_report.rs`).

mod drive;
mod floor;
mod load;
mod report;
mod suite;
mod suite_report;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::{fail, load as load_config};
use crate::client::{Client, ReadFrom};
use crate::config::ClusterConfig;
use crate::proto::Consistency;
use drive::Budget;
use report::Report;

/// What `node bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Mode {
    /// Puts of `--value-bytes` values to `--keys` keys per client.
    Put,
    /// Gets of `--keys` preloaded keys.
    Get,
    /// Gets (a `--read-ratio` fraction) and puts.
    Mixed,
    /// Only this machine's floor: UDP echo on loopback and fdatasync.
    Floor,
    /// At each of `--clients` (a list): the echo, puts, and gets of every
    /// consistency from every `--from`, in one table.
    Suite,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Put => "put",
            Mode::Get => "get",
            Mode::Mixed => "mixed",
            Mode::Floor => "floor",
            Mode::Suite => "suite",
        }
    }
}

/// Arguments of `node bench`.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct BenchArgs {
    mode: Mode,
    /// Client threads, each with one request in flight (default 16); for
    /// suite a list measured in its order (default 1,64,256).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=4096))]
    clients: Option<Vec<u64>>,
    /// Stop after this many operations over all clients.
    #[arg(long, group = "stop", value_parser = clap::value_parser!(u64).range(1..))]
    total: Option<u64>,
    /// Stop after this long (e.g. 10s; suite's default: 3s a row).
    #[arg(long, group = "stop", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Bytes per value (and per echo datagram and fdatasync write).
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Fraction of gets in `mixed` (0 to 1; default 0.9).
    #[arg(long, value_parser = parse_ratio)]
    read_ratio: Option<f64>,
    /// How fresh gets must be (get and mixed; default linearizable).
    #[arg(long)]
    consistency: Option<Consistency>,
    /// Which member gets go to (get and mixed; default leader).
    #[arg(long)]
    from: Option<ReadFrom>,
    /// One JSON object on stdout instead of the table (no progress bar).
    #[arg(long)]
    json: bool,
    /// Skip the floor measurement (no ratios).
    #[arg(long)]
    no_floor: bool,
    /// Keys per client for puts, and keys preloaded for gets.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    keys: u64,
    /// Where the fdatasync floor writes (default: the cluster's data_dir
    /// if it exists here, else the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The arguments, checked and with defaults filled in: all a run needs.
#[derive(Debug, Clone)]
struct Plan {
    mode: Mode,
    /// The largest of `counts`: what the longest key and the preload use.
    clients: u64,
    /// Client counts in the order measured: suite's list, or `[clients]`.
    counts: Vec<u64>,
    budget: Budget,
    value_bytes: usize,
    /// Fraction of gets: 0 for put, 1 for get.
    read_ratio: f64,
    consistency: Consistency,
    from: ReadFrom,
    keys: u64,
    floor: bool,
    json: bool,
    dir: Option<PathBuf>,
    /// Progress bars on stderr.
    progress: bool,
}

/// The floor's echo runs this long before a load (and in `floor` mode
/// without --total or --duration): long enough for stable percentiles.
const ECHO_TIME: Duration = Duration::from_secs(2);
/// Clients when --clients is not given, but in suite.
const CLIENTS: u64 = 16;
/// Suite's client counts when --clients is not given: one alone (latency),
/// a few dozen, a few hundred (throughput).
const SUITE_CLIENTS: [u64; 3] = [1, 64, 256];
/// Each of suite's rows runs this long without --total or --duration: 21
/// rows at the default counts, about a minute with the echoes.
const SUITE_TIME: Duration = Duration::from_secs(3);

/// A fraction between 0 and 1.
fn parse_ratio(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
    match (0.0..=1.0).contains(&r) {
        true => Ok(r),
        false => Err(format!("must be between 0 and 1, not {s}")),
    }
}

impl BenchArgs {
    /// Checks what clap cannot (which options go with which mode) and
    /// fills in the defaults; the error is the one line to print.
    fn plan(&self) -> Result<Plan, String> {
        let mode = self.mode.name();
        let reads = matches!(self.mode, Mode::Get | Mode::Mixed);
        if self.read_ratio.is_some() && self.mode != Mode::Mixed {
            return Err(format!("--read-ratio is for mixed, not {mode}"));
        }
        if (self.consistency.is_some() || self.from.is_some()) && !reads {
            return Err(format!("--consistency and --from are for get and mixed, not {mode}"));
        }
        if self.no_floor && self.mode == Mode::Floor {
            return Err("--no-floor leaves nothing to measure in floor".into());
        }
        if self.duration == Some(Duration::ZERO) {
            return Err("--duration must be more than 0".into());
        }
        let counts = self.counts()?;
        let budget = match (self.total, self.duration) {
            (Some(n), _) => Budget::Total(n),
            (None, Some(d)) => Budget::For(d),
            (None, None) if self.mode == Mode::Floor => Budget::For(ECHO_TIME),
            (None, None) if self.mode == Mode::Suite => Budget::For(SUITE_TIME),
            (None, None) => return Err(format!("{mode} needs --total N or --duration D")),
        };
        let read_ratio = match self.mode {
            Mode::Put | Mode::Floor | Mode::Suite => 0.0,
            Mode::Get => 1.0,
            Mode::Mixed => self.read_ratio.unwrap_or(0.9),
        };
        Ok(Plan {
            mode: self.mode,
            clients: counts.iter().copied().max().unwrap_or(CLIENTS),
            counts,
            budget,
            value_bytes: self.value_bytes,
            read_ratio,
            consistency: self.consistency.unwrap_or_default(),
            from: self.from.unwrap_or_default(),
            keys: self.keys,
            floor: !self.no_floor,
            json: self.json,
            dir: self.dir.clone(),
            progress: !self.json && std::io::stderr().is_terminal(),
        })
    }

    /// The client counts: a list only in suite, each count once (a
    /// repeat would be a row measured twice, two rows of one name).
    fn counts(&self) -> Result<Vec<u64>, String> {
        let counts = match (&self.clients, self.mode) {
            (Some(list), _) => list.clone(),
            (None, Mode::Suite) => SUITE_CLIENTS.to_vec(),
            (None, _) => vec![CLIENTS],
        };
        if counts.is_empty() {
            return Err("--clients needs at least one count".into());
        }
        if counts.len() > 1 && self.mode != Mode::Suite {
            return Err(format!("--clients takes one count in {}; lists are for suite", self.mode.name()));
        }
        match counts.iter().enumerate().find(|&(i, c)| counts[..i].contains(c)) {
            Some((_, c)) => Err(format!("--clients lists {c} twice")),
            None => Ok(counts),
        }
    }
}

impl Plan {
    fn puts(&self) -> bool {
        match self.mode {
            Mode::Put | Mode::Suite => true,
            Mode::Mixed => self.read_ratio < 1.0,
            Mode::Get | Mode::Floor => false,
        }
    }
    fn gets(&self) -> bool {
        match self.mode {
            Mode::Get | Mode::Suite => true,
            Mode::Mixed => self.read_ratio > 0.0,
            Mode::Put | Mode::Floor => false,
        }
    }
    /// The floor's echo before a load runs at most [`ECHO_TIME`]; in
    /// `floor` mode it gets the whole budget.
    fn echo_budget(&self) -> Budget {
        match (self.mode, self.budget) {
            (Mode::Floor, budget) => budget,
            (_, Budget::For(d)) => Budget::For(d.min(ECHO_TIME)),
            (_, Budget::Total(_)) => Budget::For(ECHO_TIME),
        }
    }
    /// The longest key a put writes (per-client keys, preloaded keys).
    fn longest_key(&self) -> String {
        let put = self.puts().then(|| load::put_key(self.clients - 1, self.keys - 1));
        let preload = self.gets().then(|| load::preload_key(self.keys - 1));
        put.into_iter().chain(preload).max_by_key(String::len).unwrap_or_default()
    }
}

/// Refuses values larger than the cluster takes with its longest key:
/// every put would be refused.
fn check_value_size(plan: &Plan, max_value: impl Fn(&str) -> Option<usize>) -> Result<(), String> {
    let key = plan.longest_key();
    match max_value(&key) {
        Some(max) if plan.value_bytes <= max => Ok(()),
        max => Err(format!(
            "value too large: {} bytes (at most {} with keys like {key})",
            plan.value_bytes,
            max.unwrap_or(0)
        )),
    }
}

/// `node bench`: exit 2 for bad arguments, 1 when the run fails or no
/// operation succeeded.
pub(super) fn bench(config: &Path, timeout: Duration, args: &BenchArgs) -> ExitCode {
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => return fail(2, e),
    };
    // The floor alone needs the file only for its data_dir.
    let config = match (plan.mode, &plan.dir) {
        (Mode::Floor, Some(_)) => None,
        _ => match load_config(config) {
            Ok(c) => Some(c),
            Err(code) => return code,
        },
    };
    if let (Some(c), true) = (&config, plan.puts() || plan.gets()) {
        let client = match Client::new(c, timeout) {
            Ok(client) => client,
            Err(e) => return fail(1, e),
        };
        if let Err(e) = check_value_size(&plan, |key| client.max_value_bytes(key)) {
            return fail(2, e);
        }
    }
    let printed = match (plan.mode, &config) {
        (Mode::Suite, Some(config)) => suite::run(&plan, config, timeout).map(|s| s.print(plan.json)),
        _ => run(&plan, config.as_ref(), timeout).map(|report| report.print(plan.json)),
    };
    printed.unwrap_or_else(|e| fail(1, e))
}

/// The floor (unless --no-floor), then the load.
fn run(plan: &Plan, config: Option<&ClusterConfig>, timeout: Duration) -> Result<Report, String> {
    let floor = match plan.floor {
        true => Some(floor::measure(plan, &floor::fsync_dir(plan.dir.as_deref(), config))?),
        false => None,
    };
    let load = match (plan.mode, config) {
        (Mode::Floor, _) => None,
        (_, Some(config)) => Some(load::run(plan, config, timeout)?),
        (_, None) => return Err("no cluster file".into()),
    };
    Ok(Report::new(plan, floor, load))
}

#[cfg(test)]
mod tests;
