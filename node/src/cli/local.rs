//! `node local`: the whole cluster file on this machine, as child
//! processes (`node run --id N` each), until Ctrl-C or SIGTERM.
//!
//! Each child logs to `data_dir/node-N.log` (with `RUST_LOG=info` unless
//! `RUST_LOG` is set) and keeps its WAL in `data_dir/node-N`. On a signal
//! every child gets SIGTERM and a few seconds to stop cleanly, then SIGKILL.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{fail, load};
use crate::client::Client;
use crate::config::ClusterConfig;
use crate::proto::Role;

/// How long the members have to elect a leader before we say so.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// How long a child has to stop after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(5);

struct Member {
    id: u64,
    child: Child,
    log: PathBuf,
}

pub(super) fn local(config_path: &Path, timeout: Duration, log_format: super::LogFormat) -> ExitCode {
    let config = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (stop, stopped) = mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop.send(());
    }) {
        return fail(1, format!("cannot handle signals: {e}"));
    }
    let mut members = Vec::new();
    for m in &config.nodes {
        match spawn(config_path, &config, m.id, log_format) {
            Ok(member) => members.push(member),
            Err(e) => {
                stop_all(&mut members);
                return fail(1, e);
            }
        }
    }
    for (m, member) in config.nodes.iter().zip(&members) {
        say(format_args!(
            "node {} on {}: pid {}, log {}, data {}",
            m.id,
            m.addr,
            member.child.id(),
            member.log.display(),
            config.node_data_dir(m.id).display()
        ));
    }
    report_leader(&config, timeout);
    let node = invocation(config_path);
    say(format_args!(
        "Try, in another terminal: {node} put hello world; {node} get hello; {node} status. Ctrl-C stops the cluster."
    ));
    watch(&mut members, &stopped);
    say(format_args!("stopping"));
    stop_all(&mut members);
    ExitCode::SUCCESS
}

/// How to run this binary with this cluster file from the current
/// directory, as a user would type it: `node` when the shell finds this
/// binary by that name, else its path (`target/release/node` after
/// `cargo run`); `--config` unless it is the default file.
fn invocation(config_path: &Path) -> String {
    let exe = std::env::current_exe().ok();
    let on_path = exe.as_deref().is_some_and(|exe| which_node().is_some_and(|found| found == exe));
    let cwd = std::env::current_dir().unwrap_or_default();
    command_line(exe.as_deref(), on_path, &cwd, config_path)
}

/// The `node` the shell's PATH finds, canonical.
fn which_node() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("node")).find(|p| p.is_file())?.canonicalize().ok()
}

fn command_line(exe: Option<&Path>, on_path: bool, cwd: &Path, config_path: &Path) -> String {
    let program = match exe {
        Some(exe) if !on_path => {
            exe.strip_prefix(cwd).map_or_else(|_| exe.display().to_string(), |rel| rel.display().to_string())
        }
        _ => "node".to_string(),
    };
    if config_path == Path::new("cluster.toml") {
        program
    } else {
        format!("{program} --config {}", config_path.display())
    }
}

fn spawn(
    config_path: &Path,
    config: &ClusterConfig,
    id: u64,
    log_format: super::LogFormat,
) -> Result<Member, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the node binary: {e}"))?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    let log = config.data_dir.join(format!("node-{id}.log"));
    let file = open_log(&log)?;
    let err = file.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("run").arg("--config").arg(config_path).arg("--id").arg(id.to_string());
    if log_format == super::LogFormat::Json {
        cmd.args(["--log-format", "json"]);
    }
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    let child = cmd.spawn().map_err(|e| format!("cannot start node {id}: {e}"))?;
    Ok(Member { id, child, log })
}

fn open_log(path: &Path) -> Result<File, String> {
    OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Waits (bounded) until some member says it leads, and prints who.
fn report_leader(config: &ClusterConfig, timeout: Duration) {
    let mut client = match Client::new(config, timeout) {
        Ok(c) => c,
        Err(e) => return eprintln!("node: {e}"),
    };
    let deadline = Instant::now() + LEADER_WAIT;
    while Instant::now() < deadline {
        let answers = client.status();
        let leader = answers.iter().filter_map(|(_, s)| *s).find(|s| s.role == Role::Leader);
        if let Some(s) = leader {
            say(format_args!("leader: node {} (term {})", s.id, s.term));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("node: no leader after {}s; see the logs above", LEADER_WAIT.as_secs());
}

/// Until a signal; says when a child exits on its own.
fn watch(members: &mut [Member], stopped: &mpsc::Receiver<()>) {
    let mut reported = vec![false; members.len()];
    loop {
        match stopped.recv_timeout(Duration::from_millis(200)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        for (m, done) in members.iter_mut().zip(reported.iter_mut()) {
            if let (false, Ok(Some(status))) = (*done, m.child.try_wait()) {
                eprintln!("node {} exited ({status}); see {}", m.id, m.log.display());
                *done = true;
            }
        }
    }
}

/// SIGTERM to every child, then SIGKILL to those still running after
/// `STOP_WAIT`.
fn stop_all(members: &mut [Member]) {
    for m in members.iter() {
        let pid = i32::try_from(m.child.id()).ok().and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
    let deadline = Instant::now() + STOP_WAIT;
    for m in members.iter_mut() {
        while Instant::now() < deadline && matches!(m.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(m.child.try_wait(), Ok(None)) {
            eprintln!("node {} did not stop in time; killing it", m.id);
            let _ = m.child.kill();
        }
        let _ = m.child.wait();
    }
}

/// A line on stdout; a closed stdout (`node local | head`) is not worth a
/// panic while children run.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::command_line;

    #[test]
    fn the_printed_commands_name_the_binary_as_the_shell_finds_it() {
        let cwd = Path::new("/work/repo");
        let exe = Path::new("/work/repo/target/release/node");
        let default = Path::new("cluster.toml");
        assert_eq!(command_line(Some(exe), false, cwd, default), "target/release/node");
        assert_eq!(command_line(Some(exe), true, cwd, default), "node");
        let elsewhere = Path::new("/opt/raft/node");
        assert_eq!(command_line(Some(elsewhere), false, cwd, default), "/opt/raft/node");
        assert_eq!(
            command_line(Some(exe), false, cwd, Path::new("/tmp/c.toml")),
            "target/release/node --config /tmp/c.toml"
        );
    }
}
