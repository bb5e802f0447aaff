//! One simulated server: the node's own member logic (`node::member`: the
//! Raft core, a state machine, waiting clients, the turn order) over a
//! simulated disk, with its incarnation number and the inputs that wait
//! while a turn is in progress.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use node::member::{Member, WriteId};

use super::disk::{DiskProfile, SimDisk};
use super::queue::{Addr, Packet};

/// An input waiting for the member's turn to end (the event loop takes its
/// inputs between turns).
#[derive(Debug)]
pub enum Input {
    Tick,
    Packet { from: Addr, packet: Packet },
}

/// Where a nemesis may crash a server in the middle of a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Writes handed out, nothing written yet.
    BeforeWrite,
    /// Written, the sync not yet complete.
    DuringSync,
    /// Synced, the messages not yet sent.
    BeforeSend,
    /// Messages sent, clients not yet answered.
    BeforeReply,
}

impl CrashPoint {
    pub const ALL: [CrashPoint; 4] =
        [CrashPoint::BeforeWrite, CrashPoint::DuringSync, CrashPoint::BeforeSend, CrashPoint::BeforeReply];
}

/// A server slot: the running member (`None` while crashed) and its disk.
pub struct SimNode {
    pub member: Option<Member>,
    /// Bumped by every crash and restart: packets, ticks and syncs of an
    /// older incarnation are dropped.
    pub incarnation: u64,
    pub disk: SimDisk,
    /// A proposal is waiting for the member to be polled.
    pub dirty: bool,
    pub deferred: VecDeque<Input>,
    /// Crash when the member's turn reaches this point.
    pub crash_at: Option<CrashPoint>,
    /// The last write the member handed out.
    pub written: Option<WriteId>,
    /// The sync in progress: the last write and how many unsynced writes
    /// it covers.
    pub syncing: Option<(WriteId, usize)>,
}

impl SimNode {
    pub fn new(profile: DiskProfile) -> SimNode {
        SimNode {
            member: None,
            incarnation: 0,
            disk: SimDisk::new(profile),
            dirty: false,
            deferred: VecDeque::new(),
            crash_at: None,
            written: None,
            syncing: None,
        }
    }

    /// A turn is in progress: inputs wait in `deferred` (a sync in
    /// progress does not hold them up).
    pub fn busy(&self) -> bool {
        self.member.as_ref().is_some_and(|m| m.in_turn())
    }

    /// True when the crash point `point` is armed; disarms it.
    pub fn crashes_at(&mut self, point: CrashPoint) -> bool {
        if self.crash_at == Some(point) {
            self.crash_at = None;
            return true;
        }
        false
    }
}

/// The first violation a state machine saw, for the simulator to report.
pub type Violations = Arc<Mutex<Option<String>>>;
