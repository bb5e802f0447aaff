//! The configuration stored at the front of every snapshot's data.
//!
//! A snapshot replaces the log up to its index, membership entries
//! included, so the configuration in force there has to travel and be
//! stored with it (thesis §4 with §7). The core hands it out with every
//! installed snapshot; a member writes it before the state machine's bytes
//! when it takes one, and reads it back on restart:
//!
//! ```text
//! "RAFTCONF" | u32 LE length | postcard raft::Membership | state machine data
//! ```
//!
//! Snapshots written before configurations were stored start directly
//! with the state machine's data; they read as "no configuration" (the
//! bootstrap one is in force), and all their bytes go to the state machine.

use std::io::{self, Read, Write};

use raft::Membership;

use super::snapshot_store::SnapshotSource;

const MAGIC: &[u8; 8] = b"RAFTCONF";
/// Far above any configuration (`raft::MAX_MEMBERS` members with
/// addresses of `raft::MAX_ADDRESS_BYTES`).
const MAX_FRAME_BYTES: u32 = 1 << 20;

/// A state machine's snapshot source with the configuration written first.
pub struct WithMembership {
    pub membership: Membership,
    pub source: Box<dyn SnapshotSource>,
}

impl SnapshotSource for WithMembership {
    fn write_to(self: Box<Self>, out: &mut dyn Write) -> io::Result<()> {
        let bytes = postcard::to_stdvec(&self.membership).map_err(io::Error::other)?;
        out.write_all(MAGIC)?;
        out.write_all(&(bytes.len() as u32).to_le_bytes())?;
        out.write_all(&bytes)?;
        self.source.write_to(out)
    }
}

/// Reads the configuration at the front of a snapshot's data, then hands
/// the rest to `restore` (the state machine). `None` for a snapshot
/// written without one.
pub fn read_with_membership(
    input: &mut dyn Read,
    restore: impl FnOnce(&mut dyn Read) -> Result<(), String>,
) -> Result<Option<Membership>, String> {
    let mut head = [0u8; 8];
    let got = read_up_to(input, &mut head).map_err(|e| format!("cannot read the snapshot: {e}"))?;
    if got < head.len() || &head != MAGIC {
        let mut rest = io::Cursor::new(&head[..got]).chain(input);
        restore(&mut rest)?;
        return Ok(None);
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|e| format!("snapshot configuration cut short: {e}"))?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(format!("snapshot configuration of {len} bytes (at most {MAX_FRAME_BYTES})"));
    }
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes).map_err(|e| format!("snapshot configuration cut short: {e}"))?;
    let membership: Membership =
        postcard::from_bytes(&bytes).map_err(|e| format!("snapshot configuration does not decode: {e}"))?;
    if !membership.is_well_formed() {
        return Err(
            "the snapshot's configuration is not well formed (no voter, id 0, or a member twice)".into()
        );
    }
    restore(input)?;
    Ok(Some(membership))
}

/// The configuration at the front of a snapshot's first bytes, if they
/// hold one whole.
pub fn peek_membership(first_bytes: &[u8]) -> Option<Membership> {
    read_with_membership(&mut &first_bytes[..], |_| Ok(())).ok().flatten()
}

/// Like `read_exact`, but a short input is not an error: the bytes read.
fn read_up_to(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bytes(Vec<u8>);

    impl SnapshotSource for Bytes {
        fn write_to(self: Box<Self>, out: &mut dyn Write) -> io::Result<()> {
            out.write_all(&self.0)
        }
    }

    fn restored(data: &[u8]) -> Result<(Option<Membership>, Vec<u8>), String> {
        let mut rest = Vec::new();
        let m = read_with_membership(&mut &data[..], |r| {
            r.read_to_end(&mut rest).map(drop).map_err(|e| e.to_string())
        })?;
        Ok((m, rest))
    }

    #[test]
    fn the_configuration_round_trips_ahead_of_the_data() {
        let membership = Membership::bootstrap(&[1, 2, 3]);
        let source = Box::new(WithMembership {
            membership: membership.clone(),
            source: Box::new(Bytes(b"kv".to_vec())),
        });
        let mut out = Vec::new();
        source.write_to(&mut out).unwrap();
        assert_eq!(restored(&out).unwrap(), (Some(membership), b"kv".to_vec()));
    }

    #[test]
    fn a_snapshot_without_one_goes_whole_to_the_state_machine() {
        assert_eq!(restored(b"KVSNAP and more").unwrap(), (None, b"KVSNAP and more".to_vec()));
        assert_eq!(restored(b"abc").unwrap(), (None, b"abc".to_vec()));
        assert_eq!(restored(b"").unwrap(), (None, Vec::new()));
    }

    #[test]
    fn a_damaged_frame_is_refused_with_a_reason() {
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(restored(&frame).unwrap_err().contains("at most"));
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&3u32.to_le_bytes());
        frame.extend_from_slice(b"\xff\xff\xff");
        assert!(restored(&frame).is_err());
        let empty = postcard::to_stdvec(&Membership::default()).unwrap();
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&(empty.len() as u32).to_le_bytes());
        frame.extend_from_slice(&empty);
        assert!(restored(&frame).unwrap_err().contains("not well formed"));
    }
}
