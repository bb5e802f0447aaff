//! `node_bench`: measures a 3-member `node` cluster on loopback with the
//! WAL fsynced, each figure beside a baseline measured in the same run:
//!
//! - write latency and throughput of one sequential client and of
//!   `--clients` concurrent clients (p50/p99 from `hdrhistogram`), against
//!   a raw `write` + `fdatasync` of the same size in the same directory;
//! - leader failover after `kill -9` (p50/p99 over `--kills` kills): time
//!   until another member reports itself leader, and until a write is
//!   acknowledged again, against the configured election timeout;
//! - memory (`VmRSS`) of a member when idle, and after `--rss-puts` puts of
//!   `--value-bytes`-byte values, against the bytes written;
//! - a flood of `--flood-puts` puts of the largest value the cluster takes
//!   from `--clients` clients: the leader's peak RSS against the bound
//!   docs/operations.md states in "Memory and disk" (the log held in
//!   memory, the uncommitted budget and the transport's buffers), and the
//!   write rate.
//!
//! ```text
//! cargo run --release -p tests --bin node_bench -- --kills 50 --rss-puts 1000000
//! ```

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use node::client::Client;
use node::config::ClusterConfig;
use tests::procs::{ClusterSpec, ProcCluster};

#[derive(Parser, Debug)]
#[command(about = "Measure a node cluster: write latency, failover, memory")]
struct Args {
    /// Members of the cluster.
    #[arg(long, default_value_t = 3)]
    members: u64,
    /// Puts of the sequential client (0 skips).
    #[arg(long, default_value_t = 2000)]
    seq_puts: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: u64,
    /// Puts over all concurrent clients (0 skips).
    #[arg(long, default_value_t = 20_000)]
    concurrent_puts: u64,
    /// Leader kills (0 skips).
    #[arg(long, default_value_t = 50)]
    kills: usize,
    /// Puts before the second memory reading (0 skips).
    #[arg(long, default_value_t = 100_000)]
    rss_puts: u64,
    /// Use the tests' faster timing (150–300 ms elections) instead of the
    /// node's defaults.
    #[arg(long)]
    test_timing: bool,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Puts of maximum-size values over all concurrent clients (0 skips).
    #[arg(long, default_value_t = 0)]
    flood_puts: u64,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("node_bench: {e}");
        std::process::exit(1);
    }
}

type BoxError = Box<dyn std::error::Error>;

fn run(args: &Args) -> Result<(), BoxError> {
    let mut spec = ClusterSpec::loopback(args.members)?;
    if !args.test_timing {
        spec = spec.with_default_timing();
    }
    let mut cluster = ProcCluster::start(spec)?;
    let config = ClusterConfig::load(cluster.config_path())?;
    cluster.wait_leader(Duration::from_secs(10))?;
    let mut rows: Vec<[String; 3]> = Vec::new();
    let value = vec![b'v'; args.value_bytes];

    let fsync = raw_fsync(&cluster.data_dir(1), args.value_bytes + 32, 1000)?;
    rows.push(["raw write+fdatasync (baseline)".into(), lat(&fsync), String::new()]);

    std::thread::sleep(Duration::from_secs(1)); // settle before the idle reading
    let idle = max_rss(&cluster);
    rows.push([
        "idle RSS (max over members)".into(),
        format!("{:.1} MiB", idle as f64 / 1024.0),
        "goal ≤ 16 MiB".into(),
    ]);

    if args.seq_puts > 0 {
        let (hist, secs) = puts(&config, 1, args.seq_puts, &value, "s")?;
        rows.push(writes_row("sequential client", &hist, secs, &fsync));
    }
    if args.concurrent_puts > 0 {
        let (hist, secs) = puts(&config, args.clients, args.concurrent_puts, &value, "c")?;
        rows.push(writes_row(&format!("{} concurrent clients", args.clients), &hist, secs, &fsync));
    }
    if args.kills > 0 {
        failover(&mut cluster, &config, args.kills, &mut rows)?;
    }
    if args.rss_puts > 0 {
        let (_, secs) = puts(&config, args.clients, args.rss_puts, &value, "m")?;
        let after = max_rss(&cluster);
        let written = args.rss_puts * args.value_bytes as u64;
        let leader = cluster.wait_leader(Duration::from_secs(10))?;
        let pid = cluster.pid(leader).unwrap_or(0);
        let field = |f| tests::procs::cluster::proc_status_kib(pid, f).unwrap_or(0) as f64 / 1024.0;
        rows.push([
            "RSS split of the leader after the puts".into(),
            format!("anon {:.1} MiB", field("RssAnon")),
            format!("file-backed (mapped WAL) {:.1} MiB", field("RssFile")),
        ]);
        rows.push([
            format!(
                "RSS after {} puts of {} B ({:.0}/s)",
                args.rss_puts,
                args.value_bytes,
                args.rss_puts as f64 / secs
            ),
            format!("{:.1} MiB", after as f64 / 1024.0),
            format!(
                "{:.2}× the {:.1} MiB written (goal ≤ 3×)",
                after as f64 * 1024.0 / written as f64,
                written as f64 / 1048576.0
            ),
        ]);
    }
    if args.flood_puts > 0 {
        flood(&mut cluster, &config, args, &mut rows)?;
    }
    print_table(args, &rows);
    Ok(())
}

/// What a leader holds besides its log under a flood, by docs/operations.md's
/// bound: the uncommitted budget, a send queue per peer, the reassembly
/// buffer, and 32 MiB for the runtime, the KV map's own nodes and the
/// client tables. The log itself counts twice until snapshots: entries in
/// the heap, and the WAL's pages mapped while they were written.
fn flood_allowance_bytes(config: &ClusterConfig) -> u64 {
    let net = net::Config::new(0, 0, Default::default());
    let peers = config.nodes.len().saturating_sub(1);
    (config.limits.max_uncommitted_bytes + peers * net.send_queue_bytes + net.reassembly_bytes + (32 << 20))
        as u64
}

/// `--flood-puts` maximum-size puts from `--clients` clients, each to its
/// own key; the leader's RSS sampled every 20 ms.
fn flood(
    cluster: &mut ProcCluster,
    config: &ClusterConfig,
    args: &Args,
    rows: &mut Vec<[String; 3]>,
) -> Result<(), BoxError> {
    let leader = cluster.wait_leader(Duration::from_secs(10))?;
    let pid = cluster.pid(leader).ok_or("leader not running")?;
    let before = tests::procs::cluster::rss_kib(pid).unwrap_or(0) * 1024;
    let value_len = node::kv::max_value_bytes("f00", config.limits.max_entry_bytes).ok_or("no room")?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(tests::procs::cluster::rss_kib(pid).unwrap_or(0) * 1024);
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let result = puts_to_own_keys(config, args.clients, args.flood_puts, value_len);
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().map_err(|_| "sampler panicked")?;
    let (hist, secs) = result?;
    let written = args.flood_puts * value_len as u64;
    let bound = before + 2 * written + flood_allowance_bytes(config);
    let field = |f| tests::procs::cluster::proc_status_kib(pid, f).unwrap_or(0) as f64 / 1024.0;
    let mib = |b: u64| b as f64 / 1048576.0;
    rows.push([
        format!("flood: {} puts of {value_len} B from {} clients", args.flood_puts, args.clients),
        format!("{:.1} puts/s, {}", hist.len() as f64 / secs, lat(&hist)),
        format!("{:.1} MiB/s written", mib(written) / secs),
    ]);
    rows.push([
        "flood: leader peak RSS".into(),
        format!("{:.1} MiB", mib(peak)),
        format!(
            "bound {:.1} MiB = before {:.1} + 2 × log {:.1} + allowance {:.1}: {:.2}× of it; after: anon {:.1}, file {:.1}",
            mib(bound),
            mib(before),
            mib(written),
            mib(flood_allowance_bytes(config)),
            peak as f64 / bound as f64,
            field("RssAnon"),
            field("RssFile"),
        ),
    ]);
    Ok(())
}

/// Like [`puts`], but client `c` always writes key `f{c}` (so the map holds
/// one value per client) and values are `value_len` bytes.
fn puts_to_own_keys(
    config: &ClusterConfig,
    clients: u64,
    total: u64,
    value_len: usize,
) -> Result<(Histogram<u64>, f64), BoxError> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (config, next) = (config.clone(), next.clone());
            std::thread::spawn(move || -> Result<Histogram<u64>, String> {
                let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
                // 64 clients of 1 MiB share a few MiB/s: a put may wait long.
                let mut client = Client::new(&config, Duration::from_secs(180)).map_err(|e| e.to_string())?;
                let value = vec![c as u8; value_len];
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    client.put(&format!("f{c:02}"), &value).map_err(|e| format!("flood put: {e}"))?;
                    hist.record(t.elapsed().as_micros() as u64).map_err(|e| e.to_string())?;
                }
                Ok(hist)
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3)?;
    for h in handles {
        all.add(h.join().map_err(|_| "client thread panicked")??)?;
    }
    Ok((all, start.elapsed().as_secs_f64()))
}

/// `write` + `fdatasync` of `bytes` bytes, appended, in `dir`.
fn raw_fsync(dir: &Path, bytes: usize, count: u64) -> Result<Histogram<u64>, BoxError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("bench-fsync.tmp");
    let file = File::create(&path)?;
    let mut hist = Histogram::new(3)?;
    let buf = vec![7u8; bytes];
    for n in 0..count {
        let t = Instant::now();
        file.write_all_at(&buf, n * bytes as u64)?;
        file.sync_data()?;
        hist.record(t.elapsed().as_micros() as u64)?;
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(hist)
}

/// `total` puts spread over `clients` threads, each with its own client;
/// latency histogram (µs) and elapsed seconds.
fn puts(
    config: &ClusterConfig,
    clients: u64,
    total: u64,
    value: &[u8],
    tag: &str,
) -> Result<(Histogram<u64>, f64), BoxError> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (config, next, value, tag) = (config.clone(), next.clone(), value.to_vec(), tag.to_string());
            std::thread::spawn(move || -> Result<Histogram<u64>, String> {
                let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
                let mut client = Client::new(&config, Duration::from_secs(10)).map_err(|e| e.to_string())?;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return Ok(hist);
                    }
                    let t = Instant::now();
                    client.put(&format!("{tag}{n}"), &value).map_err(|e| format!("put {tag}{n}: {e}"))?;
                    hist.record(t.elapsed().as_micros() as u64).map_err(|e| e.to_string())?;
                }
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3)?;
    for h in handles {
        all.add(h.join().map_err(|_| "client thread panicked")??)?;
    }
    Ok((all, start.elapsed().as_secs_f64()))
}

/// Kills the leader `kills` times; records time to a new leader (status
/// polls with a 20 ms wait, so dead members cost little) and to the next
/// acknowledged write of a client that last wrote to the old leader.
fn failover(
    cluster: &mut ProcCluster,
    config: &ClusterConfig,
    kills: usize,
    rows: &mut Vec<[String; 3]>,
) -> Result<(), BoxError> {
    let mut elected = Histogram::<u64>::new(3)?;
    let mut writable = Histogram::<u64>::new(3)?;
    let mut poller = Client::new(config, Duration::from_millis(20))?;
    for round in 0..kills {
        cluster.wait_converged(0, Duration::from_secs(20))?;
        let mut client = Client::new(config, Duration::from_secs(20))?;
        client.put(&format!("before{round}"), b"x")?; // now it knows the leader
        let old = client.leader().ok_or("no leader after a write")?;
        let t0 = Instant::now();
        cluster.kill(old)?;
        let writer =
            std::thread::spawn(move || client.put(&format!("after{round}"), b"x").map(|_| t0.elapsed()));
        loop {
            let leads = poller
                .status()
                .into_iter()
                .any(|(m, s)| m.id != old && s.is_some_and(|s| s.role.name() == "leader" && s.term > 0));
            if leads {
                break;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                return Err(format!("round {round}: no new leader within 20 s").into());
            }
        }
        elected.record(t0.elapsed().as_micros() as u64)?;
        writable.record(writer.join().map_err(|_| "writer panicked")??.as_micros() as u64)?;
        cluster.spawn(old)?;
    }
    let timing = &config.timing;
    let (min_ms, max_ms) =
        (timing.election_timeout_min().as_millis(), timing.election_timeout_max().as_millis());
    let vs = format!("election timeout {min_ms}–{max_ms} ms");
    rows.push([format!("failover: new leader ({kills} kill -9)"), lat(&elected), vs.clone()]);
    rows.push([format!("failover: next write acked ({kills} kill -9)"), lat(&writable), vs]);
    Ok(())
}

fn max_rss(cluster: &ProcCluster) -> u64 {
    cluster.ids().into_iter().filter_map(|id| cluster.rss_kib(id)).max().unwrap_or(0)
}

fn lat(h: &Histogram<u64>) -> String {
    format!("p50 {} p99 {}", ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)))
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn writes_row(name: &str, h: &Histogram<u64>, secs: f64, fsync: &Histogram<u64>) -> [String; 3] {
    let ratio = h.value_at_quantile(0.5) as f64 / fsync.value_at_quantile(0.5).max(1) as f64;
    [
        format!("{name}: {:.0} writes/s", h.len() as f64 / secs),
        lat(h),
        format!("p50 = {ratio:.1}× raw fdatasync p50"),
    ]
}

fn print_table(args: &Args, rows: &[[String; 3]]) {
    let header = [format!(
        "node_bench: {} members on loopback, fsync on, {} B values",
        args.members, args.value_bytes
    )];
    tests::bench::print_table(&header, rows);
}
