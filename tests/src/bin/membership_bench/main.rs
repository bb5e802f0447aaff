//! `membership_bench`: what membership changes and leadership transfer
//! cost a `node` cluster of local processes (WAL fsynced, the node's
//! default timing unless `--test-timing`), each figure beside a baseline
//! measured in the same run:
//!
//! 1. a new member's catch-up: 3 members hold `--state-mb` of live data
//!    (`--value-kib` values, one put per key, from `--fill-clients`
//!    clients); member 4 is started with `node run --join --addr`, added
//!    with `node add 4 ADDR --learner`, and the leader is asked for the
//!    members and to promote 4 every 20 ms until its lag is within the
//!    core's `max_promotion_lag` (1000 entries) and until the promotion is
//!    accepted (by a client in this process: a `node` command started 100
//!    times a second took CPU the baseline does not pay). Seconds and MB/s
//!    (live data over time from `node add`),
//!    against the rate the 3 members wrote the data at and `net`'s bulk
//!    rate in 64 KiB messages (the snapshot's chunking, as
//!    `snapshot_bench` measures it);
//! 2. `--transfers` leadership transfers (`node transfer-leader T`, which
//!    returns once `node members` shows T leading), round robin over the
//!    voters other than the leader, each timed from the command's start to
//!    its success; p50, p99 and max against the election timeout a
//!    transfer saves;
//! 3. write unavailability: one client (one put in flight, small values,
//!    a fresh key each) writes from before the first measurement to the
//!    end and records when each put is acknowledged; the longest and the
//!    p99 gap between consecutive acknowledgements during `--quiet-secs`
//!    of nothing (the baseline), during the catch-up of (1), during the
//!    transfers, and during `--rounds` membership rounds (a new member
//!    joins, is added as a learner and promoted once accepted, then a
//!    voter that does not lead is removed and stopped: the cluster
//!    replaces a machine, with the state of (1) to send each time).
//!
//! Every member that will join runs (`node run --join`, waiting for `node
//! add`) from the start, and a clients' copy of the cluster file lists
//! them (docs/operations.md: "Clients know the members of their cluster
//! file"), so the writer and the commands reach whoever leads; the
//! commands' copy drops each member once it is removed and stopped (a
//! client whose try goes to a member of its file that is not running moves
//! on after 60 ms without an acknowledgement). At the end every
//! acknowledged write is read back.
//!
//! ```text
//! cargo run --release -p tests --bin membership_bench              # 100 MB, 50 transfers, 3 rounds
//! cargo run --release -p tests --bin membership_bench -- --state-mb 20 --transfers 10 --rounds 1
//! ```

#[allow(dead_code)]
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use node::client::Client;
use node::config::ClusterConfig;
use raft::MembershipChange;
use tests::procs::cli::{Cli, MemberStatus};
use tests::procs::oracle::{missing_acked_by_clients, AckHook, ClientWriter};
use tests::procs::{ClusterSpec, ProcCluster};

type BoxError = Box<dyn std::error::Error>;

/// raft's `max_promotion_lag` (the default the node uses).
const PROMOTABLE_LAG: u64 = 1000;

#[derive(Parser, Debug)]
#[command(about = "Measure membership changes: a learner's catch-up, leadership transfers, write gaps")]
struct Args {
    /// Live data the cluster holds before member 4 joins, in MB (10^6 bytes).
    #[arg(long, default_value_t = 100)]
    state_mb: u64,
    /// KiB per value of that data (one put per key).
    #[arg(long, default_value_t = 100)]
    value_kib: usize,
    /// Clients writing it (threads; a client has one put in flight).
    #[arg(long, default_value_t = 4)]
    fill_clients: u64,
    /// Leadership transfers.
    #[arg(long, default_value_t = 50)]
    transfers: usize,
    /// Membership rounds (a new member added and promoted, a voter removed).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of the writer alone, the baseline of the write gaps.
    #[arg(long, default_value_t = 10)]
    quiet_secs: u64,
    /// Seconds of net's bulk transfer.
    #[arg(long, default_value_t = 2)]
    net_secs: u64,
    /// Seconds a new member may take to be promoted.
    #[arg(long, default_value_t = 180)]
    catchup_timeout_secs: u64,
    /// The leader's snapshot send rate (`[log] snapshot_send_mb_per_s`,
    /// 0: no limit); the node's default when not given.
    #[arg(long)]
    snapshot_send_mb_per_s: Option<u64>,
    /// The tests' faster timing (150–300 ms elections) instead of the node's defaults.
    #[arg(long)]
    test_timing: bool,
}

use tests::bench::{self as measure, Row};

fn main() {
    let args = Args::parse();
    let mut rows = Vec::new();
    let result = run(&args, &mut rows);
    measure::finish("membership_bench", &header(&args), &rows, result);
}

/// What one run shares: the cluster, the clients' file and CLI (the
/// commands', rewritten as members leave; the writer keeps the first), the
/// members that may join (id, address), the acknowledgement times.
struct Bench {
    cluster: ProcCluster,
    config: ClusterConfig,
    cli: Cli,
    /// What the clients' file lists: the cluster file's members and those
    /// that will join, less those removed.
    members: Vec<(u64, SocketAddr)>,
    joiners: Vec<(u64, SocketAddr)>,
    acks: Arc<Mutex<Vec<Instant>>>,
}

fn run(args: &Args, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let (mut b, net_idle) = start(args)?;
    let base = baselines(&mut b, args, net_idle, rows)?;
    // The writer, from here to the end.
    let hook_acks = b.acks.clone();
    let hook: AckHook = Arc::new(move |at, _| hook_acks.lock().unwrap_or_else(|p| p.into_inner()).push(at));
    let writer = ClientWriter::start(b.config.clone(), "w", Duration::from_secs(5), Some(hook));
    if !writer.wait_progress(20, Duration::from_secs(15)) {
        return Err("the writer made no progress".into());
    }
    eprintln!("{} s of the writer alone", args.quiet_secs);
    let quiet = (Instant::now(), {
        std::thread::sleep(Duration::from_secs(args.quiet_secs));
        Instant::now()
    });
    let gaps = b.gaps(quiet);
    rows.push(gap_row("write gaps, nothing happening (baseline)", &gaps, None));
    let base = Baseline { gaps, ..base };
    catch_up_first(&mut b, args, &base, rows)?;
    transfers(&b, args, &writer, &base, rows)?;
    membership_rounds(&mut b, args, &writer, &base, rows)?;
    check_writes(&mut b, writer, rows)
}

/// What the phases compare against: the live data's size and write rate,
/// net's bulk rate, the write gaps with nothing happening.
#[derive(Default)]
struct Baseline {
    live: u64,
    fill_rate: f64,
    net: f64,
    gaps: Vec<Duration>,
}

impl Baseline {
    /// MB/s of moving the live data in `d`.
    fn rate(&self, d: Duration) -> f64 {
        self.live as f64 / 1e6 / d.as_secs_f64()
    }
}

/// The cluster, with every member that will join running and waiting;
/// net's bulk rate before the data.
fn start(args: &Args) -> Result<(Bench, f64), BoxError> {
    let mut spec = ClusterSpec::loopback(4 + args.rounds as u64)?;
    if !args.test_timing {
        spec = spec.with_default_timing();
    }
    if let Some(rate) = args.snapshot_send_mb_per_s {
        spec = spec.with_snapshot_send_rate(rate);
    }
    let joiners = spec.members.split_off(3);
    let cluster = ProcCluster::start(spec)?;
    let cli_path = cluster.root().join("clients.toml");
    let cli = Cli { config: cli_path, ..cluster.cli().clone() };
    let mut members = cluster.spec().members.clone();
    members.extend(&joiners);
    write_clients_file(cluster.config_path(), &cli.config, &members)?;
    let config = ClusterConfig::load(&cli.config)?;
    let mut b = Bench { cluster, config, cli, members, joiners, acks: Arc::new(Mutex::new(Vec::new())) };
    b.cluster.wait_leader(Duration::from_secs(10))?;
    eprintln!("cluster in {}", b.cluster.root().display());
    // Every member that will join runs from the start, waiting for `node
    // add`: a client that tries a member of its file that is not running
    // loses a 400 ms attempt to it.
    for (id, addr) in b.joiners.clone() {
        b.cluster.spawn_joining(id, addr)?;
    }
    let net_idle =
        measure::net_bulk_mb_s(node::member::transfer::CHUNK_BYTES, 4, Duration::from_secs(args.net_secs))?;

    Ok((b, net_idle))
}

/// The data written, and the rates it is measured against.
fn baselines(b: &mut Bench, args: &Args, net_idle: f64, rows: &mut Vec<Row>) -> Result<Baseline, BoxError> {
    let value_bytes = args.value_kib * 1024;
    let keys = (args.state_mb * 1_000_000).div_ceil(value_bytes.max(1) as u64);
    let live = keys * value_bytes as u64;
    eprintln!("writing {keys} × {value_bytes} B from {} clients", args.fill_clients);
    let leader = b.cluster.wait_leader(Duration::from_secs(10))?;
    let written = || b.cluster.pid(leader).and_then(write_bytes).unwrap_or(0);
    let written_before = written();
    let fill_secs = fill(&b.config, args.fill_clients, keys, value_bytes)?;
    let fill_rate = live as f64 / 1e6 / fill_secs;
    rows.push([
        format!("baseline: 3 members write {keys} × {} KiB ({} clients)", args.value_kib, args.fill_clients),
        format!("{fill_rate:.1} MB/s"),
        format!("{:.1} MB live in {fill_secs:.1} s", live as f64 / 1e6),
    ]);
    let disk = written().saturating_sub(written_before);
    rows.push([
        format!("leader {leader}: bytes written to disk meanwhile (/proc/PID/io)"),
        format!("{:.0} MB", disk as f64 / 1e6),
        format!(
            "{:.1}× the live data (WAL, snapshots; default [log] settings)",
            disk as f64 / live.max(1) as f64
        ),
    ]);
    wait_status(&b.cli, "the 3 members to apply the data", Duration::from_secs(120), |m| {
        let commit = m.iter().find(|s| s.is_leader()).map(|s| s.commit_index);
        let three = || m.iter().filter(|s| s.id <= 3 && s.is_reachable());
        commit.is_some_and(|c| three().all(|s| s.applied_index >= c)) && three().count() == 3
    })?;
    let net_loaded =
        measure::net_bulk_mb_s(node::member::transfer::CHUNK_BYTES, 4, Duration::from_secs(args.net_secs))?;
    let net = net_idle.max(net_loaded);
    rows.push([
        "baseline: net bulk, 64 KiB messages, 4 in flight".into(),
        format!("{net:.1} MB/s"),
        format!(
            "the higher of {net_idle:.1} (before the data) and {net_loaded:.1} (after); loopback, \
             this process, the snapshot's chunking"
        ),
    ]);

    Ok(Baseline { live, fill_rate, net, gaps: Vec::new() })
}

/// Member 4 catches up the data, then is promoted.
fn catch_up_first(b: &mut Bench, args: &Args, base: &Baseline, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let catchup_timeout = Duration::from_secs(args.catchup_timeout_secs);
    let (id, addr) = b.joiners[0];
    eprintln!("member {id} joins, is added as a learner and promoted");
    let first = b.add_and_promote(id, addr, catchup_timeout)?;
    let snap = measure::largest_snapshot(&b.cluster.data_dir(id));
    let secs = |d: Duration| d.as_secs_f64();
    let rate = |d: Duration| base.rate(d);
    rows.push([
        format!("member {id}: `node add {id} ADDR --learner`"),
        format!("{:.0} ms", secs(first.add) * 1000.0),
        "the command, until the change committed".into(),
    ]);
    match first.promotable {
        Some(p) => rows.push([
            format!("member {id}: node add → lag ≤ {PROMOTABLE_LAG} in node members"),
            format!("{:.2} s", secs(p)),
            format!(
                "{:.1} MB/s: {:.2}× the write rate, {:.2}× net's bulk rate",
                rate(p),
                rate(p) / base.fill_rate,
                rate(p) / base.net
            ),
        ]),
        None => rows.push([
            format!("member {id}: node add → lag ≤ {PROMOTABLE_LAG} in node members"),
            "not seen".into(),
            "the promotion was accepted before a poll of node members showed it".into(),
        ]),
    }
    rows.push([
        format!("member {id}: node add → `node promote {id}` accepted"),
        format!("{:.2} s", secs(first.promoted)),
        format!(
            "{:.1} MB/s: {:.2}× the write rate, {:.2}× net's bulk rate; {} refused before; snapshot {:.1} MB",
            rate(first.promoted),
            rate(first.promoted) / base.fill_rate,
            rate(first.promoted) / base.net,
            first.refused,
            snap as f64 / 1e6
        ),
    ]);
    rows.push(gap_row(
        &format!("write gaps, member {id} catching up"),
        &b.gaps(first.window),
        Some(&base.gaps),
    ));

    Ok(())
}

/// Leadership handed round the voters under the writer.
fn transfers(
    b: &Bench,
    args: &Args,
    writer: &ClientWriter,
    base: &Baseline,
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    let election_ms = b.cluster.spec().timing.election_timeout_min().as_millis() as u64;
    eprintln!("{} leadership transfers", args.transfers);
    let from = Instant::now();
    let (mut times, mut failed, mut worst) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = 0usize;
    for _ in 0..args.transfers {
        let members = b.cli.members()?;
        let voters = members.with_role("voter");
        let mut target = voters[next % voters.len()];
        if target == members.leader {
            next += 1;
            target = voters[next % voters.len()];
        }
        next += 1;
        let start = Instant::now();
        match b.cli.admin(&["transfer-leader", &target.to_string()]) {
            Ok(said) if said == format!("leader is now {target}") => times.push(start.elapsed()),
            Ok(said) => failed.push(format!("to {target}: {said}")),
            Err(e) => failed.push(format!("to {target}: {e}")),
        }
        let end = Instant::now();
        writer.wait_progress(3, Duration::from_secs(10));
        worst.push((b.gaps((start, end)).pop().unwrap_or_default(), target));
    }
    let transfers = (from, Instant::now());
    times.sort_unstable();
    if !times.is_empty() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (p50, p99, max) = (quantile(&times, 0.5), quantile(&times, 0.99), times[times.len() - 1]);
        rows.push([
            format!("leader transfer, command start → target leads ({} of {})", times.len(), args.transfers),
            format!("p50 {:.0} ms, p99 {:.0} ms", ms(p50), ms(p99)),
            format!(
                "max {:.0} ms, min {:.0} ms; p50 {:.2}× the {election_ms} ms minimum election timeout",
                ms(max),
                ms(times[0]),
                ms(p50) / election_ms as f64
            ),
        ]);
    }
    if !failed.is_empty() {
        rows.push([
            "leader transfers that failed".into(),
            failed.len().to_string(),
            failed.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
        ]);
    }
    rows.push(gap_row("write gaps during the transfers", &b.gaps(transfers), Some(&base.gaps)));
    if !worst.is_empty() {
        worst.sort_unstable();
        let gaps: Vec<Duration> = worst.iter().map(|w| w.0).collect();
        let slow = gaps.iter().filter(|g| **g >= Duration::from_millis(300)).count();
        rows.push([
            "each transfer's longest write gap".into(),
            format!(
                "p50 {:.1} ms, max {:.1} ms",
                quantile(&gaps, 0.5).as_secs_f64() * 1000.0,
                gaps[gaps.len() - 1].as_secs_f64() * 1000.0
            ),
            format!("{slow} of {} transfers ≥ 300 ms (the max: to {})", gaps.len(), worst[worst.len() - 1].1),
        ]);
    }

    Ok(())
}

/// A machine replaced each round: a new member added and promoted, a voter
/// removed.
fn membership_rounds(
    b: &mut Bench,
    args: &Args,
    writer: &ClientWriter,
    base: &Baseline,
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    let catchup_timeout = Duration::from_secs(args.catchup_timeout_secs);
    let (secs, rate) = (|d: Duration| d.as_secs_f64(), |d: Duration| base.rate(d));
    let from = Instant::now();
    let (mut promoted, mut removes, mut stopped) = (Vec::new(), Vec::new(), 0);
    for round in 0..args.rounds {
        let (id, addr) = b.joiners[1 + round];
        eprintln!("round {}: member {id} joins", round + 1);
        let joined = b.add_and_promote(id, addr, catchup_timeout)?;
        promoted.push(joined.promoted);
        let members = b.cli.members()?;
        let victim = members
            .with_role("voter")
            .into_iter()
            .find(|v| *v != members.leader && *v != id)
            .ok_or("no voter to remove")?;
        let start = Instant::now();
        let said = b.cli.admin(&["remove", &victim.to_string()])?;
        removes.push(start.elapsed());
        if said != format!("member {victim} removed") {
            return Err(format!("node remove {victim}: {said}").into());
        }
        b.members.retain(|(id, _)| *id != victim);
        write_clients_file(b.cluster.config_path(), &b.cli.config, &b.members)?;
        match b.cluster.wait_exit(victim, Duration::from_secs(5)) {
            Ok(exit) if exit.success() => stopped += 1,
            _ => b.cluster.kill(victim)?,
        }
        writer.wait_progress(5, Duration::from_secs(10));
    }
    let rounds = (from, Instant::now());
    if !promoted.is_empty() {
        promoted.sort_unstable();
        let (lo, hi) = (promoted[0], promoted[promoted.len() - 1]);
        rows.push([
            format!("rounds: node add → promote accepted ({} new members)", promoted.len()),
            format!("{:.2}–{:.2} s", secs(lo), secs(hi)),
            format!("{:.1}–{:.1} MB/s, under the writer", rate(hi), rate(lo)),
        ]);
        let each: Vec<String> = removes.iter().map(|d| format!("{:.0}", secs(*d) * 1000.0)).collect();
        rows.push([
            format!("rounds: `node remove` of a voter ({} removed)", removes.len()),
            format!("{} ms", each.join(", ")),
            format!("{stopped} of {} stopped by themselves (exit 0) within 5 s", removes.len()),
        ]);
    }
    rows.push(gap_row("write gaps during the membership rounds", &b.gaps(rounds), Some(&base.gaps)));

    Ok(())
}

/// Every acknowledged write reads back.
fn check_writes(b: &mut Bench, writer: ClientWriter, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let report = writer.stop();
    let acked = report.acked.len();
    let missing = missing_acked_by_clients(&b.config, &report.acked, 4, Duration::from_secs(10));
    rows.push([
        "writer: acknowledged / not / lost".into(),
        format!("{acked} / {} / {}", report.not_acked, missing.len()),
        format!(
            "errors: {}; every acknowledged write read back: {}",
            report.errors.len(),
            missing.is_empty()
        ),
    ]);
    if !missing.is_empty() || !report.errors.is_empty() {
        b.cluster.keep_dir();
        return Err(format!("lost {:?}, errors {:?}", &missing[..missing.len().min(5)], report.errors).into());
    }
    Ok(())
}

/// Times of one member's joining, from the start of `node add`.
struct Joined {
    add: Duration,
    promotable: Option<Duration>,
    promoted: Duration,
    refused: u64,
    window: (Instant, Instant),
}

impl Bench {
    /// Adds `id` (running with `--join`) as a learner, then every 20 ms
    /// asks the leader for the members and to promote it until one is
    /// accepted. The polls go through one client in this process: a `node`
    /// command started 100 times a second would take a share of the CPU
    /// the members are measured on that the baseline does not pay.
    fn add_and_promote(&mut self, id: u64, addr: SocketAddr, timeout: Duration) -> Result<Joined, BoxError> {
        let (ids, addrs) = (id.to_string(), addr.to_string());
        let mut admin = Client::new(&ClusterConfig::load(&self.cli.config)?, Duration::from_secs(2))?;
        let t0 = Instant::now();
        let said = self.cli.admin(&["add", &ids, &addrs, "--learner"])?;
        if said != format!("member {id} added as learner at {addr}") {
            return Err(format!("node add {id}: {said}").into());
        }
        let add = t0.elapsed();
        let (mut promotable, mut refused, mut last) = (None, 0, String::new());
        loop {
            if t0.elapsed() > timeout {
                return Err(format!("member {id} not promoted within {timeout:?}: {last}").into());
            }
            self.cluster.check_alive()?;
            if let Ok(m) = admin.members() {
                let matched = m.matched.iter().find(|(peer, _)| *peer == id).map(|(_, index)| *index);
                let lag = matched.map(|index| m.last_index.saturating_sub(index));
                if promotable.is_none() && lag.is_some_and(|l| l <= PROMOTABLE_LAG) {
                    promotable = Some(t0.elapsed());
                }
            }
            match admin.change(MembershipChange::Promote { id }) {
                Ok(()) => break,
                Err(e) => {
                    refused += 1;
                    last = e.to_string();
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let promoted = t0.elapsed();
        Ok(Joined { add, promotable, promoted, refused, window: (t0, Instant::now()) })
    }

    /// Gaps between consecutive acknowledgements that overlap `window`.
    fn gaps(&self, (from, to): (Instant, Instant)) -> Vec<Duration> {
        let acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
        let mut gaps: Vec<Duration> =
            acks.windows(2).filter(|w| w[1] > from && w[0] < to).map(|w| w[1] - w[0]).collect();
        if gaps.is_empty() {
            gaps.push(to - from);
        }
        gaps.sort_unstable();
        gaps
    }
}

/// The `q` quantile of sorted `xs` (nearest rank).
fn quantile(xs: &[Duration], q: f64) -> Duration {
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

fn gap_row(what: &str, gaps: &[Duration], base: Option<&[Duration]>) -> Row {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (max, p99) = (gaps[gaps.len() - 1], quantile(gaps, 0.99));
    let long = gaps.iter().filter(|g| **g >= Duration::from_millis(300)).count();
    let note = match base {
        Some(b) => {
            let (bmax, bp99) = (b[b.len() - 1], quantile(b, 0.99));
            format!(
                "{:.1}× / {:.1}× the baseline; {} acknowledged writes, {long} gaps ≥ 300 ms",
                ms(max) / ms(bmax).max(0.001),
                ms(p99) / ms(bp99).max(0.001),
                gaps.len() + 1
            )
        }
        None => format!("{} acknowledged writes, {long} gaps ≥ 300 ms", gaps.len() + 1),
    };
    [what.to_string(), format!("max {:.1} ms, p99 {:.2} ms", ms(max), ms(p99)), note]
}

/// Puts keys `s00000`… (one each) of `value_bytes` from `clients` threads;
/// elapsed seconds.
fn fill(config: &ClusterConfig, clients: u64, keys: u64, value_bytes: usize) -> Result<f64, BoxError> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..clients.max(1))
        .map(|_| {
            let (config, next) = (config.clone(), next.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let mut client = Client::new(&config, Duration::from_secs(60)).map_err(|e| e.to_string())?;
                let mut value = vec![b's'; value_bytes];
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= keys {
                        return Ok(());
                    }
                    let k = value.len().min(8);
                    value[..k].copy_from_slice(&n.to_le_bytes()[..k]);
                    let key = format!("s{n:05}");
                    client.put(&key, &value).map_err(|e| format!("put {key}: {e}"))?;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "client thread panicked")??;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Writes `to`: the cluster file `from` with `members` as its members,
/// for the clients (a command whose first try goes to a member that is not
/// running loses a 400 ms attempt to it).
fn write_clients_file(
    from: &std::path::Path,
    to: &std::path::Path,
    members: &[(u64, SocketAddr)],
) -> Result<(), BoxError> {
    let text = std::fs::read_to_string(from)?;
    let mut text = text.split("\n[[node]]").next().unwrap_or_default().to_string();
    for (id, addr) in members {
        let _ = write!(text, "\n[[node]]\nid = {id}\naddr = \"{addr}\"\n");
    }
    std::fs::write(to, text)?;
    Ok(())
}

/// `write_bytes` of /proc/PID/io: what the process caused to be written
/// to storage.
fn write_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("write_bytes: "))?.trim().parse().ok()
}

/// Polls `node status --json` (through the clients' file) every 20 ms
/// until `done` holds.
fn wait_status(
    cli: &Cli,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&[MemberStatus]) -> bool,
) -> Result<(), BoxError> {
    let start = Instant::now();
    loop {
        let status = cli.status();
        if status.as_ref().is_ok_and(|m| done(m)) {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!("{what} within {timeout:?}: last status {status:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The lines above the table.
fn header(args: &Args) -> Vec<String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let header = [
        format!(
            "command: cargo run --release -p tests --bin membership_bench{}{}",
            if argv.is_empty() { "" } else { " -- " },
            argv.join(" ")
        ),
        format!(
            "membership_bench: 3 members on loopback, fsync on, {} timing, {} MB of {} KiB values, \
             {} transfers, {} rounds",
            if args.test_timing { "the tests'" } else { "the node's default" },
            args.state_mb,
            args.value_kib,
            args.transfers,
            args.rounds
        ),
    ];
    header.to_vec()
}
