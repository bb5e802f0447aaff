//! Sending a turn's datagrams with as few system calls as the kernel
//! allows: `sendmmsg` on Linux (up to [`BATCH`] datagrams per call, each to
//! its own address), one `send_to` each elsewhere.

use std::io;
use std::net::UdpSocket;

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
