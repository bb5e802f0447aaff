//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod identity;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wal::{Entry, WalOptions};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("wal-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A copy of this directory's segment files in a new `TestDir`.
    pub fn copy(&self, name: &str) -> TestDir {
        let copy = TestDir::new(name);
        for item in std::fs::read_dir(&self.0).unwrap() {
            let item = item.unwrap();
            std::fs::copy(item.path(), copy.0.join(item.file_name())).unwrap();
        }
        copy
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Small segments, so tests roll over often and copies are cheap.
pub fn small(segment_size: u64) -> WalOptions {
    WalOptions { segment_size, ..WalOptions::default() }
}

pub fn entry(index: u64, term: u64, len: usize) -> Entry {
    let data: Vec<u8> = (0..len).map(|i| (index as usize * 31 + i) as u8).collect();
    Entry { index, term, tag: 0, data: data.into() }
}

/// Every file of `dir` (the lock and temporaries included) with its bytes,
/// by name: to show that something changed nothing on disk.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}
