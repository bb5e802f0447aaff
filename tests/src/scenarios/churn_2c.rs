//! 2C: churn (the lab's `internalChurn`): three clients keep proposing at
//! every server while servers are cut off, crashed and restarted; every
//! value a client saw committed must be in the final log.

use std::collections::HashSet;
use std::time::Duration;

use rand::Rng;

use crate::harness::{show, Activity, TestResult, Tester, ELECTION_TIMEOUT};

/// How long a client checks for its value: the lab's back-off steps.
const CHECK_STEPS_MS: [u64; 5] = [10, 20, 50, 100, 200];

enum ClientState {
    /// About to offer a new value.
    Offer,
    /// Offered `x`, accepted at `index`; checked `step` times so far.
    Check {
        x: Vec<u8>,
        index: u64,
        step: usize,
    },
    Finished,
}

/// One of the lab's client goroutines, as a pollable activity.
struct ChurnClient {
    me: u64,
    state: ClientState,
    wake: Duration,
    stop: bool,
    /// Values this client saw committed at the index it was given.
    values: Vec<Vec<u8>>,
}

impl ChurnClient {
    fn new(me: u64) -> ChurnClient {
        ChurnClient { me, state: ClientState::Offer, wake: Duration::ZERO, stop: false, values: Vec::new() }
    }

    /// Offers a fresh value to every live server (any may lead).
    fn offer(&mut self, t: &mut Tester) {
        if self.stop {
            self.state = ClientState::Finished;
            return;
        }
        let x = t.random_cmd();
        let mut accepted = None;
        for i in 0..t.n() {
            if let Some((index, _)) = t.propose(i, &x) {
                accepted = Some(index);
            }
        }
        match accepted {
            Some(index) => {
                self.state = ClientState::Check { x, index, step: 0 };
                self.check(t);
            }
            None => self.wake = t.now() + Duration::from_millis(79 + self.me * 17),
        }
    }

    /// Maybe the leader will commit our value, maybe not; don't wait
    /// forever.
    fn check(&mut self, t: &mut Tester) {
        let ClientState::Check { x, index, step } = &mut self.state else { return };
        let (nd, got) = t.n_committed(*index);
        if nd > 0 || *step == CHECK_STEPS_MS.len() {
            if nd > 0 && got.as_deref() == Some(x.as_slice()) {
                self.values.push(std::mem::take(x));
            }
            self.state = ClientState::Offer;
            self.wake = t.now();
            return;
        }
        self.wake = t.now() + Duration::from_millis(CHECK_STEPS_MS[*step]);
        *step += 1;
    }
}

impl Activity for ChurnClient {
    fn wake_at(&self) -> Option<Duration> {
        (!matches!(self.state, ClientState::Finished)).then_some(self.wake)
    }

    fn poll(&mut self, t: &mut Tester) -> TestResult<()> {
        match self.state {
            ClientState::Offer => self.offer(t),
            ClientState::Check { .. } => self.check(t),
            ClientState::Finished => {}
        }
        Ok(())
    }
}

fn as_activities(clients: &mut [ChurnClient]) -> Vec<&mut dyn Activity> {
    clients.iter_mut().map(|c| c as &mut dyn Activity).collect()
}

/// One round of random cut / restart+connect / crash.
fn churn_round(t: &mut Tester) {
    if t.rng().random_range(0..1000) < 200 {
        let i = t.random_server();
        t.disconnect(i);
    }
    if t.rng().random_range(0..1000) < 500 {
        let i = t.random_server();
        if !t.is_alive(i) {
            t.restart(i);
        }
        t.connect(i);
    }
    if t.rng().random_range(0..1000) < 200 {
        let i = t.random_server();
        if t.is_alive(i) {
            t.crash(i);
        }
    }
}

fn churn(t: &mut Tester, unreliable: bool) -> TestResult<()> {
    let n = t.n();
    t.set_unreliable(unreliable);
    let mut clients: Vec<ChurnClient> = (0..3).map(ChurnClient::new).collect();
    for _ in 0..20 {
        churn_round(t);
        // Shorter than an election timeout, but not hugely.
        t.sleep_with(ELECTION_TIMEOUT * 7 / 10, &mut as_activities(&mut clients))?;
    }
    t.sleep_with(ELECTION_TIMEOUT, &mut as_activities(&mut clients))?;
    t.set_unreliable(false);
    for i in 0..n {
        if !t.is_alive(i) {
            t.restart(i);
        }
        t.connect(i);
    }
    for c in &mut clients {
        c.stop = true;
    }
    while clients.iter().any(|c| c.wake_at().is_some()) {
        t.run_round(&mut as_activities(&mut clients), None)?;
    }
    t.sleep(ELECTION_TIMEOUT)?;
    let c = t.random_cmd();
    let last_index = t.one(&c, n, true)?;
    let mut really = HashSet::new();
    for index in 1..=last_index {
        let v = t.wait(index, n, None)?;
        really.insert(v.ok_or_else(|| t.fail(format!("no command at index {index}")))?);
    }
    let seen: Vec<Vec<u8>> = clients.into_iter().flat_map(|c| c.values).collect();
    t.note("values seen committed", seen.len() as u64);
    for v in &seen {
        t.check(really.contains(v), || format!("didn't find a value: {}", show(v)))?;
    }
    Ok(())
}

pub fn reliable_churn(t: &mut Tester) -> TestResult<()> {
    churn(t, false)
}

pub fn unreliable_churn(t: &mut Tester) -> TestResult<()> {
    churn(t, true)
}
