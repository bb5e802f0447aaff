//! One member of a live cluster: its running [`Server`] (none while
//! crashed), the counters of its stopped incarnations, and the state
//! machine that reports every apply to the shared [`ApplyChecker`].

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use node::server::Server;

use crate::harness::{ApplyChecker, Failure};

/// What the members' threads and the tester share: the apply checker and
/// the first failure seen, which wakes a sleeping tester at once.
pub struct Shared {
    pub checker: Arc<ApplyChecker>,
    failure: Mutex<Option<Failure>>,
    failed: Condvar,
    pub started: Instant,
}

impl Shared {
    pub fn new(servers: usize) -> Shared {
        Shared {
            checker: Arc::new(ApplyChecker::new(servers)),
            failure: Mutex::new(None),
            failed: Condvar::new(),
            started: Instant::now(),
        }
    }

    /// Milliseconds since the cluster started: the "event number" a live
    /// failure report names.
    pub fn event(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Failure>> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the first failure (later ones follow from it) and wakes
    /// [`Shared::sleep`].
    pub fn record(&self, failure: Failure) {
        let mut f = self.lock();
        if f.is_none() {
            *f = Some(failure);
            self.failed.notify_all();
        }
    }

    /// Sleeps `d` of real time, or less if a failure is recorded meanwhile;
    /// returns that failure.
    pub fn sleep(&self, d: Duration) -> Result<(), Failure> {
        let guard = self.lock();
        let (guard, _) =
            self.failed.wait_timeout_while(guard, d, |f| f.is_none()).unwrap_or_else(|p| p.into_inner());
        match &*guard {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }
}

/// Requests and their bytes handed to the transport.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub rpcs: u64,
    pub bytes: u64,
}

/// A member slot.
#[derive(Default)]
pub struct Member {
    pub server: Option<Server>,
    /// Counted by incarnations that were stopped.
    pub stopped: Counts,
    /// Incarnations started so far (seeds the fault injector).
    pub incarnations: u64,
    /// The Raft state the last stopped incarnation held.
    pub stopped_raft_state_bytes: usize,
}

impl Member {
    /// Everything this member handed to the transport, over all its
    /// incarnations.
    pub fn counts(&self) -> Counts {
        let running = self.server.as_ref().map(|s| s.stats());
        Counts {
            rpcs: self.stopped.rpcs + running.as_ref().map_or(0, |s| s.rpcs),
            bytes: self.stopped.bytes + running.as_ref().map_or(0, |s| s.rpc_bytes),
        }
    }

    /// Stops the running incarnation (if any), keeping its counts. Returns
    /// when its event loop has ended and its WAL is closed.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            let stats = server.stats();
            self.stopped.rpcs += stats.rpcs;
            self.stopped.bytes += stats.rpc_bytes;
            self.stopped_raft_state_bytes = server.raft_state_bytes();
            server.stop();
        }
    }

    /// The Raft state this member holds (its last incarnation's, when
    /// stopped).
    pub fn raft_state_bytes(&self) -> usize {
        self.server.as_ref().map_or(self.stopped_raft_state_bytes, Server::raft_state_bytes)
    }
}
