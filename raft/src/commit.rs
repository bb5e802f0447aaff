//! The leader's commit rule (§5.3, §5.4.2).

use crate::server::Raft;

impl Raft {
    /// Leaders: "If there exists an N such that N > commitIndex, a majority
    /// of matchIndex[i] ≥ N, and log[N].term == currentTerm: set commitIndex
    /// = N." Only entries of the current term are committed by counting
    /// replicas (§5.4.2, Figure 8); earlier ones commit with them. The
    /// majority is of the voters of the configuration in force (§4.1);
    /// learners do not count, and neither does a leader that is removing
    /// itself (§4.2.2). The leader counts its own log only as far as it is
    /// durable. Followers hear of a new commit index in the next `ready`.
    pub(crate) fn maybe_commit(&mut self) {
        let me = self.config.id;
        let Some(leader) = self.leader() else { return };
        let membership = self.log.membership();
        let mut matched: Vec<u64> = (membership.voters.keys())
            .map(|&v| match v == me {
                true => self.log.stable_index(),
                false => leader.progress.get(&v).map_or(0, |p| p.match_index),
            })
            .collect();
        if matched.is_empty() {
            return;
        }
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[membership.quorum() - 1];
        if n > self.commit_index && self.log.term(n) == Some(self.current_term) {
            let committed = self.log.data_bytes(self.commit_index + 1, n);
            if let Some(leader) = self.leader_mut() {
                leader.uncommitted_bytes = leader.uncommitted_bytes.saturating_sub(committed);
                leader.commit_to_announce = true;
            }
            self.commit_index = n;
            self.place_reads_after_commit();
            self.on_commit_advanced();
        }
    }
}
