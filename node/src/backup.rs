//! Backup and disaster recovery: `node backup FILE` saves a verified copy
//! of the key-value state (with the client sessions) taken from a
//! linearizable point; `node restore FILE --config new.toml` makes the data
//! directories of a new cluster from it, for when a majority is lost for
//! good.
//!
//! A backup file is the leader's snapshot data with a header:
//!
//! ```text
//! "RAFTUDP-BACKUP\n" | u32 LE length | postcard BackupHeader | snapshot data
//! ```
//!
//! The snapshot data starts with the configuration then in force
//! (`member/config_frame.rs`); a restore replaces it with the new
//! cluster's members. The restored cluster gets the new file's
//! `cluster_id`, which must differ from the backup's, so that members of
//! the old cluster still running somewhere cannot talk to it.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientError};
use crate::config::ClusterConfig;
use crate::member::config_frame::{read_with_membership, WithMembership};
use crate::member::snapshot_store::SnapshotSource;

const MAGIC: &[u8; 15] = b"RAFTUDP-BACKUP\n";
/// The header is a few dozen bytes; anything longer is not a backup.
const MAX_HEADER_BYTES: u32 = 4096;

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format: u32,
    /// The cluster it was taken from.
    pub cluster_id: u64,
    /// The snapshot's last index and term.
    pub index: u64,
    pub term: u64,
    /// The snapshot data's length and CRC32C.
    pub len: u64,
    pub crc32c: u32,
}

/// Why a backup or a restore failed: one line each.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: not a backup file (or a damaged one)")]
    NotABackup(PathBuf),
    #[error("{path}: the data does not match its checksum (CRC32C {found:08x}, recorded {recorded:08x})")]
    Checksum { path: PathBuf, found: u32, recorded: u32 },
    #[error("the backup is of cluster {0}: give the restored cluster another cluster_id, so that members of the old one cannot talk to it")]
    SameCluster(u64),
    #[error("{0} already exists and is not empty: restore makes new data directories only")]
    NotEmpty(PathBuf),
    #[error("the backup's data: {0}")]
    Data(String),
    #[error("cannot write the restored log: {0}")]
    Wal(#[from] wal::Error),
    #[error("the leader's snapshot changed {0} times while it was being fetched; try again")]
    Unstable(usize),
}

/// Times a backup starts over on a newer snapshot before it gives up.
const MAX_RESTARTS: usize = 5;

fn io_at(path: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

/// Takes a backup through `client` into `path` (written beside it, synced,
/// then renamed): a linearizable read first, then the leader's snapshot at
/// its applied index or later, verified against its checksum.
pub fn save(client: &mut Client, cluster_id: u64, path: &Path) -> Result<BackupHeader, BackupError> {
    client.get("backup")?;
    let index = client.backup_index()?;
    let tmp = path.with_extension("partial");
    let mut file = File::create(&tmp).map_err(io_at(&tmp))?;
    let mut restarts = 0;
    let header = loop {
        match fetch(client, index, (&mut file, &tmp), cluster_id)? {
            Some(header) => break header,
            // A newer snapshot replaced it mid-way: start over.
            None if restarts < MAX_RESTARTS => {
                restarts += 1;
                file.set_len(0).and_then(|()| file.rewind()).map_err(io_at(&tmp))?;
            }
            None => return Err(BackupError::Unstable(restarts)),
        }
    };
    file.sync_all().map_err(io_at(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_at(path))?;
    Ok(header)
}

/// Writes the header and the chunks of one snapshot; `None` when the
/// leader's snapshot changed under it.
fn fetch(
    client: &mut Client,
    index: u64,
    (file, path): (&mut File, &Path),
    cluster_id: u64,
) -> Result<Option<BackupHeader>, BackupError> {
    let first = client.backup_chunk(index, 0)?;
    let header = BackupHeader {
        format: 1,
        cluster_id,
        index: first.index,
        term: first.term,
        len: first.len,
        crc32c: first.crc32c,
    };
    let mut out = BufWriter::new(file);
    write_header(&mut out, &header).map_err(io_at(path))?;
    let (mut offset, mut crc, mut chunk) = (0u64, 0u32, first);
    loop {
        if (chunk.index, chunk.len, chunk.crc32c) != (header.index, header.len, header.crc32c)
            || chunk.offset != offset
        {
            return Ok(None);
        }
        out.write_all(&chunk.data).map_err(io_at(path))?;
        crc = crc32c::crc32c_append(crc, &chunk.data);
        offset += chunk.data.len() as u64;
        if offset >= header.len || chunk.data.is_empty() {
            break;
        }
        chunk = client.backup_chunk(index, offset)?;
    }
    out.flush().map_err(io_at(path))?;
    if offset != header.len || crc != header.crc32c {
        return Err(BackupError::Checksum { path: path.into(), found: crc, recorded: header.crc32c });
    }
    Ok(Some(header))
}

fn write_header(out: &mut impl Write, header: &BackupHeader) -> io::Result<()> {
    let bytes = postcard::to_stdvec(header).map_err(io::Error::other)?;
    out.write_all(MAGIC)?;
    out.write_all(&(bytes.len() as u32).to_le_bytes())?;
    out.write_all(&bytes)
}

/// Reads a backup whole and checks it against its checksum.
pub fn read(path: &Path) -> Result<(BackupHeader, Vec<u8>), BackupError> {
    let mut input = BufReader::new(File::open(path).map_err(io_at(path))?);
    let not_one = || BackupError::NotABackup(path.to_path_buf());
    let mut magic = [0u8; 15];
    input.read_exact(&mut magic).map_err(|_| not_one())?;
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|_| not_one())?;
    let len = u32::from_le_bytes(len);
    if &magic != MAGIC || len > MAX_HEADER_BYTES {
        return Err(not_one());
    }
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes).map_err(|_| not_one())?;
    let header: BackupHeader = postcard::from_bytes(&bytes).map_err(|_| not_one())?;
    let mut data = Vec::new();
    input.read_to_end(&mut data).map_err(io_at(path))?;
    let found = crc32c::crc32c(&data);
    if data.len() as u64 != header.len || found != header.crc32c {
        return Err(BackupError::Checksum { path: path.to_path_buf(), found, recorded: header.crc32c });
    }
    Ok((header, data))
}

/// Makes every member's data directory of `config` from the backup at
/// `path`: a snapshot at the backup's index and term whose configuration
/// is `config`'s members, and a log that starts after it.
pub fn restore(path: &Path, config: &ClusterConfig) -> Result<BackupHeader, BackupError> {
    let (header, data) = read(path)?;
    if header.cluster_id == config.cluster_id {
        return Err(BackupError::SameCluster(header.cluster_id));
    }
    let mut state = Vec::new();
    read_with_membership(&mut &data[..], |rest| {
        rest.read_to_end(&mut state).map(drop).map_err(|e| e.to_string())
    })
    .map_err(BackupError::Data)?;
    for member in &config.nodes {
        let dir = config.node_data_dir(member.id);
        if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(BackupError::NotEmpty(dir));
        }
    }
    let membership = raft::Membership::bootstrap(&config.ids());
    for member in &config.nodes {
        let identity = wal::Identity { cluster_id: config.cluster_id, member_id: member.id };
        let dir = config.node_data_dir(member.id);
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let meta = wal::snapshot::SnapshotMeta { index: header.index, term: header.term };
        let mut writer = wal::snapshot::SnapshotWriter::create(&dir, identity, meta)?;
        let source = Box::new(WithMembership {
            membership: membership.clone(),
            source: Box::new(Bytes(state.clone())),
        });
        source.write_to(&mut writer).map_err(io_at(&dir))?;
        writer.finish()?;
        let options = wal::WalOptions { create_dir: true, identity, segment_size: config.log.segment_bytes };
        let (mut log, _) = wal::Wal::open(&dir, options)?;
        log.set_hard_state(wal::HardState { current_term: header.term, voted_for: None })?;
        log.sync()?;
    }
    Ok(header)
}

/// State machine bytes already serialized.
struct Bytes(Vec<u8>);

impl SnapshotSource for Bytes {
    fn write_to(self: Box<Self>, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup_file(dir: &Path, data: &[u8]) -> PathBuf {
        let header = BackupHeader {
            format: 1,
            cluster_id: 7,
            index: 3,
            term: 2,
            len: data.len() as u64,
            crc32c: crc32c::crc32c(data),
        };
        let path = dir.join("b");
        let mut out = Vec::new();
        write_header(&mut out, &header).unwrap();
        out.extend_from_slice(data);
        std::fs::write(&path, out).unwrap();
        path
    }

    #[test]
    fn a_backup_reads_back_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = backup_file(dir.path(), b"the state");
        let (header, data) = read(&path).unwrap();
        assert_eq!((header.index, header.term, &data[..]), (3, 2, &b"the state"[..]));
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(read(&path), Err(BackupError::Checksum { .. })));
        std::fs::write(&path, b"not a backup at all").unwrap();
        assert!(matches!(read(&path), Err(BackupError::NotABackup(_))));
        std::fs::write(&path, b"RAFTUDP-BACKUP\n\xff\xff\xff\xff").unwrap();
        assert!(matches!(read(&path), Err(BackupError::NotABackup(_))));
    }
}
