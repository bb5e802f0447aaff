//! Snapshots of a [`KvStore`]: a view taken in O(1), streamed out record by
//! record, read back with every length and order checked.
//!
//! # Format (version [`SNAPSHOT_VERSION`])
//!
//! ```text
//! magic       8 bytes, b"node-kv\0"
//! header      record: Header { version: u32, entries: u64, sessions: u64 }
//! entries     `entries` records: Entry { key: str, value: bytes },
//!             keys in strictly ascending (byte) order
//! sessions    `sessions` records: Session { client_id, seq, last_index: u64,
//!             reply: KvReply }, `last_index` strictly ascending, that is
//!             least recently used first (the order of eviction)
//! trailer     record: u64, the digest of the header, entry and session
//!             records (see below)
//! ```
//!
//! A record is its body's length as a varint (postcard's: 7 bits a byte,
//! least significant first), then the body, postcard-encoded. The length
//! lets a reader check a record against a bound before it reads the body,
//! and check that the body decodes to its last byte.
//!
//! The digest is the first 8 bytes (little-endian) of the SHA-256 of the
//! header, entry and session records as they stand in the stream, length
//! prefixes included. It is what [`KvStore::digest`] returns, so two
//! replicas compare their states by it, and the trailer lets
//! [`KvStore::restore_from`] tell a damaged snapshot from a good one.

use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

use imbl::{HashMap, OrdMap};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{KvReply, KvStore, Session};
use crate::limits::MAX_MESSAGE_BYTES;

/// The format version [`KvView::write_to`] writes and
/// [`KvStore::restore_from`] reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The first bytes of a snapshot.
pub(super) const MAGIC: [u8; 8] = *b"node-kv\0";

/// The longest key a snapshot holds. A key comes in a log entry, and no
/// entry is longer than the largest message the transport carries.
pub const MAX_KEY_BYTES: usize = MAX_MESSAGE_BYTES;

/// The longest value (or stored reply) a snapshot holds; as for keys.
pub const MAX_VALUE_BYTES: usize = MAX_MESSAGE_BYTES;

/// The longest record body: a key and a value at their bounds, with their
/// length prefixes and a session's integers.
pub(super) const MAX_RECORD_BYTES: usize = MAX_KEY_BYTES + MAX_VALUE_BYTES + 64;

/// What a stream buffers on either side.
const IO_BUFFER_BYTES: usize = 64 << 10;

/// The header record.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Header {
    pub(super) version: u32,
    pub(super) entries: u64,
    pub(super) sessions: u64,
}

/// An entry record, as written and as read (borrowing from the record).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EntryRecord<'a> {
    pub(super) key: &'a str,
    #[serde(borrow, with = "serde_bytes_compat")]
    pub(super) value: &'a [u8],
}

/// A session record, as written.
#[derive(Debug, Serialize)]
pub(super) struct SessionRecord<'a> {
    pub(super) client_id: u64,
    pub(super) seq: u64,
    pub(super) last_index: u64,
    pub(super) reply: &'a KvReply,
}

/// A session record, as read: the reply's bytes borrowed from the record,
/// so that nothing is allocated before the record is known to be whole.
#[derive(Debug, Deserialize)]
struct SessionRecordRef<'a> {
    client_id: u64,
    seq: u64,
    last_index: u64,
    #[serde(borrow)]
    reply: ReplyRef<'a>,
}

/// [`KvReply`] borrowed; the variants in the same order.
#[derive(Debug, Deserialize)]
enum ReplyRef<'a> {
    Done,
    Value(#[serde(borrow)] Option<&'a [u8]>),
    Stale,
    Malformed,
}

impl ReplyRef<'_> {
    fn value_len(&self) -> usize {
        match self {
            ReplyRef::Value(Some(v)) => v.len(),
            _ => 0,
        }
    }

    fn to_owned(&self) -> KvReply {
        match self {
            ReplyRef::Done => KvReply::Done,
            ReplyRef::Value(v) => KvReply::Value(v.map(<[u8]>::to_vec)),
            ReplyRef::Stale => KvReply::Stale,
            ReplyRef::Malformed => KvReply::Malformed,
        }
    }
}

/// A `&[u8]` written as postcard writes a `Vec<u8>` (length, then the
/// bytes in one piece) and read back borrowed.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

/// A consistent, immutable view of a [`KvStore`]'s whole state (keys,
/// values, sessions) as of [`KvStore::snapshot_view`]. It shares the
/// store's nodes, so taking one costs O(1); writes to the store after it
/// copy the few nodes they change and leave the view as it was. `Send +
/// 'static`: write it out on another thread.
#[derive(Clone)]
pub struct KvView {
    data: OrdMap<Box<str>, Box<[u8]>>,
    sessions: HashMap<u64, Session>,
    by_age: OrdMap<u64, u64>,
}

impl fmt::Debug for KvView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvView")
            .field("keys", &self.data.len())
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl KvStore {
    /// The whole state as of now, in O(1) (see [`KvView`]).
    pub fn snapshot_view(&self) -> KvView {
        KvView { data: self.data.clone(), sessions: self.sessions.clone(), by_age: self.by_age.clone() }
    }

    /// A hash of the keys, values and sessions (with the order in which they
    /// would be evicted), the same in every process and on every platform
    /// for the same state: two replicas that applied the same entries have
    /// the same digest. It is the digest in the trailer of a snapshot of
    /// this state. Costs a pass over the whole state.
    pub fn digest(&self) -> u64 {
        self.snapshot_view().digest()
    }

    /// Reads back a snapshot written by [`KvView::write_to`]; the store gets
    /// `max_sessions` (when the snapshot holds more sessions, the least
    /// recently used are dropped, as [`KvStore::apply`] would have). The
    /// input must end where the snapshot does.
    ///
    /// Checks every record's length against a bound before reading it (so
    /// nothing is allocated according to a length in the input unless the
    /// length is within bounds), the order of keys and sessions, and the
    /// digest in the trailer. Never panics.
    ///
    /// [`KvStore::apply`]: crate::member::StateMachine::apply
    pub fn restore_from(input: &mut dyn Read, max_sessions: usize) -> Result<KvStore, KvSnapshotError> {
        Decoder::new(input).read_store(max_sessions)
    }
}

impl KvView {
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.data.get(key).map(|v| &v[..])
    }

    /// Streams the view to `out` in the format of this module's doc, one
    /// record at a time through a small buffer (never the whole encoding in
    /// memory). Returns the bytes written. Fails with
    /// [`io::ErrorKind::InvalidInput`] on a key or value above
    /// [`MAX_KEY_BYTES`] or [`MAX_VALUE_BYTES`], which no restore would
    /// accept (the leader admits none).
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<u64> {
        let mut out = BufWriter::with_capacity(IO_BUFFER_BYTES, out);
        match self.encode(&mut out) {
            Ok((written, _)) => out.flush().map(|()| written),
            Err(e) => {
                // Drops what is buffered instead of writing it after the
                // error (as dropping the `BufWriter` would).
                let _ = out.into_parts();
                Err(e)
            }
        }
    }

    /// [`KvStore::digest`] of the state this view holds.
    pub fn digest(&self) -> u64 {
        // The sink never fails, and neither do the bounds: the digest of an
        // unwritable view is still a digest.
        let mut encoder = Encoder::new(io::sink());
        encoder.check_bounds = false;
        match self.encode_into(&mut encoder) {
            Ok(()) => encoder.digest(),
            Err(_) => 0,
        }
    }

    /// Writes the whole snapshot; returns the bytes written and the digest.
    fn encode(&self, out: &mut dyn Write) -> io::Result<(u64, u64)> {
        let mut encoder = Encoder::new(out);
        self.encode_into(&mut encoder)?;
        let digest = encoder.digest();
        encoder.trailer(digest)?;
        Ok((encoder.written, digest))
    }

    /// Everything but the trailer.
    fn encode_into<W: Write>(&self, encoder: &mut Encoder<W>) -> io::Result<()> {
        encoder.magic()?;
        let header = Header {
            version: SNAPSHOT_VERSION,
            entries: self.data.len() as u64,
            sessions: self.by_age.len() as u64,
        };
        encoder.record(&header)?;
        for (key, value) in self.data.iter() {
            encoder.check(key.len() <= MAX_KEY_BYTES, "key", key.len(), MAX_KEY_BYTES)?;
            encoder.check(value.len() <= MAX_VALUE_BYTES, "value", value.len(), MAX_VALUE_BYTES)?;
            encoder.record(&EntryRecord { key, value })?;
        }
        for (&last_index, &client_id) in self.by_age.iter() {
            let Some(session) = self.sessions.get(&client_id) else {
                // `remember` keeps one `by_age` entry per session.
                return Err(io::Error::other(format!("session of client {client_id} missing from its map")));
            };
            let reply_len = match &session.reply {
                KvReply::Value(Some(v)) => v.len(),
                _ => 0,
            };
            encoder.check(reply_len <= MAX_VALUE_BYTES, "stored reply", reply_len, MAX_VALUE_BYTES)?;
            let record = SessionRecord { client_id, seq: session.seq, last_index, reply: &session.reply };
            encoder.record(&record)?;
        }
        Ok(())
    }
}

/// Frames records into a writer and hashes them.
pub(super) struct Encoder<W: Write> {
    out: W,
    /// The body being encoded; reused.
    buf: Vec<u8>,
    hasher: Sha256,
    pub(super) written: u64,
    check_bounds: bool,
}

impl<W: Write> Encoder<W> {
    pub(super) fn new(out: W) -> Encoder<W> {
        Encoder { out, buf: Vec::new(), hasher: Sha256::new(), written: 0, check_bounds: true }
    }

    pub(super) fn magic(&mut self) -> io::Result<()> {
        self.raw(&MAGIC)
    }

    /// Writes `bytes` unframed and unhashed.
    pub(super) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn check(&self, ok: bool, what: &str, len: usize, max: usize) -> io::Result<()> {
        if ok || !self.check_bounds {
            return Ok(());
        }
        let message = format!("a {what} of {len} bytes is above the snapshot's bound of {max}");
        Err(io::Error::new(io::ErrorKind::InvalidInput, message))
    }

    /// Writes `value` as a record and hashes it.
    pub(super) fn record<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        self.frame(value, true)
    }

    /// Writes the trailer record (not hashed).
    pub(super) fn trailer(&mut self, digest: u64) -> io::Result<()> {
        self.frame(&digest, false)
    }

    pub(super) fn digest(&self) -> u64 {
        finish(self.hasher.clone())
    }

    fn frame<T: Serialize + ?Sized>(&mut self, value: &T, hashed: bool) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.buf = postcard::to_extend(value, buf).map_err(io::Error::other)?;
        let mut prefix = [0u8; 10];
        let prefix = varint(self.buf.len() as u64, &mut prefix);
        if hashed {
            self.hasher.update(prefix);
            self.hasher.update(&self.buf);
        }
        self.out.write_all(prefix)?;
        self.out.write_all(&self.buf)?;
        self.written += (prefix.len() + self.buf.len()) as u64;
        Ok(())
    }
}

/// `v` as a postcard varint, in `buf`.
fn varint(mut v: u64, buf: &mut [u8; 10]) -> &[u8] {
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf[n] = byte;
            return &buf[..=n];
        }
        buf[n] = byte | 0x80;
        n += 1;
    }
}

fn finish(hasher: Sha256) -> u64 {
    let hash = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(first)
}

/// Where in a snapshot a [`KvSnapshotError`] was found. Records are counted
/// from 0 within their section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSection {
    Magic,
    Header,
    Entry(u64),
    Session(u64),
    Trailer,
}

impl fmt::Display for SnapshotSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotSection::Magic => write!(f, "the magic bytes"),
            SnapshotSection::Header => write!(f, "the header record"),
            SnapshotSection::Entry(n) => write!(f, "key/value record {n}"),
            SnapshotSection::Session(n) => write!(f, "session record {n}"),
            SnapshotSection::Trailer => write!(f, "the trailer record"),
        }
    }
}

/// Why [`KvStore::restore_from`] refused a stream.
#[derive(Debug, thiserror::Error)]
pub enum KvSnapshotError {
    #[error("not a key-value snapshot: the stream does not start with the magic bytes {MAGIC:?}")]
    BadMagic,
    #[error(
        "snapshot format version {found} is not supported (this build reads version {SNAPSHOT_VERSION})"
    )]
    UnsupportedVersion { found: u32 },
    #[error("the snapshot is truncated: the stream ends within {part}")]
    Truncated { part: SnapshotSection },
    #[error("{part} is malformed: {reason}")]
    Malformed { part: SnapshotSection, reason: String },
    #[error("{part} claims {len} bytes, above the bound of {max}")]
    RecordTooLong { part: SnapshotSection, len: u64, max: usize },
    #[error("{part} holds a key of {len} bytes, above the bound of {max}")]
    KeyTooLong { part: SnapshotSection, len: usize, max: usize },
    #[error("{part} holds a value of {len} bytes, above the bound of {max}")]
    ValueTooLong { part: SnapshotSection, len: usize, max: usize },
    #[error("{part} repeats the key {}", short(.key))]
    DuplicateKey { part: SnapshotSection, key: String },
    #[error("{part}: the key {} is out of order (keys are in ascending order)", short(.key))]
    KeyOutOfOrder { part: SnapshotSection, key: String },
    #[error("{part} repeats the session of client {client_id}")]
    DuplicateSession { part: SnapshotSection, client_id: u64 },
    #[error("{part}: last index {last_index} is not above the previous session's {previous}")]
    SessionOutOfOrder { part: SnapshotSection, last_index: u64, previous: u64 },
    #[error("the stream goes on after the snapshot's trailer")]
    TrailingBytes,
    #[error(
        "the snapshot is damaged: its records hash to {actual:#018x}, its trailer says {expected:#018x}"
    )]
    DigestMismatch { expected: u64, actual: u64 },
    #[error("reading {part}: {source}")]
    Io {
        part: SnapshotSection,
        #[source]
        source: io::Error,
    },
}

/// A key as an error message shows it: quoted, at most 64 characters.
fn short(key: &str) -> String {
    const SHOWN: usize = 64;
    match key.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &key[..cut], key.len()),
        None => format!("{key:?}"),
    }
}

/// Reads records back from a stream.
struct Decoder<'a> {
    input: BufReader<&'a mut dyn Read>,
    /// The body being decoded; reused, never longer than
    /// [`MAX_RECORD_BYTES`].
    buf: Vec<u8>,
    hasher: Sha256,
}

impl<'a> Decoder<'a> {
    fn new(input: &'a mut dyn Read) -> Decoder<'a> {
        Decoder {
            input: BufReader::with_capacity(IO_BUFFER_BYTES, input),
            buf: Vec::new(),
            hasher: Sha256::new(),
        }
    }

    fn read_store(mut self, max_sessions: usize) -> Result<KvStore, KvSnapshotError> {
        let mut magic = [0u8; MAGIC.len()];
        self.input.read_exact(&mut magic).map_err(|e| io_error(SnapshotSection::Magic, e))?;
        if magic != MAGIC {
            return Err(KvSnapshotError::BadMagic);
        }

        let part = SnapshotSection::Header;
        self.read_record(part, true)?;
        // The version first, so that a later version's header (which may
        // differ past it) is still told apart from garbage.
        let (version, _) = postcard::take_from_bytes::<u32>(&self.buf).map_err(|e| malformed(part, e))?;
        if version != SNAPSHOT_VERSION {
            return Err(KvSnapshotError::UnsupportedVersion { found: version });
        }
        let header: Header = decode_whole(part, &self.buf)?;

        let mut store = KvStore::with_max_sessions(max_sessions);
        for n in 0..header.entries {
            let part = SnapshotSection::Entry(n);
            self.read_record(part, true)?;
            let EntryRecord { key, value } = decode_whole(part, &self.buf)?;
            if key.len() > MAX_KEY_BYTES {
                return Err(KvSnapshotError::KeyTooLong { part, len: key.len(), max: MAX_KEY_BYTES });
            }
            if value.len() > MAX_VALUE_BYTES {
                return Err(KvSnapshotError::ValueTooLong { part, len: value.len(), max: MAX_VALUE_BYTES });
            }
            if let Some((last, _)) = store.data.get_max() {
                match key.cmp(&**last) {
                    std::cmp::Ordering::Greater => {}
                    std::cmp::Ordering::Equal => {
                        return Err(KvSnapshotError::DuplicateKey { part, key: key.to_owned() })
                    }
                    std::cmp::Ordering::Less => {
                        return Err(KvSnapshotError::KeyOutOfOrder { part, key: key.to_owned() })
                    }
                }
            }
            store.data.insert(key.into(), value.into());
        }

        let mut previous: Option<u64> = None;
        let mut seen = std::collections::HashSet::new();
        for n in 0..header.sessions {
            let part = SnapshotSection::Session(n);
            self.read_record(part, true)?;
            let record: SessionRecordRef<'_> = decode_whole(part, &self.buf)?;
            let len = record.reply.value_len();
            if len > MAX_VALUE_BYTES {
                return Err(KvSnapshotError::ValueTooLong { part, len, max: MAX_VALUE_BYTES });
            }
            if let Some(previous) = previous.filter(|&p| record.last_index <= p) {
                return Err(KvSnapshotError::SessionOutOfOrder {
                    part,
                    last_index: record.last_index,
                    previous,
                });
            }
            // Checked against every session read, not only those kept.
            if !seen.insert(record.client_id) {
                return Err(KvSnapshotError::DuplicateSession { part, client_id: record.client_id });
            }
            previous = Some(record.last_index);
            // In the order they were last used: the same ones are evicted,
            // here and later, as in the store the snapshot was taken of.
            store.remember(record.last_index, record.client_id, record.seq, record.reply.to_owned());
        }

        let actual = finish(self.hasher.clone());
        let part = SnapshotSection::Trailer;
        self.read_record(part, false)?;
        let expected: u64 = decode_whole(part, &self.buf)?;
        if expected != actual {
            return Err(KvSnapshotError::DigestMismatch { expected, actual });
        }
        loop {
            match self.input.fill_buf() {
                Ok([]) => break,
                Ok(_) => return Err(KvSnapshotError::TrailingBytes),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(part, e)),
            }
        }
        Ok(store)
    }

    /// Reads one record's body into `buf`, hashing it (prefix included)
    /// when `hashed`.
    fn read_record(&mut self, part: SnapshotSection, hashed: bool) -> Result<(), KvSnapshotError> {
        let mut prefix = [0u8; 10];
        let mut len: u64 = 0;
        let mut n = 0;
        loop {
            if n == prefix.len() {
                return Err(KvSnapshotError::Malformed {
                    part,
                    reason: "record length is not a varint".into(),
                });
            }
            let mut byte = [0u8; 1];
            self.input.read_exact(&mut byte).map_err(|e| io_error(part, e))?;
            prefix[n] = byte[0];
            // 10 bytes of 7 bits cover a u64; the 10th may hold only 1 bit.
            let bits = u64::from(byte[0] & 0x7f);
            if n == 9 && bits > 1 {
                return Err(KvSnapshotError::Malformed { part, reason: "record length overflows".into() });
            }
            len |= bits << (7 * n);
            n += 1;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        if len > MAX_RECORD_BYTES as u64 {
            return Err(KvSnapshotError::RecordTooLong { part, len, max: MAX_RECORD_BYTES });
        }
        self.buf.clear();
        // Grows with what actually arrives, up to the bounded `len`.
        let got = (&mut self.input).take(len).read_to_end(&mut self.buf).map_err(|e| io_error(part, e))?;
        if (got as u64) < len {
            return Err(KvSnapshotError::Truncated { part });
        }
        if hashed {
            self.hasher.update(&prefix[..n]);
            self.hasher.update(&self.buf);
        }
        Ok(())
    }
}

/// Decodes `T` from the whole of `buf`.
fn decode_whole<'b, T: Deserialize<'b>>(part: SnapshotSection, buf: &'b [u8]) -> Result<T, KvSnapshotError> {
    let (value, rest) = postcard::take_from_bytes::<T>(buf).map_err(|e| malformed(part, e))?;
    if !rest.is_empty() {
        let reason = format!("{} bytes left over after the record's content", rest.len());
        return Err(KvSnapshotError::Malformed { part, reason });
    }
    Ok(value)
}

fn malformed(part: SnapshotSection, e: postcard::Error) -> KvSnapshotError {
    KvSnapshotError::Malformed { part, reason: e.to_string() }
}

fn io_error(part: SnapshotSection, e: io::Error) -> KvSnapshotError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        KvSnapshotError::Truncated { part }
    } else {
        KvSnapshotError::Io { part, source: e }
    }
}
