//! The `churn` nemesis: an operator that keeps changing the membership and
//! moving leadership while the other faults act.
//!
//! Each step asks the current leader, through the member's operator
//! interface (`Member::on_admin`, what `node add/promote/remove/
//! transfer-leader` send), for one of: add a learner, add a voter, promote
//! a learner, remove a voter or a learner (the leader itself included), or
//! transfer leadership to another voter. Voters stay between 3 and 7 of the
//! 7 servers. The leader may refuse (a change pending, a lagging learner, a
//! transfer under way); the step is counted either way. The invariants
//! and the clients' linearizability check run as in every run; the
//! majority behind each commit is counted among the voters of the
//! committing leader's configuration (`invariants.rs`).

use rand::Rng;

use node::proto::AdminRequest;
use raft::{MembershipChange, Role};

use super::Sim;

/// The operator's client id: outside the clients' range, so the members'
/// answers go nowhere.
const OPERATOR: u64 = u64::MAX - 1;
const MIN_VOTERS: usize = 3;
const MAX_VOTERS: usize = 7;

/// What the operator did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Churn {
    seq: u64,
    /// Requests sent, and how many the leader took at once (changes are
    /// acknowledged later, when they commit).
    pub requests: u64,
    pub accepted: u64,
    /// The fewest and most voters a leader's configuration had at a step.
    pub voters_seen: (usize, usize),
    /// The member the `relearn` operator removed last.
    pub(super) recently_removed: Option<u64>,
}

impl Sim {
    /// One operator step, if there is a leader to ask.
    pub(super) fn churn_next(&mut self) {
        let Some((leader, m, outsiders)) = self.leaders_view() else { return };
        let n = m.voters.len();
        let (low, high) = self.churn.voters_seen;
        self.churn.voters_seen = (if low == 0 { n } else { low.min(n) }, high.max(n));
        let Some(request) = self.pick_request(leader as u64 + 1, &m, &outsiders) else { return };
        self.operator_asks(leader, request);
    }

    /// The running leader of the highest term, its configuration, and the
    /// servers outside it.
    pub(super) fn leaders_view(&self) -> Option<(usize, raft::Membership, Vec<u64>)> {
        let leader = self.current_leader()?;
        let m = self.nodes[leader].member.as_ref()?.raft().membership().clone();
        let outsiders = (1..=self.nodes.len() as u64).filter(|&o| !m.contains(o)).collect();
        Some((leader, m, outsiders))
    }

    /// Sends the operator's `request` to server `leader`; true when it was
    /// taken (a change is answered when it commits, a transfer at once).
    pub(super) fn operator_asks(&mut self, leader: usize, request: AdminRequest) -> bool {
        self.churn.seq += 1;
        self.churn.requests += 1;
        let (seq, node) = (self.churn.seq, &mut self.nodes[leader]);
        let Some(member) = node.member.as_mut() else { return false };
        let answer = member.on_admin(OPERATOR, seq, request);
        let taken = answer.is_none_or(|a| a.reply == node::proto::Reply::Applied(Vec::new()));
        self.churn.accepted += u64::from(taken);
        node.dirty = true;
        taken
    }

    /// What the operator did so far.
    pub fn churn_stats(&self) -> Churn {
        self.churn
    }

    /// The running leader of the highest term.
    pub(super) fn current_leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter_map(|i| Some((i, self.nodes[i].member.as_ref()?.raft())))
            .filter(|(_, r)| r.role() == Role::Leader)
            .max_by_key(|(_, r)| r.current_term())
            .map(|(i, _)| i)
    }

    /// One request for leader `me` of configuration `m`.
    fn pick_request(&mut self, me: u64, m: &raft::Membership, outsiders: &[u64]) -> Option<AdminRequest> {
        let learners: Vec<u64> = m.learners.keys().copied().collect();
        let others: Vec<u64> = m.voters.keys().copied().filter(|&v| v != me).collect();
        let voters = m.voters.len();
        let address = |id: u64| format!("sim-{id}");
        let choice = self.rng.random_range(0..6);
        let change = match choice {
            0 | 1 if !outsiders.is_empty() => {
                let id = outsiders[self.rng.random_range(0..outsiders.len())];
                if choice == 1 && voters < MAX_VOTERS {
                    MembershipChange::AddVoter { id, address: address(id) }
                } else {
                    MembershipChange::AddLearner { id, address: address(id) }
                }
            }
            2 if !learners.is_empty() && voters < MAX_VOTERS => {
                MembershipChange::Promote { id: learners[self.rng.random_range(0..learners.len())] }
            }
            3 if voters > MIN_VOTERS => {
                let all: Vec<u64> = m.voters.keys().copied().collect();
                MembershipChange::Remove { id: all[self.rng.random_range(0..all.len())] }
            }
            4 if !learners.is_empty() => {
                MembershipChange::Remove { id: learners[self.rng.random_range(0..learners.len())] }
            }
            _ if !others.is_empty() => {
                return Some(AdminRequest::TransferLeader(others[self.rng.random_range(0..others.len())]));
            }
            _ => return None,
        };
        Some(AdminRequest::Change(change))
    }
}
