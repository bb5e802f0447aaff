//! 2D: log compaction (docs/scenarios.md, "2D: snapshots"): every member's
//! state machine snapshots every [`SNAPSHOT_INTERVAL`] applied entries, the
//! log behind it is dropped, a member that fell behind catches up from the
//! leader's snapshot, and a restarted member starts from its own.

use crate::harness::{cmd, TestResult, Tester};

/// Applied entries between two snapshots of a member (the lab's service).
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// The most persisted Raft state (hard state and log, not the snapshot) a
/// member may hold after each round.
pub const MAX_RAFT_STATE_BYTES: usize = 2_000;

/// The lab's `snapCommon`: 30 rounds of cutting off (or crashing) a victim,
/// committing enough for a snapshot without it, and bringing it back.
fn snap_common(t: &mut Tester, disconnect: bool, unreliable: bool, crash: bool) -> TestResult<()> {
    const ROUNDS: u64 = 30;
    let n = t.n();
    t.set_unreliable(unreliable);
    one_random(t, n)?;
    let mut leader = t.check_one_leader()?;
    for round in 0..ROUNDS {
        let (victim, sender) =
            if round % 3 == 1 { (leader, (leader + 1) % n) } else { ((leader + 1) % n, leader) };
        if disconnect {
            t.disconnect(victim);
            one_random(t, n - 1)?;
        }
        if crash {
            t.crash(victim);
            one_random(t, n - 1)?;
        }
        // Enough for a snapshot on the others, without waiting.
        for _ in 0..=SNAPSHOT_INTERVAL {
            let c = t.random_cmd();
            t.propose(sender, &c);
        }
        // Lets the appliers catch up.
        one_random(t, n - 1)?;
        check_raft_state_small(t)?;
        if disconnect {
            // The victim may be far behind: it needs an InstallSnapshot.
            t.connect(victim);
            one_random(t, n)?;
            leader = t.check_one_leader()?;
        }
        if crash {
            t.restart(victim);
            t.connect(victim);
            one_random(t, n)?;
            leader = t.check_one_leader()?;
        }
    }
    Ok(())
}

/// Every member's persisted Raft state stays below the bound.
fn check_raft_state_small(t: &mut Tester) -> TestResult<()> {
    for i in 0..t.n() {
        let bytes = t.raft_state_bytes(i);
        t.check(bytes <= MAX_RAFT_STATE_BYTES, || {
            format!("server {i} persists {bytes} bytes of Raft state (at most {MAX_RAFT_STATE_BYTES})")
        })?;
    }
    Ok(())
}

pub fn snapshot_basic(t: &mut Tester) -> TestResult<()> {
    snap_common(t, false, false, false)
}

pub fn snapshot_install(t: &mut Tester) -> TestResult<()> {
    snap_common(t, true, false, false)
}

pub fn snapshot_install_unreliable(t: &mut Tester) -> TestResult<()> {
    snap_common(t, true, true, false)
}

pub fn snapshot_install_crash(t: &mut Tester) -> TestResult<()> {
    snap_common(t, false, false, true)
}

pub fn snapshot_install_unreliable_crash(t: &mut Tester) -> TestResult<()> {
    snap_common(t, false, true, true)
}

/// Five rounds of: a snapshot's worth of commands, all crash and restart;
/// the next command lands after everything committed before (the snapshot
/// survived and nothing is applied again).
pub fn snapshot_all_crash(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.set_unreliable(true);
    one_random(t, n)?;
    for _ in 0..5 {
        for _ in 0..=SNAPSHOT_INTERVAL {
            one_random(t, n)?;
        }
        let before = one_random(t, n)?;
        restart_all(t);
        let after = one_random(t, n)?;
        t.check(after > before, || format!("index {after} after the restart is not past {before}"))?;
    }
    Ok(())
}

/// A snapshot, a restart of all, one command (a new snapshot must build on
/// the restored one), another restart of all, one more command.
pub fn snapshot_init(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.set_unreliable(true);
    one_random(t, n)?;
    for _ in 0..=SNAPSHOT_INTERVAL {
        one_random(t, n)?;
    }
    restart_all(t);
    t.one(&cmd(1_000_001), n, true)?;
    restart_all(t);
    t.one(&cmd(1_000_002), n, true)?;
    Ok(())
}

/// `one` with a random command.
fn one_random(t: &mut Tester, expected: usize) -> TestResult<u64> {
    let c = t.random_cmd();
    t.one(&c, expected, true)
}

fn restart_all(t: &mut Tester) {
    for i in 0..t.n() {
        t.crash(i);
    }
    for i in 0..t.n() {
        t.restart(i);
        t.connect(i);
    }
}
