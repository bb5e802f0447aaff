//! `node status [--json]`: one line (or object) per member. The JSON also
//! carries each member's transport counters (`net`: datagrams received,
//! drops by reason, …; `null` when unreachable); the text lines do not.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{fail, load};
use crate::client::Client;
use crate::config::Member;
use crate::proto::{MemberStatus, NetCounters};

pub(super) fn status(config: &Path, timeout: Duration, json: bool) -> ExitCode {
    let config = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut client = match Client::new(&config, timeout) {
        Ok(c) => c,
        Err(e) => return fail(1, e),
    };
    let answers = client.status();
    if json {
        let rows: Vec<_> = answers.iter().map(|(m, s)| json_row(m, s.as_ref())).collect();
        match serde_json::to_string(&rows) {
            Ok(text) => println!("{text}"),
            Err(e) => return fail(1, e),
        }
    } else {
        for (m, s) in &answers {
            println!("{}", text_row(m, s.as_ref()));
        }
    }
    ExitCode::SUCCESS
}

fn text_row(m: &Member, s: Option<&MemberStatus>) -> String {
    match s {
        Some(s) => format!(
            "{} {} {} term={} commit={} last={} applied={}",
            m.id,
            m.addr,
            s.role.name(),
            s.term,
            s.commit_index,
            s.last_index,
            s.applied_index
        ),
        None => format!("{} {} unreachable", m.id, m.addr),
    }
}

/// One member in `--json`, keys in this order.
#[derive(serde::Serialize)]
struct JsonRow {
    id: u64,
    addr: String,
    role: &'static str,
    term: Option<u64>,
    commit_index: Option<u64>,
    last_index: Option<u64>,
    applied_index: Option<u64>,
    net: Option<NetCounters>,
}

fn json_row(m: &Member, s: Option<&MemberStatus>) -> JsonRow {
    JsonRow {
        id: m.id,
        addr: m.addr.to_string(),
        role: s.map_or("unreachable", |s| s.role.name()),
        term: s.map(|s| s.term),
        commit_index: s.map(|s| s.commit_index),
        last_index: s.map(|s| s.last_index),
        applied_index: s.map(|s| s.applied_index),
        net: s.map(|s| s.net),
    }
}
