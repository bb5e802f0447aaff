//! 2B: log agreement (docs/scenarios.md, "2B: agreement"), the hand-out's eight
//! tests plus `follower_failure_2b` and `leader_failure_2b`. Where the
//! later versions of the lab pass `retry` to `one()` (after a partition
//! heals, when a leader change may strand an entry of an older term until
//! a new one commits), so do we.

use rand::Rng;

use crate::harness::{cmd, TestResult, Tester, ELECTION_TIMEOUT};

/// Three commands, at indexes 1, 2, 3.
pub fn basic_agree(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    for index in 1..=3u64 {
        let (nd, _) = t.n_committed(index);
        t.check(nd == 0, || "some have committed before Start()".to_string())?;
        let xindex = t.one(&cmd(index * 100), n, false)?;
        t.check(xindex == index, || format!("got index {xindex} but expected {index}"))?;
    }
    Ok(())
}

/// Each command crosses the network about once per follower.
pub fn rpc_bytes(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(99), n, false)?;
    let bytes0 = t.byte_count();
    let mut sent = 0u64;
    for index in 2..12u64 {
        let mut c = vec![0u8; 5000];
        t.rng().fill(&mut c[..]);
        let xindex = t.one(&c, n, false)?;
        t.check(xindex == index, || format!("got index {xindex} but expected {index}"))?;
        sent += c.len() as u64;
    }
    let got = t.byte_count() - bytes0;
    let expected = n as u64 * sent;
    t.note("bytes for 10 commands", got);
    t.check(got <= expected + 50_000, || format!("too many RPC bytes; got {got}, expected {expected}"))
}

/// A disconnected follower misses commands and catches up on return.
pub fn fail_agree(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(101), n, false)?;
    let leader = t.check_one_leader()?;
    t.disconnect((leader + 1) % n);
    t.one(&cmd(102), n - 1, false)?;
    t.one(&cmd(103), n - 1, false)?;
    t.sleep(ELECTION_TIMEOUT)?;
    t.one(&cmd(104), n - 1, false)?;
    t.one(&cmd(105), n - 1, false)?;
    t.connect((leader + 1) % n);
    t.one(&cmd(106), n, true)?;
    t.sleep(ELECTION_TIMEOUT)?;
    t.one(&cmd(107), n, true)?;
    Ok(())
}

/// A leader without a majority cannot commit.
pub fn fail_no_agree(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(10), n, false)?;
    let leader = t.check_one_leader()?;
    for k in 1..=3 {
        t.disconnect((leader + k) % n);
    }
    let accepted = t.propose(leader, &cmd(20));
    let index = accepted.ok_or_else(|| t.fail("leader rejected Start()"))?.0;
    t.check(index == 2, || format!("expected index 2, got {index}"))?;
    t.sleep(2 * ELECTION_TIMEOUT)?;
    let (nd, _) = t.n_committed(index);
    t.check(nd == 0, || format!("{nd} committed but no majority"))?;
    for k in 1..=3 {
        t.connect((leader + k) % n);
    }
    // The disconnected majority may have chosen a leader from among their
    // own ranks, forgetting index 2.
    let leader2 = t.check_one_leader()?;
    let accepted = t.propose(leader2, &cmd(30));
    let index2 = accepted.ok_or_else(|| t.fail("leader2 rejected Start()"))?.0;
    t.check((2..=3).contains(&index2), || format!("unexpected index {index2}"))?;
    t.one(&cmd(1000), n, true)?;
    Ok(())
}

/// With one follower cut off the other two agree; with both cut off the
/// leader's entry never commits.
pub fn follower_failure(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(101), n, false)?;
    let leader1 = t.check_one_leader()?;
    t.disconnect((leader1 + 1) % n);
    t.one(&cmd(102), n - 1, false)?;
    t.sleep(ELECTION_TIMEOUT)?;
    t.one(&cmd(103), n - 1, false)?;
    let leader2 = t.check_one_leader()?;
    t.disconnect((leader2 + 1) % n);
    t.disconnect((leader2 + 2) % n);
    let accepted = t.propose(leader2, &cmd(104));
    let index = accepted.ok_or_else(|| t.fail("leader rejected Start()"))?.0;
    t.check(index == 4, || format!("expected index 4, got {index}"))?;
    t.sleep(2 * ELECTION_TIMEOUT)?;
    let (nd, _) = t.n_committed(index);
    t.check(nd == 0, || format!("{nd} committed but no majority"))
}

/// The remaining two agree after the leader is cut off; after the second
/// leader goes too, nothing commits.
pub fn leader_failure(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(101), n, false)?;
    let leader1 = t.check_one_leader()?;
    t.disconnect(leader1);
    t.one(&cmd(102), n - 1, false)?;
    t.sleep(ELECTION_TIMEOUT)?;
    t.one(&cmd(103), n - 1, false)?;
    let leader2 = t.check_one_leader()?;
    t.disconnect(leader2);
    for i in 0..n {
        t.propose(i, &cmd(104));
    }
    t.sleep(2 * ELECTION_TIMEOUT)?;
    let (nd, _) = t.n_committed(4);
    t.check(nd == 0, || format!("{nd} committed but no majority"))
}

/// A stale leader's uncommitted entries are replaced.
pub fn rejoin(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(101), n, true)?;
    // Leader network failure; the old leader takes three commands alone.
    let leader1 = t.check_one_leader()?;
    t.disconnect(leader1);
    for c in [102, 103, 104] {
        t.propose(leader1, &cmd(c));
    }
    // The new leader commits, also for index 2.
    t.one(&cmd(103), 2, true)?;
    let leader2 = t.check_one_leader()?;
    t.disconnect(leader2);
    t.connect(leader1);
    t.one(&cmd(104), 2, true)?;
    t.connect(leader2);
    t.one(&cmd(105), n, true)?;
    Ok(())
}
