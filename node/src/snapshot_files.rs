//! The member's snapshots as files in its data directory, beside the WAL
//! segments (`wal::snapshot` has the format): the [`SnapshotStore`] of
//! `node`.
//!
//! Our own snapshots are written by the event loop's writer thread (a
//! [`wal::snapshot::SnapshotWriter`]: temporary file, fsync, rename, fsync
//! of the directory) and adopted here once durable. A received snapshot
//! streams into a temporary file of its own, chunk by chunk, is checked
//! against the length and checksum the leader announced, made durable
//! under its final name, and becomes current when the core installs it.
//! Whenever a snapshot becomes current the older files go; a transfer still
//! reading one keeps its open file, which outlives the name.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal::snapshot::{SnapshotReader, SnapshotWriter};
use wal::Identity;

use crate::member::snapshot_store::{SnapshotData, SnapshotInfo, SnapshotStore};

/// Snapshot files of one member.
pub struct FileSnapshots {
    dir: PathBuf,
    identity: Identity,
    current: Option<Arc<SnapshotReader>>,
    incoming: Option<(SnapshotInfo, SnapshotWriter)>,
    /// Received, complete and durable, not installed yet.
    received: Option<(SnapshotInfo, PathBuf)>,
}

impl FileSnapshots {
    /// The store of `dir`, whose newest valid snapshot is `current` (the
    /// one the state machine was restored from).
    pub fn new(dir: &Path, identity: Identity, current: Option<SnapshotReader>) -> FileSnapshots {
        let current = current.map(Arc::new);
        FileSnapshots { dir: dir.to_path_buf(), identity, current, incoming: None, received: None }
    }

    /// The file header's view of `info`, a snapshot of this member's.
    fn wal_info(&self, info: SnapshotInfo) -> wal::snapshot::SnapshotInfo {
        wal::snapshot::SnapshotInfo {
            meta: to_wal_meta(info.meta),
            len: info.len,
            crc32c: info.crc32c,
            identity: self.identity,
        }
    }

    fn make_current(&mut self, reader: SnapshotReader) -> io::Result<()> {
        let meta = reader.info().meta;
        self.current = Some(Arc::new(reader));
        let removed = wal::snapshot::remove_older(&self.dir, meta).map_err(io::Error::other)?;
        tracing::debug!(target: "wal", index = meta.index, removed, "snapshot current");
        Ok(())
    }
}

/// Between the member's view of a snapshot and the file's.
pub fn to_wal_meta(meta: raft::SnapshotMeta) -> wal::snapshot::SnapshotMeta {
    wal::snapshot::SnapshotMeta { index: meta.index, term: meta.term }
}

pub fn info_of(info: &wal::snapshot::SnapshotInfo) -> SnapshotInfo {
    let meta = raft::SnapshotMeta { index: info.meta.index, term: info.meta.term };
    SnapshotInfo { meta, len: info.len, crc32c: info.crc32c }
}

/// A snapshot file opened for a transfer or a restore.
struct FileData(Arc<SnapshotReader>);

impl SnapshotData for FileData {
    fn info(&self) -> SnapshotInfo {
        info_of(self.0.info())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_at(offset, buf).map_err(io::Error::other)
    }
}

impl SnapshotStore for FileSnapshots {
    fn current(&self) -> Option<SnapshotInfo> {
        self.current.as_ref().map(|r| info_of(r.info()))
    }

    fn open_current(&mut self) -> io::Result<Box<dyn SnapshotData>> {
        let current = self.current.clone().ok_or_else(|| io::Error::other("no snapshot yet"))?;
        Ok(Box::new(FileData(current)))
    }

    /// The writer's checksum stands: the file is not read again here, on
    /// the event loop's thread (`SnapshotReader::open_written`).
    fn adopt(&mut self, info: SnapshotInfo) -> io::Result<()> {
        let path = wal::snapshot::format::path(&self.dir, to_wal_meta(info.meta));
        let reader = SnapshotReader::open_written(&path, &self.wal_info(info)).map_err(io::Error::other)?;
        self.make_current(reader)
    }

    fn receive(&mut self, info: SnapshotInfo, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset == 0 {
            self.incoming = None; // an unfinished writer removes its file
            let writer = SnapshotWriter::create(&self.dir, self.identity, to_wal_meta(info.meta))
                .map_err(io::Error::other)?;
            self.incoming = Some((info, writer));
        }
        match &mut self.incoming {
            Some((held, writer)) if *held == info && writer.written() == offset => writer.write_all(data),
            _ => Err(io::Error::other("chunk out of order")),
        }
    }

    fn finish_receive(&mut self, info: SnapshotInfo) -> io::Result<()> {
        match self.incoming.take() {
            Some((held, writer)) if held == info => {
                let path = writer.path().to_path_buf();
                writer.finish_expecting(info.len, info.crc32c).map_err(io::Error::other)?;
                self.received = Some((info, path));
                Ok(())
            }
            _ => Err(io::Error::other("no such incoming snapshot")),
        }
    }

    fn install(&mut self, meta: raft::SnapshotMeta) -> io::Result<()> {
        match self.received.take() {
            Some((info, path)) if info.meta == meta => {
                // `finish_receive` checked the received bytes' sum.
                let reader =
                    SnapshotReader::open_written(&path, &self.wal_info(info)).map_err(io::Error::other)?;
                self.make_current(reader)
            }
            _ => Err(io::Error::other(format!("snapshot {meta:?} was not received"))),
        }
    }
}
