//! `soak`: long runs against a real 3-member `node` cluster on loopback
//! (WAL fsynced), run by hand, not in CI; docs/testing.md ("Soak runs")
//! has the figures of one run of each. The small CI versions are
//! `tests/tests/process_failover.rs` and `process_garbage.rs`.
//!
//! - `kill-leader`: `--writers` client threads write fresh keys while the
//!   leader is `kill -9`ed and restarted `--kills` times (at once, or
//!   after a random pause of up to `--max-pause-ms`). Each round waits for
//!   the next acknowledged write (the failover time) and for the restarted
//!   member to catch up. At the end every acknowledged write must read
//!   back (linearizable gets through the log), the members must converge
//!   (same commit and applied index), and their WALs, opened after the
//!   members are killed, must hold the same entries up to the commit
//!   index.
//! - `datagrams`: `--count` garbage datagrams (`procs::faults::flood`:
//!   random bytes, valid-looking headers with a bad CRC, another cluster,
//!   an outsider id, a forged MAC, cut short, real signed frames replayed
//!   from the wrong address, bit flips of those with and without the CRC
//!   fixed, bit flips of headers) from `--threads` threads, as fast as the
//!   socket takes them, at the leader of a cluster with a secret while a
//!   client writes. Then: no member died or panicked, no write failed, and
//!   what the leader counted by reason (`node status --json`'s `net`)
//!   beside what a shadow endpoint configured like it predicted, plus what
//!   the kernel dropped for its socket (`/proc/net/udp`).
//!
//! ```text
//! cargo run --release -p tests --bin soak -- kill-leader --kills 1000 --writers 4
//! cargo run --release -p tests --bin soak -- datagrams --count 10000000
//! ```
//!
//! Exit 1 when anything was lost, members disagree, a member died, or a
//! round did not finish in time; the cluster's temp dir (logs, WALs) is
//! then kept and named.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use node::config::ClusterConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tests::procs::cli::{MemberStatus, NetCounters};
use tests::procs::faults::{flood, udp_socket_drops, FloodReport, FloodSpec, SprayKind, SprayTarget};
use tests::procs::oracle::{missing_acked_by_clients, AckHook, ClientWriter, WriterReport};
use tests::procs::{ClusterSpec, ProcCluster, ProcError};

#[derive(Parser, Debug)]
#[command(about = "Soaks of a real node cluster: leader kills under writes, garbage datagrams")]
struct Args {
    #[command(subcommand)]
    command: Soak,
}

#[derive(Subcommand, Debug)]
enum Soak {
    /// kill -9 the leader again and again under concurrent writers.
    KillLeader(KillArgs),
    /// Spray garbage and mutated datagrams at the leader while a client writes.
    Datagrams(DatagramArgs),
}

#[derive(clap::Args, Debug)]
struct KillArgs {
    /// Leader kills.
    #[arg(long, default_value_t = 1000)]
    kills: usize,
    /// Concurrent writer threads, each with its own client and keys.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Members of the cluster.
    #[arg(long, default_value_t = 3)]
    members: u64,
    /// Longest pause between a kill and the restart: half the rounds
    /// restart at once, the others after 1..=this many ms.
    #[arg(long, default_value_t = 300)]
    max_pause_ms: u64,
    /// Each writer's pause between writes, in ms (bounds the log's growth).
    #[arg(long, default_value_t = 0)]
    write_pause_ms: u64,
    /// A write not acknowledged within this many ms counts as failed.
    #[arg(long, default_value_t = 5000)]
    write_timeout_ms: u64,
    /// Client threads reading every acknowledged write back at the end.
    #[arg(long, default_value_t = 8)]
    readers: usize,
    /// Seed of the pauses (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The node's default timing (300–600 ms elections) instead of the
    /// tests' (150–300 ms).
    #[arg(long)]
    node_timing: bool,
    /// Keep the cluster's temp dir (logs, WALs) also when all went well.
    #[arg(long)]
    keep_dir: bool,
}

#[derive(clap::Args, Debug)]
struct DatagramArgs {
    /// Datagrams to send, over all threads.
    #[arg(long, default_value_t = 10_000_000)]
    count: u64,
    /// Sending threads.
    #[arg(long, default_value_t = 2)]
    threads: u64,
    /// Datagrams per second over all threads (default: as fast as possible).
    #[arg(long)]
    rate: Option<u64>,
    /// Seed of the datagrams (thread t uses seed + t).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A write not acknowledged within this many ms counts as failed.
    #[arg(long, default_value_t = 5000)]
    write_timeout_ms: u64,
    /// The writer's pause between writes, in ms (0: back to back; a long
    /// pause leaves the leader mostly idle under the spray).
    #[arg(long, default_value_t = 0)]
    write_pause_ms: u64,
    /// Keep the cluster's temp dir (logs, WALs) also when all went well.
    #[arg(long)]
    keep_dir: bool,
}

type BoxError = Box<dyn std::error::Error>;

fn main() {
    // Role changes and WAL recovery in the members' logs, for post-mortems.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "election=info,wal=info");
    }
    let args = Args::parse();
    let result = match &args.command {
        Soak::KillLeader(a) => kill_leader(a),
        Soak::Datagrams(a) => datagrams(a),
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(1);
        }
    }
}

/// Prints the members' log tails and keeps the cluster's temp dir.
fn keep_for_post_mortem(cluster: &mut ProcCluster) {
    for id in cluster.ids() {
        eprintln!("member {id} log tail: {}", tests::procs::cluster::tail(&cluster.log_path(id), 15));
    }
    eprintln!("kept cluster dir {}", cluster.keep_dir().display());
}

/// The end of a soak: keeps the cluster's temp dir for a post-mortem when
/// it failed, or (and says so) under `--keep-dir`.
fn finish(cluster: &mut ProcCluster, ok: bool, keep_dir: bool) {
    if !ok {
        keep_for_post_mortem(cluster);
    } else if keep_dir {
        say(format!("kept cluster dir {}", cluster.keep_dir().display()));
    }
}

/// The first five client errors, if any.
fn say_client_errors(report: &WriterReport) {
    for e in report.errors.iter().take(5) {
        say(format!("  client error: {e}"));
    }
}

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

// ---------------------------------------------------------------- kill-leader

/// The first acknowledged write after a kill: writers report every ack
/// (when, by whom) and the clock keeps the earliest one that the killed
/// member cannot have sent before it died.
struct FailoverClock {
    base: Instant,
    /// The kill, in ns since `base` (`u64::MAX`: not armed).
    killed_at: AtomicU64,
    killed: AtomicU64,
    /// The restart plus the shortest election timeout: before this, an ack
    /// from the killed member is a reply it sent before it died.
    old_may_lead_at: AtomicU64,
    first_ack: AtomicU64,
}

impl FailoverClock {
    fn new() -> FailoverClock {
        FailoverClock {
            base: Instant::now(),
            killed_at: AtomicU64::new(u64::MAX),
            killed: AtomicU64::new(0),
            old_may_lead_at: AtomicU64::new(u64::MAX),
            first_ack: AtomicU64::new(u64::MAX),
        }
    }

    fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// Call right before killing `old`.
    fn arm(&self, old: u64) -> Instant {
        self.first_ack.store(u64::MAX, Ordering::SeqCst);
        self.old_may_lead_at.store(u64::MAX, Ordering::SeqCst);
        self.killed.store(old, Ordering::SeqCst);
        let now = Instant::now();
        self.killed_at.store(self.ns(now), Ordering::SeqCst);
        now
    }

    fn restarted(&self, at: Instant, election_min: Duration) {
        self.old_may_lead_at.store(self.ns(at + election_min), Ordering::SeqCst);
    }

    fn on_ack(&self, at: Instant, leader: Option<u64>) {
        let (killed_at, at) = (self.killed_at.load(Ordering::SeqCst), self.ns(at));
        if killed_at == u64::MAX || at <= killed_at {
            return;
        }
        let from_old = leader == Some(self.killed.load(Ordering::SeqCst));
        if !from_old || at > self.old_may_lead_at.load(Ordering::SeqCst) {
            self.first_ack.fetch_min(at, Ordering::SeqCst);
        }
    }

    /// Kill → first ack, once there is one.
    fn failover(&self) -> Option<Duration> {
        let (first, killed_at) =
            (self.first_ack.load(Ordering::SeqCst), self.killed_at.load(Ordering::SeqCst));
        (first != u64::MAX).then(|| Duration::from_nanos(first - killed_at))
    }
}

/// The leader with the highest term among the `running` members: (id, term).
fn leader_among(members: &[MemberStatus], running: &[u64]) -> Option<(u64, u64)> {
    members
        .iter()
        .filter(|m| m.is_leader() && running.contains(&m.id))
        .max_by_key(|m| m.term)
        .map(|m| (m.id, m.term))
}

fn running(cluster: &ProcCluster) -> Vec<u64> {
    cluster.ids().into_iter().filter(|id| cluster.is_running(*id)).collect()
}

const ROUND_TIMEOUT: Duration = Duration::from_secs(30);
fn kill_leader(args: &KillArgs) -> Result<bool, BoxError> {
    let mut soak = KillSoak::start(args)?;
    let start = Instant::now();
    let outcome = soak.kill_rounds(start)?;
    let kill_secs = start.elapsed().as_secs_f64();
    let report = stop_all(std::mem::take(&mut soak.writers));
    if let Err(e) = outcome {
        say(format!("FAILED: {e}"));
        say(format!("acknowledged {}, not acknowledged {}", report.acked.len(), report.not_acked));
        keep_for_post_mortem(&mut soak.cluster);
        return Ok(false);
    }
    let check = final_check(&mut soak.cluster, &soak.config, &report, args.readers)?;
    soak.say_summary(&report, &check, kill_secs, start);
    say_client_errors(&report);
    for m in check.lost.iter().take(10) {
        say(format!("  lost: {m}"));
    }
    let ok = check.lost.is_empty() && check.agree;
    finish(&mut soak.cluster, ok, args.keep_dir);
    Ok(ok)
}

/// What the kill rounds carry from one to the next.
struct KillSoak<'a> {
    args: &'a KillArgs,
    seed: u64,
    cluster: ProcCluster,
    config: ClusterConfig,
    /// The shortest election timeout (see [`FailoverClock::restarted`]).
    election_min: Duration,
    clock: Arc<FailoverClock>,
    writers: Vec<ClientWriter>,
    /// Draws the pauses before the restarts.
    rng: ChaCha8Rng,
    failovers: Failovers,
}

impl<'a> KillSoak<'a> {
    /// Starts the cluster and the writers, and says what the soak does;
    /// returns once the writers got 10 writes each through (on average).
    fn start(args: &'a KillArgs) -> Result<KillSoak<'a>, BoxError> {
        let seed = args.seed.unwrap_or_else(seed_from_clock);
        let spec = kill_spec(args)?;
        let election_min = spec.timing.election_timeout_min();
        let mut cluster = ProcCluster::start(spec)?;
        let config = ClusterConfig::load(cluster.config_path())?;
        say(format!(
            "soak kill-leader: {} members, fsync on, {} writers, {} kills, restart pause 0 or 1..={} ms, seed {seed}, dir {}",
            args.members,
            args.writers,
            args.kills,
            args.max_pause_ms,
            cluster.root().display()
        ));
        cluster.wait_leader(Duration::from_secs(10))?;
        let clock = Arc::new(FailoverClock::new());
        let writers = start_writers(args, &config, &clock);
        wait_first_writes(&mut cluster, &writers, 10 * args.writers as u64)?;
        let (rng, failovers) = (ChaCha8Rng::seed_from_u64(seed), Failovers::new()?);
        Ok(KillSoak { args, seed, cluster, config, election_min, clock, writers, rng, failovers })
    }

    /// `--kills` rounds, with a progress line every 100 rounds and after
    /// the last. `Ok(Err(why))`: a round failed, and the rest did not run.
    fn kill_rounds(&mut self, start: Instant) -> Result<Result<(), String>, BoxError> {
        for round in 1..=self.args.kills {
            match self.kill_round() {
                Ok((took, pause)) => self.failovers.record(took, pause)?,
                Err(e) => return Ok(Err(format!("round {round} (seed {}): {e}", self.seed))),
            }
            if round % 100 == 0 || round == self.args.kills {
                self.say_progress(round, start);
            }
        }
        Ok(Ok(()))
    }

    /// One round: find the leader, kill it, restart it (at once or after a
    /// pause), wait for the next acknowledged write and for the restarted
    /// member to catch up with the commit index of that moment. Returns the
    /// failover time and the pause before the restart.
    fn kill_round(&mut self) -> Result<(Duration, Duration), String> {
        let up = running(&self.cluster);
        let members = self
            .cluster
            .wait_for("a leader", ROUND_TIMEOUT, |m| leader_among(m, &up).is_some())
            .map_err(|e| e.to_string())?;
        let (old, _) = leader_among(&members, &up).ok_or("no running leader")?;
        let pause = match self.rng.random_bool(0.5) || self.args.max_pause_ms == 0 {
            true => Duration::ZERO,
            false => Duration::from_millis(self.rng.random_range(1..=self.args.max_pause_ms)),
        };
        let t0 = self.clock.arm(old);
        self.cluster.kill(old).map_err(|e| e.to_string())?;
        std::thread::sleep(pause);
        self.cluster.spawn(old).map_err(|e| e.to_string())?;
        self.clock.restarted(Instant::now(), self.election_min);
        let took = self.wait_failover(old, pause, t0)?;
        self.wait_caught_up(old)?;
        Ok((took, pause))
    }

    /// Waits for the clock's first acknowledged write after the kill of
    /// `old` at `t0`; an error if a member died or none came in time.
    fn wait_failover(&mut self, old: u64, pause: Duration, t0: Instant) -> Result<Duration, String> {
        loop {
            if let Some(took) = self.clock.failover() {
                return Ok(took);
            }
            if t0.elapsed() > ROUND_TIMEOUT {
                return Err(format!(
                    "no write acknowledged within {ROUND_TIMEOUT:?} of killing leader {old} (restart after {pause:?}); status: {:?}",
                    self.cluster.status()
                ));
            }
            self.cluster.check_alive().map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until member `old` applied the highest commit index of now.
    fn wait_caught_up(&mut self, old: u64) -> Result<(), String> {
        let members = self.cluster.status().map_err(|e| e.to_string())?;
        let commit = members.iter().map(|m| m.commit_index).max().unwrap_or(0);
        self.cluster
            .wait_for(&format!("member {old} to catch up to {commit}"), ROUND_TIMEOUT, |m| {
                m.iter().any(|s| s.id == old && s.applied_index >= commit)
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn say_progress(&self, round: usize, start: Instant) {
        let commit = self.cluster.status().ok().and_then(|m| m.iter().map(|s| s.commit_index).max());
        say(format!(
            "{round:>5} kills  {:>7.1} s  acked {:>8}  failover {}  commit {}",
            start.elapsed().as_secs_f64(),
            acked(&self.writers),
            quantiles(&self.failovers.all, " "),
            commit.map_or("?".into(), |c| c.to_string()),
        ));
    }

    /// The summary: `kill_secs` of kills since `start`, then the final
    /// checks.
    fn say_summary(&self, report: &WriterReport, check: &FinalCheck, kill_secs: f64, start: Instant) {
        let (kills, timing) = (self.args.kills, &self.config.timing);
        let n_acked = report.acked.len();
        say(format!("soak kill-leader summary (seed {}):", self.seed));
        say(format!("  kills                     {kills}"));
        say(format!(
            "  wall time                 {kill_secs:.0} s of kills ({:.2} s per kill), {:.0} s with the final checks",
            kill_secs / kills.max(1) as f64,
            start.elapsed().as_secs_f64()
        ));
        say(format!(
            "  acknowledged writes       {n_acked} ({:.0}/s over the kills)",
            n_acked as f64 / kill_secs.max(1e-9)
        ));
        say(format!("  failed (not acknowledged) {}", report.not_acked));
        say(format!("  client errors             {}", report.errors.len()));
        say(format!("  lost acknowledged writes  {}", check.lost.len()));
        say(format!(
            "  failover (kill -> next acknowledged write)  {}  (election timeout {}–{} ms)",
            quantiles(&self.failovers.all, "  "),
            timing.election_timeout_min().as_millis(),
            timing.election_timeout_max().as_millis(),
        ));
        let f = &self.failovers;
        for (name, h) in [("restarted at once", &f.at_once), ("restarted after a pause", &f.paused)] {
            say(format!("    {name:<24} {:>4} kills  {}", h.len(), quantiles(h, "  ")));
        }
        say(format!("  members agree             {}", check.agreement));
    }
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
}

/// The cluster of `--members` on loopback, with the node's timing under
/// `--node-timing`.
fn kill_spec(args: &KillArgs) -> Result<ClusterSpec, BoxError> {
    let mut spec = ClusterSpec::loopback(args.members)?;
    if args.node_timing {
        spec.timing = node::config::Timing::NODE;
    }
    Ok(spec)
}

/// `--writers` writers that tell `clock` of each ack and then pause for
/// `--write-pause-ms`.
fn start_writers(args: &KillArgs, config: &ClusterConfig, clock: &Arc<FailoverClock>) -> Vec<ClientWriter> {
    let hook: AckHook = {
        let clock = clock.clone();
        let pause = Duration::from_millis(args.write_pause_ms);
        Arc::new(move |at, leader| {
            clock.on_ack(at, leader);
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        })
    };
    let timeout = Duration::from_millis(args.write_timeout_ms);
    (0..args.writers)
        .map(|i| ClientWriter::start(config.clone(), &format!("w{i}"), timeout, Some(hook.clone())))
        .collect()
}

/// Waits until the writers got `writes` through, at most [`ROUND_TIMEOUT`].
fn wait_first_writes(
    cluster: &mut ProcCluster,
    writers: &[ClientWriter],
    writes: u64,
) -> Result<(), BoxError> {
    let start = Instant::now();
    while acked(writers) < writes {
        if start.elapsed() > ROUND_TIMEOUT {
            keep_for_post_mortem(cluster);
            return Err("no writes before the first kill".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn acked(writers: &[ClientWriter]) -> u64 {
    writers.iter().map(ClientWriter::acked).sum()
}

/// Stops the writers; what they saw, together.
fn stop_all(writers: Vec<ClientWriter>) -> WriterReport {
    let mut report = WriterReport::default();
    for w in writers {
        let r = w.stop();
        report.acked.extend(r.acked);
        report.not_acked += r.not_acked;
        report.errors.extend(r.errors);
    }
    report
}

/// Failover times in µs: of all rounds, of the rounds restarted at once,
/// of those restarted after a pause.
struct Failovers {
    all: Histogram<u64>,
    at_once: Histogram<u64>,
    paused: Histogram<u64>,
}

impl Failovers {
    fn new() -> Result<Failovers, BoxError> {
        Ok(Failovers { all: Histogram::new(3)?, at_once: Histogram::new(3)?, paused: Histogram::new(3)? })
    }

    fn record(&mut self, took: Duration, pause: Duration) -> Result<(), BoxError> {
        let us = took.as_micros() as u64;
        self.all.record(us)?;
        if pause.is_zero() {
            self.at_once.record(us)?
        } else {
            self.paused.record(us)?
        }
        Ok(())
    }
}

/// "p50 … p99 … max …" of `h` (in µs) in ms, `sep` between the three.
fn quantiles(h: &Histogram<u64>, sep: &str) -> String {
    format!(
        "p50 {}{sep}p99 {}{sep}max {}",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

struct FinalCheck {
    lost: Vec<String>,
    agree: bool,
    agreement: String,
}

/// Converge, read every acknowledged write back, converge again, kill
/// every member and compare their WALs up to the commit index.
fn final_check(
    cluster: &mut ProcCluster,
    config: &ClusterConfig,
    report: &WriterReport,
    readers: usize,
) -> Result<FinalCheck, BoxError> {
    let acked = report.acked.len() as u64;
    if let Err(e) = cluster.wait_converged(acked, Duration::from_secs(60)) {
        return Ok(FinalCheck { lost: Vec::new(), agree: false, agreement: format!("no: {e}") });
    }
    let t = Instant::now();
    let lost = missing_acked_by_clients(config, &report.acked, readers, Duration::from_secs(10));
    say(format!("read back {acked} acknowledged writes in {:.0} s", t.elapsed().as_secs_f64()));
    let members = match cluster.wait_converged(acked, Duration::from_secs(60)) {
        Ok(m) => m,
        Err(e) => return Ok(FinalCheck { lost, agree: false, agreement: format!("no: {e}") }),
    };
    let commit = members[0].commit_index;
    cluster.kill_all()?;
    let (agree, logs) = compare_logs(cluster, config, commit)?;
    let agreement = format!(
        "{}: commit = applied = {commit} on all {} members; WALs {logs}",
        if agree { "yes" } else { "NO" },
        members.len()
    );
    Ok(FinalCheck { lost, agree, agreement })
}

/// Opens each member's WAL (they are stopped) and compares its entries
/// 1..=`commit` (index, term, data) with the first member's.
fn compare_logs(
    cluster: &ProcCluster,
    config: &ClusterConfig,
    commit: u64,
) -> Result<(bool, String), BoxError> {
    let mut first: Option<(u64, Vec<wal::Entry>)> = None;
    let mut digest = 0u32;
    for id in cluster.ids() {
        let identity = wal::Identity { cluster_id: config.cluster_id, member_id: id };
        let options = wal::WalOptions { identity, ..wal::WalOptions::default() };
        let (wal, recovered) = wal::Wal::open(cluster.data_dir(id), options)?;
        drop(wal);
        let committed: Vec<wal::Entry> =
            recovered.entries.into_iter().take_while(|e| e.index <= commit).collect();
        if committed.len() as u64 != commit || committed.first().is_some_and(|e| e.index != 1) {
            return Ok((
                false,
                format!("member {id} holds {} of the {commit} committed entries", committed.len()),
            ));
        }
        match &first {
            None => {
                for e in &committed {
                    digest = crc32c::crc32c_append(digest, &e.index.to_le_bytes());
                    digest = crc32c::crc32c_append(digest, &e.term.to_le_bytes());
                    digest = crc32c::crc32c_append(digest, &e.data);
                }
                first = Some((id, committed));
            }
            Some((first_id, entries)) => {
                if let Some((a, b)) = entries.iter().zip(&committed).find(|(a, b)| a != b) {
                    return Ok((
                        false,
                        format!(
                            "differ at index {}: member {first_id} has term {}, member {id} term {}",
                            a.index, a.term, b.term
                        ),
                    ));
                }
            }
        }
    }
    Ok((true, format!("identical in entries 1..={commit} (crc32c {digest:08x})")))
}

fn ms(us: u64) -> String {
    format!("{:.0} ms", us as f64 / 1000.0)
}

// ------------------------------------------------------------------ datagrams

/// Reasons a received datagram is rejected for (the first ones of
/// [`net::Drops::named`]).
const REJECTED: usize = net::Drops::REJECTIONS;

/// User + system CPU time of process `pid` in seconds (/proc/PID/stat,
/// in USER_HZ = 100 ticks per second).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn counters_of(cluster: &ProcCluster, id: u64) -> Result<NetCounters, BoxError> {
    let all = cluster.cli().counters()?;
    all.into_iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, c)| c)
        .ok_or_else(|| format!("member {id} did not answer").into())
}

fn datagrams(args: &DatagramArgs) -> Result<bool, BoxError> {
    let (mut soak, writer) = DatagramSoak::start(args)?;
    let before = soak.sample()?;
    let acked_before = writer.acked();
    let flooded = soak.spray(&writer, acked_before)?;
    let after = soak.after_spray(writer, acked_before);
    soak.say_summary(&flooded, &after);
    let counted_ok = match &after.sample {
        Ok(sample) => soak.say_drops(&before, sample, &flooded),
        Err(e) => {
            say(format!("  counters of member {}: {e}", soak.leader));
            false
        }
    };
    let ok = after.ok() && counted_ok;
    say(format!("  result: {}", if ok { "ok" } else { "FAILED" }));
    say_client_errors(&after.report);
    finish(&mut soak.cluster, ok, args.keep_dir);
    Ok(ok)
}

/// The cluster of the datagram soak, and the leader that is sprayed.
struct DatagramSoak<'a> {
    args: &'a DatagramArgs,
    cluster: ProcCluster,
    config: ClusterConfig,
    leader: u64,
    /// The leader's term before the spray.
    term: u64,
    /// The leader's address.
    addr: SocketAddr,
}

/// The leader's transport counters, CPU seconds (if known) and the
/// datagrams the kernel dropped for its socket (if known), at one moment.
struct LeaderSample {
    counters: NetCounters,
    cpu: Option<f64>,
    kernel: Option<u64>,
}

/// What the spray left: the writer's and the members' state after it.
struct AfterSpray {
    /// Writes acknowledged during the spray.
    during: u64,
    /// Whether 5 more writes went through after it.
    writes_after: bool,
    alive: Result<(), ProcError>,
    panicked: Vec<u64>,
    sample: Result<LeaderSample, BoxError>,
    report: WriterReport,
    converged: Result<Vec<MemberStatus>, ProcError>,
    lost: Vec<String>,
    final_leader: Option<(u64, u64)>,
}

impl AfterSpray {
    /// All but the counters are fine: no member died or panicked, every
    /// write was acknowledged and reads back, writes went on.
    fn ok(&self) -> bool {
        self.alive.is_ok()
            && self.panicked.is_empty()
            && self.report.not_acked == 0
            && self.report.errors.is_empty()
            && self.lost.is_empty()
            && self.converged.is_ok()
            && self.writes_after
    }
}

impl<'a> DatagramSoak<'a> {
    /// Starts the cluster with a secret, says what the soak does, and
    /// starts the writer; returns once it got 5 writes through.
    fn start(args: &'a DatagramArgs) -> Result<(DatagramSoak<'a>, ClientWriter), BoxError> {
        let mut spec = ClusterSpec::loopback(3)?;
        spec.secret = Some("soak-datagrams-secret".into());
        let mut cluster = ProcCluster::start(spec)?;
        let config = ClusterConfig::load(cluster.config_path())?;
        let leader = cluster.wait_leader(Duration::from_secs(10))?;
        let term = cluster.status()?.iter().find(|m| m.id == leader).map_or(0, |m| m.term);
        let addr = cluster.addr(leader).ok_or("leader has no address")?;
        say(format!(
            "soak datagrams: 3 members with a secret, fsync on; {} datagrams from {} threads{} at leader {leader} ({addr}); dir {}",
            args.count,
            args.threads,
            args.rate.map_or(" as fast as possible".into(), |r| format!(" at {r}/s")),
            cluster.root().display()
        ));
        let timeout = Duration::from_millis(args.write_timeout_ms);
        let pause = Duration::from_millis(args.write_pause_ms);
        let hook: Option<AckHook> =
            (!pause.is_zero()).then(|| Arc::new(move |_, _| std::thread::sleep(pause)) as AckHook);
        let writer = ClientWriter::start(config.clone(), "d", timeout, hook);
        if !writer.wait_progress(5, Duration::from_secs(15)) {
            keep_for_post_mortem(&mut cluster);
            return Err("no writes before spraying".into());
        }
        Ok((DatagramSoak { args, cluster, config, leader, term, addr }, writer))
    }

    fn sample(&self) -> Result<LeaderSample, BoxError> {
        let counters = counters_of(&self.cluster, self.leader)?;
        let cpu = self.cluster.pid(self.leader).and_then(cpu_seconds);
        Ok(LeaderSample { counters, cpu, kernel: udp_socket_drops(self.addr) })
    }

    /// Floods the leader from `--threads` threads, with a progress line
    /// every 10 s; what they sent, together.
    fn spray(&self, writer: &ClientWriter, acked_before: u64) -> Result<FloodReport, BoxError> {
        let progress = Arc::new(AtomicU64::new(0));
        let sprayers = self.spawn_sprayers(&progress);
        let start = Instant::now();
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        say(format!("spraying since unix time {:.3} (to match the members' logs)", unix.as_secs_f64()));
        let mut next_report = Duration::from_secs(10);
        while !sprayers.iter().all(|s| s.is_finished()) {
            if start.elapsed() >= next_report {
                let sent = progress.load(Ordering::Relaxed);
                say(format!(
                    "{:>6.0} s  ~{sent} sent ({:.0}/s)  {} writes acknowledged meanwhile",
                    start.elapsed().as_secs_f64(),
                    sent as f64 / start.elapsed().as_secs_f64(),
                    writer.acked() - acked_before
                ));
                next_report += Duration::from_secs(10);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut flooded = FloodReport::default();
        for s in sprayers {
            flooded.add(&s.join().map_err(|_| "sprayer panicked")??);
        }
        Ok(flooded)
    }

    /// The flood threads, `--count` and `--rate` split over them.
    fn spawn_sprayers(
        &self,
        progress: &Arc<AtomicU64>,
    ) -> Vec<JoinHandle<tests::procs::Result<FloodReport>>> {
        let (args, config) = (self.args, &self.config);
        let peers: BTreeMap<u64, _> =
            config.nodes.iter().filter_map(|m| Some((m.id, m.addr.resolve().ok()?))).collect();
        let threads = args.threads.max(1);
        (0..threads)
            .map(|t| {
                let spec = FloodSpec {
                    target: SprayTarget {
                        addr: self.addr,
                        cluster_id: config.cluster_id,
                        target_id: self.leader,
                        member_ids: self.cluster.ids(),
                    },
                    peers: peers.clone(),
                    secret: config.secret.clone(),
                    count: args.count / threads + u64::from(t < args.count % threads),
                    seed: args.seed + t,
                    rate: args.rate.map(|r| (r / threads).max(1)),
                    progress: Some(progress.clone()),
                };
                std::thread::spawn(move || flood(&spec))
            })
            .collect()
    }

    /// After the spray: whether writes go on, the members' health, the
    /// leader's counters; then the writer stops, the members converge and
    /// every acknowledged write is read back.
    fn after_spray(&mut self, writer: ClientWriter, acked_before: u64) -> AfterSpray {
        let during = writer.acked() - acked_before;
        let writes_after = writer.wait_progress(5, Duration::from_secs(15));
        std::thread::sleep(Duration::from_secs(1)); // the member reads what its socket still holds
        let alive = self.cluster.check_alive();
        let panicked = self.cluster.panicked();
        let sample = self.sample();
        let report = writer.stop();
        let converged = self.cluster.wait_converged(report.acked.len() as u64, Duration::from_secs(30));
        let lost = missing_acked_by_clients(&self.config, &report.acked, 4, Duration::from_secs(10));
        let up = running(&self.cluster);
        let final_leader = self.cluster.status().ok().and_then(|m| leader_among(&m, &up));
        AfterSpray { during, writes_after, alive, panicked, sample, report, converged, lost, final_leader }
    }

    /// The summary up to the drop counters: what was sent, the writes, the
    /// members.
    fn say_summary(&self, flooded: &FloodReport, after: &AfterSpray) {
        let (secs, sent) = (flooded.elapsed.as_secs_f64(), flooded.sent.total());
        say(format!("soak datagrams summary (seed {}):", self.args.seed));
        say(format!(
            "  sent {sent} datagrams in {secs:.1} s: {:.0} datagrams/s ({} send errors)",
            sent as f64 / secs.max(1e-9),
            flooded.send_errors
        ));
        for kind in SprayKind::ALL {
            say(format!("    {:<38} {:>9}", kind.name(), flooded.sent.get(kind)));
        }
        say(format!(
            "  writes during the spray: {} acknowledged ({:.0}/s); after: {}",
            after.during,
            after.during as f64 / secs.max(1e-9),
            if after.writes_after { "going on" } else { "STOPPED" }
        ));
        let report = &after.report;
        say(format!(
            "  writer: {} acknowledged, {} failed, {} errors; lost {}; members {}",
            report.acked.len(),
            report.not_acked,
            report.errors.len(),
            after.lost.len(),
            match &after.converged {
                Ok(m) => format!("converged at commit {}", m[0].commit_index),
                Err(e) => format!("did NOT converge: {e}"),
            }
        ));
        say(format!(
            "  member deaths: {}; panics in logs: {:?}; leader now {:?} (was {} in term {})",
            match &after.alive {
                Ok(()) => "0".to_string(),
                Err(e) => format!("1+ ({e})"),
            },
            after.panicked,
            after.final_leader.map(|(id, term)| format!("{id} in term {term}")),
            self.leader,
            self.term
        ));
    }

    /// The leader's drops by reason over the spray, predicted beside
    /// counted, and what it received and spent. True when it counted no
    /// more rejections of any reason than predicted, the shadow accepted
    /// nothing, and each datagram sent was rejected or dropped by the
    /// kernel.
    fn say_drops(&self, before: &LeaderSample, after: &LeaderSample, flooded: &FloodReport) -> bool {
        let predicted = flooded.predicted.named().map(|(_, n)| n);
        let (b, a) = (before.counters.drops.named(), after.counters.drops.named());
        let counted: Vec<u64> = a.iter().zip(b).map(|((_, a), (_, b))| a - b).collect();
        say(format!(
            "  drops at member {} by reason: predicted (shadow endpoint) vs counted (node status --json)",
            self.leader
        ));
        for (((name, _), predicted), counted) in a.iter().zip(predicted).zip(counted.iter().copied()) {
            if predicted > 0 || counted > 0 {
                say(format!(
                    "    {name:<20} predicted {predicted:>9}  counted {counted:>9}  difference {:>7}",
                    predicted as i64 - counted as i64
                ));
            }
        }
        let counted_rejected: u64 = counted[..REJECTED].iter().sum();
        let kernel = before.kernel.zip(after.kernel).map(|(b, a)| a.saturating_sub(b));
        let unaccounted =
            flooded.sent.total() as i64 - counted_rejected as i64 - kernel.map_or(0, |k| k as i64);
        let rx = after.counters.datagrams_received - before.counters.datagrams_received;
        say(format!(
            "  member received {rx} datagrams ({} beside the rejected ones: the cluster's own traffic); \
             rejected {counted_rejected}; the kernel dropped {} for its socket (receive buffer full); \
             sent - rejected - kernel drops = {unaccounted}; predicted accepted {}",
            rx as i64 - counted_rejected as i64,
            kernel.map_or("?".into(), |k| k.to_string()),
            flooded.predicted_accepted
        ));
        if let (Some(b), Some(a)) = (before.cpu, after.cpu) {
            say(format!(
                "  member {} used {:.1} s of CPU meanwhile: {:.2} µs per datagram it received",
                self.leader,
                a - b,
                (a - b) * 1e6 / rx.max(1) as f64
            ));
        }
        flooded.predicted_accepted == 0
            && unaccounted <= 0
            && counted[..REJECTED].iter().zip(predicted).all(|(counted, predicted)| *counted <= predicted)
    }
}
