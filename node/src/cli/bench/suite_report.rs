//! Suite's figures: one table with a row per (client count, workload),
//! the UDP echo at that count first, or one JSON object with all rows.
//! Each row is divided by the echo of as many clients (throughput and
//! median) and, for gets, by the puts of as many clients: ratios compare
//! across machines and across consistencies where raw figures do not.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value};

use super::drive::Budget;
use super::floor::{echo_bytes, FSYNCS};
use super::report::{aligned, budget_fields, first, micros, ratio, times, until, Stats};
use super::suite::{from_name, Workload};
use super::Plan;

/// One measured row.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub clients: u64,
    pub workload: Workload,
    pub stats: Stats,
    pub warmup_errors: u64,
}

/// A whole suite's figures.
#[derive(Debug, Clone)]
pub(super) struct Suite {
    pub counts: Vec<u64>,
    pub value_bytes: usize,
    pub budget: Budget,
    pub keys: u64,
    /// The cluster file's `[reads] lease`: without it a lease get is a
    /// linearizable one, which the lease rows would not show otherwise.
    pub lease: bool,
    pub echo_bytes: usize,
    /// fdatasync and where it wrote (none with --no-floor).
    pub fsync: Option<(Stats, PathBuf)>,
    /// The echo at each client count (empty with --no-floor).
    pub echoes: Vec<(u64, Stats)>,
    pub rows: Vec<Row>,
}

/// A row against the echo and the puts of as many clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RowRatios {
    pub ops_vs_echo: Option<f64>,
    /// Gets only.
    pub ops_vs_put: Option<f64>,
    pub p50_vs_echo: Option<f64>,
}

/// Width of the clients and workload columns, then of each figure:
/// ops/s, p50, p99, p99.9, max, errors, ops÷echo, ops÷put, p50÷echo.
const LEFT: usize = 25;
const WIDTHS: [usize; 9] = [9, 9, 9, 9, 9, 7, 9, 9, 9];

impl Suite {
    pub fn new(plan: &Plan, lease: bool, fsync: Option<(Stats, PathBuf)>) -> Suite {
        Suite {
            counts: plan.counts.clone(),
            value_bytes: plan.value_bytes,
            budget: plan.budget,
            keys: plan.keys,
            lease,
            echo_bytes: echo_bytes(plan.value_bytes),
            fsync,
            echoes: Vec::new(),
            rows: Vec::new(),
        }
    }

    fn echo_at(&self, clients: u64) -> Option<&Stats> {
        self.echoes.iter().find(|(c, _)| *c == clients).map(|(_, s)| s)
    }

    fn put_at(&self, clients: u64) -> Option<&Stats> {
        let put = |r: &&Row| r.clients == clients && r.workload == Workload::Put;
        self.rows.iter().find(put).map(|r| &r.stats)
    }

    pub fn ratios(&self, row: &Row) -> RowRatios {
        let (s, echo) = (&row.stats, self.echo_at(row.clients));
        let put = self.put_at(row.clients).filter(|_| row.workload != Workload::Put);
        let p50 = |other: &Stats| {
            let both = s.latencies().and(other.latencies());
            both.and_then(|_| ratio(s.p50 as f64, other.p50 as f64))
        };
        RowRatios {
            ops_vs_echo: echo.and_then(|e| ratio(s.ops_per_sec, e.ops_per_sec)),
            ops_vs_put: put.and_then(|p| ratio(s.ops_per_sec, p.ops_per_sec)),
            p50_vs_echo: echo.and_then(p50),
        }
    }

    /// Every measurement with its client count and name, in table order:
    /// at each count the echo, then the rows.
    fn named(&self) -> Vec<(u64, String, &Stats, Option<&Row>)> {
        let mut out = Vec::new();
        for &clients in &self.counts {
            out.extend(self.echo_at(clients).map(|s| (clients, "udp echo".into(), s, None)));
            let rows = self.rows.iter().filter(|r| r.clients == clients);
            out.extend(rows.map(|r| (clients, r.workload.short(), &r.stats, Some(r))));
        }
        out
    }

    /// Prints the table or the JSON; exit 1 (with one line on stderr) when
    /// every operation of a row failed.
    pub fn print(&self, json: bool) -> ExitCode {
        match json {
            true => println!("{}", self.json()),
            false => print!("{}", self.table()),
        }
        match self.named().into_iter().find(|(_, _, s, _)| s.ops == 0) {
            Some((clients, name, s, _)) => super::fail(
                1,
                format_args!(
                    "no {name} of {clients} clients succeeded ({} errors{})",
                    s.errors,
                    first(&s.first_error)
                ),
            ),
            None => ExitCode::SUCCESS,
        }
    }

    pub fn table(&self) -> String {
        let mut out = self.header();
        let head = ["ops/s", "p50", "p99", "p99.9", "max", "errors", "ops÷echo", "ops÷put", "p50÷echo"];
        let _ = writeln!(out, "{}", aligned("clients  workload", LEFT, &head.map(String::from), &WIDTHS));
        let mut last = None;
        for (clients, name, s, row) in self.named() {
            if last.is_some_and(|c| c != clients) {
                out.push('\n');
            }
            last = Some(clients);
            let r = row.map(|r| self.ratios(r));
            let lat = s.latencies().map_or_else(
                || ["-".into(), "-".into(), "-".into(), "-".into()],
                |l| [l[0], l[2], l[3], l[4]].map(micros),
            );
            let [p50, p99, p999, max] = lat;
            let ratios =
                [r.and_then(|r| r.ops_vs_echo), r.and_then(|r| r.ops_vs_put), r.and_then(|r| r.p50_vs_echo)];
            let [a, b, c] = ratios.map(times);
            let cells = [format!("{:.0}", s.ops_per_sec), p50, p99, p999, max, s.errors.to_string(), a, b, c];
            let _ = writeln!(out, "{}", aligned(&format!("{clients:>7}  {name}"), LEFT, &cells, &WIDTHS));
        }
        for (clients, name, s, _) in self.named().into_iter().filter(|(_, _, s, _)| s.errors > 0) {
            let _ = writeln!(out, "{clients}× {name}: {} errors{}", s.errors, first(&s.first_error));
        }
        out
    }
}

impl Suite {
    /// What was run, how gets read and what the ratios divide by.
    fn header(&self) -> String {
        let counts = self.counts.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let mut out = format!(
            "node bench suite: clients {counts}; {}-byte values; {} a row; {} keys preloaded for gets\n",
            self.value_bytes,
            until(self.budget),
            self.keys
        );
        out.push_str(match self.lease {
            true => "lease reads: on ([reads] lease = true): a lease get skips the heartbeat round\n",
            false => "lease reads: off (no [reads] lease = true): a lease get is a linearizable one\n",
        });
        out.push_str(
            "gets CONSISTENCY/FROM: lin = linearizable, ser = serializable; leader, or any member\n",
        );
        let warmup_errors: u64 = self.rows.iter().map(|r| r.warmup_errors).sum();
        let _ = write!(out, "warm-up: one unmeasured op of each kind per client and row");
        if warmup_errors > 0 {
            let _ = write!(out, " ({warmup_errors} failed)");
        }
        if let Some((f, dir)) = &self.fsync {
            let _ = write!(
                out,
                "\nfloor: udp echo of {}-byte datagrams on loopback at each count",
                self.echo_bytes
            );
            let lat =
                f.latencies().map_or("-".into(), |l| format!("p50 {}, p99 {}", micros(l[0]), micros(l[2])));
            let _ = write!(out, "; write+fdatasync in {} ({FSYNCS} ops): {lat}", dir.display());
            out.push_str(
                "\nratios: ops÷echo, p50÷echo to the echo of as many clients; ops÷put to their puts",
            );
        }
        out.push_str("\n\n");
        out
    }

    pub fn json(&self) -> Value {
        let (total, seconds) = budget_fields(self.budget);
        let echoes = self
            .echoes
            .iter()
            .map(|(clients, s)| merged(s, json!({"clients": clients, "payload_bytes": self.echo_bytes})));
        let floor = self.fsync.as_ref().map(|(f, dir)| {
            json!({"fsync": merged(f, json!({"dir": dir.display().to_string()})),
                   "echo": echoes.collect::<Vec<_>>()})
        });
        let rows = self.rows.iter().map(|r| self.row_json(r)).collect::<Vec<_>>();
        json!({
            "mode": "suite", "clients": self.counts, "value_bytes": self.value_bytes,
            "total": total, "duration_s": seconds, "keys": self.keys, "lease_reads": self.lease,
            "floor": floor, "rows": rows,
        })
    }

    /// A row's figures (as in `node bench get --json`'s result) with what
    /// it ran and its ratios.
    fn row_json(&self, r: &Row) -> Value {
        let (workload, consistency, from) = match r.workload {
            Workload::Put => ("put", None, None),
            Workload::Get(c, f) => ("get", Some(c.name()), Some(from_name(f))),
        };
        let x = self.ratios(r);
        merged(
            &r.stats,
            json!({
                "clients": r.clients, "workload": workload, "consistency": consistency, "from": from,
                "warmup_errors": r.warmup_errors,
                "ratios": {"ops_per_sec_vs_echo": x.ops_vs_echo, "ops_per_sec_vs_put": x.ops_vs_put,
                           "p50_vs_echo_p50": x.p50_vs_echo},
            }),
        )
    }
}

/// `stats`' JSON with the fields of `extra` (an object) added.
fn merged(stats: &Stats, extra: Value) -> Value {
    let mut value = stats.json();
    if let (Value::Object(map), Value::Object(extra)) = (&mut value, extra) {
        map.extend(extra);
    }
    value
}
