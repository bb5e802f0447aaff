use super::*;

const GOOD: &str = r#"
cluster_id = 7
data_dir = "./d"

[timing]
tick_ms = 10
heartbeat_ticks = 5
election_min_ticks = 30
election_max_ticks = 60

[[node]]
id = 1
addr = "127.0.0.1:7101"

[[node]]
id = 2
addr = "127.0.0.1:7102"
"#;

fn err(text: &str) -> String {
    match ClusterConfig::parse(text) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "one line: {line}");
            line
        }
    }
}

#[test]
fn a_good_file_parses() {
    let c = ClusterConfig::parse(GOOD).unwrap();
    assert_eq!(c.cluster_id, 7);
    assert_eq!(c.ids(), vec![1, 2]);
    assert_eq!(c.member(2).unwrap().addr, "127.0.0.1:7102".parse().unwrap());
    assert_eq!(c.node_data_dir(2), PathBuf::from("./d/node-2"));
    assert_eq!(c.secret, None);
}

#[test]
fn the_repository_cluster_toml_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster.toml");
    let c = ClusterConfig::load(&path).unwrap();
    assert_eq!(c.nodes.len(), 3);
}

#[test]
fn unknown_keys_are_refused() {
    assert!(err(&format!("colour = 1\n{GOOD}")).contains("colour"));
    let typo = GOOD.replace("tick_ms", "tick_msec");
    assert!(err(&typo).contains("tick_msec"));
    let in_node = GOOD.replace("id = 2", "id = 2\nport = 3");
    assert!(err(&in_node).contains("port"));
}

#[test]
fn duplicate_ids_are_refused() {
    assert!(err(&GOOD.replace("id = 2", "id = 1")).contains("node id 1 is listed twice"));
}

#[test]
fn duplicate_addresses_are_refused() {
    assert!(err(&GOOD.replace("7102", "7101")).contains("127.0.0.1:7101 is listed twice"));
}

#[test]
fn duplicate_names_are_refused_by_their_text() {
    let two =
        GOOD.replace("127.0.0.1:7101", "db1.internal:7101").replace("127.0.0.1:7102", "db1.internal:7101");
    assert!(err(&two).contains("db1.internal:7101 is listed twice"));
    // Another spelling of the same address is not compared (no resolver at parse time).
    ClusterConfig::parse(&GOOD.replace("127.0.0.1:7102", "localhost:7101")).unwrap();
}

#[test]
fn names_and_ipv6_addresses_parse() {
    for (addr, host) in
        [("localhost:7102", "localhost"), ("[::1]:7102", "::1"), ("db1.internal:7102", "db1.internal")]
    {
        let c = ClusterConfig::parse(&GOOD.replace("127.0.0.1:7102", addr)).unwrap();
        let m = c.member(2).unwrap();
        assert_eq!((m.addr.to_string().as_str(), m.addr.host(), m.addr.port()), (addr, host, 7102));
    }
}

#[test]
fn bad_addresses_are_refused() {
    for bad in
        ["http://x:1", "x", "x:99999", ":7101", "", "127.0.0.1:99999", "localhost", "::1:7102", "a b:1"]
    {
        let e = err(&GOOD.replace("127.0.0.1:7102", bad));
        assert!(e.contains("node 2: bad address") && e.contains("want IP:PORT"), "{bad}: {e}");
    }
}

#[test]
fn a_name_is_resolved_to_check_security() {
    // localhost resolves to loopback: no secret needed.
    let local = GOOD.replace("127.0.0.1:7102", "localhost:7102");
    ClusterConfig::parse(&local).unwrap().check_secure(2).unwrap();
    // A name that does not resolve (.invalid never does, RFC 6761): one line naming it.
    let nowhere = GOOD.replace("127.0.0.1:7102", "nowhere.invalid:7102");
    let e = ClusterConfig::parse(&nowhere).unwrap().check_secure(2).unwrap_err().to_string();
    assert!(e.starts_with("member 2: cannot resolve nowhere.invalid:7102") && !e.contains('\n'), "{e}");
    // With a secret nothing needs resolving here.
    let with_secret = nowhere.replace("data_dir", "secret = \"s\"\ndata_dir");
    ClusterConfig::parse(&with_secret).unwrap().check_secure(2).unwrap();
}

#[test]
fn bad_ids_are_refused() {
    assert!(err(&GOOD.replace("id = 2", "id = 0")).contains("out of range"));
    assert!(err(&GOOD.replace("id = 2", "id = 9223372036854775808")).contains("9223372036854775808"));
}

#[test]
fn bad_timing_is_refused() {
    assert!(err(&GOOD.replace("heartbeat_ticks = 5", "heartbeat_ticks = 30")).contains("heartbeat_ticks"));
    assert!(err(&GOOD.replace("election_max_ticks = 60", "election_max_ticks = 30")).contains("election_min"));
    assert!(err(&GOOD.replace("tick_ms = 10", "tick_ms = 0")).contains("tick_ms"));
}

#[test]
fn secrets_come_from_the_file_or_a_path() {
    let c = ClusterConfig::parse(&format!("secret = \"s3\"\n{GOOD}")).unwrap();
    assert_eq!(c.secret.as_deref(), Some(&b"s3"[..]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "from file\n").unwrap();
    std::fs::write(dir.path().join("cluster.toml"), format!("secret_file = \"secret\"\n{GOOD}")).unwrap();
    let c = ClusterConfig::load(&dir.path().join("cluster.toml")).unwrap();
    assert_eq!(c.secret.as_deref(), Some(&b"from file"[..]));
    assert_eq!(c.data_dir, dir.path().join("./d"));
    let both = format!("secret = \"a\"\nsecret_file = \"b\"\n{GOOD}");
    assert!(err(&both).contains("not both"));
    assert!(err(&format!("secret = \"\"\n{GOOD}")).contains("empty"));
    assert!(err(&format!("secret_file = \"/nonexistent/x\"\n{GOOD}")).contains("/nonexistent/x"));
}

#[test]
fn syntax_errors_and_missing_parts_are_one_line() {
    assert!(err("cluster_id = ").starts_with("line 1"));
    assert!(err("data_dir = \"x\"").contains("cluster_id"));
    assert!(err("cluster_id = 1").contains("no [[node]]"));
    assert!(err(&GOOD.replace("cluster_id = 7", "cluster_id = \"seven\"")).contains("line 2"));
}

#[test]
fn an_id_not_in_the_file_is_named() {
    let c = ClusterConfig::parse(GOOD).unwrap();
    assert_eq!(c.require_member(9).unwrap_err().to_string(), "node id 9 is not in the cluster file");
}

#[test]
fn a_missing_file_is_named() {
    let e = ClusterConfig::load(Path::new("/nonexistent/cluster.toml")).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/cluster.toml"), "{e}");
}

#[test]
fn limits_default_to_what_the_transport_carries_and_may_only_be_lowered() {
    let c = ClusterConfig::parse(GOOD).unwrap();
    assert_eq!(c.limits.max_entry_bytes, crate::limits::transport_max_entry_bytes());
    let lowered = GOOD.replace("[[node]]\nid = 1", "[limits]\nmax_entry_bytes = 4096\n\n[[node]]\nid = 1");
    assert_eq!(ClusterConfig::parse(&lowered).unwrap().limits.max_entry_bytes, 4096);
    for bad in ["max_entry_bytes = 0", "max_entry_bytes = 2000000", "max_uncommitted_bytes = 0"] {
        let text = GOOD.replace("[[node]]\nid = 1", &format!("[limits]\n{bad}\n\n[[node]]\nid = 1"));
        assert!(err(&text).starts_with("bad limits: max_"), "{bad}");
    }
}

#[test]
fn a_member_off_loopback_needs_a_secret_or_insecure() {
    let off = GOOD.replace("127.0.0.1:7102", "10.0.0.2:7102");
    let c = ClusterConfig::parse(&off).unwrap();
    c.check_secure(1).unwrap();
    let e = c.check_secure(2).unwrap_err().to_string();
    assert!(e.contains("member 2 listens on 10.0.0.2:7102") && e.contains("secret"), "{e}");
    let with_secret = off.replace("data_dir", "secret = \"s\"\ndata_dir");
    ClusterConfig::parse(&with_secret).unwrap().check_secure(2).unwrap();
    let insecure = off.replace("data_dir", "insecure = true\ndata_dir");
    ClusterConfig::parse(&insecure).unwrap().check_secure(2).unwrap();
    let v6 = GOOD.replace("127.0.0.1:7102", "[::1]:7102");
    ClusterConfig::parse(&v6).unwrap().check_secure(2).unwrap();
}
