//! `node run --id N`: one member, until SIGTERM or Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use super::{fail, load};
use crate::kv::KvStore;
use crate::server::{Server, ServerOptions, StartError};
use crate::storage::StorageError;

pub(super) fn run(config_path: &Path, id: u64, data_dir: Option<PathBuf>) -> ExitCode {
    let config = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let addr = match config.require_member(id) {
        Ok(m) => m.addr.clone(),
        Err(e) => return fail(2, e),
    };
    let data_dir = data_dir.unwrap_or_else(|| config.node_data_dir(id));
    let (stop, stopped) = mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop.send(());
    }) {
        return fail(1, format!("cannot handle signals: {e}"));
    }
    let options = ServerOptions { config, id, data_dir: data_dir.clone(), noop_on_election: true, join: None };
    let server = match Server::start(options, Box::new(KvStore::default())) {
        Ok(s) => s,
        // A bad file, or a data directory that belongs to another member
        // or cluster: the operator's mistake, not a failure.
        Err(e @ (StartError::Config(_) | StartError::Storage(StorageError::WrongMember(_)))) => {
            return fail(2, e)
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
        Err(e) => fail(1, e),
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
