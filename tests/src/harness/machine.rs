//! The lab's state machine, shared by both back ends: every applied
//! command goes to the [`ApplyChecker`]. Its state is the list of commands
//! applied (the lab's `xlog`), which is also its snapshot: a restore hands
//! the list to the checker, which compares it with what the other servers
//! applied at each index.

use std::sync::Arc;

use node::member::snapshot_store::SnapshotSource;
use node::member::StateMachine;

use super::ApplyChecker;

/// Where a violation the state machine sees goes (the back end's first
/// failure).
pub type Report = Arc<dyn Fn(String) + Send + Sync>;

/// Server `server`'s state machine.
pub struct LabMachine {
    server: usize,
    checker: Arc<ApplyChecker>,
    report: Report,
    applied: Vec<bytes::Bytes>,
}

impl LabMachine {
    pub fn new(server: usize, checker: Arc<ApplyChecker>, report: Report) -> LabMachine {
        LabMachine { server, checker, report, applied: Vec::new() }
    }
}

impl StateMachine for LabMachine {
    fn apply(&mut self, index: u64, data: &bytes::Bytes) -> Vec<u8> {
        if let Err(what) = self.checker.apply(self.server, index, data) {
            (self.report)(what);
        }
        self.applied.push(data.clone());
        Vec::new()
    }

    fn snapshot(&self) -> Box<dyn SnapshotSource> {
        Box::new(LabSnapshot(self.applied.clone()))
    }

    fn restore(&mut self, data: &mut dyn std::io::Read) -> Result<(), String> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        let commands: Vec<Vec<u8>> = postcard::from_bytes(&bytes).map_err(|e| e.to_string())?;
        if let Err(what) = self.checker.restore(self.server, &commands) {
            (self.report)(what);
        }
        self.applied = commands.into_iter().map(bytes::Bytes::from).collect();
        Ok(())
    }
}

/// The commands applied through a snapshot's index.
struct LabSnapshot(Vec<bytes::Bytes>);

impl SnapshotSource for LabSnapshot {
    fn write_to(self: Box<Self>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let commands: Vec<&[u8]> = self.0.iter().map(|c| &c[..]).collect();
        let bytes = postcard::to_allocvec(&commands).map_err(std::io::Error::other)?;
        out.write_all(&bytes)
    }
}
