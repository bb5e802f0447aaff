//! Finding the `node` executable from a test or a bench binary.
//!
//! The binary belongs to another crate, so `CARGO_BIN_EXE_node` is not
//! available. Under cargo (the `CARGO` variable is set for tests and
//! `cargo run`) it is built once per process with `cargo build -p node`
//! into the same target dir and profile as the running executable, so a
//! clean clone and a stale binary both work. `NODE_BIN` overrides it all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::error::{ProcError, Result};

/// Path of an up-to-date `node` binary (built at most once per process).
pub fn node_binary() -> Result<PathBuf> {
    static FOUND: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| locate().map_err(|e| e.to_string()))
        .clone()
        .map_err(|detail| ProcError::Command { command: "locate node binary".into(), detail })
}

fn locate() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("NODE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let profile_dir = profile_dir()?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        build(Path::new(&cargo), &profile_dir)?;
    }
    let bin = profile_dir.join("node");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(ProcError::NoBinary(bin))
    }
}

/// `target/<profile>` of the running executable (`…/deps/x` or `…/x`).
fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(super::error::io("current_exe"))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    Ok(dir)
}

fn build(cargo: &Path, profile_dir: &Path) -> Result<()> {
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let target_dir = profile_dir.parent().unwrap_or(profile_dir);
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "node", "--bin", "node"]);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir).current_dir(env!("CARGO_MANIFEST_DIR"));
    let out = cmd.output().map_err(super::error::io("run cargo build -p node"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProcError::Command {
            command: "cargo build -p node".into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
