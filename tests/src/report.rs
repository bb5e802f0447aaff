//! The `lab` binary's table: one row per scenario and network profile.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::runner::Run;
use crate::scenarios;

/// Mean and maximum of a column.
fn stats(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut sum, mut max, mut n) = (0.0, 0.0f64, 0usize);
    for v in values {
        sum += v;
        max = max.max(v);
        n += 1;
    }
    (if n == 0 { 0.0 } else { sum / n as f64 }, max)
}

/// The runs of one scenario on one profile, in registry order.
fn groups(runs: &[Run]) -> Vec<(&'static str, bool, Vec<&Run>)> {
    let mut out = Vec::new();
    for s in scenarios::all() {
        for unreliable in [false, true] {
            let rs: Vec<&Run> =
                runs.iter().filter(|r| r.scenario == s.name && r.unreliable == unreliable).collect();
            if !rs.is_empty() {
                out.push((s.name, unreliable, rs));
            }
        }
    }
    out
}

/// The table: pass count, virtual seconds, wall ms, rpcs, bytes, commands
/// (mean / max), the hand-out's line for 2B rows, then the scenarios' notes.
pub fn table(runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>9} {:>7} {:>13} {:>13} {:>21} {:>6}   hand-out (s n rpcs bytes cmds)",
        "scenario", "pass", "virt s", "wall ms", "rpcs", "bytes", "cmds"
    );
    let _ = writeln!(
        out,
        "{:<26} {:>9} {:>7} {:>13} {:>13} {:>21} {:>6}",
        "", "", "mean", "mean/max", "mean/max", "mean/max", "mean"
    );
    for (name, unreliable, rs) in groups(runs) {
        let pass = rs.iter().filter(|r| r.result.is_ok()).count();
        let virt = stats(rs.iter().map(|r| r.summary.seconds)).0;
        let wall = stats(rs.iter().map(|r| r.summary.wall.as_secs_f64() * 1e3));
        let rpcs = stats(rs.iter().map(|r| r.summary.rpcs as f64));
        let bytes = stats(rs.iter().map(|r| r.summary.bytes as f64));
        let cmds = stats(rs.iter().map(|r| r.summary.commands as f64)).0;
        let reference = if unreliable { None } else { scenarios::find(name).and_then(|s| s.reference) };
        let label = if unreliable { format!("{name} (unrel)") } else { name.to_string() };
        let _ = writeln!(
            out,
            "{label:<26} {:>9} {virt:>7.1} {:>13} {:>13} {:>21} {cmds:>6.0}   {}",
            format!("{pass}/{}", rs.len()),
            format!("{:.1}/{:.1}", wall.0, wall.1),
            format!("{:.0}/{:.0}", rpcs.0, rpcs.1),
            format!("{:.0}/{:.0}", bytes.0, bytes.1),
            reference.unwrap_or(""),
        );
    }
    out.push_str(&notes(runs));
    out
}

/// The scenarios' own measurements (e.g. count_2b's rpcs per phase).
fn notes(runs: &[Run]) -> String {
    let mut by_key: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.result.is_ok()) {
        for &(key, value) in &r.summary.notes {
            by_key.entry((r.scenario, key)).or_default().push(value as f64);
        }
    }
    let mut out = String::new();
    for ((scenario, key), values) in by_key {
        let (mean, max) = stats(values.into_iter());
        let _ = writeln!(out, "  {scenario}: {key}: mean {mean:.1}, max {max:.0}");
    }
    out
}

/// Total wall time, summed run time and the virtual/wall ratio.
pub fn totals(runs: &[Run], wall: Duration, jobs: usize) -> String {
    let virt: f64 = runs.iter().map(|r| r.summary.seconds).sum();
    let run_wall: f64 = runs.iter().map(|r| r.summary.wall.as_secs_f64()).sum();
    let failed = runs.iter().filter(|r| r.result.is_err()).count();
    format!(
        "{} runs, {failed} failed; wall {:.2} s on {jobs} threads (runs summed {:.2} s); \
         virtual {virt:.1} s; virtual/wall {:.0}x\n",
        runs.len(),
        wall.as_secs_f64(),
        run_wall,
        virt / wall.as_secs_f64().max(1e-9),
    )
}
