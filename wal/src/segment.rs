//! One segment file: creation (preallocated, header written, fsynced,
//! renamed into place, directory fsynced), its writable map, appends into
//! the map and `msync` of the range written since the last sync.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use memmap2::{MmapMut, MmapOptions, UncheckedAdvice};

use crate::durable::{self, sync_dir};
use crate::error::{Error, Result};
use crate::format::{segment_path, SegmentHeader, HEADER_LEN};
use crate::record::RecordRef;

/// The segment being written: a writable map of the whole file.
pub struct Segment {
    path: PathBuf,
    header: SegmentHeader,
    map: MmapMut,
    /// Offset where the next record goes.
    write_pos: usize,
    /// Everything before this offset is durable.
    synced_pos: usize,
    /// Pages before this offset were handed back to the kernel.
    released_pos: usize,
}

impl Segment {
    /// Creates segment `header.sequence` in `dir`: the file is written as
    /// `NAME.tmp`, preallocated with `fallocate` (so a full disk fails here,
    /// not as a SIGBUS on a later write into a hole), given its header,
    /// fsynced, renamed to its final name, and the directory fsynced.
    pub fn create(dir: &Path, header: SegmentHeader) -> Result<Segment> {
        let path = segment_path(dir, header.sequence);
        let tmp = path.with_extension("wal.tmp");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(Error::io("create", &tmp))?;
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, header.segment_size)
            .map_err(|e| Error::io("fallocate", &tmp)(e.into()))?;
        file.write_all_at(&header.encode(), 0).map_err(Error::io("write header", &tmp))?;
        durable::fsync(&file, &tmp)?;
        std::fs::rename(&tmp, &path).map_err(Error::io("rename", &tmp))?;
        sync_dir(dir)?;
        tracing::debug!(target: "wal", path = %path.display(), first_index = header.first_index, "segment created");
        Segment::open(path, header, HEADER_LEN)
    }

    /// Maps an existing segment for appending at `write_pos`.
    pub fn open(path: PathBuf, header: SegmentHeader, write_pos: usize) -> Result<Segment> {
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(Error::io("open", &path))?;
        // SAFETY: the directory lock (held by the `Wal` for as long as this
        // map lives) keeps every cooperating process from writing or
        // truncating the file behind the map.
        let map = unsafe { MmapOptions::new().map_mut(&file) }.map_err(Error::io("mmap", &path))?;
        Ok(Segment { path, header, map, write_pos, synced_pos: write_pos, released_pos: 0 })
    }

    /// Encodes `rec` at the write position. `None` if it does not fit.
    pub fn append(&mut self, rec: &RecordRef<'_>) -> Option<usize> {
        let n = rec.encode_into(&mut self.map[self.write_pos..])?;
        self.write_pos += n;
        Some(n)
    }

    /// Makes everything appended since the last sync durable (`msync` with
    /// `MS_SYNC` of that range: the kernel writes the dirty pages and the
    /// metadata needed to read them, like `fdatasync`).
    pub fn sync(&mut self) -> Result<()> {
        if self.write_pos > self.synced_pos {
            let len = self.write_pos - self.synced_pos;
            durable::msync(&self.map, &self.path, self.synced_pos, len)?;
            self.synced_pos = self.write_pos;
            self.release_synced_pages();
        }
        Ok(())
    }

    /// Hands the pages written and synced so far back to the kernel: the
    /// log never reads or rewrites them through this map (the caller
    /// keeps its own copy of what it appended), so they need not count in
    /// the process's memory; the page cache keeps them for the next open.
    /// The page the next record goes into stays.
    fn release_synced_pages(&mut self) {
        let page = rustix::param::page_size();
        let end = self.synced_pos / page * page;
        if end <= self.released_pos {
            return;
        }
        // SAFETY: the map is a shared map of the file (`map_mut`), so
        // MADV_DONTNEED drops only this process's view of pages whose
        // contents are durable in the file (synced just above); the range
        // is inside the map, and nothing holds a reference into it.
        let dropped = unsafe {
            self.map.unchecked_advise_range(
                UncheckedAdvice::DontNeed,
                self.released_pos,
                end - self.released_pos,
            )
        };
        if dropped.is_ok() {
            self.released_pos = end;
        }
    }

    /// Makes everything before the write position durable, the header
    /// included (`msync` of `[0, write_pos)`): what recovery found in the
    /// file may never have been synced by the run that wrote it.
    pub fn sync_written(&mut self) -> Result<()> {
        durable::msync(&self.map, &self.path, 0, self.write_pos)?;
        self.synced_pos = self.write_pos;
        Ok(())
    }

    /// Zeroes `[from, from + len)` (a torn tail found by recovery) and
    /// makes the zeroes durable.
    pub fn zero_and_sync(&mut self, from: usize, len: usize) -> Result<()> {
        let end = from.saturating_add(len).min(self.map.len());
        if from < end {
            self.map[from..end].fill(0);
            durable::msync(&self.map, &self.path, from, end - from)?;
        }
        Ok(())
    }

    /// The segment's header.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The segment's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Maps a segment file read-only, all pages populated up front (replay
/// reads every byte once, sequentially). Files too short for a header are
/// read into memory instead so the header check can name the problem.
pub fn map_read(path: &Path) -> Result<Bytes> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len < HEADER_LEN as u64 {
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, 0).map_err(Error::io("read", path))?;
        return Ok(Bytes::from(buf));
    }
    // SAFETY: the map is read-only; a writer holding the directory lock
    // only appends into the preallocated zero tail and never changes bytes
    // of records already written (which recovered entries point into), nor
    // truncates the file.
    let map = unsafe { MmapOptions::new().populate().map(&file) }.map_err(Error::io("mmap", path))?;
    Ok(Bytes::from_owner(map))
}
