//! Concurrency of the lab's scenarios (goroutines calling `one()` or
//! `Start()` at once) as pollable activities: each says when it next wants
//! to run, and [`Tester::run_round`] polls the due ones and sleeps until the
//! next. The same code runs in virtual time and in real time.

use std::time::Duration;

use rand::Rng;

use super::apply::show;
use super::{TestResult, Tester};

/// Something a scenario runs alongside others.
pub trait Activity {
    /// When it next wants to be polled; `None` once finished.
    fn wake_at(&self) -> Option<Duration>;
    /// Does what is due now. Must move `wake_at` past now or finish.
    fn poll(&mut self, t: &mut Tester) -> TestResult<()>;
}

impl Tester {
    /// Polls every due activity, then sleeps until the earliest next wake
    /// (or `limit`, if sooner). Returns at once when all are finished and
    /// there is no limit, or the limit has passed.
    pub fn run_round(&mut self, acts: &mut [&mut dyn Activity], limit: Option<Duration>) -> TestResult<()> {
        let now = self.now();
        for a in acts.iter_mut() {
            if a.wake_at().is_some_and(|w| w <= now) {
                a.poll(self)?;
            }
        }
        let next = acts.iter().filter_map(|a| a.wake_at()).min();
        let target = match (next, limit) {
            (None, None) => return Ok(()),
            (Some(w), None) => w,
            (None, Some(l)) => l,
            (Some(w), Some(l)) => w.min(l),
        };
        if limit.is_some_and(|l| l <= now) {
            return Ok(());
        }
        let step = target.saturating_sub(now).max(Duration::from_millis(1));
        self.sleep(step)
    }

    /// Sleeps `d` while the activities run.
    pub fn sleep_with(&mut self, d: Duration, acts: &mut [&mut dyn Activity]) -> TestResult<()> {
        let end = self.now() + d;
        while self.now() < end {
            self.run_round(acts, Some(end))?;
        }
        Ok(())
    }
}

/// Where a [`OneOp`] is.
#[derive(Debug, Clone, Copy)]
enum OneState {
    /// Offering the command to the connected servers in turn.
    Offer,
    /// A leader accepted it at `index`; waiting for agreement until `until`.
    Wait {
        index: u64,
        until: Duration,
    },
    Done {
        index: u64,
    },
}

/// The lab's `one(cmd, expected, retry)`: for up to 10 s, offer `cmd` to
/// each connected server in turn (from a random one) until a leader takes
/// it, then wait up to 2 s (polling every 20 ms) for `expected` servers to
/// apply it there; without `retry` a failed wait is fatal, with it the
/// offer starts again after 50 ms.
pub struct OneOp {
    cmd: Vec<u8>,
    expected: usize,
    retry: bool,
    deadline: Duration,
    next_server: usize,
    state: OneState,
    wake: Duration,
}

const OFFER_PAUSE: Duration = Duration::from_millis(50);
const WAIT_POLL: Duration = Duration::from_millis(20);
const AGREEMENT_WAIT: Duration = Duration::from_secs(2);
const ONE_DEADLINE: Duration = Duration::from_secs(10);

impl OneOp {
    pub fn new(t: &mut Tester, cmd: Vec<u8>, expected: usize, retry: bool) -> OneOp {
        let n = t.n();
        let next_server = t.rng().random_range(0..n);
        let now = t.now();
        OneOp {
            cmd,
            expected,
            retry,
            deadline: now + ONE_DEADLINE,
            next_server,
            state: OneState::Offer,
            wake: now,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, OneState::Done { .. })
    }

    /// The index the command committed at, once done.
    pub fn index(&self) -> Option<u64> {
        match self.state {
            OneState::Done { index } => Some(index),
            _ => None,
        }
    }

    fn failed(&self, t: &Tester) -> crate::harness::Failure {
        t.fail(format!("one({}) failed to reach agreement", show(&self.cmd)))
    }

    fn offer(&mut self, t: &mut Tester) -> TestResult<()> {
        let now = t.now();
        if now >= self.deadline {
            return Err(self.failed(t));
        }
        for _ in 0..t.n() {
            let i = self.next_server;
            self.next_server = (i + 1) % t.n();
            if !t.is_connected(i) {
                continue;
            }
            if let Some((index, _)) = t.propose(i, &self.cmd) {
                self.state = OneState::Wait { index, until: now + AGREEMENT_WAIT };
                return self.check_agreement(t);
            }
        }
        self.wake = now + OFFER_PAUSE;
        Ok(())
    }

    fn check_agreement(&mut self, t: &mut Tester) -> TestResult<()> {
        let OneState::Wait { index, until } = self.state else { return Ok(()) };
        let now = t.now();
        let (nd, got) = t.n_committed(index);
        if nd > 0 && nd >= self.expected && got.as_deref() == Some(self.cmd.as_slice()) {
            self.state = OneState::Done { index };
        } else if now >= until {
            if !self.retry {
                return Err(self.failed(t));
            }
            self.state = OneState::Offer;
            self.wake = now + OFFER_PAUSE;
        } else {
            self.wake = now + WAIT_POLL;
        }
        Ok(())
    }
}

impl Activity for OneOp {
    fn wake_at(&self) -> Option<Duration> {
        (!self.is_done()).then_some(self.wake)
    }

    fn poll(&mut self, t: &mut Tester) -> TestResult<()> {
        match self.state {
            OneState::Offer => self.offer(t),
            OneState::Wait { .. } => self.check_agreement(t),
            OneState::Done { .. } => Ok(()),
        }
    }
}
