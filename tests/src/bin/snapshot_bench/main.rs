//! `snapshot_bench`: what snapshots and log compaction buy a 3-member
//! `node` cluster of local processes (WAL fsynced), each figure beside its
//! goal (docs/snapshots.md):
//!
//! 1. flat memory and disk: clients write `--value-bytes` values over the
//!    same `--keys` keys; the leader's and a follower's `VmRSS` and data
//!    directory (file sizes, and allocated blocks as `du` counts them)
//!    after `--puts-a` and after `--puts-b` puts in all, their ratio (goal
//!    within 10%) and each against `2 × live data + 16 MiB`;
//! 2. restart: `kill -9` a follower after the writes and restart it; time
//!    from its start until it answers `status` with an applied index at
//!    least its commit index before the kill (goal ≤ 1 s), and until it
//!    has applied the leader's commit index;
//! 3. catch-up from a snapshot: `--big-keys` × `--big-value-bytes` of live
//!    data (≥ 100 MB by default), then a follower's data directory wiped
//!    and the member restarted: time until it applies the leader's commit
//!    index, the snapshot's size over that time against `net`'s bulk rate
//!    measured in the same run (goal ≥ 0.5× with `--snapshot-send-mb-per-s
//!    0`; the node's default paces it), and a small-put client's p50/p99
//!    during the transfer against the same client just before it (goal
//!    ≤ 2×).
//!
//! ```text
//! cargo run --release -p tests --bin snapshot_bench                # 1M / 5M puts, 105 MB catch-up
//! cargo run --release -p tests --bin snapshot_bench -- --puts-a 100000 --puts-b 300000
//! ```

mod workload;

use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use node::client::Client;
use node::config::ClusterConfig;
use node::proto::MemberStatus;
use tests::procs::{ClusterSpec, ProcCluster};
use workload::BoxError;

#[derive(Parser, Debug)]
#[command(about = "Measure snapshots: flat RSS and disk, restart time, catch-up from a snapshot")]
struct Args {
    /// Total puts before the first reading.
    #[arg(long, default_value_t = 1_000_000)]
    puts_a: u64,
    /// Total puts before the second reading (0 skips it).
    #[arg(long, default_value_t = 5_000_000)]
    puts_b: u64,
    /// Keys the puts go to, round robin.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Bytes per value of the puts and of the latency probe.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Concurrent clients (threads; a client has one put in flight).
    #[arg(long, default_value_t = 64)]
    clients: u64,
    /// Keys of the big data set for the catch-up (0 skips the catch-up).
    #[arg(long, default_value_t = 1600)]
    big_keys: u64,
    /// Bytes per value of the big data set.
    #[arg(long, default_value_t = 65536)]
    big_value_bytes: usize,
    /// Clients writing the big data set.
    #[arg(long, default_value_t = 8)]
    big_clients: u64,
    /// Seconds of the latency probe before the transfer.
    #[arg(long, default_value_t = 5)]
    probe_secs: u64,
    /// Seconds of each of net's bulk transfers.
    #[arg(long, default_value_t = 2)]
    net_secs: u64,
    /// Seconds the wiped member may take to catch up.
    #[arg(long, default_value_t = 300)]
    catchup_timeout_secs: u64,
    /// The leader's snapshot send rate (`[log] snapshot_send_mb_per_s`,
    /// 0: no limit, the transfer's own speed); the node's default when not
    /// given.
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
    measure::finish("snapshot_bench", &header(&args), &rows, result);
}

fn run(args: &Args, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let mut spec = ClusterSpec::loopback(3)?;
    if !args.test_timing {
        spec = spec.with_default_timing();
    }
    if let Some(rate) = args.snapshot_send_mb_per_s {
        spec = spec.with_snapshot_send_rate(rate);
    }
    let mut cluster = ProcCluster::start(spec)?;
    let config = ClusterConfig::load(cluster.config_path())?;
    cluster.wait_leader(Duration::from_secs(10))?;
    eprintln!("cluster in {}", cluster.root().display());
    let live = args.keys * (args.value_bytes as u64 + workload::key("k", 0).len() as u64);
    let bound = 2 * live + (16 << 20);
    let a = write_phase(&mut cluster, &config, args, (0, args.puts_a), rows)?;
    if args.puts_b > args.puts_a {
        let b = write_phase(&mut cluster, &config, args, (args.puts_a, args.puts_b), rows)?;
        flat_rows(args, &a, &b, live, bound, rows);
    } else {
        flat_rows(args, &a, &a, live, bound, rows);
    }
    restart(&mut cluster, &config, rows)?;
    if args.big_keys > 0 {
        catch_up(&mut cluster, &config, args, rows)?;
    }
    Ok(())
}

/// Readings after a write phase: (leader, follower) × (RSS, file bytes, allocated bytes).
struct Reading {
    puts: u64,
    members: [(u64, u64, u64, u64); 2],
}

fn write_phase(
    cluster: &mut ProcCluster,
    config: &ClusterConfig,
    args: &Args,
    range: (u64, u64),
    rows: &mut Vec<Row>,
) -> Result<Reading, BoxError> {
    eprintln!("writing puts {}..{}", range.0, range.1);
    let secs = workload::puts(config, args.clients, range, args.keys, "k", args.value_bytes)?;
    let n = range.1 - range.0;
    rows.push([
        format!("puts {}..{} ({} clients)", range.0, range.1, args.clients),
        format!("{:.0} puts/s", n as f64 / secs),
        format!("{secs:.1} s"),
    ]);
    cluster.wait_converged(0, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_millis(500));
    let leader = cluster.wait_leader(Duration::from_secs(10))?;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).ok_or("no follower")?;
    let read = |id| {
        let (len, alloc) = measure::dir_size(&cluster.data_dir(id));
        (id, measure::rss(cluster, id), len, alloc)
    };
    Ok(Reading { puts: range.1, members: [read(leader), read(follower)] })
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn flat_rows(args: &Args, a: &Reading, b: &Reading, live: u64, bound: u64, rows: &mut Vec<Row>) {
    let what = ["RSS", "data dir, file sizes", "data dir, allocated"];
    for (m, role) in ["leader", "follower"].iter().enumerate() {
        for (w, name) in what.iter().enumerate() {
            let get = |r: &Reading| match w {
                0 => r.members[m].1,
                1 => r.members[m].2,
                _ => r.members[m].3,
            };
            let (x, y) = (get(a), get(b));
            let ratio = y as f64 / x.max(1) as f64;
            rows.push([
                format!("{name} of the {role} (member {}) after {} / {} puts", a.members[m].0, a.puts, b.puts),
                format!("{} / {}", mib(x), mib(y)),
                format!(
                    "ratio {ratio:.3} (goal ≤ 1.10); {:.2}× / {:.2}× the bound {} = 2 × live {} + 16 MiB (goal ≤ 1)",
                    x as f64 / bound as f64,
                    y as f64 / bound as f64,
                    mib(bound),
                    mib(live)
                ),
            ]);
        }
    }
    let _ = args;
}

/// Every member's status from one poll (20 ms wait: dead members cost little).
fn poll(poller: &mut Client) -> Vec<MemberStatus> {
    poller.status().into_iter().filter_map(|(_, s)| s).collect()
}

fn leader_commit(members: &[MemberStatus]) -> Option<u64> {
    members.iter().find(|s| s.role.name() == "leader").map(|s| s.commit_index)
}

fn restart(cluster: &mut ProcCluster, config: &ClusterConfig, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let leader = cluster.wait_leader(Duration::from_secs(10))?;
    let f = cluster.ids().into_iter().find(|id| *id != leader).ok_or("no follower")?;
    let mut poller = Client::new(config, Duration::from_millis(20))?;
    let before = poll(&mut poller).iter().find(|s| s.id == f).map(|s| s.commit_index).ok_or("no status")?;
    eprintln!("kill -9 member {f} (commit {before}) and restart it");
    cluster.kill(f)?;
    let t0 = Instant::now();
    cluster.spawn(f)?;
    let (mut serving, mut caught) = (None, None);
    while caught.is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            return Err(format!("member {f} not caught up within 120 s after restart").into());
        }
        let members = poll(&mut poller);
        let Some(s) = members.iter().find(|s| s.id == f) else { continue };
        if serving.is_none() && s.applied_index >= before {
            serving = Some(t0.elapsed());
        }
        if leader_commit(&members).is_some_and(|c| s.applied_index >= c) && serving.is_some() {
            caught = Some(t0.elapsed());
        }
    }
    let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    rows.push([
        format!("restart after kill -9: follower {f} serving (applied ≥ commit {before})"),
        format!("{:.0} ms", ms(serving)),
        "goal ≤ 1000 ms".into(),
    ]);
    rows.push([
        "restart after kill -9: applied the leader's commit".into(),
        format!("{:.0} ms", ms(caught)),
        String::new(),
    ]);
    Ok(())
}

fn catch_up(
    cluster: &mut ProcCluster,
    config: &ClusterConfig,
    args: &Args,
    rows: &mut Vec<Row>,
) -> Result<(), BoxError> {
    write_big_data(config, args, rows)?;
    cluster.wait_converged(0, Duration::from_secs(120))?;
    let leader = cluster.wait_leader(Duration::from_secs(10))?;
    let g = cluster.ids().into_iter().rev().find(|id| *id != leader).ok_or("no follower")?;
    cluster.kill(g)?;
    std::fs::remove_dir_all(cluster.data_dir(g))?;
    eprintln!("member {g} stopped and wiped; net's bulk rate");
    let (net64, net256) = net_rates(args, rows)?;

    eprintln!("probe {} s without a transfer (member {g} down), then restart it empty", args.probe_secs);
    let probe = workload::Prober::start(config, 2, args.keys, args.value_bytes);
    std::thread::sleep(Duration::from_secs(args.probe_secs));
    let mut poller = Client::new(config, Duration::from_millis(20))?;
    let target = leader_commit(&poll(&mut poller)).ok_or("no leader status")?;
    probe.next_phase();
    let t0 = Instant::now();
    cluster.spawn(g)?;
    let timeout = Duration::from_secs(args.catchup_timeout_secs);
    let (caught, last) = wait_applied(&mut poller, g, target, t0, timeout);
    let Some(caught) = caught else {
        let _ = probe.finish(2);
        let snap = measure::largest_snapshot(&cluster.data_dir(g));
        rows.push([
            format!("catch-up of wiped member {g} to commit {target}"),
            format!("NOT within {} s", args.catchup_timeout_secs),
            format!(
                "its last status (role, term, commit, last, applied): {:?}; snapshot held {:.1} MB",
                last.map(|s| (s.role.name(), s.term, s.commit_index, s.last_index, s.applied_index)),
                snap as f64 / 1e6
            ),
        ]);
        cluster.keep_dir();
        return Ok(());
    };
    let hists = probe.finish(2)?;
    let snap = measure::largest_snapshot(&cluster.data_dir(g));
    let rate = snap as f64 / 1e6 / caught.as_secs_f64();
    rows.push([
        format!("catch-up of wiped member {g} to commit {target}"),
        format!("{:.0} ms", caught.as_secs_f64() * 1000.0),
        format!("snapshot {:.1} MB (goal ≥ 100 MB)", snap as f64 / 1e6),
    ]);
    rows.push([
        "catch-up rate (snapshot bytes / catch-up time)".into(),
        format!("{rate:.1} MB/s"),
        format!(
            "{:.2}× net's 64 KiB bulk rate (goal ≥ 0.5×); {:.2}× its 256 KiB rate",
            rate / net64,
            rate / net256
        ),
    ]);
    let (base, during) = (&hists[0], &hists[1]);
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        let (b, d) = (base.value_at_quantile(q), during.value_at_quantile(q));
        rows.push([
            format!("small put {name}: before / during the transfer"),
            format!("{} / {}", lat_ms(b), lat_ms(d)),
            format!("{:.2}× (goal ≤ 2×); {} / {} puts", d as f64 / b.max(1) as f64, base.len(), during.len()),
        ]);
    }
    let _ = Histogram::<u64>::len(base);
    Ok(())
}

/// The big data set, written before a member is wiped.
fn write_big_data(config: &ClusterConfig, args: &Args, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let total = args.big_keys * args.big_value_bytes as u64;
    eprintln!("writing the big data set: {} × {} B", args.big_keys, args.big_value_bytes);
    let secs = workload::puts(
        config,
        args.big_clients,
        (0, args.big_keys),
        args.big_keys,
        "b",
        args.big_value_bytes,
    )?;
    rows.push([
        format!(
            "big data set: {} puts of {} B ({} clients)",
            args.big_keys, args.big_value_bytes, args.big_clients
        ),
        format!("{:.1} MB/s", total as f64 / 1e6 / secs),
        format!("{secs:.1} s"),
    ]);
    Ok(())
}

/// net's bulk rates with 64 KiB and 256 KiB messages, the catch-up's
/// baselines.
fn net_rates(args: &Args, rows: &mut Vec<Row>) -> Result<(f64, f64), BoxError> {
    let case = Duration::from_secs(args.net_secs);
    let net64 = measure::net_bulk_mb_s(64 * 1024, 16, case)?;
    let net256 = measure::net_bulk_mb_s(256 * 1024, 4, case)?;
    rows.push([
        "net bulk, 64 KiB messages, 16 in flight".into(),
        format!("{net64:.1} MB/s"),
        "loopback, this process".into(),
    ]);
    rows.push([
        "net bulk, 256 KiB messages, 4 in flight".into(),
        format!("{net256:.1} MB/s"),
        "the snapshot's chunking".into(),
    ]);

    Ok((net64, net256))
}

/// Polls until member `g` has applied `target`: how long that took from
/// `t0`, or None after `timeout` with the last status seen of it.
fn wait_applied(
    poller: &mut Client,
    g: u64,
    target: u64,
    t0: Instant,
    timeout: Duration,
) -> (Option<Duration>, Option<MemberStatus>) {
    let mut last = None;
    let caught = loop {
        if t0.elapsed() > timeout {
            break None;
        }
        let s = poll(poller).into_iter().find(|s| s.id == g);
        if let Some(s) = &s {
            if s.applied_index >= target {
                break Some(t0.elapsed());
            }
        }
        last = s.or(last);
        std::thread::sleep(Duration::from_millis(5));
    };
    (caught, last)
}

fn lat_ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// The lines above the table.
fn header(args: &Args) -> Vec<String> {
    let header = [format!(
        "snapshot_bench: 3 members on loopback, fsync on, {} keys × {} B values, default [log] settings",
        args.keys, args.value_bytes
    )];
    header.to_vec()
}
