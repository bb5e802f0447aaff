//! `node health [--json]`: can each member of the cluster file serve? A
//! member is healthy when a linearizable read through it completes within
//! the timeout: it knows a leader, the leader still leads (a majority
//! answered a round of heartbeats) and the member applied the read index.
//! One line (or object) per member with the time it took; exit 1 when any
//! is not healthy.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{fail, load};
use crate::client::{Client, ReadFrom};
use crate::config::{ClusterConfig, Member};
use crate::proto::Consistency;

/// The key the health read asks for; its value does not matter.
const HEALTH_KEY: &str = "health";

#[derive(Debug, Serialize)]
struct Health {
    id: u64,
    addr: String,
    healthy: bool,
    took_ms: f64,
    error: Option<String>,
}

pub(super) fn health(config: &Path, timeout: Duration, json: bool) -> ExitCode {
    let config = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rows: Vec<Health> = config.nodes.iter().map(|m| check(&config, m, timeout)).collect();
    if json {
        match serde_json::to_string(&rows) {
            Ok(text) => println!("{text}"),
            Err(e) => return fail(1, e),
        }
    } else {
        rows.iter().for_each(|r| println!("{}", line(r)));
    }
    match rows.iter().all(|r| r.healthy) {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}

/// A linearizable read through `member` alone: a client that knows no
/// other member of the file.
fn check(config: &ClusterConfig, member: &Member, timeout: Duration) -> Health {
    let only = ClusterConfig { nodes: vec![member.clone()], ..config.clone() };
    let started = Instant::now();
    let read = Client::new(&only, timeout)
        .and_then(|mut c| c.get_with(HEALTH_KEY, Consistency::Linearizable, ReadFrom::Any));
    let took_ms = started.elapsed().as_secs_f64() * 1e3;
    let addr = member.addr.to_string();
    let error = match read {
        Ok(_) => None,
        // A member that runs but cannot serve answers nothing either: say
        // what that means here rather than "is a majority running?".
        Err(crate::client::ClientError::Timeout(t)) => Some(format!(
            "no linearizable read through it within {}: it is not running, knows no leader, \
             or its leader has no majority",
            humantime::format_duration(t)
        )),
        Err(e) => Some(e.to_string()),
    };
    Health { id: member.id, addr, healthy: error.is_none(), took_ms, error }
}

fn line(r: &Health) -> String {
    match &r.error {
        None => {
            format!("member {} at {}: healthy, a linearizable read took {:.1} ms", r.id, r.addr, r.took_ms)
        }
        Some(e) => format!("member {} at {}: unhealthy after {:.1} ms: {e}", r.id, r.addr, r.took_ms),
    }
}
