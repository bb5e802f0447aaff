//! `node status [--json]`: one line (or object) per member. The JSON also
//! carries each member's transport counters (`net`: datagrams received,
//! drops by reason, …; `null` when unreachable); the text lines do not.
//!
//! The leader's view of the configuration ([`crate::proto::MembersInfo`])
//! adds each member's place in it (voter, learner, or removed: in the
//! cluster file but no longer in the configuration) and how many entries
//! it is behind the leader, and the members added after the cluster file
//! was written; while no member knows a leader those are left out.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::admin::{member_rows, MemberRow};
use super::{fail, load};
use crate::client::Client;
use crate::config::{ClusterConfig, Member};
use crate::proto::{MemberStatus, NetCounters, Role};

/// How long `status` waits for the leader's view of the configuration.
const MEMBERS_WAIT: Duration = Duration::from_secs(1);

/// How often `--watch` asks again.
const WATCH_EVERY: Duration = Duration::from_secs(1);

pub(super) fn status(config: &Path, timeout: Duration, json: bool, watch: bool) -> ExitCode {
    let config = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !watch {
        return match render(&config, timeout, json) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e),
        };
    }
    loop {
        let started = std::time::Instant::now();
        let text = render(&config, timeout, json).unwrap_or_else(|e| format!("node: {e}\n"));
        // Clear the screen and go home, then the table: one redraw.
        print!("\x1b[2J\x1b[H{text}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::thread::sleep(WATCH_EVERY.saturating_sub(started.elapsed()));
    }
}

/// The status of every member, as lines of text or one JSON array.
fn render(config: &ClusterConfig, timeout: Duration, json: bool) -> Result<String, String> {
    let mut client = Client::new(config, timeout).map_err(|e| e.to_string())?;
    let mut answers = client.status();
    // The status answers told the client who leads, or whom they follow
    // (maybe a member the file does not list; the redirect gives its
    // address): ask it directly, and nobody while no member knows a leader.
    client.set_timeout(timeout.min(MEMBERS_WAIT));
    let knows_leader =
        |s: &Option<MemberStatus>| s.is_some_and(|s| s.role == Role::Leader || s.leader_id.is_some());
    let rows = match answers.iter().any(|(_, s)| knows_leader(s)) {
        true => client.members().ok().map(|info| member_rows(&info, client.known_members())),
        false => None,
    };
    if client.known_members().len() > answers.len() {
        // Members the file does not list: a second round for them.
        let known: Vec<u64> = answers.iter().map(|(m, _)| m.id).collect();
        let more = client.status().into_iter().filter(|(m, _)| !known.contains(&m.id));
        answers.extend(more);
    }
    let place = |id: u64| Place::of(rows.as_deref(), id);
    if json {
        let rows: Vec<_> = answers.iter().map(|(m, s)| json_row(m, s.as_ref(), place(m.id))).collect();
        return serde_json::to_string(&rows).map(|t| t + "\n").map_err(|e| e.to_string());
    }
    Ok(answers.iter().map(|(m, s)| text_row(m, s.as_ref(), place(m.id)) + "\n").collect())
}

/// A member's place in the leader's configuration, when a leader answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Place {
    /// "voter", "learner" or "removed".
    member: Option<&'static str>,
    lag: Option<u64>,
}

impl Place {
    fn of(rows: Option<&[MemberRow]>, id: u64) -> Place {
        let Some(rows) = rows else { return Place::default() };
        match rows.iter().find(|r| r.id == id) {
            Some(r) => Place { member: Some(r.role), lag: r.lag },
            None => Place { member: Some("removed"), lag: None },
        }
    }

    fn text(self) -> String {
        let mut text = self.member.map(|m| format!(" {m}")).unwrap_or_default();
        if let Some(lag) = self.lag {
            text.push_str(&format!(" lag={lag}"));
        }
        text
    }
}

fn text_row(m: &Member, s: Option<&MemberStatus>, place: Place) -> String {
    match s {
        Some(s) => {
            format!(
                "{} {} {}{} term={} commit={} last={} applied={}",
                m.id,
                m.addr,
                s.role.name(),
                place.member.map(|m| format!(" {m}")).unwrap_or_default(),
                s.term,
                s.commit_index,
                s.last_index,
                s.applied_index
            ) + &place.lag.map(|lag| format!(" lag={lag}")).unwrap_or_default()
        }
        None => format!("{} {} unreachable{}", m.id, m.addr, place.text()),
    }
}

/// One member in `--json`, keys in this order.
#[derive(serde::Serialize)]
struct JsonRow {
    id: u64,
    addr: String,
    role: &'static str,
    /// "voter", "learner", "removed", or null without a leader's answer.
    member: Option<&'static str>,
    term: Option<u64>,
    commit_index: Option<u64>,
    last_index: Option<u64>,
    applied_index: Option<u64>,
    /// Entries behind the leader's last index, as the leader knows.
    lag: Option<u64>,
    net: Option<NetCounters>,
}

fn json_row(m: &Member, s: Option<&MemberStatus>, place: Place) -> JsonRow {
    JsonRow {
        id: m.id,
        addr: m.addr.to_string(),
        role: s.map_or("unreachable", |s| s.role.name()),
        member: place.member,
        term: s.map(|s| s.term),
        commit_index: s.map(|s| s.commit_index),
        last_index: s.map(|s| s.last_index),
        applied_index: s.map(|s| s.applied_index),
        lag: place.lag,
        net: s.map(|s| s.net),
    }
}
