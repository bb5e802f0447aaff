//! Moving datagrams with as few system calls as the kernel allows.
//! Sending: `sendmmsg` on Linux (up to [`BATCH`] datagrams per call, each
//! to its own address), one `send_to` each elsewhere. Receiving
//! ([`Receiver`]): `quinn-udp`, which reads up to its batch per call with
//! `recvmmsg` and takes GRO-coalesced runs of datagrams where the kernel
//! offers them.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};

use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState};

use crate::endpoint::Transmit;

/// Datagrams handed to the kernel per call at most.
pub const BATCH: usize = 32;

/// Sends the first datagrams of `batch`; how many went. An error is the
/// first datagram's (`WouldBlock` when the socket buffer is full): the
/// caller keeps the rest.
#[cfg(target_os = "linux")]
pub fn send(socket: &UdpSocket, batch: &[Transmit]) -> io::Result<usize> {
    use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
    if let [only] = batch {
        return socket.send_to(&only.bytes, only.to).map(|_| 1);
    }
    let batch = &batch[..batch.len().min(BATCH)];
    let addrs: Vec<SocketAddrAny> = batch.iter().map(|t| SocketAddrAny::from(t.to)).collect();
    let iovs: Vec<[io::IoSlice<'_>; 1]> = batch.iter().map(|t| [io::IoSlice::new(&t.bytes)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
        batch.iter().map(|_| Default::default()).collect();
    let mut msgs: Vec<MMsgHdr<'_>> = (addrs.iter().zip(&iovs).zip(controls.iter_mut()))
        .map(|((addr, iov), control)| MMsgHdr::new_with_addr(addr, iov, control))
        .collect();
    sendmmsg(socket, &mut msgs, SendFlags::empty()).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub fn send(socket: &UdpSocket, batch: &[Transmit]) -> io::Result<usize> {
    let first = batch.first().ok_or_else(|| io::Error::other("empty batch"))?;
    socket.send_to(&first.bytes, first.to).map(|_| 1)
}

/// Bytes read per datagram at most: more than any datagram the transport
/// sends ([`crate::wire::MAX_DATAGRAM`]), so a longer one, truncated or not,
/// is seen as too long and dropped.
const RECV_SLOT_BYTES: usize = 2048;

/// Reads datagrams in batches into buffers it keeps: no allocation per
/// datagram or per call.
#[derive(Debug)]
pub struct Receiver {
    state: UdpSocketState,
    /// `quinn_udp::BATCH_SIZE` slots, each room for a GRO run.
    buf: Vec<u8>,
    slot: usize,
    meta: Vec<RecvMeta>,
}

impl Receiver {
    /// Sets the socket up for batched reads (non-blocking, GRO where the
    /// kernel has it).
    pub fn new(socket: &UdpSocket) -> io::Result<Receiver> {
        let state = UdpSocketState::new(UdpSockRef::from(socket))?;
        let slot = RECV_SLOT_BYTES * state.gro_segments().max(1);
        let batch = quinn_udp::BATCH_SIZE;
        Ok(Receiver { state, buf: vec![0; slot * batch], slot, meta: vec![RecvMeta::default(); batch] })
    }

    /// One read of up to a batch; `on_datagram` gets each datagram with its
    /// sender. Returns how many datagrams were read; `WouldBlock` when none
    /// waited.
    pub fn recv(
        &mut self,
        socket: &UdpSocket,
        mut on_datagram: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let mut chunks = self.buf.chunks_mut(self.slot);
        let mut slots: [IoSliceMut<'_>; quinn_udp::BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let n = self.state.recv(UdpSockRef::from(socket), &mut slots, &mut self.meta)?;
        let mut datagrams = 0;
        for (meta, slot) in self.meta[..n].iter().zip(self.buf.chunks(self.slot)) {
            let stride = meta.stride.max(1);
            for datagram in slot[..meta.len.min(slot.len())].chunks(stride) {
                on_datagram(meta.addr, datagram);
                datagrams += 1;
            }
        }
        Ok(datagrams)
    }
}
