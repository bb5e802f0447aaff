//! A driver for one thread that may block: an [`Endpoint`] on a std
//! `UdpSocket` with read timeouts, without an async runtime.
//!
//! For clients with one request in flight (the `node` client library and
//! CLI): many of them in one process, each on its own thread, would
//! otherwise share one `async-io` reactor and pay its wake-ups and locks
//! on every message. Same endpoint, same behaviour on the wire as
//! [`crate::Transport`]: acks for what arrived ride on the next request,
//! or leave alone before the thread blocks again.

use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{Config, NodeId};
use crate::driver::{size_socket_buffers, BindError};
use crate::endpoint::{Endpoint, SendError};

/// An endpoint on a blocking UDP socket, moving messages of type `M`.
#[derive(Debug)]
pub struct BlockingTransport<M> {
    endpoint: Endpoint,
    socket: UdpSocket,
    epoch: Instant,
    buf: Vec<u8>,
    _msg: PhantomData<fn() -> M>,
}

impl<M: Serialize + DeserializeOwned> BlockingTransport<M> {
    /// The endpoint of `config` on `socket` (already bound).
    pub fn with_socket(config: Config, socket: UdpSocket) -> Result<Self, BindError> {
        let endpoint = Endpoint::new(config)?;
        size_socket_buffers(&socket);
        socket.set_nonblocking(false)?;
        Ok(BlockingTransport {
            endpoint,
            socket,
            epoch: Instant::now(),
            buf: vec![0; 2048],
            _msg: PhantomData,
        })
    }

    /// Queues `msg` for `to` and sends what can be sent.
    pub fn send(&mut self, to: NodeId, msg: &M) -> Result<u64, SendError> {
        let id = self.endpoint.send(self.now_us(), to, msg)?;
        self.flush();
        Ok(id)
    }

    /// Adds member `id` at `addr` or moves it there (see
    /// [`Endpoint::set_peer`]).
    pub fn set_peer(&mut self, id: NodeId, addr: SocketAddr) {
        self.endpoint.set_peer(id, addr);
        self.flush();
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Stops sending message `msg_id` to `to` (see [`Endpoint::cancel`]).
    pub fn cancel(&mut self, to: NodeId, msg_id: u64) {
        self.endpoint.cancel(to, msg_id);
    }

    /// The next message, or `None` once `timeout` has passed. Runs the
    /// endpoint's timers (retransmissions) while it waits.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<(NodeId, M)> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(m) = self.endpoint.poll_message() {
                return Some(m);
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            self.endpoint.handle_timeout(self.now_us());
            self.flush();
            let timer = self.endpoint.poll_timeout().map(|t| self.epoch + Duration::from_micros(t));
            let wake = timer.map_or(until, |t| t.min(until));
            self.receive(wake.saturating_duration_since(now).max(Duration::from_micros(1)));
        }
    }

    /// Waits at most `wait` for one datagram and hands it to the endpoint.
    fn receive(&mut self, wait: Duration) {
        if self.socket.set_read_timeout(Some(wait)).is_err() {
            return self.endpoint.record_recv_error();
        }
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, from)) => {
                let now = self.now_us();
                self.endpoint.handle_datagram(now, from, &self.buf[..n]);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => {
                tracing::debug!(target: "net", error = %e, "receive failed");
                self.endpoint.record_recv_error();
            }
        }
    }

    /// Sends every datagram the endpoint has.
    fn flush(&mut self) {
        let now = self.now_us();
        while let Some(t) = self.endpoint.poll_transmit(now) {
            if let Err(e) = self.socket.send_to(&t.bytes, t.to) {
                tracing::debug!(target: "net", to = %t.to, error = %e, "send failed");
                self.endpoint.record_send_error();
            }
        }
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}
