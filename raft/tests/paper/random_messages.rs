//! Random sequences of ticks, proposals and random messages (extreme values
//! among them) stepped into one member of a 3-member cluster. Whatever
//! arrives: no panic (the crate is built with overflow checks, see the
//! workspace `Cargo.toml`), a refused message changes nothing, and the
//! member's own safety invariants hold after every step.
//!
//! Values are drawn relative to the member's state where that matters
//! (its term ± 1, its last index ± 1), so the member also leads, follows
//! and commits, and absolute extremes (0, `MAX_TERM`, `u64::MAX`) test the
//! edges. Every message kind is drawn, InstallSnapshot included, and the
//! member compacts its log now and then, as its service would.

use proptest::prelude::*;
use raft::{AppendReply, Body, Entry, Message, Persisted, Raft, SnapshotMeta, MAX_TERM};

use crate::net::new_raft;

/// A number drawn relative to the member's state, or an extreme.
#[derive(Clone, Debug)]
enum Num {
    Near(i8),
    Abs(u64),
}

impl Num {
    fn at(&self, base: u64) -> u64 {
        match *self {
            Num::Near(d) => base.saturating_add_signed(i64::from(d)),
            Num::Abs(v) => v,
        }
    }
}

fn num() -> impl Strategy<Value = Num> {
    prop_oneof![
        4 => (-2i8..=2).prop_map(Num::Near),
        1 => prop_oneof![
            Just(0),
            Just(1),
            Just(MAX_TERM - 1),
            Just(MAX_TERM),
            Just(MAX_TERM + 1),
            Just(u64::MAX - 1),
            Just(u64::MAX),
            any::<u64>(),
        ]
        .prop_map(Num::Abs),
    ]
}

#[derive(Clone, Debug)]
enum Kind {
    Vote {
        last_index: Num,
        last_term: Num,
    },
    VoteReply(bool),
    Append {
        prev_index: Num,
        prev_term: Num,
        terms: Vec<Num>,
        consecutive: bool,
        commit: Num,
    },
    Success(Num),
    Conflict {
        rejected: Num,
        term: Option<Num>,
        index: Num,
    },
    Stale,
    /// An InstallSnapshot at an index near the commit index or near the
    /// last index.
    Snapshot {
        index: Num,
        near_commit: bool,
        term: Num,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Tick(u8),
    Propose(u8),
    /// The service compacts at an index near the applied one.
    Compact(Num),
    Step {
        from: u64,
        to: u64,
        term: Num,
        kind: Kind,
    },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (num(), num()).prop_map(|(last_index, last_term)| Kind::Vote { last_index, last_term }),
        any::<bool>().prop_map(Kind::VoteReply),
        (num(), num(), prop::collection::vec(num(), 0..4), any::<bool>(), num()).prop_map(
            |(prev_index, prev_term, terms, consecutive, commit)| Kind::Append {
                prev_index,
                prev_term,
                terms,
                consecutive,
                commit
            }
        ),
        num().prop_map(Kind::Success),
        (num(), prop::option::of(num()), num()).prop_map(|(rejected, term, index)| Kind::Conflict {
            rejected,
            term,
            index
        }),
        Just(Kind::Stale),
        (num(), any::<bool>(), num()).prop_map(|(index, near_commit, term)| Kind::Snapshot {
            index,
            near_commit,
            term
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let from = prop_oneof![8 => 2u64..=3, 1 => Just(1u64), 1 => Just(9u64)];
    let to = prop_oneof![9 => Just(1u64), 1 => Just(2u64)];
    prop_oneof![
        2 => (1u8..40).prop_map(Op::Tick),
        1 => any::<u8>().prop_map(Op::Propose),
        1 => num().prop_map(Op::Compact),
        6 => (from, to, num(), kind()).prop_map(|(from, to, term, kind)| Op::Step { from, to, term, kind }),
    ]
}

fn message(r: &Raft, from: u64, to: u64, term: &Num, kind: &Kind) -> Message {
    let (t, last) = (r.current_term(), r.log().last_index());
    let body = match kind {
        Kind::Vote { last_index, last_term } => Body::RequestVote {
            last_log_index: last_index.at(last),
            last_log_term: last_term.at(t),
            leadership_transfer: false,
        },
        Kind::VoteReply(vote_granted) => Body::RequestVoteReply { vote_granted: *vote_granted },
        Kind::Append { prev_index, prev_term, terms, consecutive, commit } => {
            let prev_log_index = prev_index.at(last);
            let entries = terms
                .iter()
                .enumerate()
                .map(|(k, term)| {
                    let index =
                        if *consecutive { prev_log_index.wrapping_add(k as u64 + 1) } else { term.at(last) };
                    Entry::new(index, term.at(t), vec![k as u8])
                })
                .collect();
            Body::AppendEntries {
                prev_log_index,
                prev_log_term: prev_term.at(r.log().term(prev_log_index).unwrap_or(t)),
                entries,
                leader_commit: commit.at(r.commit_index()),
                round: 0,
            }
        }
        Kind::Success(m) => {
            Body::AppendEntriesReply(AppendReply::Success { match_index: m.at(last), round: 0 })
        }
        Kind::Conflict { rejected, term, index } => Body::AppendEntriesReply(AppendReply::Conflict {
            rejected_index: rejected.at(last),
            conflict_term: term.as_ref().map(|n| n.at(t)),
            conflict_index: index.at(last),
            round: 0,
        }),
        Kind::Stale => Body::AppendEntriesReply(AppendReply::StaleTerm),
        Kind::Snapshot { index, near_commit, term } => {
            let index = index.at(if *near_commit { r.commit_index() } else { last });
            let term = term.at(r.log().term(index).unwrap_or(t));
            let membership = raft::Membership::bootstrap(&[1, 2, 3]);
            Body::InstallSnapshot { snapshot: SnapshotMeta { index, term }, membership }
        }
    };
    Message { from, to, term: term.at(t), body }
}

/// What the member has promised so far, checked against after every step.
#[derive(Default)]
struct Promises {
    term: u64,
    vote: Option<(u64, u64)>,
    commit_index: u64,
    /// The snapshot the state machine was last reset to, and what it
    /// applied after it.
    installed: SnapshotMeta,
    applied: Vec<Entry>,
}

fn snapshot(r: &Raft) -> (raft::Status, SnapshotMeta, Vec<Entry>, bool) {
    (r.status(), r.log().snapshot(), r.log().slice(1, r.log().last_index()).to_vec(), r.has_ready())
}

fn drain(r: &mut Raft, p: &mut Promises) -> Result<(), TestCaseError> {
    while r.has_ready() {
        let ready = r.ready();
        if let Some(install) = ready.snapshot {
            let s = install.snapshot;
            // A snapshot holds committed entries only: it agrees with what
            // was applied, and starts past it.
            if let Some(e) = p.applied.iter().find(|e| e.index == s.index) {
                prop_assert_eq!(e.term, s.term, "snapshot {:?} contradicts an applied entry", s);
            }
            prop_assert!(s.index > p.installed.index, "snapshot {:?} after {:?}", s, p.installed);
            p.installed = s;
            p.applied.clear();
        }
        p.applied.extend(ready.committed_entries);
        r.advance();
    }
    Ok(())
}

fn check(r: &Raft, p: &mut Promises) -> Result<(), TestCaseError> {
    let s = r.status();
    prop_assert!(s.current_term >= p.term, "term went back");
    // One message (or one campaign) raises the term at most this far.
    prop_assert!(s.current_term <= p.term.max(MAX_TERM) + raft::MAX_TERM_JUMP);
    if let (Some((t, v)), Some(now)) = (p.vote, s.voted_for) {
        prop_assert!(t != s.current_term || v == now, "two votes in term {}", t);
    }
    prop_assert!(s.commit_index >= p.commit_index, "commit index went back");
    prop_assert!(s.commit_index <= s.last_index);
    let snapshot = r.log().snapshot();
    prop_assert!(snapshot.index <= s.applied_index && s.applied_index <= s.commit_index);
    prop_assert_eq!(r.log().first_index(), snapshot.index + 1);
    let log = r.log().slice(1, s.last_index);
    prop_assert_eq!(log.len() as u64, s.last_index - snapshot.index);
    for (k, e) in log.iter().enumerate() {
        prop_assert_eq!(e.index, snapshot.index + k as u64 + 1);
        let prev = if k == 0 { snapshot.term } else { log[k - 1].term };
        prop_assert!(e.term <= s.current_term && prev <= e.term);
    }
    for (k, e) in p.applied.iter().enumerate() {
        prop_assert_eq!(e.index, p.installed.index + k as u64 + 1, "applied out of order");
        if e.index > snapshot.index {
            prop_assert_eq!(Some(e), r.log().entry(e.index), "an applied entry changed");
        } else if e.index == snapshot.index {
            prop_assert_eq!(e.term, snapshot.term, "the snapshot contradicts an applied entry");
        }
    }
    p.term = s.current_term;
    p.vote = s.voted_for.map(|v| (s.current_term, v));
    p.commit_index = s.commit_index;
    Ok(())
}

fn apply(r: &mut Raft, op: &Op) {
    match op {
        Op::Tick(n) => (0..*n).for_each(|_| r.tick()),
        Op::Propose(b) => {
            let _ = r.propose(vec![*b]);
        }
        Op::Compact(index) => {
            let applied = r.status().applied_index;
            let index = index.at(applied);
            let before = snapshot(r);
            match r.compact(index) {
                Ok(()) => assert!(index <= applied),
                Err(_) => assert_eq!(snapshot(r), before, "a refused compaction changed state"),
            }
        }
        Op::Step { .. } => unreachable!("stepped by the caller"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_messages_never_panic_nor_break_the_member(ops in prop::collection::vec(op(), 1..200)) {
        let mut r = new_raft(1, 3, Persisted::default());
        let mut promises = Promises::default();
        for op in &ops {
            if let Op::Step { from, to, term, kind } = op {
                let msg = message(&r, *from, *to, term, kind);
                let before = snapshot(&r);
                if r.step(msg.clone()).is_err() {
                    prop_assert_eq!(snapshot(&r), before, "refused {:?} but changed state", msg);
                }
            } else {
                apply(&mut r, op);
            }
            drain(&mut r, &mut promises)?;
            check(&r, &mut promises)?;
        }
    }
}
