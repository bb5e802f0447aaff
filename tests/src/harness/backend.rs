//! The `Cluster` API of the design: what a scenario may do to a group of
//! Raft servers, whatever runs them (the simulator now, real nodes later).

use std::time::Duration;

use super::{ApplyChecker, TestResult};

/// A group of `servers()` Raft servers, numbered `0..servers()`.
///
/// Object safe, so a scenario is written once against `dyn Backend`. The
/// semantics follow the lab's tester: a disconnected server keeps running
/// but is cut off both ways (its messages in flight are lost); a crashed
/// server is gone until `restart`, which builds a new one from what the old
/// one persisted and leaves it disconnected until the scenario connects it.
pub trait Backend {
    fn servers(&self) -> usize;
    /// Time since the cluster started (virtual or real).
    fn now(&self) -> Duration;
    /// Lets the cluster run for `d`. Returns the first invariant violation
    /// seen meanwhile, if any.
    fn sleep(&mut self, d: Duration) -> TestResult<()>;
    fn connect(&mut self, i: usize);
    fn disconnect(&mut self, i: usize);
    fn is_connected(&self, i: usize) -> bool;
    /// Stops server `i` (and disconnects it); it keeps only what it persisted.
    fn crash(&mut self, i: usize);
    /// A new server `i` from what was persisted; a running one is crashed
    /// first (the lab's `start1`). It starts disconnected.
    fn restart(&mut self, i: usize);
    /// Offers `cmd` to server `i`, connected or not (the lab's `Start`).
    /// `Some((index, term))` if it accepted as leader; `None` if it is not
    /// the leader or is crashed.
    fn propose(&mut self, i: usize, cmd: &[u8]) -> Option<(u64, u64)>;
    /// `(current_term, is_leader)` of server `i`; `None` if crashed.
    fn state(&self, i: usize) -> Option<(u64, bool)>;
    /// Requests handed to the network so far (a reply is not counted).
    fn rpc_count(&self) -> u64;
    /// Encoded bytes of those requests.
    fn byte_count(&self) -> u64;
    /// The lab's unreliable network: loss, delay, reordering.
    fn set_unreliable(&mut self, on: bool);
    /// The lab's long reordering: most replies delayed 200–2200 ms.
    fn set_long_reordering(&mut self, on: bool);
    /// Server `i` can send but not receive (a one-way partition) while
    /// `deaf`; `connect` and `disconnect` leave it so. Back ends that
    /// cannot cut one direction refuse.
    fn set_deaf(&mut self, i: usize, deaf: bool) -> TestResult<()> {
        let _ = (i, deaf);
        Err(super::Failure::Scenario {
            event: self.event_number(),
            what: "this back end cannot make one-way partitions".into(),
        })
    }
    /// Bytes of Raft state server `i` persists (hard state and log, each
    /// entry's data with its framing; the snapshot not included), crashed
    /// or not.
    fn raft_state_bytes(&self, i: usize) -> usize;
    /// What each server applied, checked as it is applied.
    fn apply_checker(&self) -> &ApplyChecker;
    /// Each server's state in a line (role, term, indexes), for failure
    /// reports; empty where the back end cannot tell.
    fn describe(&self) -> String {
        String::new()
    }
    /// Where the back end is in its history (the simulator's event number),
    /// for failure reports.
    fn event_number(&self) -> u64;
    /// The run as a timeline, if the back end recorded one
    /// (`Sim::record_timeline`).
    fn take_timeline(&mut self, _title: &str) -> Option<node::timeline::Timeline> {
        None
    }
}
