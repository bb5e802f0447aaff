//! The lab tester's helpers, with its semantics (see docs/scenarios.md,
//! "The helpers and what they mean"):
//! `check_one_leader`, `check_terms`, `check_no_leader`, `n_committed`,
//! `one`, `wait`.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;

use super::apply::show;
use super::ops::OneOp;
use super::{TestResult, Tester};

/// The lab's `RaftElectionTimeout`, the unit of the scenarios' sleeps.
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

impl Tester {
    /// Up to 10 rounds, each after 450–550 ms: the connected leaders by
    /// term. Two in one term fail; the leader of the newest term is
    /// returned as soon as a round sees one.
    pub fn check_one_leader(&mut self) -> TestResult<usize> {
        for _ in 0..10 {
            let ms = self.rng().random_range(450..550);
            self.sleep_ms(ms)?;
            let mut leaders: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for i in 0..self.n() {
                if let (true, Some((term, true))) = (self.is_connected(i), self.state(i)) {
                    leaders.entry(term).or_default().push(i);
                }
            }
            for (term, ls) in &leaders {
                self.check(ls.len() <= 1, || format!("term {term} has {} (>1) leaders", ls.len()))?;
            }
            if let Some((_, ls)) = leaders.last_key_value() {
                return Ok(ls[0]);
            }
        }
        Err(self.fail("expected one leader, got none"))
    }

    /// All connected servers agree on the term; returns it.
    pub fn check_terms(&mut self) -> TestResult<u64> {
        let mut term = None;
        for i in (0..self.n()).filter(|&i| self.is_connected(i)) {
            let Some((t, _)) = self.state(i) else { continue };
            match term {
                None => term = Some(t),
                Some(x) => self.check(x == t, || "servers disagree on term".to_string())?,
            }
        }
        Ok(term.unwrap_or(0))
    }

    /// No connected server believes it is leader.
    pub fn check_no_leader(&mut self) -> TestResult<()> {
        for i in (0..self.n()).filter(|&i| self.is_connected(i)) {
            let leads = matches!(self.state(i), Some((_, true)));
            self.check(!leads, || format!("expected no leader, but {i} claims to be leader"))?;
        }
        Ok(())
    }

    /// How many servers applied `index`, and the command there.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Vec<u8>>) {
        self.apply_checker().n_committed(index)
    }

    /// Gets `cmd` committed on at least `expected` servers; returns its
    /// index. See [`OneOp`] for the lab's timing.
    pub fn one(&mut self, cmd: &[u8], expected: usize, retry: bool) -> TestResult<u64> {
        let mut op = OneOp::new(self, cmd.to_vec(), expected, retry);
        while !op.is_done() {
            self.run_round(&mut [&mut op], None)?;
        }
        op.index().ok_or_else(|| self.fail("one() finished without an index"))
    }

    /// Waits (10 ms doubling to 1 s, 30 rounds) until `n` servers applied
    /// `index`; returns the command. `None` when some server moved past
    /// `start_term` meanwhile (the lab's -1): the caller tries again.
    pub fn wait(&mut self, index: u64, n: usize, start_term: Option<u64>) -> TestResult<Option<Vec<u8>>> {
        let mut to = Duration::from_millis(10);
        for _ in 0..30 {
            if self.n_committed(index).0 >= n {
                break;
            }
            self.sleep(to)?;
            if to < Duration::from_secs(1) {
                to *= 2;
            }
            if let Some(start) = start_term {
                if (0..self.n()).any(|i| self.state(i).is_some_and(|(t, _)| t > start)) {
                    return Ok(None);
                }
            }
        }
        let (nd, cmd) = self.n_committed(index);
        self.check(nd >= n, || format!("only {nd} decided for index {index}; wanted {n}"))?;
        Ok(cmd)
    }

    /// Fails unless `got` is the command `want`.
    pub fn check_cmd(&self, index: u64, got: Option<&[u8]>, want: &[u8]) -> TestResult<()> {
        self.check(got == Some(want), || {
            let got = got.map_or("nothing".to_string(), show);
            format!("wrong value {got} committed for index {index}; expected {}", show(want))
        })
    }
}
