//! Beyond the lab: one-way partitions (docs/scenarios.md, "Beyond the lab:
//! one-way partitions"). A member that can send but not receive must not
//! keep deposing a healthy leader; CheckQuorum's lease is what stops it.
//! Simulator only (the live back end cannot cut one direction).

use std::time::Duration;

use crate::harness::{TestResult, Tester, ELECTION_TIMEOUT};

/// Over `rounds` samples 100 ms apart: fails if the leader of the others
/// (excluding `deaf`) is missing more than `max_leaderless` times or the
/// term of the connected members other than `deaf` moves.
fn hold_steady(t: &mut Tester, deaf: usize, rounds: u32, max_leaderless: u32) -> TestResult<()> {
    let term = leader_term(t, deaf).ok_or_else(|| t.fail("no leader to start from"))?;
    let mut leaderless = 0;
    for _ in 0..rounds {
        t.sleep_ms(100)?;
        match leader_term(t, deaf) {
            Some(now) => t.check(now == term, || format!("term moved from {term} to {now}"))?,
            None => leaderless += 1,
        }
    }
    t.check(leaderless <= max_leaderless, || format!("no leader in {leaderless} of {rounds} samples"))
}

/// The term of the leader among the members other than `deaf`, if any.
fn leader_term(t: &Tester, deaf: usize) -> Option<u64> {
    (0..t.n()).filter(|&i| i != deaf).find_map(|i| match t.state(i) {
        Some((term, true)) => Some(term),
        _ => None,
    })
}

/// Over `rounds` samples 100 ms apart: the share of samples (in percent)
/// in which the members other than `deaf` have no leader.
fn leaderless_percent(t: &mut Tester, deaf: usize, rounds: u32) -> TestResult<u32> {
    let mut leaderless = 0;
    for _ in 0..rounds {
        t.sleep_ms(100)?;
        leaderless += u32::from(leader_term(t, deaf).is_none());
    }
    Ok(leaderless * 100 / rounds)
}

/// `deaf` hears again. It may force one election (its term is higher);
/// then there is one leader and a command commits on every member.
fn heal(t: &mut Tester, deaf: usize) -> TestResult<()> {
    t.set_deaf(deaf, false)?;
    t.check_one_leader()?;
    let cmd = t.random_cmd();
    let n = t.n();
    t.one(&cmd, n, true)?;
    Ok(())
}

/// On the lossy network a follower's lease can lapse (three heartbeats lost
/// in a row); a one-way member's higher term then forces an election, which
/// PreVote will prevent. The leader stays available nearly all the time
/// (0.7% leaderless on average over 300 seeds, at most 14%): without the
/// lease it was missing 38% of the time.
pub fn one_way_lossy(t: &mut Tester) -> TestResult<()> {
    t.set_unreliable(true);
    let leader = t.check_one_leader()?;
    let deaf = (leader + 1) % t.n();
    t.set_deaf(deaf, true)?;
    let missing = leaderless_percent(t, deaf, 300)?;
    t.note("leaderless percent", u64::from(missing));
    t.check(missing <= 25, || format!("no leader {missing}% of the time"))?;
    heal(t, deaf)
}

/// A follower that can send but not receive campaigns with ever higher
/// terms; nobody heeds it and the leader stays, for 30 s.
pub fn one_way_follower(t: &mut Tester) -> TestResult<()> {
    let leader = t.check_one_leader()?;
    let deaf = (leader + 1) % t.n();
    t.set_deaf(deaf, true)?;
    hold_steady(t, deaf, 300, 0)?;
    heal(t, deaf)
}

/// A leader that can send but not receive steps down within an election
/// timeout (CheckQuorum); the others elect a new leader, which then stays.
pub fn one_way_leader(t: &mut Tester) -> TestResult<()> {
    let leader = t.check_one_leader()?;
    t.set_deaf(leader, true)?;
    // Until another leader is elected, the deaf one's campaigns (of ever
    // higher terms) compete for the votes; after that they are ignored.
    let mut waited = Duration::ZERO;
    while leader_term(t, leader).is_none() {
        t.check(waited < 10 * ELECTION_TIMEOUT, || "no other leader within 10 s".into())?;
        t.sleep_ms(100)?;
        waited += Duration::from_millis(100);
    }
    hold_steady(t, leader, 300, 0)?;
    t.check(!matches!(t.state(leader), Some((_, true))), || "the deaf leader still leads".into())?;
    heal(t, leader)
}
