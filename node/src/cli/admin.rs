//! `node members`, `node add`, `node promote`, `node remove`, `node
//! transfer-leader`: the operator's requests, each answered by the leader
//! (the client finds it as for puts). A refusal (a learner lagging too far
//! to be promoted, a member that is not one, …) is one line with the
//! leader's reason and exit 1.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use raft::MembershipChange;

use super::fail;
use super::ops::with_client;
use crate::addr::PeerAddr;
use crate::client::ClientError;
use crate::config::Member;
use crate::proto::MembersInfo;

/// How often `transfer-leader` asks again while leadership has not moved
/// (the leader gives a transfer up after an election timeout).
const TRANSFER_RETRY: Duration = Duration::from_secs(1);
/// Pause between two looks at who leads.
const POLL: Duration = Duration::from_millis(20);

pub(super) fn members(config: &Path, timeout: Duration, json: bool) -> ExitCode {
    with_client(config, timeout, |c| {
        let info = c.members()?;
        let rows = member_rows(&info, c.known_members());
        if json {
            let out = MembersJson {
                leader: info.leader,
                term: info.term,
                commit_index: info.commit_index,
                last_index: info.last_index,
                membership_index: info.membership_index,
                members: rows,
            };
            return Ok(match serde_json::to_string(&out) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, e),
            });
        }
        for row in &rows {
            println!("{}", row.text());
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn add(config: &Path, timeout: Duration, id: u64, addr: PeerAddr, learner: bool) -> ExitCode {
    if id == 0 || id >= net::CLIENT_ID_MIN {
        return fail(2, format_args!("member id {id} is not allowed (1 to {})", net::CLIENT_ID_MIN - 1));
    }
    let address = addr.to_string();
    let (change, role) = match learner {
        true => (MembershipChange::AddLearner { id, address }, "learner"),
        false => (MembershipChange::AddVoter { id, address }, "voter"),
    };
    with_client(config, timeout, |c| {
        c.change(change)?;
        println!("member {id} added as {role} at {addr}");
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn promote(config: &Path, timeout: Duration, id: u64) -> ExitCode {
    with_client(config, timeout, |c| {
        c.change(MembershipChange::Promote { id })?;
        println!("member {id} promoted to voter");
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn remove(config: &Path, timeout: Duration, id: u64) -> ExitCode {
    with_client(config, timeout, |c| {
        c.change(MembershipChange::Remove { id })?;
        println!("member {id} removed");
        Ok(ExitCode::SUCCESS)
    })
}

/// Starts the transfer, then watches the leader's answers until `id`
/// leads (asking again every [`TRANSFER_RETRY`]), all within `timeout`.
pub(super) fn transfer_leader(config: &Path, timeout: Duration, id: u64) -> ExitCode {
    with_client(config, timeout, |c| {
        let deadline = Instant::now() + timeout;
        // Also learns the addresses of members not in the cluster file.
        let mut leader = Some(c.members()?.leader);
        if leader != Some(id) {
            c.transfer_leader(id)?;
        }
        let mut asked = Instant::now();
        while leader != Some(id) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let who = leader.map_or("no leader answered".to_string(), |l| format!("{l} leads"));
                let within = humantime::format_duration(timeout);
                return Ok(fail(1, format_args!("leadership did not move to {id} within {within}: {who}")));
            }
            std::thread::sleep(POLL.min(left));
            c.set_timeout(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
            leader = match c.members() {
                Ok(info) => Some(info.leader),
                Err(ClientError::Timeout(_)) => None,
                Err(e) => return Err(e),
            };
            if leader.is_some_and(|l| l != id) && asked.elapsed() >= TRANSFER_RETRY {
                // The leader gave the transfer up (or a new one was elected).
                match c.transfer_leader(id) {
                    Ok(()) | Err(ClientError::Timeout(_)) => {}
                    Err(e) => return Err(e),
                }
                asked = Instant::now();
            }
        }
        println!("leader is now {id}");
        Ok(ExitCode::SUCCESS)
    })
}

/// One member in `node members` (and its role and lag in `node status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct MemberRow {
    pub id: u64,
    /// "voter" or "learner".
    pub role: &'static str,
    /// As the configuration has it, or the cluster file's for a member
    /// without one (the bootstrap members); "?" when neither knows it.
    pub addr: String,
    pub leader: bool,
    /// What the leader knows the member holds (its own last index for
    /// itself); None when it has no progress for it.
    pub match_index: Option<u64>,
    /// Entries behind the leader's last index.
    pub lag: Option<u64>,
}

impl MemberRow {
    fn text(&self) -> String {
        let mut line = format!("{} {} {}", self.id, self.role, self.addr);
        match (self.leader, self.match_index, self.lag) {
            (true, Some(last), _) => line.push_str(&format!(" leader last={last}")),
            (_, Some(m), Some(lag)) => line.push_str(&format!(" match={m} lag={lag}")),
            _ => line.push_str(" match=? lag=?"),
        }
        line
    }
}

/// `node members --json`.
#[derive(serde::Serialize)]
struct MembersJson {
    leader: u64,
    term: u64,
    commit_index: u64,
    last_index: u64,
    membership_index: u64,
    members: Vec<MemberRow>,
}

/// Voters then learners of `info`'s configuration, addresses filled in
/// from `known` (the cluster file's members) where it has none.
pub(super) fn member_rows(info: &MembersInfo, known: &[Member]) -> Vec<MemberRow> {
    let m = &info.membership;
    let role = |id| if m.is_voter(id) { "voter" } else { "learner" };
    let addr = |id| match m.address(id).unwrap_or_default() {
        "" => known.iter().find(|k| k.id == id).map_or("?".to_string(), |k| k.addr.to_string()),
        text => text.to_string(),
    };
    let matched = |id| match id == info.leader {
        true => Some(info.last_index),
        false => info.matched.iter().find(|(f, _)| *f == id).map(|&(_, i)| i),
    };
    (m.members())
        .map(|id| {
            let match_index = matched(id);
            MemberRow {
                id,
                role: role(id),
                addr: addr(id),
                leader: id == info.leader,
                match_index,
                lag: match_index.map(|i| info.last_index.saturating_sub(i)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_name_roles_addresses_and_lag() {
        let mut membership = raft::Membership::bootstrap(&[1, 2]);
        membership.learners.insert(4, "db4:7104".into());
        membership.learners.insert(5, String::new());
        let info = MembersInfo {
            leader: 1,
            term: 3,
            membership,
            membership_index: 9,
            commit_index: 50,
            last_index: 57,
            matched: vec![(2, 57), (4, 40)],
        };
        let known = [Member { id: 1, addr: PeerAddr::parse("127.0.0.1:7101").unwrap(), metrics_addr: None }];
        let lines: Vec<String> = member_rows(&info, &known).iter().map(MemberRow::text).collect();
        assert_eq!(
            lines,
            [
                "1 voter 127.0.0.1:7101 leader last=57",
                "2 voter ? match=57 lag=0",
                "4 learner db4:7104 match=40 lag=17",
                "5 learner ? match=? lag=?",
            ]
        );
    }
}
