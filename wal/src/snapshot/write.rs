//! Writing a snapshot: streamed into a temporary, published (header,
//! fsync, rename, directory fsync) only when complete, so a crash or an
//! error at any point leaves either the whole snapshot under its name or
//! nothing but a temporary that no reader accepts.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use super::format::{self, HEADER_LEN};
use super::{SnapshotInfo, SnapshotMeta};
use crate::durable;
use crate::error::{Error, Result};
use crate::identity::Identity;

/// Size of the write buffer.
const BUFFER: usize = 256 << 10;

/// Streams a snapshot into `DIR/NAME.snap.tmp`; nothing is visible under
/// the final name until [`finish`](SnapshotWriter::finish). Write the data
/// with [`std::io::Write`] (buffered; the length and CRC32C are counted as
/// it goes). Dropping an unfinished writer removes its temporary (best
/// effort: a crash leaves it, and [`remove_older`](super::remove_older)
/// removes it later). The writer holds an exclusive `flock` on its
/// temporary, so `remove_older` leaves a snapshot being written alone.
#[derive(Debug)]
pub struct SnapshotWriter {
    dir: PathBuf,
    path: PathBuf,
    tmp: PathBuf,
    /// `None` once `finish` took it.
    file: Option<BufWriter<File>>,
    identity: Identity,
    meta: SnapshotMeta,
    len: u64,
    crc: u32,
    /// The kind of the first write error: the writer refuses to go on.
    failed: Option<io::ErrorKind>,
    /// Renamed to its final name: nothing to remove on drop.
    published: bool,
}

impl SnapshotWriter {
    /// Starts snapshot `meta` of `identity` in `dir` (the log directory;
    /// the caller holds its `Wal`, whose lock covers snapshots too).
    /// Replaces an unfinished temporary of the same snapshot; fails if
    /// another writer is writing it now. Index 0 is refused.
    pub fn create(dir: &Path, identity: Identity, meta: SnapshotMeta) -> Result<SnapshotWriter> {
        if meta.index == 0 {
            return Err(Error::ZeroIndex);
        }
        let tmp = format::tmp_path(dir, meta);
        // Not truncated before the lock is ours: it could be another
        // writer's file.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&tmp)
            .map_err(Error::io("create", &tmp))?;
        if !try_lock(&file, &tmp)? {
            let busy = io::Error::new(io::ErrorKind::WouldBlock, "another writer is writing this snapshot");
            return Err(Error::io("lock", &tmp)(busy));
        }
        let mut writer = SnapshotWriter {
            dir: dir.to_path_buf(),
            path: format::path(dir, meta),
            tmp,
            file: None,
            identity,
            meta,
            len: 0,
            crc: 0,
            failed: None,
            published: false,
        };
        file.set_len(0).map_err(Error::io("truncate", &writer.tmp))?;
        let mut buffered = BufWriter::with_capacity(BUFFER, file);
        // The header is written last; zeroes keep the file from verifying.
        buffered.write_all(&[0u8; HEADER_LEN]).map_err(Error::io("write", &writer.tmp))?;
        writer.file = Some(buffered);
        Ok(writer)
    }

    /// Data bytes written so far.
    pub fn written(&self) -> u64 {
        self.len
    }

    /// The name the snapshot gets when it is finished.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the header, fsyncs the file, renames it to its final name
    /// and fsyncs the directory; returns what the header records. If the
    /// directory fsync fails the file is complete under its final name but
    /// its name may not survive a crash: treat the snapshot as not taken.
    /// On any earlier failure the temporary is removed.
    pub fn finish(mut self) -> Result<SnapshotInfo> {
        self.check()?;
        let info = SnapshotInfo { meta: self.meta, len: self.len, crc32c: self.crc, identity: self.identity };
        let Some(mut buffered) = self.file.take() else {
            return Err(Error::io("finish", &self.tmp)(io::Error::other("snapshot writer already finished")));
        };
        let flushed = buffered.flush();
        let (file, _) = buffered.into_parts();
        flushed.map_err(Error::io("write", &self.tmp))?;
        file.write_all_at(&format::encode(&info), 0).map_err(Error::io("write header", &self.tmp))?;
        durable::fsync(&file, &self.tmp)?;
        // Still holding the lock, so `remove_older` cannot take the file
        // away between the fsync and the rename.
        std::fs::rename(&self.tmp, &self.path).map_err(Error::io("rename", &self.tmp))?;
        self.published = true;
        drop(file);
        durable::sync_dir(&self.dir)?;
        tracing::debug!(target: "wal", path = %self.path.display(), index = info.meta.index,
            term = info.meta.term, len = info.len, "snapshot written");
        Ok(info)
    }

    /// [`finish`](Self::finish) for a receiver that knows the length and
    /// CRC32C the sender announced: if the data differs, fails with
    /// [`Error::SnapshotMismatch`] and removes the temporary.
    pub fn finish_expecting(self, len: u64, crc32c: u32) -> Result<SnapshotInfo> {
        self.check()?;
        if (self.len, self.crc) != (len, crc32c) {
            return Err(Error::SnapshotMismatch {
                path: self.tmp.clone(),
                len: self.len,
                crc32c: self.crc,
                expected_len: len,
                expected_crc32c: crc32c,
            });
        }
        self.finish()
    }

    /// Fails if an earlier write did.
    fn check(&self) -> Result<()> {
        match self.failed {
            Some(kind) => Err(Error::io("write", &self.tmp)(io::Error::new(kind, "an earlier write failed"))),
            None => Ok(()),
        }
    }

    fn buffered(&mut self) -> io::Result<&mut BufWriter<File>> {
        if let Some(kind) = self.failed {
            return Err(io::Error::new(kind, "an earlier write to this snapshot failed"));
        }
        self.file.as_mut().ok_or_else(|| io::Error::other("snapshot writer already finished"))
    }

    /// Records the first failure: the file's content is unknown from here.
    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = Some(e.kind());
            }
        }
        result
    }
}

impl Write for SnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.buffered()?.write(buf);
        let n = self.note(result)?;
        let accepted = buf.get(..n).unwrap_or(buf);
        self.crc = crc32c::crc32c_append(self.crc, accepted);
        self.len += accepted.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.buffered()?.flush();
        self.note(result)
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        // Unflushed data is discarded, not written into a file about to go.
        if let Some(buffered) = self.file.take() {
            drop(buffered.into_parts());
        }
        if self.published {
            return;
        }
        match std::fs::remove_file(&self.tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::warn!(target: "wal", path = %self.tmp.display(), error = %e,
                    "could not remove an unfinished snapshot");
            }
            _ => {}
        }
    }
}

/// Takes an exclusive `flock` on a temporary without waiting: `false` if
/// a writer holds it.
pub(super) fn try_lock(file: &File, path: &Path) -> Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(Error::io("flock", path)(e.into())),
    }
}
