//! The figures of a run: a small aligned table on stdout, or one JSON
//! object (`--json`), with the load's throughput and median latency as
//! multiples of the floor's (ratios compare across machines; the raw
//! figures do not).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum as _;
use serde_json::{json, Value};

use super::drive::{Budget, Outcome};
use super::floor::Floor;
use super::load::Load;
use super::{Mode, Plan};

/// One measurement's figures; latencies in µs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stats {
    pub ops: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Stats {
    pub fn of(o: &Outcome) -> Stats {
        let seconds = o.elapsed.as_secs_f64();
        let ops = o.hist.len();
        let q = |q| o.hist.value_at_quantile(q);
        Stats {
            ops,
            errors: o.errors,
            first_error: o.first_error.clone(),
            seconds,
            ops_per_sec: if seconds > 0.0 { ops as f64 / seconds } else { 0.0 },
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: o.hist.max(),
        }
    }

    /// The latencies, unless there are none.
    pub fn latencies(&self) -> Option<[u64; 5]> {
        (self.ops > 0).then_some([self.p50, self.p90, self.p99, self.p999, self.max])
    }

    pub fn json(&self) -> Value {
        let latency = self.latencies().map(|[p50, p90, p99, p99_9, max]| {
            json!({"p50": p50, "p90": p90, "p99": p99, "p99_9": p99_9, "max": max})
        });
        json!({
            "ops": self.ops, "errors": self.errors, "first_error": self.first_error,
            "seconds": self.seconds, "ops_per_sec": self.ops_per_sec, "latency_us": latency,
        })
    }
}

/// The load against the floor: each `None` where the floor has nothing
/// to divide by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ratios {
    /// ops/s ÷ echo ops/s.
    pub ops_vs_echo: Option<f64>,
    /// p50 ÷ echo round trip p50.
    pub p50_vs_echo: Option<f64>,
    /// p50 ÷ fdatasync p50 (put only: each put waits for fdatasyncs).
    pub p50_vs_fsync: Option<f64>,
}

/// How the gets of get and mixed read.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reads {
    pub ratio: f64,
    pub consistency: String,
    pub from: String,
}

/// A run's figures.
#[derive(Debug, Clone)]
pub(super) struct Report {
    pub mode: Mode,
    pub clients: u64,
    pub value_bytes: usize,
    pub budget: Budget,
    /// For get and mixed.
    pub reads: Option<Reads>,
    /// The echo and the datagram size.
    pub echo: Option<(Stats, usize)>,
    /// fdatasync and where it wrote.
    pub fsync: Option<(Stats, PathBuf)>,
    pub load: Option<Stats>,
    pub warmup_errors: u64,
}

/// `a ÷ b`, or `None` when `b` has nothing to divide by.
pub(super) fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

impl Report {
    pub fn new(plan: &Plan, floor: Option<Floor>, load: Option<Load>) -> Report {
        let reads = || Reads {
            ratio: plan.read_ratio,
            consistency: plan.consistency.name().into(),
            from: plan.from.to_possible_value().map_or("?".into(), |v| v.get_name().into()),
        };
        Report {
            mode: plan.mode,
            clients: plan.clients,
            value_bytes: plan.value_bytes,
            budget: plan.budget,
            reads: plan.gets().then(reads),
            echo: floor.as_ref().map(|f| (Stats::of(&f.echo), f.echo_bytes)),
            fsync: floor.map(|f| (Stats::of(&f.fsync), f.fsync_dir)),
            warmup_errors: load.as_ref().map_or(0, |l| l.warmup_errors),
            load: load.map(|l| Stats::of(&l.outcome)),
        }
    }

    pub fn ratios(&self) -> Option<Ratios> {
        let (load, (echo, _)) = (self.load.as_ref()?, self.echo.as_ref()?);
        let fsync = self.fsync.as_ref().filter(|_| self.mode == Mode::Put);
        Some(Ratios {
            ops_vs_echo: ratio(load.ops_per_sec, echo.ops_per_sec),
            p50_vs_echo: ratio(load.p50 as f64, echo.p50 as f64),
            p50_vs_fsync: fsync.and_then(|(f, _)| ratio(load.p50 as f64, f.p50 as f64)),
        })
    }

    /// Prints the table or the JSON; exit 1 (with one line on stderr) when
    /// every operation of a measurement failed.
    pub fn print(&self, json: bool) -> ExitCode {
        match json {
            true => println!("{}", self.json()),
            false => print!("{}", self.table()),
        }
        match self.rows().into_iter().find(|(_, s)| s.ops == 0) {
            Some((name, s)) => super::fail(
                1,
                format_args!("no {name} succeeded ({} errors{})", s.errors, first(&s.first_error)),
            ),
            None => ExitCode::SUCCESS,
        }
    }

    /// The measurements, named.
    fn rows(&self) -> Vec<(&'static str, &Stats)> {
        let mut rows = Vec::new();
        rows.extend(self.echo.as_ref().map(|(s, _)| ("udp echo", s)));
        rows.extend(self.fsync.as_ref().map(|(s, _)| ("fdatasync", s)));
        rows.extend(self.load.as_ref().map(|s| (self.mode.name(), s)));
        rows
    }

    pub fn json(&self) -> Value {
        let (total, seconds) = budget_fields(self.budget);
        let floor = match (&self.echo, &self.fsync) {
            (Some((echo, bytes)), Some((fsync, dir))) => json!({
                "echo": with(echo.json(), "payload_bytes", json!(bytes)),
                "fsync": with(fsync.json(), "dir", json!(dir.display().to_string())),
            }),
            _ => Value::Null,
        };
        let ratios = self.ratios().map(|r| {
            json!({"ops_per_sec_vs_echo": r.ops_vs_echo, "p50_vs_echo_p50": r.p50_vs_echo,
                   "p50_vs_fsync_p50": r.p50_vs_fsync})
        });
        json!({
            "mode": self.mode.name(), "clients": self.clients, "value_bytes": self.value_bytes,
            "total": total, "duration_s": seconds,
            "read_ratio": self.reads.as_ref().map(|r| r.ratio),
            "consistency": self.reads.as_ref().map(|r| &r.consistency),
            "from": self.reads.as_ref().map(|r| &r.from), "warmup_errors": self.warmup_errors,
            "result": self.load.as_ref().map(Stats::json), "floor": floor, "ratios": ratios,
        })
    }

    pub fn table(&self) -> String {
        let mut out = self.header();
        let head = ["", "ops", "ops/s", "errors", "p50", "p90", "p99", "p99.9", "max"];
        let _ = writeln!(out, "{}", line(head.map(String::from)));
        for (name, s) in self.rows() {
            let lat = s.latencies().map_or_else(|| std::array::from_fn(|_| "-".into()), |l| l.map(micros));
            let [a, b, c, d, e] = lat;
            let cells =
                [name.into(), s.ops.to_string(), format!("{:.0}", s.ops_per_sec), s.errors.to_string()];
            let [w, x, y, z] = cells;
            let _ = writeln!(out, "{}", line([w, x, y, z, a, b, c, d, e]));
        }
        for (name, s) in self.rows().into_iter().filter(|(_, s)| s.errors > 0) {
            let _ = writeln!(out, "{name}: {} errors{}", s.errors, first(&s.first_error));
        }
        if let Some(r) = self.ratios() {
            let mut text = format!(
                "{} ÷ floor: ops/s {} echo; p50 {} echo",
                self.mode.name(),
                times(r.ops_vs_echo),
                times(r.p50_vs_echo)
            );
            if self.mode == Mode::Put {
                let _ = write!(text, ", {} fdatasync", times(r.p50_vs_fsync));
            }
            let _ = writeln!(out, "{text}");
        }
        out
    }

    /// What was run, in a line or three.
    fn header(&self) -> String {
        let mut out = format!(
            "node bench {}: {} clients, {}-byte values, {}",
            self.mode.name(),
            self.clients,
            self.value_bytes,
            until(self.budget)
        );
        if let Some(r) = &self.reads {
            let _ = write!(out, "; gets {} from {}", r.consistency, r.from);
            if self.mode == Mode::Mixed {
                let _ = write!(out, ", read ratio {}", r.ratio);
            }
        }
        if self.load.is_some() {
            let _ = write!(out, "\nwarm-up: one unmeasured op of each kind per client");
            if self.warmup_errors > 0 {
                let _ = write!(out, " ({} failed)", self.warmup_errors);
            }
        }
        if let (Some((_, bytes)), Some((_, dir))) = (&self.echo, &self.fsync) {
            let _ = write!(out, "\nfloor: udp echo of {bytes}-byte datagrams on loopback");
            let _ = write!(out, "; write+fdatasync in {}", dir.display());
        }
        out.push('\n');
        out
    }
}

/// The budget as JSON's `total` and `duration_s`, one of them null.
pub(super) fn budget_fields(budget: Budget) -> (Option<u64>, Option<f64>) {
    match budget {
        Budget::Total(n) => (Some(n), None),
        Budget::For(d) => (None, Some(d.as_secs_f64())),
    }
}

/// The budget for people: `200 ops` or `3s`.
pub(super) fn until(budget: Budget) -> String {
    match budget {
        Budget::Total(n) => format!("{n} ops"),
        Budget::For(d) => humantime::format_duration(d).to_string(),
    }
}

/// `value` with one more field.
pub(super) fn with(mut value: Value, key: &str, extra: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(key.into(), extra);
    }
    value
}

/// `; first: MESSAGE` after an error count, when there is a message.
pub(super) fn first(e: &Option<String>) -> String {
    e.as_ref().map_or(String::new(), |e| format!("; first: {e}"))
}

/// One row: the name left-aligned, the figures right-aligned.
fn line(cells: [String; 9]) -> String {
    let [name, rest @ ..] = cells;
    aligned(&name, 10, &rest, &[8, 9, 7, 9, 9, 9, 9, 9])
}

/// `name` left-aligned in `name_width`, then each cell right-aligned in
/// its width (in characters: `µ`, `÷` and `×` count one).
pub(super) fn aligned(name: &str, name_width: usize, cells: &[String], widths: &[usize]) -> String {
    let mut out = format!("{name:<name_width$}");
    for (cell, width) in cells.iter().zip(widths) {
        let _ = write!(out, "{cell:>width$}");
    }
    out
}

/// A latency for people: µs, ms or s.
pub(super) fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// A ratio as `12.3×`, or `-` when there is none.
pub(super) fn times(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= 10.0 => format!("{r:.1}×"),
        Some(r) if r >= 0.1 => format!("{r:.2}×"),
        Some(r) => format!("{r:.4}×"),
    }
}
