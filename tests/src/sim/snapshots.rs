//! A simulated server's snapshot files: the member's [`SnapshotStore`] in
//! memory, shared with the server's disk so that what is durable survives
//! a crash.
//!
//! Durability follows the node's files: a snapshot of our own is durable
//! once the driver's write of it completes (its `SnapshotWritten` event);
//! a received one once it is complete and verified (the node fsyncs it
//! then). The chunks of an incoming one are lost by a crash. A restart
//! starts from the newest durable snapshot, installed or merely received,
//! as the node's `latest` does.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use node::member::snapshot_store::{SnapshotData, SnapshotInfo, SnapshotStore};
use raft::SnapshotMeta;

/// One complete snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub info: SnapshotInfo,
    pub data: Bytes,
}

impl Snapshot {
    pub fn new(meta: SnapshotMeta, data: Vec<u8>) -> Snapshot {
        let info = SnapshotInfo { meta, len: data.len() as u64, crc32c: crc32c::crc32c(&data) };
        Snapshot { info, data: data.into() }
    }
}

/// What a server's snapshot files hold.
#[derive(Debug, Default)]
pub struct Files {
    /// The one the core's log starts after.
    pub current: Option<Snapshot>,
    /// Received and durable, not installed yet.
    pub received: Option<Snapshot>,
    /// Our own, just written (the driver puts it here; `adopt` takes it).
    pub written: Option<Snapshot>,
    /// Chunks of one being received (volatile).
    incoming: Option<(SnapshotInfo, Vec<u8>)>,
}

impl Files {
    /// A crash: only durable snapshots remain; a restart starts from the
    /// newest.
    pub fn crash(&mut self) {
        self.incoming = None;
        self.written = None;
        if let Some(r) = self.received.take() {
            if self.current.as_ref().is_none_or(|c| c.info.meta.index < r.info.meta.index) {
                self.current = Some(r);
            }
        }
    }
}

/// Shared between the member (through [`SimStore`]) and the disk.
pub type SharedFiles = Arc<Mutex<Files>>;

pub fn lock(files: &SharedFiles) -> MutexGuard<'_, Files> {
    files.lock().unwrap_or_else(|p| p.into_inner())
}

/// The member's view of the files.
pub struct SimStore(pub SharedFiles);

struct SimData(Snapshot);

impl SnapshotData for SimData {
    fn info(&self) -> SnapshotInfo {
        self.0.info
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let data = &self.0.data;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
}

fn refuse(what: &str) -> io::Error {
    io::Error::other(what.to_string())
}

impl SnapshotStore for SimStore {
    fn current(&self) -> Option<SnapshotInfo> {
        lock(&self.0).current.as_ref().map(|s| s.info)
    }

    fn open_current(&mut self) -> io::Result<Box<dyn SnapshotData>> {
        let current = lock(&self.0).current.clone().ok_or_else(|| refuse("no snapshot yet"))?;
        Ok(Box::new(SimData(current)))
    }

    fn adopt(&mut self, info: SnapshotInfo) -> io::Result<()> {
        let mut files = lock(&self.0);
        match files.written.take() {
            Some(s) if s.info == info => {
                files.current = Some(s);
                Ok(())
            }
            _ => Err(refuse("adopting a snapshot that was not written")),
        }
    }

    fn receive(&mut self, info: SnapshotInfo, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut files = lock(&self.0);
        if offset == 0 {
            files.incoming = Some((info, Vec::new()));
        }
        match &mut files.incoming {
            Some((held, bytes)) if *held == info && bytes.len() as u64 == offset => {
                bytes.extend_from_slice(data);
                Ok(())
            }
            _ => Err(refuse("chunk out of order")),
        }
    }

    fn finish_receive(&mut self, info: SnapshotInfo) -> io::Result<()> {
        let mut files = lock(&self.0);
        match files.incoming.take() {
            Some((held, bytes)) if held == info => {
                let got = Snapshot::new(info.meta, bytes);
                if got.info != info {
                    return Err(refuse("received snapshot does not match its length and checksum"));
                }
                files.received = Some(got);
                Ok(())
            }
            _ => Err(refuse("no such incoming snapshot")),
        }
    }

    fn install(&mut self, meta: SnapshotMeta) -> io::Result<()> {
        let mut files = lock(&self.0);
        match files.received.take() {
            Some(s) if s.info.meta == meta => {
                files.current = Some(s);
                Ok(())
            }
            _ => Err(refuse("installing a snapshot that was not received")),
        }
    }
}
