//! The acknowledged-write oracle: a client that writes continuously, one
//! fresh key per write (so a late-applied, unacknowledged write can never
//! overwrite an acknowledged one), records every write that returned OK,
//! and the final check that each of them reads back. [`Writer`] runs a
//! `node put` process per write; [`ClientWriter`] keeps one in-process
//! client (no process per write), for soaks.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use node::client::{Client, ClientError};
use node::config::ClusterConfig;

use super::cli::{Cli, PutOutcome};

/// What a writer saw.
#[derive(Debug, Default)]
pub struct WriterReport {
    /// Every write that returned OK: key → value.
    pub acked: BTreeMap<String, String>,
    /// Writes that timed out or failed (may or may not be applied).
    pub not_acked: usize,
    /// Errors that are not a timeout (bad arguments, spawn failures).
    pub errors: Vec<String>,
    /// Whether write number N was acknowledged, for every write in order.
    pub outcomes: Vec<bool>,
}

/// A thread that puts `tag-N = tag-N-<nonce>` for N = 0, 1, … until
/// stopped, through a `C`: [`Writer`] and [`ClientWriter`].
pub struct WriterThread<C> {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    handle: JoinHandle<WriterReport>,
    via: PhantomData<fn() -> C>,
}

/// A [`WriterThread`] that runs a `node put` process per write.
pub type Writer = WriterThread<Cli>;

/// A [`Writer`] through an in-process [`node::client::Client`] instead of
/// a `node put` process per write: one client (one id, its sequence
/// numbers, its idea of the leader) for the writer's life, so it writes as
/// fast as the cluster commits, and an [`AckHook`] that learns who
/// acknowledged each.
/// Keys and values as [`Writer`]'s; a write that ends in
/// `ClientError::Timeout` is not acknowledged, any other error is also
/// listed in `errors`.
pub type ClientWriter = WriterThread<Client>;

/// Called after each write a [`ClientWriter`] got acknowledged: when, and
/// by which member (the leader that applied it).
pub type AckHook = Arc<dyn Fn(Instant, Option<u64>) + Send + Sync>;

/// Write number N of a writer tagged `tag`: a fresh key, a value unique to
/// this writer.
fn fresh_key(tag: &str) -> impl Fn(u64) -> (String, String) + Send + 'static {
    let (tag, nonce) =
        (tag.to_string(), Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
    move |n| (format!("{tag}-{n}"), format!("{tag}-{n}-{nonce:x}"))
}

impl WriterThread<Cli> {
    pub fn start(cli: Cli, tag: &str) -> Writer {
        WriterThread::spawn(fresh_key(tag), move || Ok(cli), put_by_cli)
    }
}

impl WriterThread<Client> {
    pub fn start(
        config: ClusterConfig,
        tag: &str,
        timeout: Duration,
        on_ack: Option<AckHook>,
    ) -> ClientWriter {
        let connect = move || Client::new(&config, timeout).map_err(|e| format!("client: {e}"));
        WriterThread::spawn(fresh_key(tag), connect, move |client, key, value, report| {
            put_by_client(client, on_ack.as_ref(), key, value, report)
        })
    }

    /// A writer whose write number N is `write(N)` (key, value): keys may
    /// repeat, so [`WriterReport::outcomes`] says which writes were
    /// acknowledged; `acked` holds each key's last acknowledged value.
    pub fn start_with(
        config: ClusterConfig,
        timeout: Duration,
        write: impl Fn(u64) -> (String, String) + Send + 'static,
    ) -> ClientWriter {
        let connect = move || Client::new(&config, timeout).map_err(|e| format!("client: {e}"));
        WriterThread::spawn(write, connect, |client, key, value, report| {
            put_by_client(client, None, key, value, report)
        })
    }
}

/// One [`Writer`] write: true when acknowledged. An error that is not a
/// timeout (the process did not run) is listed, and the writer pauses.
fn put_by_cli(cli: &mut Cli, key: &str, value: &str, report: &mut WriterReport) -> bool {
    match cli.put(key, value) {
        Ok(PutOutcome::Acked) => true,
        Ok(PutOutcome::NotAcked(_)) => {
            report.not_acked += 1;
            false
        }
        Err(e) => {
            report.errors.push(e.to_string());
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    }
}

/// One [`ClientWriter`] write: true when acknowledged (after telling
/// `on_ack`). Any error counts as not acknowledged; one that is not a
/// timeout is also listed, and the writer pauses.
fn put_by_client(
    client: &mut Client,
    on_ack: Option<&AckHook>,
    key: &str,
    value: &str,
    report: &mut WriterReport,
) -> bool {
    match client.put(key, value.as_bytes()) {
        Ok(()) => {
            if let Some(hook) = on_ack {
                hook(Instant::now(), client.leader());
            }
            return true;
        }
        Err(ClientError::Timeout(_)) => {}
        Err(e) => {
            report.errors.push(format!("put {key}: {e}"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    report.not_acked += 1;
    false
}

impl<C> WriterThread<C> {
    /// Starts the thread: `connect` makes the `C` (an error ends the
    /// writer with it as the only entry of `errors`), then write number N,
    /// `write(N)`, goes through `put`, which says whether it was
    /// acknowledged and notes anything else in the report.
    fn spawn(
        write: impl Fn(u64) -> (String, String) + Send + 'static,
        connect: impl FnOnce() -> Result<C, String> + Send + 'static,
        mut put: impl FnMut(&mut C, &str, &str, &mut WriterReport) -> bool + Send + 'static,
    ) -> WriterThread<C> {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let (stop2, acked2) = (stop.clone(), acked.clone());
        let handle = std::thread::spawn(move || {
            let mut report = WriterReport::default();
            let mut via = match connect() {
                Ok(c) => c,
                Err(e) => {
                    report.errors.push(e);
                    return report;
                }
            };
            let mut n = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let (key, value) = write(n);
                n += 1;
                let ok = put(&mut via, &key, &value, &mut report);
                report.outcomes.push(ok);
                if ok {
                    report.acked.insert(key, value);
                    acked2.fetch_add(1, Ordering::Relaxed);
                }
            }
            report
        });
        WriterThread { stop, acked, handle, via: PhantomData }
    }

    /// Writes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `more` further writes are acknowledged; false on
    /// timeout or when the writer thread ended.
    pub fn wait_progress(&self, more: u64, timeout: Duration) -> bool {
        let (target, start) = (self.acked() + more, Instant::now());
        while self.acked() < target {
            if start.elapsed() >= timeout || self.handle.is_finished() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    pub fn stop(self) -> WriterReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_else(|_| WriterReport {
            errors: vec!["writer thread panicked".into()],
            ..WriterReport::default()
        })
    }
}

/// [`missing_acked`] with `threads` in-process clients reading in
/// parallel (for hundreds of thousands of writes); a get that fails is
/// tried 3 times before it is listed.
pub fn missing_acked_by_clients(
    config: &ClusterConfig,
    acked: &BTreeMap<String, String>,
    threads: usize,
    timeout: Duration,
) -> Vec<String> {
    let pairs: Vec<(String, String)> = acked.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let pairs = Arc::new(pairs);
    let threads = threads.max(1);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (config, pairs) = (config.clone(), pairs.clone());
            std::thread::spawn(move || {
                let client = Client::new(&config, timeout).map_err(|e| format!("reader {t}: {e}"));
                match client {
                    Ok(mut client) => read_back(&mut client, pairs.iter().skip(t).step_by(threads)),
                    Err(e) => vec![e],
                }
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_else(|_| vec!["reader thread panicked".into()]))
        .collect()
}

/// The pairs of `pairs` that do not read back through `client`, each
/// get tried up to 3 times.
fn read_back<'a>(client: &mut Client, pairs: impl Iterator<Item = &'a (String, String)>) -> Vec<String> {
    let mut missing = Vec::new();
    for (key, value) in pairs {
        let mut got = client.get(key);
        for _ in 1..3 {
            if got.is_ok() {
                break;
            }
            got = client.get(key);
        }
        match got {
            Ok(Some(v)) if v == value.as_bytes() => {}
            Ok(v) => missing.push(format!(
                "{key}: wrote {value:?}, read {:?}",
                v.map(|v| String::from_utf8_lossy(&v).into_owned())
            )),
            Err(e) => missing.push(format!("{key}: get failed: {e}")),
        }
    }
    missing
}

/// Reads back every acknowledged write (linearizable `get`); the list of
/// mismatches, empty when all are there.
pub fn missing_acked(cli: &Cli, acked: &BTreeMap<String, String>) -> Vec<String> {
    let mut missing = Vec::new();
    for (key, value) in acked {
        match cli.get(key) {
            Ok(Some(got)) if &got == value => {}
            Ok(got) => missing.push(format!("{key}: wrote {value:?}, read {got:?}")),
            Err(e) => missing.push(format!("{key}: get failed: {e}")),
        }
    }
    missing
}

/// The end of every process test: the writer stopped cleanly, the running
/// members converge (one leader, equal commit and applied index, at least
/// one entry per acknowledged write), and every acknowledged write reads
/// back. Panics with what failed.
pub fn assert_final(cluster: &mut super::ProcCluster, report: &WriterReport) {
    assert!(report.errors.is_empty(), "client errors: {:?}", report.errors);
    let acked = report.acked.len() as u64;
    let members = cluster
        .wait_converged(acked, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("members did not converge: {e}"));
    let missing = missing_acked(cluster.cli(), &report.acked);
    assert!(
        missing.is_empty(),
        "{} of {acked} acknowledged writes lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    eprintln!(
        "final: {acked} acknowledged, {} not acknowledged, commit index {} on all {} members",
        report.not_acked,
        members[0].commit_index,
        members.len()
    );
}
