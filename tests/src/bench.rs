//! What the benchmark binaries share: readings (a member's RSS, a
//! directory's size, the newest snapshot, `net`'s bulk rate on loopback
//! with two transports in this process, as `net/src/bin/bench.rs` measures
//! its 64 KiB case) and the table they print.

use std::future::Future;
use std::net::UdpSocket;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::procs::ProcCluster;

/// `VmRSS` of member `id` in bytes (0 when it is not running).
pub fn rss(cluster: &ProcCluster, id: u64) -> u64 {
    cluster.rss_kib(id).unwrap_or(0) * 1024
}

/// Sum of file sizes and of allocated bytes (`st_blocks` × 512) under `dir`.
pub fn dir_size(dir: &Path) -> (u64, u64) {
    let (mut len, mut alloc) = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else { return (0, 0) };
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            let (l, a) = dir_size(&e.path());
            len += l;
            alloc += a;
        } else {
            len += meta.len();
            alloc += meta.blocks() * 512;
        }
    }
    (len, alloc)
}

/// The largest `*.snap` file under `dir`, in bytes.
pub fn largest_snapshot(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            if meta.is_dir() {
                Some(largest_snapshot(&e.path()))
            } else {
                e.file_name().to_str()?.ends_with(".snap").then_some(meta.len())
            }
        })
        .max()
        .unwrap_or(0)
}

/// A minimal executor: async-io's own thread drives the sockets' reactor
/// when nobody blocks on it (tests does not depend on async-io).
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

type Payload = (u64, Vec<u8>);

/// MB/s (10^6 bytes) of `size`-byte messages delivered by `net` from one
/// transport to another on loopback, at most `queue` unacknowledged, for
/// `case`.
pub fn net_bulk_mb_s(size: usize, queue: usize, case: Duration) -> Result<f64, String> {
    let bind = || -> Result<UdpSocket, String> {
        let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        Ok(s)
    };
    let (a, b) = (bind()?, bind()?);
    let addr = |s: &UdpSocket| s.local_addr().map_err(|e| e.to_string());
    let addrs: std::collections::BTreeMap<u64, std::net::SocketAddr> =
        [(1, addr(&a)?), (2, addr(&b)?)].into();
    let make = |id, sock| {
        let mut c = net::Config::new(1, id, addrs.clone());
        c.max_message_bytes = c.max_message_bytes.max(size + 64);
        net::Transport::<Payload>::with_socket(c, sock).map_err(|e| e.to_string())
    };
    let (mut tx, mut rx) = (make(1, a)?, make(2, b)?);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_tx = stop.clone();
    let sender = std::thread::spawn(move || {
        let payload = (0u64, vec![7u8; size - 9]);
        block_on(async {
            while !stop_tx.load(Ordering::Relaxed) {
                while tx.endpoint().queued(2) < queue {
                    let _ = tx.send(2, &payload);
                }
                tx.drive().await;
            }
        })
    });
    let (mut n, start) = (0u64, Instant::now());
    block_on(async {
        while start.elapsed() < case {
            if rx.recv_timeout(Duration::from_millis(50)).await.is_some() {
                n += 1;
            }
        }
    });
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    Ok(n as f64 * size as f64 / secs / 1e6)
}

/// A row of a benchmark's table: what, the figure, and against what.
pub type Row = [String; 3];

/// The end of a benchmark binary: its table (what was measured, even when
/// the run failed part way), then the error, if any, with exit status 1.
pub fn finish(name: &str, header: &[String], rows: &[Row], result: Result<(), Box<dyn std::error::Error>>) {
    print_table(header, rows);
    if let Err(e) = result {
        eprintln!("{name}: {e} (the table holds what was measured before)");
        std::process::exit(1);
    }
}

/// Prints `header` lines, then `rows` in aligned columns.
pub fn print_table(header: &[String], rows: &[Row]) {
    use std::io::Write as _;
    let w0 = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for line in header {
        let _ = writeln!(out, "{line}");
    }
    for r in rows {
        let _ = writeln!(out, "{:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]);
    }
}
