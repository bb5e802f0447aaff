//! A picture of a run: one self-contained HTML file with a lane per
//! member (its role and term over time), crashes, restarts, partitions,
//! commits, snapshots and membership changes on the lanes, and a sample of
//! the messages between them; zoom with the wheel, pan by dragging. The
//! simulator records one (`lab --timeline`), and `node timeline` builds
//! one from members' JSON logs (`node run --log-format json`).

use serde::{Deserialize, Serialize};

/// A run's events, in any order (the page sorts them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    pub title: String,
    /// Member ids, one lane each, top to bottom.
    pub members: Vec<u64>,
    pub events: Vec<Event>,
}

/// One thing that happened to a member at `t_us` (microseconds from the
/// run's start: virtual time in the simulator, wall time in a live run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub t_us: u64,
    pub member: u64,
    pub kind: Kind,
    /// Free text shown on hover.
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    /// The member's role (leader, candidate, follower, learner, …) and
    /// term from here on.
    Role {
        role: String,
        term: u64,
    },
    Crash,
    Restart,
    /// Cut off from the network, and back.
    Disconnect,
    Connect,
    /// The commit index moved to `index`.
    Commit {
        index: u64,
    },
    /// A snapshot through `index` is durable at this member.
    Snapshot {
        index: u64,
    },
    /// A new configuration is in force at this member.
    Membership {
        text: String,
    },
    /// A message to member `to` (a sample).
    Message {
        to: u64,
        what: String,
    },
    /// Anything else a nemesis did.
    Note,
}

/// At most this many events go into a page; a longer run keeps the first
/// ones and says so in the title.
pub const MAX_EVENTS: usize = 200_000;

impl Timeline {
    /// The page. The data goes in as JSON inside a `<script>` element
    /// (`</` escaped), drawn by the script at the end of the page.
    pub fn render_html(&self) -> String {
        let mut t = self.clone();
        if t.events.len() > MAX_EVENTS {
            t.title = format!("{} (first {MAX_EVENTS} of {} events)", t.title, t.events.len());
            t.events.truncate(MAX_EVENTS);
        }
        let data = serde_json::to_string(&t).unwrap_or_else(|_| "{}".into()).replace("</", "<\\/");
        let title = html_escape(&t.title);
        PAGE.replace("{{TITLE}}", &title).replace("{{DATA}}", &data)
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const PAGE: &str = include_str!("timeline.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_data_and_cannot_be_closed_early() {
        let t = Timeline {
            title: "a <run>".into(),
            members: vec![1, 2],
            events: vec![Event {
                t_us: 5,
                member: 1,
                kind: Kind::Role { role: "leader".into(), term: 2 },
                detail: "</script><b>".into(),
            }],
        };
        let page = t.render_html();
        assert!(page.contains("<title>a &lt;run&gt;</title>"));
        assert!(!page.contains("</script><b>"), "the data cannot end its script element");
        assert!(page.contains(r#""role":"leader""#));
    }
}
