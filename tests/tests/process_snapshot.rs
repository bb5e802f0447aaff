//! Process tests of snapshots and log compaction: real `node run`
//! processes with tiny `[log]` settings (a snapshot every 50 entries, WAL
//! segments of a few entries), a client overwriting a few hundred keys with
//! values of a few KiB (so each snapshot is about a MiB and takes a moment
//! to write or to send), members killed with SIGKILL while they write or
//! receive snapshots, and restarted. At the end every acknowledged write
//! reads back with its latest value and all members agree.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use node::client::Client;
use node::config::ClusterConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tests::procs::oracle::ClientWriter;
use tests::procs::{ClusterSpec, ProcCluster};

const KEYS: u64 = 300;
const VALUE_BYTES: usize = 4000;
const SNAPSHOT_ENTRIES: u64 = 50;
const MAX_ENTRY_BYTES: u64 = 16 * 1024;
/// The least `check_log` admits: the largest entry and 4 KiB.
const SEGMENT_BYTES: u64 = MAX_ENTRY_BYTES + 4096;
const LEADER_TIMEOUT: Duration = Duration::from_secs(10);
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(15);

fn spec() -> ClusterSpec {
    let mut spec = ClusterSpec::loopback(3).unwrap();
    spec.extra_toml = format!(
        "\n[limits]\nmax_entry_bytes = {MAX_ENTRY_BYTES}\n\n[log]\nsnapshot_entries = {SNAPSHOT_ENTRIES}\n\
         snapshot_bytes = {}\nsegment_bytes = {SEGMENT_BYTES}\n",
        1u64 << 30
    );
    spec
}

fn seeded_rng() -> ChaCha8Rng {
    let seed = std::env::var("SNAPSHOT_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("seed {seed} (SNAPSHOT_TEST_SEED={seed} to repeat)");
    ChaCha8Rng::seed_from_u64(seed)
}

fn config(cluster: &ProcCluster) -> ClusterConfig {
    ClusterConfig::parse(&fs::read_to_string(cluster.config_path()).unwrap()).unwrap()
}

/// The value of write number `n` (to key `n % KEYS`): its number first,
/// padded to `VALUE_BYTES`.
fn value(nonce: u64, n: u64) -> String {
    let mut v = format!("{n}-{nonce:x}-");
    let pad = char::from(b'a' + (n % 26) as u8);
    v.extend(std::iter::repeat_n(pad, VALUE_BYTES - v.len()));
    v
}

fn key(n: u64) -> String {
    format!("k{}", n % KEYS)
}

/// Every write, in the order issued: its number and whether it was
/// acknowledged.
#[derive(Debug, Default)]
struct History {
    nonce: u64,
    writes: Vec<(u64, bool)>,
    errors: Vec<String>,
}

impl History {
    fn acked(&self) -> usize {
        self.writes.iter().filter(|(_, a)| *a).count()
    }

    /// Per key: the values it may hold now. One client's writes apply in
    /// order and a retried one at most once (its session), so a key holds
    /// its latest acknowledged write or one issued after it that was not
    /// acknowledged (it may have been applied); a key with no
    /// acknowledged write may also be absent.
    fn allowed(&self) -> BTreeMap<String, (bool, Vec<u64>)> {
        let mut keys: BTreeMap<String, (bool, Vec<u64>)> = BTreeMap::new();
        for &(n, acked) in &self.writes {
            let entry = keys.entry(key(n)).or_insert((true, Vec::new()));
            if acked {
                *entry = (false, Vec::new());
            }
            entry.1.push(n);
        }
        keys
    }
}

/// The oracle's writer over these keys and values (`key(n) = value(n)`
/// for n = 0, 1, …), through one in-process client.
struct Writer {
    nonce: u64,
    thread: ClientWriter,
}

impl Writer {
    fn start(config: ClusterConfig) -> Writer {
        let nonce =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let thread =
            ClientWriter::start_with(config, Duration::from_secs(2), move |n| (key(n), value(nonce, n)));
        Writer { nonce, thread }
    }

    fn wait_progress(&self, more: u64, timeout: Duration) -> bool {
        self.thread.wait_progress(more, timeout)
    }

    fn stop(self) -> History {
        let report = self.thread.stop();
        let writes = (0..).zip(report.outcomes).collect();
        History { nonce: self.nonce, writes, errors: report.errors }
    }
}

/// Reads every key back (linearizable gets through the leader); the
/// mismatches.
fn missing(config: &ClusterConfig, history: &History) -> Vec<String> {
    let mut client = Client::new(config, Duration::from_secs(5)).unwrap();
    let mut missing = Vec::new();
    for (key, (may_be_absent, candidates)) in history.allowed() {
        let mut got = client.get(&key);
        for _ in 1..3 {
            if got.is_ok() {
                break;
            }
            got = client.get(&key);
        }
        match got {
            Ok(None) if may_be_absent => {}
            Ok(Some(v)) if candidates.iter().any(|&n| value(history.nonce, n).as_bytes() == v) => {}
            Ok(v) => missing.push(format!(
                "{key}: want one of writes {candidates:?}, read {:?}",
                v.map(|v| String::from_utf8_lossy(&v[..v.len().min(40)]).into_owned())
            )),
            Err(e) => missing.push(format!("{key}: get failed: {e}")),
        }
    }
    missing
}

/// The snapshot files (`snap-I-T.snap`) of a data dir: (index, term).
fn snapshots(dir: &Path) -> Vec<(u64, u64)> {
    let mut found: Vec<(u64, u64)> = names(dir)
        .iter()
        .filter_map(|n| {
            let stem = n.strip_prefix("snap-")?.strip_suffix(".snap")?;
            let (i, t) = stem.split_once('-')?;
            Some((i.parse().ok()?, t.parse().ok()?))
        })
        .collect();
    found.sort();
    found
}

fn newest_snapshot(dir: &Path) -> u64 {
    snapshots(dir).last().map_or(0, |s| s.0)
}

/// Whether process `pid` holds the `flock` of a `.snap.tmp` in `dir` (a
/// snapshot writer does while it writes; a temporary left by a killed
/// member stays until the next snapshot, unlocked). Read from
/// /proc/locks, so the writer is not disturbed.
fn writing_snapshot(dir: &Path, pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let inodes: Vec<u64> = names(dir)
        .iter()
        .filter(|n| n.ends_with(".snap.tmp"))
        .filter_map(|n| fs::metadata(dir.join(n)).ok().map(|m| m.ino()))
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let locks = fs::read_to_string("/proc/locks").unwrap_or_default();
    locks.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() >= 6
            && f[1] == "FLOCK"
            && f[4] == pid.to_string()
            && f[5].rsplit(':').next().and_then(|i| i.parse().ok()).is_some_and(|i: u64| inodes.contains(&i))
    })
}

/// The indexes of the `snap-I-T.snap.tmp` files of a data dir.
fn tmp_snapshots(dir: &Path) -> Vec<u64> {
    names(dir)
        .iter()
        .filter_map(|n| n.strip_prefix("snap-")?.strip_suffix(".snap.tmp")?.split_once('-')?.0.parse().ok())
        .collect()
}

/// The WAL segments (`<sequence>.wal`, 1 for the first ever written) of
/// a data dir, by sequence number.
fn segments(dir: &Path) -> Vec<u64> {
    let mut found: Vec<u64> =
        names(dir).iter().filter_map(|n| n.strip_suffix(".wal")?.parse().ok()).collect();
    found.sort();
    found
}

fn names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// Polls `cond` every millisecond until it holds or `timeout` passes.
fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// Waits until member `id` answers status (it started cleanly).
fn wait_reachable(cluster: &mut ProcCluster, id: u64, what: &str) {
    cluster
        .wait_for(what, LEADER_TIMEOUT, |m| m.iter().any(|s| s.id == id && s.is_reachable()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// The end of both tests: no client errors, members converge, every
/// acknowledged write reads back with its latest value, no member
/// panicked, and every member took (or received) a snapshot and dropped
/// the WAL segments it covers.
fn assert_final(cluster: &mut ProcCluster, history: &History) {
    assert!(history.errors.is_empty(), "client errors: {:?}", history.errors);
    let acked = history.acked() as u64;
    let members = cluster
        .wait_converged(acked, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("members did not converge: {e}"));
    let missing = missing(&config(cluster), history);
    assert!(
        missing.is_empty(),
        "{} of {} keys wrong ({acked} writes acknowledged): {:?}",
        missing.len(),
        KEYS,
        &missing[..missing.len().min(10)]
    );
    assert!(cluster.panicked().is_empty(), "members panicked: {:?}", cluster.panicked());
    let commit = members[0].commit_index;
    for id in cluster.ids() {
        let dir = cluster.data_dir(id);
        let (snaps, segs) = (snapshots(&dir), segments(&dir));
        assert!(!snaps.is_empty(), "member {id} has no snapshot file: {:?}", names(&dir));
        // Without compaction the WAL would still hold its first segment,
        // and every entry since index 1.
        let first = segs.first().copied().unwrap_or(0);
        assert!(first > 1, "member {id}: the WAL still holds segment {first}: {segs:?}");
        let bytes = segs.len() as u64 * SEGMENT_BYTES;
        assert!(
            bytes < commit * VALUE_BYTES as u64 / 2,
            "member {id}: {} segments ({bytes} bytes) for {commit} entries of {VALUE_BYTES} bytes",
            segs.len()
        );
        eprintln!("member {id}: snapshots {snaps:?}, {} segments from number {first}", segs.len());
    }
    eprintln!(
        "final: {acked} acknowledged of {} writes, commit index {commit} on all {} members",
        history.writes.len(),
        members.len()
    );
}

/// Kills members (the leader and a follower in turn) while they write
/// snapshots: at the moment the victim holds the lock of a `.snap.tmp` it
/// is writing (or after a random delay when it takes none in time), then
/// restarts them.
#[test]
fn kill_9_while_writing_snapshots_loses_nothing() {
    let mut rng = seeded_rng();
    let mut cluster = ProcCluster::start(spec()).unwrap();
    let started = Instant::now();
    cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    let writer = Writer::start(config(&cluster));
    assert!(writer.wait_progress(2 * SNAPSHOT_ENTRIES, PROGRESS_TIMEOUT), "no writes before the first kill");
    let (mut rounds, mut in_window) = (0, 0);
    while rounds < 6 || (started.elapsed() < Duration::from_secs(25) && rounds < 40) {
        let leader = cluster.wait_leader(LEADER_TIMEOUT).unwrap();
        let victim =
            if rounds % 2 == 0 { leader } else { *cluster.ids().iter().find(|&&id| id != leader).unwrap() };
        let dir = cluster.data_dir(victim);
        let wait = Duration::from_millis(rng.random_range(200..2000));
        let pid = cluster.pid(victim).unwrap();
        let hit = poll(wait, || writing_snapshot(&dir, pid));
        cluster.kill(victim).unwrap();
        in_window += usize::from(hit);
        assert!(
            writer.wait_progress(SNAPSHOT_ENTRIES / 2, PROGRESS_TIMEOUT),
            "round {rounds}: writes stopped after killing {victim} (leader {leader})"
        );
        cluster.spawn(victim).unwrap();
        wait_reachable(&mut cluster, victim, &format!("round {rounds}: member {victim} to restart"));
        rounds += 1;
    }
    assert!(writer.wait_progress(SNAPSHOT_ENTRIES, PROGRESS_TIMEOUT), "no writes after the last restart");
    let history = writer.stop();
    eprintln!("{rounds} kills, {in_window} with a snapshot being written");
    assert!(in_window > 0, "no kill hit a snapshot being written ({rounds} kills)");
    assert_final(&mut cluster, &history);
    eprintln!("took {:?}", started.elapsed());
}

/// Stops a follower until the others have compacted past its log, then
/// restarts it so it must receive a snapshot, and kills it while it
/// receives or installs one, a few times; restarted for good it catches
/// up, and once it leads every write reads back from it.
#[test]
fn kill_9_while_installing_a_snapshot_loses_nothing() {
    let mut rng = seeded_rng();
    let mut cluster = ProcCluster::start(spec()).unwrap();
    let started = Instant::now();
    let leader = cluster.wait_leader(LEADER_TIMEOUT).unwrap();
    let writer = Writer::start(config(&cluster));
    assert!(writer.wait_progress(SNAPSHOT_ENTRIES, PROGRESS_TIMEOUT), "no writes before the stop");
    let victim = *cluster.ids().iter().find(|&&id| id != leader).unwrap();
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != victim).collect();
    cluster.kill(victim).unwrap();
    let victim_dir = cluster.data_dir(victim);
    let victim_snapshot = newest_snapshot(&victim_dir);
    let (mut kills, mut in_transfer, mut victim_last) = (0, 0, 0);
    for round in 0..4 {
        // The victim's log ends at most where the others' does now; wait
        // until they have compacted well past it, so it needs a snapshot.
        let status =
            cluster.wait_for("a leader", LEADER_TIMEOUT, |m| m.iter().any(|s| s.is_leader())).unwrap();
        victim_last = status.iter().map(|s| s.last_index).max().unwrap_or(0);
        let past = victim_last + 2 * SNAPSHOT_ENTRIES;
        let compacted = poll(Duration::from_secs(30), || {
            others.iter().all(|&id| newest_snapshot(&cluster.data_dir(id)) > past)
        });
        assert!(
            compacted,
            "round {round}: the others did not snapshot past {past} (victim's log ends by {victim_last})"
        );
        eprintln!("round {round}: compacted past {past} at {:?}", started.elapsed());
        cluster.spawn(victim).unwrap();
        // A transfer shows as a `.snap.tmp` past the victim's log, an
        // install as a snapshot file past it.
        let seen = poll(Duration::from_secs(10), || {
            tmp_snapshots(&victim_dir).iter().any(|&i| i > victim_last)
                || newest_snapshot(&victim_dir) > victim_last
        });
        assert!(
            seen,
            "round {round}: no snapshot transfer to member {victim} began: {:?}",
            names(&victim_dir)
        );
        if round % 2 == 1 {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
        }
        let receiving = tmp_snapshots(&victim_dir).iter().any(|&i| i > victim_last);
        cluster.check_alive().unwrap_or_else(|e| panic!("round {round}: {e}"));
        cluster.kill(victim).unwrap();
        kills += 1;
        in_transfer += usize::from(receiving);
    }
    let target = victim_last + 2 * SNAPSHOT_ENTRIES;
    eprintln!("{kills} kills of member {victim}, {in_transfer} while a .snap.tmp was there");
    assert!(in_transfer > 0, "no kill hit a transfer to member {victim} ({kills} kills)");

    cluster.spawn(victim).unwrap();
    let caught_up = cluster
        .wait_for(&format!("member {victim} to catch up"), Duration::from_secs(20), |m| {
            let commit = m.iter().find(|s| s.is_leader()).map(|s| s.commit_index);
            let mine = m.iter().find(|s| s.id == victim).map(|s| s.applied_index);
            matches!((commit, mine), (Some(c), Some(a)) if a >= c && a > target)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("caught up at {:?}: {caught_up:?}", started.elapsed());
    assert!(
        newest_snapshot(&victim_dir) > victim_last,
        "member {victim} caught up without a snapshot past its log ({victim_last}): {:?}",
        names(&victim_dir)
    );
    assert_ne!(newest_snapshot(&victim_dir), victim_snapshot);
    assert!(writer.wait_progress(SNAPSHOT_ENTRIES, PROGRESS_TIMEOUT), "no writes after the last restart");
    let history = writer.stop();
    assert_final(&mut cluster, &history);

    // Read every key from the victim's own state machine: kill the leader
    // until the victim is elected (each get goes through the leader's log).
    let mut tries = 0;
    loop {
        let leader = cluster.wait_leader(LEADER_TIMEOUT).unwrap();
        if leader == victim {
            break;
        }
        tries += 1;
        assert!(tries <= 12, "member {victim} never became leader");
        cluster.kill(leader).unwrap();
        cluster
            .wait_for("a new leader", LEADER_TIMEOUT, |m| m.iter().any(|s| s.is_leader() && s.id != leader))
            .unwrap();
        cluster.spawn(leader).unwrap();
        wait_reachable(&mut cluster, leader, "the old leader to restart");
    }
    eprintln!("member {victim} leads at {:?} after {tries} leader kills", started.elapsed());
    let before = cluster.wait_converged(0, Duration::from_secs(20)).unwrap();
    let missing = missing(&config(&cluster), &history);
    let after = cluster.status().unwrap();
    let lead =
        |m: &[tests::procs::cli::MemberStatus]| m.iter().find(|s| s.is_leader()).map(|s| (s.id, s.term));
    assert_eq!(lead(&before), lead(&after), "leadership changed during the read-back");
    assert!(missing.is_empty(), "read from member {victim}: {:?}", &missing[..missing.len().min(10)]);
    eprintln!("took {:?}", started.elapsed());
}
