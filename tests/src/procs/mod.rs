//! Helpers for tests that run the real `node` binary as processes: a
//! cluster of `node run` children on loopback (or inside network
//! namespaces), `kill -9` and restart, client commands through the `node`
//! CLI, an oracle of acknowledged writes, WAL corruption and garbage
//! datagrams, and a network-namespace lab with `nftables` faults.
//!
//! - [`binary`]: finds (and, under cargo, builds) the `node` executable.
//! - [`cluster`]: [`ProcCluster`]: a temp dir with `cluster.toml`, one child
//!   per member, killed on drop.
//! - [`cli`]: `node put/get/status --json` as typed calls.
//! - [`oracle`]: a writer that records every acknowledged write, and the
//!   final check that each one reads back.
//! - [`faults`]: corrupting a WAL segment, spraying datagrams (paced, or
//!   a flood of garbage and mutated real frames with the drop reason each
//!   should get).
//! - [`netns`]: namespaces, a bridge, veth pairs and `nft` rules, removed
//!   on drop.
//!
//! Not here: timing measurements (`src/bin/node_bench.rs`) and the long
//! soaks (`src/bin/soak.rs`).

pub mod binary;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod faults;
pub mod netns;
pub mod oracle;

pub use cluster::{ClusterSpec, ProcCluster};
pub use error::{ProcError, Result};
