//! A member's address as cluster.toml writes it: `IP:PORT`,
//! `[IPv6]:PORT` or `HOST:PORT` (as etcd's peer URLs allow names:
//! `db1.internal:7101`).
//!
//! [`PeerAddr`] keeps the text as written rather than a `SocketAddr`,
//! because a name may resolve to another address later (a machine
//! replaced behind the same name) and the text is what the operator
//! wrote, what duplicate checks compare and what goes into log entries
//! (it serializes as the string). Only the syntax is checked when it is
//! parsed; [`PeerAddr::resolve`] asks the system resolver when an address
//! is needed.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// `HOST:PORT`, syntax checked, text kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PeerAddr {
    text: String,
    /// The host without IPv6 brackets: `text[host.0..host.1]`.
    host: (usize, usize),
    port: u16,
}

/// Why a text is not an address, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddrError(String);

impl PeerAddr {
    /// Checks the syntax of `text`: a non-empty host (an IPv4 address, a
    /// bracketed IPv6 address or a host name of letters, digits, `-`, `.`
    /// and `_`), a colon and a port in 0..=65535; no scheme or path.
    pub fn parse(text: &str) -> Result<PeerAddr, AddrError> {
        let fail = |why: &str| Err(AddrError(format!("{why} (want IP:PORT, [IPv6]:PORT or HOST:PORT)")));
        if text.is_empty() {
            return fail("empty address");
        }
        if text.contains("://") {
            return fail("a URL, not an address: drop the scheme");
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((ip, port)) = rest.split_once("]:") else { return fail("an IPv6 address needs ]:PORT") };
            if ip.parse::<Ipv6Addr>().is_err() {
                return fail("not an IPv6 address between the brackets");
            }
            ((1, 1 + ip.len()), port)
        } else {
            let Some((host, port)) = text.rsplit_once(':') else { return fail("no :PORT") };
            if host.contains(':') {
                return fail("an IPv6 address needs brackets: [ADDR]:PORT");
            }
            if host.is_empty() {
                return fail("empty host");
            }
            let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
            if !host.chars().all(name_char) || host.starts_with(['-', '.']) {
                return fail("not a host name");
            }
            ((0, host.len()), port)
        };
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        let Some(port) = port.parse::<u16>().ok().filter(|_| digits) else {
            return fail("the port must be a number in 0..=65535");
        };
        Ok(PeerAddr { text: text.to_string(), host, port })
    }

    /// The host: a name or an IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.text[self.host.0..self.host.1]
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address itself when the host is an IP address: no resolver
    /// needed, and nothing to re-resolve later.
    pub fn ip_literal(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.host().parse().ok()?;
        Some(SocketAddr::new(ip, self.port))
    }

    /// The address to use now: the literal, or the first address the
    /// system resolver gives for the name. This may block (DNS); the event
    /// loop calls it on another thread (`server::resolver`).
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        if let Some(addr) = self.ip_literal() {
            return Ok(addr);
        }
        let mut addrs = (self.host(), self.port).to_socket_addrs()?;
        addrs.next().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name has no addresses"))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PeerAddr {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<PeerAddr, AddrError> {
        PeerAddr::parse(s)
    }
}

impl TryFrom<String> for PeerAddr {
    type Error = AddrError;
    fn try_from(s: String) -> Result<PeerAddr, AddrError> {
        PeerAddr::parse(&s)
    }
}

impl From<PeerAddr> for String {
    fn from(a: PeerAddr) -> String {
        a.text
    }
}

/// An address known as a socket address (tests, ports picked at run
/// time): written as `SocketAddr` displays it, so it parses back.
impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> PeerAddr {
        let text = addr.to_string();
        let host = match addr {
            SocketAddr::V4(_) => (0, text.rfind(':').unwrap_or(0)),
            SocketAddr::V6(_) => (1, text.rfind("]:").unwrap_or(1)),
        };
        PeerAddr { text, host, port: addr.port() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse() {
        let a = PeerAddr::parse("db1.internal:7101").unwrap();
        assert_eq!((a.host(), a.port(), a.ip_literal()), ("db1.internal", 7101, None));
        let b = PeerAddr::parse("[::1]:7101").unwrap();
        assert_eq!(b.host(), "::1");
        assert_eq!(b.ip_literal(), Some("[::1]:7101".parse().unwrap()));
        assert_eq!(b.to_string(), "[::1]:7101");
        let c = PeerAddr::parse("10.0.0.1:1").unwrap();
        assert_eq!(c.ip_literal(), Some("10.0.0.1:1".parse().unwrap()));
    }

    #[test]
    fn bad_forms_are_refused() {
        for bad in [
            "",
            "x",
            "x:99999",
            ":7101",
            "http://x:1",
            "x:",
            "x:+1",
            "::1:7101",
            "[::1]7101",
            "[zz]:1",
            "a b:1",
            "x/y:1",
            "-x:1",
        ] {
            let e = PeerAddr::parse(bad).expect_err(bad).to_string();
            assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
        }
    }

    #[test]
    fn socket_addrs_convert_and_parse_back() {
        for s in ["127.0.0.1:7101", "[::1]:9", "[fe80::1]:65535"] {
            let addr: SocketAddr = s.parse().unwrap();
            let p = PeerAddr::from(addr);
            assert_eq!(p, PeerAddr::parse(s).unwrap());
            assert_eq!(p.ip_literal(), Some(addr));
        }
    }

    #[test]
    fn serde_is_the_string() {
        let a = PeerAddr::parse("db1:7101").unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"db1:7101\"");
        assert_eq!(serde_json::from_str::<PeerAddr>(&json).unwrap(), a);
        assert!(serde_json::from_str::<PeerAddr>("\"x\"").is_err());
        let bytes = postcard::to_allocvec(&a).unwrap();
        assert_eq!(postcard::from_bytes::<PeerAddr>(&bytes).unwrap(), a);
    }

    #[test]
    fn localhost_resolves() {
        let a = PeerAddr::parse("localhost:7101").unwrap();
        // Every test machine has localhost in /etc/hosts.
        let r = a.resolve().unwrap();
        assert!(r.ip().is_loopback() && r.port() == 7101, "{r}");
    }
}
