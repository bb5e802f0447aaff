//! The sender's side for one peer: messages not yet acknowledged, the
//! fragments waiting to go out, and their retransmission timers.
//!
//! A fragment goes out when it reaches the front of the ready queue and
//! fewer than `window` fragments are in flight (sent, not acked); a
//! retransmission jumps the queue and does not need a window slot. A
//! message of one fragment (a heartbeat, a vote, a reply) goes ahead of the
//! fragments of larger messages and needs no window slot: queued behind
//! megabytes of entries, or behind a window held by fragments the peer
//! refuses for now (its reassembly full), a heartbeat would arrive after
//! the followers' election timeout and depose a healthy leader. The window
//! bounds bulk data; these are a few dozen bytes each. Each
//! transmission arms a timer at `now + RTO × 2^retries`; when it fires with
//! the fragment still unacked, the fragment is queued again. A message is
//! An ack also reveals losses early (RFC 9002 §6.1.2, time threshold): a
//! fragment still unacked that was sent more than `max(9/8 × SRTT, 1 ms)`
//! before a fragment now acked is queued again at once, without waiting for
//! its RTO. Such a resend counts as a retransmission and backs off the same.
//! A message is forgotten when all its fragments are acked, when its deadline passes
//! (counted), or when the queue is over its bounds (the oldest goes,
//! counted).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use super::rto::RtoEstimator;
use crate::fragment::fragment;

/// Timer kind stored in the fragment slot of a timer entry.
const DEADLINE: u32 = u32::MAX;
/// Oldest messages scanned for early loss detection after an ack.
const LOSS_SCAN_MESSAGES: usize = 32;
/// Lower bound of the loss time threshold.
const LOSS_THRESHOLD_MIN_US: u64 = 1_000;

#[derive(Debug, Clone, Copy, Default)]
struct FragState {
    sent_us: Option<u64>,
    due_us: u64,
    retries: u32,
    acked: bool,
}

#[derive(Debug)]
struct OutMessage {
    payload: Vec<u8>,
    frags: Vec<FragState>,
    unacked: usize,
}

/// One fragment to put on the wire.
#[derive(Debug, PartialEq, Eq)]
pub struct OutFragment {
    pub msg_id: u64,
    pub index: u16,
    pub count: u16,
    pub data: Vec<u8>,
    pub retransmission: bool,
}

/// What a timer pass found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub retransmits: u64,
    pub deadline_drops: u64,
}

/// Bounds of one peer's send queue.
#[derive(Debug, Clone, Copy)]
pub struct SendLimits {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub window_fragments: usize,
}

#[derive(Debug)]
pub struct SendQueue {
    limits: SendLimits,
    messages: BTreeMap<u64, OutMessage>,
    ready: VecDeque<(u64, u16)>,
    /// Single-fragment messages not sent yet, served before `ready`.
    ready_small: VecDeque<u64>,
    timers: BinaryHeap<Reverse<(u64, u64, u32)>>,
    in_flight: usize,
    bytes: usize,
    /// Send time of the latest-sent fragment acked so far.
    largest_acked_sent_us: u64,
}

impl SendQueue {
    pub fn new(limits: SendLimits) -> Self {
        SendQueue {
            limits,
            messages: BTreeMap::new(),
            ready: VecDeque::new(),
            ready_small: VecDeque::new(),
            timers: BinaryHeap::new(),
            in_flight: 0,
            bytes: 0,
            largest_acked_sent_us: 0,
        }
    }

    /// Queues a message of `count` fragments. Returns how many older
    /// messages were dropped to make room.
    pub fn push(&mut self, msg_id: u64, payload: Vec<u8>, count: u16, deadline_us: u64) -> u64 {
        self.bytes += payload.len();
        let frags = vec![FragState::default(); count as usize];
        self.messages.insert(msg_id, OutMessage { payload, frags, unacked: count as usize });
        if count == 1 {
            self.ready_small.push_back(msg_id);
        } else {
            self.ready.extend((0..count).map(|i| (msg_id, i)));
        }
        self.timers.push(Reverse((deadline_us, msg_id, DEADLINE)));
        let mut evicted = 0;
        while self.messages.len() > self.limits.max_messages || self.bytes > self.limits.max_bytes {
            match self.messages.keys().next().copied() {
                Some(oldest) if oldest != msg_id => {
                    self.forget(oldest);
                    evicted += 1;
                }
                _ => break,
            }
        }
        evicted
    }

    /// The next fragment to transmit now, if any may go.
    pub fn next_fragment(&mut self, now_us: u64, rto: &RtoEstimator) -> Option<OutFragment> {
        while let Some(msg_id) = self.ready_small.pop_front() {
            if self.messages.contains_key(&msg_id) {
                // To the front: ahead of every fragment queued there.
                self.ready.push_front((msg_id, 0));
                break;
            }
        }
        while let Some((msg_id, index)) = self.ready.pop_front() {
            let Some(m) = self.messages.get_mut(&msg_id) else { continue };
            let count = m.frags.len() as u16;
            let Some(f) = m.frags.get_mut(index as usize) else { continue };
            if f.acked {
                continue;
            }
            let first = f.sent_us.is_none();
            let takes_slot = first && count > 1;
            if takes_slot && self.in_flight >= self.limits.window_fragments {
                self.ready.push_front((msg_id, index));
                return None;
            }
            if takes_slot {
                self.in_flight += 1;
            }
            f.sent_us = Some(now_us);
            f.due_us = now_us + rto.backed_off_us(f.retries);
            self.timers.push(Reverse((f.due_us, msg_id, index as u32)));
            let data = fragment(&m.payload, index as usize).to_vec();
            return Some(OutFragment { msg_id, index, count, data, retransmission: !first });
        }
        None
    }

    /// Marks a fragment acked. Returns true if it was newly acked; feeds an
    /// RTT sample to `rto` if it was sent once only (Karn's rule).
    pub fn on_ack(&mut self, now_us: u64, msg_id: u64, index: u16, rto: &mut RtoEstimator) -> bool {
        let Some(m) = self.messages.get_mut(&msg_id) else { return false };
        let bulk = m.frags.len() > 1;
        let Some(f) = m.frags.get_mut(index as usize) else { return false };
        let Some(sent_us) = f.sent_us else { return false };
        if f.acked {
            return false;
        }
        f.acked = true;
        self.largest_acked_sent_us = self.largest_acked_sent_us.max(sent_us);
        if f.retries == 0 {
            rto.on_sample(now_us.saturating_sub(sent_us));
        }
        if bulk {
            self.in_flight -= 1;
        }
        m.unacked -= 1;
        if m.unacked == 0 {
            self.forget(msg_id);
        }
        true
    }

    /// Queues again the fragments sent long enough before the latest acked
    /// one to be taken as lost. Returns how many.
    pub fn detect_losses(&mut self, rto: &RtoEstimator) -> u64 {
        let srtt = rto.srtt_us().unwrap_or(0);
        let threshold = (srtt + srtt / 8).max(LOSS_THRESHOLD_MIN_US);
        let Some(cutoff) = self.largest_acked_sent_us.checked_sub(threshold) else { return 0 };
        let mut lost = 0;
        for (&msg_id, m) in self.messages.iter_mut().take(LOSS_SCAN_MESSAGES) {
            for (index, f) in m.frags.iter_mut().enumerate() {
                let armed = f.due_us != u64::MAX; // not already queued again
                if !f.acked && armed && f.sent_us.is_some_and(|t| t < cutoff) {
                    f.retries += 1;
                    f.due_us = u64::MAX;
                    self.ready.push_front((msg_id, index as u16));
                    lost += 1;
                }
            }
        }
        lost
    }

    /// Fires the timers due at `now_us`.
    pub fn on_timers(&mut self, now_us: u64) -> Expired {
        let mut out = Expired::default();
        while let Some(&Reverse((due, msg_id, slot))) = self.timers.peek() {
            if due > now_us {
                break;
            }
            self.timers.pop();
            if slot == DEADLINE {
                if self.messages.contains_key(&msg_id) {
                    self.forget(msg_id);
                    out.deadline_drops += 1;
                }
                continue;
            }
            let Some(f) = self.messages.get_mut(&msg_id).and_then(|m| m.frags.get_mut(slot as usize)) else {
                continue;
            };
            if !f.acked && f.due_us == due && f.sent_us.is_some() {
                f.retries += 1;
                f.due_us = u64::MAX; // re-armed when it is sent again
                self.ready.push_front((msg_id, slot as u16));
                out.retransmits += 1;
            }
        }
        out
    }

    /// When the earliest timer fires (possibly one already stale).
    pub fn next_timer(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((due, _, _))| *due)
    }

    /// The lowest message id that may still be sent, else `next_id`.
    pub fn low_watermark(&self, next_id: u64) -> u64 {
        self.messages.keys().next().copied().unwrap_or(next_id)
    }

    /// Whether message `msg_id` is still held: not yet fully acknowledged,
    /// and not given up.
    pub fn holds(&self, msg_id: u64) -> bool {
        self.messages.contains_key(&msg_id)
    }

    /// Whether any fragment of message `msg_id` was acknowledged (or it is
    /// no longer held).
    pub fn acked_any(&self, msg_id: u64) -> bool {
        self.messages.get(&msg_id).is_none_or(|m| m.unacked < m.frags.len())
    }

    /// Drops message `msg_id` unsent or half sent (the receiver refused
    /// it, or the application gave up on it); false if it was not held.
    pub fn give_up(&mut self, msg_id: u64) -> bool {
        let held = self.holds(msg_id);
        self.forget(msg_id);
        held
    }

    /// Messages not yet fully acknowledged.
    pub fn queued(&self) -> usize {
        self.messages.len()
    }

    /// Fragments sent and not yet acked.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn forget(&mut self, msg_id: u64) {
        let Some(m) = self.messages.remove(&msg_id) else { return };
        self.bytes -= m.payload.len();
        if m.frags.len() > 1 {
            self.in_flight -= m.frags.iter().filter(|f| f.sent_us.is_some() && !f.acked).count();
        }
        if self.messages.is_empty() {
            // Everything left in the queues is stale: keep them small.
            self.ready.clear();
            self.ready_small.clear();
            self.timers.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reliability::rto::RtoConfig;

    fn rto() -> RtoEstimator {
        RtoEstimator::new(RtoConfig { initial_us: 100, min_us: 100, max_us: 10_000, granularity_us: 1 })
    }

    fn limits(window: usize) -> SendLimits {
        SendLimits { max_messages: 4, max_bytes: 1 << 20, window_fragments: window }
    }

    #[test]
    fn window_holds_back_first_sends_only() {
        let mut q = SendQueue::new(limits(1));
        let r = rto();
        q.push(1, vec![0; 2000], 2, 1_000_000);
        let a = q.next_fragment(0, &r).unwrap();
        assert_eq!((a.msg_id, a.index, a.retransmission), (1, 0, false));
        assert_eq!(q.next_fragment(0, &r), None);
        assert_eq!(q.on_timers(100).retransmits, 1);
        let b = q.next_fragment(100, &r).unwrap();
        assert_eq!((b.index, b.retransmission), (0, true));
    }

    /// A heartbeat queued behind a large message whose fragments hold the
    /// whole window (the peer refuses them for now) still goes at once.
    #[test]
    fn a_single_fragment_message_jumps_the_queue_and_needs_no_window_slot() {
        let mut q = SendQueue::new(limits(2));
        let r = rto();
        q.push(1, vec![0; 5000], 5, 1_000_000);
        q.next_fragment(0, &r).unwrap();
        q.next_fragment(0, &r).unwrap();
        assert_eq!(q.next_fragment(0, &r), None, "window full");
        q.push(2, vec![9; 40], 1, 1_000_000);
        let small = q.next_fragment(0, &r).unwrap();
        assert_eq!((small.msg_id, small.count, small.retransmission), (2, 1, false));
        assert_eq!(q.in_flight(), 2);
        assert!(q.on_ack(0, 2, 0, &mut rto()));
        assert_eq!(q.in_flight(), 2, "its ack frees no bulk slot");
        assert_eq!(q.next_fragment(0, &r), None, "the bulk message still waits for its window");
    }

    #[test]
    fn backoff_doubles_and_deadline_drops() {
        let mut q = SendQueue::new(limits(8));
        let r = rto();
        q.push(1, vec![1], 1, 1_000);
        q.next_fragment(0, &r).unwrap();
        let mut sends = vec![0];
        let mut now = 0;
        while q.queued() > 0 {
            now = q.next_timer().unwrap();
            let e = q.on_timers(now);
            if e.retransmits > 0 && q.next_fragment(now, &r).is_some() {
                sends.push(now);
            }
        }
        assert_eq!(sends, vec![0, 100, 300, 700]);
        assert_eq!(now, 1_000);
    }

    #[test]
    fn a_later_ack_reveals_an_earlier_loss() {
        let mut q = SendQueue::new(limits(8));
        let mut r = rto();
        q.push(1, vec![1], 1, 1_000_000);
        q.push(2, vec![2], 1, 1_000_000);
        q.next_fragment(0, &r).unwrap();
        q.next_fragment(500, &r).unwrap();
        assert!(q.on_ack(600, 2, 0, &mut r));
        assert_eq!(q.detect_losses(&r), 0); // 500 µs apart: under the 1 ms threshold
        q.push(3, vec![3], 1, 1_000_000);
        q.next_fragment(1_500, &r).unwrap();
        assert!(q.on_ack(1_600, 3, 0, &mut r));
        assert_eq!(q.detect_losses(&r), 1);
        assert_eq!(q.detect_losses(&r), 0);
        let again = q.next_fragment(1_600, &r).unwrap();
        assert_eq!((again.msg_id, again.retransmission), (1, true));
    }

    #[test]
    fn full_queue_drops_oldest_and_ack_completes() {
        let mut q = SendQueue::new(limits(8));
        let mut r = rto();
        for id in 1..=5 {
            let evicted = q.push(id, vec![0], 1, 1_000);
            assert_eq!(evicted, u64::from(id == 5));
        }
        assert_eq!(q.low_watermark(9), 2);
        let f = q.next_fragment(0, &r).unwrap();
        assert_eq!(f.msg_id, 2);
        assert!(q.on_ack(40, 2, 0, &mut r));
        assert!(!q.on_ack(41, 2, 0, &mut r));
        assert_eq!(r.srtt_us(), Some(40));
        assert_eq!(q.queued(), 3);
        assert_eq!(q.in_flight(), 0);
    }
}
