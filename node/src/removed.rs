//! The record a member leaves in its data directory when it stops because
//! its removal from the cluster committed.
//!
//! The commit index is not persisted (Raft's volatile state), so a member
//! restarted after its removal finds the removal in its log but cannot
//! tell that it committed, and the others no longer send it anything to
//! learn it from. The record keeps what it knew: a restart reads it and
//! stops at once, with the same line and exit status as the first time.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's name in the data directory.
pub const FILE: &str = "REMOVED";

/// Why the record could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a removal record (expected `index N`); remove the file if this member was added back", path.display())]
    Malformed { path: PathBuf },
}

/// Records durably (written aside, synced, renamed, directory synced) that
/// the configuration at `index` removed this member and committed.
pub fn record(dir: &Path, index: u64) -> Result<(), RecordError> {
    let path = dir.join(FILE);
    let aside = dir.join(format!("{FILE}.tmp"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RecordError::Io { path, source }
    };
    let mut file = std::fs::File::create(&aside).map_err(io(&aside))?;
    file.write_all(format!("index {index}\n").as_bytes()).map_err(io(&aside))?;
    file.sync_all().map_err(io(&aside))?;
    std::fs::rename(&aside, &path).map_err(io(&path))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The index of the configuration that removed this member, if a record
/// says so.
pub fn recorded(dir: &Path) -> Result<Option<u64>, RecordError> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RecordError::Io { path, source }),
    };
    let index = text.trim().strip_prefix("index ").and_then(|n| n.parse().ok());
    index.map(Some).ok_or(RecordError::Malformed { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_a_directory_without_one_has_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recorded(dir.path()).unwrap(), None);
        record(dir.path(), 42).unwrap();
        assert_eq!(recorded(dir.path()).unwrap(), Some(42));
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists());
    }

    #[test]
    fn a_damaged_record_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "garbage").unwrap();
        let err = recorded(dir.path()).unwrap_err().to_string();
        assert!(err.contains(FILE) && err.contains("not a removal record"), "{err}");
    }
}
