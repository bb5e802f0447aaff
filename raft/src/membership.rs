//! Cluster membership (thesis chapter 4): who votes, who only receives
//! the log, and the history of configurations the log holds.
//!
//! Configurations are log entries ([`crate::EntryKind::Membership`]) that
//! carry the whole new configuration, one server changed at a time
//! (§4.1; `reconfig.rs` has the rules). A server uses the latest
//! configuration in its log, committed or not (§4.1), so the history here
//! follows every append, truncation, compaction and installed snapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// The most members (voters and learners together) a configuration holds,
/// and the longest address: a membership entry stays small, and a peer
/// cannot make one a member hold an unbounded table.
pub const MAX_MEMBERS: usize = 256;
pub const MAX_ADDRESS_BYTES: usize = 256;

/// One configuration: the voters, whose majority decides elections and
/// commitment, and the learners, which receive the log (and snapshots)
/// but neither vote nor count toward a majority. Each member has an
/// address the core never reads: the driver's name for how to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Membership {
    pub voters: BTreeMap<NodeId, String>,
    pub learners: BTreeMap<NodeId, String>,
}

/// One single-server change (§4.1), proposed with
/// [`crate::Raft::propose_membership`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MembershipChange {
    /// A new member that receives the log but does not vote yet.
    AddLearner { id: NodeId, address: String },
    /// A new voter at once. Until it catches up the cluster needs a
    /// majority of the others; adding a learner and promoting it avoids
    /// that window (§4.2.1).
    AddVoter { id: NodeId, address: String },
    /// A learner becomes a voter; refused while it lags the leader by
    /// more than [`crate::Config::max_promotion_lag`] entries.
    Promote { id: NodeId },
    /// A voter or learner leaves. A leader may remove itself: it leads
    /// until the change commits, then steps down (§4.2.2).
    Remove { id: NodeId },
}

impl Membership {
    /// The configuration a cluster starts from: `voters`, no learners, no
    /// addresses (the driver knows them from its own bootstrap file).
    pub fn bootstrap(voters: &[NodeId]) -> Membership {
        Membership { voters: voters.iter().map(|&v| (v, String::new())).collect(), learners: BTreeMap::new() }
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains_key(&id)
    }

    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains_key(&id)
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// Every member, voters first.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.keys().chain(self.learners.keys()).copied()
    }

    /// The address recorded for `id`, if it is a member.
    pub fn address(&self, id: NodeId) -> Option<&str> {
        self.voters.get(&id).or_else(|| self.learners.get(&id)).map(String::as_str)
    }

    /// Votes or replicas needed for a decision: a majority of the voters.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// True when the voters among `ids` are a majority.
    pub fn has_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a NodeId>) -> bool {
        let voters = ids.into_iter().filter(|id| self.is_voter(**id)).count();
        !self.voters.is_empty() && voters >= self.quorum()
    }

    /// The configuration after `change`, or why it cannot be made
    /// (whatever the state of the cluster: see `reconfig.rs` for the rest).
    pub fn apply(&self, change: &MembershipChange) -> Result<Membership, crate::MembershipError> {
        use crate::MembershipError as E;
        let mut next = self.clone();
        match change {
            MembershipChange::AddLearner { id, address } | MembershipChange::AddVoter { id, address } => {
                if *id == 0 {
                    return Err(E::BadId(*id));
                }
                if self.contains(*id) {
                    return Err(E::AlreadyMember(*id));
                }
                if address.len() > MAX_ADDRESS_BYTES {
                    return Err(E::AddressTooLong { bytes: address.len(), max: MAX_ADDRESS_BYTES });
                }
                if self.voters.len() + self.learners.len() >= MAX_MEMBERS {
                    return Err(E::TooManyMembers(MAX_MEMBERS));
                }
                let side = if matches!(change, MembershipChange::AddVoter { .. }) {
                    &mut next.voters
                } else {
                    &mut next.learners
                };
                side.insert(*id, address.clone());
            }
            MembershipChange::Promote { id } => {
                let Some(address) = next.learners.remove(id) else {
                    return Err(if self.is_voter(*id) { E::AlreadyVoter(*id) } else { E::NotAMember(*id) });
                };
                next.voters.insert(*id, address);
            }
            MembershipChange::Remove { id } => {
                if next.voters.remove(id).is_none() && next.learners.remove(id).is_none() {
                    return Err(E::NotAMember(*id));
                }
                if next.voters.is_empty() {
                    return Err(E::LastVoter(*id));
                }
            }
        }
        Ok(next)
    }

    /// The bytes of a membership entry.
    pub fn encode(&self) -> bytes::Bytes {
        postcard::to_stdvec(self).unwrap_or_default().into()
    }

    /// A membership entry's data, if it is a well-formed configuration:
    /// at least one voter, no id 0, nobody both voter and learner, within
    /// [`MAX_MEMBERS`] and [`MAX_ADDRESS_BYTES`].
    pub fn decode(data: &[u8]) -> Option<Membership> {
        let m: Membership = postcard::from_bytes(data).ok()?;
        m.is_well_formed().then_some(m)
    }

    /// What every configuration a change can produce satisfies (see
    /// [`Membership::decode`]).
    pub fn is_well_formed(&self) -> bool {
        !self.voters.is_empty()
            && self.voters.len() + self.learners.len() <= MAX_MEMBERS
            && !self.members().any(|id| id == 0)
            && !self.learners.keys().any(|id| self.voters.contains_key(id))
            && self.voters.values().chain(self.learners.values()).all(|a| a.len() <= MAX_ADDRESS_BYTES)
    }
}

/// The configurations a log holds: the one in force at its snapshot (or
/// the bootstrap one) and each membership entry after it.
#[derive(Clone, Debug, Default)]
pub(crate) struct MembershipLog {
    /// In force at the snapshot's index.
    base: Membership,
    /// `(index, configuration)` of each membership entry after the
    /// snapshot, in index order.
    changes: Vec<(u64, Membership)>,
    /// Counts changes of the latest configuration, so the core can tell
    /// the driver about one without comparing configurations.
    generation: u64,
}

impl MembershipLog {
    pub(crate) fn new(base: Membership) -> MembershipLog {
        MembershipLog { base, changes: Vec::new(), generation: 0 }
    }

    /// The latest configuration: the one in force (§4.1).
    pub(crate) fn latest(&self) -> &Membership {
        self.changes.last().map_or(&self.base, |(_, m)| m)
    }

    /// The index of the latest membership entry (0 when the snapshot's or
    /// the bootstrap configuration is in force).
    pub(crate) fn latest_index(&self) -> u64 {
        self.changes.last().map_or(0, |&(i, _)| i)
    }

    /// The configuration in force at `index` (the latest entry at or
    /// below it).
    pub(crate) fn at(&self, index: u64) -> &Membership {
        let n = self.changes.partition_point(|&(i, _)| i <= index);
        if n == 0 {
            &self.base
        } else {
            &self.changes[n - 1].1
        }
    }

    /// True when `id` is a voter of the configuration in force at `index`
    /// or of any later one.
    pub(crate) fn is_voter_since(&self, index: u64, id: crate::NodeId) -> bool {
        let later = self.changes.iter().filter(|&&(i, _)| i > index);
        self.at(index).is_voter(id) || later.into_iter().any(|(_, m)| m.is_voter(id))
    }

    /// Changes whenever [`MembershipLog::latest`] may have.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// A membership entry at `index` was appended.
    pub(crate) fn push(&mut self, index: u64, membership: Membership) {
        self.changes.push((index, membership));
        self.generation += 1;
    }

    /// Entries from `index` on were dropped: their configurations go too.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        if self.latest_index() >= index {
            self.changes.retain(|&(i, _)| i < index);
            self.generation += 1;
        }
    }

    /// The log was compacted through `index`: the configuration in force
    /// there becomes the base.
    pub(crate) fn compact(&mut self, index: u64) {
        let n = self.changes.partition_point(|&(i, _)| i <= index);
        if n > 0 {
            self.base = self.changes[n - 1].1.clone();
            self.changes.drain(..n);
        }
    }

    /// A snapshot through `index` holding `membership` was installed;
    /// `kept` tells whether the log after it stayed.
    pub(crate) fn install(&mut self, index: u64, membership: Membership, kept: bool) {
        self.base = membership;
        self.generation += 1;
        if kept {
            self.changes.retain(|&(i, _)| i > index);
        } else {
            self.changes.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters(ids: &[NodeId]) -> Membership {
        Membership::bootstrap(ids)
    }

    #[test]
    fn the_history_follows_appends_truncations_and_compactions() {
        let mut log = MembershipLog::new(voters(&[1, 2, 3]));
        log.push(5, voters(&[1, 2, 3, 4]));
        log.push(9, voters(&[1, 2, 4]));
        assert_eq!(log.latest(), &voters(&[1, 2, 4]));
        assert_eq!(log.at(4), &voters(&[1, 2, 3]));
        assert_eq!(log.at(7), &voters(&[1, 2, 3, 4]));
        log.truncate_from(9);
        assert_eq!(log.latest(), &voters(&[1, 2, 3, 4]));
        log.compact(6);
        assert_eq!(log.latest_index(), 0);
        assert_eq!(log.at(0), &voters(&[1, 2, 3, 4]));
    }

    #[test]
    fn a_change_that_leaves_no_voter_or_names_a_stranger_is_refused() {
        let m = voters(&[1]);
        assert!(m.apply(&MembershipChange::Remove { id: 1 }).is_err());
        assert!(m.apply(&MembershipChange::Remove { id: 2 }).is_err());
        assert!(m.apply(&MembershipChange::Promote { id: 1 }).is_err());
        let add = MembershipChange::AddLearner { id: 1, address: String::new() };
        assert!(m.apply(&add).is_err());
    }

    #[test]
    fn decode_refuses_what_no_change_produces() {
        let mut both = voters(&[1, 2]);
        both.learners.insert(2, String::new());
        assert_eq!(Membership::decode(&both.encode()), None);
        assert_eq!(Membership::decode(&Membership::default().encode()), None, "no voter");
        assert_eq!(Membership::decode(&voters(&[0]).encode()), None);
        assert_eq!(Membership::decode(b"\xff"), None);
        assert_eq!(Membership::decode(&voters(&[1, 2]).encode()), Some(voters(&[1, 2])));
    }
}
