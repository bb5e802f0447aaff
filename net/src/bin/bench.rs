//! Transport benchmark against its floor, raw UDP on loopback, in one run:
//! small-message rate, 64 KiB throughput, round-trip latency, and delivery
//! under 10% injected loss.
//!
//! `cargo run --release -p net --bin bench -- [--ms-per-case N] [--secret]`

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use async_io::{block_on, Timer};
use futures_lite::future;
use hdrhistogram::Histogram;
use net::{Config, FaultConfig, Transport};

const SMALL: usize = 100;
const LARGE: usize = 64 * 1024;
const RAW_CHUNK: usize = 1200;

struct Opts {
    case: Duration,
    secret: bool,
}

type Payload = (u64, Vec<u8>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--echo") && args.len() >= 4 {
        let peer = args[3].parse().expect("peer address");
        return echo(&args[2], peer, args.iter().any(|a| a == "--secret"));
    }
    let opts = parse_args();
    println!("net bench: loopback, {} ms per case, MAC {}", opts.case.as_millis(), on_off(opts.secret));
    println!("{:<30} {:>14} {:>14} {:>10}  goal", "case", "raw UDP", "net", "net/raw");
    let raw = raw_rate(SMALL, opts.case);
    let ours = net_rate(SMALL, 1024, &opts);
    row("100 B messages/s", raw, ours, "≥ 0.70");
    let raw = raw_rate(LARGE, opts.case) * LARGE as f64 / 1e6;
    let ours = net_rate(LARGE, 16, &opts) * LARGE as f64 / 1e6;
    row("64 KiB messages, MB/s", raw, ours, "");
    let raw = raw_ping_pong(&opts);
    let ours = net_ping_pong(&opts);
    for (q, name) in [(50.0, "round trip p50, µs"), (99.0, "round trip p99, µs")] {
        let (r, o) = (raw.value_at_quantile(q / 100.0) as f64, ours.value_at_quantile(q / 100.0) as f64);
        println!("{name:<30} {r:>14.1} {o:>14.1} {:>10}  ≤ raw + 20 µs", format!("+{:.1} µs", o - r));
    }
    lossy(&opts);
}

fn parse_args() -> Opts {
    let mut opts = Opts { case: Duration::from_millis(700), secret: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ms-per-case" => {
                let ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(700);
                opts.case = Duration::from_millis(ms);
            }
            "--secret" => opts.secret = true,
            _ => {
                eprintln!("usage: bench [--ms-per-case N] [--secret]");
                std::process::exit(2);
            }
        }
    }
    opts
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn row(name: &str, raw: f64, ours: f64, goal: &str) {
    println!("{name:<30} {raw:>14.0} {ours:>14.0} {:>10.2}  {goal}", ours / raw);
}

fn pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for s in [&a, &b] {
        let r = socket2::SockRef::from(s);
        let _ = r.set_recv_buffer_size(4 << 20);
        let _ = r.set_send_buffer_size(4 << 20);
    }
    (a, b)
}

/// Messages of `size` bytes per second arriving at the receiver, sent as
/// fast as possible in datagrams of at most 1200 bytes.
fn raw_rate(size: usize, case: Duration) -> f64 {
    let (tx, rx) = pair();
    let to = rx.local_addr().expect("addr");
    rx.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_tx = stop.clone();
    let sender = thread::spawn(move || {
        let buf = vec![7u8; size.min(RAW_CHUNK)];
        while !stop_tx.load(Ordering::Relaxed) {
            let _ = tx.send_to(&buf, to);
        }
    });
    let mut buf = vec![0u8; 2048];
    let (mut bytes, start) = (0usize, Instant::now());
    while start.elapsed() < case {
        if let Ok(n) = rx.recv(&mut buf) {
            bytes += n;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    bytes as f64 / size as f64 / secs
}

fn transports(opts: &Opts, faults: FaultConfig) -> (Transport<Payload>, Transport<Payload>) {
    let (a, b) = pair();
    let addrs: std::collections::BTreeMap<u64, SocketAddr> =
        [(1, a.local_addr().expect("addr")), (2, b.local_addr().expect("addr"))].into();
    let make = |id, sock| {
        let mut c = Config::new(1, id, addrs.clone());
        c.secret = opts.secret.then(|| b"bench secret".to_vec());
        c.faults = FaultConfig { seed: id, ..faults.clone() };
        Transport::with_socket(c, sock).expect("transport")
    };
    (make(1, a), make(2, b))
}

/// Messages of `size` bytes per second delivered by `net`, with at most
/// `queue` unacknowledged messages.
fn net_rate(size: usize, queue: usize, opts: &Opts) -> f64 {
    let (mut a, mut b) = transports(opts, FaultConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stop_tx = stop.clone();
    let sender = thread::spawn(move || {
        let payload = (0u64, vec![7u8; size - 9]);
        block_on(async {
            while !stop_tx.load(Ordering::Relaxed) {
                while a.endpoint().queued(2) < queue {
                    let _ = a.send(2, &payload);
                }
                a.drive().await;
            }
        })
    });
    let (mut n, start) = (0usize, Instant::now());
    block_on(async {
        while start.elapsed() < opts.case {
            if b.recv_timeout(Duration::from_millis(50)).await.is_some() {
                n += 1;
            }
        }
    });
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    n as f64 / secs
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Starts `bench --echo KIND PEER` as a child process (its own reactor and
/// scheduler, as a real peer would have) and returns it with its address.
fn spawn_echo(kind: &str, peer: SocketAddr, opts: &Opts) -> (Child, SocketAddr) {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--echo", kind, &peer.to_string()]).stdout(Stdio::piped());
    if opts.secret {
        cmd.arg("--secret");
    }
    let mut child = cmd.spawn().expect("spawn echo");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("echo address");
    (child, line.trim().parse().expect("echo address"))
}

/// The echo side: answers every datagram or message until idle for 1 s.
fn echo(kind: &str, peer: SocketAddr, secret: bool) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    println!("{}", sock.local_addr().expect("addr"));
    if kind == "raw" {
        sock.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
        let mut buf = [0u8; 2048];
        while let Ok(n) = sock.recv(&mut buf) {
            let _ = sock.send_to(&buf[..n], peer);
        }
        return;
    }
    let addrs = [(1, peer), (2, sock.local_addr().expect("addr"))].into();
    let mut c = Config::new(1, 2, addrs);
    c.secret = secret.then(|| b"bench secret".to_vec());
    let mut t = Transport::<Payload>::with_socket(c, sock).expect("transport");
    block_on(async {
        while let Some((from, m)) = t.recv_timeout(Duration::from_secs(1)).await {
            let _ = t.send(from, &m);
        }
    });
}

/// Round trips of 100-byte datagrams to an echo process, in µs.
fn raw_ping_pong(opts: &Opts) -> Histogram<u64> {
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    a.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let (mut child, b_addr) = spawn_echo("raw", a.local_addr().expect("addr"), opts);
    let (mut h, mut buf, start) = (histogram(), [0u8; 2048], Instant::now());
    while start.elapsed() < opts.case {
        let t = Instant::now();
        let _ = a.send_to(&[1u8; SMALL], b_addr);
        if a.recv(&mut buf).is_ok() {
            let _ = h.record(t.elapsed().as_micros().max(1) as u64);
        }
    }
    let _ = child.wait();
    h
}

/// Round trips of 100-byte messages through `net` to an echo process, in µs.
fn net_ping_pong(opts: &Opts) -> Histogram<u64> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let a_addr = sock.local_addr().expect("addr");
    let (mut child, b_addr) = spawn_echo("net", a_addr, opts);
    let mut c = Config::new(1, 1, [(1, a_addr), (2, b_addr)].into());
    c.secret = opts.secret.then(|| b"bench secret".to_vec());
    let mut a = Transport::<Payload>::with_socket(c, sock).expect("transport");
    let (mut h, start, payload) = (histogram(), Instant::now(), (0u64, vec![1u8; SMALL - 9]));
    block_on(async {
        while start.elapsed() < opts.case {
            let t = Instant::now();
            let _ = a.send(2, &payload);
            if a.recv_timeout(Duration::from_secs(1)).await.is_some() {
                let _ = h.record(t.elapsed().as_micros().max(1) as u64);
            }
        }
        // Let the last acks out before the echo process goes idle.
        for _ in 0..3 {
            future::or(a.drive(), async {
                let _ = Timer::after(Duration::from_millis(5)).await;
            })
            .await;
        }
    });
    let _ = child.wait();
    h
}

/// 10% of datagrams dropped in each direction: share delivered and the
/// one-way delay of 100-byte messages sent at a steady 10,000 per second.
fn lossy(opts: &Opts) {
    let faults = FaultConfig { drop_outbound: 0.1, ..Default::default() };
    let (mut a, mut b) = transports(opts, faults);
    let epoch = Instant::now();
    let count = (opts.case.as_micros() / 100).max(100) as u64;
    let done = Arc::new(AtomicBool::new(false));
    let done_rx = done.clone();
    let receiver = thread::spawn(move || {
        let mut h = histogram();
        block_on(async {
            while !done_rx.load(Ordering::Relaxed) {
                if let Some((_, (sent_us, _))) = b.recv_timeout(Duration::from_millis(20)).await {
                    let _ = h.record((epoch.elapsed().as_micros() as u64).saturating_sub(sent_us).max(1));
                }
            }
        });
        h
    });
    let rto_us = block_on(paced_sender(&mut a, epoch, count));
    done.store(true, Ordering::Relaxed);
    let h = receiver.join().expect("receiver");
    let share = h.len() as f64 / count as f64 * 100.0;
    let p99 = h.value_at_quantile(0.99) as f64 / 1000.0;
    println!("{:<30} {:>14} {:>13.2}% {:>10}  100%", "10% loss: delivered", "-", share, "");
    println!(
        "{:<30} {:>14} {:>14.2} {:>10}  ≤ 3 × RTO = {:.1} ms (p50 {:.2} ms)",
        "10% loss: p99 delay, ms",
        "-",
        p99,
        format!("{:.2} RTO", p99 * 1000.0 / rto_us as f64),
        3.0 * rto_us as f64 / 1000.0,
        h.value_at_quantile(0.5) as f64 / 1000.0
    );
}

/// Sends `count` messages one per 100 µs, then drives until all are acked
/// or dropped; returns the RTO in µs at the end.
async fn paced_sender(a: &mut Transport<Payload>, epoch: Instant, count: u64) -> u64 {
    let start = Instant::now();
    for i in 0..count {
        let at = start + Duration::from_micros(i * 100);
        while Instant::now() < at {
            future::or(a.drive(), async {
                let _ = Timer::at(at).await;
            })
            .await;
        }
        let _ = a.send(2, &(epoch.elapsed().as_micros() as u64, vec![1u8; SMALL - 9]));
    }
    let rto_us = a.endpoint().rtt(2).map_or(0, |r| r.rto_us);
    let give_up = Instant::now() + Duration::from_secs(5);
    while a.endpoint().queued(2) > 0 && Instant::now() < give_up {
        future::or(a.drive(), async {
            let _ = Timer::after(Duration::from_millis(10)).await;
        })
        .await;
    }
    rto_us
}
