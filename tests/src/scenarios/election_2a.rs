//! 2A: leader election (docs/scenarios.md, "2A: election").

use crate::harness::{TestResult, Tester, ELECTION_TIMEOUT};

/// A leader is elected, and with nothing failing the term stays put.
pub fn initial_election(t: &mut Tester) -> TestResult<()> {
    t.check_one_leader()?;
    // Sleep a bit to avoid racing with followers learning of the election.
    t.sleep_ms(50)?;
    let term1 = t.check_terms()?;
    t.check(term1 >= 1, || format!("term is {term1}, but election should have increased it"))?;
    t.sleep(2 * ELECTION_TIMEOUT)?;
    let term2 = t.check_terms()?;
    t.check(term1 == term2, || format!("term changed from {term1} to {term2} with no failures"))?;
    t.check_one_leader()?;
    Ok(())
}

/// A new leader after the old one is cut off; none without a majority.
pub fn re_election(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    let leader1 = t.check_one_leader()?;
    // If the leader disconnects, a new one should be elected.
    t.disconnect(leader1);
    t.check_one_leader()?;
    // The old leader rejoining must not disturb the new one (or, if it
    // does, a single leader must come out).
    t.connect(leader1);
    let leader2 = t.check_one_leader()?;
    // No quorum: no leader.
    t.disconnect(leader2);
    t.disconnect((leader2 + 1) % n);
    t.sleep(2 * ELECTION_TIMEOUT)?;
    t.check_no_leader()?;
    // A quorum again: a leader.
    t.connect((leader2 + 1) % n);
    t.check_one_leader()?;
    // The last node rejoining must not prevent a leader.
    t.connect(leader2);
    t.check_one_leader()?;
    Ok(())
}

/// Ten rounds of three random servers cut off out of seven.
pub fn many_elections(t: &mut Tester) -> TestResult<()> {
    t.check_one_leader()?;
    for _ in 1..10 {
        let cut = [t.random_server(), t.random_server(), t.random_server()];
        for &i in &cut {
            t.disconnect(i);
        }
        // Either the current leader is still alive, or the remaining four
        // elect a new one.
        t.check_one_leader()?;
        for &i in &cut {
            t.connect(i);
        }
    }
    t.check_one_leader()?;
    Ok(())
}
