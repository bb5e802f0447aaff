//! Raft's safety properties (Figure 3 of the paper), checked after every
//! simulator event, incrementally: each check looks only at what the event
//! changed.
//!
//! - Election Safety: at most one leader per term.
//! - Log Matching: an entry's (index, term) fixes its command and the term
//!   of the entry before it (so, by induction, the whole prefix).
//! - Leader Completeness: a new leader holds every entry known committed.
//! - State Machine Safety: every server commits the same entry at an index
//!   (applies are checked by the `ApplyChecker`).
//! - Monotonicity: a server's commit index never goes back within an
//!   incarnation; its persisted term never goes back at all, nor does its
//!   persisted vote change within a term.
//!
//! Against what is durable (the simulated disk's synced state, which is all
//! a crash leaves):
//! - an entry is committed only once a majority holds it durably;
//! - no server overwrites a committed entry on its disk;
//! - a message promises only durable state ([`check_promise`]): its term,
//!   a candidate's own vote, a granted vote, an acknowledged log prefix.

use std::collections::HashMap;

use raft::{AppendReply, Body, Entry, HardState, Message, Raft, RaftLog, Role};

use super::disk::Disk;

/// The global knowledge the checks compare against.
pub struct Invariants {
    /// Term → the server that led in it.
    leaders: HashMap<u64, usize>,
    /// (index, term) → (hash of the command, term of the entry before, if
    /// seen).
    entries: HashMap<(u64, u64), (u64, Option<u64>)>,
    /// `committed[i - 1]` = (term, command hash) of the entry committed at i.
    committed: Vec<(u64, u64)>,
    /// Per server: commit index seen last (this incarnation), and the term
    /// in which it was last seen as leader.
    commit_index: Vec<u64>,
    led_in: Vec<Option<u64>>,
}

/// A fingerprint of a command, to compare entries without keeping copies
/// (std's SipHash with fixed keys: the same within a run, which is all
/// the checks need).
fn fingerprint(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

impl Invariants {
    pub fn new(servers: usize) -> Invariants {
        Invariants {
            leaders: HashMap::new(),
            entries: HashMap::new(),
            committed: Vec::new(),
            commit_index: vec![0; servers],
            led_in: vec![None; servers],
        }
    }

    /// A new incarnation starts with commit index 0 and no leadership.
    pub fn on_restart(&mut self, server: usize) {
        self.commit_index[server] = 0;
        self.led_in[server] = None;
    }

    /// Server `server` persists `new` over `old`.
    pub fn on_hard_state(&self, server: usize, old: HardState, new: HardState) -> Result<(), String> {
        if new.current_term < old.current_term {
            return Err(format!(
                "server {server} persisted term {} after term {}",
                new.current_term, old.current_term
            ));
        }
        if new.current_term == old.current_term && old.voted_for.is_some() && new.voted_for != old.voted_for {
            return Err(format!(
                "server {server} changed its vote in term {} from {:?} to {:?}",
                new.current_term, old.voted_for, new.voted_for
            ));
        }
        Ok(())
    }

    /// Server `server` makes `es` durable over `before`: a committed entry
    /// it holds must not be replaced.
    pub fn on_durable_entries(&self, server: usize, before: &Disk, es: &[Entry]) -> Result<(), String> {
        let Some(first) = es.first().map(|e| e.index) else { return Ok(()) };
        let upto = before.last_index().min(self.committed.len() as u64);
        for index in first..=upto {
            let committed_term = self.committed[index as usize - 1].0;
            let new_term = es.get((index - first) as usize).map(|e| e.term);
            if before.term(index) == Some(committed_term) && new_term != Some(committed_term) {
                return Err(format!("server {server} replaced committed index {index} on its disk"));
            }
        }
        Ok(())
    }

    /// Log Matching, for entries just made durable on `disk`. The term of
    /// the entry before is compared when the disk still holds it (a
    /// snapshot may have replaced it).
    pub fn on_entries(&mut self, server: usize, disk: &Disk, written: &[Entry]) -> Result<(), String> {
        for e in written {
            let fp = fingerprint(&e.data);
            let prev_term = disk.term(e.index - 1);
            let known = self.entries.entry((e.index, e.term)).or_insert((fp, prev_term));
            let prev_differs = matches!((known.1, prev_term), (Some(a), Some(b)) if a != b);
            if known.0 != fp || prev_differs {
                let what = if known.0 != fp { "its command" } else { "the term before it" };
                return Err(format!(
                    "log matching: server {server} holds another entry at index {} term {} \
                     ({what} differs: {:?} seen before, {prev_term:?} here)",
                    e.index, e.term, known.1
                ));
            }
            known.1 = known.1.or(prev_term);
        }
        Ok(())
    }

    /// Election Safety, Leader Completeness and commit checks for a server
    /// after an event changed it.
    /// `durable` gives every server's durable state (asked for only when an
    /// index is committed for the first time).
    pub fn observe<'d>(
        &mut self,
        server: usize,
        raft: &Raft,
        durable: &dyn Fn() -> Vec<&'d Disk>,
    ) -> Result<(), String> {
        let term = raft.current_term();
        if raft.role() == Role::Leader && self.led_in[server] != Some(term) {
            self.on_new_leader(server, term, raft)?;
        }
        self.on_commit(server, raft, durable)
    }

    fn on_new_leader(&mut self, server: usize, term: u64, raft: &Raft) -> Result<(), String> {
        if let Some(&other) = self.leaders.get(&term) {
            if other != server {
                return Err(format!("two leaders in term {term}: servers {other} and {server}"));
            }
        }
        self.leaders.insert(term, server);
        self.led_in[server] = Some(term);
        let known = self.committed.len() as u64;
        if known > 0 && raft.log().term(known) != Some(self.committed[known as usize - 1].0) {
            return Err(format!(
                "leader completeness: server {server} leads term {term} without committed index {known}"
            ));
        }
        Ok(())
    }

    fn on_commit<'d>(
        &mut self,
        server: usize,
        raft: &Raft,
        durable: &dyn Fn() -> Vec<&'d Disk>,
    ) -> Result<(), String> {
        let commit = raft.commit_index();
        let before = self.commit_index[server];
        if commit < before {
            return Err(format!("server {server} commit index went back from {before} to {commit}"));
        }
        let snapshot = raft.log().snapshot();
        if snapshot.index > before {
            // Installed or restored: a snapshot holds committed entries only.
            let known = self.committed.get(snapshot.index as usize - 1).map(|c| c.0);
            if known != Some(snapshot.term) {
                return Err(format!(
                    "server {server} holds a snapshot through index {} (term {}) that is not committed",
                    snapshot.index, snapshot.term
                ));
            }
        }
        for index in (before + 1).max(snapshot.index + 1)..=commit {
            let e = raft
                .log()
                .entry(index)
                .ok_or_else(|| format!("server {server} commit index {commit} is past its last entry"))?;
            let this = (e.term, fingerprint(&e.data));
            match self.committed.get(index as usize - 1) {
                Some(&known) if known != this => {
                    return Err(format!(
                        "state machine safety: server {server} committed another entry at index {index}"
                    ));
                }
                Some(_) => {}
                None => {
                    // The first to commit an entry is its leader, which
                    // counted a majority of the voters of the configuration
                    // in force in its log (§4.1).
                    let durable = durable();
                    let voters = &raft.membership().voters;
                    let holders = (durable.iter().enumerate())
                        .filter(|(s, d)| {
                            voters.contains_key(&(*s as u64 + 1)) && d.term(index) == Some(e.term)
                        })
                        .count();
                    if holders < voters.len() / 2 + 1 {
                        return Err(format!(
                            "server {server} committed index {index} (term {}) held durably by {holders} of its {} voters",
                            e.term,
                            voters.len()
                        ));
                    }
                    self.committed.push(this);
                }
            }
        }
        self.commit_index[server] = commit;
        Ok(())
    }
}

/// What a message sent by server `server` promises must already be
/// durable on its disk: a vote or an acknowledgement given before its sync
/// completed is worthless after a crash.
///
/// A promise made in term T is also kept when the disk already holds a
/// later term: one `Ready` may carry a vote or an acknowledgement of term T
/// together with the move to a later term (and the truncation a newer
/// leader asked for), and the server can never act in term T again. That
/// is the run in which the message left before the later term was durable
/// and the network delayed it.
pub fn check_promise(
    server: usize,
    msg: &Message,
    (durable, snapshot): (&Disk, raft::SnapshotMeta),
    log: &RaftLog,
) -> Result<(), String> {
    let hs = durable.hard_state;
    let fail = |what: String| Err(format!("server {server} sent {what} before it was durable"));
    if matches!(msg.body, Body::PreVote { .. } | Body::PreVoteReply { vote_granted: true }) {
        // Their term is the one a pre-candidate asks about (§9.6), which
        // nobody holds: they promise nothing.
        return Ok(());
    }
    if matches!(msg.body, Body::ReadIndex { .. } | Body::ReadIndexReply { .. }) {
        // Reads' traffic leaves before the turn's writes (`Ready::
        // take_early_messages`), so its term may still be syncing: a
        // follower's question, or a refusal from a member that does not
        // lead, promises nothing; a leader's index is of a term it holds
        // durably since it campaigned in it.
        return Ok(());
    }
    if msg.term > hs.current_term {
        return fail(format!("a message of term {} ({:?})", msg.term, msg.body));
    }
    if msg.term < hs.current_term {
        return Ok(());
    }
    match &msg.body {
        Body::RequestVote { .. } if hs.voted_for != Some(msg.from) => {
            fail(format!("a RequestVote of term {} (its own vote)", msg.term))
        }
        Body::RequestVoteReply { vote_granted: true } if hs.voted_for != Some(msg.to) => {
            fail(format!("its vote for {} in term {}", msg.to, msg.term))
        }
        Body::AppendEntriesReply(AppendReply::Success { match_index, .. })
            if *match_index <= snapshot.index =>
        {
            Ok(()) // a durable snapshot holds it
        }
        Body::AppendEntriesReply(AppendReply::Success { match_index, .. }) => {
            let held = durable.term(*match_index);
            if held.is_none() || held != log.term(*match_index).or(held) {
                return fail(format!(
                    "an acknowledgement of index {match_index} (durable: log {}..={}, term there {held:?}, \
                     snapshot {}; in memory: term there {:?}, snapshot {})",
                    durable.first_index(),
                    durable.last_index(),
                    snapshot.index,
                    log.term(*match_index),
                    log.snapshot().index
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_entry_at_the_same_index_and_term_is_caught() {
        let mut inv = Invariants::new(2);
        let mut a = Disk::default();
        let e1 = Entry::new(1, 1, b"x".to_vec());
        a.write(std::slice::from_ref(&e1));
        assert!(inv.on_entries(0, &a, &[e1]).is_ok());
        let mut b = Disk::default();
        let other = Entry::new(1, 1, b"y".to_vec());
        b.write(std::slice::from_ref(&other));
        assert!(inv.on_entries(1, &b, &[other]).is_err());
    }

    #[test]
    fn persisted_term_and_vote_cannot_go_back() {
        let inv = Invariants::new(1);
        let hs = |current_term, voted_for| HardState { current_term, voted_for };
        assert!(inv.on_hard_state(0, hs(3, None), hs(2, None)).is_err());
        assert!(inv.on_hard_state(0, hs(3, Some(1)), hs(3, Some(2))).is_err());
        assert!(inv.on_hard_state(0, hs(3, None), hs(3, Some(2))).is_ok());
        assert!(inv.on_hard_state(0, hs(3, Some(1)), hs(4, None)).is_ok());
    }

    #[test]
    fn a_vote_is_promised_only_once_durable_or_superseded() {
        let none = raft::SnapshotMeta::default();
        let vote = Message { from: 2, to: 1, term: 5, body: Body::RequestVoteReply { vote_granted: true } };
        let log = RaftLog::default();
        let disk = |current_term, voted_for| Disk {
            hard_state: HardState { current_term, voted_for },
            ..Disk::default()
        };
        assert!(check_promise(1, &vote, (&disk(5, Some(1)), none), &log).is_ok());
        assert!(check_promise(1, &vote, (&disk(4, Some(1)), none), &log).is_err(), "the term is not durable");
        assert!(check_promise(1, &vote, (&disk(5, None), none), &log).is_err(), "the vote is not durable");
        assert!(check_promise(1, &vote, (&disk(6, None), none), &log).is_ok(), "term 5 is over for good");
    }

    #[test]
    fn an_acknowledgement_needs_the_prefix_on_disk() {
        let none = raft::SnapshotMeta::default();
        let ack = Message {
            from: 2,
            to: 1,
            term: 1,
            body: Body::AppendEntriesReply(AppendReply::Success { match_index: 1, round: 0 }),
        };
        let log = RaftLog::default();
        let mut d = Disk { hard_state: HardState { current_term: 1, voted_for: None }, ..Disk::default() };
        assert!(check_promise(1, &ack, (&d, none), &log).is_err());
        d.write(&[Entry::new(1, 1, b"x".to_vec())]);
        assert!(check_promise(1, &ack, (&d, none), &log).is_ok());
    }
}
