//! Two operators that hunt for liveness faults around removals.
//!
//! - selfremove: every 150–500 ms the leader is asked to remove itself and
//!   is cut off at once, alone or with one other server, for 100–800 ms;
//!   so its removal sits uncommitted in the logs of one or two servers
//!   while the others may elect. The voters go between 1 and 4 of 5
//!   servers (2 to begin with), and a removed server is added back as a
//!   voter. With 2 voters only the member holding its own removal can win
//!   the next election (thesis §4.2.2): if it did not stand, no leader.
//! - relearn: on the lab's unreliable network (10% loss, delays,
//!   duplicates) with 2% of messages held back, every 50–300 ms a learner
//!   is removed (and hears nothing for 50–400 ms) or a server is added as
//!   a learner, mostly the one just removed: delayed acknowledgements from
//!   a learner's earlier life meet the leader's probes of its new one.
//!   Learners are sometimes promoted and voters removed again, keeping 3
//!   to 5 voters. The clients stop half way, so the operator goes on
//!   against an idle cluster, where nothing new to send would reveal a
//!   follower the leader forgot to send to.
//!
//! Both end with the convergence check of every run: once healed, every
//! member of the leader's configuration holds the leader's committed log.

use node::proto::AdminRequest;
use raft::MembershipChange;
use rand::Rng;

use super::nemesis::Fault;
use super::Sim;

impl Sim {
    /// One selfremove step (see the module doc), then the next.
    pub(super) fn self_remove_next(&mut self) {
        self.nemesis_in(150_000..500_000, Fault::SelfRemoveNext);
        let Some((leader, m, outsiders)) = self.leaders_view() else { return };
        let id = leader as u64 + 1;
        let voters = m.voters.len();
        if voters >= 2 && (voters > 2 || self.rng.random_bool(0.7)) {
            if self.operator_asks(leader, AdminRequest::Change(MembershipChange::Remove { id })) {
                self.cut_off(leader);
            }
        } else if voters < 4 && !outsiders.is_empty() {
            let id = outsiders[self.rng.random_range(0..outsiders.len())];
            let address = format!("sim-{id}");
            self.operator_asks(leader, AdminRequest::Change(MembershipChange::AddVoter { id, address }));
        }
    }

    /// Cuts `server` off, alone or with one other server, until a
    /// [`Fault::Rejoin`] 100–800 ms later.
    fn cut_off(&mut self, server: usize) {
        let mut groups = vec![0; self.nodes.len()];
        groups[server] = 1;
        if self.rng.random_bool(0.5) {
            let other = self.rng.random_range(0..self.nodes.len());
            groups[other] = 1;
        }
        self.network.set_groups(Some(groups));
        self.nemesis_in(100_000..800_000, Fault::Rejoin);
    }

    /// One relearn step (see the module doc), then the next.
    pub(super) fn relearn_next(&mut self) {
        self.nemesis_in(50_000..300_000, Fault::RelearnNext);
        let Some((leader, m, outsiders)) = self.leaders_view() else { return };
        let me = leader as u64 + 1;
        let learners: Vec<u64> = m.learners.keys().copied().collect();
        let pick = |rng: &mut rand_chacha::ChaCha8Rng, ids: &[u64]| ids[rng.random_range(0..ids.len())];
        let change = match self.rng.random_range(0..10) {
            0..=3 if !learners.is_empty() => MembershipChange::Remove { id: pick(&mut self.rng, &learners) },
            4 if !learners.is_empty() && m.voters.len() < 5 => {
                MembershipChange::Promote { id: pick(&mut self.rng, &learners) }
            }
            5 if m.voters.len() > 3 => {
                let others: Vec<u64> = m.voters.keys().copied().filter(|&v| v != me).collect();
                MembershipChange::Remove { id: pick(&mut self.rng, &others) }
            }
            _ if !outsiders.is_empty() => {
                // Mostly the server removed last, back with a new life.
                let again = self.churn.recently_removed.filter(|id| outsiders.contains(id));
                let id = again.filter(|_| self.rng.random_bool(0.7));
                let id = id.unwrap_or_else(|| pick(&mut self.rng, &outsiders));
                MembershipChange::AddLearner { id, address: format!("sim-{id}") }
            }
            _ => return,
        };
        let removed = match change {
            MembershipChange::Remove { id } => Some(id),
            _ => None,
        };
        if self.operator_asks(leader, AdminRequest::Change(change)) {
            if let Some(id) = removed {
                // It hears nothing for a while, so its log falls behind
                // while its acknowledgements are still on their way.
                self.churn.recently_removed = Some(id);
                let server = super::driver::server_of(id);
                self.network.set_deaf(server, true);
                self.nemesis_in(50_000..400_000, Fault::Hear { server });
            }
        }
    }
}
