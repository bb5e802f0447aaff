//! `cluster.toml`: one file describes the whole cluster and is the same on
//! every machine; each member binds the `addr` of its own id.
//!
//! ```toml
//! cluster_id = 1
//! # secret = "a shared secret"      or      secret_file = "/etc/raft/secret"
//! data_dir = "./data"               # member N keeps its WAL in data_dir/node-N
//!
//! [timing]                          # optional; these are the defaults
//! tick_ms = 10
//! heartbeat_ticks = 5
//! election_min_ticks = 30
//! election_max_ticks = 60
//!
//! [limits]                          # optional; defaults: what the transport
//! max_entry_bytes = 1048000         # carries (see limits.rs), and 64 MiB
//! max_uncommitted_bytes = 67108864
//!
//! [log]                             # optional; these are the defaults
//! snapshot_entries = 100000         # snapshot once the log holds this many entries
//! snapshot_bytes = 2097152          # or this many data bytes (2 MiB), and the last snapshot's size
//! segment_bytes = 4194304           # WAL segment files of 4 MiB
//! snapshot_send_mb_per_s = 32       # a leader sends snapshots at most this fast (0: no limit)
//!
//! [reads]                          # optional; lease reads are off by default
//! lease = false                     # serve `--consistency lease` reads without a round
//! clock_drift_percent = 10          # no clock runs more than 10% faster than another's
//!
//! [[node]]
//! id = 1
//! addr = "127.0.0.1:7101"           # or "[::1]:7101", or "db1.internal:7101"
//! metrics_addr = "127.0.0.1:9101"   # optional: Prometheus metrics at http://ADDR/metrics
//! ```
//!
//! Parsing is strict (unknown keys are errors) so a typo never silently
//! falls back to a default; every error is one line. [`ClusterConfig::load`]
//! resolves a relative `data_dir` and `secret_file` against the directory of
//! the file, so a command gives the same paths from any working directory.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::addr::PeerAddr;

/// A cluster.toml that cannot be used, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Syntax(String),
    #[error("node id {0} is listed twice")]
    DuplicateId(u64),
    /// The same text twice (`localhost:7101` and `127.0.0.1:7101` are
    /// not compared: that would need the resolver at parse time).
    #[error("address {0} is listed twice")]
    DuplicateAddr(PeerAddr),
    #[error("node id {0} is out of range (1 ..= 2^63-1)")]
    BadId(u64),
    #[error("no [[node]] entries")]
    NoNodes,
    #[error("set either secret or secret_file, not both")]
    TwoSecrets,
    #[error("the secret is empty")]
    EmptySecret,
    #[error("bad timing: {0}")]
    Timing(String),
    #[error("node id {0} is not in the cluster file")]
    UnknownId(u64),
    #[error("bad limits: {0}")]
    Limits(String),
    #[error("bad [log] settings: {0}")]
    Log(String),
    #[error("bad [reads] settings: {0}")]
    Reads(String),
    #[error("member {id} listens on {addr}{}, which is not a loopback address, and the cluster has no secret: set secret or secret_file (or insecure = true to run unauthenticated)", resolved_note(addr, resolved))]
    Insecure { id: u64, addr: PeerAddr, resolved: SocketAddr },
    #[error("member {id}: cannot resolve {addr}: {reason}")]
    Resolve { id: u64, addr: PeerAddr, reason: String },
}

/// cluster.toml, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub cluster_id: u64,
    /// From `secret = "..."` or the bytes of `secret_file` (one trailing
    /// newline removed): datagrams are MAC'd with it.
    pub secret: Option<Vec<u8>>,
    pub timing: Timing,
    pub limits: Limits,
    pub log: LogSettings,
    pub reads: ReadSettings,
    /// `insecure = true`: members off loopback may run without a secret.
    pub insecure: bool,
    /// Member N keeps its WAL in `data_dir/node-N`.
    pub data_dir: PathBuf,
    pub nodes: Vec<Member>,
}

/// The clock: one Raft tick every `tick_ms`; the rest counted in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    pub tick_ms: u64,
    pub heartbeat_ticks: u32,
    pub election_min_ticks: u32,
    pub election_max_ticks: u32,
}

impl Timing {
    /// The node's default: 50 ms heartbeats, elections after 300–600 ms of
    /// silence (a LAN).
    pub const NODE: Timing =
        Timing { tick_ms: 10, heartbeat_ticks: 5, election_min_ticks: 30, election_max_ticks: 60 };

    /// The tests' fast timing: 30 ms heartbeats, elections after 150–300 ms.
    pub const FAST_TEST: Timing =
        Timing { tick_ms: 10, heartbeat_ticks: 3, election_min_ticks: 15, election_max_ticks: 30 };

    /// The lab's: the core's lab ticks ([`raft::Config::lab`]: heartbeats
    /// every 10, elections after 30–60) of 10 ms.
    pub const LAB: Timing = Timing {
        tick_ms: 10,
        heartbeat_ticks: raft::LAB_HEARTBEAT_TICKS,
        election_min_ticks: raft::LAB_ELECTION_TICKS.0,
        election_max_ticks: raft::LAB_ELECTION_TICKS.1,
    };

    /// The longest election timeout, in time.
    pub fn election_timeout_max(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.tick_ms * u64::from(self.election_max_ticks))
    }

    /// The shortest election timeout, in time.
    pub fn election_timeout_min(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.tick_ms * u64::from(self.election_min_ticks))
    }

    /// The core's configuration of member `id` with this timing (the rest
    /// as [`raft::Config::lab`] has it).
    pub fn core_config(&self, id: u64, voters: Vec<u64>) -> raft::Config {
        raft::Config {
            election_timeout_min_ticks: self.election_min_ticks,
            election_timeout_max_ticks: self.election_max_ticks,
            heartbeat_interval_ticks: self.heartbeat_ticks,
            ..raft::Config::lab(id, voters)
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::NODE
    }
}

/// `[reads]`: lease reads (thesis §6.4.1; `member/lease.rs`). A leader
/// serves `--consistency lease` reads without a round of heartbeats for a
/// lease of `(election_min_ticks - 1) × tick_ms / (1 + clock_drift_percent
/// / 100)` after a round a majority answered. That is linearizable only if
/// no member's clock runs more than `clock_drift_percent` faster than
/// another's (the rate, not the offset: clocks need not agree on the
/// time). Off, a lease read is a linearizable one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadSettings {
    pub lease: bool,
    pub clock_drift_percent: u32,
}

impl Default for ReadSettings {
    fn default() -> Self {
        ReadSettings { lease: false, clock_drift_percent: 10 }
    }
}

impl ReadSettings {
    /// The most `clock_drift_percent` may be: a bound past it leaves
    /// almost no lease.
    pub const MAX_DRIFT_PERCENT: u32 = 1000;

    /// The lease with `timing`, when lease reads are on.
    pub fn lease(&self, timing: &Timing) -> Option<std::time::Duration> {
        let drift = 1.0 + f64::from(self.clock_drift_percent) / 100.0;
        let tick = std::time::Duration::from_millis(timing.tick_ms);
        self.lease.then(|| crate::member::lease::Lease::duration(tick, timing.election_min_ticks, drift))
    }
}

/// Sizes the leader admits (see `limits.rs` for how they relate to the
/// transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest entry (an encoded client command); at most what the
    /// transport can carry, which is also the default.
    pub max_entry_bytes: usize,
    /// A leader holding this much uncommitted answers "busy".
    pub max_uncommitted_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: crate::limits::transport_max_entry_bytes(),
            max_uncommitted_bytes: crate::limits::DEFAULT_MAX_UNCOMMITTED_BYTES,
        }
    }
}

/// When to snapshot, and the WAL's segment size: together they bound a
/// member's disk use (the live data in a snapshot, plus the log since it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// Snapshot once the log since the last snapshot holds this many entries…
    pub snapshot_entries: u64,
    /// …or this many bytes of entry data, whichever comes first.
    pub snapshot_bytes: u64,
    /// Size of each preallocated WAL segment file; segments a snapshot
    /// covers are deleted whole. Large enough for the largest entry.
    pub segment_bytes: u64,
    /// MB (10^6 bytes) per second a leader sends snapshots at, to all
    /// followers together; 0 for no limit. A catch-up at the transport's
    /// full rate takes the CPU the leader's writes need.
    pub snapshot_send_mb_per_s: u64,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            snapshot_entries: 100_000,
            snapshot_bytes: 2 << 20,
            segment_bytes: 4 << 20,
            snapshot_send_mb_per_s: 32,
        }
    }
}

impl LogSettings {
    /// Snapshot bytes a leader may send per tick of `timing`;
    /// `u64::MAX` for no limit.
    pub fn snapshot_send_bytes_per_tick(&self, timing: &Timing) -> u64 {
        match self.snapshot_send_mb_per_s {
            0 => u64::MAX,
            mb => mb.saturating_mul(1_000).saturating_mul(timing.tick_ms).max(1),
        }
    }
}

/// One member: its id and the UDP address it binds and is reached at, as
/// written (a name is resolved when the address is needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub addr: PeerAddr,
    /// Where the member serves its metrics over HTTP (`GET /metrics`);
    /// none unless the file sets `metrics_addr`.
    pub metrics_addr: Option<SocketAddr>,
}

impl Member {
    /// The member's socket address now (see [`PeerAddr::resolve`]), or a
    /// one-line [`ConfigError::Resolve`] naming it.
    pub fn resolve(&self) -> Result<SocketAddr, ConfigError> {
        (self.addr.resolve()).map_err(|e| ConfigError::Resolve {
            id: self.id,
            addr: self.addr.clone(),
            reason: e.to_string(),
        })
    }
}

/// ` (10.0.0.1:7101)` after a name, nothing after an IP address.
fn resolved_note(addr: &PeerAddr, resolved: &SocketAddr) -> String {
    match addr.ip_literal() {
        Some(_) => String::new(),
        None => format!(" ({resolved})"),
    }
}

/// The file as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    cluster_id: u64,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    #[serde(default)]
    timing: Timing,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    log: LogSettings,
    #[serde(default)]
    reads: ReadSettings,
    #[serde(default)]
    insecure: bool,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    node: Vec<RawMember>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    id: u64,
    addr: String,
    metrics_addr: Option<String>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

impl ClusterConfig {
    /// Reads and validates `path`; relative paths in it are taken from the
    /// file's directory.
    pub fn load(path: &Path) -> Result<ClusterConfig, ConfigError> {
        let read = |p: &Path| std::fs::read(p).map_err(|source| ConfigError::Read { path: p.into(), source });
        let text = String::from_utf8(read(path)?)
            .map_err(|_| ConfigError::Syntax(format!("{}: not UTF-8", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config =
            parse_with(&text, |secret_file| read(&base.join(secret_file))).map_err(|e| name_file(e, path))?;
        config.data_dir = base.join(&config.data_dir);
        Ok(config)
    }

    /// Parses and validates cluster.toml text; a `secret_file` is read
    /// relative to the working directory.
    pub fn parse(text: &str) -> Result<ClusterConfig, ConfigError> {
        parse_with(text, |p| std::fs::read(p).map_err(|source| ConfigError::Read { path: p.into(), source }))
    }

    pub fn member(&self, id: u64) -> Option<&Member> {
        self.nodes.iter().find(|m| m.id == id)
    }

    /// The member, or [`ConfigError::UnknownId`].
    pub fn require_member(&self, id: u64) -> Result<&Member, ConfigError> {
        self.member(id).ok_or(ConfigError::UnknownId(id))
    }

    pub fn node_data_dir(&self, id: u64) -> PathBuf {
        self.data_dir.join(format!("node-{id}"))
    }

    /// A member off loopback needs a secret unless the file says
    /// `insecure = true`: without one, anyone who reaches its port can
    /// send it anything (votes, entries, terms). A name is resolved here
    /// (what the member binds is what counts: `localhost` is loopback); a
    /// name that does not resolve is an error.
    pub fn check_secure(&self, id: u64) -> Result<(), ConfigError> {
        let member = self.require_member(id)?;
        if self.secret.is_some() || self.insecure {
            return Ok(());
        }
        let resolved = member.resolve()?;
        if !resolved.ip().is_loopback() {
            return Err(ConfigError::Insecure { id, addr: member.addr.clone(), resolved });
        }
        Ok(())
    }

    /// Every member's id, in file order.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|m| m.id).collect()
    }
}

fn name_file(e: ConfigError, path: &Path) -> ConfigError {
    match e {
        ConfigError::Syntax(msg) => ConfigError::Syntax(format!("{}: {msg}", path.display())),
        other => other,
    }
}

fn parse_with(
    text: &str,
    read_secret: impl Fn(&Path) -> Result<Vec<u8>, ConfigError>,
) -> Result<ClusterConfig, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let secret = match (raw.secret, raw.secret_file) {
        (Some(_), Some(_)) => return Err(ConfigError::TwoSecrets),
        (Some(s), None) => Some(s.into_bytes()),
        (None, Some(p)) => Some(trim_newline(read_secret(&p)?)),
        (None, None) => None,
    };
    if secret.as_ref().is_some_and(Vec::is_empty) {
        return Err(ConfigError::EmptySecret);
    }
    check_timing(&raw.timing)?;
    check_limits(&raw.limits)?;
    check_log(&raw.log, &raw.limits)?;
    check_reads(&raw.reads, &raw.timing)?;
    let nodes = check_members(raw.node)?;
    Ok(ClusterConfig {
        cluster_id: raw.cluster_id,
        secret,
        timing: raw.timing,
        limits: raw.limits,
        log: raw.log,
        reads: raw.reads,
        insecure: raw.insecure,
        data_dir: raw.data_dir,
        nodes,
    })
}

/// toml's messages span several lines with a source excerpt; keep the
/// line number and the message.
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
    let msg = e.message().trim().replace('\n', " ");
    match line {
        Some(l) => ConfigError::Syntax(format!("line {l}: {msg}")),
        None => ConfigError::Syntax(msg),
    }
}

fn trim_newline(mut s: Vec<u8>) -> Vec<u8> {
    if s.last() == Some(&b'\n') {
        s.pop();
        if s.last() == Some(&b'\r') {
            s.pop();
        }
    }
    s
}

/// The core checks the timing rules (`raft::Config::validate`); here they
/// are said with the file's names.
fn check_timing(t: &Timing) -> Result<(), ConfigError> {
    use raft::ConfigError as E;
    let fail = |m: String| Err(ConfigError::Timing(m));
    if t.tick_ms == 0 {
        return fail("tick_ms must be at least 1".into());
    }
    match t.core_config(1, vec![1]).validate() {
        Ok(()) => Ok(()),
        Err(E::EmptyElectionRange { min, max }) => {
            fail(format!("election_min_ticks ({min}) must be below election_max_ticks ({max})"))
        }
        Err(E::HeartbeatTooSlow { heartbeat, election_min }) => {
            fail(format!("heartbeat_ticks ({heartbeat}) must be below election_min_ticks ({election_min})"))
        }
        Err(E::Zero("heartbeat_interval_ticks")) => fail("heartbeat_ticks must be at least 1".into()),
        Err(e) => fail(e.to_string()),
    }
}

/// A drift bound in range, and a lease that outlasts a heartbeat interval
/// (a shorter one would have run out before the next round renews it).
fn check_reads(r: &ReadSettings, t: &Timing) -> Result<(), ConfigError> {
    let max = ReadSettings::MAX_DRIFT_PERCENT;
    if r.clock_drift_percent > max {
        return Err(ConfigError::Reads(format!(
            "clock_drift_percent {} must be in 0..={max}",
            r.clock_drift_percent
        )));
    }
    let heartbeat = std::time::Duration::from_millis(t.tick_ms * u64::from(t.heartbeat_ticks));
    match r.lease(t) {
        Some(lease) if lease <= heartbeat => Err(ConfigError::Reads(format!(
            "the lease ({} ms with this timing and drift) is not longer than a heartbeat interval ({} ms): lease reads would seldom hold",
            lease.as_millis(),
            heartbeat.as_millis()
        ))),
        _ => Ok(()),
    }
}

fn check_limits(l: &Limits) -> Result<(), ConfigError> {
    let most = crate::limits::transport_max_entry_bytes();
    if l.max_entry_bytes == 0 || l.max_entry_bytes > most {
        let e = format!(
            "max_entry_bytes {} must be in 1..={most} (what the transport carries)",
            l.max_entry_bytes
        );
        return Err(ConfigError::Limits(e));
    }
    if l.max_uncommitted_bytes == 0 {
        return Err(ConfigError::Limits("max_uncommitted_bytes must be at least 1".into()));
    }
    Ok(())
}

fn check_log(l: &LogSettings, limits: &Limits) -> Result<(), ConfigError> {
    let fail = |m: String| Err(ConfigError::Log(m));
    if l.snapshot_entries == 0 || l.snapshot_bytes == 0 {
        return fail("snapshot_entries and snapshot_bytes must be at least 1".into());
    }
    // A segment holds its header, the hard state and at least the largest
    // entry record (its data, index, term and framing).
    let least = (wal::MIN_SEGMENT_SIZE).max(limits.max_entry_bytes as u64 + 4096);
    let most = u64::from(u32::MAX);
    if l.segment_bytes < least || l.segment_bytes > most {
        let e = format!(
            "segment_bytes {} must be in {least}..={most} (room for the largest entry)",
            l.segment_bytes
        );
        return fail(e);
    }
    Ok(())
}

fn check_members(raw: Vec<RawMember>) -> Result<Vec<Member>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::NoNodes);
    }
    let (mut ids, mut addrs) = (BTreeSet::new(), BTreeSet::new());
    let mut nodes = Vec::with_capacity(raw.len());
    for m in raw {
        if m.id == 0 || m.id >= net::CLIENT_ID_MIN {
            return Err(ConfigError::BadId(m.id));
        }
        let addr = PeerAddr::parse(&m.addr)
            .map_err(|e| ConfigError::Syntax(format!("node {}: bad address {:?}: {e}", m.id, m.addr)))?;
        if !ids.insert(m.id) {
            return Err(ConfigError::DuplicateId(m.id));
        }
        if !addrs.insert(addr.clone()) {
            return Err(ConfigError::DuplicateAddr(addr));
        }
        let metrics_addr = match &m.metrics_addr {
            None => None,
            Some(a) => Some(a.parse::<SocketAddr>().map_err(|e| {
                ConfigError::Syntax(format!("node {}: bad metrics_addr {a:?}: {e} (IP:PORT)", m.id))
            })?),
        };
        nodes.push(Member { id: m.id, addr, metrics_addr });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests;
