//! The log of Figure 2 as `Raft::log` shows it to a driver: reads outside
//! the log, the conflict hint past its end (§5.3), and what counts as
//! durable when a persist in flight is overtaken by a truncation.

use raft::{Body, Entry, HardState, Message, Persisted, Raft, RestoreError};

use crate::net::{entry, log_of, new_raft, rng, Net};

fn append(from: u64, term: u64, entries: Vec<Entry>) -> Message {
    Message {
        from,
        to: 1,
        term,
        body: Body::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
            round: 0,
        },
    }
}

#[test]
fn log_reads_outside_the_log_are_empty_not_a_panic() {
    let hard_state = HardState { current_term: 2, voted_for: None };
    let r = new_raft(
        1,
        3,
        Persisted { snapshot: Default::default(), hard_state, entries: log_of(&[1, 1, 2]), membership: None },
    );
    let log = r.log();
    assert_eq!(log.slice(2, 99), &log_of(&[1, 1, 2])[1..], "clamped to the last entry");
    assert!(log.slice(4, 9).is_empty());
    assert!(log.slice(5, 9).is_empty(), "starts past the end");
    assert!(log.slice(3, 1).is_empty(), "from after to");
    assert!(log.slice(0, 2).is_empty(), "index 0 is the empty prefix, not an entry");
    assert_eq!(log.data_bytes(5, 9), 0);
    assert_eq!(log.data_bytes(1, 3), 6);
}

/// §5.3's conflict hint: for an index past the end of the log, the first
/// index the follower lacks (its last index + 1).
#[test]
fn s5_3_term_run_of_an_index_past_the_log_starts_after_the_log() {
    let hard_state = HardState { current_term: 2, voted_for: None };
    let r = new_raft(
        1,
        3,
        Persisted { snapshot: Default::default(), hard_state, entries: log_of(&[1, 1, 2]), membership: None },
    );
    assert_eq!(r.log().first_index_of_term_run(4), 4);
    assert_eq!(r.log().first_index_of_term_run(9), 4);
    assert_eq!(r.log().first_index_of_term_run(3), 3);
    assert_eq!(r.log().first_index_of_term_run(2), 1);
}

/// Figure 2, AppendEntries step 3, during a persist: a follower hands
/// entries 1..2 out for persisting, a new leader replaces them before the
/// write completes. Completing that write (`advance`) makes durable only
/// what is still in the log as handed out, not the replacement, which has
/// not been handed out yet.
#[test]
fn s5_3_entries_replaced_during_their_persist_are_not_taken_as_durable() {
    let mut r = new_raft(1, 3, Persisted::default());
    r.step(append(2, 1, vec![entry(1, 1), entry(2, 1)])).unwrap();
    let first = r.ready();
    assert_eq!(first.entries, vec![entry(1, 1), entry(2, 1)]);
    r.step(append(3, 2, vec![entry(1, 2)])).unwrap();
    r.advance(); // the write of `first` completed
    assert_eq!(r.log().stable_index(), 0, "entry 1 of term 2 was never handed out");
    let second = r.ready();
    assert_eq!(second.entries, vec![entry(1, 2)]);
    r.advance();
    assert_eq!(r.log().stable_index(), 1);
}

/// Every entry has a term of at least 1 (a leader's term; only the empty
/// prefix at index 0 has term 0), and `step` refuses entries of term 0 from
/// the network. Storage is held to the same rule: a member restored with
/// such an entry would answer every probe at it with a conflict hint of
/// term 0, which a correct leader refuses as malformed, so it could never
/// be repaired.
#[test]
fn restore_refuses_a_persisted_entry_of_term_zero() {
    let hard_state = HardState { current_term: 2, voted_for: None };
    for terms in [&[0][..], &[0, 0, 2], &[1, 1][..]] {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry::new(i as u64 + 1, term, bytes::Bytes::new()))
            .collect();
        let restored = Raft::new(
            crate::net::paper_config(1, vec![1, 2, 3]),
            Persisted { snapshot: Default::default(), hard_state, entries, membership: None },
            rng(1),
        );
        if terms[0] == 0 {
            assert!(matches!(restored, Err(RestoreError::TermZero(1))), "{terms:?}");
        } else {
            assert!(restored.is_ok());
        }
    }
}

/// §5.3's fast backoff when the follower's conflicting term is older than
/// every entry of the leader (Figure 7's follower with entries of a term the
/// leader never had, at the start of the log): the leader has no entry of
/// that term and goes back to the first index the follower holds of it.
#[test]
fn s5_3_leader_without_the_conflict_term_backs_off_to_the_followers_first_index_of_it() {
    let hard_state = |current_term| HardState { current_term, voted_for: None };
    let r = new_raft(
        1,
        3,
        Persisted {
            snapshot: Default::default(),
            hard_state: hard_state(2),
            entries: log_of(&[2, 2]),
            membership: None,
        },
    );
    assert_eq!(r.log().last_index_of_term(1), None, "every entry is newer");
    assert_eq!(new_raft(1, 3, Persisted::default()).log().last_index_of_term(1), None, "empty log");
    assert_eq!(r.log().last_index_of_term(2), Some(2));

    let mut net = Net::with_logs(3, |id| match id {
        2 => Persisted {
            snapshot: Default::default(),
            hard_state: hard_state(1),
            entries: log_of(&[1, 1, 1]),
            membership: None,
        },
        _ => Persisted {
            snapshot: Default::default(),
            hard_state: hard_state(2),
            entries: log_of(&[2, 2]),
            membership: None,
        },
    });
    net.campaign(1);
    assert_eq!(net.leaders(), vec![1]);
    let terms: Vec<u64> = net.node(2).log().slice(1, 9).iter().map(|e| e.term).collect();
    assert_eq!(terms, vec![2, 2], "the follower's term-1 entries were replaced");
}
