//! An operator's requests: the membership, its changes, leadership
//! transfer; and whether this member was removed.

use raft::{MembershipError, Role};

use super::{ClientReply, Member};
use crate::proto::{AdminRequest, MembersInfo, Reply};

impl Member {
    /// An operator's request from `client`. A change is answered once its
    /// entry is applied (like a command); everything else at once, with the
    /// returned reply.
    pub fn on_admin(&mut self, client: u64, seq: u64, request: AdminRequest) -> Option<ClientReply> {
        let reply = match request {
            AdminRequest::Members => self.members_info().map(|m| Reply::Members(Box::new(m))),
            AdminRequest::Change(change) => match self.raft.propose_membership(change) {
                Ok((index, term)) => {
                    tracing::info!(target: "election", client, index, "membership change proposed");
                    self.requests.insert(index, term, client, seq);
                    return None;
                }
                Err(e) => Err(e),
            },
            AdminRequest::TransferLeader(target) => match self.raft.transfer_leadership(target) {
                Ok(()) => Ok(Reply::Applied(Vec::new())),
                Err(raft::TransferError::NotLeader { leader_hint }) => {
                    Err(MembershipError::NotLeader { leader_hint })
                }
                Err(e) => Ok(Reply::Refused(e.to_string())),
            },
            AdminRequest::Backup { index, offset } => Ok(self.on_backup(index, offset)),
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(MembershipError::NotLeader { .. }) => self.redirect(),
            // Passing states: the client retries after a pause.
            Err(MembershipError::ChangePending { .. } | MembershipError::NoCommitInTerm) => Reply::Busy,
            Err(MembershipError::Transferring { .. }) => Reply::Busy,
            Err(e) => Reply::Refused(e.to_string()),
        };
        Some(ClientReply { client, seq, reply })
    }

    /// The leader's view of the configuration and its followers; only the
    /// leader has one.
    fn members_info(&self) -> Result<MembersInfo, MembershipError> {
        if self.raft.role() != Role::Leader {
            return Err(MembershipError::NotLeader { leader_hint: self.raft.leader_id() });
        }
        let log = self.raft.log();
        Ok(MembersInfo {
            leader: self.raft.id(),
            term: self.raft.current_term(),
            membership: self.raft.membership().clone(),
            membership_index: log.membership_index(),
            commit_index: self.raft.commit_index(),
            last_index: log.last_index(),
            matched: self.raft.follower_match().into_iter().collect(),
        })
    }

    /// Some(index) once this member, after being in a configuration, is in
    /// none that is committed: it was removed (by the entry at `index`; 0
    /// when that entry reached it inside a snapshot). A member waiting to
    /// be added is not removed.
    pub fn removed(&self) -> Option<u64> {
        let me = self.raft.id();
        let index = self.raft.log().membership_index();
        let committed = index <= self.raft.commit_index();
        (self.was_member && !self.raft.is_member(me) && committed).then_some(index)
    }
}
