//! Leader-to-follower round trips, measured on Raft's own heartbeats:
//! the transport no longer acknowledges Raft messages, so it takes no
//! samples of its own between members. A heartbeat carries the leader's
//! round number and the reply echoes it; the time from the first
//! heartbeat of a round sent to a follower to that follower's first reply
//! of the round is one sample. Appends with entries are left out: their
//! replies wait for the follower's fsync.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use raft::{AppendReply, Body, Message};

/// Rounds remembered per follower: older ones are not answered any more.
const ROUNDS_KEPT: usize = 8;

/// Heartbeat rounds sent and not yet answered, by follower.
#[derive(Default)]
pub struct RoundTrips {
    by_peer: BTreeMap<u64, VecDeque<(u64, Instant)>>,
}

impl RoundTrips {
    /// `msg` leaves now.
    pub fn sent(&mut self, msg: &Message) {
        let Body::AppendEntries { entries, round, .. } = &msg.body else { return };
        if !entries.is_empty() || *round == 0 {
            return;
        }
        let rounds = self.by_peer.entry(msg.to).or_default();
        if rounds.back().is_some_and(|&(r, _)| r >= *round) {
            return;
        }
        rounds.push_back((*round, Instant::now()));
        if rounds.len() > ROUNDS_KEPT {
            rounds.pop_front();
        }
    }

    /// `msg` arrived now; the round trip it ends, if it answers a heartbeat.
    pub fn received(&mut self, msg: &Message) -> Option<Duration> {
        let Body::AppendEntriesReply(reply) = &msg.body else { return None };
        let round = match reply {
            AppendReply::Success { round, .. } | AppendReply::Conflict { round, .. } => *round,
            AppendReply::StaleTerm => return None,
        };
        let rounds = self.by_peer.get_mut(&msg.from)?;
        let mut sample = None;
        while let Some(&(r, at)) = rounds.front() {
            if r > round {
                break;
            }
            if r == round {
                sample = Some(at.elapsed());
            }
            rounds.pop_front();
        }
        sample
    }

    /// Not leading any more: no round will be answered to us.
    pub fn clear(&mut self) {
        self.by_peer.clear();
    }
}
