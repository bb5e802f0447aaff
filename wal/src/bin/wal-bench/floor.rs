//! The physical floor: the same framed bytes the log writes, written with
//! `pwrite` into a file preallocated the same way (`fallocate` to the
//! segment size, a new file when full, directory fsynced), made durable
//! with `fdatasync`. No map, no recovery, no checks.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use wal::{Entry, RecordRef};

pub struct Floor {
    dir: PathBuf,
    segment_size: u64,
    file: File,
    sequence: u64,
    pos: u64,
    buf: Vec<u8>,
}

impl Floor {
    pub fn create(dir: &Path, segment_size: u64) -> std::io::Result<Floor> {
        std::fs::create_dir_all(dir)?;
        let file = new_file(dir, 1, segment_size)?;
        Ok(Floor { dir: dir.to_path_buf(), segment_size, file, sequence: 1, pos: 64, buf: Vec::new() })
    }

    /// Frames the entries exactly as the log would and writes them with one
    /// `pwrite` (starting a new preallocated file when this one is full).
    pub fn append(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        self.buf.clear();
        for e in entries {
            let rec = RecordRef::Entry { index: e.index, term: e.term, tag: e.tag, data: &e.data };
            let at = self.buf.len();
            self.buf.resize(at + rec.frame_len(), 0);
            rec.encode_into(&mut self.buf[at..]);
        }
        if self.pos + self.buf.len() as u64 > self.segment_size {
            self.file.sync_data()?;
            self.sequence += 1;
            self.file = new_file(&self.dir, self.sequence, self.segment_size)?;
            self.pos = 64;
        }
        self.file.write_all_at(&self.buf, self.pos)?;
        self.pos += self.buf.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> std::io::Result<()> {
        rustix::fs::fdatasync(&self.file).map_err(Into::into)
    }
}

fn new_file(dir: &Path, sequence: u64, size: u64) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(format!("{sequence:020}.floor")))?;
    rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size)?;
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}
