//! `node put`, `node get`, `node delete`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{fail, load};
use crate::client::{Client, ClientError};

/// Loads the config, makes a client and runs `op` with it; any failure is
/// one line on stderr and exit 1 (a bad config: exit 2, from `load`).
fn with_client(
    config: &Path,
    timeout: Duration,
    op: impl FnOnce(&mut Client) -> Result<ExitCode, ClientError>,
) -> ExitCode {
    let client = load(config).and_then(|config| Client::new(&config, timeout).map_err(|e| fail(1, e)));
    match client {
        Ok(mut c) => op(&mut c).unwrap_or_else(|e| fail(1, e)),
        Err(code) => code,
    }
}

pub(super) fn put(config: &Path, timeout: Duration, key: &str, value: &str) -> ExitCode {
    with_client(config, timeout, |c| c.put(key, value.as_bytes()).map(|()| ExitCode::SUCCESS))
}

pub(super) fn delete(config: &Path, timeout: Duration, key: &str) -> ExitCode {
    with_client(config, timeout, |c| c.delete(key).map(|()| ExitCode::SUCCESS))
}

pub(super) fn get(config: &Path, timeout: Duration, key: &str) -> ExitCode {
    with_client(config, timeout, |c| {
        Ok(match c.get(key)? {
            Some(value) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&value).and_then(|()| out.write_all(b"\n"));
                ExitCode::SUCCESS
            }
            None => fail(1, "not found"),
        })
    })
}
