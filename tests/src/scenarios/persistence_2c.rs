//! 2C: persistence (docs/scenarios.md, "2C: persistence"): crash and restart
//! servers, which come back with only what they persisted.

use crate::harness::{cmd, Activity, OneOp, TestResult, Tester, ELECTION_TIMEOUT};

/// Crash and restart all, the leader, followers: nothing committed is lost.
pub fn persist1(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(11), n, true)?;
    // Crash and restart all.
    for i in 0..n {
        t.restart(i);
    }
    for i in 0..n {
        t.connect(i);
    }
    t.one(&cmd(12), n, true)?;
    let leader1 = t.check_one_leader()?;
    t.restart(leader1);
    t.connect(leader1);
    t.one(&cmd(13), n, true)?;
    let leader2 = t.check_one_leader()?;
    t.disconnect(leader2);
    t.one(&cmd(14), n - 1, true)?;
    t.restart(leader2);
    t.connect(leader2);
    t.wait(4, n, None)?; // wait for leader2 to join before killing i3
    let i3 = (t.check_one_leader()? + 1) % n;
    t.disconnect(i3);
    t.one(&cmd(15), n - 1, true)?;
    t.restart(i3);
    t.connect(i3);
    t.one(&cmd(16), n, true)?;
    Ok(())
}

/// Five rounds of partitions and restarts of most of the cluster.
pub fn persist2(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    let mut index = 1;
    for _ in 0..5 {
        t.one(&cmd(10 + index), n, true)?;
        index += 1;
        let leader1 = t.check_one_leader()?;
        t.disconnect((leader1 + 1) % n);
        t.disconnect((leader1 + 2) % n);
        t.one(&cmd(10 + index), n - 2, true)?;
        index += 1;
        for k in [0, 3, 4] {
            t.disconnect((leader1 + k) % n);
        }
        for k in [1, 2] {
            t.restart((leader1 + k) % n);
            t.connect((leader1 + k) % n);
        }
        t.sleep(ELECTION_TIMEOUT)?;
        t.restart((leader1 + 3) % n);
        t.connect((leader1 + 3) % n);
        t.one(&cmd(10 + index), n - 2, true)?;
        index += 1;
        t.connect((leader1 + 4) % n);
        t.connect(leader1);
    }
    t.one(&cmd(1000), n, true)?;
    Ok(())
}

/// A server that was partitioned, not crashed, keeps what it committed.
pub fn persist3(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.one(&cmd(101), 3, true)?;
    let leader = t.check_one_leader()?;
    t.disconnect((leader + 2) % n);
    t.one(&cmd(102), 2, true)?;
    t.crash(leader);
    t.crash((leader + 1) % n);
    t.connect((leader + 2) % n);
    t.restart(leader);
    t.connect(leader);
    t.one(&cmd(103), 2, true)?;
    t.restart((leader + 1) % n);
    t.connect((leader + 1) % n);
    t.one(&cmd(104), n, true)?;
    Ok(())
}

/// On an unreliable network, 49 rounds of four concurrent `one()`s (left
/// running, as the lab's goroutines) plus one waited for; then all of them
/// finish on a reliable network.
pub fn unreliable_agree(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.set_unreliable(true);
    let mut background: Vec<OneOp> = Vec::new();
    for iters in 1..50u64 {
        for j in 0..4 {
            background.push(OneOp::new(t, cmd(100 * iters + j), 1, true));
        }
        let mut main = OneOp::new(t, cmd(iters), 1, true);
        while !main.is_done() {
            let mut acts: Vec<&mut dyn Activity> = vec![&mut main];
            acts.extend(background.iter_mut().map(|op| op as &mut dyn Activity));
            t.run_round(&mut acts, None)?;
        }
        background.retain(|op| !op.is_done());
    }
    t.set_unreliable(false);
    while !background.is_empty() {
        let mut acts: Vec<&mut dyn Activity> =
            background.iter_mut().map(|op| op as &mut dyn Activity).collect();
        t.run_round(&mut acts, None)?;
        background.retain(|op| !op.is_done());
    }
    t.one(&cmd(100), n, true)?;
    Ok(())
}
