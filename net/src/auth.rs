//! Datagram authentication: HMAC-SHA256 over header and payload, truncated
//! to 16 bytes, keyed by a secret shared by the cluster. Verification runs
//! in constant time (`Mac::verify_truncated_left`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::wire::MAC_BYTES;

/// The cluster's key, or none (unauthenticated).
#[derive(Clone)]
pub struct Auth {
    mac: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("keyed", &self.mac.is_some()).finish()
    }
}

impl Auth {
    pub fn new(secret: Option<&[u8]>) -> Self {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        let mac = secret.and_then(|s| Hmac::<Sha256>::new_from_slice(s).ok());
        Auth { mac }
    }

    /// Bytes of MAC to reserve at the end of each datagram.
    pub fn mac_len(&self) -> usize {
        if self.mac.is_some() {
            MAC_BYTES
        } else {
            0
        }
    }

    /// Fills the last [`Auth::mac_len`] bytes of `datagram` with the MAC of
    /// everything before them.
    pub fn sign(&self, datagram: &mut [u8]) {
        let Some(mac) = &self.mac else { return };
        let Some(split) = datagram.len().checked_sub(MAC_BYTES) else { return };
        let mut m = mac.clone();
        m.update(&datagram[..split]);
        let tag = m.finalize().into_bytes();
        datagram[split..].copy_from_slice(&tag[..MAC_BYTES]);
    }

    /// True when the datagram's MAC matches, or when neither side uses one.
    pub fn verify(&self, signed: &[u8], tag: Option<&[u8]>) -> bool {
        match (&self.mac, tag) {
            (None, None) => true,
            (Some(mac), Some(tag)) => {
                let mut m = mac.clone();
                m.update(signed);
                m.verify_truncated_left(tag).is_ok()
            }
            _ => false,
        }
    }
}
