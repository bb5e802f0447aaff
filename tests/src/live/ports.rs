//! Free loopback UDP ports for live clusters, never the same one twice in a
//! process, so clusters of tests running in parallel threads cannot
//! collide, and a crashed member can restart on its port.
//!
//! Ports come from below the kernel's ephemeral range (32768–60999 by
//! default), where the kernel never hands out a port on its own: a port
//! that was free here stays free for the member that binds it a moment
//! later, and again when it restarts. Each process starts at a point of the
//! range drawn from its pid and the clock, then counts up; a port some
//! other process holds is skipped (a test bind fails).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The range ports are taken from: below the ephemeral range.
const FIRST_PORT: u32 = 10_000;
const PORTS: u32 = 22_000;

/// Offset into the range of the next candidate; `u32::MAX` until the first
/// call picks a starting point.
static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

fn starting_offset() -> u32 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    (std::process::id().wrapping_mul(7919) ^ nanos) % PORTS
}

/// The next candidate port of this process (never repeats until the whole
/// range has been used).
fn next_candidate() -> u16 {
    let _ = NEXT.compare_exchange(u32::MAX, starting_offset(), Ordering::Relaxed, Ordering::Relaxed);
    let offset = NEXT.fetch_add(1, Ordering::Relaxed) % PORTS;
    // FIRST_PORT + offset < 32_000: fits in u16.
    (FIRST_PORT + offset) as u16
}

/// `n` loopback addresses whose ports were free just now and are not
/// handed out again by this process.
pub fn free_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n {
        tries += 1;
        if tries > 1000 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "no free loopback UDP port found",
            ));
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, next_candidate()));
        if UdpSocket::bind(addr).is_ok() {
            out.push(addr);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_across_threads() {
        let handles: Vec<_> = (0..4).map(|_| std::thread::spawn(|| free_addrs(50).unwrap())).collect();
        let mut all: Vec<SocketAddr> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a port was handed out twice");
        assert!(all.iter().all(|a| a.ip().is_loopback() && a.port() >= FIRST_PORT as u16));
    }
}
