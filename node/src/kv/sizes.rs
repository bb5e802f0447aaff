//! Sizes of the store's commands: how long a put encodes, and the largest
//! value a put of a key may carry when entries are at most some size
//! (`crate::limits` derives that size from the transport's).

use super::{KvCommand, Op};
use crate::limits::encoded_len;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::transport_max_entry_bytes;

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
}
