//! A UDP transport for the members of one cluster: typed messages (serde +
//! postcard) between numbered endpoints, over a network that may drop,
//! delay, duplicate and reorder datagrams.
//!
//! What it does:
//! - frames each datagram with a checksummed header (see [`wire`] for the
//!   format) and keeps every datagram within 1200 bytes; larger messages
//!   travel as fragments and are reassembled, with bounded memory and a
//!   timeout for incomplete ones;
//! - acknowledges fragments (piggy-backed on data, else batched) and
//!   retransmits what is not acknowledged, on an RTO estimated as in
//!   RFC 6298 with doubling backoff, until a per-message deadline;
//! - **delivers a message at most once; order is not guaranteed.** A
//!   message whose deadline passes is dropped and counted, never reported to
//!   the sender's application. Message ids count within a random per-endpoint
//!   boot id carried in every datagram, and the receiver deduplicates per
//!   (peer, boot), so a restarted peer is heard at once with no clock or
//!   saved state involved ([`Endpoint::boot_id`]);
//! - authenticates datagrams with HMAC-SHA256 (truncated to 16 bytes) when
//!   the cluster shares a secret, and drops datagrams from other clusters,
//!   unknown addresses or ids, or that fail any check, counting each by
//!   reason ([`Counters`]); no input from the network can make it panic;
//! - injects faults on demand ([`FaultConfig`]): loss per direction, delay,
//!   duplication, reordering, blocked peers.
//!
//! Clients: with [`Config::accept_clients`], an endpoint also talks to
//! processes that are not in its peer table, with ids at or above
//! [`CLIENT_ID_MIN`]; their (ephemeral) addresses are learned from their
//! first valid datagram into a bounded table (least recently heard evicted).
//!
//! Peers may change at run time: [`Endpoint::set_peer`] adds a member or
//! moves it to a new address (its queue, RTO and dedup state kept),
//! [`Endpoint::remove_peer`] forgets one; the caller decides membership.
//!
//! What it does not: ordering, congestion control (a fixed window of
//! fragments in flight per peer), encryption, peer discovery or name
//! resolution, IP fragmentation.
//!
//! The protocol core, [`Endpoint`], is sans-IO (as quinn-proto): it is fed
//! datagrams and the time and hands out datagrams to send and its next
//! deadline, so it runs in virtual time as well as on sockets. [`Transport`]
//! drives it on an `async-io` UDP socket (the `smol` reactor).
//!
//! ```
//! use std::collections::BTreeMap;
//! use net::{Config, Endpoint};
//!
//! let addrs: BTreeMap<u64, std::net::SocketAddr> =
//!     [(1, "127.0.0.1:7001".parse().unwrap()), (2, "127.0.0.1:7002".parse().unwrap())].into();
//! let mut a = Endpoint::new(Config::new(42, 1, addrs.clone())).unwrap();
//! let mut b = Endpoint::new(Config::new(42, 2, addrs.clone())).unwrap();
//!
//! let now_us = 0; // virtual time: the caller owns the clock
//! a.send(now_us, 2, &("hello", 7u32)).unwrap();
//! while let Some(t) = a.poll_transmit(now_us) {
//!     b.handle_datagram(now_us, addrs[&1], &t.bytes);
//! }
//! assert_eq!(b.poll_message::<(String, u32)>(), Some((1, ("hello".to_string(), 7))));
//! // b's ack goes back and a forgets the message.
//! while let Some(t) = b.poll_transmit(now_us) {
//!     a.handle_datagram(now_us, addrs[&2], &t.bytes);
//! }
//! assert_eq!(a.queued(2), 0);
//! ```
//!
//! On sockets, with `smol`'s reactor:
//!
//! ```no_run
//! # use std::collections::BTreeMap;
//! # let addrs: BTreeMap<u64, std::net::SocketAddr> = BTreeMap::new();
//! let mut t = net::Transport::<String>::bind(net::Config::new(42, 1, addrs)).unwrap();
//! t.send(2, &"ping".to_string()).unwrap();
//! let (from, msg) = async_io::block_on(t.recv());
//! ```

mod auth;
mod batch;
mod blocking;
mod boot;
mod clients;
mod config;
mod counters;
mod driver;
mod endpoint;
mod faults;
mod fragment;
mod peers;
pub mod reassembly;
mod receive;
pub mod reliability;
mod unauth;
pub mod wire;

pub use blocking::BlockingTransport;
pub use config::{Config, ConfigError, NodeId, CLIENT_ACK_DELAY_US, CLIENT_ID_MIN};
pub use counters::{Counters, DropReason, Drops};
pub use driver::{size_socket_buffers, BindError, Transport};
pub use endpoint::{Delivered, Endpoint, RttEstimate, SendError, Transmit};
pub use faults::FaultConfig;
pub use reliability::rto::RtoConfig;
pub use wire::VERSION as WIRE_VERSION;
