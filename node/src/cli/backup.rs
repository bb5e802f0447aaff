//! `node backup FILE` and `node restore FILE` (see [`crate::backup`]).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{fail, load};
use crate::backup::{self, BackupError};
use crate::client::Client;

pub(super) fn backup(config: &Path, timeout: Duration, file: &Path) -> ExitCode {
    let config = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut client = match Client::new(&config, timeout) {
        Ok(c) => c,
        Err(e) => return fail(1, e),
    };
    match backup::save(&mut client, config.cluster_id, file) {
        Ok(h) => {
            println!(
                "backup of cluster {} at index {} (term {}): {} bytes of state, CRC32C {:08x}, in {}",
                h.cluster_id,
                h.index,
                h.term,
                h.len,
                h.crc32c,
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(BackupError::Client(e)) => fail(e.exit_code(), e),
        Err(e) => fail(1, e),
    }
}

pub(super) fn restore(config: &Path, file: &Path) -> ExitCode {
    let config = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match backup::restore(file, &config) {
        Ok(h) => {
            let dirs: Vec<String> =
                config.ids().into_iter().map(|id| config.node_data_dir(id).display().to_string()).collect();
            println!(
                "restored index {} (term {}) of cluster {} as cluster {} in {}; start the members with node run",
                h.index,
                h.term,
                h.cluster_id,
                config.cluster_id,
                dirs.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, e),
    }
}
