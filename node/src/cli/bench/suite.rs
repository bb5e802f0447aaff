//! `node bench suite`: every workload at every client count of
//! `--clients`, in one invocation against one cluster, so that one table
//! compares them under the same conditions (same machine load, same
//! leader, same floor).
//!
//! Order: write + fdatasync once (it does not depend on the clients), the
//! keys preloaded once, then for each client count the UDP echo (the
//! floor the rows at that count are divided by), the puts, and the gets
//! of every consistency from every `--from`. Each row is a plain `put` or
//! `get` run (`load::measure`) with that count and read mode.

use std::time::Duration;

use clap::ValueEnum as _;

use super::floor::{self, FSYNCS};
use super::load;
use super::report::Stats;
use super::suite_report::{Row, Suite};
use super::{Mode, Plan};
use crate::client::ReadFrom;
use crate::config::ClusterConfig;
use crate::proto::Consistency;

/// One row's load at a client count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Workload {
    Put,
    Get(Consistency, ReadFrom),
}

impl Workload {
    /// Puts, then gets of every consistency × every `--from` (all of the
    /// command line's values: a new one is measured without a change here).
    pub fn all() -> Vec<Workload> {
        let gets = Consistency::value_variants()
            .iter()
            .flat_map(|&c| ReadFrom::value_variants().iter().map(move |&f| Workload::Get(c, f)));
        std::iter::once(Workload::Put).chain(gets).collect()
    }

    /// The name in the table, short enough for one line: `put`,
    /// `get lin/leader` (the header spells the abbreviations out).
    pub fn short(self) -> String {
        match self {
            Workload::Put => "put".into(),
            Workload::Get(c, f) => {
                let c = match c {
                    Consistency::Linearizable => "lin",
                    Consistency::Lease => "lease",
                    Consistency::Serializable => "ser",
                };
                format!("get {c}/{}", from_name(f))
            }
        }
    }
}

/// `--from`'s spelling on the command line.
pub(super) fn from_name(from: ReadFrom) -> String {
    from.to_possible_value().map_or("?".into(), |v| v.get_name().into())
}

/// Runs the suite; an `Err` (a client or socket that could not be made, a
/// failed preload) stops it, failed operations are counted in their row.
pub(super) fn run(plan: &Plan, config: &ClusterConfig, timeout: Duration) -> Result<Suite, String> {
    let fsync = match plan.floor {
        true => {
            let dir = floor::fsync_dir(plan.dir.as_deref(), Some(config));
            Some((Stats::of(&floor::fsync(&dir, plan.value_bytes, FSYNCS, plan.progress)?), dir))
        }
        false => None,
    };
    load::preload(plan, config, timeout)?;
    let mut suite = Suite::new(plan, config.reads.lease, fsync);
    let workloads = Workload::all();
    let steps = plan.counts.len() * workloads.len();
    for (n, &clients) in plan.counts.iter().enumerate() {
        if plan.floor {
            let echo = floor::echo(clients, plan.echo_budget(), suite.echo_bytes, plan.progress)?;
            suite.echoes.push((clients, Stats::of(&echo)));
        }
        for (w, &workload) in workloads.iter().enumerate() {
            let label = format!("{}/{steps} {clients}× {}", n * workloads.len() + w + 1, workload.short());
            suite.rows.push(row(plan, config, timeout, clients, workload, &label)?);
        }
    }
    Ok(suite)
}

/// One row: the plan of a plain `put` or `get` run with `clients`.
fn row(
    plan: &Plan,
    config: &ClusterConfig,
    timeout: Duration,
    clients: u64,
    workload: Workload,
    label: &str,
) -> Result<Row, String> {
    let mut one = Plan { clients, counts: vec![clients], ..plan.clone() };
    (one.mode, one.read_ratio) = match workload {
        Workload::Put => (Mode::Put, 0.0),
        Workload::Get(consistency, from) => {
            (one.consistency, one.from) = (consistency, from);
            (Mode::Get, 1.0)
        }
    };
    let load = load::measure(&one, config, timeout, label)?;
    Ok(Row { clients, workload, stats: Stats::of(&load.outcome), warmup_errors: load.warmup_errors })
}
