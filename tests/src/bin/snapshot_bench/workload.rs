//! Clients: many synchronous ones writing over a fixed key space (the
//! `node` client has one command in flight, so concurrency is threads),
//! and one that records small-put latencies by phase.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use node::client::Client;
use node::config::ClusterConfig;

pub type BoxError = Box<dyn std::error::Error>;

/// The key of slot `n` of a key space (`k00000`…, 6 bytes for 100,000).
pub fn key(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:05}")
}

/// Puts `from..to` (global put numbers) from `clients` threads; put `n`
/// writes key `n % keys`. Returns elapsed seconds.
pub fn puts(
    config: &ClusterConfig,
    clients: u64,
    (from, to): (u64, u64),
    keys: u64,
    prefix: &str,
    value_bytes: usize,
) -> Result<f64, BoxError> {
    let next = Arc::new(AtomicU64::new(from));
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (config, next, prefix) = (config.clone(), next.clone(), prefix.to_string());
            std::thread::spawn(move || -> Result<(), String> {
                let mut client = Client::new(&config, Duration::from_secs(60)).map_err(|e| e.to_string())?;
                let mut value = vec![b'v'; value_bytes];
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= to {
                        return Ok(());
                    }
                    let tag = n.to_le_bytes();
                    let k = value.len().min(8);
                    value[..k].copy_from_slice(&tag[..k]);
                    let key = key(&prefix, n % keys);
                    client.put(&key, &value).map_err(|e| format!("put {key}: {e}"))?;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "client thread panicked")??;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// One client putting `value_bytes`-byte values to `keys` keys in a loop,
/// each latency (µs) recorded in the histogram of the current phase
/// (`phase` indexes them; `phases` or more stops it).
pub struct Prober {
    pub phase: Arc<AtomicUsize>,
    handle: std::thread::JoinHandle<Result<Vec<Histogram<u64>>, String>>,
}

impl Prober {
    pub fn start(config: &ClusterConfig, phases: usize, keys: u64, value_bytes: usize) -> Prober {
        let phase = Arc::new(AtomicUsize::new(0));
        let (config, p) = (config.clone(), phase.clone());
        let handle = std::thread::spawn(move || {
            let mut hists = (0..phases)
                .map(|_| Histogram::<u64>::new_with_bounds(1, 600_000_000, 3))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let mut client = Client::new(&config, Duration::from_secs(60)).map_err(|e| e.to_string())?;
            let value = vec![b'p'; value_bytes];
            let mut n = 0u64;
            loop {
                let now = p.load(Ordering::Relaxed);
                if now >= phases {
                    return Ok(hists);
                }
                let t = Instant::now();
                let key = key("k", n % keys);
                client.put(&key, &value).map_err(|e| format!("probe put {key}: {e}"))?;
                // A put that straddles two phases counts in the later one.
                let at = p.load(Ordering::Relaxed).min(phases - 1).max(now);
                let _ = hists[at].record(t.elapsed().as_micros().max(1) as u64);
                n = n.wrapping_add(7919);
            }
        });
        Prober { phase, handle }
    }

    pub fn next_phase(&self) {
        self.phase.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(self, phases: usize) -> Result<Vec<Histogram<u64>>, BoxError> {
        self.phase.store(phases, Ordering::Relaxed);
        Ok(self.handle.join().map_err(|_| "prober panicked")??)
    }
}
