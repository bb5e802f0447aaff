//! Errors of the process helpers: one line that says what failed.

use std::path::PathBuf;

/// What went wrong while driving `node` processes.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("timed out after {waited_ms} ms waiting for {what}")]
    Timeout { what: String, waited_ms: u128 },
    #[error("node binary not found at {0} (set NODE_BIN or run under cargo)")]
    NoBinary(PathBuf),
    #[error("unexpected output of `{command}`: {detail}")]
    Parse { command: String, detail: String },
}

pub type Result<T> = std::result::Result<T, ProcError>;

/// Wraps an `io::Error` with what was being done.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProcError {
    let what = what.into();
    move |source| ProcError::Io { what, source }
}
