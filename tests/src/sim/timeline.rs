//! A run as a timeline (`lab --timeline`): the simulator notes what
//! happens to each server in virtual time when asked to
//! ([`Sim::record_timeline`]); `node::timeline` draws it.

use node::timeline::{Event, Kind, Timeline};
use raft::{Body, Message};

use super::Sim;

/// One message in this many goes on the page: enough to see who talks to
/// whom, not so many that the lanes drown.
const MESSAGE_SAMPLE: u64 = 20;

#[derive(Default)]
pub(super) struct Recorder {
    events: Vec<Event>,
    last_commit: Vec<u64>,
    messages: u64,
}

impl Sim {
    /// Notes every event from now on; every server starts as a follower.
    pub fn record_timeline(&mut self) {
        let mut r = Recorder { last_commit: vec![0; self.nodes.len()], ..Recorder::default() };
        for i in 0..self.nodes.len() {
            let term = self.nodes[i].member.as_ref().map_or(0, |m| m.raft().current_term());
            let kind = Kind::Role { role: "follower".into(), term };
            r.events.push(Event { t_us: self.now_us, member: i as u64 + 1, kind, detail: String::new() });
        }
        self.timeline = Some(r);
    }

    /// What was noted, titled.
    pub fn take_timeline(&mut self, title: &str) -> Option<Timeline> {
        let r = self.timeline.take()?;
        let members = (1..=self.nodes.len() as u64).collect();
        Some(Timeline { title: title.to_string(), members, events: r.events })
    }

    pub(super) fn note(&mut self, server: usize, kind: Kind, detail: String) {
        if let Some(r) = &mut self.timeline {
            if r.events.len() < node::timeline::MAX_EVENTS {
                r.events.push(Event { t_us: self.now_us, member: server as u64 + 1, kind, detail });
            }
        }
    }

    /// A message leaves `server`: one in [`MESSAGE_SAMPLE`] is noted.
    pub(super) fn note_message(&mut self, server: usize, msg: &Message) {
        let Some(r) = &mut self.timeline else { return };
        r.messages += 1;
        if r.messages % MESSAGE_SAMPLE != 0 {
            return;
        }
        let what = match &msg.body {
            Body::AppendEntries { entries, .. } if entries.is_empty() => "heartbeat".to_string(),
            Body::AppendEntries { entries, .. } => format!("append of {}", entries.len()),
            other => format!("{other:?}").split([' ', '{', '(']).next().unwrap_or("").to_string(),
        };
        let kind = Kind::Message { to: msg.to, what };
        self.note(server, kind, format!("term {}", msg.term));
    }

    /// After a turn of `server`: its commit index, if it moved.
    pub(super) fn note_commit(&mut self, server: usize) {
        let Some(r) = &mut self.timeline else { return };
        let Some(commit) = self.nodes[server].member.as_ref().map(|m| m.raft().commit_index()) else {
            return;
        };
        if commit > r.last_commit[server] {
            r.last_commit[server] = commit;
            self.note(server, Kind::Commit { index: commit }, String::new());
        }
    }
}
