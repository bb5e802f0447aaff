//! Records: the three kinds, their postcard payloads, and the frame around
//! them (`len u32 | crc32c u32 | kind u8 | payload`).
//!
//! Encoding writes straight into the caller's buffer (the memory map): no
//! intermediate `Vec`. Decoding borrows the entry data from the buffer, and
//! replay hands it out as a slice of the segment's map: no copy at all.

use bytes::Bytes;
use serde::{Deserialize, Serialize, Serializer};

use crate::format::{u32_at, FRAME_LEN};

/// One log entry: its Raft index and term and opaque data. Recovered
/// entries share the read-only map of the segment they were read from
/// (no copy); the map lives as long as any of its entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// Log index, starting at 1.
    pub index: u64,
    /// Term in which the entry was created.
    pub term: u64,
    /// The caller's kind of entry, opaque to the log (Raft's commands and
    /// configuration changes). 0, the common case, is stored as a plain
    /// entry record, as before tags existed; others in a tagged one.
    pub tag: u8,
    /// The command, opaque to the log.
    pub data: Bytes,
}

/// The Raft hard state: what a server must remember across restarts
/// besides its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HardState {
    /// Latest term the server has seen.
    pub current_term: u64,
    /// Candidate that received this server's vote in `current_term`.
    pub voted_for: Option<u64>,
}

/// The kind byte of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// An entry; it replaces every entry at its index and above.
    Entry = 1,
    /// A hard state; the last one wins.
    HardState = 2,
    /// Removes every entry at `from_index` and above.
    Truncate = 3,
    /// An entry with a non-zero tag.
    TaggedEntry = 4,
}

impl Kind {
    /// The kind for a byte, if it is one.
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Entry),
            2 => Some(Kind::HardState),
            3 => Some(Kind::Truncate),
            4 => Some(Kind::TaggedEntry),
            _ => None,
        }
    }
}

/// A record, borrowing entry data from wherever it was read or is written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef<'a> {
    /// An entry.
    Entry {
        /// Log index.
        index: u64,
        /// Term.
        term: u64,
        /// The caller's kind (see [`Entry::tag`]).
        tag: u8,
        /// Entry data.
        data: &'a [u8],
    },
    /// A hard state.
    HardState(HardState),
    /// Truncate the log suffix from `from_index` on.
    Truncate {
        /// First index removed.
        from_index: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct EntryPayload<'a> {
    index: u64,
    term: u64,
    #[serde(serialize_with = "as_bytes", borrow)]
    data: &'a [u8],
}

/// Serializes a byte slice as postcard bytes (length + raw bytes) instead
/// of serde's default element-by-element sequence.
fn as_bytes<S: Serializer>(data: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(data)
}

#[derive(Serialize, Deserialize)]
struct TaggedEntryPayload<'a> {
    index: u64,
    term: u64,
    tag: u8,
    #[serde(serialize_with = "as_bytes", borrow)]
    data: &'a [u8],
}

#[derive(Serialize, Deserialize)]
struct TruncatePayload {
    from_index: u64,
}

impl RecordRef<'_> {
    /// The record's kind.
    pub fn kind(&self) -> Kind {
        match self {
            RecordRef::Entry { tag: 0, .. } => Kind::Entry,
            RecordRef::Entry { .. } => Kind::TaggedEntry,
            RecordRef::HardState(_) => Kind::HardState,
            RecordRef::Truncate { .. } => Kind::Truncate,
        }
    }

    /// Length of the framed record in bytes.
    pub fn frame_len(&self) -> usize {
        FRAME_LEN
            + match *self {
                RecordRef::Entry { index, term, tag, data } => {
                    let tag_len = usize::from(tag != 0);
                    varint_len(index)
                        + varint_len(term)
                        + tag_len
                        + varint_len(data.len() as u64)
                        + data.len()
                }
                RecordRef::HardState(hs) => {
                    varint_len(hs.current_term) + 1 + hs.voted_for.map_or(0, varint_len)
                }
                RecordRef::Truncate { from_index } => varint_len(from_index),
            }
    }

    /// Encodes the framed record at the start of `buf`. Returns the frame's
    /// length, or `None` if it does not fit; then `buf` is left untouched,
    /// so the zeroed tail of a segment stays zero.
    pub fn encode_into(&self, buf: &mut [u8]) -> Option<usize> {
        if self.frame_len() > buf.len() {
            return None;
        }
        let payload_buf = &mut buf[FRAME_LEN..];
        let n = match *self {
            RecordRef::Entry { index, term, tag: 0, data } => {
                postcard::to_slice(&EntryPayload { index, term, data }, payload_buf).ok()?.len()
            }
            RecordRef::Entry { index, term, tag, data } => {
                postcard::to_slice(&TaggedEntryPayload { index, term, tag, data }, payload_buf).ok()?.len()
            }
            RecordRef::HardState(hs) => postcard::to_slice(&hs, payload_buf).ok()?.len(),
            RecordRef::Truncate { from_index } => {
                postcard::to_slice(&TruncatePayload { from_index }, payload_buf).ok()?.len()
            }
        };
        let len = u32::try_from(n).ok()?;
        buf[0..4].copy_from_slice(&len.to_le_bytes());
        buf[8] = self.kind() as u8;
        let crc = frame_crc(&buf[0..4], &buf[8..FRAME_LEN + n]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        Some(FRAME_LEN + n)
    }

    /// Decodes a payload of the given kind; `None` if it is not a valid
    /// payload of that kind (including trailing bytes).
    pub fn decode(kind: Kind, payload: &[u8]) -> Option<RecordRef<'_>> {
        match kind {
            Kind::Entry => {
                let (p, rest) = postcard::take_from_bytes::<EntryPayload>(payload).ok()?;
                rest.is_empty().then_some(RecordRef::Entry {
                    index: p.index,
                    term: p.term,
                    tag: 0,
                    data: p.data,
                })
            }
            Kind::TaggedEntry => {
                let (p, rest) = postcard::take_from_bytes::<TaggedEntryPayload>(payload).ok()?;
                let valid = rest.is_empty() && p.tag != 0;
                valid.then_some(RecordRef::Entry { index: p.index, term: p.term, tag: p.tag, data: p.data })
            }
            Kind::HardState => {
                let (hs, rest) = postcard::take_from_bytes::<HardState>(payload).ok()?;
                rest.is_empty().then_some(RecordRef::HardState(hs))
            }
            Kind::Truncate => {
                let (p, rest) = postcard::take_from_bytes::<TruncatePayload>(payload).ok()?;
                rest.is_empty().then_some(RecordRef::Truncate { from_index: p.from_index })
            }
        }
    }
}

/// Length of a postcard varint (LEB128) of `v`.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// CRC32C over the length field, then the kind byte and the payload.
fn frame_crc(len_bytes: &[u8], kind_and_payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), kind_and_payload)
}

/// What sits at an offset of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A checksummed frame of a known kind.
    Valid {
        /// Its kind.
        kind: Kind,
        /// Its payload (not yet decoded).
        payload: &'a [u8],
        /// Length of the whole frame.
        len: usize,
    },
    /// Zeroes (or too little room for a frame): where writing stopped.
    Zero,
    /// Anything else: a torn or damaged frame.
    Bad(&'static str),
}

/// Reads the frame at `off` of `seg`. Never panics, whatever the bytes.
pub fn read_frame(seg: &[u8], off: usize) -> Frame<'_> {
    let Some(head) = seg.get(off..off.saturating_add(FRAME_LEN)) else {
        return match seg.get(off..) {
            Some(rest) if rest.iter().any(|&b| b != 0) => Frame::Bad("frame cut off by end of segment"),
            _ => Frame::Zero,
        };
    };
    if head.iter().all(|&b| b == 0) {
        return Frame::Zero;
    }
    let len = u32_at(head, 0) as usize;
    let Some(body) = seg.get(off + 8..(off + FRAME_LEN).saturating_add(len)) else {
        return Frame::Bad("length runs past end of segment");
    };
    if len == 0 {
        return Frame::Bad("zero length");
    }
    // The kind is checked before the checksum: cheaper when searching
    // garbage for valid frames.
    let Some(kind) = Kind::from_byte(head[8]) else {
        return Frame::Bad("unknown record kind");
    };
    if u32_at(head, 4) != frame_crc(&head[0..4], body) {
        return Frame::Bad("checksum mismatch");
    }
    Frame::Valid { kind, payload: &body[1..], len: FRAME_LEN + len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let data = vec![7u8; 300];
        let recs = [
            RecordRef::Entry { index: 5, term: 2, tag: 0, data: &data },
            RecordRef::Entry { index: 6, term: 2, tag: 1, data: &data },
            RecordRef::HardState(HardState { current_term: 3, voted_for: Some(2) }),
            RecordRef::Truncate { from_index: 9 },
            RecordRef::Entry { index: u64::MAX, term: 1 << 35, tag: 255, data: &data[..130] },
            RecordRef::HardState(HardState { current_term: u64::MAX, voted_for: None }),
        ];
        let mut buf = vec![0u8; 1024];
        let mut off = 0;
        for r in &recs {
            off += r.encode_into(&mut buf[off..]).unwrap();
        }
        let mut at = 0;
        for r in &recs {
            let Frame::Valid { kind, payload, len } = read_frame(&buf, at) else {
                panic!("bad frame at {at}")
            };
            assert_eq!(RecordRef::decode(kind, payload), Some(*r));
            at += len;
        }
        assert_eq!(at, off);
        let total: usize = recs.iter().map(RecordRef::frame_len).sum();
        assert_eq!(total, off);
        assert_eq!(read_frame(&buf, at), Frame::Zero);
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = vec![0u8; 64];
        let n = RecordRef::Truncate { from_index: 300 }.encode_into(&mut buf).unwrap();
        for bit in 0..n * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(!matches!(read_frame(&b, 0), Frame::Valid { .. }), "flip of bit {bit} undetected");
        }
        assert_eq!(
            RecordRef::Entry { index: 1, term: 1, tag: 0, data: &[0; 100] }.encode_into(&mut buf),
            None
        );
        assert!(matches!(read_frame(&buf[..n - 1], 0), Frame::Bad(_)));
    }
}
