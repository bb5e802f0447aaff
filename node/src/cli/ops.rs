//! `node put`, `node get`, `node delete`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{fail, load};
use crate::client::Client;

fn client(config: &Path, timeout: Duration) -> Result<Client, ExitCode> {
    let config = load(config)?;
    Client::new(&config, timeout).map_err(|e| fail(1, e))
}

pub(super) fn put(config: &Path, timeout: Duration, key: &str, value: &str) -> ExitCode {
    let mut c = match client(config, timeout) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.put(key, value.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}

pub(super) fn delete(config: &Path, timeout: Duration, key: &str) -> ExitCode {
    let mut c = match client(config, timeout) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.delete(key) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}

pub(super) fn get(config: &Path, timeout: Duration, key: &str) -> ExitCode {
    let mut c = match client(config, timeout) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.get(key) {
        Ok(Some(value)) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&value).and_then(|()| out.write_all(b"\n"));
            ExitCode::SUCCESS
        }
        Ok(None) => fail(1, "not found"),
        Err(e) => fail(1, e),
    }
}
