//! Core rules as scripts: each file in `raft/tests/scripts/` is a sequence
//! of commands on a [`Net`] and the output they produce, checked in beside
//! them (goldenscript's format: commands, `---`, output). A test fails
//! with a diff when an output changes; `UPDATE_GOLDENFILES=1 cargo test
//! -p raft --test paper scripts` rewrites them for review.
//!
//! Commands (ids are member ids; `n=` counts):
//!
//! - `cluster voters=3 [pre_vote=false] [check_quorum=true] [noop=false]`:
//!   members 1..=voters, the paper's configuration otherwise;
//! - `join ID`: a member started outside every configuration;
//! - `campaign ID`: ticks ID until its election timer fires, then delivers;
//! - `tick [n=1] [ID…]`: ticks every member (or those named) `n` times,
//!   delivering after each round unless `deliver=false`;
//! - `deliver`: delivers until the network is quiet, printing each
//!   message that arrives (`from→to [term] body`);
//! - `propose ID [data]`, `change ID add-learner|add-voter|promote|remove
//!   TARGET`, `transfer ID TARGET`: the leader's inputs, printing a refusal;
//! - `cut ID…`, `deaf ID…`, `heal`, `restart ID`, `drop`: faults;
//! - `step FROM TO term=T|max pre-vote|pre-vote-refused|vote`: a message
//!   from anyone (a forged or a late one) stepped into TO, printing what it
//!   answers (left queued) and a term it adopts;
//! - `status [ID…]`: role, term, vote, leader, commit and last index, and
//!   the configuration of each member.

use std::error::Error;
use std::fmt::Write as _;

use goldenscript::{Command, Runner};
use raft::{AppendReply, Body, MembershipChange, Message, NodeId, Role};

use crate::net::Net;

/// Runs the scripts named on a [`Net`] each.
struct NetRunner {
    net: Option<Net>,
}

type Output = Result<String, Box<dyn Error>>;

impl Runner for NetRunner {
    fn run(&mut self, command: &Command) -> Output {
        if command.name == "cluster" {
            return self.cluster(command);
        }
        let net = self.net.as_mut().ok_or("no cluster yet: start with `cluster`")?;
        let ids = || -> Result<Vec<NodeId>, Box<dyn Error>> {
            command.args.iter().filter(|a| a.key.is_none()).map(|a| a.parse()).collect()
        };
        match command.name.as_str() {
            "join" => ids()?.into_iter().for_each(|id| net.join(id)),
            "campaign" => {
                for id in ids()? {
                    net.campaign(id);
                }
            }
            "tick" => return tick(net, command),
            "deliver" => return Ok(deliver(net)),
            "propose" => return propose(net, command),
            "change" => return change(net, command),
            "transfer" => {
                let [id, target] = ids()?[..] else { return Err("transfer ID TARGET".into()) };
                if let Err(e) = net.node(id).transfer_leadership(target) {
                    return Ok(format!("refused: {e}\n"));
                }
                net.flush();
            }
            "cut" => net.cut.extend(ids()?),
            "deaf" => net.deaf.extend(ids()?),
            "heal" => {
                net.cut.clear();
                net.deaf.clear();
                net.down.clear();
            }
            "restart" => ids()?.into_iter().for_each(|id| net.restart(id)),
            "drop" => net.drop_all(),
            "step" => return step(net, command),
            "status" => return Ok(status(net, &ids()?)),
            other => return Err(format!("unknown command {other}").into()),
        }
        Ok(String::new())
    }
}

impl NetRunner {
    fn cluster(&mut self, command: &Command) -> Output {
        let mut args = command.consume_args();
        let voters: u64 = args.lookup_parse("voters")?.unwrap_or(3);
        let pre_vote: bool = args.lookup_parse("pre_vote")?.unwrap_or(false);
        let check_quorum: bool = args.lookup_parse("check_quorum")?.unwrap_or(true);
        let noop: bool = args.lookup_parse("noop")?.unwrap_or(false);
        args.reject_rest()?;
        self.net = Some(Net::with_config(voters, |c| {
            c.pre_vote = pre_vote;
            c.check_quorum = check_quorum;
            c.noop_on_election = noop;
        }));
        Ok(String::new())
    }
}

fn tick(net: &mut Net, command: &Command) -> Output {
    let mut args = command.consume_args();
    let n: u32 = args.lookup_parse("n")?.unwrap_or(1);
    let deliver: bool = args.lookup_parse("deliver")?.unwrap_or(true);
    let only: Vec<NodeId> = args.rest_pos().iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    let ids: Vec<NodeId> = if only.is_empty() { net.nodes.keys().copied().collect() } else { only };
    for _ in 0..n {
        for &id in &ids {
            net.node(id).tick();
        }
        if deliver {
            net.deliver_all();
        } else {
            ids.iter().for_each(|&id| net.flush_member(id));
        }
    }
    Ok(String::new())
}

/// Delivers until quiet; one line per message that arrives.
fn deliver(net: &mut Net) -> String {
    let mut out = String::new();
    net.flush();
    while let Some(msg) = net.queue.front().cloned() {
        if !net.is_lost(&msg) && net.nodes.contains_key(&msg.to) {
            let _ = writeln!(out, "{}", describe(&msg));
        }
        net.deliver_one();
    }
    out
}

fn propose(net: &mut Net, command: &Command) -> Output {
    let mut args = command.consume_args();
    let id: NodeId = args.next_pos().ok_or("propose ID [data]")?.parse()?;
    let data = args.next_pos().map_or("x", |a| a.value.as_str()).as_bytes().to_vec();
    let placed = net.node(id).propose(data);
    Ok(placed_or_refused(net, placed))
}

/// Where a proposal was placed (then the leader's Ready is drained), or
/// why it was refused.
fn placed_or_refused(net: &mut Net, placed: Result<(u64, u64), impl std::fmt::Display>) -> String {
    match placed {
        Ok((index, term)) => {
            net.flush();
            format!("proposed at {index} in term {term}\n")
        }
        Err(e) => format!("refused: {e}\n"),
    }
}

fn change(net: &mut Net, command: &Command) -> Output {
    let mut args = command.consume_args();
    let id: NodeId = args.next_pos().ok_or("change ID KIND TARGET")?.parse()?;
    let kind = args.next_pos().ok_or("change ID KIND TARGET")?.value.clone();
    let target: NodeId = args.next_pos().ok_or("change ID KIND TARGET")?.parse()?;
    let address = format!("n{target}");
    let change = match kind.as_str() {
        "add-learner" => MembershipChange::AddLearner { id: target, address },
        "add-voter" => MembershipChange::AddVoter { id: target, address },
        "promote" => MembershipChange::Promote { id: target },
        "remove" => MembershipChange::Remove { id: target },
        other => return Err(format!("unknown change {other}").into()),
    };
    let placed = net.node(id).propose_membership(change);
    Ok(placed_or_refused(net, placed))
}

/// A message stepped straight into `TO`: what a late or forged one does.
fn step(net: &mut Net, command: &Command) -> Output {
    let mut args = command.consume_args();
    let from: NodeId = args.next_pos().ok_or("step FROM TO term=T KIND")?.parse()?;
    let to: NodeId = args.next_pos().ok_or("step FROM TO term=T KIND")?.parse()?;
    let term = match args.lookup("term").map(|a| a.value.as_str()) {
        Some("max") => raft::MAX_TERM,
        Some(t) => t.parse()?,
        None => return Err("step needs term= (a number or max)".into()),
    };
    let kind = args.next_pos().ok_or("step FROM TO term=T KIND")?.value.clone();
    let position = net.nodes.get(&from).map(|r| (r.log().last_index(), r.log().last_term()));
    let (last_log_index, last_log_term) = position.unwrap_or((0, 0));
    let body = match kind.as_str() {
        "pre-vote" => Body::PreVote { last_log_index, last_log_term },
        "pre-vote-refused" => Body::PreVoteReply { vote_granted: false },
        "vote" => Body::RequestVote { last_log_index, last_log_term, leadership_transfer: false },
        other => return Err(format!("unknown message {other}").into()),
    };
    let msg = Message { from, to, term, body };
    let before = net.node(to).current_term();
    let mut out = match net.node(to).step(msg) {
        Ok(()) => String::new(),
        Err(e) => format!("refused: {e}\n"),
    };
    let queued = net.queue.len();
    net.flush_member(to);
    let after = net.node(to).current_term();
    if before != after {
        let _ = writeln!(out, "{to} adopted term {after}");
    }
    let answers: Vec<String> = net.queue.iter().skip(queued).map(describe).collect();
    if answers.is_empty() {
        let _ = writeln!(out, "{to} sent nothing");
    }
    answers.iter().for_each(|a| out.push_str(&format!("{a}\n")));
    Ok(out)
}

fn status(net: &mut Net, only: &[NodeId]) -> String {
    let mut out = String::new();
    for (&id, r) in &net.nodes {
        if !only.is_empty() && !only.contains(&id) {
            continue;
        }
        let s = r.status();
        let role = match s.role {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        let leader = s.leader_id.map_or("none".to_string(), |l| l.to_string());
        let vote = s.voted_for.map_or("none".to_string(), |v| v.to_string());
        let m = r.membership();
        let voters: Vec<String> = m.voters.keys().map(u64::to_string).collect();
        let learners: Vec<String> = m.learners.keys().map(u64::to_string).collect();
        let _ = write!(
            out,
            "{id}: {role} term={} vote={vote} leader={leader} commit={} last={} voters=[{}]",
            s.current_term,
            s.commit_index,
            s.last_index,
            voters.join(",")
        );
        if !learners.is_empty() {
            let _ = write!(out, " learners=[{}]", learners.join(","));
        }
        out.push('\n');
    }
    out
}

/// `from→to [term] body`, entries as `index@term`.
fn describe(msg: &Message) -> String {
    let body = match &msg.body {
        Body::RequestVote { last_log_index, last_log_term, leadership_transfer } => {
            let transfer = if *leadership_transfer { " transfer" } else { "" };
            format!("RequestVote last={last_log_index}@{last_log_term}{transfer}")
        }
        Body::RequestVoteReply { vote_granted } => format!("RequestVoteReply granted={vote_granted}"),
        Body::PreVote { last_log_index, last_log_term } => {
            format!("PreVote last={last_log_index}@{last_log_term}")
        }
        Body::PreVoteReply { vote_granted } => format!("PreVoteReply granted={vote_granted}"),
        Body::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit, .. } => {
            let entries: Vec<String> = entries.iter().map(|e| format!("{}@{}", e.index, e.term)).collect();
            format!(
                "AppendEntries prev={prev_log_index}@{prev_log_term} entries=[{}] commit={leader_commit}",
                entries.join(",")
            )
        }
        // Rounds (for reads) are left out: the scripts do not read.
        Body::AppendEntriesReply(AppendReply::Success { match_index, .. }) => {
            format!("AppendEntriesReply Success {{ match_index: {match_index} }}")
        }
        Body::AppendEntriesReply(AppendReply::Conflict {
            rejected_index,
            conflict_term,
            conflict_index,
            ..
        }) => {
            format!("AppendEntriesReply Conflict {{ rejected_index: {rejected_index}, conflict_term: {conflict_term:?}, conflict_index: {conflict_index} }}")
        }
        Body::AppendEntriesReply(reply) => format!("AppendEntriesReply {reply:?}"),
        Body::InstallSnapshot { snapshot, .. } => {
            format!("InstallSnapshot {}@{}", snapshot.index, snapshot.term)
        }
        Body::TimeoutNow => "TimeoutNow".to_string(),
        Body::ReadIndex { ctx } => format!("ReadIndex ctx={ctx}"),
        Body::ReadIndexReply { ctx, index } => format!("ReadIndexReply ctx={ctx} index={index:?}"),
    };
    format!("{}→{} [{}] {body}", msg.from, msg.to, msg.term)
}

/// One test per script, so a failure names it.
macro_rules! scripts {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/", stringify!($name));
            goldenscript::run(&mut NetRunner { net: None }, path).expect("the script runs");
        }
    )*};
}

scripts!(
    prevote_no_term_without_a_majority,
    prevote_stale_log_is_refused,
    prevote_in_lease_is_ignored,
    prevote_at_max_term,
    lease_ignores_a_higher_term_candidate,
    lease_ends_with_the_leaders_silence,
    transfer_hands_over_at_once,
    transfer_refusals,
    membership_learner_neither_votes_nor_counts,
    membership_leader_removes_itself,
    membership_uncommitted_removal_stands,
);
