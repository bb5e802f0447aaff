//! Feeds arbitrary bytes to the node's message decoder (`node::proto::Wire`
//! with postcard, as every member decodes what the transport delivers),
//! steps the Raft messages it yields into a 3-member core, and applies the
//! client commands to the KV state machine. Run with
//! `cargo +nightly fuzz run wire_decode` from `node/`.
//!
//! Input: byte 0 picks the core's state before the messages (`% 6`, see
//! [`setup`]), whether its `ready` is drained first (bit 3) and after every
//! message (bit 4); the rest is a sequence of up to 32 postcard-encoded
//! `Wire` values, each decoded with `take_from_bytes` (the whole input is
//! also decoded as one `Wire`). `Raft` messages are stepped, `Request`
//! commands applied and proposed; a `StatusQuery { seq }` stands for
//! `seq % 64` ticks and a `Reply` or `StatusReply` for a persist (`ready`
//! and `advance`), so timers and persists interleave with the messages.
//!
//! Checked:
//! - decoding never panics and allocates at most a fixed multiple of the
//!   input's length (a length prefix cannot make it allocate more); a
//!   decoded value re-encodes and decodes to itself;
//! - `Raft::step` never panics; when it refuses a message, the core's
//!   status, log (every field), `has_ready` and `ticks_until_due` are as
//!   before (the promise of `raft::StepError`); when it accepts one, the
//!   term and commit index never go back, the commit index stays within
//!   the log and the log stays consecutive with non-decreasing terms;
//! - `KvStore::apply` never panics on any entry data, answers `Malformed`
//!   exactly when the data does not decode as a `KvCommand`, and answers a
//!   repeated command as it answered the first time (sessions).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use node::kv::{KvCommand, KvReply, KvStore};
use node::proto::Wire;
use node::server::StateMachine;
use raft::{AppendReply, Body, Config, Entry, HardState, Message, Persisted, Raft, Role};
use rand_chacha::rand_core::SeedableRng;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            // Counted as if the old and the new block were both live.
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Most bytes a decode of `len` input bytes may hold at once: serde
/// preallocates a `Vec` from its length prefix only as far as postcard says
/// the rest of the input can hold (at most one element per input byte;
/// an `Entry` is 48 bytes), and entry data is copied from the input.
fn decode_budget(len: usize) -> usize {
    4096 + 128 * len
}

/// Decodes one `Wire` from the front of `bytes`, checking the allocation
/// bound and the round trip.
fn decode(bytes: &[u8]) -> Option<(Wire, &[u8])> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let decoded = postcard::take_from_bytes::<Wire>(bytes);
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(used <= decode_budget(bytes.len()), "decoding {} bytes held {used} bytes at once", bytes.len());
    let (wire, rest) = decoded.ok()?;
    let again = postcard::to_allocvec(&wire).expect("a decoded Wire encodes");
    assert_eq!(postcard::from_bytes::<Wire>(&again).ok().as_ref(), Some(&wire), "round trip");
    Some((wire, rest))
}

const ME: u64 = 1;

fn core(persisted: Persisted, seed: u64) -> Raft {
    let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    Raft::new(Config::lab(ME, vec![1, 2, 3]), persisted, rng).expect("a valid configuration")
}

fn entry(index: u64, term: u64, data: &'static [u8]) -> Entry {
    Entry::new(index, term, Bytes::from_static(data))
}

/// A log of terms 1, 1, 2 persisted with current term 2.
fn restored(voted_for: Option<u64>) -> Persisted {
    Persisted {
        snapshot: Default::default(),
        hard_state: HardState { current_term: 2, voted_for },
        entries: vec![entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 2, b"c")],
        membership: None,
    }
}

fn drain(raft: &mut Raft, kv: &mut KvStore) {
    while raft.has_ready() {
        let ready = raft.ready();
        for e in ready.committed_entries {
            if !e.data.is_empty() {
                kv.apply(e.index, &e.data);
            }
        }
        raft.advance();
    }
}

fn tick_until(raft: &mut Raft, role: Role) {
    for _ in 0..1000 {
        if raft.role() == role {
            return;
        }
        raft.tick();
    }
    panic!("never became {role:?}");
}

/// A pre-vote round (§9.6) granted by member 2: a candidate of the next term.
fn become_candidate(raft: &mut Raft) {
    tick_until(raft, Role::PreCandidate);
    let term = raft.current_term() + 1;
    let msg = Message { from: 2, to: ME, term, body: Body::PreVoteReply { vote_granted: true } };
    raft.step(msg).expect("a pre-vote for the next term");
    assert_eq!(raft.role(), Role::Candidate);
}

fn win_election(raft: &mut Raft) {
    become_candidate(raft);
    for from in [2, 3] {
        let term = raft.current_term();
        let msg = Message { from, to: ME, term, body: Body::RequestVoteReply { vote_granted: true } };
        raft.step(msg).expect("a vote of our term");
    }
    assert_eq!(raft.role(), Role::Leader);
}

/// The core's state before the fuzzed messages, by `mode`.
fn setup(mode: u8, kv: &mut KvStore) -> Raft {
    match mode % 6 {
        // A brand-new follower.
        0 => core(Persisted::default(), 1),
        // A candidate of term 1.
        1 => {
            let mut raft = core(Persisted::default(), 2);
            become_candidate(&mut raft);
            raft
        }
        // The leader of term 1, with an empty log.
        2 => {
            let mut raft = core(Persisted::default(), 3);
            win_election(&mut raft);
            raft
        }
        // The leader of term 3 over a restored log, two entries of its own
        // committed (member 2 has them), one more proposed.
        3 => {
            let mut raft = core(restored(Some(1)), 4);
            win_election(&mut raft);
            raft.propose(&b"d"[..]).expect("leader");
            raft.propose(&b"e"[..]).expect("leader");
            drain(&mut raft, kv);
            let term = raft.current_term();
            let body = Body::AppendEntriesReply(AppendReply::Success { match_index: 5, round: 0 });
            raft.step(Message { from: 2, to: ME, term, body }).expect("a reply of our term");
            drain(&mut raft, kv);
            assert_eq!(raft.commit_index(), 5);
            raft.propose(&b"f"[..]).expect("leader");
            raft
        }
        // A follower of member 2 in term 2: four entries, two committed.
        4 => {
            let mut raft = core(Persisted::default(), 5);
            let entries = vec![entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 2, b"c"), entry(4, 2, b"d")];
            let body = Body::AppendEntries {
                prev_log_index: 0,
                prev_log_term: 0,
                entries,
                leader_commit: 2,
                round: 0,
            };
            raft.step(Message { from: 2, to: ME, term: 2, body }).expect("a valid append");
            assert_eq!(raft.commit_index(), 2);
            raft
        }
        // A follower restored from a log, having voted for member 3.
        _ => core(restored(Some(3)), 6),
    }
}

/// Everything a refused message must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: raft::Status,
    log: String,
    has_ready: bool,
    ticks_until_due: u64,
}

fn snapshot(raft: &Raft) -> Snapshot {
    Snapshot {
        status: raft.status(),
        log: format!("{:?}", raft.log()),
        has_ready: raft.has_ready(),
        ticks_until_due: raft.ticks_until_due(),
    }
}

fn check_log(raft: &Raft) {
    let log = raft.log();
    let snapshot = log.snapshot();
    assert!(snapshot.index <= raft.commit_index(), "a snapshot past the commit index");
    let mut prev_term = snapshot.term;
    for i in log.first_index()..=log.last_index() {
        let e = log.entry(i).expect("an entry at every index from the snapshot to last_index");
        assert_eq!(e.index, i, "log not consecutive");
        assert!(e.term >= prev_term && e.term <= raft.current_term(), "log terms out of order at {i}");
        prev_term = e.term;
    }
    assert!(raft.commit_index() <= log.last_index(), "commit index past the log");
}

fn step(raft: &mut Raft, mut msg: Message) {
    // Addressed to us, so that it reaches the checks past `NotForMe`.
    msg.to = ME;
    let before = snapshot(raft);
    match raft.step(msg.clone()) {
        Err(e) => assert_eq!(snapshot(raft), before, "refused ({e}) but changed the core: {msg:?}"),
        Ok(()) => {
            let after = raft.status();
            assert!(after.current_term >= before.status.current_term, "term went back: {msg:?}");
            let reachable = before.status.current_term.max(raft::MAX_TERM) + raft::MAX_TERM_JUMP;
            assert!(after.current_term <= reachable, "one message raised the term too far: {msg:?}");
            assert!(after.commit_index >= before.status.commit_index, "commit went back: {msg:?}");
            check_log(raft);
        }
    }
}

/// Applies `data` as an entry at `index` and again at `index + 1`.
fn apply_twice(kv: &mut KvStore, index: u64, data: &[u8]) {
    let data = Bytes::copy_from_slice(data);
    let first = kv.apply(index, &data);
    let reply: KvReply = postcard::from_bytes(&first).expect("a KvReply");
    let command = postcard::from_bytes::<KvCommand>(&data);
    assert_eq!(reply == KvReply::Malformed, command.is_err(), "{command:?} answered {reply:?}");
    let second = kv.apply(index + 1, &data);
    assert_eq!(first, second, "a repeated command answered otherwise: {command:?}");
}

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let mut log_kv = KvStore::default();
    let mut raft = setup(mode, &mut log_kv);
    if mode & 0x08 != 0 {
        drain(&mut raft, &mut log_kv);
    }
    let drain_each = mode & 0x10 != 0;
    let mut direct_kv = KvStore::default();
    let mut kv_index = 1;
    for _ in 0..32 {
        let Some((wire, tail)) = decode(rest) else { break };
        rest = tail;
        match wire {
            Wire::Raft(msg) => step(&mut raft, msg),
            Wire::Request { command, .. } => {
                apply_twice(&mut direct_kv, kv_index, &command);
                kv_index += 2;
                if !command.is_empty() {
                    let _ = raft.propose(command);
                    check_log(&raft);
                }
            }
            // A read: the core places it or says it cannot; the query
            // itself must not disturb the store.
            Wire::Read { seq, query, .. } => {
                let _ = raft.read_index(seq);
                let _ = node::member::StateMachine::query(&direct_kv, &query);
                check_log(&raft);
            }
            // The driver's other inputs: ticks, a persist.
            Wire::StatusQuery { seq } => {
                for _ in 0..seq % 64 {
                    raft.tick();
                }
                check_log(&raft);
            }
            Wire::Reply { .. } | Wire::StatusReply { .. } => drain(&mut raft, &mut log_kv),
            // An operator's membership change: the core must keep its log
            // and configuration consistent whatever it is asked.
            Wire::Admin { request, .. } => {
                match request {
                    node::proto::AdminRequest::Change(change) => drop(raft.propose_membership(change)),
                    node::proto::AdminRequest::TransferLeader(id) => drop(raft.transfer_leadership(id)),
                    node::proto::AdminRequest::Members => {}
                }
                check_log(&raft);
            }
            // The service's snapshot: the log compacts behind what was applied.
            Wire::Snapshot(_) => {
                let applied = raft.status().applied_index;
                if raft.compact(applied).is_err() {
                    panic!("compaction at the applied index {applied} refused");
                }
                check_log(&raft);
            }
        }
        if drain_each {
            drain(&mut raft, &mut log_kv);
        }
    }
    drain(&mut raft, &mut log_kv);
    check_log(&raft);
});
