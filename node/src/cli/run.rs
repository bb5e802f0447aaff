//! `node run --id N`: one member, until SIGTERM or Ctrl-C, or until it is
//! removed from the cluster (exit 0, and at once on a restart after that). `--join --addr HOST:PORT` starts a
//! member that is not in the cluster file, to be added with `node add`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use super::{fail, load};
use crate::addr::PeerAddr;
use crate::config::ClusterConfig;
use crate::kv::KvStore;
use crate::server::{FatalError, Server, ServerOptions, StartError};
use crate::storage::StorageError;

pub(super) fn run(
    config_path: &Path,
    id: u64,
    data_dir: Option<PathBuf>,
    join: bool,
    join_addr: Option<PeerAddr>,
) -> ExitCode {
    let config = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (addr, join) = match own_address(&config, config_path, id, join, join_addr) {
        Ok(found) => found,
        Err(e) => return fail(2, e),
    };
    let data_dir = data_dir.unwrap_or_else(|| config.node_data_dir(id));
    let (stop, stopped) = mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop.send(());
    }) {
        return fail(1, format!("cannot handle signals: {e}"));
    }
    let options = ServerOptions { config, id, data_dir: data_dir.clone(), noop_on_election: true, join };
    let server = match Server::start(options, Box::new(KvStore::default())) {
        Ok(s) => s,
        // A bad file, or a data directory that belongs to another member
        // or cluster: the operator's mistake, not a failure.
        Err(e @ (StartError::Config(_) | StartError::Storage(StorageError::WrongMember(_)))) => {
            return fail(2, e)
        }
        // Removed before, and stopped then: say it again, not a failure.
        Err(e @ StartError::Removed { .. }) => {
            eprintln!("node {id}: {e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(1, e),
    };
    eprintln!("node {id}: listening on {addr}, log in {}", data_dir.display());
    wait(&server, &stopped);
    match server.shutdown() {
        Ok(()) => {
            eprintln!("node {id}: stopped");
            ExitCode::SUCCESS
        }
        // What the operator asked for: not a failure.
        Err(e @ FatalError::Removed { .. }) => {
            eprintln!("node {id}: {e}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}

/// Where member `id` listens, and `Some` of it when it joins: the cluster
/// file's address of `id`, or `--addr` with `--join` (which a member that
/// is not in the file needs).
fn own_address(
    config: &ClusterConfig,
    config_path: &Path,
    id: u64,
    join: bool,
    join_addr: Option<PeerAddr>,
) -> Result<(PeerAddr, Option<PeerAddr>), String> {
    let in_file = config.member(id).map(|m| m.addr.clone());
    let file = config_path.display();
    match (join, join_addr, in_file) {
        (false, _, Some(addr)) => Ok((addr, None)),
        (false, _, None) => Err(format!(
            "member {id} is not in {file}; a member added later starts with --join --addr HOST:PORT"
        )),
        (true, Some(addr), _) | (true, None, Some(addr)) => Ok((addr.clone(), Some(addr))),
        (true, None, None) => {
            Err(format!("member {id} is not in {file}: --join needs --addr HOST:PORT (where it listens)"))
        }
    }
}

/// Until a signal arrives or the loop ends on its own (a WAL error).
fn wait(server: &Server, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(Duration::from_millis(100)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) if server.is_finished() => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClusterConfig {
        ClusterConfig::parse("cluster_id = 7\n[[node]]\nid = 1\naddr = \"127.0.0.1:7101\"\n").unwrap()
    }

    #[test]
    fn a_member_of_the_file_listens_at_its_address() {
        let addr = PeerAddr::parse("127.0.0.1:7101").unwrap();
        let path = Path::new("cluster.toml");
        assert_eq!(own_address(&config(), path, 1, false, None), Ok((addr.clone(), None)));
        // Joining again (a member re-added under its old id) with the file's address.
        assert_eq!(own_address(&config(), path, 1, true, None), Ok((addr.clone(), Some(addr))));
    }

    #[test]
    fn a_member_not_in_the_file_needs_join_and_addr() {
        let path = Path::new("cluster.toml");
        let addr = PeerAddr::parse("db4:7104").unwrap();
        assert_eq!(own_address(&config(), path, 4, true, Some(addr.clone())), Ok((addr.clone(), Some(addr))));
        let without_addr = own_address(&config(), path, 4, true, None).unwrap_err();
        assert!(without_addr.contains("--join needs --addr"), "{without_addr}");
        let without_join = own_address(&config(), path, 4, false, None).unwrap_err();
        assert!(without_join.contains("member 4 is not in cluster.toml"), "{without_join}");
    }
}
