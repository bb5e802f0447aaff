//! `Server` as the tester uses it: an in-process cluster on loopback.

mod common;

use std::time::Duration;

use common::{leader, local_config, start, wait_for, Recorder};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn three_members_elect_a_leader_commit_and_apply() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(3, dir.path());
    let recorders: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    let servers: Vec<_> =
        (1..=3).map(|id| start(&config, id, Box::new(recorders[id as usize - 1].clone()))).collect();
    let refs: Vec<_> = servers.iter().collect();
    let id = wait_for(LIMIT, "a leader", || leader(&refs));
    let (index, _) = servers[id as usize - 1].propose(b"x=1".to_vec()).expect("the leader accepts");
    assert!(index >= 2, "the no-op comes first");
    for r in &recorders {
        wait_for(LIMIT, "apply everywhere", || {
            r.0.lock().unwrap().iter().any(|(i, _)| *i == index).then_some(())
        });
    }
    // No-op entries are not handed to the state machine.
    assert!(recorders[0].0.lock().unwrap().iter().all(|(_, d)| !d.is_empty()));
    assert!(servers.iter().all(|s| s.status().applied_index >= index));
    assert!(servers[id as usize - 1].stats().rpcs > 0);
    let follower = servers.iter().find(|s| s.id() != id).unwrap();
    assert_eq!(follower.propose(b"no".to_vec()), None);
}

#[test]
fn a_blocked_leader_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(3, dir.path());
    let servers: Vec<_> = (1..=3).map(|id| start(&config, id, Box::new(Recorder::default()))).collect();
    let refs: Vec<_> = servers.iter().collect();
    let old = wait_for(LIMIT, "a leader", || leader(&refs));
    let term = servers[old as usize - 1].status().current_term;
    for s in &servers {
        if s.id() != old {
            s.set_blocked(old, true);
            servers[old as usize - 1].set_blocked(s.id(), true);
        }
    }
    let others: Vec<_> = servers.iter().filter(|s| s.id() != old).collect();
    let new = wait_for(LIMIT, "a new leader", || {
        leader(&others).filter(|_| others[0].status().current_term > term)
    });
    assert_ne!(new, old);
}

#[test]
fn a_restarted_member_recovers_its_log_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(1, dir.path());
    let server = start(&config, 1, Box::new(Recorder::default()));
    wait_for(LIMIT, "a leader", || leader(&[&server]));
    let (index, _) = server.propose(b"kept".to_vec()).unwrap();
    wait_for(LIMIT, "apply", || (server.status().applied_index >= index).then_some(()));
    let term = server.status().current_term;
    server.stop();

    let recorder = Recorder::default();
    let server = start(&config, 1, Box::new(recorder.clone()));
    assert!(server.status().last_index >= index);
    assert!(server.status().current_term >= term);
    wait_for(LIMIT, "replay", || recorder.0.lock().unwrap().iter().any(|(_, d)| d == b"kept").then_some(()));
}
