//! A sans-IO Raft consensus core: Figure 2 of the Raft paper (Ongaro and
//! Ousterhout, "In Search of an Understandable Consensus Algorithm") as a
//! pure state machine.
//!
//! It does no I/O, reads no clock, starts no thread. The driver feeds it
//! [`Raft::tick`] (logical time), [`Raft::step`] (messages from peers) and
//! [`Raft::propose`] (client commands), and drains [`Raft::ready`]: state to
//! persist, then messages to send, then committed entries to apply; then it
//! calls [`Raft::advance`] (or, overlapping its writes with the network,
//! sends [`Ready::take_early_messages`] at once and reports each completed
//! sync with [`Raft::persisted`], thesis §10.2.1). Randomness (election timeouts) comes from an RNG
//! the driver injects, so a seed replays a run exactly.
//!
//! Beyond Figure 2: the election restriction (§5.4.1), the commit rule for
//! earlier terms (§5.4.2), heartbeats at once on election, the fast
//! conflict-term / conflict-index backoff, batched and pipelined
//! AppendEntries with flow control, CheckQuorum, and an optional no-op entry
//! on election, and log compaction behind the service's snapshots with
//! InstallSnapshot (§7; the data is streamed by the driver, `snapshot.rs`),
//! PreVote (thesis §9.6), single-server membership changes with learners
//! (thesis chapter 4: `membership.rs`, `reconfig.rs`) and leadership
//! transfer (§3.10, `transfer.rs`). Not here: joint consensus.
//! `docs/raft-core.md` lists every choice the paper leaves open.
//!
//! Where to look, by Figure 2 box: `election.rs` (RequestVote, followers
//! and candidates), `replication.rs` (AppendEntries), `commit.rs` (the
//! leader's commit rule), `progress.rs` (nextIndex / matchIndex),
//! `log.rs` (the log), `message.rs` (the RPCs), `server.rs` (rules for all
//! servers, the driver interface), `role.rs` (what only one role has: the
//! votes of a candidate, the leader's progress, budget and transfer).
//!
//! ```
//! use rand_chacha::rand_core::SeedableRng;
//! use raft::{Config, Persisted, Raft, Role};
//!
//! let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(7));
//! let mut raft = Raft::new(Config::lab(1, vec![1]), Persisted::default(), rng).unwrap();
//! while raft.role() != Role::Leader {
//!     raft.tick();
//! }
//! let (index, _term) = raft.propose(b"x=1".to_vec()).unwrap();
//! let ready = raft.ready(); // persist ready.hard_state and ready.entries here
//! raft.advance();
//! let ready = raft.ready(); // a single member commits on its own persist
//! assert_eq!(ready.committed_entries.last().map(|e| e.index), Some(index));
//! ```

mod commit;
mod config;
mod election;
mod log;
mod membership;
mod message;
mod progress;
mod read_index;
mod ready;
mod reconfig;
mod replication;
mod role;
mod server;
mod snapshot;
#[cfg(feature = "test-support")]
pub mod testing;
mod transfer;
mod validate;

pub use config::{
    Config, ConfigError, DEFAULT_MAX_UNCOMMITTED_BYTES, ENTRY_OVERHEAD_BYTES, LAB_ELECTION_TICKS,
    LAB_HEARTBEAT_TICKS,
};
pub use log::{Installed, RaftLog, WriteMark};
pub use membership::{Membership, MembershipChange, MAX_ADDRESS_BYTES, MAX_MEMBERS};
pub use message::{AppendReply, Body, Entry, EntryKind, HardState, Message, NodeId, SnapshotMeta};
pub use read_index::{LeaseRead, ReadError, ReadState};
pub use ready::{Persisted, Ready, SnapshotInstall};
pub use reconfig::MembershipError;
pub use replication::ReplicationCounters;
pub use server::{CompactError, ProposeError, Raft, RestoreError, Role, Status, StepError};
pub use transfer::TransferError;
pub use validate::{MAX_INDEX, MAX_TERM, MAX_TERM_JUMP};
