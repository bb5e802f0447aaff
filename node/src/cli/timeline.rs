//! `node timeline LOG...`: members' JSON logs (`--log-format json`, one
//! object per line as tracing-subscriber writes them) drawn as one HTML
//! page on stdout ([`crate::timeline`]). What a line says:
//!
//! - "recovered" (the first line of a run) or "member started": a start;
//!   one after a start with no "member stopped" between them means the
//!   member was killed. Its log does not say when: the crash is drawn just
//!   before the next start, its last role lasting until then, and says
//!   when its last line was;
//! - "member stopped": a stop;
//! - "role or term changed": role and term;
//! - "snapshot taken, log compacted": a snapshot;
//! - "configuration in force": a membership change.
//!
//! Lines that are not JSON, or say anything else, are skipped.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::Value;

use super::fail;
use crate::timeline::{Event, Kind, Timeline};

pub(super) fn timeline(logs: &[std::path::PathBuf]) -> ExitCode {
    let mut events = Vec::new();
    for path in logs {
        match std::fs::read_to_string(path) {
            Ok(text) => events.extend(read_log(path, &text)),
            Err(e) => return fail(2, format!("{}: {e}", path.display())),
        }
    }
    let Some(start) = events.iter().map(|(t, _)| *t).min() else {
        return fail(2, "no JSON log lines of a member in these files (run members with --log-format json)");
    };
    let members: BTreeSet<u64> = events.iter().map(|(_, e)| e.member).collect();
    let to_us = |t: SystemTime| t.duration_since(start).map_or(0, |d| d.as_micros() as u64);
    let events = events.into_iter().map(|(t, e)| Event { t_us: to_us(t), ..e }).collect();
    let names: Vec<String> = logs.iter().map(|p| p.display().to_string()).collect();
    let title = format!("live run: {}", names.join(", "));
    print!("{}", Timeline { title, members: members.into_iter().collect(), events }.render_html());
    ExitCode::SUCCESS
}

/// One file's events with their wall-clock times.
fn read_log(path: &Path, text: &str) -> Vec<(SystemTime, Event)> {
    let from_name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("node-"))
        .and_then(|n| n.parse::<u64>().ok());
    let mut out = Vec::new();
    let (mut running, mut last) = (false, None);
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let Some(t) = v["timestamp"].as_str().and_then(|t| humantime::parse_rfc3339_weak(t).ok()) else {
            continue;
        };
        let fields = &v["fields"];
        let Some(member) = from_name.or_else(|| fields["id"].as_u64()) else { continue };
        let message = fields["message"].as_str().unwrap_or("");
        let mut push = |t, kind, detail: String| out.push((t, Event { t_us: 0, member, kind, detail }));
        if let ("recovered" | "member started", true, Some(at)) = (message, running, last) {
            let at = humantime::format_rfc3339_micros(at);
            let before = t.checked_sub(std::time::Duration::from_micros(1)).unwrap_or(t);
            push(before, Kind::Crash, format!("killed: no stop line; its last line was at {at}"));
            running = false;
        }
        match message {
            "member started" => {
                push(t, Kind::Restart, fields["addr"].as_str().unwrap_or("").to_string());
                running = true;
            }
            "member stopped" => {
                push(t, Kind::Crash, "stopped".into());
                running = false;
            }
            "role or term changed" => {
                let role = fields["role"].as_str().unwrap_or("?").to_lowercase();
                let term = fields["term"].as_u64().unwrap_or(0);
                push(t, Kind::Role { role, term }, fields["leader"].as_str().unwrap_or("").to_string());
            }
            "snapshot taken, log compacted" => {
                push(t, Kind::Snapshot { index: fields["index"].as_u64().unwrap_or(0) }, String::new());
            }
            "configuration in force" => {
                let text =
                    format!("voters {}, learners {}", str_of(&fields["voters"]), str_of(&fields["learners"]));
                push(t, Kind::Membership { text }, String::new());
            }
            _ => {}
        }
        last = Some(t);
    }
    out
}

fn str_of(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}
