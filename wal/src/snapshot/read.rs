//! Reading a snapshot: the whole file is verified (header, name, length,
//! data checksum) in one streaming pass before a byte of it is handed out,
//! so a node never installs half a damaged snapshot; the data is then
//! streamed again (`Read`) or read in chunks at any offset (`read_at`), never
//! loaded whole into memory.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{self, corrupt, HEADER_LEN};
use super::SnapshotInfo;
use crate::error::{Error, Result};

/// Size of the read buffers.
const BUFFER: usize = 256 << 10;

/// A verified snapshot file. Implements [`std::io::Read`] over the data
/// only (from data offset 0), buffered and streaming.
#[derive(Debug)]
pub struct SnapshotReader {
    path: PathBuf,
    info: SnapshotInfo,
    data: BufReader<File>,
    /// Data offset of the stream.
    pos: u64,
}

impl SnapshotReader {
    /// Opens the snapshot at `path` and verifies it (header checksum,
    /// header against the file name, length, data CRC32C in one streaming
    /// pass) before returning. A file that does not verify is
    /// [`Error::SnapshotCorrupt`] naming it; I/O failures are
    /// [`Error::Io`].
    pub fn open(path: &Path) -> Result<SnapshotReader> {
        let (file, info, file_len) = read_header(path)?;
        check_layout(path, &info, file_len)?;
        verify_data(&file, path, &info)?;
        Self::at_data(file, path, info)
    }

    /// Opens a snapshot this process has just written and made durable
    /// (its writer summed the data as it went: `written` is what
    /// [`super::SnapshotWriter::finish`] or `finish_expecting` returned).
    /// The header and layout are checked and must record `written`; the
    /// data is not read again (a second pass over a 100 MB snapshot is
    /// tens of milliseconds on the caller's thread). Files found at start
    /// go through [`SnapshotReader::open`].
    pub fn open_written(path: &Path, written: &SnapshotInfo) -> Result<SnapshotReader> {
        let (file, info, file_len) = read_header(path)?;
        check_layout(path, &info, file_len)?;
        if info != *written {
            return Err(corrupt(path, format!("the header records {info:?}, the writer wrote {written:?}")));
        }
        Self::at_data(file, path, info)
    }

    fn at_data(mut file: File, path: &Path, info: SnapshotInfo) -> Result<SnapshotReader> {
        file.seek(SeekFrom::Start(HEADER_LEN as u64)).map_err(Error::io("seek", path))?;
        let data = BufReader::with_capacity(BUFFER, file);
        Ok(SnapshotReader { path: path.to_path_buf(), info, data, pos: 0 })
    }

    /// What the header records.
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads up to `buf.len()` bytes at data offset `offset` (for sending
    /// chunks), `pread`-style: the stream position does not move. Returns
    /// the count, short only at the end of the data (0 at or past it).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let Some(left) = self.info.len.checked_sub(offset) else { return Ok(0) };
        let n = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
        // No overflow: `check_layout` saw a file of `HEADER_LEN + len` bytes.
        let at = HEADER_LEN as u64 + offset;
        read_full_at(self.data.get_ref(), &mut buf[..n], at).map_err(Error::io("read", &self.path))
    }
}

impl Read for SnapshotReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.info.len.saturating_sub(self.pos);
        let n = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
        if n == 0 {
            return Ok(0);
        }
        let got = self.data.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

/// Opens a snapshot file and decodes its header (magic, checksum,
/// version); returns the file (at offset 0), the header and the file's
/// length. Nothing else is checked.
pub(super) fn read_header(path: &Path) -> Result<(File, SnapshotInfo, u64)> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    let file_len = file.metadata().map_err(Error::io("stat", path))?.len();
    let mut head = [0u8; HEADER_LEN];
    let n = read_full_at(&file, &mut head, 0).map_err(Error::io("read", path))?;
    let info = format::decode(path, &head[..n])?;
    Ok((file, info, file_len))
}

/// Checks the header against the file's name (if it has a snapshot name)
/// and the file's length against the data length.
pub(super) fn check_layout(path: &Path, info: &SnapshotInfo, file_len: u64) -> Result<()> {
    let named = path.file_name().and_then(|n| n.to_str()).and_then(format::parse_name);
    if let Some(named) = named.filter(|named| *named != info.meta) {
        let (index, term) = (info.meta.index, info.meta.term);
        let reason = format!(
            "the header records index {index} term {term}, the file name index {} term {}",
            named.index, named.term
        );
        return Err(corrupt(path, reason));
    }
    let Some(expected) = (HEADER_LEN as u64).checked_add(info.len) else {
        return Err(corrupt(path, format!("data length {} overflows", info.len)));
    };
    if file_len < expected {
        let present = file_len.saturating_sub(HEADER_LEN as u64);
        return Err(corrupt(path, format!("truncated: {present} of {} data bytes", info.len)));
    }
    if file_len > expected {
        let extra = file_len - expected;
        return Err(corrupt(path, format!("{extra} bytes after the {} data bytes", info.len)));
    }
    Ok(())
}

/// Reads the data once and compares its CRC32C with the header's.
pub(super) fn verify_data(file: &File, path: &Path, info: &SnapshotInfo) -> Result<()> {
    let mut buf = vec![0u8; BUFFER];
    let (mut done, mut crc) = (0u64, 0u32);
    while done < info.len {
        let n = usize::try_from(info.len - done).map_or(buf.len(), |left| left.min(buf.len()));
        let got =
            read_full_at(file, &mut buf[..n], HEADER_LEN as u64 + done).map_err(Error::io("read", path))?;
        if got == 0 {
            return Err(corrupt(
                path,
                format!("truncated while verifying: {done} of {} data bytes", info.len),
            ));
        }
        crc = crc32c::crc32c_append(crc, &buf[..got]);
        done += got as u64;
    }
    if crc != info.crc32c {
        let reason =
            format!("data checksum mismatch: crc32c {crc:#010x}, the header records {:#010x}", info.crc32c);
        return Err(corrupt(path, reason));
    }
    Ok(())
}

/// Reads into `buf` at `offset` until it is full or the file ends;
/// returns the count.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
