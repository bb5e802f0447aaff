//! The floor: what this machine does without Raft, measured in the same
//! run so the cluster's figures can be read as multiples of it.
//!
//! - A UDP echo on loopback: one thread echoing datagrams (as a member's
//!   event loop is one thread with one socket), `--clients` threads each
//!   with one datagram of the value's size in flight.
//! - `write` + `fdatasync` of the value's size appended to a file, one
//!   after the other, as the WAL syncs each batch (the value alone: the
//!   WAL's record adds a few dozen bytes).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::drive::{drive, Budget, Outcome};
use super::Plan;
use crate::config::ClusterConfig;

/// `write` + `fdatasync` rounds of the floor.
pub(super) const FSYNCS: u64 = 500;
/// The largest UDP payload over IPv4: larger values are echoed at this.
const MAX_DATAGRAM: usize = 65_507;
/// The echo tells its round trips apart by a sequence number up front.
const MIN_DATAGRAM: usize = 8;
/// A datagram not echoed within this is counted as lost (an error).
const ECHO_WAIT: Duration = Duration::from_secs(1);
/// How often the echo thread looks at its stop flag.
const ECHO_POLL: Duration = Duration::from_millis(50);

/// The two floor measurements.
#[derive(Debug)]
pub(super) struct Floor {
    pub echo: Outcome,
    /// The echoed datagrams' size: the value's, within UDP's limits.
    pub echo_bytes: usize,
    pub fsync: Outcome,
    pub fsync_dir: PathBuf,
}

/// Measures both, the echo first.
pub(super) fn measure(plan: &Plan, dir: &Path) -> Result<Floor, String> {
    let echo_bytes = echo_bytes(plan.value_bytes);
    let echo = echo(plan.clients, plan.echo_budget(), echo_bytes, plan.progress)?;
    let fsync = fsync(dir, plan.value_bytes, FSYNCS, plan.progress)?;
    Ok(Floor { echo, echo_bytes, fsync, fsync_dir: dir.to_path_buf() })
}

/// The echoed datagrams' size for values of `value_bytes`: the same,
/// within what one UDP datagram (and the echo's sequence number) allows.
pub(super) fn echo_bytes(value_bytes: usize) -> usize {
    value_bytes.clamp(MIN_DATAGRAM, MAX_DATAGRAM)
}

/// Where the fdatasync floor writes: `--dir`, else the cluster's data_dir
/// when it is on this machine (the disk the members sync on), else the
/// temp dir.
pub(super) fn fsync_dir(dir: Option<&Path>, config: Option<&ClusterConfig>) -> PathBuf {
    match (dir, config) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(c)) if c.data_dir.is_dir() => c.data_dir.canonicalize().unwrap_or(c.data_dir.clone()),
        _ => std::env::temp_dir(),
    }
}

/// `clients` threads echoing `bytes`-byte datagrams through one echo
/// thread on loopback.
pub(super) fn echo(clients: u64, budget: Budget, bytes: usize, show: bool) -> Result<Outcome, String> {
    let server = EchoServer::start().map_err(|e| format!("cannot start the UDP echo: {e}"))?;
    let setup = |_| {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.connect(server.addr).map(|()| s))
            .and_then(|s| s.set_read_timeout(Some(ECHO_WAIT)).map(|()| s))
            .map_err(|e| format!("cannot open an echo client socket: {e}"))?;
        Ok((socket, vec![0x5a; bytes], vec![0; MAX_DATAGRAM]))
    };
    drive("udp echo", clients, budget, show, setup, |(socket, out, back), turn| {
        round_trip(socket, out, back, turn.i)
    })
}

/// Sends `out` stamped with `seq` and waits for its echo (an older echo,
/// late after a timeout, is skipped).
fn round_trip(socket: &UdpSocket, out: &mut [u8], back: &mut [u8], seq: u64) -> Result<(), String> {
    out[..MIN_DATAGRAM].copy_from_slice(&seq.to_le_bytes());
    socket.send(out).map_err(|e| format!("echo send: {e}"))?;
    loop {
        let n = socket.recv(back).map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => format!("no echo within {ECHO_WAIT:?}"),
            _ => format!("echo receive: {e}"),
        })?;
        if n == out.len() && back[..MIN_DATAGRAM] == out[..MIN_DATAGRAM] {
            return Ok(());
        }
    }
}

/// One thread sending every datagram back where it came from, until
/// dropped.
struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    fn start() -> std::io::Result<EchoServer> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        // As large as a member's: the floor must not drop what a member
        // would have queued.
        net::size_socket_buffers(&socket);
        socket.set_read_timeout(Some(ECHO_POLL))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("bench-echo".into()).spawn(move || {
            let mut buf = vec![0; MAX_DATAGRAM];
            while !flag.load(Ordering::Relaxed) {
                // A receive timeout is the poll of the stop flag; a failed
                // send shows as the client's timeout, which it counts.
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        })?;
        Ok(EchoServer { addr, stop, thread: Some(thread) })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `count` rounds of appending `bytes` bytes and `fdatasync`, in a
/// directory of its own under `dir`, removed afterwards.
pub(super) fn fsync(dir: &Path, bytes: usize, count: u64, show: bool) -> Result<Outcome, String> {
    let scratch = Scratch::create(dir)?;
    let path = scratch.0.join("append");
    let setup = |_| {
        let open = OpenOptions::new().create_new(true).append(true).open(&path);
        open.map_err(|e| format!("cannot create {}: {e}", path.display()))
    };
    let buf = vec![0xa5; bytes];
    drive("fdatasync", 1, Budget::Total(count), show, setup, |file: &mut File, _| {
        file.write_all(&buf).and_then(|()| file.sync_data()).map_err(|e| format!("write + fdatasync: {e}"))
    })
}

/// A directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn create(dir: &Path) -> Result<Scratch, String> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let path = dir.join(format!("bench-fsync-{}-{}", std::process::id(), nanos.subsec_nanos()));
        std::fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("node: cannot remove {}: {e}", self.0.display());
        }
    }
}
