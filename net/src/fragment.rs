//! Splitting messages into fragments of at most [`FRAGMENT_BYTES`]; the
//! receiver puts them back together in [`crate::reassembly`].

use crate::wire::FRAGMENT_BYTES;

/// Number of fragments for a message of `len` bytes (an empty message
/// still takes one).
pub fn fragment_count(len: usize) -> usize {
    len.div_ceil(FRAGMENT_BYTES).max(1)
}

/// The bytes of fragment `index` of `message`.
pub fn fragment(message: &[u8], index: usize) -> &[u8] {
    let start = (index * FRAGMENT_BYTES).min(message.len());
    let end = (start + FRAGMENT_BYTES).min(message.len());
    &message[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fragment_but_the_last_is_full() {
        let msg: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(fragment_count(msg.len()), 3);
        assert_eq!(fragment_count(0), 1);
        assert_eq!(fragment(&msg, 1).len(), FRAGMENT_BYTES);
        assert_eq!(fragment(&msg, 2).len(), 3000 - 2 * FRAGMENT_BYTES);
        let joined: Vec<u8> = (0..3).flat_map(|i| fragment(&msg, i).to_vec()).collect();
        assert_eq!(joined, msg);
    }
}
