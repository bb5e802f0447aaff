//! Faults made from outside a member: a corrupted WAL segment, and garbage
//! datagrams sprayed at its UDP port.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::{io, ProcError, Result};

/// Bytes flipped in a segment, to put back with [`Corruption::restore`].
#[derive(Debug)]
pub struct Corruption {
    pub path: PathBuf,
    /// Offset of the damaged record's frame in the file.
    pub record_offset: u64,
    /// Offset of the flipped byte.
    pub byte_offset: u64,
    original: u8,
}

impl Corruption {
    pub fn restore(&self) -> Result<()> {
        write_byte(&self.path, self.byte_offset, self.original)
    }
}

/// Flips one payload byte of a record in the middle of the first segment
/// of `wal_dir` that has at least `min_records` records, so valid records
/// follow the damaged one (corruption, not a torn tail).
pub fn corrupt_middle_record(wal_dir: &Path, min_records: usize) -> Result<Corruption> {
    let bad = |detail: String| ProcError::Command { command: "corrupt WAL".into(), detail };
    let segments = wal::inspect::segments(wal_dir).map_err(|e| bad(e.to_string()))?;
    for path in segments {
        let mut records: Vec<(usize, usize)> = Vec::new();
        wal::inspect::walk_segment(&path, &mut |offset, frame_len, _| records.push((offset, frame_len)))
            .map_err(|e| bad(e.to_string()))?;
        if records.len() < min_records {
            continue;
        }
        let (offset, frame_len) = records[records.len() / 2];
        let payload_len = frame_len - wal::format::FRAME_LEN;
        let byte_offset = (offset + wal::format::FRAME_LEN + payload_len / 2) as u64;
        let original = fs::read(&path).map_err(io("read segment"))?[byte_offset as usize];
        write_byte(&path, byte_offset, !original)?;
        return Ok(Corruption { path, record_offset: offset as u64, byte_offset, original });
    }
    Err(bad(format!("no segment in {} has {min_records} records", wal_dir.display())))
}

fn write_byte(path: &Path, offset: u64, byte: u8) -> Result<()> {
    let mut file = OpenOptions::new().write(true).open(path).map_err(io("open segment"))?;
    file.seek(SeekFrom::Start(offset)).map_err(io("seek segment"))?;
    file.write_all(&[byte]).map_err(io("write segment"))?;
    file.sync_all().map_err(io("sync segment"))
}

/// Counts of what [`spray`] sent, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct SprayStats {
    pub random: u64,
    pub bad_crc: u64,
    pub other_cluster: u64,
    pub outsider: u64,
    pub forged_member: u64,
    pub truncated: u64,
}

impl SprayStats {
    pub fn total(&self) -> u64 {
        self.random + self.bad_crc + self.other_cluster + self.outsider + self.forged_member + self.truncated
    }
}

/// What a sprayer knows of the cluster to make valid-looking datagrams.
#[derive(Debug, Clone)]
pub struct SprayTarget {
    pub addr: SocketAddr,
    pub cluster_id: u64,
    pub target_id: u64,
    pub member_ids: Vec<u64>,
}

/// Sends `count` datagrams to `target`, spread evenly over `duration`
/// (in bursts of 100): random bytes, and headers in the
/// `net` wire format (magic, version, ids) with a bad CRC, another
/// cluster's id, an id outside the cluster, a member's id with a valid CRC
/// but a made-up MAC and body, or cut short.
pub fn spray(
    target: &SprayTarget,
    count: u64,
    duration: std::time::Duration,
    seed: u64,
) -> Result<SprayStats> {
    let socket = UdpSocket::bind(if target.addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
        .map_err(io("bind spray socket"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = SprayStats::default();
    let start = std::time::Instant::now();
    for n in 0..count {
        if n % 100 == 0 {
            let due = duration.mul_f64(n as f64 / count as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let datagram = garbage(target, &mut rng, &mut stats);
        // Errors (ECONNREFUSED from an earlier ICMP, ENOBUFS) do not matter.
        let _ = socket.send_to(&datagram, target.addr);
    }
    Ok(stats)
}

fn garbage(target: &SprayTarget, rng: &mut ChaCha8Rng, stats: &mut SprayStats) -> Vec<u8> {
    let member = target.member_ids[rng.random_range(0..target.member_ids.len())];
    match rng.random_range(0..6u8) {
        0 => {
            stats.random += 1;
            let mut d = vec![0u8; rng.random_range(0..1500)];
            rng.fill_bytes(&mut d);
            d
        }
        1 => {
            stats.bad_crc += 1;
            let mut d = header(rng, target.cluster_id, member, target.target_id);
            d[4] ^= 0xff;
            d
        }
        2 => {
            stats.other_cluster += 1;
            sealed(header(rng, target.cluster_id ^ 0x5a5a, member, target.target_id))
        }
        3 => {
            stats.outsider += 1;
            let outsider = 1000 + rng.random_range(0..100);
            sealed(header(rng, target.cluster_id, outsider, target.target_id))
        }
        4 => {
            stats.forged_member += 1;
            sealed(header(rng, target.cluster_id, member, target.target_id))
        }
        _ => {
            stats.truncated += 1;
            let d = header(rng, target.cluster_id, member, target.target_id);
            d[..rng.random_range(0..56)].to_vec()
        }
    }
}

/// A datagram in the `net` wire layout (see `net/src/wire.rs`): the
/// 56-byte header, random acks and data, and a 16-byte made-up MAC.
fn header(rng: &mut ChaCha8Rng, cluster_id: u64, from: u64, to: u64) -> Vec<u8> {
    let acks = rng.random_range(0..4u16);
    let data_len = rng.random_range(0..200u16);
    let mut d = Vec::with_capacity(56 + 10 * acks as usize + data_len as usize + 16);
    d.extend_from_slice(&0x524Eu16.to_be_bytes());
    d.push(1);
    d.push(rng.random_range(1..8u8)); // flags: data / ack / MAC in any mix
    d.extend_from_slice(&[0; 4]);
    for field in [cluster_id, from, to, rng.random_range(1..50), rng.random_range(0..60)] {
        d.extend_from_slice(&field.to_be_bytes());
    }
    let frag_count = rng.random_range(0..3u16);
    for field in [rng.random_range(0..frag_count.max(1)), frag_count, data_len, acks] {
        d.extend_from_slice(&field.to_be_bytes());
    }
    let mut body = vec![0u8; 10 * acks as usize + data_len as usize + 16];
    rng.fill_bytes(&mut body);
    d.extend_from_slice(&body);
    d
}

/// Fills in a valid CRC32C (bytes 4..8, over everything before the MAC).
fn sealed(mut d: Vec<u8>) -> Vec<u8> {
    let end = d.len() - 16;
    d[4..8].fill(0);
    let crc = crc32c::crc32c(&d[..end]);
    d[4..8].copy_from_slice(&crc.to_be_bytes());
    d
}
