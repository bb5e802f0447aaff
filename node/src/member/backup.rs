//! `node backup` at the leader: the client first reads linearizably (so
//! the leader has applied every write acknowledged before the backup
//! began), then asks for the leader's applied index and the chunks of a
//! snapshot at that index or later. The leader takes one if it has none
//! that recent (its snapshot policy aside) and answers `Busy` until it is
//! durable; a newer snapshot replacing it mid-way shows in the chunks'
//! index and the client starts over.

use raft::Role;

use super::Member;
use crate::proto::{BackupChunk, Reply};

/// Snapshot bytes per reply: well under the transport's message limit.
pub const BACKUP_CHUNK_BYTES: usize = 256 * 1024;

impl Member {
    pub(super) fn on_backup(&mut self, index: u64, offset: u64) -> Reply {
        if self.raft.role() != Role::Leader {
            return self.redirect();
        }
        if index == 0 {
            return Reply::Applied(postcard::to_stdvec(&self.applied_index).unwrap_or_default());
        }
        let current = self.snapshots.store.current().filter(|info| info.meta.index >= index);
        let Some(info) = current else {
            self.snapshots.forced = index <= self.applied_index;
            self.maybe_snapshot();
            return Reply::Busy;
        };
        let data = match self.snapshots.store.open_current() {
            Ok(data) => data,
            Err(e) => return Reply::Refused(format!("cannot open the snapshot: {e}")),
        };
        let len = info.len.saturating_sub(offset).min(BACKUP_CHUNK_BYTES as u64) as usize;
        let mut buf = vec![0; len];
        if let Err(e) = super::transfer::read_exact_at(&*data, offset, &mut buf) {
            return Reply::Refused(format!("cannot read the snapshot: {e}"));
        }
        let (index, term) = (info.meta.index, info.meta.term);
        Reply::Backup(Box::new(BackupChunk {
            index,
            term,
            len: info.len,
            crc32c: info.crc32c,
            offset,
            data: buf,
        }))
    }
}
