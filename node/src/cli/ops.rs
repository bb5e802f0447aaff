//! `node put`, `node get`, `node delete`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{fail, load};
use crate::client::{Client, ClientError};

/// Loads the config, makes a client and runs `op` with it; any failure is
/// one line on stderr and exit 1, or 2 for a command the cluster can never
/// take (a bad config: exit 2, from `load`).
pub(super) fn with_client(
    config: &Path,
    timeout: Duration,
    op: impl FnOnce(&mut Client) -> Result<ExitCode, ClientError>,
) -> ExitCode {
    let client = load(config).and_then(|config| Client::new(&config, timeout).map_err(|e| fail(1, e)));
    match client {
        Ok(mut c) => op(&mut c).unwrap_or_else(|e| fail(e.exit_code(), e)),
        Err(code) => code,
    }
}

pub(super) fn put(
    config: &Path,
    timeout: Duration,
    key: &str,
    value: Option<String>,
    value_file: Option<&Path>,
) -> ExitCode {
    let value = match (value, value_file) {
        (Some(v), _) => v.into_bytes(),
        (None, Some(path)) => match read_value(path) {
            Ok(v) => v,
            Err(e) => return fail(2, format_args!("cannot read {}: {e}", path.display())),
        },
        (None, None) => return fail(2, "no value given"),
    };
    with_client(config, timeout, |c| c.put(key, &value).map(|()| ExitCode::SUCCESS))
}

/// The bytes of `path`, or of standard input for "-".
fn read_value(path: &Path) -> std::io::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut value = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut value)?;
        return Ok(value);
    }
    std::fs::read(path)
}

pub(super) fn delete(config: &Path, timeout: Duration, key: &str) -> ExitCode {
    with_client(config, timeout, |c| c.delete(key).map(|()| ExitCode::SUCCESS))
}

pub(super) fn get(
    config: &Path,
    timeout: Duration,
    key: &str,
    consistency: crate::proto::Consistency,
    from: crate::client::ReadFrom,
) -> ExitCode {
    with_client(config, timeout, |c| {
        Ok(match c.get_with(key, consistency, from)? {
            Some(value) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&value).and_then(|()| out.write_all(b"\n"));
                ExitCode::SUCCESS
            }
            None => fail(1, "not found"),
        })
    })
}
