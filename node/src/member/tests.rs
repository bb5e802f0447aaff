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

fn leader() -> (Member, Recorder) {
    let config = raft::Config { noop_on_election: true, ..raft::Config::lab(1, vec![1]) };
    let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let raft = Raft::new(config, raft::Persisted::default(), rng).unwrap();
    let sm = Recorder::default();
    let mut m = Member::new(raft, Box::new(sm.clone()));
    while m.raft().role() != Role::Leader {
        m.tick();
    }
    drain(&mut m);
    (m, sm)
}

/// Works off every turn; returns the replies.
fn drain(m: &mut Member) -> Vec<ClientReply> {
    let mut replies = Vec::new();
    while let Some(mut turn) = m.next_turn() {
        turn.take_messages();
        replies.extend(m.apply(turn));
    }
    replies.extend(m.end_turn().1);
    replies
}

#[test]
fn a_client_is_answered_only_after_its_entry_is_applied() {
    let (mut m, sm) = leader();
    assert!(m.on_request(net::CLIENT_ID_MIN, 7, b"x".to_vec()).is_none());
    let turn = m.next_turn().unwrap();
    assert_eq!(turn.ready().entries.len(), 1, "the entry is handed out to persist first");
    assert!(m.apply(turn).is_empty(), "no answer before the entry is durable and committed");
    let index = m.raft().log().last_index();
    assert!(!sm.0.lock().unwrap().contains(&index));
    let replies = drain(&mut m);
    assert_eq!(sm.0.lock().unwrap().last(), Some(&index));
    let expected = ClientReply {
        client: net::CLIENT_ID_MIN,
        seq: 7,
        reply: Reply::Applied(index.to_be_bytes().to_vec()),
    };
    assert_eq!(replies, vec![expected]);
    assert_eq!(m.applied_index(), index);
}

#[test]
fn a_follower_refuses_clients_and_names_no_leader_it_does_not_know() {
    let config = raft::Config::lab(1, vec![1, 2, 3]);
    let rng = Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let raft = Raft::new(config, raft::Persisted::default(), rng).unwrap();
    let mut m = Member::new(raft, Box::new(Recorder::default()));
    let refusal = m.on_request(net::CLIENT_ID_MIN, 1, b"x".to_vec()).unwrap();
    assert_eq!(refusal.reply, Reply::NotLeader { leader_hint: None });
    assert!(m.on_request(net::CLIENT_ID_MIN, 2, Vec::new()).is_none(), "an empty command is ignored");
}

#[test]
fn a_message_claiming_another_sender_is_refused() {
    let (mut m, _) = leader();
    let msg = Message {
        from: 2,
        to: 1,
        term: 1,
        body: raft::Body::AppendEntriesReply(raft::AppendReply::Success { match_index: 1 }),
    };
    assert!(m.step(3, msg.clone()).is_err());
    assert!(m.step(net::CLIENT_ID_MIN, Message { from: net::CLIENT_ID_MIN, ..msg }).is_err());
}
