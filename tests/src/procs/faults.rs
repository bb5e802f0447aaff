//! Faults made from outside a member: a corrupted WAL segment, and garbage
//! datagrams sprayed at its UDP port ([`spray`], paced; [`flood`], as fast
//! as possible, with mutations of real frames and the drop reason each
//! datagram should get).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::net::{SocketAddr, UdpSocket};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use net::wire::{Ack, Frame, Header, HEADER_BYTES};

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

/// Kinds of datagram [`spray`] and [`flood`] make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SprayKind {
    /// Random bytes, 0–1499 of them.
    Random,
    /// A valid-looking header with a wrong CRC.
    BadCrc,
    /// Another cluster's id, valid CRC.
    OtherCluster,
    /// An id that is neither a member nor a client, valid CRC.
    Outsider,
    /// A member's id, valid CRC, made-up MAC and body.
    ForgedMember,
    /// A valid-looking header cut short.
    Truncated,
    /// A real frame (a member's, signed with the cluster's secret), sent
    /// unchanged from the sprayer's address ([`flood`] only).
    Replayed,
    /// A real frame with 1–3 bits flipped ([`flood`] only).
    Flipped,
    /// A real frame with 1–3 bits flipped and its CRC made valid again
    /// ([`flood`] only).
    FlippedResealed,
    /// A valid-looking header with 1–3 bits flipped in its header bytes, the
    /// CRC made valid again or not ([`flood`] only).
    FlippedHeader,
}

impl SprayKind {
    pub const ALL: [SprayKind; 10] = [
        SprayKind::Random,
        SprayKind::BadCrc,
        SprayKind::OtherCluster,
        SprayKind::Outsider,
        SprayKind::ForgedMember,
        SprayKind::Truncated,
        SprayKind::Replayed,
        SprayKind::Flipped,
        SprayKind::FlippedResealed,
        SprayKind::FlippedHeader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SprayKind::Random => "random bytes",
            SprayKind::BadCrc => "header, bad CRC",
            SprayKind::OtherCluster => "other cluster id",
            SprayKind::Outsider => "outsider id",
            SprayKind::ForgedMember => "member id, forged MAC",
            SprayKind::Truncated => "truncated header",
            SprayKind::Replayed => "real frame replayed",
            SprayKind::Flipped => "real frame, bits flipped",
            SprayKind::FlippedResealed => "real frame, bits flipped, CRC fixed",
            SprayKind::FlippedHeader => "header, bits flipped",
        }
    }
}

/// Counts of what [`spray`] or [`flood`] sent, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct SprayStats {
    pub random: u64,
    pub bad_crc: u64,
    pub other_cluster: u64,
    pub outsider: u64,
    pub forged_member: u64,
    pub truncated: u64,
    pub replayed: u64,
    pub flipped: u64,
    pub flipped_resealed: u64,
    pub flipped_header: u64,
}

impl SprayStats {
    pub fn total(&self) -> u64 {
        SprayKind::ALL.iter().map(|k| self.get(*k)).sum()
    }

    pub fn get(&self, kind: SprayKind) -> u64 {
        // A copy, so the one match of `slot` serves reads too.
        let mut copy = *self;
        *copy.slot(kind)
    }

    pub fn add(&mut self, other: &SprayStats) {
        for kind in SprayKind::ALL {
            *self.slot(kind) += other.get(kind);
        }
    }

    fn slot(&mut self, kind: SprayKind) -> &mut u64 {
        match kind {
            SprayKind::Random => &mut self.random,
            SprayKind::BadCrc => &mut self.bad_crc,
            SprayKind::OtherCluster => &mut self.other_cluster,
            SprayKind::Outsider => &mut self.outsider,
            SprayKind::ForgedMember => &mut self.forged_member,
            SprayKind::Truncated => &mut self.truncated,
            SprayKind::Replayed => &mut self.replayed,
            SprayKind::Flipped => &mut self.flipped,
            SprayKind::FlippedResealed => &mut self.flipped_resealed,
            SprayKind::FlippedHeader => &mut self.flipped_header,
        }
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
pub fn spray(target: &SprayTarget, count: u64, duration: Duration, seed: u64) -> Result<SprayStats> {
    let socket = socket_for(target.addr, "bind spray socket")?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = SprayStats::default();
    let start = Instant::now();
    for n in 0..count {
        if n % 100 == 0 {
            sleep_until(start, duration.mul_f64(n as f64 / count as f64));
        }
        let datagram = garbage(target, &mut rng, &mut stats);
        // Errors (ECONNREFUSED from an earlier ICMP, ENOBUFS) do not matter.
        let _ = socket.send_to(&datagram, target.addr);
    }
    Ok(stats)
}

/// A UDP socket on an ephemeral port, of `to`'s address family.
fn socket_for(to: SocketAddr, what: &str) -> Result<UdpSocket> {
    UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).map_err(io(what))
}

/// Sleeps until `due` after `start` (at once if that is past).
fn sleep_until(start: Instant, due: Duration) {
    if let Some(wait) = due.checked_sub(start.elapsed()) {
        std::thread::sleep(wait);
    }
}

fn garbage(target: &SprayTarget, rng: &mut ChaCha8Rng, stats: &mut SprayStats) -> Vec<u8> {
    let member = target.member_ids[rng.random_range(0..target.member_ids.len())];
    let kind = SprayKind::ALL[usize::from(rng.random_range(0..6u8))];
    *stats.slot(kind) += 1;
    garbage_of(kind, member, target, rng)
}

/// A datagram of one of the first six kinds (those that need no real frame).
fn garbage_of(kind: SprayKind, member: u64, target: &SprayTarget, rng: &mut ChaCha8Rng) -> Vec<u8> {
    match kind {
        SprayKind::Random => {
            let mut d = vec![0u8; rng.random_range(0..1500)];
            rng.fill_bytes(&mut d);
            d
        }
        SprayKind::BadCrc => {
            let mut d = header(rng, target.cluster_id, member, target.target_id);
            d[4] ^= 0xff;
            d
        }
        SprayKind::OtherCluster => sealed(header(rng, target.cluster_id ^ 0x5a5a, member, target.target_id)),
        SprayKind::Outsider => {
            let outsider = 1000 + rng.random_range(0..100);
            sealed(header(rng, target.cluster_id, outsider, target.target_id))
        }
        SprayKind::ForgedMember => sealed(header(rng, target.cluster_id, member, target.target_id)),
        _ => {
            let d = header(rng, target.cluster_id, member, target.target_id);
            d[..rng.random_range(0..HEADER_BYTES)].to_vec()
        }
    }
}

/// A datagram in the `net` wire layout, made by `net::wire::encode` (so
/// it follows the format): flags, fragment fields and lengths that agree
/// with its random acks and data (for one in eight, random flags that
/// mostly do not), a valid CRC, and a 16-byte made-up MAC.
fn header(rng: &mut ChaCha8Rng, cluster_id: u64, from: u64, to: u64) -> Vec<u8> {
    const DATA: u8 = 1; // net::wire's FLAG_DATA
    const ACK: u8 = 2; // FLAG_ACK
    let data = rng.random_bool(0.6);
    let n_acks = if data { rng.random_range(0..4) } else { rng.random_range(1..4) };
    let acks: Vec<Ack> = (0..n_acks)
        .map(|_| Ack { msg_id: rng.random_range(1..50), frag_index: rng.random_range(0..3) })
        .collect();
    let mut payload = vec![0u8; if data { rng.random_range(0..200) } else { 0 }];
    rng.fill_bytes(&mut payload);
    let frag_count = if data { rng.random_range(1..4u16) } else { 0 };
    let header = Header {
        flags: if data { DATA } else { 0 } | if n_acks > 0 { ACK } else { 0 },
        cluster_id,
        from,
        to,
        from_boot: rng.random_range(1..=u64::MAX),
        ack_boot: if n_acks > 0 { rng.random_range(1..=u64::MAX) } else { 0 },
        msg_id: if data { rng.random_range(1..50) } else { 0 },
        low_watermark: rng.random_range(0..60),
        frag_index: if data { rng.random_range(0..frag_count) } else { 0 },
        frag_count,
    };
    let mut d = net::wire::encode(&Frame { header, acks: &acks, data: &payload }, 16);
    let mac_at = d.len() - 16;
    rng.fill_bytes(&mut d[mac_at..]);
    if rng.random_range(0..8) == 0 {
        d[3] = rng.random_range(0..16);
    }
    d
}

/// Fills in a valid CRC32C (bytes 4..8, over everything before the MAC).
fn sealed(mut d: Vec<u8>) -> Vec<u8> {
    reseal(&mut d, 16);
    d
}

/// Makes the CRC32C of `d` valid again, over everything before its last
/// `mac_len` bytes (as the layout was before any flip).
fn reseal(d: &mut [u8], mac_len: usize) {
    if d.len() < 8 + mac_len {
        return;
    }
    let end = d.len() - mac_len;
    d[4..8].fill(0);
    let crc = crc32c::crc32c(&d[..end]);
    d[4..8].copy_from_slice(&crc.to_be_bytes());
}

/// Flips 1–3 random bits of `d`.
fn flip_bits(d: &mut [u8], rng: &mut ChaCha8Rng) {
    if d.is_empty() {
        return;
    }
    for _ in 0..rng.random_range(1..=3) {
        let bit = rng.random_range(0..d.len() * 8);
        d[bit / 8] ^= 1 << (bit % 8);
    }
}

/// What [`flood`] needs: where to send, and the cluster (ids, addresses,
/// secret) so it can forge real frames and classify what it sends.
#[derive(Debug, Clone)]
pub struct FloodSpec {
    pub target: SprayTarget,
    /// Every member's address, by id (from cluster.toml).
    pub peers: BTreeMap<u64, SocketAddr>,
    /// The cluster's secret, if it has one.
    pub secret: Option<Vec<u8>>,
    pub count: u64,
    pub seed: u64,
    /// Datagrams per second at most; `None`: as fast as the socket takes
    /// them.
    pub rate: Option<u64>,
    /// Incremented every 10 000 datagrams, for progress reports.
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

/// What one [`flood`] sent, and what a receiver configured like the
/// target made of it.
#[derive(Debug, Default, Clone, Copy)]
pub struct FloodReport {
    /// Datagrams the socket accepted, by kind.
    pub sent: SprayStats,
    /// Sends that failed (not counted in `sent`).
    pub send_errors: u64,
    /// Drops by reason of a shadow `net::Endpoint` configured like the
    /// target member ([`member_net_config`]), handed every datagram sent
    /// from the sprayer's address: what the target should count.
    pub predicted: net::Drops,
    /// Datagrams the shadow did not reject (should be 0).
    pub predicted_accepted: u64,
    pub elapsed: Duration,
}

impl FloodReport {
    pub fn add(&mut self, other: &FloodReport) {
        self.sent.add(&other.sent);
        self.send_errors += other.send_errors;
        for ((_, sum), (_, n)) in self.predicted.slots_mut().into_iter().zip(other.predicted.named()) {
            *sum += n;
        }
        self.predicted_accepted += other.predicted_accepted;
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

/// The transport configuration of member `id` as `node run` sets it up
/// (`net_config` in node/src/server/mod.rs): clients accepted, the node's
/// largest message.
pub fn member_net_config(
    cluster_id: u64,
    id: u64,
    peers: &BTreeMap<u64, SocketAddr>,
    secret: Option<&[u8]>,
) -> net::Config {
    let mut c = net::Config::new(cluster_id, id, peers.clone());
    c.secret = secret.map(<[u8]>::to_vec);
    c.accept_clients = true;
    c.max_message_bytes = node::limits::MAX_MESSAGE_BYTES;
    c
}

/// Sends `spec.count` datagrams to the target, as fast as the socket
/// takes them (or at `spec.rate`): the six kinds of [`spray`] and, from a
/// pool of real frames (every other member's messages to the target, in
/// 1–3 fragments, and the target's acks, all signed with the cluster's
/// secret, made by `net` endpoints in memory), replays, bit flips, and
/// bit flips with the CRC fixed; plus bit flips of valid-looking headers.
/// Each sent datagram is also handed to a shadow endpoint configured like
/// the target, whose drop counters say what the target should count.
pub fn flood(spec: &FloodSpec) -> Result<FloodReport> {
    let mut flooder = Flooder::new(spec)?;
    let start = Instant::now();
    for n in 0..spec.count {
        flooder.pace(n, start);
        let (kind, datagram) = flooder.next_datagram();
        flooder.send(kind, &datagram, start);
    }
    Ok(flooder.finish(start))
}

/// What [`flood`] carries from one datagram to the next.
struct Flooder<'a> {
    spec: &'a FloodSpec,
    /// Connected to the target.
    socket: UdpSocket,
    /// The socket's own address: where the shadow sees datagrams come from.
    local: SocketAddr,
    rng: ChaCha8Rng,
    /// Real frames to replay and mutate ([`real_frames`]).
    pool: Vec<Vec<u8>>,
    /// The MAC's length on the cluster's frames (0 without a secret).
    mac_len: usize,
    /// An endpoint configured like the target, handed every datagram sent.
    shadow: net::Endpoint,
    report: FloodReport,
}

impl<'a> Flooder<'a> {
    fn new(spec: &'a FloodSpec) -> Result<Flooder<'a>> {
        let target = &spec.target;
        let bad = |detail: String| ProcError::Command { command: "flood".into(), detail };
        let socket = socket_for(target.addr, "bind flood socket")?;
        socket.connect(target.addr).map_err(io("connect flood socket"))?;
        let local = socket.local_addr().map_err(io("flood socket address"))?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let secret = spec.secret.as_deref();
        let pool = real_frames(spec, &mut rng).map_err(|e| bad(e.to_string()))?;
        if pool.is_empty() {
            return Err(bad("no real frames to mutate: the target is the only member".into()));
        }
        let mac_len = if secret.is_some() { net::wire::MAC_BYTES } else { 0 };
        let shadow =
            net::Endpoint::new(member_net_config(target.cluster_id, target.target_id, &spec.peers, secret))
                .map_err(|e| bad(e.to_string()))?;
        Ok(Flooder { spec, socket, local, rng, pool, mac_len, shadow, report: FloodReport::default() })
    }

    /// Before datagram `n`: counts progress every 10 000 and, at a rate,
    /// waits every 100 until they are due.
    fn pace(&self, n: u64, start: Instant) {
        if let (Some(progress), 0) = (&self.spec.progress, n % 10_000) {
            progress.fetch_add(u64::from(n > 0) * 10_000, std::sync::atomic::Ordering::Relaxed);
        }
        if let (Some(rate), 0) = (self.spec.rate, n % 100) {
            sleep_until(start, Duration::from_secs_f64(n as f64 / rate.max(1) as f64));
        }
    }

    /// A datagram of a random kind: a real frame from the pool, a sealed
    /// header or one of [`garbage_of`]'s, then mutated as the kind says.
    fn next_datagram(&mut self) -> (SprayKind, Vec<u8>) {
        let target = &self.spec.target;
        let rng = &mut self.rng;
        let member = target.member_ids[rng.random_range(0..target.member_ids.len())];
        let kind = SprayKind::ALL[rng.random_range(0..SprayKind::ALL.len())];
        let mut d = match kind {
            SprayKind::Replayed | SprayKind::Flipped | SprayKind::FlippedResealed => {
                self.pool[rng.random_range(0..self.pool.len())].clone()
            }
            SprayKind::FlippedHeader => sealed(header(rng, target.cluster_id, member, target.target_id)),
            other => garbage_of(other, member, target, rng),
        };
        match kind {
            SprayKind::Flipped => flip_bits(&mut d, rng),
            SprayKind::FlippedResealed => {
                let signed = d.len().saturating_sub(self.mac_len);
                flip_bits(&mut d[..signed], rng);
                reseal(&mut d, self.mac_len);
            }
            SprayKind::FlippedHeader => {
                flip_bits(&mut d[..HEADER_BYTES], rng);
                if rng.random_bool(0.5) {
                    reseal(&mut d, 16);
                }
            }
            _ => {}
        }
        (kind, d)
    }

    /// Sends `d`; one the socket took is counted by kind and handed to the
    /// shadow, which counts it as accepted unless it rejected it.
    fn send(&mut self, kind: SprayKind, d: &[u8], start: Instant) {
        if self.socket.send(d).is_err() {
            self.report.send_errors += 1;
            return;
        }
        *self.report.sent.slot(kind) += 1;
        let rejected = self.shadow.counters().drops.rejected();
        self.shadow.handle_datagram(start.elapsed().as_micros() as u64, self.local, d);
        if self.shadow.counters().drops.rejected() == rejected {
            self.report.predicted_accepted += 1;
        }
        while self.shadow.poll_event().is_some() {}
    }

    fn finish(mut self, start: Instant) -> FloodReport {
        self.report.elapsed = start.elapsed();
        self.report.predicted = self.shadow.counters().drops;
        self.report
    }
}

/// At least 2000 real datagrams between the target and the other members:
/// their messages to it (random payloads of 1–3000 bytes, so 1–3
/// fragments) and its acks, made by in-memory endpoints with the cluster's
/// configuration and secret.
fn real_frames(
    spec: &FloodSpec,
    rng: &mut ChaCha8Rng,
) -> std::result::Result<Vec<Vec<u8>>, net::ConfigError> {
    let target = &spec.target;
    let secret = spec.secret.as_deref();
    // Boot ids from the seed, so a seed makes the same frames.
    let endpoint = |id: u64, rng: &mut ChaCha8Rng| {
        let config = member_net_config(target.cluster_id, id, &spec.peers, secret);
        net::Endpoint::with_boot_id(config, NonZeroU64::MIN.saturating_add(rng.random_range(0..u64::MAX - 1)))
    };
    let mut receiver = endpoint(target.target_id, rng)?;
    let mut senders = Vec::new();
    for (&id, &addr) in spec.peers.iter().filter(|(id, _)| **id != target.target_id) {
        senders.push((addr, endpoint(id, rng)?));
    }
    let target_addr = spec.peers.get(&target.target_id).copied().unwrap_or(target.addr);
    let (mut frames, mut now) = (Vec::new(), 1_000u64);
    while frames.len() < 2000 && !senders.is_empty() {
        for (addr, sender) in &mut senders {
            let mut payload = vec![0u8; rng.random_range(1..3000)];
            rng.fill_bytes(&mut payload);
            let _ = sender.send_bytes(now, target.target_id, payload);
            while let Some(t) = sender.poll_transmit(now) {
                receiver.handle_datagram(now, *addr, &t.bytes);
                frames.push(t.bytes);
            }
        }
        while receiver.poll_event().is_some() {}
        now += 50_000;
        receiver.handle_timeout(now);
        while let Some(t) = receiver.poll_transmit(now) {
            if let Some((_, sender)) = senders.iter_mut().find(|(a, _)| *a == t.to) {
                sender.handle_datagram(now, target_addr, &t.bytes);
            }
            frames.push(t.bytes);
        }
    }
    Ok(frames)
}

/// Datagrams the kernel dropped for the UDP socket bound to `addr` (its
/// receive buffer was full): the `drops` column of /proc/net/udp(6).
pub fn udp_socket_drops(addr: SocketAddr) -> Option<u64> {
    let (file, local) = match addr {
        SocketAddr::V4(a) => {
            ("/proc/net/udp", format!("{:08X}:{:04X}", u32::from_ne_bytes(a.ip().octets()), a.port()))
        }
        SocketAddr::V6(a) => {
            let words: Vec<String> = a
                .ip()
                .octets()
                .chunks_exact(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            ("/proc/net/udp6", format!("{}:{:04X}", words.concat(), a.port()))
        }
    };
    let text = fs::read_to_string(file).ok()?;
    let line = text.lines().skip(1).find(|l| l.split_whitespace().nth(1) == Some(local.as_str()))?;
    line.split_whitespace().last()?.parse().ok()
}
