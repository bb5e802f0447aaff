//! The datagram format: a fixed 72-byte header, then acks, then one fragment
//! of a message, then (with a shared secret) a 16-byte MAC.
//!
//! All integers are big-endian.
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 2 | magic `0x524E` ("RN") |
//! | 2  | 1 | version (2) |
//! | 3  | 1 | flags: `1` data, `2` ack, `4` MAC present |
//! | 4  | 4 | CRC32C of the whole datagram before the MAC, this field zeroed |
//! | 8  | 8 | cluster id |
//! | 16 | 8 | from (sender node id) |
//! | 24 | 8 | to (receiver node id) |
//! | 32 | 8 | from boot: the sender's boot id (random per endpoint, never 0); message ids and the low watermark count within it |
//! | 40 | 8 | ack boot: the receiver's boot id whose messages the acks acknowledge (0 when no acks) |
//! | 48 | 8 | message id (0 when no data) |
//! | 56 | 8 | low watermark: the sender will never send a message id below it to this receiver |
//! | 64 | 2 | fragment index |
//! | 66 | 2 | fragment count (0 when no data) |
//! | 68 | 2 | data length in bytes |
//! | 70 | 2 | ack count |
//! | 72 | 10 × ack count | acks: (message id u64, fragment index u16) |
//! | …  | data length | the fragment: a slice of the postcard-encoded message |
//! | …  | 16 | MAC (flag 4): HMAC-SHA256 of all bytes before it, truncated |
//!
//! A datagram is at most [`MAX_DATAGRAM`] bytes (under the IPv6 minimum MTU,
//! so never IP-fragmented); a fragment carries at most [`FRAGMENT_BYTES`], which
//! leaves room for [`MAX_PIGGYBACK_ACKS`] acks beside it. Decoding checks every
//! length against the datagram size and never panics.

use crate::counters::DropReason;

/// Largest datagram we send or accept (UDP payload bytes).
pub const MAX_DATAGRAM: usize = 1200;
/// Fixed header size.
pub const HEADER_BYTES: usize = 72;
/// Size of the truncated MAC.
pub const MAC_BYTES: usize = 16;
/// Size of one ack entry.
pub const ACK_BYTES: usize = 10;
/// Largest fragment of a message carried by one datagram.
pub const FRAGMENT_BYTES: usize = 1024;
/// Acks that fit beside a full fragment (and a MAC).
pub const MAX_PIGGYBACK_ACKS: usize = (MAX_DATAGRAM - HEADER_BYTES - MAC_BYTES - FRAGMENT_BYTES) / ACK_BYTES;
/// Acks that fit in a datagram without data.
pub const MAX_ACKS: usize = (MAX_DATAGRAM - HEADER_BYTES - MAC_BYTES) / ACK_BYTES;

pub(crate) const MAGIC: u16 = 0x524E;
/// The wire format version this code speaks (and the only one it reads).
pub const VERSION: u8 = 2;
/// Header flag: the datagram carries a fragment.
pub const FLAG_DATA: u8 = 1;
/// Header flag: the datagram carries acks.
pub const FLAG_ACK: u8 = 2;
/// Header flag: a MAC follows (set by [`encode`] itself).
pub const FLAG_MAC: u8 = 4;
/// Header flag: the datagram carries a whole message sent once, which is
/// not acknowledged, resent or deduplicated (the application resends on
/// its own: Raft's messages).
pub const FLAG_UNACKED: u8 = 8;
/// Header flag: the receiver refuses message `msg_id` of boot `ack_boot`
/// of ours whole (its reassembly has no room for it now): the sender drops
/// it and its application backs off, instead of resending fragments into a
/// full buffer.
pub const FLAG_BUSY: u8 = 16;
/// Header flag: the receiver could not authenticate a datagram of ours
/// (`unauth.rs`): a header alone, no MAC.
pub const FLAG_UNAUTH: u8 = 32;
const CRC_RANGE: std::ops::Range<usize> = 4..8;

/// One acknowledged fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ack {
    pub msg_id: u64,
    pub frag_index: u16,
}

/// The header fields, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub flags: u8,
    pub cluster_id: u64,
    pub from: u64,
    pub to: u64,
    /// The sender's boot id.
    pub from_boot: u64,
    /// The receiver's boot id the acks are for (0 without acks).
    pub ack_boot: u64,
    pub msg_id: u64,
    pub low_watermark: u64,
    pub frag_index: u16,
    pub frag_count: u16,
}

/// A datagram to encode.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub header: Header,
    pub acks: &'a [Ack],
    pub data: &'a [u8],
}

/// A decoded datagram, borrowing the received bytes. The MAC (if any) is
/// not checked here: see [`crate::auth`].
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    pub header: Header,
    pub acks: Vec<Ack>,
    pub data: &'a [u8],
    /// Everything the MAC covers.
    pub signed: &'a [u8],
    /// The MAC bytes, when the MAC flag is set.
    pub mac: Option<&'a [u8]>,
}

/// Encodes `frame` into a new buffer. `mac_len` bytes of zeros are
/// reserved at the end for the caller to fill ([`crate::auth::Auth::sign`]).
pub fn encode(frame: &Frame<'_>, mac_len: usize) -> Vec<u8> {
    let h = &frame.header;
    let len = HEADER_BYTES + frame.acks.len() * ACK_BYTES + frame.data.len() + mac_len;
    let mut out = Vec::with_capacity(len);
    let mut flags = h.flags & (FLAG_DATA | FLAG_ACK | FLAG_UNACKED | FLAG_BUSY | FLAG_UNAUTH);
    if mac_len > 0 {
        flags |= FLAG_MAC;
    }
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.push(VERSION);
    out.push(flags);
    out.extend_from_slice(&[0; 4]);
    for v in [h.cluster_id, h.from, h.to, h.from_boot, h.ack_boot, h.msg_id, h.low_watermark] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for v in [h.frag_index, h.frag_count, frame.data.len() as u16, frame.acks.len() as u16] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for ack in frame.acks {
        out.extend_from_slice(&ack.msg_id.to_be_bytes());
        out.extend_from_slice(&ack.frag_index.to_be_bytes());
    }
    out.extend_from_slice(frame.data);
    let crc = crc32c::crc32c(&out);
    out[CRC_RANGE].copy_from_slice(&crc.to_be_bytes());
    out.resize(len, 0);
    out
}

/// Decodes and checks structure and checksum. Returns the reason to drop
/// on any failure.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, DropReason> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DropReason::TooLarge);
    }
    if bytes.len() >= 3 && be16(bytes, 0) == MAGIC && bytes[2] != VERSION {
        return Err(DropReason::Version);
    }
    if bytes.len() < HEADER_BYTES || be16(bytes, 0) != MAGIC {
        return Err(DropReason::Malformed);
    }
    let flags = bytes[3];
    let data_len = be16(bytes, 68) as usize;
    let ack_count = be16(bytes, 70) as usize;
    let mac_len = if flags & FLAG_MAC != 0 { MAC_BYTES } else { 0 };
    let body_end = HEADER_BYTES + ack_count * ACK_BYTES + data_len;
    if body_end + mac_len != bytes.len() {
        return Err(DropReason::Malformed);
    }
    if !checksum_ok(&bytes[..body_end]) {
        return Err(DropReason::Checksum);
    }
    let header = Header {
        flags,
        cluster_id: be64(bytes, 8),
        from: be64(bytes, 16),
        to: be64(bytes, 24),
        from_boot: be64(bytes, 32),
        ack_boot: be64(bytes, 40),
        msg_id: be64(bytes, 48),
        low_watermark: be64(bytes, 56),
        frag_index: be16(bytes, 64),
        frag_count: be16(bytes, 66),
    };
    check_shape(&header, data_len, ack_count)?;
    let acks_end = HEADER_BYTES + ack_count * ACK_BYTES;
    let acks = bytes[HEADER_BYTES..acks_end]
        .chunks_exact(ACK_BYTES)
        .map(|c| Ack { msg_id: be64(c, 0), frag_index: be16(c, 8) })
        .collect();
    Ok(Decoded {
        header,
        acks,
        data: &bytes[acks_end..body_end],
        signed: &bytes[..body_end],
        mac: (mac_len > 0).then(|| &bytes[body_end..]),
    })
}

/// Flags agree with the contents: data datagrams carry a fragment of a
/// real message, ack datagrams carry acks and name the boot they are for;
/// every datagram names its sender's boot.
fn check_shape(h: &Header, data_len: usize, ack_count: usize) -> Result<(), DropReason> {
    let data = h.flags & FLAG_DATA != 0;
    let ack = h.flags & FLAG_ACK != 0;
    let busy = h.flags & FLAG_BUSY != 0;
    let unauth = h.flags & FLAG_UNAUTH != 0;
    let unknown = h.flags & !(FLAG_DATA | FLAG_ACK | FLAG_MAC | FLAG_UNACKED | FLAG_BUSY | FLAG_UNAUTH) != 0;
    let unauth_alone = !unauth || h.flags == FLAG_UNAUTH;
    let unacked_whole = h.flags & FLAG_UNACKED == 0 || (data && h.frag_count == 1);
    let busy_alone = !busy || (!data && !ack && h.msg_id != 0 && h.frag_count == 0 && data_len == 0);
    let ok = !unknown
        && unacked_whole
        && busy_alone
        && unauth_alone
        && (data || ack || busy || unauth)
        && h.from_boot != 0
        && ack == (ack_count > 0)
        && (ack || busy) == (h.ack_boot != 0)
        && if busy {
            true
        } else if data {
            h.msg_id != 0 && h.frag_count > 0 && h.frag_index < h.frag_count && data_len <= FRAGMENT_BYTES
        } else {
            data_len == 0 && h.frag_count == 0 && h.frag_index == 0 && h.msg_id == 0
        };
    if ok {
        Ok(())
    } else {
        Err(DropReason::Malformed)
    }
}

fn checksum_ok(body: &[u8]) -> bool {
    let stored = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
    let crc = crc32c::crc32c(&body[..4]);
    let crc = crc32c::crc32c_append(crc, &[0; 4]);
    crc32c::crc32c_append(crc, &body[8..]) == stored
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            flags: FLAG_DATA | FLAG_ACK,
            cluster_id: 7,
            from: 1,
            to: 2,
            from_boot: 0xB007,
            ack_boot: 0xB008,
            msg_id: 99,
            low_watermark: 90,
            frag_index: 1,
            frag_count: 3,
        }
    }

    #[test]
    fn round_trip() {
        let acks = [Ack { msg_id: 5, frag_index: 0 }, Ack { msg_id: 6, frag_index: 2 }];
        let bytes = encode(&Frame { header: sample(), acks: &acks, data: b"hello" }, 0);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.header, sample());
        assert_eq!(d.acks, acks);
        assert_eq!(d.data, b"hello");
        assert!(d.mac.is_none());
    }

    #[test]
    fn every_bit_flip_is_caught() {
        let bytes = encode(&Frame { header: sample(), acks: &[], data: &[0xAB; 40] }, 0);
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(decode(&b).is_err(), "bit {i}");
        }
    }

    #[test]
    fn sizes_leave_room_for_acks() {
        assert_eq!((MAX_PIGGYBACK_ACKS, MAX_ACKS), (8, 111));
        let acks = vec![Ack { msg_id: 1, frag_index: 0 }; MAX_PIGGYBACK_ACKS];
        let data = [0u8; FRAGMENT_BYTES];
        let bytes = encode(&Frame { header: sample(), acks: &acks, data: &data }, MAC_BYTES);
        assert!(bytes.len() <= MAX_DATAGRAM);
        let acks = vec![Ack { msg_id: 1, frag_index: 0 }; MAX_ACKS];
        let header = Header { flags: FLAG_ACK, msg_id: 0, frag_index: 0, frag_count: 0, ..sample() };
        let bytes = encode(&Frame { header, acks: &acks, data: &[] }, MAC_BYTES);
        assert_eq!(decode(&bytes).map(|d| d.acks.len()), Ok(MAX_ACKS));
        assert!(bytes.len() <= MAX_DATAGRAM);
    }

    #[test]
    fn every_datagram_names_its_boots() {
        let ack = [Ack { msg_id: 5, frag_index: 0 }];
        let cases = [
            (Header { from_boot: 0, ..sample() }, &ack[..]),
            (Header { ack_boot: 0, ..sample() }, &ack[..]),
            (Header { flags: FLAG_DATA, ..sample() }, &[][..]), // an ack boot without acks
        ];
        for (header, acks) in cases {
            let bytes = encode(&Frame { header, acks, data: b"x" }, 0);
            assert_eq!(decode(&bytes).err(), Some(DropReason::Malformed), "{header:?}");
        }
    }
}
