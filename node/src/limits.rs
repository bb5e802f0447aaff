//! Sizes, derived from one number: the largest message the transport
//! carries. The largest entry the leader admits follows from it (framing
//! included), and the largest value a client may put follows from that, so
//! the three can never disagree and nothing the leader accepts is
//! unsendable.
//!
//! An AppendEntries of entry bytes `C` (each entry's data plus
//! [`raft::ENTRY_OVERHEAD_BYTES`]) encodes to at most
//! [`append_header_bytes`] + `C`; the core keeps `C` within
//! `raft::Config::max_append_entry_bytes()`, which is at most
//! [`MAX_MESSAGE_BYTES`] − [`append_header_bytes`] when `max_entry_bytes` is
//! at most [`transport_max_entry_bytes`].

use crate::kv::{KvCommand, Op};
use crate::proto::Wire;

/// The largest message (encoded bytes) the transport sends or reassembles;
/// `net::Config::max_message_bytes` of every member and client.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// What a leader may hold uncommitted, by default (the core's; cluster.toml
/// may change it).
pub const DEFAULT_MAX_UNCOMMITTED_BYTES: usize = raft::DEFAULT_MAX_UNCOMMITTED_BYTES;

/// The encoded size of an AppendEntries without entries, every integer at
/// its widest varint and the entry count at 5 bytes.
pub fn append_header_bytes() -> usize {
    let body = raft::Body::AppendEntries {
        prev_log_index: u64::MAX,
        prev_log_term: u64::MAX,
        entries: Vec::new(),
        leader_commit: u64::MAX,
    };
    let msg = raft::Message { from: u64::MAX, to: u64::MAX, term: u64::MAX, body };
    // The empty entry list encodes its length in 1 byte; a count of any
    // size needs at most 5.
    encoded_len(&Wire::Raft(msg)) + 4
}

/// The largest entry data the transport can carry in one AppendEntries.
pub fn transport_max_entry_bytes() -> usize {
    MAX_MESSAGE_BYTES - append_header_bytes() - raft::ENTRY_OVERHEAD_BYTES
}

/// The largest value a put of `key` may carry when entries are at most
/// `max_entry_bytes`, or `None` when the key alone leaves no room. The
/// command around the value (client id, sequence number, key) is counted
/// at its widest, so the answer does not depend on them.
pub fn max_value_bytes(key: &str, max_entry_bytes: usize) -> Option<usize> {
    let around = put_len(key, 0) - 1; // less the empty value's 1-byte length
    let fits = |v: usize| around + varint_len(v) + v <= max_entry_bytes;
    // The value's length prefix is 1 to 5 bytes: a few steps down at most.
    let mut v = max_entry_bytes.checked_sub(around + 1)?;
    while !fits(v) {
        v = v.checked_sub(1)?;
    }
    Some(v)
}

/// The encoded length of a put of `value_len` bytes of `key`, widest ids.
pub fn put_len(key: &str, value_len: usize) -> usize {
    let op = Op::Put { key: key.to_owned(), value: vec![0; value_len] };
    encoded_len(&KvCommand { client_id: u64::MAX, seq: u64::MAX, op })
}

/// Bytes of `v` as a postcard varint.
fn varint_len(v: usize) -> usize {
    let bits = usize::BITS - v.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append_of(data_len: usize, entries: usize) -> usize {
        let entry = |i| raft::Entry::new(u64::MAX - i, u64::MAX, vec![7; data_len]);
        let body = raft::Body::AppendEntries {
            prev_log_index: u64::MAX,
            prev_log_term: u64::MAX,
            entries: (0..entries as u64).map(entry).collect(),
            leader_commit: u64::MAX,
        };
        let msg = raft::Message { from: u64::MAX, to: u64::MAX, term: u64::MAX, body };
        encoded_len(&Wire::Raft(msg))
    }

    #[test]
    fn the_largest_entry_fits_the_transport_with_its_framing() {
        let max = transport_max_entry_bytes();
        assert!(append_of(max, 1) <= MAX_MESSAGE_BYTES, "{} > {MAX_MESSAGE_BYTES}", append_of(max, 1));
        assert!(max > 1_000_000);
    }

    #[test]
    fn entry_overhead_covers_the_encoding_of_an_entry() {
        for (data, n) in [(0, 1), (0, 1000), (100, 500), (70_000, 2)] {
            let per_entry = (append_of(data, n) - (append_header_bytes() - 4)) / n;
            assert!(per_entry <= data + raft::ENTRY_OVERHEAD_BYTES + 4, "{data} bytes × {n}: {per_entry}");
        }
        // A full batch at the budget, counted the core's way, fits.
        let config =
            raft::Config { max_entry_bytes: transport_max_entry_bytes(), ..raft::Config::lab(1, vec![1]) };
        assert!(config.max_append_entry_bytes() + append_header_bytes() <= MAX_MESSAGE_BYTES);
        let tiny = config.max_append_bytes / raft::ENTRY_OVERHEAD_BYTES;
        assert!(append_of(0, tiny) <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn the_largest_value_makes_the_largest_entry_and_one_more_byte_does_not_fit() {
        for key in ["", "k", &"x".repeat(300)] {
            for max_entry in [100, 127, 128, 200, 16_384, 16_400, transport_max_entry_bytes()] {
                let Some(v) = max_value_bytes(key, max_entry) else {
                    assert!(put_len(key, 0) > max_entry, "key {} max {max_entry}: room was left", key.len());
                    continue;
                };
                assert!(put_len(key, v) <= max_entry, "key {} max {max_entry}: {v}", key.len());
                assert!(
                    put_len(key, v + 1) > max_entry,
                    "key {} max {max_entry}: {v} is not the largest",
                    key.len()
                );
            }
        }
    }

    #[test]
    fn a_key_that_leaves_no_room_has_no_largest_value() {
        assert_eq!(max_value_bytes(&"k".repeat(200), 100), None);
    }

    #[test]
    fn a_request_or_reply_with_the_largest_entry_fits_the_transport() {
        let max = transport_max_entry_bytes();
        let request = Wire::Request { seq: u64::MAX, command: vec![0; max] };
        assert!(encoded_len(&request) <= MAX_MESSAGE_BYTES);
        let value = crate::kv::KvReply::Value(Some(vec![0; max_value_bytes("", max).unwrap()]));
        let reply = Wire::Reply {
            seq: u64::MAX,
            reply: crate::proto::Reply::Applied(postcard::to_allocvec(&value).unwrap()),
        };
        assert!(encoded_len(&reply) <= MAX_MESSAGE_BYTES);
    }
}
