//! The turn order, on a one-member group (it elects itself and commits
//! alone), with a state machine that records what it applied.

use std::sync::{Arc, Mutex};

use rand_chacha::rand_core::SeedableRng;

use super::*;

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<u64>>>);

impl StateMachine for Recorder {
    fn apply(&mut self, index: u64, _data: &bytes::Bytes) -> Vec<u8> {
        self.0.lock().unwrap().push(index);
        index.to_be_bytes().to_vec()
    }
}

fn member(voters: Vec<u64>) -> (Member, Recorder) {
    // Elections as Figure 2 has them (no pre-vote round to drive by hand):
    // the turn order is what these tests look at.
    let config = raft::Config { noop_on_election: true, pre_vote: false, ..raft::Config::lab(1, voters) };
    let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let raft = Raft::new(config, raft::Persisted::default(), rng).unwrap();
    let sm = Recorder::default();
    (Member::new(raft, Box::new(sm.clone())), sm)
}

fn leader() -> (Member, Recorder) {
    let (mut m, sm) = member(vec![1]);
    while m.raft().role() != Role::Leader {
        m.tick();
    }
    drain(&mut m);
    (m, sm)
}

/// Does every action, each write durable at once; returns them.
fn drain(m: &mut Member) -> Vec<Action> {
    drain_with(m, true)
}

/// Does every action; with `sync`, each write is reported durable as soon
/// as it is handed out, else none is.
fn drain_with(m: &mut Member, sync: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    loop {
        match m.poll() {
            Action::Idle => return actions,
            Action::Write(writes, id) => {
                if sync {
                    m.synced(id);
                }
                actions.push(Action::Write(writes, id));
            }
            a => actions.push(a),
        }
    }
}

#[test]
fn a_client_is_answered_only_after_its_entry_is_durable_and_applied() {
    let (mut m, sm) = leader();
    assert!(m.on_request(net::CLIENT_ID_MIN, 7, b"x".to_vec()).is_none());
    let index = m.raft().log().last_index();
    let Action::Write(writes, id) = m.poll() else { panic!("the entry is written first") };
    assert_eq!(writes.entries.len(), 1);
    assert!(m.in_turn());
    assert!(drain_with(&mut m, false).is_empty(), "answered before its write was durable");
    assert!(!sm.0.lock().unwrap().contains(&index), "applied before its write was durable");
    m.synced(id);
    let actions = drain(&mut m);
    assert_eq!(sm.0.lock().unwrap().last(), Some(&index));
    let expected = ClientReply {
        client: net::CLIENT_ID_MIN,
        seq: 7,
        reply: Reply::Applied(index.to_be_bytes().to_vec()),
    };
    assert!(matches!(&actions[..], [Action::Reply(r)] if r == &vec![expected]), "{actions:?}");
    assert_eq!(m.applied_index(), index);
    assert!(!m.in_turn());
}

#[test]
fn a_candidate_persists_its_vote_before_asking_for_votes() {
    let (mut m, _) = member(vec![1, 2, 3]);
    while m.raft().role() != Role::Candidate {
        m.tick();
    }
    let Action::Write(writes, id) = m.poll() else { panic!("the vote is written first") };
    assert_eq!(writes.hard_state.map(|h| h.voted_for), Some(Some(1)));
    assert!(matches!(m.poll(), Action::RoleChanged { change, .. } if change.role == Role::Candidate));
    assert!(matches!(m.poll(), Action::Idle), "a request went before the vote was durable");
    m.synced(id);
    let Action::Send(requests) = m.poll() else { panic!("then the requests go out") };
    assert_eq!(requests.len(), 2);
    assert!(matches!(m.poll(), Action::Idle));
}

/// Thesis §10.2.1: the leader's AppendEntries leave while its own write is
/// in progress; the entry commits on the followers' acknowledgements.
#[test]
fn a_leaders_appends_leave_before_its_write_is_durable() {
    let mut m = leader_of_three();
    let term = m.raft().current_term();
    let ack_all = |m: &mut Member, index: u64| {
        for from in [2, 3] {
            let ack =
                raft::Body::AppendEntriesReply(raft::AppendReply::Success { match_index: index, round: 0 });
            m.step(from, Message { from, to: 1, term, body: ack }).unwrap();
        }
    };
    let noop = m.raft().log().last_index();
    ack_all(&mut m, noop);
    drain(&mut m);
    assert!(m.on_request(net::CLIENT_ID_MIN, 9, b"x".to_vec()).is_none());
    let actions = drain_with(&mut m, false);
    assert!(matches!(actions[0], Action::Write(..)), "{actions:?}");
    let sent: Vec<&Message> = actions
        .iter()
        .filter_map(|a| if let Action::Send(ms) = a { Some(ms) } else { None })
        .flatten()
        .collect();
    assert_eq!(sent.len(), 2, "{actions:?}");
    let index = m.raft().log().last_index();
    ack_all(&mut m, index);
    let answered = replies(&drain_with(&mut m, false));
    assert_eq!(answered.len(), 1, "committed on the followers' disks, the client is answered");
    assert_eq!(m.writes_in_progress(), 1);
}

/// A follower acknowledges entries only once they are durable, and a
/// heartbeat of a later turn that wrote nothing waits for them too.
#[test]
fn a_followers_acknowledgements_wait_for_its_write() {
    let (mut m, _) = member(vec![1, 2, 3]);
    let append = |prev: u64, entries: Vec<raft::Entry>| Message {
        from: 2,
        to: 1,
        term: 1,
        body: raft::Body::AppendEntries {
            prev_log_index: prev,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
            round: 0,
        },
    };
    m.step(2, append(0, vec![raft::Entry::new(1, 1, vec![1])])).unwrap();
    let actions = drain_with(&mut m, false);
    let Some(Action::Write(_, id)) = actions.first() else { panic!("{actions:?}") };
    let id = *id;
    assert!(!actions.iter().any(|a| matches!(a, Action::Send(_))), "acked before durable: {actions:?}");
    let heartbeat = Message {
        body: raft::Body::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: 0,
            round: 0,
        },
        ..append(0, vec![])
    };
    m.step(2, heartbeat).unwrap();
    let actions = drain_with(&mut m, false);
    assert!(!actions.iter().any(|a| matches!(a, Action::Send(_))), "acked before durable: {actions:?}");
    m.synced(id);
    let Action::Send(acks) = m.poll() else { panic!("the acknowledgements go once durable") };
    assert_eq!(acks.len(), 2);
}

#[test]
fn a_follower_refuses_clients_and_names_no_leader_it_does_not_know() {
    let (mut m, _) = member(vec![1, 2, 3]);
    let refusal = m.on_request(net::CLIENT_ID_MIN, 1, b"x".to_vec()).unwrap();
    assert_eq!(refusal.reply, Reply::NotLeader { leader_hint: None, leader_addr: None });
    assert!(m.on_request(net::CLIENT_ID_MIN, 2, Vec::new()).is_none(), "an empty command is ignored");
}

#[test]
fn a_message_claiming_another_sender_is_refused() {
    let mut m = leader_of_three();
    let term = m.raft().current_term();
    let reply = raft::Body::AppendEntriesReply(raft::AppendReply::Success { match_index: 1, round: 0 });
    let msg = Message { from: 2, to: 1, term, body: reply };
    assert!(m.step(3, msg.clone()).is_err(), "member 3 cannot speak for member 2");
    assert!(m.step(net::CLIENT_ID_MIN, Message { from: net::CLIENT_ID_MIN, ..msg.clone() }).is_err());
    assert!(m.step(2, msg).is_ok());
}

/// Member 1 of three, elected with member 2's vote.
fn leader_of_three() -> Member {
    let mut m = candidate_of_three();
    win(&mut m);
    drain(&mut m);
    m
}

/// Member 1 of three, campaigning.
fn candidate_of_three() -> Member {
    let (mut m, _) = member(vec![1, 2, 3]);
    while m.raft().role() != Role::Candidate {
        m.tick();
    }
    drain(&mut m);
    m
}

/// Member 2's vote arrives: member 1 leads.
fn win(m: &mut Member) {
    let term = m.raft().current_term();
    let vote = Message { from: 2, to: 1, term, body: raft::Body::RequestVoteReply { vote_granted: true } };
    m.step(2, vote).unwrap();
    assert_eq!(m.raft().role(), Role::Leader);
}

#[test]
fn a_new_leader_keeps_the_clients_it_took_in_the_turn_it_won() {
    let mut m = candidate_of_three();
    win(&mut m);
    assert!(m.on_request(net::CLIENT_ID_MIN, 4, b"x".to_vec()).is_none());
    let actions = drain(&mut m);
    let change = actions.iter().find_map(|a| match a {
        Action::RoleChanged { change, abandoned } => Some((change.role, abandoned.len())),
        _ => None,
    });
    assert_eq!(change, Some((Role::Leader, 0)), "{actions:?}");
}

#[test]
fn a_leader_that_steps_down_tells_its_waiting_clients_at_once() {
    let mut m = leader_of_three();
    assert!(m.on_request(net::CLIENT_ID_MIN, 9, b"x".to_vec()).is_none());
    drain(&mut m);
    // A newer term's leader (member 3) appears: this one steps down.
    let term = m.raft().current_term() + 1;
    let heartbeat = raft::Body::AppendEntries {
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![],
        leader_commit: 0,
        round: 0,
    };
    m.step(3, Message { from: 3, to: 1, term, body: heartbeat }).unwrap();
    let actions = drain(&mut m);
    let abandoned = actions.iter().find_map(|a| match a {
        Action::RoleChanged { change, abandoned } => Some((change, abandoned)),
        _ => None,
    });
    let (change, abandoned) = abandoned.expect("the role change is reported");
    assert_eq!((change.role, change.term, change.leader), (Role::Follower, term, Some(3)));
    let told = ClientReply {
        client: net::CLIENT_ID_MIN,
        seq: 9,
        reply: Reply::NotLeader { leader_hint: Some(3), leader_addr: None },
    };
    assert_eq!(abandoned, &vec![told]);
}

#[test]
fn a_leader_keeps_its_waiting_clients_while_it_leads() {
    let mut m = leader_of_three();
    assert!(m.on_request(net::CLIENT_ID_MIN, 9, b"x".to_vec()).is_none());
    let actions = drain(&mut m);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::RoleChanged { .. } | Action::Reply(_))),
        "{actions:?}"
    );
    // Member 2 acknowledges: the entry commits, the client is answered.
    let last = m.raft().log().last_index();
    let term = m.raft().current_term();
    let ack = raft::Body::AppendEntriesReply(raft::AppendReply::Success { match_index: last, round: 0 });
    m.step(2, Message { from: 2, to: 1, term, body: ack }).unwrap();
    let actions = drain(&mut m);
    assert!(actions.iter().any(|a| matches!(a, Action::Reply(r) if r[0].seq == 9)), "{actions:?}");
}

#[test]
fn status_counts_what_the_state_machine_applied() {
    let (mut m, _) = leader();
    assert!(m.on_request(net::CLIENT_ID_MIN, 1, b"x".to_vec()).is_none());
    drain(&mut m);
    let s = m.status();
    assert_eq!((s.id, s.role, s.applied_index), (1, Role::Leader, m.raft().log().last_index()));
    assert_eq!(s.applied_index, m.applied_index());
}

#[test]
fn a_membership_change_is_answered_once_committed_and_never_applied() {
    let (mut m, sm) = leader();
    let add = raft::MembershipChange::AddLearner { id: 2, address: "127.0.0.1:7102".into() };
    let request = crate::proto::AdminRequest::Change(add);
    assert!(m.on_admin(net::CLIENT_ID_MIN, 3, request).is_none(), "answered when it commits");
    let index = m.raft().log().last_index();
    let actions = drain(&mut m);
    assert!(actions.iter().any(|a| matches!(a, Action::Membership(ms) if ms.is_learner(2))), "{actions:?}");
    let answered = actions.iter().any(|a| {
        matches!(a, Action::Reply(rs) if rs.iter().any(|r| r.seq == 3 && r.reply == Reply::Applied(Vec::new())))
    });
    assert!(answered, "{actions:?}");
    assert!(!sm.0.lock().unwrap().contains(&index), "the state machine never sees a configuration");
    assert_eq!(m.removed(), None);
}

#[test]
fn an_operator_is_told_why_a_request_is_refused() {
    let (mut m, _) = leader();
    let transfer = crate::proto::AdminRequest::TransferLeader(9);
    let reply = m.on_admin(net::CLIENT_ID_MIN, 1, transfer).expect("answered at once").reply;
    assert!(matches!(&reply, Reply::Refused(why) if why.contains("not a voter")), "{reply:?}");
    let remove = crate::proto::AdminRequest::Change(raft::MembershipChange::Remove { id: 1 });
    let reply = m.on_admin(net::CLIENT_ID_MIN, 2, remove).expect("answered at once").reply;
    assert!(matches!(&reply, Reply::Refused(why) if why.contains("last voter")), "{reply:?}");
    let members = m.on_admin(net::CLIENT_ID_MIN, 3, crate::proto::AdminRequest::Members).unwrap().reply;
    assert!(matches!(&members, Reply::Members(info) if info.leader == 1 && info.membership.is_voter(1)));
}

#[test]
fn a_member_removed_by_a_committed_change_says_so() {
    let (mut m, _) = member(vec![1, 2]);
    // Member 1 of {1, 2} hears from leader 2 that it was removed, and that
    // the change committed.
    let removal = raft::Membership::bootstrap(&[2]);
    let entries = vec![raft::Entry::membership(1, 1, &removal)];
    let body = raft::Body::AppendEntries {
        prev_log_index: 0,
        prev_log_term: 0,
        entries,
        leader_commit: 1,
        round: 0,
    };
    m.step(2, raft::Message { from: 2, to: 1, term: 1, body }).unwrap();
    drain(&mut m);
    assert_eq!(m.removed(), Some(1));
}

/// A member restarted with its removal in its log (the commit index is not
/// persisted) knows it was a member from the configurations it restored,
/// and says it was removed once it hears that the removal committed; it
/// used to take itself for a member still waiting to be added.
#[test]
fn a_member_restarted_with_its_removal_in_its_log_says_so_once_it_commits() {
    let removal = raft::Membership::bootstrap(&[2]);
    let persisted = raft::Persisted {
        hard_state: raft::HardState { current_term: 1, voted_for: None },
        entries: vec![raft::Entry::membership(1, 1, &removal)],
        ..raft::Persisted::default()
    };
    let config = raft::Config { pre_vote: false, ..raft::Config::lab(1, vec![1, 2]) };
    let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let mut m = Member::new(Raft::new(config, persisted, rng).unwrap(), Box::new(Recorder::default()));
    assert!(!m.raft().is_member(1));
    assert_eq!(m.removed(), None, "not known to be committed yet");
    let body = raft::Body::AppendEntries {
        prev_log_index: 1,
        prev_log_term: 1,
        entries: vec![],
        leader_commit: 1,
        round: 0,
    };
    m.step(2, raft::Message { from: 2, to: 1, term: 1, body }).unwrap();
    drain(&mut m);
    assert_eq!(m.removed(), Some(1));
}

/// A client's read of the Recorder (which knows no queries: its answer
/// is empty, still an answer and not a redirect).
fn read(
    m: &mut Member,
    seq: u64,
    consistency: crate::proto::Consistency,
    from: crate::proto::ReadFrom,
) -> Option<ClientReply> {
    m.on_read(net::CLIENT_ID_MIN, seq, b"q".to_vec(), (consistency, from))
}

fn replies(actions: &[Action]) -> Vec<ClientReply> {
    actions
        .iter()
        .filter_map(|a| if let Action::Reply(r) = a { Some(r.clone()) } else { None })
        .flatten()
        .collect()
}

#[test]
fn a_linearizable_read_is_answered_after_a_turn_without_writing_anything() {
    use crate::proto::{Consistency, ReadFrom};
    let (mut m, _) = leader();
    let last = m.raft().log().last_index();
    assert!(
        read(&mut m, 1, Consistency::Linearizable, ReadFrom::Leader).is_none(),
        "answered before the core placed it"
    );
    let actions = drain(&mut m);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Write(..))),
        "a read persisted something: {actions:?}"
    );
    let answered = replies(&actions);
    assert_eq!(answered.len(), 1, "{actions:?}");
    assert_eq!(answered[0].seq, 1);
    assert!(matches!(answered[0].reply, Reply::Applied(_)));
    assert_eq!(m.raft().log().last_index(), last, "a read appended an entry");
    assert_eq!(m.read_counts().read_index, 1);
}

#[test]
fn a_serializable_read_is_answered_at_once_and_a_leader_read_at_a_follower_redirects() {
    use crate::proto::{Consistency, ReadFrom};
    let (mut m, _) = member(vec![1, 2, 3]);
    let answer = read(&mut m, 1, Consistency::Serializable, ReadFrom::Any).expect("answered at once");
    assert!(matches!(answer.reply, Reply::Applied(_)));
    let answer = read(&mut m, 2, Consistency::Serializable, ReadFrom::Leader).expect("answered at once");
    assert!(matches!(answer.reply, Reply::NotLeader { .. }), "{answer:?}");
    let answer = read(&mut m, 3, Consistency::Linearizable, ReadFrom::Any).expect("no leader to ask");
    assert!(matches!(answer.reply, Reply::NotLeader { .. }), "{answer:?}");
}
