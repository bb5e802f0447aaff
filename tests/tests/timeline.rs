//! The picture of a run (`lab --timeline`), looked at as a person would:
//! a 2C scenario on the simulator drawn into a page, opened in headless
//! Chromium; its DOM must show a lane per member, the roles they held, the
//! crashes and restarts, and the script must have run to its end.

use tests::browser::{count, render_or_skip};
use tests::runner::run_recorded;
use tests::scenarios;
use tests::sim::{DiskProfile, Nemesis};

#[test]
fn a_figure_8_run_draws_lanes_roles_and_crashes() {
    let scenario = scenarios::all().iter().find(|s| s.name == "figure8_2c").unwrap();
    let (run, timeline) = run_recorded(scenario, 3, false, DiskProfile::TORN, Nemesis::NONE, true);
    assert!(run.result.is_ok(), "{:?}", run.result);
    let timeline = timeline.expect("recorded");
    let kinds = |k: &str| timeline.events.iter().filter(|e| format!("{:?}", e.kind).starts_with(k)).count();
    assert!(kinds("Crash") > 0 && kinds("Restart") > 0 && kinds("Commit") > 0 && kinds("Message") > 0);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("figure8.html");
    std::fs::write(&page, timeline.render_html()).unwrap();
    let Some(shown) = render_or_skip("a_figure_8_run_draws_lanes_roles_and_crashes", &page) else { return };
    assert!(shown.dom.contains(r#"data-drawn="yes""#), "the script stopped before its end");
    assert_eq!(count(&shown.dom, r#"class="lane""#), scenario.servers);
    assert!(count(&shown.dom, r#"class="role leader""#) > 0);
    assert!(count(&shown.dom, r#"class="role follower""#) > 0);
    assert!(count(&shown.dom, r#"class="mark crash""#) > 0);
    assert!(std::fs::metadata(&shown.screenshot).unwrap().len() > 10_000, "a screenshot of a drawn page");
}

/// A live run: members logging JSON, the leader killed and restarted,
/// `node timeline` over their logs, the page opened in headless Chromium.
#[test]
fn a_live_run_with_a_killed_leader_draws_from_the_members_logs() {
    use std::process::Command;
    use std::time::Duration;
    use tests::procs::{ClusterSpec, ProcCluster};

    let mut spec = ClusterSpec::loopback(3).unwrap();
    spec.run_args = vec!["--log-format".into(), "json".into()];
    spec.run_env = vec![("RUST_LOG".into(), "info".into())];
    let mut cluster = ProcCluster::start(spec).unwrap();
    let leader = cluster.wait_leader(Duration::from_secs(10)).unwrap();
    cluster.kill(leader).unwrap();
    let next = cluster.wait_leader(Duration::from_secs(10)).unwrap();
    assert_ne!(next, leader);
    cluster.spawn(leader).unwrap();
    cluster.wait_converged(1, Duration::from_secs(10)).unwrap();
    let logs: Vec<_> = cluster.ids().into_iter().map(|id| cluster.log_path(id)).collect();
    let out = Command::new(&cluster.cli().bin).arg("timeline").args(&logs).output().unwrap();
    assert!(out.status.success(), "node timeline: {}", String::from_utf8_lossy(&out.stderr));
    let page = cluster.root().join("live.html");
    std::fs::write(&page, &out.stdout).unwrap();
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(html.contains(r#""type":"crash""#), "the kill is on the page");
    let Some(shown) = render_or_skip("a_live_run_with_a_killed_leader_draws_from_the_members_logs", &page)
    else {
        return;
    };
    assert!(shown.dom.contains(r#"data-drawn="yes""#), "the script stopped before its end");
    assert_eq!(count(&shown.dom, r#"class="lane""#), 3);
    assert!(count(&shown.dom, r#"class="role leader""#) >= 2, "the first leader and the next");
    assert!(count(&shown.dom, r#"class="mark crash""#) >= 1);
    assert!(count(&shown.dom, r#"class="mark restart""#) >= 4, "three starts and a restart");
}
