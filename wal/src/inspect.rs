//! Read-only access to a log directory, for `wal-dump` and tests: list the
//! segments, walk one segment's records with their byte offsets. Nothing
//! here takes the lock or writes.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::format::SegmentHeader;
use crate::record::RecordRef;
use crate::recovery::{self, SegmentEnd};
use crate::segment::map_read;

pub use crate::recovery::find_valid_frame;

/// The segment files of `dir` in sequence order.
pub fn segments(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(recovery::list_segments(dir)?.0.into_iter().map(|(_, p)| p).collect())
}

/// A segment's header, file length and how its records end; calls
/// `visit(offset, frame_len, record)` for each valid record.
pub fn walk_segment(
    path: &Path,
    visit: &mut dyn FnMut(usize, usize, RecordRef<'_>),
) -> Result<(SegmentHeader, u64, SegmentEnd)> {
    let bytes = map_read(path)?;
    let header = SegmentHeader::decode(path, &bytes)?;
    let end = recovery::walk(&bytes, path, &mut |offset, rec| {
        visit(offset, rec.frame_len(), rec);
        Ok(())
    })?;
    Ok((header, bytes.len() as u64, end))
}
