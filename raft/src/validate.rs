//! Checks on a message before it may change anything: no value a peer sends
//! is trusted. `step` runs [`check_message`] before it looks at the term, so
//! a refused message leaves the server exactly as it was (the promise of
//! [`StepError`]).
//!
//! What is checked here is what no correct member ever sends, whatever
//! state the receiver is in: terms out of range, indexes that overflow,
//! entries out of order, hints that contradict themselves.
//! [`Raft::check_against_state`] adds what only the receiver's state can
//! tell (a reply naming entries the leader never sent), also before any
//! change.

use crate::server::{Raft, Role, StepError};
use crate::{AppendReply, Body, Entry, Message};

/// Where terms stop being free for any message to set.
///
/// A term that cannot be followed by another would stop the cluster for
/// good: every campaign needs `current_term + 1`. A message may push a
/// member to at most [`MAX_TERM_JUMP`] above this ceiling, or above the
/// member's own term once that is past it, while elections go on up to
/// `u64::MAX`. So one message costs at most 2^16 of the 2^32 elections
/// above the ceiling: no message, and no few of them, exhaust the term
/// space. Without a cluster secret anyone who reaches a port can send a
/// term; with one, only members can.
pub const MAX_TERM: u64 = u64::MAX - (1 << 32);

/// How far above [`MAX_TERM`], or above its own term past it, a message
/// may raise a member's term: room for a cluster that held elections up
/// there while the member was cut off. A fixed ceiling for messages would
/// not do: the elections above it send terms above it.
pub const MAX_TERM_JUMP: u64 = 1 << 16;

/// True when a message of `term` may be taken by a member at
/// `current_term` (see [`MAX_TERM`]).
pub(crate) fn term_reachable(current_term: u64, term: u64) -> bool {
    term <= current_term.max(MAX_TERM).saturating_add(MAX_TERM_JUMP)
}

/// The highest log index a message may make a member hold.
///
/// Without snapshots a log grows one entry at a time from index 0, and no
/// index comes near `u64::MAX`. An InstallSnapshot moves a follower's log
/// to the index it names at once, so a peer could name `u64::MAX` and make
/// the first index after the snapshot overflow. Snapshots and entries
/// from peers stop here, which leaves 2^32 indexes for the member's own
/// proposals above anything a message can push its log to.
pub const MAX_INDEX: u64 = u64::MAX - (1 << 32);

/// Refuses a message that no correct member sends (see the module doc).
pub(crate) fn check_message(msg: &Message) -> Result<(), StepError> {
    // Every message carries its sender's current term, which is at least 1
    // once a member has campaigned or heard from one that did.
    let checked = if msg.term == 0 {
        Err("term 0")
    } else {
        match &msg.body {
            Body::RequestVote { last_log_index, last_log_term, .. }
            | Body::PreVote { last_log_index, last_log_term } => {
                check_position(*last_log_index, *last_log_term, msg.term)
            }
            Body::RequestVoteReply { .. }
            | Body::PreVoteReply { .. }
            | Body::TimeoutNow
            | Body::ReadIndex { .. }
            | Body::ReadIndexReply { .. } => Ok(()),
            Body::AppendEntries { prev_log_index, prev_log_term, entries, .. } => {
                check_position(*prev_log_index, *prev_log_term, msg.term)
                    .and_then(|()| check_entries(*prev_log_index, *prev_log_term, entries, msg.term))
            }
            Body::AppendEntriesReply(reply) => check_reply(reply, msg.term),
            Body::InstallSnapshot { snapshot, .. } if snapshot.index == 0 => {
                Err("snapshot of the empty prefix")
            }
            Body::InstallSnapshot { snapshot, .. } if snapshot.index > MAX_INDEX => {
                Err("snapshot past the largest index")
            }
            Body::InstallSnapshot { membership, .. } if !membership.is_well_formed() => {
                Err("snapshot with a configuration that is not well formed")
            }
            Body::InstallSnapshot { snapshot, .. } => check_position(snapshot.index, snapshot.term, msg.term),
        }
    };
    checked.map_err(|reason| StepError::Malformed { from: msg.from, reason })
}

/// A log position `(index, term)`: index 0 is the empty prefix of term 0,
/// every real entry has a term of at least 1, and a sender's log holds no
/// term above its current one.
fn check_position(index: u64, term: u64, msg_term: u64) -> Result<(), &'static str> {
    if (index == 0) != (term == 0) {
        return Err("log position with index 0 and a term, or the reverse");
    }
    if term > msg_term {
        return Err("log term newer than the message's term");
    }
    Ok(())
}

/// Entries must be consecutive from `prev_log_index + 1` up to at most
/// [`MAX_INDEX`], with terms that never decrease and never pass the
/// request's term.
fn check_entries(
    prev_log_index: u64,
    prev_log_term: u64,
    entries: &[Entry],
    term: u64,
) -> Result<(), &'static str> {
    let count = u64::try_from(entries.len()).map_err(|_| "too many entries")?;
    match prev_log_index.checked_add(count) {
        Some(last) if count == 0 || last <= MAX_INDEX => {}
        _ => return Err("entries run past the largest index"),
    }
    let mut prev_term = prev_log_term;
    for (k, e) in (1..).zip(entries) {
        if e.index != prev_log_index + k {
            return Err("entries are not consecutive after prev_log_index");
        }
        if e.term < prev_term.max(1) || e.term > term {
            return Err("entry terms out of order");
        }
        if e.kind == crate::EntryKind::Membership && e.as_membership().is_none() {
            return Err("membership entry that is not a well-formed configuration");
        }
        prev_term = e.term;
    }
    Ok(())
}

/// A rejection names the `prev_log_index` that failed, which is never 0 (the
/// empty prefix always matches), and a first index of the conflicting run
/// (or the follower's log length + 1) that lies at or below it.
fn check_reply(reply: &AppendReply, term: u64) -> Result<(), &'static str> {
    let AppendReply::Conflict { rejected_index, conflict_term, conflict_index, .. } = *reply else {
        return Ok(());
    };
    if rejected_index == 0 {
        return Err("rejection of the empty prefix");
    }
    if conflict_index == 0 || conflict_index > rejected_index {
        return Err("conflict index outside 1..=rejected_index");
    }
    if conflict_term.is_some_and(|t| t == 0 || t > term) {
        return Err("conflict term out of range");
    }
    Ok(())
}

impl Raft {
    /// Refuses a message of our term or a newer one whose term no member
    /// can have reached ([`term_reachable`]) or that contradicts what this
    /// member knows for sure. Runs before the term is adopted, so a
    /// refused message changes nothing.
    pub(crate) fn check_against_state(&self, msg: &Message) -> Result<(), StepError> {
        let malformed = |reason| Err(StepError::Malformed { from: msg.from, reason });
        if !term_reachable(self.current_term, msg.term) {
            return malformed("term out of range");
        }
        let leader_of_this_term = self.role() == Role::Leader && msg.term == self.current_term;
        match &msg.body {
            Body::AppendEntries { .. } | Body::InstallSnapshot { .. } if leader_of_this_term => {
                // Two leaders in one term cannot happen (§5.2 Election Safety).
                malformed("second leader in one term")
            }
            Body::InstallSnapshot { snapshot, .. } => {
                // A snapshot holds committed entries only, and so does ours.
                let ours = self.log.term(snapshot.index);
                if snapshot.index <= self.commit_index && ours.is_some_and(|t| t != snapshot.term) {
                    return malformed("snapshot contradicts a committed entry");
                }
                // Past our commit index it follows our last committed entry
                // in every leader's log, whose terms never decrease.
                let committed = self.log.term(self.commit_index);
                if snapshot.index > self.commit_index && committed.is_some_and(|t| t > snapshot.term) {
                    return malformed("snapshot older than a committed entry");
                }
                Ok(())
            }
            Body::AppendEntries { entries, .. } => {
                // A leader holds every committed entry (§5.4.1, Leader
                // Completeness): a request that would overwrite one is not
                // from a correct leader.
                match self.log.first_conflict(entries) {
                    Some(i) if i <= self.commit_index => malformed("overwrites a committed entry"),
                    _ => Ok(()),
                }
            }
            Body::AppendEntriesReply(reply) if leader_of_this_term => {
                // Within our term our log only grows and every request we
                // sent named indexes in it.
                let named = match *reply {
                    AppendReply::Success { match_index, .. } => match_index,
                    AppendReply::Conflict { rejected_index, .. } => rejected_index,
                    AppendReply::StaleTerm => 0,
                };
                if named > self.log.last_index() {
                    return malformed("reply names an index past the leader's log");
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
