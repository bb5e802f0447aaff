//! The I/O driver: an [`Endpoint`] on a real UDP socket, run by `smol`'s
//! reactor (`async-io`): `Async<UdpSocket>` for the socket, `Timer` for
//! the endpoint's deadlines.
//!
//! It makes progress while [`Transport::recv`] or [`Transport::drive`] is
//! awaited, and flushes on every [`Transport::send`]. Socket errors
//! (ECONNREFUSED from an ICMP, ENOBUFS, anything else) are counted and the
//! datagram forgotten (retransmission covers it); they never end the loop.
//! Datagrams are read and sent in batches (`batch.rs`). A datagram longer
//! than a receive slot arrives truncated, is longer than
//! [`crate::wire::MAX_DATAGRAM`] and is dropped as too large.

use std::collections::VecDeque;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::future;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{Config, ConfigError, NodeId};
use crate::endpoint::{Endpoint, SendError, Transmit};

/// Kernel socket buffers asked for, so bursts of datagrams are not dropped
/// by the kernel.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;
/// Asks the kernel for the transport's socket buffers on `socket`, best
/// effort (it may cap them: `net.core.rmem_max`), so a burst of datagrams
/// is not dropped before it is read. Also for sockets that measure what the
/// transport is compared with (`node bench floor`).
pub fn size_socket_buffers(socket: &UdpSocket) {
    let sock = socket2::SockRef::from(socket);
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER_BYTES);
}

/// Datagrams read per turn before timers and sends get a chance.
const READ_BATCH: usize = 64;
/// Datagrams sent per flush before the socket is read again. A bulk
/// transfer's window (hundreds of fragments) sent in one go would hold a
/// small message that arrived meanwhile, a client's request or a
/// follower's acknowledgement, for the whole burst (1-2 ms on loopback,
/// where the kernel delivers each datagram inside the send call).
const FLUSH_BATCH: usize = 2 * crate::batch::BATCH;

/// Why a transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind UDP socket: {0}")]
    Io(#[from] io::Error),
}

/// An endpoint on a UDP socket, moving messages of type `M`.
#[derive(Debug)]
pub struct Transport<M> {
    endpoint: Endpoint,
    socket: Async<UdpSocket>,
    epoch: Instant,
    /// Datagrams the socket would not take yet, in order.
    pending: VecDeque<Transmit>,
    /// The last flush stopped at [`FLUSH_BATCH`] with more to send.
    more: bool,
    receiver: crate::batch::Receiver,
    _msg: PhantomData<fn() -> M>,
}

impl<M: Serialize + DeserializeOwned> Transport<M> {
    /// Binds this node's address from the peer table.
    pub fn bind(config: Config) -> Result<Self, BindError> {
        let addr = *config.peers.get(&config.id).ok_or(ConfigError::SelfNotInPeers(config.id))?;
        Self::with_socket(config, UdpSocket::bind(addr)?)
    }

    /// Uses a socket bound by the caller (e.g. to port 0 in tests). The
    /// endpoint gets a random boot id: no wall clock or saved state is
    /// needed for peers to tell this run from an earlier one.
    pub fn with_socket(config: Config, socket: UdpSocket) -> Result<Self, BindError> {
        let endpoint = Endpoint::new(config)?;
        size_socket_buffers(&socket);
        let receiver = crate::batch::Receiver::new(&socket)?;
        Ok(Transport {
            endpoint,
            socket: Async::new(socket)?,
            epoch: Instant::now(),
            pending: VecDeque::new(),
            more: false,
            receiver,
            _msg: PhantomData,
        })
    }

    /// Queues `msg` for `to` and sends what can be sent without waiting.
    pub fn send(&mut self, to: NodeId, msg: &M) -> Result<u64, SendError> {
        let id = self.endpoint.send(self.now_us(), to, msg)?;
        self.flush();
        Ok(id)
    }

    /// The next message from any peer.
    ///
    /// Yields to the executor after every turn that delivered nothing: a
    /// socket that never runs dry (a flood of garbage) would otherwise keep
    /// this future ready forever, and whatever the caller races it against
    /// (its timer: a leader's heartbeats) would never run.
    pub async fn recv(&mut self) -> (NodeId, M) {
        loop {
            if let Some(m) = self.endpoint.poll_message() {
                return m;
            }
            self.drive().await;
            if let Some(m) = self.endpoint.poll_message() {
                return m;
            }
            future::yield_now().await;
        }
    }

    /// The next message, or `None` after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<(NodeId, M)> {
        future::or(async { Some(self.recv().await) }, async {
            Timer::after(timeout).await;
            None
        })
        .await
    }

    /// A message already received, without waiting.
    pub fn try_recv(&mut self) -> Option<(NodeId, M)> {
        self.endpoint.poll_message()
    }

    /// One turn: timers, sends, reads; waits for the socket or the next
    /// deadline only when there was nothing to read and nothing left to
    /// send.
    pub async fn drive(&mut self) {
        self.turn();
        if self.read_available() > 0 || self.more {
            return;
        }
        let deadline = self.endpoint.poll_timeout().map(|t| self.epoch + Duration::from_micros(t));
        let timer = async {
            match deadline {
                Some(at) => drop(Timer::at(at).await),
                None => future::pending::<()>().await,
            }
        };
        let writable = async {
            match !self.pending.is_empty() {
                true => drop(self.socket.writable().await),
                false => future::pending::<()>().await,
            }
        };
        let readable = async { drop(self.socket.readable().await) };
        future::or(readable, future::or(timer, writable)).await;
        self.turn();
        self.read_available();
    }

    /// Adds member `id` at `addr` or moves it there (see
    /// [`Endpoint::set_peer`]: its queued messages now go to `addr`), and
    /// sends what can be sent.
    pub fn set_peer(&mut self, id: NodeId, addr: SocketAddr) {
        self.endpoint.set_peer(id, addr);
        self.flush();
    }

    /// Forgets peer `id` and what was queued for it (see
    /// [`Endpoint::remove_peer`]). A datagram already handed to the socket
    /// for it may still leave.
    pub fn remove_peer(&mut self, id: NodeId) -> bool {
        self.endpoint.remove_peer(id)
    }

    /// Where datagrams to `id` go now.
    pub fn peer_addr(&self, id: NodeId) -> Option<SocketAddr> {
        self.endpoint.peer_addr(id)
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, e.g. to change faults; call [`Transport::flush`] after
    /// queuing messages through it.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.get_ref().local_addr()
    }

    /// Microseconds since this transport started: the endpoint's clock.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Sends the datagrams the endpoint has, in batches (`batch.rs`), until
    /// the socket would block or [`FLUSH_BATCH`] went out; [`Transport::drive`]
    /// sends the rest after it has read what arrived meanwhile.
    pub fn flush(&mut self) {
        let now = self.now_us();
        let mut sent = 0;
        self.more = false;
        loop {
            while self.pending.len() < crate::batch::BATCH {
                let Some(t) = self.endpoint.poll_transmit(now) else { break };
                self.pending.push_back(t);
            }
            if self.pending.is_empty() {
                return;
            }
            if sent >= FLUSH_BATCH {
                self.more = true;
                return;
            }
            let batch = self.pending.make_contiguous();
            match crate::batch::send(self.socket.get_ref(), batch) {
                // None taken (never seen): try again when writable.
                Ok(0) => return,
                Ok(n) => {
                    sent += n;
                    drop(self.pending.drain(..n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    if let Some(t) = self.pending.pop_front() {
                        tracing::debug!(target: "net", to = %t.to, error = %e, "send failed");
                    }
                    self.endpoint.record_send_error();
                }
            }
        }
    }

    fn turn(&mut self) {
        self.endpoint.handle_timeout(self.now_us());
        self.flush();
    }

    /// Reads and handles the datagrams waiting in the socket, a batch per
    /// system call; returns how many were read.
    fn read_available(&mut self) -> usize {
        let mut read = 0;
        // Bounded in calls too: a socket that keeps failing, or yields
        // empty datagrams, must not hold the loop.
        for _ in 0..READ_BATCH {
            if read >= READ_BATCH {
                break;
            }
            let (endpoint, epoch) = (&mut self.endpoint, self.epoch);
            let handle = |from, bytes: &[u8]| {
                let now = epoch.elapsed().as_micros() as u64;
                endpoint.handle_datagram(now, from, bytes);
            };
            match self.receiver.recv(self.socket.get_ref(), handle) {
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(target: "net", error = %e, "receive failed");
                    self.endpoint.record_recv_error();
                }
            }
        }
        read
    }
}
