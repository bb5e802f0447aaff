//! `wal-bench`: the log measured side by side with the physical floor on
//! the same file system (see `floor.rs`), in one run, operations
//! interleaved so drift in the disk hits both alike. Prints a table of ours, the floor and
//! the ratio.

mod floor;
mod table;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use wal::{Entry, Wal, WalOptions};

use floor::Floor;
use table::Table;

/// Benchmark the write-ahead log against write + fdatasync of the same bytes.
#[derive(Parser)]
struct Args {
    /// Directory to work in (a fresh subdirectory is made and removed).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Synced single-entry appends per entry size, for each side.
    #[arg(long, default_value_t = 600)]
    latency_ops: u64,
    /// MiB written per batch size, for each side.
    #[arg(long, default_value_t = 32)]
    batch_mib: u64,
    /// Entry size in bytes for the batched and replay runs.
    #[arg(long, default_value_t = 1024)]
    entry_bytes: usize,
    /// Size of the log replayed, in MiB (0 skips the replay run).
    #[arg(long, default_value_t = 1024)]
    replay_mib: u64,
    /// Segment size in MiB.
    #[arg(long, default_value_t = 64)]
    segment_mib: u64,
}

fn main() {
    let args = Args::parse();
    let root = args.dir.join(format!("wal-bench-{}", std::process::id()));
    let result = run(&args, &root);
    let _ = std::fs::remove_dir_all(&root);
    if let Err(e) = result {
        eprintln!("wal-bench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args, root: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut table = Table::new();
    let segment_size = args.segment_mib << 20;
    for size in [100, 1024, 4096] {
        let (ours, floor) = latency(root, segment_size, size, args.latency_ops)?;
        let name = format!("append+sync {size} B");
        table.lower_better(
            &format!("{name} p50 µs"),
            us(ours.value_at_quantile(0.5)),
            us(floor.value_at_quantile(0.5)),
            1.1,
        );
        table.lower_better(
            &format!("{name} p99 µs"),
            us(ours.value_at_quantile(0.99)),
            us(floor.value_at_quantile(0.99)),
            1.1,
        );
    }
    for batch in [16, 256] {
        let (ours, floor) = throughput(root, segment_size, batch, args.entry_bytes, args.batch_mib)?;
        let name = format!("batch {batch} x {} B MB/s", args.entry_bytes);
        table.higher_better(&name, ours, floor, 0.9);
    }
    if args.replay_mib > 0 {
        let (ours, raw) = replay(root, segment_size, args.entry_bytes, args.replay_mib)?;
        table.higher_better(&format!("replay {} MiB GB/s", args.replay_mib), ours, raw, 0.0);
    }
    println!("file system of {}: floor = pwrite + fdatasync of the same framed bytes", args.dir.display());
    table.print();
    Ok(())
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn entries(first: u64, n: u64, size: usize) -> Vec<Entry> {
    (first..first + n)
        .map(|index| Entry { index, term: 1, tag: 0, data: vec![(index % 251) as u8; size].into() })
        .collect()
}

fn fresh(root: &Path, name: &str) -> std::io::Result<PathBuf> {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

type Histograms = (Histogram<u64>, Histogram<u64>);

/// Synced single-entry append latency of `size`-byte entries. Ours and
/// the floor alternate op by op (which goes first alternates too), so disk
/// noise falls on both alike.
fn latency(
    root: &Path,
    segment_size: u64,
    size: usize,
    ops: u64,
) -> Result<Histograms, Box<dyn std::error::Error>> {
    let options = WalOptions { segment_size, create_dir: true, ..WalOptions::default() };
    let (mut wal, _) = Wal::open(fresh(root, "lat-ours")?, options)?;
    let mut floor = Floor::create(&fresh(root, "lat-floor")?, segment_size)?;
    let mut ours_h = Histogram::<u64>::new(3)?;
    let mut floor_h = Histogram::<u64>::new(3)?;
    for (i, e) in entries(1, ops + WARMUP, size).chunks(1).enumerate() {
        let mut ours = || -> Result<u64, Box<dyn std::error::Error>> {
            let t = Instant::now();
            wal.append(e)?;
            wal.sync()?;
            Ok(t.elapsed().as_nanos() as u64)
        };
        let (ours_ns, floor_ns) = if i % 2 == 0 {
            (ours()?, timed(|| floor.append(e).and_then(|()| floor.sync()))?)
        } else {
            let floor_ns = timed(|| floor.append(e).and_then(|()| floor.sync()))?;
            (ours()?, floor_ns)
        };
        if i as u64 >= WARMUP {
            ours_h.record(ours_ns)?;
            floor_h.record(floor_ns)?;
        }
    }
    Ok((ours_h, floor_h))
}

/// Operations run before measuring starts.
const WARMUP: u64 = 20;

fn timed(f: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<u64> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_nanos() as u64)
}

/// MB/s of `batch` entries per sync, `mib` MiB per side, batches alternating.
fn throughput(
    root: &Path,
    segment_size: u64,
    batch: u64,
    size: usize,
    mib: u64,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let options = WalOptions { segment_size, create_dir: true, ..WalOptions::default() };
    let (mut wal, _) = Wal::open(fresh(root, "tp-ours")?, options)?;
    let mut floor = Floor::create(&fresh(root, "tp-floor")?, segment_size)?;
    let batches = ((mib << 20) / (batch * size as u64)).max(1);
    let (mut ours_ns, mut floor_ns) = (0u64, 0u64);
    for b in 0..batches {
        let work = entries(1 + b * batch, batch, size);
        let t = Instant::now();
        wal.append(&work)?;
        wal.sync()?;
        ours_ns += t.elapsed().as_nanos() as u64;
        floor_ns += timed(|| floor.append(&work).and_then(|()| floor.sync()))?;
    }
    let bytes = (batches * batch * size as u64) as f64;
    Ok((bytes / ours_ns as f64 * 1e3, bytes / floor_ns as f64 * 1e3))
}

/// GB/s of `Wal::open` over a `mib` MiB log, and of a raw sequential
/// `read` of the same segment files (both from the page cache).
fn replay(
    root: &Path,
    segment_size: u64,
    size: usize,
    mib: u64,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let dir = fresh(root, "replay")?;
    let options = WalOptions { segment_size, create_dir: true, ..WalOptions::default() };
    let count = (mib << 20) / size as u64;
    {
        let (mut wal, _) = Wal::open(&dir, options.clone())?;
        for first in (1..=count).step_by(1024) {
            wal.append(&entries(first, 1024.min(count + 1 - first), size))?;
        }
        wal.sync()?;
    }
    let raw = raw_read(&dir)?;
    let t = Instant::now();
    let (_wal, recovered) = Wal::open(&dir, options)?;
    let ours = recovered.report.bytes_read as f64 / t.elapsed().as_secs_f64() / 1e9;
    if recovered.entries.len() as u64 != count {
        return Err(format!("replay recovered {} of {count} entries", recovered.entries.len()).into());
    }
    Ok((ours, raw))
}

fn raw_read(dir: &Path) -> std::io::Result<f64> {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    let t = Instant::now();
    for path in wal::inspect::segments(dir).map_err(std::io::Error::other)? {
        let mut f = std::fs::File::open(path)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
    }
    Ok(bytes as f64 / t.elapsed().as_secs_f64() / 1e9)
}
