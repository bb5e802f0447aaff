//! The snapshots of a directory: which exist, which one to restart from,
//! which to delete. Restart needs the newest snapshot that verifies, and
//! the operator needs to hear about every one refused on the way, so
//! [`latest`] returns both instead of logging or failing on the first.

use std::io;
use std::path::{Path, PathBuf};

use super::format::{self, parse_name, parse_tmp_name};
use super::read::{check_layout, read_header, verify_data};
use super::write::try_lock;
use super::{SnapshotInfo, SnapshotMeta, SnapshotReader};
use crate::durable::sync_dir;
use crate::error::{Error, Result};
use crate::identity::Identity;

/// What [`latest`] found.
#[derive(Debug)]
pub struct Latest {
    /// The newest snapshot that verifies, ready to read; `None` if there
    /// is none.
    pub snapshot: Option<SnapshotReader>,
    /// Snapshot files refused on the way (newer than `snapshot`, or with a
    /// damaged header), with the reason: for the caller to log.
    pub refused: Vec<(PathBuf, String)>,
}

/// The snapshot files of `dir` (by their names; not opened), by index,
/// then term. Temporaries are not listed.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(scan(dir)?.snapshots.into_iter().map(|(_, path)| path).collect())
}

/// The temporaries (`*.snap.tmp`) of `dir`: snapshots being written, or
/// left by a writer that crashed.
pub fn list_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(scan(dir)?.temporaries)
}

/// The snapshot files and temporaries of a directory.
struct Scan {
    /// By `(index, term)`.
    snapshots: Vec<(SnapshotMeta, PathBuf)>,
    /// By name.
    temporaries: Vec<PathBuf>,
}

fn scan(dir: &Path) -> Result<Scan> {
    let (mut snapshots, mut temporaries) = (Vec::new(), Vec::new());
    for item in std::fs::read_dir(dir).map_err(Error::io("read directory", dir))? {
        let item = item.map_err(Error::io("read directory", dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(meta) = parse_name(name) {
            snapshots.push((meta, item.path()));
        } else if parse_tmp_name(name).is_some() {
            temporaries.push(item.path());
        }
    }
    snapshots.sort();
    temporaries.sort();
    Ok(Scan { snapshots, temporaries })
}

/// The newest snapshot in `dir` that verifies, plus the ones refused (path
/// and reason) so the caller can log them. A snapshot whose header
/// records another identity than `identity` is an error
/// ([`Error::ForeignSnapshot`]), as a segment's is for the log: the
/// directory holds another member's state. I/O failures are errors too,
/// not refusals: falling back to an older snapshot because of, say, a
/// permission problem could skip state the log no longer holds.
pub fn latest(dir: &Path, identity: Identity) -> Result<Latest> {
    let mut refused = Vec::new();
    let mut candidates = Vec::new();
    // Every header first: another member's snapshot anywhere is an error.
    for (_, path) in scan(dir)?.snapshots {
        match read_header(&path) {
            Ok((_, info, _)) if info.identity != identity => {
                return Err(Error::ForeignSnapshot { path, found: info.identity, expected: identity });
            }
            Ok(_) => candidates.push(path),
            Err(Error::SnapshotCorrupt { path, reason }) => refused.push((path, reason)),
            Err(e) => return Err(e),
        }
    }
    let mut snapshot = None;
    for path in candidates.into_iter().rev() {
        match SnapshotReader::open(&path) {
            Ok(reader) => {
                snapshot = Some(reader);
                break;
            }
            Err(Error::SnapshotCorrupt { path, reason }) => refused.push((path, reason)),
            Err(e) => return Err(e),
        }
    }
    refused.sort();
    Ok(Latest { snapshot, refused })
}

/// Removes every snapshot file older than `keep` (a lower index, or the
/// same index and a lower term) and every leftover temporary (one a
/// writer holds locked, being written now, is left alone); fsyncs the
/// directory if it removed anything. Returns the count removed. Fails,
/// removing nothing, if `keep` itself is not in `dir`: a wrong `keep`
/// must not delete the only snapshots there are.
pub fn remove_older(dir: &Path, keep: SnapshotMeta) -> Result<usize> {
    let Scan { snapshots, temporaries } = scan(dir)?;
    if !snapshots.iter().any(|(meta, _)| *meta == keep) {
        let missing = io::Error::new(io::ErrorKind::NotFound, "no such snapshot: nothing removed");
        return Err(Error::io("find the snapshot to keep", format::path(dir, keep))(missing));
    }
    let mut removed = 0;
    for (_, path) in snapshots.iter().filter(|(meta, _)| *meta < keep) {
        removed += usize::from(remove(path)?);
    }
    for path in &temporaries {
        removed += usize::from(remove_unlocked(path)?);
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Removes a file; `false` if it was already gone.
fn remove(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}

/// Removes a temporary unless a writer holds its lock; the lock is held
/// while the file is removed, so no writer takes it over meanwhile.
fn remove_unlocked(path: &Path) -> Result<bool> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    if !try_lock(&file, path)? {
        return Ok(false);
    }
    remove(path)
}

/// What `wal-dump` shows of one snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// What the header records, if the header decodes (magic, checksum,
    /// version); the rest of the file may still be refused.
    pub header: Option<SnapshotInfo>,
    /// Why the file does not verify; `None`: it verifies.
    pub refused: Option<String>,
}

/// Reads and verifies the snapshot file at `path` without changing
/// anything, reporting what it records even when it does not verify.
pub fn inspect(path: &Path) -> Result<Inspected> {
    let (file, info, file_len) = match read_header(path) {
        Ok(found) => found,
        Err(Error::SnapshotCorrupt { reason, .. }) => {
            return Ok(Inspected { header: None, refused: Some(reason) })
        }
        Err(e) => return Err(e),
    };
    let verified = check_layout(path, &info, file_len).and_then(|()| verify_data(&file, path, &info));
    match verified {
        Ok(()) => Ok(Inspected { header: Some(info), refused: None }),
        Err(Error::SnapshotCorrupt { reason, .. }) => {
            Ok(Inspected { header: Some(info), refused: Some(reason) })
        }
        Err(e) => Err(e),
    }
}
