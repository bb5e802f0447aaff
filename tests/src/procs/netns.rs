//! A network-namespace lab: one namespace per member plus a hub namespace
//! holding a bridge, joined by veth pairs, on a private subnet made here
//! (10.231.0.0/24: the hub is .254, member N is .N). Faults are `nftables`
//! rules inside member namespaces (partitions, random loss) and `tc netem`
//! where the kernel has `sch_netem`. Everything is removed on drop, and
//! namespaces left by a test run that was killed are removed at the next
//! start.
//!
//! Needs root, `ip` and `nft`. [`NetnsLab::create_or_skip`] returns `None`
//! with a printed reason when it cannot run, and panics instead when
//! `CI=true`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::cluster::ClusterSpec;

const PREFIX: &str = "rpt";
const SUBNET: [u8; 3] = [10, 231, 0];
const PORT: u16 = 7000;
const HUB_HOST: u8 = 254;

/// Namespaces, bridge and veths of one test; removed on drop.
pub struct NetnsLab {
    pub hub: String,
    /// Member id → its namespace.
    pub namespaces: BTreeMap<u64, String>,
    created: Vec<String>,
}

/// Runs a command; its stderr (or spawn error) on failure.
pub fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{}`: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn sh_stdin(args: &[&str], input: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`{}`: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The member's address on the lab subnet.
pub fn member_ip(id: u64) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], u8::try_from(id).expect("member id below 254"))
}

/// Why a netns test cannot run here, or `None`.
pub fn unavailable() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root (network namespaces need CAP_NET_ADMIN)".into());
    }
    for tool in [["ip", "-V"], ["nft", "--version"]] {
        if let Err(e) = sh(&tool) {
            return Some(format!("`{}` is not usable: {e}", tool[0]));
        }
    }
    None
}

impl NetnsLab {
    /// A lab for `ids`, or `None` after printing why it cannot run (a
    /// panic instead when `CI=true`).
    pub fn create_or_skip(test: &str, ids: &[u64]) -> Option<NetnsLab> {
        let reason = match unavailable() {
            Some(reason) => reason,
            None => match NetnsLab::create(ids) {
                Ok(lab) => return Some(lab),
                Err(e) => format!("could not build the namespaces: {e}"),
            },
        };
        crate::skip_unless_ci(test, &reason);
        None
    }

    pub fn create(ids: &[u64]) -> Result<NetnsLab, String> {
        remove_stale();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{PREFIX}{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut lab =
            NetnsLab { hub: format!("{tag}-hub"), namespaces: BTreeMap::new(), created: Vec::new() };
        let hub = lab.hub.clone();
        lab.add_namespace(&hub)?;
        let hub_ip = format!("{}/24", Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], HUB_HOST));
        sh(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        sh(&["ip", "-n", &hub, "addr", "add", &hub_ip, "dev", "br0"])?;
        sh(&["ip", "-n", &hub, "link", "set", "br0", "up"])?;
        for &id in ids {
            let ns = format!("{tag}-m{id}");
            lab.add_namespace(&ns)?;
            let veth = format!("v{id}");
            sh(&[
                "ip", "-n", &hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            sh(&["ip", "-n", &hub, "link", "set", &veth, "master", "br0", "up"])?;
            sh(&["ip", "-n", &ns, "addr", "add", &format!("{}/24", member_ip(id)), "dev", "eth0"])?;
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            lab.namespaces.insert(id, ns);
        }
        Ok(lab)
    }

    fn add_namespace(&mut self, ns: &str) -> Result<(), String> {
        sh(&["ip", "netns", "add", ns])?;
        self.created.push(ns.to_string());
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]).map(|_| ())
    }

    /// A cluster spec whose members listen on their lab addresses and run
    /// in their namespaces; clients run in the hub.
    pub fn cluster_spec(&self) -> ClusterSpec {
        let members =
            self.namespaces.keys().map(|&id| (id, SocketAddr::from((member_ip(id), PORT)))).collect();
        let mut spec = ClusterSpec::with_members(members);
        // Off loopback a member refuses to start without a secret.
        spec.secret = Some("netns test secret".into());
        spec.run_prefix = self.namespaces.iter().map(|(&id, ns)| (id, exec_prefix(ns))).collect();
        spec.client_prefix = exec_prefix(&self.hub);
        spec
    }

    /// Splits the members into `groups`: nothing passes between groups
    /// (members absent from every group keep their links). Replaces any
    /// earlier partition; loss rules stay.
    pub fn partition(&self, groups: &[&[u64]]) -> Result<(), String> {
        for (&id, ns) in &self.namespaces {
            let Some(mine) = groups.iter().find(|g| g.contains(&id)) else { continue };
            let others: Vec<String> = groups
                .iter()
                .flat_map(|g| g.iter())
                .filter(|o| !mine.contains(o))
                .map(|&o| member_ip(o).to_string())
                .collect();
            if others.is_empty() {
                continue;
            }
            let set = others.join(", ");
            let rules = format!(
                "table inet partition {{\n chain input {{ type filter hook input priority 0; ip saddr {{ {set} }} drop; }}\n chain output {{ type filter hook output priority 0; ip daddr {{ {set} }} drop; }}\n}}\n"
            );
            let _ = sh(&["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "partition"]);
            sh_stdin(&["ip", "netns", "exec", ns, "nft", "-f", "-"], &rules)?;
        }
        Ok(())
    }

    /// Drops `percent`% of the datagrams each member receives from the
    /// other members (`numgen random`); 0 removes the rule.
    pub fn loss(&self, percent: u32) -> Result<(), String> {
        let hub_ip = Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], HUB_HOST);
        for ns in self.namespaces.values() {
            let _ = sh(&["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "loss"]);
            if percent == 0 {
                continue;
            }
            let rules = format!(
                "table inet loss {{\n chain input {{ type filter hook input priority 0; ip saddr != {hub_ip} numgen random mod 100 < {percent} drop; }}\n}}\n"
            );
            sh_stdin(&["ip", "netns", "exec", ns, "nft", "-f", "-"], &rules)?;
        }
        Ok(())
    }

    /// Removes every partition and loss rule.
    pub fn heal(&self) -> Result<(), String> {
        for ns in self.namespaces.values() {
            sh(&["ip", "netns", "exec", ns, "nft", "flush", "ruleset"])?;
        }
        Ok(())
    }

    /// Adds `tc netem` with `args` (e.g. `delay 20ms loss 2%`) on every
    /// member's link; the error says why not (e.g. no `sch_netem`).
    pub fn netem(&self, args: &[&str]) -> Result<(), String> {
        for ns in self.namespaces.values() {
            let mut cmd =
                vec!["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem"];
            cmd.extend_from_slice(args);
            sh(&cmd)?;
        }
        Ok(())
    }
}

fn exec_prefix(ns: &str) -> Vec<String> {
    ["ip", "netns", "exec", ns].iter().map(|s| s.to_string()).collect()
}

/// Removes namespaces of earlier runs whose process is gone.
fn remove_stale() {
    let Ok(list) = sh(&["ip", "netns", "list"]) else { return };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sh(&["ip", "netns", "del", name]);
        }
    }
}

impl Drop for NetnsLab {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = sh(&["ip", "netns", "del", ns]) {
                eprintln!("netns cleanup: {e}");
            }
        }
    }
}
