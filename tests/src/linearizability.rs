//! A linearizability checker for key-value histories (Wing and Gong's
//! search with Lowe's memoization, as in porcupine), per key.
//!
//! A history is what concurrent clients saw: each operation with the time
//! it was invoked and the time its answer arrived. It is linearizable when
//! every operation can be given one instant between its invocation and its
//! answer such that, taken in that order, the operations are a legal run
//! of a single map. Keys are independent (a map is a product of
//! registers), so each key's operations are checked on their own, which
//! keeps the search small.
//!
//! An operation whose answer never came (a client timed out) may or may
//! not have taken effect: its answer time is infinite, so it may be placed
//! anywhere after its invocation, including after everything else, where a
//! write affects nothing observed. Gets that never returned observed
//! nothing and are best left out of the history.
//!
//! The search tries to linearize the earliest pending invocation first and
//! backtracks when an answer arrives for an operation not yet placed; a set
//! of (placed operations, value) states already explored cuts repeats, so
//! a history of a few hundred operations per key checks in milliseconds.

use std::collections::{BTreeMap, HashSet};

/// What one operation did, with what it observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Put(Vec<u8>),
    Delete,
    /// A get that returned this value (`None`: not found).
    Get(Option<Vec<u8>>),
}

/// One operation of a history. Times are any monotonic clock (virtual
/// microseconds on the simulator); `returned: None` for an operation whose
/// answer never came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: u64,
    pub key: String,
    pub op: KvOp,
    pub invoked: u64,
    pub returned: Option<u64>,
}

/// Why a history is not linearizable: the key whose operations admit no
/// legal order, with those operations.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not linearizable on key {key:?}: no legal order of its {} operations", operations.len())]
pub struct Violation {
    pub key: String,
    pub operations: Vec<Operation>,
}

/// Checks a whole history, key by key.
pub fn check(history: &[Operation]) -> Result<(), Violation> {
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in history {
        by_key.entry(&op.key).or_default().push(op);
    }
    for (key, ops) in by_key {
        if !check_key(&ops) {
            let operations = ops.into_iter().cloned().collect();
            return Err(Violation { key: key.to_string(), operations });
        }
    }
    Ok(())
}

/// Serializable reads (`reads`, gets that may be stale) against the
/// history of writes: each saw nothing, or a value some put of its key
/// wrote, invoked before the read returned. Put values must be unique.
/// The first read that saw a value no such put wrote.
pub fn check_serializable<'a>(reads: &'a [Operation], history: &[Operation]) -> Result<(), &'a Operation> {
    let by_value: BTreeMap<(&str, &[u8]), u64> = (history.iter())
        .filter_map(|o| match &o.op {
            KvOp::Put(v) => Some(((o.key.as_str(), v.as_slice()), o.invoked)),
            _ => None,
        })
        .collect();
    for read in reads {
        let KvOp::Get(Some(value)) = &read.op else { continue };
        let returned = read.returned.unwrap_or(u64::MAX);
        match by_value.get(&(read.key.as_str(), value.as_slice())) {
            Some(&invoked) if invoked <= returned => {}
            _ => return Err(read),
        }
    }
    Ok(())
}

/// An invocation or an answer of operation `op`, in time order.
#[derive(Clone, Copy, Debug)]
struct Event {
    op: usize,
    is_call: bool,
}

/// The value a key holds, and whether `op` may act on it; the new value.
fn step(value: &Option<Vec<u8>>, op: &KvOp) -> Option<Option<Vec<u8>>> {
    match op {
        KvOp::Put(v) => Some(Some(v.clone())),
        KvOp::Delete => Some(None),
        KvOp::Get(seen) => (seen == value).then(|| value.clone()),
    }
}

/// Wing–Gong with memoization over one key's operations.
fn check_key(ops: &[&Operation]) -> bool {
    let events = events(ops);
    let mut linked = Linked::new(events.len());
    let mut placed = vec![false; ops.len()];
    let mut value: Option<Vec<u8>> = None;
    // (event index of the call, the value before it) for each placed op.
    let mut stack: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    let mut seen: HashSet<(Vec<bool>, Option<Vec<u8>>)> = HashSet::new();
    let mut cursor = linked.first();
    while let Some(at) = cursor {
        let event = events[at];
        if event.is_call {
            let next = step(&value, &ops[event.op].op);
            if let Some(new_value) = next {
                placed[event.op] = true;
                if seen.insert((placed.clone(), new_value.clone())) {
                    stack.push((at, std::mem::replace(&mut value, new_value)));
                    linked.lift(at, &events);
                    cursor = linked.first();
                    continue;
                }
                placed[event.op] = false;
            }
            cursor = linked.next(at);
        } else {
            // An answer before its operation was placed: undo the last
            // placement and try its next alternative.
            let Some((call, before)) = stack.pop() else { return false };
            placed[events[call].op] = false;
            value = before;
            linked.unlift(call, &events);
            cursor = linked.next(call);
        }
    }
    true
}

/// Calls and answers in time order; at equal times answers first (an
/// operation that answered at t precedes one invoked at t), except that an
/// operation's own answer always follows its call. Ops that never answered
/// get no answer event: nothing forces them before anything.
fn events(ops: &[&Operation]) -> Vec<Event> {
    // Keys: a call at t is 2t + 1, an answer at t is 2t, moved past its
    // own call when it answered at the instant it was invoked.
    let mut keyed: Vec<(u128, usize, bool)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let call = 2 * u128::from(op.invoked) + 1;
        keyed.push((call, i, true));
        if let Some(r) = op.returned {
            keyed.push(((2 * u128::from(r)).max(call + 1), i, false));
        }
    }
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, op, is_call)| Event { op, is_call }).collect()
}

/// The events not yet lifted out, as a doubly linked list over indexes, so
/// that placing an operation (lifting its call and answer) and undoing it
/// are O(1).
struct Linked {
    prev: Vec<Option<usize>>,
    next: Vec<Option<usize>>,
    head: Option<usize>,
    /// Event index of each operation's answer, if it has one.
    answer_of: BTreeMap<usize, usize>,
}

impl Linked {
    fn new(n: usize) -> Linked {
        let prev = (0..n).map(|i| i.checked_sub(1)).collect();
        let next = (0..n).map(|i| (i + 1 < n).then_some(i + 1)).collect();
        Linked { prev, next, head: (n > 0).then_some(0), answer_of: BTreeMap::new() }
    }

    fn first(&self) -> Option<usize> {
        self.head
    }

    fn next(&self, at: usize) -> Option<usize> {
        self.next[at]
    }

    /// Lifts the call at `at` and its operation's answer out of the list.
    fn lift(&mut self, at: usize, events: &[Event]) {
        let op = events[at].op;
        let answer = match self.answer_of.get(&op) {
            Some(&a) => Some(a),
            None => (at + 1..events.len()).find(|&i| events[i].op == op && !events[i].is_call),
        };
        if let Some(a) = answer {
            self.answer_of.insert(op, a);
            self.unlink(a);
        }
        self.unlink(at);
    }

    /// Puts back what [`Linked::lift`] took out, in reverse order.
    fn unlift(&mut self, at: usize, events: &[Event]) {
        self.relink(at);
        if let Some(&a) = self.answer_of.get(&events[at].op) {
            self.relink(a);
        }
    }

    fn unlink(&mut self, i: usize) {
        match self.prev[i] {
            Some(p) => self.next[p] = self.next[i],
            None => self.head = self.next[i],
        }
        if let Some(n) = self.next[i] {
            self.prev[n] = self.prev[i];
        }
    }

    /// Undoes `unlink(i)`; valid while unlinks are undone in reverse order
    /// (the neighbours `i` remembers are then in the list again).
    fn relink(&mut self, i: usize) {
        match self.prev[i] {
            Some(p) => self.next[p] = Some(i),
            None => self.head = Some(i),
        }
        if let Some(n) = self.next[i] {
            self.prev[n] = Some(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u64, op: KvOp, invoked: u64, returned: Option<u64>) -> Operation {
        Operation { client, key: "k".into(), op, invoked, returned }
    }

    fn put(v: &str) -> KvOp {
        KvOp::Put(v.as_bytes().to_vec())
    }

    fn get(v: Option<&str>) -> KvOp {
        KvOp::Get(v.map(|v| v.as_bytes().to_vec()))
    }

    #[test]
    fn sequential_history_is_checked_for_what_gets_saw() {
        let ok =
            [op(1, put("a"), 0, Some(1)), op(1, get(Some("a")), 2, Some(3)), op(1, KvOp::Delete, 4, Some(5))];
        assert!(check(&ok).is_ok());
        let stale =
            [op(1, put("a"), 0, Some(1)), op(1, put("b"), 2, Some(3)), op(1, get(Some("a")), 4, Some(5))];
        assert!(check(&stale).is_err());
        let never_written = [op(1, get(Some("x")), 0, Some(1))];
        assert!(check(&never_written).is_err());
        assert!(check(&[op(1, get(None), 0, Some(1))]).is_ok());
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // Two overlapping puts; a later get may see either, but two later
        // gets must agree on which came last.
        let base = || vec![op(1, put("a"), 0, Some(10)), op(2, put("b"), 5, Some(15))];
        for seen in ["a", "b"] {
            let mut h = base();
            h.push(op(3, get(Some(seen)), 20, Some(21)));
            assert!(check(&h).is_ok(), "{seen}");
        }
        let mut flip = base();
        flip.push(op(3, get(Some("a")), 20, Some(21)));
        flip.push(op(3, get(Some("b")), 22, Some(23)));
        assert!(check(&flip).is_err());
    }

    #[test]
    fn a_read_during_a_write_may_see_old_or_new_but_not_go_back() {
        // The classic non-linearizable pattern: a reader sees the new value,
        // then a later reader sees the old one.
        let h = [
            op(1, put("old"), 0, Some(1)),
            op(2, put("new"), 10, Some(100)),
            op(3, get(Some("new")), 20, Some(30)),
            op(4, get(Some("old")), 40, Some(50)),
        ];
        assert!(check(&h).is_err());
        let fine = [
            op(1, put("old"), 0, Some(1)),
            op(2, put("new"), 10, Some(100)),
            op(3, get(Some("old")), 20, Some(30)),
            op(4, get(Some("new")), 40, Some(50)),
        ];
        assert!(check(&fine).is_ok());
    }

    #[test]
    fn an_unanswered_write_may_or_may_not_have_taken_effect() {
        let lost = op(1, put("maybe"), 0, None);
        assert!(check(&[lost.clone(), op(2, get(None), 5, Some(6))]).is_ok());
        assert!(check(&[lost.clone(), op(2, get(Some("maybe")), 5, Some(6))]).is_ok());
        // But once seen, it stays (no later get may miss it).
        let h = [lost, op(2, get(Some("maybe")), 5, Some(6)), op(2, get(None), 7, Some(8))];
        assert!(check(&h).is_err());
    }

    #[test]
    fn keys_are_checked_apart_and_the_violation_names_the_key() {
        let mut h = vec![op(1, put("a"), 0, Some(1))];
        h.push(Operation {
            client: 2,
            key: "other".into(),
            op: get(Some("zzz")),
            invoked: 2,
            returned: Some(3),
        });
        let v = check(&h).unwrap_err();
        assert_eq!(v.key, "other");
        assert!(v.to_string().contains("\"other\""));
    }

    #[test]
    fn many_concurrent_writers_check_quickly() {
        // 8 clients × 40 rounds of overlapping put/get on one key, all
        // legal: each get sees the put of its own round.
        let mut h = Vec::new();
        for round in 0..40u64 {
            let t = round * 100;
            for c in 0..8u64 {
                h.push(op(c, put(&format!("{round}-{c}")), t + c, Some(t + 50)));
            }
            h.push(op(9, get(Some(&format!("{round}-7"))), t + 60, Some(t + 70)));
        }
        let began = std::time::Instant::now();
        assert!(check(&h).is_ok());
        assert!(began.elapsed() < std::time::Duration::from_secs(2), "{:?}", began.elapsed());
    }

    /// A history made by running operations one at a time at instants
    /// p0 < p1 < …, each reported over a random interval around its
    /// instant: always linearizable. With one get changed to a value never
    /// written: never.
    mod generated {
        use proptest::prelude::*;

        use super::super::*;

        fn history(spec: &[(u8, u64, u64)]) -> Vec<Operation> {
            let mut value: Option<Vec<u8>> = None;
            let mut out = Vec::new();
            for (i, &(kind, before, after)) in spec.iter().enumerate() {
                let at = i as u64 * 10 + 100;
                let op = match kind % 3 {
                    0 => KvOp::Put(vec![i as u8, kind]),
                    1 => KvOp::Delete,
                    _ => KvOp::Get(value.clone()),
                };
                value = step(&value, &op).expect("legal by construction");
                let (invoked, returned) = (at - before.min(at), at + after);
                out.push(Operation {
                    client: i as u64 % 4,
                    key: "k".into(),
                    op,
                    invoked,
                    returned: Some(returned),
                });
            }
            out
        }

        proptest! {
            #[test]
            fn histories_of_a_sequential_run_are_linearizable(
                spec in prop::collection::vec((any::<u8>(), 0u64..60, 0u64..60), 1..40),
            ) {
                prop_assert!(check(&history(&spec)).is_ok());
            }

            #[test]
            fn a_get_of_a_value_never_written_is_caught(
                spec in prop::collection::vec((any::<u8>(), 0u64..60, 0u64..60), 1..40),
                pick in any::<prop::sample::Index>(),
            ) {
                let mut h = history(&spec);
                let i = pick.index(h.len());
                h[i].op = KvOp::Get(Some(b"never written".to_vec()));
                prop_assert!(check(&h).is_err());
            }
        }
    }
}
