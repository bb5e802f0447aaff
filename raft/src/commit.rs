//! The leader's commit rule (§5.3, §5.4.2).

use crate::server::Raft;

impl Raft {
    /// Leaders: "If there exists an N such that N > commitIndex, a majority
    /// of matchIndex[i] ≥ N, and log[N].term == currentTerm: set commitIndex
    /// = N." Only entries of the current term are committed by counting
    /// replicas (§5.4.2, Figure 8); earlier ones commit with them. The
    /// leader counts its own log only as far as it is durable. Followers
    /// hear of a new commit index in the next `ready`.
    pub(crate) fn maybe_commit(&mut self) {
        let mut matched: Vec<u64> = self.progress.values().map(|p| p.match_index).collect();
        matched.push(self.log.stable_index());
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[self.config.quorum() - 1];
        if n > self.commit_index && self.log.term(n) == Some(self.current_term) {
            let committed = self.log.data_bytes(self.commit_index + 1, n);
            self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(committed);
            self.commit_index = n;
            self.commit_to_announce = true;
        }
    }
}
