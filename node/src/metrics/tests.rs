use raft::{AppendReply, Body, Message};

use super::rtt::RoundTrips;
use super::*;

fn heartbeat(to: u64, round: u64) -> Message {
    let body =
        Body::AppendEntries { prev_log_index: 0, prev_log_term: 0, entries: vec![], leader_commit: 0, round };
    Message { from: 1, to, term: 1, body }
}

fn reply(from: u64, round: u64) -> Message {
    Message {
        from,
        to: 1,
        term: 1,
        body: Body::AppendEntriesReply(AppendReply::Success { match_index: 0, round }),
    }
}

#[test]
fn a_round_trip_is_taken_from_the_first_heartbeat_of_a_round_to_its_answer() {
    let mut rtt = RoundTrips::default();
    rtt.sent(&heartbeat(2, 5));
    rtt.sent(&heartbeat(2, 5)); // the same round again: the first counts
    rtt.sent(&heartbeat(3, 5));
    assert!(rtt.received(&reply(2, 4)).is_none(), "an older round was not noted");
    assert!(rtt.received(&reply(2, 5)).is_some());
    assert!(rtt.received(&reply(2, 5)).is_none(), "one sample per round");
    assert!(rtt.received(&reply(3, 5)).is_some(), "each follower its own");
}

#[test]
fn later_answers_forget_earlier_rounds_and_clear_forgets_all() {
    let mut rtt = RoundTrips::default();
    for round in 1..=3 {
        rtt.sent(&heartbeat(2, round));
    }
    assert!(rtt.received(&reply(2, 3)).is_some());
    assert!(rtt.received(&reply(2, 1)).is_none(), "round 1 went with round 3's answer");
    rtt.sent(&heartbeat(2, 4));
    rtt.clear();
    assert!(rtt.received(&reply(2, 4)).is_none());
}

#[test]
fn the_scrape_names_follow_etcd_under_our_prefix() {
    let (metrics, registry) = Metrics::new();
    let status = raft::Status {
        id: 1,
        role: raft::Role::Leader,
        current_term: 3,
        voted_for: Some(1),
        leader_id: Some(1),
        commit_index: 10,
        last_index: 12,
        applied_index: 9,
        snapshot_index: 0,
    };
    metrics.observe_status(&status, 2);
    metrics.client_reply(&crate::proto::Reply::Busy);
    let text = encode(&registry);
    for line in [
        "raftudp_server_has_leader 1",
        "raftudp_server_is_leader 1",
        "raftudp_server_leader_changes_seen_total 1",
        "raftudp_server_proposals_committed_total 10",
        "raftudp_server_proposals_applied_total 9",
        "raftudp_server_proposals_pending 2",
        "raftudp_client_replies_total{outcome=\"busy\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
}
