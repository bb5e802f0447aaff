//! [`ProcCluster`]: `node run` children for the members of one
//! `cluster.toml` in a temp dir; kill (`SIGKILL`), restart, status polls
//! with deadlines. Every child is killed and reaped on drop; on a panic the
//! temp dir is kept and the tail of each member's log is printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::binary::node_binary;
use super::cli::{Cli, MemberStatus};
use super::error::{io, ProcError, Result};

/// What to start: members, timing, and how to run each process.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub cluster_id: u64,
    pub members: Vec<(u64, SocketAddr)>,
    pub secret: Option<String>,
    pub timing: node::config::Timing,
    /// Words before `node run` per member (e.g. `ip netns exec NS`).
    pub run_prefix: BTreeMap<u64, Vec<String>>,
    /// Words before every client command.
    pub client_prefix: Vec<String>,
    /// Words after `node run --config F --id N` for every member (e.g.
    /// `--log-format json`), and variables of its environment.
    pub run_args: Vec<String>,
    pub run_env: Vec<(String, String)>,
    /// Appended to the members' cluster.toml (e.g. a `[limits]` table);
    /// clients read the same file.
    pub extra_toml: String,
}

impl ClusterSpec {
    /// The node's own default timing (cluster.toml without `[timing]`)
    /// instead of the tests' faster one.
    pub fn with_default_timing(mut self) -> ClusterSpec {
        self.timing = node::config::Timing::NODE;
        self
    }

    /// `[log] snapshot_send_mb_per_s` in the members' file (0: no limit)
    /// instead of the node's default.
    pub fn with_snapshot_send_rate(mut self, mb_per_s: u64) -> ClusterSpec {
        self.extra_toml.push_str(&format!("[log]\nsnapshot_send_mb_per_s = {mb_per_s}\n"));
        self
    }

    /// `n` members on 127.0.0.1, on free UDP ports below the kernel's
    /// ephemeral range that this process hands out once
    /// ([`crate::live::free_addrs`]): a socket bound to port 0 (a client,
    /// any process on the machine) never takes a killed member's port
    /// before it restarts.
    pub fn loopback(n: u64) -> Result<ClusterSpec> {
        let addrs = crate::live::free_addrs(n as usize).map_err(io("find free loopback ports"))?;
        Ok(ClusterSpec::with_members((1..).zip(addrs).collect()))
    }

    /// The tests' fast timing (`Timing::FAST_TEST`) for `members`.
    pub fn with_members(members: Vec<(u64, SocketAddr)>) -> ClusterSpec {
        ClusterSpec {
            cluster_id: u64::from(std::process::id()) << 16 | 0x7e57,
            members,
            secret: None,
            timing: node::config::Timing::FAST_TEST,
            run_prefix: BTreeMap::new(),
            client_prefix: Vec::new(),
            run_args: Vec::new(),
            run_env: Vec::new(),
            extra_toml: String::new(),
        }
    }

    fn toml(&self, data_dir: &Path) -> String {
        let mut text = format!("cluster_id = {}\ndata_dir = {:?}\n", self.cluster_id, data_dir);
        if let Some(secret) = &self.secret {
            let _ = writeln!(text, "secret = {secret:?}");
        }
        let _ = write!(
            text,
            "\n[timing]\ntick_ms = {}\nheartbeat_ticks = {}\nelection_min_ticks = {}\nelection_max_ticks = {}\n",
            self.timing.tick_ms,
            self.timing.heartbeat_ticks,
            self.timing.election_min_ticks,
            self.timing.election_max_ticks
        );
        let _ = writeln!(text, "{}", self.extra_toml);
        for (id, addr) in &self.members {
            let _ = write!(text, "\n[[node]]\nid = {id}\naddr = \"{addr}\"\n");
        }
        text
    }
}

/// Process clusters in one test binary run one at a time: two 5-member
/// clusters on 2 cores would make election timing flaky.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running cluster of `node run` processes.
pub struct ProcCluster {
    spec: ClusterSpec,
    root: PathBuf,
    temp: Option<tempfile::TempDir>,
    config: PathBuf,
    bin: PathBuf,
    children: BTreeMap<u64, Child>,
    /// Members started with `spawn_joining` (not in the cluster file).
    joined: Vec<u64>,
    cli: Cli,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl ProcCluster {
    /// Writes `cluster.toml` and starts every member.
    pub fn start(spec: ClusterSpec) -> Result<ProcCluster> {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bin = node_binary()?;
        let dir =
            tempfile::Builder::new().prefix("proc-cluster-").tempdir().map_err(io("create temp dir"))?;
        let root = dir.path().to_path_buf();
        let config = root.join("cluster.toml");
        fs::create_dir_all(root.join("logs")).map_err(io("create logs dir"))?;
        fs::write(&config, spec.toml(&root.join("data"))).map_err(io("write cluster.toml"))?;
        let cli = Cli {
            bin: bin.clone(),
            config: config.clone(),
            prefix: spec.client_prefix.clone(),
            timeout: "5s".into(),
            status_timeout: "300ms".into(),
        };
        let mut cluster = ProcCluster {
            spec,
            root,
            temp: Some(dir),
            config,
            bin,
            children: BTreeMap::new(),
            joined: Vec::new(),
            cli,
            _one_at_a_time: guard,
        };
        for id in cluster.ids() {
            cluster.spawn(id)?;
        }
        Ok(cluster)
    }

    pub fn ids(&self) -> Vec<u64> {
        self.spec.members.iter().map(|(id, _)| *id).collect()
    }
    pub fn addr(&self, id: u64) -> Option<SocketAddr> {
        self.spec.members.iter().find(|(i, _)| *i == id).map(|(_, a)| *a)
    }
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }
    pub fn cli(&self) -> &Cli {
        &self.cli
    }
    pub fn config_path(&self) -> &Path {
        &self.config
    }
    /// The WAL directory of member `id` (`data_dir/node-N`).
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.root.join("data").join(format!("node-{id}"))
    }
    pub fn log_path(&self, id: u64) -> PathBuf {
        log_path(&self.root, id)
    }
    /// A client that knows member `id` only (a cluster file naming just
    /// it): it asks that member and no other, whatever it answers.
    pub fn cli_for(&self, id: u64) -> Result<Cli> {
        let only = ClusterSpec {
            members: self.spec.members.iter().filter(|m| m.0 == id).cloned().collect(),
            ..self.spec.clone()
        };
        let path = self.root.join(format!("cluster-only-{id}.toml"));
        fs::write(&path, only.toml(&self.root.join("data")))
            .map_err(io("write a one-member cluster file"))?;
        Ok(self.cli.with_config(path))
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) member `id`: a process
    /// paused like a long stall or a VM migration.
    pub fn pause(&self, id: u64, paused: bool) -> Result<()> {
        let pid = self.pid(id).and_then(|p| rustix::process::Pid::from_raw(p as i32));
        let pid = pid.ok_or_else(|| ProcError::Command {
            command: "pause".into(),
            detail: format!("member {id} is not running"),
        })?;
        let signal = if paused { rustix::process::Signal::STOP } else { rustix::process::Signal::CONT };
        rustix::process::kill_process(pid, signal).map_err(|e| io("signal a member")(std::io::Error::from(e)))
    }

    /// The temp dir: `cluster.toml`, `data/`, `logs/`.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Keeps the temp dir after drop (to look at logs and WALs after a
    /// failure that is not a panic); returns its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        if let Some(temp) = self.temp.take() {
            let _ = temp.keep();
        }
        self.root.clone()
    }
    /// Members whose log has a panic message in it.
    pub fn panicked(&self) -> Vec<u64> {
        let has_panic = |id: u64| fs::read_to_string(self.log_path(id)).is_ok_and(|t| t.contains("panicked"));
        self.ids().into_iter().filter(|id| has_panic(*id)).collect()
    }
    pub fn is_running(&self, id: u64) -> bool {
        self.children.contains_key(&id)
    }
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.children.get(&id).map(Child::id)
    }

    fn run_command(&self, id: u64) -> Command {
        let mut cmd = match self.spec.run_prefix.get(&id).and_then(|p| p.split_first()) {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("run").arg("--config").arg(&self.config).arg("--id").arg(id.to_string());
        cmd.args(&self.spec.run_args).envs(self.spec.run_env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        cmd
    }

    /// Starts member `id` (its stderr appends to its log file).
    pub fn spawn(&mut self, id: u64) -> Result<()> {
        self.spawn_with(id, &[])
    }

    /// Starts member `id`, which is not in the cluster file, with `node run
    /// --id ID --join --addr ADDR`: it waits for `node add`. From then on it
    /// is one of the running members (killed on drop, checked by
    /// `check_alive`, counted by `wait_converged`, its log tail printed on
    /// a panic).
    pub fn spawn_joining(&mut self, id: u64, addr: SocketAddr) -> Result<()> {
        self.joined.push(id);
        self.spawn_with(id, &["--join".into(), "--addr".into(), addr.to_string()])
    }

    /// Starts member `id` with `extra` arguments after `node run --config
    /// FILE --id ID` (its stderr appends to its log file).
    pub fn spawn_with(&mut self, id: u64, extra: &[String]) -> Result<()> {
        assert!(!self.children.contains_key(&id), "member {id} is already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .map_err(io("open member log"))?;
        let mut command = self.run_command(id);
        command.args(extra).stderr(log);
        let child = command.spawn().map_err(io(format!("spawn node run --id {id}")))?;
        self.children.insert(id, child);
        Ok(())
    }

    /// Waits up to `timeout` for running member `id` to exit by itself
    /// (e.g. once it is removed from the cluster); its exit status. It is
    /// no longer running afterwards.
    pub fn wait_exit(&mut self, id: u64, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.children.get_mut(&id).ok_or_else(|| ProcError::Command {
            command: format!("node run --id {id}"),
            detail: "not running".into(),
        })?;
        loop {
            if let Some(status) = child.try_wait().map_err(io("wait for node run"))? {
                self.children.remove(&id);
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(ProcError::Timeout {
                    what: format!("member {id} to exit by itself"),
                    waited_ms: timeout.as_millis(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The members running now, by id.
    pub fn running(&self) -> Vec<u64> {
        self.children.keys().copied().collect()
    }

    /// `kill -9` member `id` and reap it.
    pub fn kill(&mut self, id: u64) -> Result<()> {
        if let Some(mut child) = self.children.remove(&id) {
            child.kill().map_err(io(format!("kill member {id}")))?;
            child.wait().map_err(io(format!("reap member {id}")))?;
        }
        Ok(())
    }

    pub fn kill_all(&mut self) -> Result<()> {
        for id in self.ids() {
            self.kill(id)?;
        }
        Ok(())
    }

    /// Starts member `id` expecting it to exit by itself within `timeout`;
    /// returns its exit status and stderr.
    pub fn run_to_exit(&self, id: u64, timeout: Duration) -> Result<(ExitStatus, String)> {
        let err_path = self.root.join("logs").join(format!("node-{id}.once.stderr"));
        let err = File::create(&err_path).map_err(io("create stderr file"))?;
        let mut child = self.run_command(id).stderr(err).spawn().map_err(io("spawn node run"))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().map_err(io("wait for node run"))? {
                let stderr = fs::read_to_string(&err_path).unwrap_or_default();
                return Ok((status, stderr));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ProcError::Timeout {
                    what: format!("member {id} to exit by itself"),
                    waited_ms: timeout.as_millis(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Fails if a member that should be running has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (id, child) in &mut self.children {
            if let Some(status) = child.try_wait().map_err(io("try_wait"))? {
                return Err(ProcError::Command {
                    command: format!("node run --id {id}"),
                    detail: format!(
                        "exited on its own with {status}; log: {}",
                        tail(&log_path(&self.root, *id), 5)
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn status(&self) -> Result<Vec<MemberStatus>> {
        self.cli.status()
    }

    /// Polls `status` every 20 ms until `done` holds; the last status.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[MemberStatus]) -> bool,
    ) -> Result<Vec<MemberStatus>> {
        let start = Instant::now();
        loop {
            self.check_alive()?;
            let status = self.status();
            if let Ok(members) = &status {
                if done(members) {
                    return status;
                }
            }
            if start.elapsed() >= timeout {
                return Err(ProcError::Timeout {
                    what: format!("{what} (last status: {status:?})"),
                    waited_ms: timeout.as_millis(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until one running member is leader; returns its id.
    pub fn wait_leader(&mut self, timeout: Duration) -> Result<u64> {
        let running = self.children.keys().copied().collect::<Vec<_>>();
        let members = self
            .wait_for("a leader", timeout, |m| m.iter().any(|s| s.is_leader() && running.contains(&s.id)))?;
        Ok(members.iter().find(|s| s.is_leader()).map(|s| s.id).unwrap_or_default())
    }

    /// Waits until every running member is reachable, one is leader, and
    /// all agree on commit and applied index (applied == commit ≥ `min_commit`).
    pub fn wait_converged(&mut self, min_commit: u64, timeout: Duration) -> Result<Vec<MemberStatus>> {
        let running = self.children.keys().copied().collect::<Vec<_>>();
        self.wait_for("all members to agree", timeout, |m| converged(m, &running, min_commit))
    }

    /// Resident memory of member `id` in KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self, id: u64) -> Option<u64> {
        rss_kib(self.pid(id)?)
    }
}

fn log_path(root: &Path, id: u64) -> PathBuf {
    root.join("logs").join(format!("node-{id}.log"))
}

/// Whether the members in `running` agree: one leader, applied == commit,
/// the same commit index everywhere, at least `min_commit`.
pub fn converged(members: &[MemberStatus], running: &[u64], min_commit: u64) -> bool {
    let live: Vec<&MemberStatus> = members.iter().filter(|s| running.contains(&s.id)).collect();
    let leaders = live.iter().filter(|s| s.is_leader()).count();
    let Some(first) = live.first() else { return false };
    leaders == 1
        && live.len() == running.len()
        && first.commit_index >= min_commit
        && live.iter().all(|s| s.commit_index == first.commit_index && s.applied_index == first.commit_index)
}

/// `VmRSS` of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS")
}

/// A KiB field of /proc/PID/status (`VmRSS`, `RssAnon`, `RssFile`, …).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last `lines` lines of a file, joined with " | ".
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

impl Drop for ProcCluster {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for id in self.spec.members.iter().map(|(id, _)| id).chain(&self.joined) {
                eprintln!("member {id} log tail: {}", tail(&self.log_path(*id), 20));
            }
            if let Some(temp) = self.temp.take() {
                eprintln!("kept cluster dir {}", temp.keep().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, role: &str, commit: u64, applied: u64) -> MemberStatus {
        MemberStatus {
            id,
            role: role.into(),
            term: 1,
            commit_index: commit,
            last_index: commit,
            applied_index: applied,
        }
    }

    #[test]
    fn converged_needs_one_leader_and_equal_indexes() {
        let ok = [member(1, "leader", 5, 5), member(2, "follower", 5, 5), member(3, "unreachable", 0, 0)];
        assert!(converged(&ok, &[1, 2], 5));
        assert!(!converged(&ok, &[1, 2], 6), "below min_commit");
        assert!(!converged(&ok, &[1, 2, 3], 5), "a running member is unreachable");
        let lagging = [member(1, "leader", 5, 5), member(2, "follower", 5, 4)];
        assert!(!converged(&lagging, &[1, 2], 0));
        let two = [member(1, "leader", 5, 5), member(2, "leader", 5, 5)];
        assert!(!converged(&two, &[1, 2], 0));
    }

    #[test]
    fn loopback_ports_are_distinct_and_below_the_ephemeral_range() {
        let spec = ClusterSpec::loopback(3).unwrap();
        let ports: std::collections::BTreeSet<u16> = spec.members.iter().map(|(_, a)| a.port()).collect();
        assert_eq!(ports.len(), 3);
        let range = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
        if let Some(low) = range.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()) {
            assert!(low < 11_000 || ports.iter().all(|p| *p < low), "{ports:?} not below {low}");
        }
    }

    #[test]
    fn toml_lists_every_member_and_timing() {
        let spec = ClusterSpec::loopback(3).unwrap();
        let text = spec.toml(Path::new("/d"));
        assert_eq!(text.matches("[[node]]").count(), 3);
        assert!(text.contains("tick_ms = 10"));
        assert!(text.contains("data_dir = \"/d\""));
        let parsed = node::config::ClusterConfig::parse(&text).unwrap();
        assert_eq!(parsed.nodes.len(), 3);
        assert_eq!(parsed.timing.election_min_ticks, 15);
    }
}
