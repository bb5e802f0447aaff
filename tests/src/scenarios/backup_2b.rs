//! 2B scenarios that measure the leader's work: `concurrent_starts_2b`,
//! `backup_2b` (long divergent logs) and `count_2b` (rpcs per phase).

use std::time::Duration;

use crate::harness::{cmd, show, TestResult, Tester, ELECTION_TIMEOUT};

/// Five proposals at one instant all commit at the returned indexes.
pub fn concurrent_starts(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    for attempt in 0..5 {
        if attempt > 0 {
            t.sleep_ms(3000)?; // give the solution some time to settle
        }
        let leader = t.check_one_leader()?;
        let Some((_, term)) = t.propose(leader, &cmd(1)) else { continue };
        // The lab's five goroutines: all proposals at the same instant.
        let indexes: Vec<u64> = (0..5u64)
            .filter_map(|k| t.propose(leader, &cmd(100 + k)))
            .filter(|&(_, term1)| term1 == term)
            .map(|(index, _)| index)
            .collect();
        if (0..n).any(|j| t.state(j).is_some_and(|(tj, _)| tj != term)) {
            continue; // term changed: try again
        }
        let mut cmds = Vec::new();
        let mut term_moved = false;
        for &index in &indexes {
            match t.wait(index, n, Some(term))? {
                Some(c) => cmds.push(c),
                None => term_moved = true,
            }
            if term_moved {
                break;
            }
        }
        if term_moved {
            continue;
        }
        for k in 0..5u64 {
            let want = cmd(100 + k);
            t.check(cmds.contains(&want), || format!("cmd {} missing", show(&want)))?;
        }
        return Ok(());
    }
    Err(t.fail("term changed too often"))
}

/// Partitions leave long divergent logs; the leader must repair them
/// quickly (the fast conflict-term backoff).
pub fn backup(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    let c = t.random_cmd();
    t.one(&c, n, true)?;
    // Put the leader and one follower in a partition.
    let leader1 = t.check_one_leader()?;
    for k in 2..=4 {
        t.disconnect((leader1 + k) % n);
    }
    // Lots of commands that won't commit.
    propose_many(t, leader1, 50);
    t.sleep(ELECTION_TIMEOUT / 2)?;
    t.disconnect(leader1);
    t.disconnect((leader1 + 1) % n);
    // Allow the other partition to recover.
    for k in 2..=4 {
        t.connect((leader1 + k) % n);
    }
    // Lots of successful commands to the new group.
    one_many(t, 50, 3)?;
    // Now another partitioned leader and one follower.
    let leader2 = t.check_one_leader()?;
    let mut other = (leader1 + 2) % n;
    if leader2 == other {
        other = (leader2 + 1) % n;
    }
    t.disconnect(other);
    // Lots more commands that won't commit.
    propose_many(t, leader2, 50);
    t.sleep(ELECTION_TIMEOUT / 2)?;
    // Bring the original leader back to life.
    for i in 0..n {
        t.disconnect(i);
    }
    t.connect(leader1);
    t.connect((leader1 + 1) % n);
    t.connect(other);
    // Lots of successful commands to the new group.
    one_many(t, 50, 3)?;
    // Now everyone.
    for i in 0..n {
        t.connect(i);
    }
    let c = t.random_cmd();
    t.one(&c, n, true)?;
    Ok(())
}

fn propose_many(t: &mut Tester, at: usize, count: usize) {
    for _ in 0..count {
        let c = t.random_cmd();
        t.propose(at, &c);
    }
}

fn one_many(t: &mut Tester, count: usize, expected: usize) -> TestResult<()> {
    for _ in 0..count {
        let c = t.random_cmd();
        t.one(&c, expected, true)?;
    }
    Ok(())
}

/// Polls in 10 ms steps (up to 5 s) until a connected server leads.
fn wait_for_first_leader(t: &mut Tester) -> TestResult<()> {
    for _ in 0..500 {
        if (0..t.n()).any(|i| t.is_connected(i) && t.state(i).is_some_and(|(_, leads)| leads)) {
            return Ok(());
        }
        t.sleep(Duration::from_millis(10))?;
    }
    Err(t.fail("no leader elected within 5 s"))
}

/// Rpcs to elect, to agree on a batch, and when idle stay small.
pub fn count(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    wait_for_first_leader(t)?;
    let to_elect = t.rpc_count();
    t.note("rpcs to elect", to_elect);
    t.check((1..=30).contains(&to_elect), || {
        format!("too many or few RPCs ({to_elect}) to elect initial leader")
    })?;
    let total2 = count_batch(t, n)?;
    t.sleep(ELECTION_TIMEOUT)?;
    let idle = t.rpc_count() - total2;
    t.note("rpcs in 1 s idle", idle);
    t.check(idle <= 3 * 20, || format!("too many RPCs ({idle}) for 1 second of idleness"))
}

/// count_2b's middle part: up to five tries to get twelve commands agreed
/// in one term; returns the rpc count after the successful try.
fn count_batch(t: &mut Tester, n: usize) -> TestResult<u64> {
    const ITERS: u64 = 10;
    'attempt: for attempt in 0..5 {
        if attempt > 0 {
            t.sleep_ms(3000)?;
        }
        let leader = t.check_one_leader()?;
        let total1 = t.rpc_count();
        let Some((starti, term)) = t.propose(leader, &cmd(1)) else { continue };
        let mut cmds = Vec::new();
        for i in 1..ITERS + 2 {
            let c = t.random_cmd();
            match t.propose(leader, &c) {
                Some((index1, term1)) if term1 == term => {
                    t.check(index1 == starti + i, || "Start() failed".to_string())?;
                }
                _ => continue 'attempt,
            }
            cmds.push(c);
        }
        for i in 1..=ITERS {
            let Some(got) = t.wait(starti + i, n, Some(term))? else { continue 'attempt };
            t.check_cmd(starti + i, Some(&got), &cmds[i as usize - 1])?;
        }
        if (0..n).any(|j| t.state(j).is_some_and(|(tj, _)| tj != term)) {
            continue;
        }
        let total2 = t.rpc_count();
        let used = total2 - total1;
        t.note("rpcs for 10 commands", used);
        t.check(used <= (ITERS + 1 + 3) * 3, || format!("too many RPCs ({used}) for {ITERS} entries"))?;
        return Ok(total2);
    }
    Err(t.fail("term changed too often"))
}
