//! The `node` client commands (`put`, `get`, `status --json` and its
//! transport counters, `members --json` and the membership commands) as
//! typed calls, each one a child process,
//! optionally run through a prefix such as `ip netns exec NS`.

use std::path::PathBuf;
use std::process::{Command, Output};

pub use node::proto::NetCounters;

use super::error::{io, ProcError, Result};

/// One member's line of `node status --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    pub id: u64,
    pub role: String,
    pub term: u64,
    pub commit_index: u64,
    pub last_index: u64,
    pub applied_index: u64,
}

impl MemberStatus {
    pub fn is_leader(&self) -> bool {
        self.role == "leader"
    }
    pub fn is_reachable(&self) -> bool {
        self.role != "unreachable"
    }
}

/// How a `put` ended: acknowledged (exit 0) or not (exit 1, e.g. a
/// timeout; the write may or may not have been applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Acked,
    NotAcked(String),
}

/// Runs client commands against one `cluster.toml`.
#[derive(Debug, Clone)]
pub struct Cli {
    pub bin: PathBuf,
    pub config: PathBuf,
    /// Words before the binary, e.g. `["ip", "netns", "exec", "ns"]`.
    pub prefix: Vec<String>,
    /// The `--timeout` of puts and gets, e.g. `"3s"`.
    pub timeout: String,
    /// The `--timeout` of `status` (how long it waits for a member that
    /// does not answer), short so polls stay quick while one is down.
    pub status_timeout: String,
}

impl Cli {
    /// `node COMMAND --config F --timeout T ARGS…` (`args[0]` is the command).
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        self.run_with(&self.timeout, args)
    }

    /// [`Cli::run`] with another `--timeout`.
    pub fn run_with(&self, timeout: &str, args: &[&str]) -> Result<Output> {
        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.args(&args[..1]).arg("--config").arg(&self.config);
        cmd.args(["--timeout", timeout]).args(&args[1..]);
        cmd.output().map_err(io(format!("spawn node {}", args[0])))
    }

    /// `node put KEY VALUE`. Exit 2 (bad arguments or config) is an error.
    pub fn put(&self, key: &str, value: &str) -> Result<PutOutcome> {
        let out = self.run(&["put", key, value])?;
        match out.status.code() {
            Some(0) => Ok(PutOutcome::Acked),
            Some(1) | None => Ok(PutOutcome::NotAcked(stderr_line(&out))),
            Some(_) => Err(failed("node put", &out)),
        }
    }

    /// `node get KEY`: `Some(value)`, or `None` when not found.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        let out = self.run(&["get", key])?;
        let stderr = stderr_line(&out);
        match out.status.code() {
            Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_string())),
            Some(1) if stderr.contains("not found") => Ok(None),
            _ => Err(failed("node get", &out)),
        }
    }

    /// `node get KEY --consistency C --from F`: `Ok(Some(answer))` when a
    /// member answered (`answer` is `None` for "not found"), `Ok(None)`
    /// when none did within the timeout.
    pub fn get_with(&self, key: &str, consistency: &str, from: &str) -> Result<Option<Option<String>>> {
        let out = self.run(&["get", key, "--consistency", consistency, "--from", from])?;
        let stderr = stderr_line(&out);
        match out.status.code() {
            Some(0) => {
                Ok(Some(Some(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_string())))
            }
            Some(1) if stderr.contains("not found") => Ok(Some(None)),
            Some(1) if stderr.contains("no answer") => Ok(None),
            _ => Err(failed("node get", &out)),
        }
    }

    /// This client with another cluster file.
    pub fn with_config(&self, config: PathBuf) -> Cli {
        Cli { config, ..self.clone() }
    }

    /// `node status --json`, one entry per member, by id.
    pub fn status(&self) -> Result<Vec<MemberStatus>> {
        let out = self.run_with(&self.status_timeout, &["status", "--json"])?;
        if !out.status.success() {
            return Err(failed("node status --json", &out));
        }
        parse_status(&String::from_utf8_lossy(&out.stdout))
    }

    /// `node members --json`: the leader's view of the configuration.
    pub fn members(&self) -> Result<Members> {
        let out = self.run(&["members", "--json"])?;
        if !out.status.success() {
            return Err(failed("node members --json", &out));
        }
        parse_members(&String::from_utf8_lossy(&out.stdout))
    }

    /// An operator's command (`add ID ADDR [--learner]`, `promote ID`,
    /// `remove ID`, `transfer-leader ID`): what it printed on success, or
    /// [`ProcError::Command`] with its exit status and stderr line.
    pub fn admin(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args)?;
        if !out.status.success() {
            return Err(failed(&format!("node {}", args.join(" ")), &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The transport counters in `node status --json`, by member id
    /// (`None` for a member that did not answer).
    pub fn counters(&self) -> Result<Vec<(u64, Option<NetCounters>)>> {
        let out = self.run_with(&self.status_timeout, &["status", "--json"])?;
        if !out.status.success() {
            return Err(failed("node status --json", &out));
        }
        parse_counters(&String::from_utf8_lossy(&out.stdout))
    }
}

/// The `net` objects of `node status --json`, by id.
pub fn parse_counters(text: &str) -> Result<Vec<(u64, Option<NetCounters>)>> {
    let bad = |detail: String| ProcError::Parse { command: "node status --json".into(), detail };
    let value: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| bad(format!("{e}: {text}")))?;
    let items = value.as_array().ok_or_else(|| bad(format!("not an array: {text}")))?;
    let mut members = Vec::new();
    for item in items {
        let id = item.get("id").and_then(|v| v.as_u64()).unwrap_or(0);
        let net = match item.get("net") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| bad(format!("net of {id}: {e}")))?),
        };
        members.push((id, net));
    }
    members.sort_by_key(|(id, _)| *id);
    Ok(members)
}

/// `node members --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    pub leader: u64,
    pub term: u64,
    pub last_index: u64,
    /// Voters, then learners.
    pub members: Vec<Membership>,
}

/// One member of [`Members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub id: u64,
    /// "voter" or "learner".
    pub role: String,
    pub addr: String,
    /// Entries behind the leader's last index, if the leader knows.
    pub lag: Option<u64>,
}

impl Members {
    pub fn get(&self, id: u64) -> Option<&Membership> {
        self.members.iter().find(|m| m.id == id)
    }
    /// The ids whose role is `role`, ascending.
    pub fn with_role(&self, role: &str) -> Vec<u64> {
        let mut ids: Vec<u64> = self.members.iter().filter(|m| m.role == role).map(|m| m.id).collect();
        ids.sort_unstable();
        ids
    }
}

/// Parses the object printed by `node members --json`.
pub fn parse_members(text: &str) -> Result<Members> {
    let bad = |detail: String| ProcError::Parse { command: "node members --json".into(), detail };
    let value: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| bad(format!("{e}: {text}")))?;
    let num = |item: &serde_json::Value, key: &str| item.get(key).and_then(|v| v.as_u64());
    let text_of = |item: &serde_json::Value, key: &str| {
        item.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string()
    };
    let items =
        value.get("members").and_then(|m| m.as_array()).ok_or_else(|| bad(format!("no members: {text}")))?;
    Ok(Members {
        leader: num(&value, "leader").ok_or_else(|| bad(format!("no leader: {text}")))?,
        term: num(&value, "term").unwrap_or(0),
        last_index: num(&value, "last_index").unwrap_or(0),
        members: items
            .iter()
            .map(|item| Membership {
                id: num(item, "id").unwrap_or(0),
                role: text_of(item, "role"),
                addr: text_of(item, "addr"),
                lag: num(item, "lag"),
            })
            .collect(),
    })
}

/// Parses the array printed by `node status --json`.
pub fn parse_status(text: &str) -> Result<Vec<MemberStatus>> {
    let bad = |detail: String| ProcError::Parse { command: "node status --json".into(), detail };
    let value: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| bad(format!("{e}: {text}")))?;
    let items = value.as_array().ok_or_else(|| bad(format!("not an array: {text}")))?;
    let num = |item: &serde_json::Value, key: &str| item.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    let mut members: Vec<MemberStatus> = items
        .iter()
        .map(|item| MemberStatus {
            id: num(item, "id"),
            role: item.get("role").and_then(|v| v.as_str()).unwrap_or("unreachable").to_string(),
            term: num(item, "term"),
            commit_index: num(item, "commit_index"),
            last_index: num(item, "last_index"),
            applied_index: num(item, "applied_index"),
        })
        .collect();
    members.sort_by_key(|m| m.id);
    Ok(members)
}

fn stderr_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn failed(command: &str, out: &Output) -> ProcError {
    ProcError::Command { command: command.into(), detail: format!("{}: {}", out.status, stderr_line(out)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_json_with_unreachable_members() {
        let text = r#"[{"id":2,"addr":"127.0.0.1:2","role":"unreachable","term":null},
            {"id":1,"addr":"127.0.0.1:1","role":"leader","term":3,"commit_index":7,"last_index":8,"applied_index":7}]"#;
        let members = parse_status(text).unwrap();
        assert_eq!(members.len(), 2);
        assert!(members[0].is_leader());
        assert_eq!((members[0].term, members[0].commit_index, members[0].last_index), (3, 7, 8));
        assert!(!members[1].is_reachable());
        assert!(parse_status("{}").is_err());
    }

    #[test]
    fn parses_members_json() {
        let text = r#"{"leader":1,"term":3,"commit_index":9,"last_index":10,"membership_index":8,"members":[
            {"id":1,"role":"voter","addr":"127.0.0.1:1","leader":true,"match_index":10,"lag":0},
            {"id":4,"role":"learner","addr":"127.0.0.1:4","leader":false,"match_index":null,"lag":null}]}"#;
        let members = parse_members(text).unwrap();
        assert_eq!((members.leader, members.term, members.last_index), (1, 3, 10));
        assert_eq!(members.with_role("voter"), [1]);
        assert_eq!(members.get(4).map(|m| m.lag), Some(None));
        assert!(parse_members("[]").is_err());
    }

    #[test]
    fn parses_the_counters_of_status_json() {
        let mut net = NetCounters { datagrams_received: 12, ..NetCounters::default() };
        net.drops.auth = 3;
        let text = format!(
            r#"[{{"id":2,"role":"unreachable","net":null}},{{"id":1,"role":"leader","net":{}}}]"#,
            serde_json::to_string(&net).unwrap()
        );
        let counters = parse_counters(&text).unwrap();
        assert_eq!(counters, vec![(1, Some(net)), (2, None)]);
    }
}
