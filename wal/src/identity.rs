//! Whose log this is: the cluster and the member that created it. Every
//! segment header (format version 2) records it, so it survives any
//! compaction, and `open` refuses a directory created for another cluster
//! or member before acting on its votes and entries (a mistyped
//! `--data-dir`, two members started on one disk image, a restored backup
//! of the wrong machine).

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// The cluster id and member id a log belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The cluster's id (the same on every member).
    pub cluster_id: u64,
    /// This member's id within the cluster.
    pub member_id: u64,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster {} member {}", self.cluster_id, self.member_id)
    }
}

/// Checks the identities of a log's segment headers as a scan reads them
/// in order: the first version-2 segment names the log's identity, which
/// must be the one expected (if any) and every later segment's.
pub(crate) struct IdentityCheck<'a> {
    dir: &'a Path,
    expected: Option<Identity>,
    found: Option<Identity>,
}

impl<'a> IdentityCheck<'a> {
    /// A check of the log in `dir`; `expected: None` accepts any identity
    /// (read-only inspection).
    pub fn new(dir: &'a Path, expected: Option<Identity>) -> Self {
        IdentityCheck { dir, expected, found: None }
    }

    /// Checks the next segment's header identity (`None`: a version-1
    /// segment, which records none).
    pub fn segment(&mut self, path: &Path, identity: Option<Identity>) -> Result<()> {
        match (self.found, identity) {
            (None, Some(found)) => {
                if let Some(expected) = self.expected.filter(|e| *e != found) {
                    return Err(Error::WrongIdentity { dir: self.dir.to_path_buf(), found, expected });
                }
                self.found = Some(found);
                Ok(())
            }
            // Version-1 segments only ever precede version-2 ones (version-1
            // code refuses a directory holding a version-2 segment).
            (Some(log), found) if found != Some(log) => {
                Err(Error::ForeignSegment { path: path.to_path_buf(), found, log })
            }
            _ => Ok(()),
        }
    }

    /// The identity the segments record, if any did.
    pub fn found(&self) -> Option<Identity> {
        self.found
    }
}
