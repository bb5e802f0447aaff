//! A directory for unit tests, removed on drop (the crate's integration
//! tests use `tempfile`; unit tests keep the dependency list of the library
//! as it is).

use std::path::{Path, PathBuf};

/// A path under the system temp dir, named after the test and the
/// process, free at first, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// The path, with nothing there yet (for tests of creating a log).
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("wal-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    /// The path, as an empty directory.
    pub fn created(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        std::fs::create_dir_all(dir.path()).unwrap();
        dir
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
