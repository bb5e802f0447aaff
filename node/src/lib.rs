//! A member of a Raft cluster and its clients: `cluster.toml`, the event
//! loop that wires the `raft` core to the `wal` log and the `net`
//! transport, a key-value state machine with client sessions, and the
//! client that finds the leader. Members snapshot their state machine and
//! drop the log behind it, and stream snapshots to followers that need
//! them (`member::snapshot_store`, `snapshots`; docs/snapshots.md). Operators
//! change the membership one server at a time (`member/admin.rs`); a
//! member whose removal committed stops, and says so again if restarted
//! (`removed.rs`).
//!
//! ```no_run
//! use node::config::ClusterConfig;
//! use node::kv::KvStore;
//! use node::server::{Server, ServerOptions};
//!
//! let config = ClusterConfig::load("cluster.toml".as_ref())?;
//! let data_dir = config.node_data_dir(1);
//! let options = ServerOptions { config, id: 1, data_dir, noop_on_election: true, join: None };
//! let server = Server::start(options, Box::new(KvStore::default()))?;
//! println!("{:?}", server.status());
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Files: `config.rs` (cluster.toml), `addr.rs` (member addresses:
//! IP or host name), `storage.rs` (raft ↔ wal),
//! `member/` (a turn's logic without I/O: persist, send, apply, answer
//! clients; the event loop and the simulator both drive it),
//! `server/` (the handle and the event loop), `proto.rs` (the wire enum),
//! `kv.rs` (the state machine), `client.rs` (leader finding, retries),
//! `cli/` (the `node` binary's subcommands).

pub mod addr;
pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod kv;
pub mod limits;
pub mod member;
pub mod metrics;
pub mod proto;
pub mod removed;
pub mod server;
pub mod snapshot_files;
pub mod storage;
pub mod timeline;
