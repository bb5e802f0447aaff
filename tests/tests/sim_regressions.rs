//! Seeds that once failed on the simulator, kept as regression tests.

use tests::runner::run_with;
use tests::sim::{DiskProfile, Nemesis};

/// A vote of term 7 left in the same `Ready` as the move to term 8; the
/// promise check wanted the term-7 vote itself on disk, which term 8 had
/// replaced. A promise of an earlier term is kept by a later durable term.
#[test]
fn many_elections_2a_seed_61_vote_superseded_in_one_ready() {
    let scenario = tests::scenarios::find("many_elections_2a").unwrap();
    let nemesis = Nemesis::parse("slowdisk,forge,holdback").unwrap();
    let run = run_with(scenario, 61, false, DiskProfile::TORN, nemesis);
    assert!(run.result.is_ok(), "{:?}", run.result);
}
