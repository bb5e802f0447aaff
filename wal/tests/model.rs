//! Property test: random sequences of append / truncate / hard state /
//! sync / compact / reopen, checked against an in-memory model at every
//! reopen.

mod common;

use common::{entry, small, TestDir};
use proptest::prelude::*;
use wal::{Entry, HardState, Wal};

#[derive(Debug, Clone)]
enum Op {
    Append { n: u64, back: u64, len: usize },
    Truncate { back: u64 },
    HardState { term: u64, vote: Option<u64> },
    Sync,
    Compact { back: u64 },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..6u64, 0..3u64, 0..700usize).prop_map(|(n, back, len)| Op::Append { n, back, len }),
        1 => (0..4u64).prop_map(|back| Op::Truncate { back }),
        1 => (0..100u64, proptest::option::of(1..5u64)).prop_map(|(term, vote)| Op::HardState { term, vote }),
        2 => Just(Op::Sync),
        1 => (0..30u64).prop_map(|back| Op::Compact { back }),
        1 => Just(Op::Reopen),
    ]
}

/// The log as the caller sees it, and the highest index compacted away.
#[derive(Default)]
struct Model {
    entries: Vec<Entry>,
    hard_state: HardState,
    compacted: u64,
    term: u64,
}

impl Model {
    fn next(&self) -> u64 {
        self.entries.last().map_or(self.compacted + 1, |e| e.index + 1)
    }

    /// Lowest index that may be rewritten: never at or below a compaction.
    fn floor(&self, back: u64) -> u64 {
        self.next().saturating_sub(back).max(self.compacted + 1)
    }

    fn apply(&mut self, wal: &mut Wal, op: &Op) {
        match *op {
            Op::Append { n, back, len } => {
                self.term += 1;
                let start = self.floor(back);
                let batch: Vec<Entry> = (start..start + n).map(|i| entry(i, self.term, len)).collect();
                wal.append(&batch).unwrap();
                self.entries.retain(|e| e.index < start);
                self.entries.extend(batch);
            }
            Op::Truncate { back } => {
                let from = self.floor(back);
                wal.truncate_suffix(from).unwrap();
                self.entries.retain(|e| e.index < from);
            }
            Op::HardState { term, vote } => {
                self.hard_state = HardState { current_term: term, voted_for: vote };
                wal.set_hard_state(self.hard_state).unwrap();
            }
            Op::Sync => wal.sync().unwrap(),
            Op::Compact { back } => {
                let up_to = self.next().saturating_sub(1 + back).max(self.compacted);
                wal.compact_prefix(up_to).unwrap();
                self.compacted = up_to;
            }
            Op::Reopen => unreachable!("handled by the caller"),
        }
    }

    /// Recovered entries must be the model's from some index on, and hold
    /// every entry above the compaction point.
    fn check(&self, entries: &[Entry], hard_state: HardState) {
        assert_eq!(hard_state, self.hard_state);
        let kept = match entries.first() {
            Some(first) => {
                self.entries.iter().position(|e| e.index == first.index).expect("unknown first entry")
            }
            None => self.entries.len(),
        };
        assert!(entries == &self.entries[kept..], "recovered entries differ from the model");
        assert!(
            self.entries[..kept].iter().all(|e| e.index <= self.compacted),
            "lost entries above compaction"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn wal_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = TestDir::new("model");
        let mut model = Model::default();
        let (mut wal, _) = Wal::open(dir.path(), small(4096)).unwrap();
        for op in ops.iter().chain([&Op::Reopen]) {
            if let Op::Reopen = op {
                drop(wal);
                let (reopened, rec) = Wal::open(dir.path(), small(4096)).unwrap();
                model.check(&rec.entries, rec.hard_state);
                prop_assert_eq!(rec.report.torn_tail, None);
                wal = reopened;
            } else {
                model.apply(&mut wal, op);
            }
        }
    }
}
