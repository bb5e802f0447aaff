//! 2C: Figure 8 of the paper (§5.4.2): leaders crash or are cut off just
//! after taking commands, so old-term entries lie around on minorities; an
//! entry must never be committed by counting replicas of an older term.

use rand::Rng;

use crate::harness::{TestResult, Tester};

/// The lab's random sleep: 10% of rounds up to half an election timeout,
/// the rest up to 13 ms.
fn random_pause(t: &mut Tester) -> TestResult<()> {
    let ms = if t.rng().random_range(0..1000) < 100 {
        t.rng().random_range(0..500)
    } else {
        t.rng().random_range(0..13)
    };
    t.sleep_ms(ms)
}

/// 1000 rounds: propose everywhere, crash the leader, keep three up.
pub fn figure8(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    let c = t.random_cmd();
    t.one(&c, 1, true)?;
    let mut nup = n;
    for _ in 0..1000 {
        let mut leader = None;
        for i in 0..n {
            let c = t.random_cmd();
            if t.propose(i, &c).is_some() {
                leader = Some(i);
            }
        }
        random_pause(t)?;
        if let Some(l) = leader {
            t.crash(l);
            nup -= 1;
        }
        if nup < 3 {
            let s = t.random_server();
            if !t.is_alive(s) {
                t.restart(s);
                t.connect(s);
                nup += 1;
            }
        }
    }
    for i in 0..n {
        if !t.is_alive(i) {
            t.restart(i);
            t.connect(i);
        }
    }
    let c = t.random_cmd();
    t.one(&c, n, true)?;
    Ok(())
}

/// The same on an unreliable network with long reordering from round 200,
/// cutting the leader off (half of the time) instead of crashing it.
pub fn figure8_unreliable(t: &mut Tester) -> TestResult<()> {
    let n = t.n();
    t.set_unreliable(true);
    let c = t.random_cmd();
    t.one(&c, 1, true)?;
    let mut nup = n;
    for iters in 0..1000 {
        if iters == 200 {
            t.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..n {
            let c = t.random_cmd();
            if t.propose(i, &c).is_some() && t.is_connected(i) {
                leader = Some(i);
            }
        }
        random_pause(t)?;
        if let Some(l) = leader {
            if t.rng().random_range(0..1000) < 500 {
                t.disconnect(l);
                nup -= 1;
            }
        }
        if nup < 3 {
            let s = t.random_server();
            if !t.is_connected(s) {
                t.connect(s);
                nup += 1;
            }
        }
    }
    for i in 0..n {
        t.connect(i);
    }
    let c = t.random_cmd();
    t.one(&c, n, true)?;
    Ok(())
}
