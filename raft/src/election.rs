//! Leader election (§5.2) with the election restriction (§5.4.1): Figure 2
//! "RequestVote RPC" and the rules for followers and candidates.

use crate::replication::AppendKind;
use crate::role::{Leader, RoleState};
use crate::server::{Raft, Role};
use crate::{Body, NodeId};

impl Raft {
    /// Followers (§5.2): "If election timeout elapses without receiving
    /// AppendEntries RPC from current leader or granting vote to candidate:
    /// convert to candidate." Candidates: "If election timeout elapses:
    /// start new election."
    pub(crate) fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.config.election_timeout_min_ticks {
            self.start_lease = false;
        }
        if self.election_elapsed < self.election_timeout {
            return;
        }
        if !self.may_stand() {
            // A learner, a member being added or one whose removal
            // committed: it never stands (§4.2.1, §4.2.3). A whole timeout
            // passed without a word from the leader, so it is out of lease
            // (`in_lease` follows the leader, not this timer, which starts
            // over only to come back here).
            self.leader_id = None;
            self.reset_election_timer();
        } else if self.config.pre_vote {
            self.pre_campaign();
        } else {
            self.campaign(false);
        }
    }

    /// A voter of the configuration in force stands for election, and so
    /// does a member that a change after the commit index removed (thesis
    /// §4.2.2, Figure 4.6): until its removal commits the others may still
    /// need it, for its log may be the only one that can win. It does not
    /// count its own vote (`has_majority` counts the latest voters), and
    /// once it leads it commits its removal and steps down.
    fn may_stand(&self) -> bool {
        self.log.is_voter_since(self.commit_index, self.config.id)
    }

    /// True when the voters in `votes` are a majority of the configuration
    /// in force.
    fn has_majority(&self) -> bool {
        self.state.votes().is_some_and(|votes| self.log.membership().has_quorum(votes))
    }

    /// PreVote (thesis §9.6): before raising its term, ask the others
    /// whether they would vote for us at the next term. Nothing changes
    /// but the role and the timer; a refusal or silence costs no term.
    fn pre_campaign(&mut self) {
        let Some(term) = self.current_term.checked_add(1) else {
            self.reset_election_timer();
            return;
        };
        self.state = RoleState::pre_candidate(self.config.id);
        self.leader_id = None;
        self.reset_election_timer();
        if self.has_majority() {
            return self.campaign(false);
        }
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        for peer in self.peers() {
            self.send_at(peer, term, Body::PreVote { last_log_index, last_log_term });
        }
    }

    /// A pre-vote at `term` (at least ours: older ones are refused in
    /// `step`). Granted when we would grant the real vote: the
    /// candidate's log is at least as up-to-date as ours (§5.4.1), and for
    /// our own term, we are free to vote and know of no leader. The lease
    /// (`in_lease`) already dropped it if we heard from a leader recently.
    /// Nothing is recorded: a pre-vote binds nobody.
    pub(crate) fn handle_pre_vote(
        &mut self,
        from: NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        let free = term > self.current_term
            || (self.leader_id.is_none() && self.voted_for.is_none_or(|v| v == from));
        let vote_granted = free && self.log.is_up_to_date(last_log_index, last_log_term);
        let reply_term = if vote_granted { term } else { self.current_term };
        self.send_at(from, reply_term, Body::PreVoteReply { vote_granted });
    }

    /// Pre-candidates: a majority that would vote for us at the next term
    /// starts the real election.
    pub(crate) fn handle_pre_vote_reply(&mut self, from: NodeId, term: u64, vote_granted: bool) {
        let ours = self.current_term.checked_add(1) == Some(term);
        let RoleState::PreCandidate { votes } = &mut self.state else { return };
        if !vote_granted || !ours {
            return;
        }
        votes.insert(from);
        if self.has_majority() {
            self.campaign(false);
        }
    }

    /// Candidates (§5.2), on conversion: increment currentTerm, vote for
    /// self, reset the election timer, send RequestVote to all other servers.
    /// `leadership_transfer`: the leader asked for this election (§3.10).
    pub(crate) fn campaign(&mut self, leadership_transfer: bool) {
        let Some(term) = self.current_term.checked_add(1) else {
            // At `u64::MAX`, 2^32 elections above anything one message can
            // push a member to (`validate::MAX_TERM`): stay a follower
            // rather than wrap the term.
            self.reset_election_timer();
            return;
        };
        self.state = RoleState::candidate(self.config.id);
        self.current_term = term;
        self.voted_for = Some(self.config.id);
        self.hard_state_changed = true;
        self.leader_id = None;
        self.reset_election_timer();
        if self.has_majority() {
            self.become_leader();
            return;
        }
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        for peer in self.peers() {
            self.send(peer, Body::RequestVote { last_log_index, last_log_term, leadership_transfer });
        }
    }

    /// RequestVote receiver (Figure 2), for a request of our current term:
    /// grant if we have not voted for someone else this term and the
    /// candidate's log is at least as up-to-date as ours (§5.4.1).
    pub(crate) fn handle_request_vote(&mut self, candidate: NodeId, last_log_index: u64, last_log_term: u64) {
        let free_to_vote = match self.voted_for {
            None => true,
            Some(v) => v == candidate,
        };
        let vote_granted = free_to_vote && self.log.is_up_to_date(last_log_index, last_log_term);
        if vote_granted {
            if self.voted_for.is_none() {
                self.voted_for = Some(candidate);
                self.hard_state_changed = true;
            }
            // Granting a vote is one of the three events that reset the timer.
            self.reset_election_timer();
        }
        self.send(candidate, Body::RequestVoteReply { vote_granted });
    }

    /// Candidates: "If votes received from majority of servers: become
    /// leader." Replies from older terms never get here (`step` drops them).
    pub(crate) fn handle_vote_reply(&mut self, from: NodeId, vote_granted: bool) {
        let RoleState::Candidate { votes } = &mut self.state else { return };
        if !vote_granted {
            return;
        }
        votes.insert(from);
        if self.has_majority() {
            self.become_leader();
        }
    }

    /// CheckQuorum's lease (etcd's `inLease`): with CheckQuorum on, a leader
    /// that has not heard from a majority steps down within an election
    /// timeout, so a follower that heard from its leader less than the
    /// minimum election timeout ago, and a leader itself, know the leader
    /// is alive and may ignore a candidate of a higher term. This is what
    /// keeps a member with one-way connectivity (it can send but not
    /// receive) from deposing a healthy leader over and over.
    pub(crate) fn in_lease(&self) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        match self.role() {
            Role::Leader => true,
            Role::PreCandidate | Role::Candidate => false,
            Role::Follower => {
                let heard = self.leader_id.is_some() || self.start_lease;
                heard && self.election_elapsed < self.config.election_timeout_min_ticks
            }
        }
    }

    /// CheckQuorum: every `election_timeout_max_ticks`, a leader that has
    /// not heard from a majority (itself included) since the last check
    /// steps down. It cannot commit anything, so it stops pretending to
    /// lead: clients go elsewhere and its heartbeats stop.
    pub(crate) fn tick_check_quorum(&mut self) {
        let (period, me) = (self.config.election_timeout_max_ticks, self.config.id);
        if !self.config.check_quorum {
            return;
        }
        let Some(leader) = self.leader_mut() else { return };
        leader.quorum_check_elapsed += 1;
        if leader.quorum_check_elapsed < period {
            return;
        }
        leader.quorum_check_elapsed = 0;
        let mut active = vec![me];
        for (&id, pr) in leader.progress.iter_mut() {
            if std::mem::take(&mut pr.recent_active) {
                active.push(id);
            }
        }
        if !self.log.membership().has_quorum(&active) {
            self.become_follower(self.current_term, None);
        }
    }

    /// Leaders: "Upon election: send initial empty AppendEntries RPCs
    /// (heartbeat) to each server", at once, so that no follower times out
    /// and the followers' logs are probed right away.
    fn become_leader(&mut self) {
        let next_index = self.log.last_index() + 1;
        let inherited = self.log.data_bytes(self.commit_index + 1, next_index - 1);
        self.state = RoleState::Leader(Leader::new(inherited));
        self.leader_id = Some(self.config.id);
        // From our last index + 1: the first probes carry the no-op.
        self.track_members(next_index);
        // A leader outside its configuration (§4.2.2) is there only to
        // commit its removal: the no-op commits it without a client.
        if self.config.noop_on_election || !self.log.membership().is_voter(self.config.id) {
            let (index, term) = (next_index, self.current_term);
            self.log.push(crate::Entry::new(index, term, bytes::Bytes::new()));
        }
        for peer in self.followers() {
            self.send_append(peer, AppendKind::Probe);
        }
        // A single-member cluster commits on its own persist (see `advance`).
    }
}
