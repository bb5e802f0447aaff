//! The chunk protocol between a sender and a receiver, with a store in
//! memory and a network the test controls (loss, reordering, duplicates).

use std::io;

use bytes::Bytes;
use raft::SnapshotMeta;

use super::*;
use crate::member::snapshot_store::{SnapshotData, SnapshotInfo, SnapshotPart, SnapshotStore};

const FOLLOWER: u64 = 2;
const TERM: u64 = 3;
const META: SnapshotMeta = SnapshotMeta { index: 40, term: 2 };

/// A store in memory: the current snapshot (to send), what was received.
#[derive(Default)]
struct MemStore {
    current: Option<(SnapshotInfo, Bytes)>,
    incoming: Option<(SnapshotInfo, Vec<u8>)>,
    received: Option<(SnapshotInfo, Vec<u8>)>,
    stored_chunks: usize,
}

struct MemData(SnapshotInfo, Bytes);

impl SnapshotData for MemData {
    fn info(&self) -> SnapshotInfo {
        self.0
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = (offset as usize).min(self.1.len());
        let n = buf.len().min(self.1.len() - start);
        buf[..n].copy_from_slice(&self.1[start..start + n]);
        Ok(n)
    }
}

impl SnapshotStore for MemStore {
    fn current(&self) -> Option<SnapshotInfo> {
        self.current.as_ref().map(|c| c.0)
    }
    fn open_current(&mut self) -> io::Result<Box<dyn SnapshotData>> {
        let (info, data) = self.current.clone().ok_or_else(|| io::Error::other("none"))?;
        Ok(Box::new(MemData(info, data)))
    }
    fn adopt(&mut self, _info: SnapshotInfo) -> io::Result<()> {
        Ok(())
    }
    fn receive(&mut self, info: SnapshotInfo, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset == 0 {
            self.incoming = Some((info, Vec::new()));
        }
        let Some((held, bytes)) = &mut self.incoming else { return Err(io::Error::other("none")) };
        assert!(*held == info && bytes.len() as u64 == offset, "the receiver appends in order only");
        bytes.extend_from_slice(data);
        self.stored_chunks += 1;
        Ok(())
    }
    fn finish_receive(&mut self, info: SnapshotInfo) -> io::Result<()> {
        let (held, bytes) = self.incoming.take().ok_or_else(|| io::Error::other("none"))?;
        if held != info || crc32c::crc32c(&bytes) != info.crc32c || bytes.len() as u64 != info.len {
            return Err(io::Error::other("length or checksum"));
        }
        self.received = Some((info, bytes));
        Ok(())
    }
    fn install(&mut self, _meta: SnapshotMeta) -> io::Result<()> {
        Ok(())
    }
}

fn snapshot_of(len: usize) -> (SnapshotInfo, Bytes) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    (SnapshotInfo { meta: META, len: len as u64, crc32c: crc32c::crc32c(&data) }, data.into())
}

/// A leader and a follower with the parts in flight between them.
struct Link {
    senders: Senders,
    receiver: Receiver,
    leader: MemStore,
    follower: MemStore,
    /// Chunks towards the follower, acks towards the leader.
    to_follower: Vec<SnapshotPart>,
    to_leader: Vec<SnapshotPart>,
    reports: Vec<(u64, bool)>,
    completed: Vec<SnapshotInfo>,
}

impl Link {
    fn new(len: usize) -> Link {
        let leader = MemStore { current: Some(snapshot_of(len)), ..MemStore::default() };
        Link {
            senders: Senders::default(),
            receiver: Receiver::default(),
            leader,
            follower: MemStore::default(),
            to_follower: Vec::new(),
            to_leader: Vec::new(),
            reports: Vec::new(),
            completed: Vec::new(),
        }
    }

    fn take(&mut self, out: SendOutcome) {
        for (peer, part) in out.parts {
            assert_eq!(peer, FOLLOWER);
            self.to_follower.push(part);
        }
        self.reports.extend(out.reports);
    }

    fn start(&mut self) {
        let mut out = SendOutcome::default();
        self.senders.start(&mut self.leader, FOLLOWER, TERM, META, &mut out);
        self.take(out);
    }

    fn tick(&mut self, n: u64) {
        for _ in 0..n {
            let mut out = SendOutcome::default();
            self.senders.tick(&mut out);
            self.take(out);
        }
    }

    /// Delivers every chunk in flight (in `order`), then every ack.
    fn deliver(&mut self, order: impl Fn(&mut Vec<SnapshotPart>)) {
        let mut chunks = std::mem::take(&mut self.to_follower);
        order(&mut chunks);
        for part in chunks {
            let SnapshotPart::Chunk { term, info, offset, data } = part else { panic!("a chunk") };
            match self.receiver.on_chunk(&mut self.follower, term, info, offset, &data, 0) {
                Received::Ack(ack) => self.to_leader.push(ack),
                Received::Complete { info, ack } => {
                    self.completed.push(info);
                    self.to_leader.push(ack);
                }
            }
        }
        for part in std::mem::take(&mut self.to_leader) {
            let SnapshotPart::Ack { snapshot, received, done, .. } = part else { panic!("an ack") };
            let mut out = SendOutcome::default();
            self.senders.on_ack(FOLLOWER, snapshot, received, done, &mut out);
            self.take(out);
        }
    }

    fn received_matches(&self) -> bool {
        let sent = &self.leader.current.as_ref().unwrap().1;
        self.follower.received.as_ref().is_some_and(|(_, got)| got[..] == sent[..])
    }
}

#[test]
fn a_snapshot_streams_in_bounded_chunks_within_the_window() {
    let len = CHUNK_BYTES * 5 + 1;
    let mut link = Link::new(len);
    link.start();
    assert_eq!(link.to_follower.len() as u64, WINDOW_CHUNKS, "no more than the window before an ack");
    let mut rounds = 0;
    while link.reports.is_empty() {
        link.deliver(|_| {});
        rounds += 1;
        assert!(rounds < 10, "it completes");
    }
    assert_eq!(link.reports, vec![(FOLLOWER, true)]);
    assert_eq!(link.completed.len(), 1);
    assert!(link.received_matches());
    assert_eq!(link.follower.stored_chunks, 6);
}

#[test]
fn a_lost_chunk_is_sent_again_after_the_resend_ticks() {
    let mut link = Link::new(CHUNK_BYTES * 3);
    link.start();
    link.deliver(|chunks| {
        chunks.remove(1); // the second chunk is lost; the third arrives out of order
    });
    assert!(link.reports.is_empty());
    link.deliver(|_| {});
    link.tick(RESEND_TICKS);
    assert!(!link.to_follower.is_empty(), "the sender went back to what was acknowledged");
    while link.reports.is_empty() {
        link.deliver(|_| {});
        link.tick(1);
    }
    assert_eq!(link.reports, vec![(FOLLOWER, true)]);
    assert!(link.received_matches());
}

#[test]
fn reordered_and_duplicated_chunks_still_give_the_same_bytes() {
    let mut link = Link::new(CHUNK_BYTES * 4 + 17);
    link.start();
    for round in 0..200 {
        link.deliver(|chunks| {
            let copies = chunks.clone();
            chunks.extend(copies);
            chunks.reverse();
        });
        if !link.reports.is_empty() {
            break;
        }
        link.tick(RESEND_TICKS);
        assert!(round < 199, "it completes");
    }
    assert_eq!(link.reports, vec![(FOLLOWER, true)]);
    assert!(link.received_matches());
}

#[test]
fn a_new_transfer_of_the_same_snapshot_resumes_where_the_follower_is() {
    let mut link = Link::new(CHUNK_BYTES * 8);
    link.start();
    link.deliver(|_| {}); // four chunks arrive, their acks bring four more
    link.to_follower.clear(); // ... which are lost with the leader
    let held = link.follower.incoming.as_ref().map(|(_, b)| b.len()).unwrap();
    assert_eq!(held, CHUNK_BYTES * 4);
    // A new leader with the same snapshot starts from offset 0.
    link.senders = Senders::default();
    link.start();
    link.deliver(|_| {}); // offset 0 is answered with the length held
    let stored_before = link.follower.stored_chunks;
    while link.reports.is_empty() {
        link.deliver(|_| {});
    }
    assert_eq!(link.follower.stored_chunks - stored_before, 4, "only the missing half was sent again");
    assert!(link.received_matches());
}

#[test]
fn a_transfer_without_answers_is_given_up_and_reported() {
    let mut link = Link::new(CHUNK_BYTES);
    link.start();
    link.tick(GIVE_UP_TICKS - 1);
    assert!(link.reports.is_empty());
    link.tick(1);
    assert_eq!(link.reports, vec![(FOLLOWER, false)]);
}

#[test]
fn an_empty_snapshot_takes_one_chunk() {
    let mut link = Link::new(0);
    link.start();
    assert_eq!(link.to_follower.len(), 1);
    link.deliver(|_| {});
    assert_eq!(link.reports, vec![(FOLLOWER, true)]);
    assert_eq!(link.completed.len(), 1);
}

#[test]
fn a_snapshot_the_follower_already_covers_is_done_at_once() {
    let mut store = MemStore::default();
    let mut receiver = Receiver::default();
    let (info, data) = snapshot_of(10);
    let got = receiver.on_chunk(&mut store, TERM, info, 0, &data, META.index);
    let ack = SnapshotPart::Ack { term: TERM, snapshot: META, received: 10, done: true };
    assert_eq!(got, Received::Complete { info, ack });
    assert_eq!(store.stored_chunks, 0, "nothing stored");
}

#[test]
fn a_snapshot_failing_its_checksum_is_refused_and_started_again() {
    let mut store = MemStore::default();
    let mut receiver = Receiver::default();
    let (mut info, data) = snapshot_of(100);
    info.crc32c ^= 1;
    let got = receiver.on_chunk(&mut store, TERM, info, 0, &data, 0);
    let ack = SnapshotPart::Ack { term: TERM, snapshot: META, received: 0, done: false };
    assert_eq!(got, Received::Ack(ack), "the sender is told to begin again");
    assert!(store.received.is_none());
}

#[test]
fn a_rate_bounds_the_bytes_sent_per_tick_and_the_transfer_still_completes() {
    let len = CHUNK_BYTES * 12;
    let per_tick = CHUNK_BYTES as u64 * 3 / 2;
    let mut link = Link::new(len);
    link.senders.set_rate(per_tick);
    link.start();
    let (mut sent, mut ticks) = (0u64, 0u64);
    while link.completed.is_empty() {
        assert!(ticks < 100, "the transfer completes");
        link.deliver(|_| {});
        link.tick(1);
        ticks += 1;
        let new: u64 = link.to_follower[..]
            .iter()
            .map(|p| match p {
                SnapshotPart::Chunk { data, .. } => data.len() as u64,
                SnapshotPart::Ack { .. } => 0,
            })
            .sum();
        sent += new;
        // The budget never holds more than a tick's worth and one chunk.
        assert!(sent <= (ticks + 1) * per_tick + CHUNK_BYTES as u64, "{sent} bytes by tick {ticks}");
    }
    assert!(link.received_matches());
    // Paced, not stalled: about len / rate ticks.
    assert!(ticks <= len as u64 / per_tick + 2, "{ticks} ticks");
}

#[test]
fn without_a_rate_the_window_leaves_at_once() {
    let mut link = Link::new(CHUNK_BYTES * 12);
    link.start();
    assert_eq!(link.to_follower.len() as u64, WINDOW_CHUNKS);
}
