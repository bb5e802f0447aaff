//! Recovery: read every segment in order, replay its records, and decide
//! how the log ends. This module only reads; `Wal::open` applies the
//! repairs it reports (cutting a torn tail), and `wal-dump` prints them.
//!
//! How a segment's records end decides everything:
//! - zeroes up to the end of the file: the normal end of the log;
//! - a frame that is torn or damaged, with no valid record anywhere after
//!   it (in this segment or a later one): a torn tail, cut and reported;
//! - a damaged frame followed by a valid record: corruption. Recovery stops
//!   with an error naming the file and byte offset and changes nothing.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::bounds::Bounds;
use crate::error::{Error, Result};
use crate::format::{parse_segment_name, SegmentHeader, HEADER_LEN};
use crate::identity::{Identity, IdentityCheck};
use crate::record::{read_frame, Entry, Frame, HardState, RecordRef};
use crate::segment::map_read;

/// What `Wal::open` found: the state to resume from and what it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The identity the log's segments record: `None` for a directory
    /// that held no segment yet (`open` recorded the one it was given) or
    /// a log of format version 1, which records none (`open` adopted the
    /// one it was given, see [`RecoveryReport::identity_adopted`]).
    pub identity: Option<Identity>,
    /// The last hard state written (the default if none was).
    pub hard_state: HardState,
    /// The live entries, in index order, contiguous.
    pub entries: Vec<Entry>,
    /// What recovery read and cut.
    pub report: RecoveryReport,
}

/// What recovery read and what it cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files read.
    pub segments_read: usize,
    /// Valid records replayed.
    pub records_read: u64,
    /// Bytes of valid records (frames included).
    pub bytes_read: u64,
    /// The torn tail cut off, if the log did not end cleanly.
    pub torn_tail: Option<TornTail>,
    /// Segments after a torn tail that held no valid record (removed).
    pub segments_discarded: Vec<PathBuf>,
    /// The log was of format version 1 (no identity): `open` adopted the
    /// identity it was given and recorded it in a new segment.
    pub identity_adopted: bool,
}

/// A torn last record: where it starts and how many bytes were cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it is in.
    pub path: PathBuf,
    /// Byte offset of the first byte cut.
    pub offset: u64,
    /// Bytes from `offset` to the last non-zero byte of the segment.
    pub bytes_cut: u64,
    /// Why the frame at `offset` is not valid.
    pub reason: &'static str,
}

/// A segment as recovery left it: where its records end.
#[derive(Debug, Clone)]
pub(crate) struct SegmentState {
    pub path: PathBuf,
    pub header: SegmentHeader,
    /// Offset just past the last valid record.
    pub end: usize,
    pub has_hard_state: bool,
}

/// Everything a scan of a directory found.
pub(crate) struct Scan {
    pub recovered: Recovered,
    pub segments: Vec<SegmentState>,
    pub bounds: Bounds,
    /// Leftover `*.wal.tmp` files from a segment creation that crashed.
    pub stale_tmp: Vec<PathBuf>,
}

/// How a walk over one segment's records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEnd {
    /// Records end at `end`; only zeroes follow.
    Clean {
        /// Offset just past the last record.
        end: usize,
    },
    /// A frame at `offset` is torn or damaged.
    Stopped {
        /// Offset of the bad frame.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Calls `visit(offset, record)` for each valid record of a segment (the
/// header already checked) and says how the records end.
pub fn walk<'a>(
    bytes: &'a [u8],
    path: &Path,
    visit: &mut dyn FnMut(usize, RecordRef<'a>) -> Result<()>,
) -> Result<SegmentEnd> {
    let mut off = HEADER_LEN;
    loop {
        match read_frame(bytes, off) {
            Frame::Valid { kind, payload, len } => {
                let rec = RecordRef::decode(kind, payload).ok_or_else(|| Error::InvalidRecord {
                    path: path.to_path_buf(),
                    offset: off as u64,
                    reason: format!("checksummed payload does not decode as {kind:?}"),
                })?;
                visit(off, rec)?;
                off += len;
            }
            Frame::Zero if first_nonzero(bytes, off).is_none() => return Ok(SegmentEnd::Clean { end: off }),
            Frame::Zero => return Ok(SegmentEnd::Stopped { offset: off, reason: "data after zeroes" }),
            Frame::Bad(reason) => return Ok(SegmentEnd::Stopped { offset: off, reason }),
        }
    }
}

/// Replays the records into the state a restarted server resumes from.
#[derive(Default)]
struct Replayer {
    entries: Vec<Entry>,
    hard_state: HardState,
    bounds: Bounds,
}

impl Replayer {
    /// Applies one record; entry data becomes a slice of `segment`.
    fn apply(&mut self, rec: RecordRef<'_>, segment: &Bytes) -> Result<(), String> {
        match rec {
            RecordRef::Entry { index, term, tag, data } => {
                self.bounds.check_entry(index).map_err(|e| e.to_string())?;
                self.truncate_from(index);
                self.bounds.on_entry(index);
                self.entries.push(Entry { index, term, tag, data: segment.slice_ref(data) });
            }
            RecordRef::HardState(hs) => self.hard_state = hs,
            RecordRef::Truncate { from_index } => {
                self.truncate_from(from_index);
                self.bounds.on_truncate(from_index);
            }
        }
        Ok(())
    }

    fn truncate_from(&mut self, index: u64) {
        if let Some(first) = self.entries.first().map(|e| e.index) {
            let keep = index.saturating_sub(first);
            self.entries.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        }
    }
}

/// Segment files as `(sequence, path)`, in sequence order.
pub type SegmentFiles = Vec<(u64, PathBuf)>;

/// Lists the segment files of `dir` in sequence order, checking that no
/// sequence number is missing; also returns leftover temporary files.
pub fn list_segments(dir: &Path) -> Result<(SegmentFiles, Vec<PathBuf>)> {
    let mut segments = Vec::new();
    let mut stale_tmp = Vec::new();
    for item in std::fs::read_dir(dir).map_err(Error::io("read directory", dir))? {
        let item = item.map_err(Error::io("read directory", dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = parse_segment_name(name) {
            segments.push((seq, item.path()));
        } else if name.strip_suffix(".tmp").and_then(parse_segment_name).is_some() {
            stale_tmp.push(item.path());
        }
    }
    segments.sort();
    for pair in segments.windows(2) {
        let ((previous, _), (found, path)) = (&pair[0], &pair[1]);
        if *found != previous + 1 {
            return Err(Error::MissingSegment { path: path.clone(), previous: *previous, found: *found });
        }
    }
    Ok((segments, stale_tmp))
}

/// Reads the whole log in `dir` without changing anything. With
/// `expected`, a log of another identity is refused at its first segment
/// that records one, before any record is read.
pub(crate) fn scan(dir: &Path, expected: Option<Identity>) -> Result<Scan> {
    let (files, stale_tmp) = list_segments(dir)?;
    let mut identity = IdentityCheck::new(dir, expected);
    let mut replayer = Replayer::default();
    let mut report = RecoveryReport::default();
    let mut segments: Vec<SegmentState> = Vec::new();
    for (i, (seq, path)) in files.iter().enumerate() {
        let bytes = map_read(path)?;
        let header = read_header(path, *seq, &bytes)?;
        identity.segment(path, header.identity)?;
        if let Some(prev) = segments.last() {
            check_successor(prev, &header, &replayer.bounds)?;
        }
        let mut has_hard_state = false;
        let end = walk(&bytes, path, &mut |offset, rec| {
            has_hard_state |= matches!(rec, RecordRef::HardState(_));
            report.records_read += 1;
            report.bytes_read += rec.frame_len() as u64;
            replayer.apply(rec, &bytes).map_err(|reason| Error::InvalidRecord {
                path: path.clone(),
                offset: offset as u64,
                reason,
            })
        })?;
        report.segments_read += 1;
        let mut state = SegmentState { path: path.clone(), header, end: 0, has_hard_state };
        match end {
            SegmentEnd::Clean { end } => state.end = end,
            SegmentEnd::Stopped { offset, reason } => {
                report.torn_tail = Some(torn_tail(&bytes, path, offset, reason, &files[i + 1..])?);
                report.segments_discarded = files[i + 1..].iter().map(|(_, p)| p.clone()).collect();
                state.end = offset;
                segments.push(state);
                break;
            }
        }
        segments.push(state);
    }
    let recovered = Recovered {
        identity: identity.found(),
        hard_state: replayer.hard_state,
        entries: replayer.entries,
        report,
    };
    Ok(Scan { recovered, segments, bounds: replayer.bounds, stale_tmp })
}

/// Decodes a segment's header and checks it against the file's name.
fn read_header(path: &Path, sequence: u64, bytes: &[u8]) -> Result<SegmentHeader> {
    let header = SegmentHeader::decode(path, bytes)?;
    if header.sequence != sequence {
        let reason = "sequence does not match file name";
        return Err(Error::NotASegment { path: path.to_path_buf(), reason });
    }
    Ok(header)
}

/// A segment's header records the next entry index when it was created:
/// if the previous segment's entries end elsewhere, records were lost.
fn check_successor(prev: &SegmentState, next: &SegmentHeader, bounds: &Bounds) -> Result<()> {
    let Some(last) = bounds.last() else { return Ok(()) };
    if next.first_index == last.saturating_add(1) {
        return Ok(());
    }
    Err(Error::Corruption {
        path: prev.path.clone(),
        offset: prev.end as u64,
        reason: "records end before the index the next segment starts at",
    })
}

/// Decides whether a bad frame at `offset` is a torn tail (nothing valid
/// after it) or corruption (valid records after it: an error).
fn torn_tail(
    bytes: &[u8],
    path: &Path,
    offset: usize,
    reason: &'static str,
    later: &[(u64, PathBuf)],
) -> Result<TornTail> {
    let corrupt = || Error::Corruption { path: path.to_path_buf(), offset: offset as u64, reason };
    if find_valid_frame(bytes, offset + 1).is_some() {
        return Err(corrupt());
    }
    for (_, later_path) in later {
        let later_bytes = map_read(later_path)?;
        SegmentHeader::decode(later_path, &later_bytes)?;
        if find_valid_frame(&later_bytes, HEADER_LEN).is_some() {
            return Err(corrupt());
        }
    }
    let last = last_nonzero(bytes, offset).map_or(offset, |p| p + 1);
    let bytes_cut = (last - offset) as u64;
    Ok(TornTail { path: path.to_path_buf(), offset: offset as u64, bytes_cut, reason })
}

/// The first offset at or after `from` holding a valid, decodable record.
pub fn find_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        // A frame has a non-zero length field, so it starts at most 3 bytes
        // before the next non-zero byte: skip runs of zeroes.
        let nonzero = first_nonzero(bytes, at)?;
        at = at.max(nonzero.saturating_sub(3));
        if let Frame::Valid { kind, payload, .. } = read_frame(bytes, at) {
            if RecordRef::decode(kind, payload).is_some() {
                return Some(at);
            }
        }
        at += 1;
    }
    None
}

const CHUNK: usize = 256;

/// Offset of the first non-zero byte at or after `from`.
pub fn first_nonzero(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let mut base = from;
    for chunk in rest.chunks(CHUNK) {
        if chunk.iter().fold(0u8, |a, &b| a | b) != 0 {
            return chunk.iter().position(|&b| b != 0).map(|p| base + p);
        }
        base += chunk.len();
    }
    None
}

/// Offset of the last non-zero byte at or after `from`.
fn last_nonzero(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let mut end = bytes.len();
    for chunk in rest.rchunks(CHUNK) {
        end -= chunk.len();
        if chunk.iter().fold(0u8, |a, &b| a | b) != 0 {
            return chunk.iter().rposition(|&b| b != 0).map(|p| end + p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_search() {
        let mut b = vec![0u8; 1000];
        assert_eq!(first_nonzero(&b, 0), None);
        b[700] = 1;
        b[300] = 2;
        assert_eq!(first_nonzero(&b, 0), Some(300));
        assert_eq!(first_nonzero(&b, 301), Some(700));
        assert_eq!(last_nonzero(&b, 0), Some(700));
        assert_eq!(last_nonzero(&b, 701), None);
        assert_eq!(first_nonzero(&b, 5000), None);
    }

    #[test]
    fn finds_a_frame_after_garbage() {
        let mut b = vec![0u8; 600];
        b[10..40].fill(0xAB);
        let n = RecordRef::Truncate { from_index: 3 }.encode_into(&mut b[333..]).unwrap();
        assert!(n > 0);
        assert_eq!(find_valid_frame(&b, 0), Some(333));
        assert_eq!(find_valid_frame(&b, 334), None);
    }
}
