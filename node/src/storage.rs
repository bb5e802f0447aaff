//! Raft's persistent state on the write-ahead log: the bridge between a
//! [`raft::Ready`] and [`wal::Wal`].
//!
//! Per event-loop turn the server calls [`Storage::persist`] once: the hard
//! state and the entries of that turn's `Ready` are appended and made
//! durable with one `sync` (group commit). `Ready::entries` follows "an
//! entry at index i replaces everything from i on", which is exactly what a
//! WAL entry record means, so entries are appended as they come.
//!
//! Any WAL error is fatal: the caller stops the member. A failed fsync is
//! never retried (the kernel may have dropped the dirty pages and a retry
//! can report success for data that is gone); the WAL poisons itself too.

use std::path::{Path, PathBuf};

use wal::snapshot::SnapshotReader;
use wal::{Wal, WalOptions};

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("write-ahead log: {0}")]
    Wal(#[from] wal::Error),
    #[error(
        "write-ahead log: {0}; is the data directory this member's own, and cluster.toml this cluster's?"
    )]
    WrongMember(wal::Error),
    #[error("write-ahead log holds a state raft refuses: {0}")]
    Restore(#[from] raft::RestoreError),
    #[error("snapshot {}: {reason}", path.display())]
    Snapshot { path: PathBuf, reason: String },
    #[error(
        "{}: the log starts at index {first_entry} but the newest usable snapshot ends at {snapshot_index}: \
         entries in between are missing (was a snapshot file removed?)",
        dir.display()
    )]
    MissingEntries { dir: PathBuf, first_entry: u64, snapshot_index: u64 },
    #[error("write-ahead log entry {index} has tag {tag}, which this version does not know")]
    UnknownTag { index: u64, tag: u8 },
}

/// What [`Storage::open`] recovered.
pub struct Opened {
    pub storage: Storage,
    /// The core's persisted state; its snapshot is `snapshot`'s (whose
    /// configuration is read with its data: `membership` is None here).
    pub persisted: raft::Persisted,
    /// The newest snapshot that verifies, to restore the state machine from.
    pub snapshot: Option<SnapshotReader>,
}

/// A member's WAL.
pub struct Storage {
    wal: Wal,
    /// An installed snapshot's index: the segments it covers go once the
    /// write that replaced the log is durable.
    compact_after_sync: Option<u64>,
}

impl Storage {
    /// Opens (creating if needed) and replays the log in `dir`, and finds
    /// the newest snapshot there that verifies. A torn tail is cut and
    /// logged; corruption is an error naming file and offset; a snapshot
    /// that does not verify is logged, naming the file, and an older one is
    /// used. A new log records `identity` (cluster id and member id); a log
    /// or snapshot made for another cluster or member is refused.
    pub fn open(dir: &Path, identity: wal::Identity, segment_bytes: u64) -> Result<Opened, StorageError> {
        let options = WalOptions { create_dir: true, identity, segment_size: segment_bytes };
        let (mut wal, mut recovered) = Wal::open(dir, options).map_err(|e| match e {
            wal::Error::WrongIdentity { .. } => StorageError::WrongMember(e),
            e => StorageError::Wal(e),
        })?;
        if let Some(torn) = &recovered.report.torn_tail {
            tracing::warn!(target: "wal", path = %torn.path.display(), offset = torn.offset,
                bytes = torn.bytes_cut, reason = torn.reason, "cut a torn tail");
        }
        let first_entry = recovered.entries.first().map(|e| e.index);
        let snapshot = open_snapshot(dir, identity, first_entry)?;
        let meta = snapshot.as_ref().map_or(raft::SnapshotMeta::default(), |r| {
            let m = r.info().meta;
            raft::SnapshotMeta { index: m.index, term: m.term }
        });
        if log_is_stale(meta, recovered.entries.iter().map(|e| (e.index, e.term))) {
            // A snapshot received and made durable, then a crash before the
            // log was replaced: the log is behind it or another history.
            tracing::warn!(target: "wal", snapshot = meta.index, "log replaced by the snapshot found on restart");
            wal.truncate_suffix(1)?;
            wal.sync()?;
            recovered.entries.clear();
        }
        let persisted = raft::Persisted {
            snapshot: meta,
            hard_state: raft::HardState {
                current_term: recovered.hard_state.current_term,
                voted_for: recovered.hard_state.voted_for,
            },
            entries: recovered.entries.into_iter().map(to_raft).collect::<Result<_, _>>()?,
            membership: None,
        };
        tracing::info!(target: "wal", dir = %dir.display(), entries = persisted.entries.len(),
            snapshot = meta.index, term = persisted.hard_state.current_term, "recovered");
        Ok(Opened { storage: Storage { wal, compact_after_sync: None }, persisted, snapshot })
    }

    /// A snapshot through `index` is durable: drops the log segments it
    /// covers.
    pub fn compact(&mut self, index: u64) -> Result<usize, StorageError> {
        Ok(self.wal.compact_prefix(index)?)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        self.wal.dir()
    }

    /// Whose log this is.
    pub fn identity(&self) -> wal::Identity {
        self.wal.identity()
    }

    /// Writes what `ready` asks to persist and syncs once. Returns whether
    /// anything was written.
    /// An installed snapshot (already durable in its file) replaces the
    /// log: every entry goes unless the log held the snapshot's last entry,
    /// and the segments it covers are dropped after the sync.
    pub fn persist(&mut self, ready: &raft::Ready) -> Result<bool, StorageError> {
        let written = self.write(ready)?;
        if written {
            self.sync()?;
        }
        Ok(written)
    }

    /// Writes what `ready` asks to persist, not yet durable: the next
    /// [`Storage::sync`] makes it so, with everything written before it.
    /// Returns whether anything was written.
    pub fn write(&mut self, ready: &raft::Ready) -> Result<bool, StorageError> {
        if ready.hard_state.is_none() && ready.entries.is_empty() && ready.snapshot.is_none() {
            return Ok(false);
        }
        if let Some(hs) = ready.hard_state {
            self.wal
                .set_hard_state(wal::HardState { current_term: hs.current_term, voted_for: hs.voted_for })?;
        }
        if let Some(install) = ready.snapshot.as_ref().filter(|i| !i.keep_suffix) {
            if self.wal.last_index().is_some() {
                self.wal.truncate_suffix(1)?;
            }
            tracing::debug!(target: "wal", index = install.snapshot.index, "log replaced by a snapshot");
        }
        if !ready.entries.is_empty() {
            let entries: Vec<wal::Entry> = ready.entries.iter().map(to_wal).collect();
            self.wal.append(&entries)?;
        }
        if let Some(install) = &ready.snapshot {
            self.compact_after_sync = Some(install.snapshot.index);
        }
        Ok(true)
    }

    /// Makes everything written so far durable with one sync (group
    /// commit), then drops the segments an installed snapshot covers.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.wal.sync()?;
        tracing::trace!(target: "wal", "synced");
        if let Some(index) = self.compact_after_sync.take() {
            self.compact(index)?;
        }
        Ok(())
    }
}

/// True when the persisted log (its entries' `(index, term)`, in order)
/// cannot continue `snapshot` and must be dropped: it ends before the
/// snapshot, or holds the snapshot's last index with another term (a
/// history the snapshot replaced). Both happen when a member made a
/// received snapshot durable and crashed before the log was replaced; the
/// event loop's storage and the simulator's disk apply the same rule.
pub fn log_is_stale(snapshot: raft::SnapshotMeta, mut entries: impl Iterator<Item = (u64, u64)>) -> bool {
    if snapshot.index == 0 {
        return false;
    }
    let mut last = None;
    for (index, term) in entries.by_ref() {
        if index == snapshot.index {
            return term != snapshot.term;
        }
        last = Some(index);
    }
    last.is_some_and(|l| l < snapshot.index)
}

/// The newest snapshot in `dir` that verifies; the ones that do not are
/// logged, naming the file. When the log (starting at `first_entry`) no
/// longer holds what follows that snapshot, the member cannot recover what
/// it acknowledged: an error names the newest refused file, or says the
/// entries are missing.
fn open_snapshot(
    dir: &Path,
    identity: wal::Identity,
    first_entry: Option<u64>,
) -> Result<Option<SnapshotReader>, StorageError> {
    let latest = wal::snapshot::latest(dir, identity).map_err(|e| match e {
        wal::Error::ForeignSnapshot { .. } => StorageError::WrongMember(e),
        e => StorageError::Wal(e),
    })?;
    for (path, reason) in &latest.refused {
        tracing::error!(target: "wal", path = %path.display(), %reason, "snapshot refused; trying an older one");
    }
    let snapshot_index = latest.snapshot.as_ref().map_or(0, |r| r.info().meta.index);
    match first_entry {
        Some(first_entry) if first_entry > snapshot_index + 1 => match latest.refused.last() {
            Some((path, reason)) => Err(StorageError::Snapshot {
                path: path.clone(),
                reason: format!("{reason}, and the log no longer holds what an older snapshot would need"),
            }),
            None => Err(StorageError::MissingEntries { dir: dir.to_path_buf(), first_entry, snapshot_index }),
        },
        _ => Ok(latest.snapshot),
    }
}

/// The WAL's tag of each kind of entry (0 is a plain record, as before
/// entries had kinds).
const MEMBERSHIP_TAG: u8 = 1;

/// Recovered entries keep sharing the WAL's read-only maps (no copy).
fn to_raft(e: wal::Entry) -> Result<raft::Entry, StorageError> {
    let kind = match e.tag {
        0 => raft::EntryKind::Normal,
        MEMBERSHIP_TAG => raft::EntryKind::Membership,
        tag => return Err(StorageError::UnknownTag { index: e.index, tag }),
    };
    Ok(raft::Entry { kind, ..raft::Entry::new(e.index, e.term, e.data) })
}

fn to_wal(e: &raft::Entry) -> wal::Entry {
    let tag = match e.kind {
        raft::EntryKind::Normal => 0,
        raft::EntryKind::Membership => MEMBERSHIP_TAG,
    };
    wal::Entry { index: e.index, term: e.term, tag, data: e.data.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: wal::Identity = wal::Identity { cluster_id: 1, member_id: 1 };
    const SEGMENT: u64 = 1 << 20;

    fn open(dir: &Path) -> Opened {
        Storage::open(dir, ME, SEGMENT).unwrap_or_else(|e| panic!("{e}"))
    }

    fn entry(index: u64, term: u64, data: &[u8]) -> raft::Entry {
        raft::Entry::new(index, term, bytes::Bytes::copy_from_slice(data))
    }

    #[test]
    fn what_is_persisted_comes_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let Opened { storage: mut s, persisted: p, .. } = open(dir.path());
        assert_eq!(p, raft::Persisted::default());
        let hard_state = raft::HardState { current_term: 3, voted_for: Some(2) };
        let ready = raft::Ready {
            hard_state: Some(hard_state),
            entries: vec![entry(1, 1, b"a"), entry(2, 2, b""), entry(3, 3, b"c")],
            ..raft::Ready::default()
        };
        assert!(s.persist(&ready).unwrap());
        // An entry at index 2 replaces 2 and 3.
        let ready = raft::Ready { entries: vec![entry(2, 3, b"b")], ..raft::Ready::default() };
        assert!(s.persist(&ready).unwrap());
        assert!(!s.persist(&raft::Ready::default()).unwrap());
        drop(s);
        let Opened { persisted: p, .. } = open(dir.path());
        assert_eq!(p.hard_state, hard_state);
        assert_eq!(p.entries, vec![entry(1, 1, b"a"), entry(2, 3, b"b")]);
    }

    #[test]
    fn a_second_open_of_the_same_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Storage::open(dir.path(), ME, SEGMENT).unwrap();
        let Err(err) = Storage::open(dir.path(), ME, SEGMENT) else { panic!("opened twice") };
        assert!(err.to_string().contains("locked"), "{err}");
    }

    #[test]
    fn another_members_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Storage::open(dir.path(), ME, SEGMENT).unwrap());
        let other = wal::Identity { member_id: 2, ..ME };
        let Err(err) = Storage::open(dir.path(), other, SEGMENT) else {
            panic!("opened member 1's log as member 2")
        };
        assert!(matches!(err, StorageError::WrongMember(_)), "{err}");
        let line = err.to_string();
        assert!(line.contains("cluster 1 member 1") && line.contains("cluster 1 member 2"), "{line}");
    }

    /// Entries 1..=40 of 1000 bytes, a snapshot through 30, the log
    /// compacted behind it.
    fn compacted_log(dir: &Path) {
        let Opened { storage: mut s, .. } = Storage::open(dir, ME, 8192).unwrap();
        let entries: Vec<raft::Entry> = (1..=40).map(|i| entry(i, 1, &[i as u8; 1000])).collect();
        let hard_state = Some(raft::HardState { current_term: 1, voted_for: None });
        s.persist(&raft::Ready { hard_state, entries, ..raft::Ready::default() }).unwrap();
        let meta = wal::snapshot::SnapshotMeta { index: 30, term: 1 };
        let mut w = wal::snapshot::SnapshotWriter::create(dir, ME, meta).unwrap();
        std::io::Write::write_all(&mut w, b"the state through 30").unwrap();
        w.finish().unwrap();
        assert!(s.compact(30).unwrap() > 0, "segments dropped");
    }

    #[test]
    fn a_restart_starts_from_the_snapshot_and_the_log_after_it() {
        let dir = tempfile::tempdir().unwrap();
        compacted_log(dir.path());
        let opened = Storage::open(dir.path(), ME, 8192).unwrap();
        assert_eq!(opened.persisted.snapshot, raft::SnapshotMeta { index: 30, term: 1 });
        assert!(opened.snapshot.is_some());
        let raft = raft::Raft::new(raft::Config::lab(1, vec![1]), opened.persisted, rng()).unwrap();
        assert_eq!((raft.commit_index(), raft.log().last_index()), (30, 40));
    }

    #[test]
    fn a_corrupt_snapshot_the_log_cannot_do_without_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        compacted_log(dir.path());
        let path = wal::snapshot::list(dir.path()).unwrap().pop().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let Err(err) = Storage::open(dir.path(), ME, 8192) else { panic!("opened without its snapshot") };
        let line = err.to_string();
        assert!(line.contains(&path.display().to_string()), "{line}");
        assert!(line.contains("no longer holds"), "{line}");
    }

    #[test]
    fn a_removed_snapshot_the_log_cannot_do_without_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        compacted_log(dir.path());
        std::fs::remove_file(wal::snapshot::list(dir.path()).unwrap().pop().unwrap()).unwrap();
        let Err(err) = Storage::open(dir.path(), ME, 8192) else { panic!("opened without its snapshot") };
        assert!(matches!(err, StorageError::MissingEntries { snapshot_index: 0, .. }), "{err}");
    }

    fn rng() -> Box<rand_chacha::ChaCha8Rng> {
        use rand_chacha::rand_core::SeedableRng;
        Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1))
    }

    #[test]
    fn a_log_behind_the_snapshot_or_of_another_history_is_dropped_at_open() {
        let snap = raft::SnapshotMeta { index: 5, term: 2 };
        fn log(terms: &[(u64, u64)]) -> impl Iterator<Item = (u64, u64)> + '_ {
            terms.iter().copied()
        }
        assert!(log_is_stale(snap, log(&[(1, 1), (2, 1)])), "ends before the snapshot");
        assert!(log_is_stale(snap, log(&[(4, 1), (5, 1), (6, 1)])), "another term at its index");
        assert!(!log_is_stale(snap, log(&[(4, 1), (5, 2), (6, 2)])));
        assert!(!log_is_stale(snap, log(&[(6, 2)])), "the log continues it");
        assert!(!log_is_stale(snap, log(&[])));
        assert!(!log_is_stale(raft::SnapshotMeta::default(), log(&[(1, 1)])));

        let dir = tempfile::tempdir().unwrap();
        let Opened { storage: mut s, .. } = open(dir.path());
        let entries: Vec<raft::Entry> = (1..=3).map(|i| entry(i, 1, b"x")).collect();
        let hard_state = Some(raft::HardState { current_term: 2, voted_for: None });
        s.persist(&raft::Ready { hard_state, entries, ..raft::Ready::default() }).unwrap();
        drop(s);
        let meta = wal::snapshot::SnapshotMeta { index: 5, term: 2 };
        let w = wal::snapshot::SnapshotWriter::create(dir.path(), ME, meta).unwrap();
        w.finish().unwrap();
        let opened = open(dir.path());
        assert!(opened.persisted.entries.is_empty(), "the log behind the snapshot is gone");
        drop(opened);
        assert!(open(dir.path()).persisted.entries.is_empty(), "for good");
    }
}
