//! The load on the cluster: puts to `bench/<client>/<i % keys>`, gets of
//! random keys among `bench/k/0..keys` (preloaded first by a few clients),
//! or a mix. Each client thread first does one unmeasured operation of
//! each kind it will do (the warm-up: it finds the leader, or the member
//! it reads from), so the first redirect is not in the latencies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::drive::{drive, Budget, Outcome};
use super::Plan;
use crate::client::Client;
use crate::config::ClusterConfig;

/// Clients that preload the keys of get and mixed.
const PRELOAD_CLIENTS: u64 = 8;

/// The measured load, and how many warm-up operations failed.
#[derive(Debug)]
pub(super) struct Load {
    pub outcome: Outcome,
    pub warmup_errors: u64,
}

/// The key of put number `i` of `client`.
pub(super) fn put_key(client: u64, i: u64) -> String {
    format!("bench/{client}/{i}")
}

/// Preloaded key number `n`, which gets read.
pub(super) fn preload_key(n: u64) -> String {
    format!("bench/k/{n}")
}

/// Preloads the keys if the plan reads, then runs the load.
pub(super) fn run(plan: &Plan, config: &ClusterConfig, timeout: Duration) -> Result<Load, String> {
    if plan.gets() {
        preload(plan, config, timeout)?;
    }
    measure(plan, config, timeout, plan.mode.name())
}

/// The load alone, on keys already preloaded (`suite` preloads once for
/// all its rows); `label` names its progress bar.
pub(super) fn measure(
    plan: &Plan,
    config: &ClusterConfig,
    timeout: Duration,
    label: &str,
) -> Result<Load, String> {
    let warmup_errors = AtomicU64::new(0);
    let setup = |c| {
        let mut worker = Worker::new(plan, config, timeout, c)?;
        let failed = worker.warm_up();
        warmup_errors.fetch_add(failed, Ordering::Relaxed);
        Ok(worker)
    };
    let outcome = drive(label, plan.clients, plan.budget, plan.progress, setup, |w, turn| w.op(turn.i))?;
    Ok(Load { outcome, warmup_errors: warmup_errors.into_inner() })
}

/// Every key gets read must exist: a failed preload put stops the run.
pub(super) fn preload(plan: &Plan, config: &ClusterConfig, timeout: Duration) -> Result<(), String> {
    let value = payload(plan.value_bytes, u64::MAX);
    let setup = |_| Client::new(config, timeout).map_err(|e| e.to_string());
    let clients = plan.clients.min(PRELOAD_CLIENTS);
    let out = drive("preload", clients, Budget::Total(plan.keys), plan.progress, setup, |c, turn| {
        c.put(&preload_key(turn.ticket), &value).map_err(|e| e.to_string())
    })?;
    match out.first_error {
        None => Ok(()),
        Some(e) => Err(format!("preload: {} of {} puts failed (first: {e})", out.errors, plan.keys)),
    }
}

/// One client thread's state.
struct Worker<'a> {
    plan: &'a Plan,
    client: Client,
    id: u64,
    value: Vec<u8>,
    rng: u64,
}

impl<'a> Worker<'a> {
    fn new(plan: &'a Plan, config: &ClusterConfig, timeout: Duration, id: u64) -> Result<Self, String> {
        let client = Client::new(config, timeout).map_err(|e| format!("client {id}: {e}"))?;
        let rng = 0x9e37_79b9_7f4a_7c15 ^ id.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        Ok(Worker { plan, client, id, value: payload(plan.value_bytes, id), rng })
    }

    /// One unmeasured operation of each kind this load does; how many
    /// failed (reported: a cluster that fails here will fail the load).
    fn warm_up(&mut self) -> u64 {
        let put = self.plan.puts().then(|| self.put(0));
        let get = self.plan.gets().then(|| self.get());
        [put, get].into_iter().flatten().filter(Result::is_err).count() as u64
    }

    fn op(&mut self, i: u64) -> Result<(), String> {
        let read = self.plan.read_ratio >= 1.0
            || (self.plan.read_ratio > 0.0 && unit(splitmix(&mut self.rng)) < self.plan.read_ratio);
        match read {
            true => self.get(),
            false => self.put(i),
        }
    }

    /// Overwrites the value's first bytes with `i` so that no two
    /// consecutive puts carry the same bytes.
    fn put(&mut self, i: u64) -> Result<(), String> {
        let stamp = i.to_le_bytes();
        let n = stamp.len().min(self.value.len());
        self.value[..n].copy_from_slice(&stamp[..n]);
        let key = put_key(self.id, i % self.plan.keys);
        self.client.put(&key, &self.value).map_err(|e| format!("put {key}: {e}"))
    }

    fn get(&mut self) -> Result<(), String> {
        let key = preload_key(splitmix(&mut self.rng) % self.plan.keys);
        let (consistency, from) = (self.plan.consistency, self.plan.from);
        self.client.get_with(&key, consistency, from).map(drop).map_err(|e| format!("get {key}: {e}"))
    }
}

/// `bytes` pseudo-random bytes, different for each `seed`: values that do
/// not compress to nothing anywhere on their way.
fn payload(bytes: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..bytes.div_ceil(8)).flat_map(|_| splitmix(&mut state).to_le_bytes()).take(bytes).collect()
}

/// SplitMix64: a tiny, good-enough generator for keys, mixes and values.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A draw in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}
