//! How a scenario fails: a broken safety invariant seen by the back end, or
//! a check of the scenario itself (the lab tester's `Fatalf`).

/// Why a run failed. `event` locates the failure in the back end's history
/// (the simulator's event number), so a replay can stop right there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// A safety property of Raft broke (checked after every event).
    #[error("invariant violated at event {event}: {what}")]
    Invariant { event: u64, what: String },
    /// A scenario's own check failed (liveness, counts, indexes).
    #[error("{what} (at event {event})")]
    Scenario { event: u64, what: String },
}

impl Failure {
    /// The back end's event number at the failure.
    pub fn event(&self) -> u64 {
        match self {
            Failure::Invariant { event, .. } | Failure::Scenario { event, .. } => *event,
        }
    }
}

/// The result of every harness call that can fail.
pub type TestResult<T> = Result<T, Failure>;
