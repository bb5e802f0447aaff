//! docs/monitoring: the Grafana dashboard and the Prometheus alert rules
//! parse, and every metric they name is one a live member serves.
//! `promtool check rules` runs too where the `prometheus` package is
//! installed; without it the rules are checked by a YAML parse, their
//! fields and their metric names (and the test says so).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use common::{local_config, start, wait_for};
use node::client::Client;
use node::kv::KvStore;
use yaml_rust2::YamlLoader;

fn monitoring(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/monitoring").join(file)
}

/// The `raftudp_` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("raftudp_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(monitoring("dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let targets = panels.iter().flat_map(|p| p["targets"].as_array().expect("each panel has targets"));
    targets.map(|t| t["expr"].as_str().expect("each target an expr").to_string()).collect()
}

fn rule_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(monitoring("alerts.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).expect("the rules are YAML");
    let groups = docs[0]["groups"].as_vec().expect("groups");
    let mut exprs = Vec::new();
    for rule in groups.iter().flat_map(|g| g["rules"].as_vec().expect("rules")) {
        let alert = rule["alert"].as_str().expect("an alert name");
        assert!(rule["labels"]["severity"].as_str().is_some(), "{alert}: severity");
        assert!(rule["annotations"]["summary"].as_str().is_some(), "{alert}: summary");
        exprs.push(rule["expr"].as_str().unwrap_or_else(|| panic!("{alert}: expr")).to_string());
    }
    assert!(exprs.len() >= 5, "no leader, leader changes, fsync, peer RTT, apply lag");
    exprs
}

/// Whether `name`, as an expression uses it, is a sample of a family
/// `served` declares: a histogram's `_bucket`, `_count` and `_sum`, a
/// counter's `_total`, or the family itself.
fn is_served(name: &str, served: &BTreeSet<String>) -> bool {
    let family = ["_bucket", "_count", "_sum", "_total"].iter().find_map(|s| name.strip_suffix(s));
    served.contains(name) || family.is_some_and(|f| served.contains(f))
}

/// The metric families a live leader declares (`# TYPE` lines), after a
/// garbage datagram so the drops family has a sample.
fn served_families() -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = local_config(3, dir.path());
    for m in &mut config.nodes {
        m.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    }
    let servers: Vec<_> = (1..=3).map(|id| start(&config, id, Box::new(KvStore::default()))).collect();
    let mut client = Client::new(&config, Duration::from_secs(10)).unwrap();
    client.put("k", b"v").unwrap();
    let leader = client.leader().unwrap();
    let garbage = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let member = config.member(leader).unwrap().addr.resolve().unwrap();
    garbage.send_to(b"not a datagram of ours", member).unwrap();
    let addr = servers[leader as usize - 1].metrics_addr().unwrap();
    let body = wait_for(Duration::from_secs(10), "a scrape with a drop", || {
        let mut response = ureq::get(&format!("http://{addr}/metrics")).call().ok()?;
        let body = response.body_mut().read_to_string().ok()?;
        body.contains("raftudp_network_drops_total{").then_some(body)
    });
    let declared =
        body.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next().map(String::from));
    declared.collect()
}

#[test]
fn the_dashboard_and_the_alerts_name_only_metrics_a_member_serves() {
    let served = served_families();
    let exprs: Vec<String> = dashboard_exprs().into_iter().chain(rule_exprs()).collect();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{expr:?} names no metric of ours");
        for name in names {
            assert!(is_served(&name, &served), "{name} (in {expr:?}) is not served; served: {served:?}");
        }
    }
}

#[test]
fn promtool_accepts_the_alert_rules_where_it_is_installed() {
    let rules = monitoring("alerts.yaml");
    match std::process::Command::new("promtool").arg("check").arg("rules").arg(&rules).output() {
        Ok(out) => assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => {
            eprintln!("promtool not available ({e}): the rules are checked by YAML parse and names instead");
            rule_exprs();
        }
    }
}
