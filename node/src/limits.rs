//! Sizes, derived from one number: the largest message the transport
//! carries. The largest entry the leader admits follows from it (framing
//! included), and the largest value a client may put follows from that
//! (`kv::max_value_bytes`), so the three can never disagree and nothing the
//! leader accepts is unsendable.
//!
//! An AppendEntries of entry bytes `C` (each entry's data plus
//! [`raft::ENTRY_OVERHEAD_BYTES`]) encodes to at most
//! [`append_header_bytes`] + `C`; the core keeps `C` within
//! `raft::Config::max_append_entry_bytes()`, which is at most
//! [`MAX_MESSAGE_BYTES`] − [`append_header_bytes`] when `max_entry_bytes` is
//! at most [`transport_max_entry_bytes`].

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
        round: 0,
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

pub(crate) fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
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
            round: 0,
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
    fn a_request_or_reply_with_the_largest_entry_fits_the_transport() {
        let max = transport_max_entry_bytes();
        let request = Wire::Request { seq: u64::MAX, command: vec![0; max] };
        assert!(encoded_len(&request) <= MAX_MESSAGE_BYTES);
        let value = crate::kv::KvReply::Value(Some(vec![0; crate::kv::max_value_bytes("", max).unwrap()]));
        let reply = Wire::Reply {
            seq: u64::MAX,
            reply: crate::proto::Reply::Applied(postcard::to_allocvec(&value).unwrap()),
        };
        assert!(encoded_len(&reply) <= MAX_MESSAGE_BYTES);
    }
}
