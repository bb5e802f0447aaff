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

/// A member's own snapshot through 1000 finished writing after it had
/// installed the leader's through 1003: adopting it made the older one
/// current, so the store no longer held the snapshot the core's log starts
/// after (an acknowledgement of 1003 was not durable). A snapshot written
/// behind the core's is now dropped.
#[test]
fn chaos_crash_seed_15_own_snapshot_finishing_after_an_install() {
    let run = tests::chaos::run(15, "crash", DiskProfile::TORN);
    assert!(run.result.is_ok(), "{:?}", run.result);
}

/// A member made a received snapshot durable and crashed before its log
/// was replaced; it restarted from the snapshot with a log that ended
/// before it, and the next entries left a gap on disk (the WAL refuses
/// that, and the member would stop). A log that cannot continue the
/// snapshot is now dropped when the member starts.
#[test]
fn chaos_seeds_5000015_and_5000058_log_behind_a_received_snapshot() {
    for (seed, nemesis) in [(5_000_015, "crash"), (5_000_058, "all")] {
        let run = tests::chaos::run(seed, nemesis, DiskProfile::TORN);
        assert!(run.result.is_ok(), "{nemesis} seed {seed}: {:?}", run.result);
    }
}

/// Under long reordering, 39 elections ran in the scenario's 10 s, 13 of
/// them started by members whose logs were too stale to win, one deposing
/// a leader 0.1 s after it won; the last leader could not commit the
/// earlier term's entry on its own (the lab runs without a no-op), and
/// the servers did not agree in time. With PreVote (§9.6) a member that
/// cannot win no longer raises the term.
#[test]
fn figure8_unreliable_2c_seed_300000277_stale_candidates_depose_leaders() {
    let scenario = tests::scenarios::find("figure8_unreliable_2c").unwrap();
    for unreliable in [false, true] {
        let run = tests::runner::run_once(scenario, 300_000_277, unreliable);
        assert!(run.result.is_ok(), "unreliable {unreliable}: {:?}", run.result);
    }
}

/// Membership churn seeds that failed before their fixes:
/// - 9100288: a joining member snapshotted before it held any membership
///   entry, with its own empty bootstrap configuration, and could not
///   restart from it (a member now snapshots only where it knows the
///   configuration);
/// - 9100394: two removed members sent clients back and forth between
///   them with stale leader hints (a member outside its configuration now
///   names no leader);
/// - 9100597: a joining member crashed after a received snapshot was
///   durable but before its term was (the core now adopts the snapshot's
///   term on restart);
/// - 9101443: a stale-term chunk reached a joining member, whose empty
///   configuration made the core's answer a malformed message.
#[test]
fn chaos_churn_seeds_joining_and_removed_members() {
    for seed in [9_100_288, 9_100_394, 9_100_597, 9_101_443] {
        let run = tests::chaos::run(seed, "churn", DiskProfile::TORN);
        assert!(run.result.is_ok(), "churn seed {seed}: {:?}", run.result);
    }
}
