use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::Parser as _;

use super::drive::Budget;
use super::report::{micros, times, Reads, Report, Stats};
use super::*;
use crate::cli::{Args, Command};

fn parse(words: &str) -> Result<BenchArgs, clap::Error> {
    let args = Args::try_parse_from(std::iter::once("node").chain(words.split_whitespace()))?;
    match args.command {
        Command::Bench(b) => Ok(b),
        other => panic!("{other:?}"),
    }
}

fn plan(words: &str) -> Result<Plan, String> {
    parse(words).map_err(|e| e.to_string())?.plan()
}

#[test]
fn clap_refuses_bad_numbers_with_exit_2() {
    for bad in [
        "bench put --clients 0 --total 10",
        "bench put --total 0",
        "bench mixed --total 10 --read-ratio 1.5",
        "bench mixed --total 10 --read-ratio -0.1",
        "bench mixed --total 10 --read-ratio x",
        "bench put --total 10 --duration 1s",
        "bench put --duration forever",
        "bench get --total 10 --consistency strong",
        "bench get --total 10 --from follower",
        "bench put --keys 0 --total 1",
        "bench bogus --total 1",
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}");
        assert_ne!(e.kind(), ErrorKind::DisplayHelp, "{bad}");
    }
    let e = parse("bench mixed --total 10 --read-ratio 1.5").unwrap_err().to_string();
    assert!(e.contains("must be between 0 and 1"), "{e}");
}

#[test]
fn options_that_do_not_fit_the_mode_are_refused_in_one_line() {
    for (bad, says) in [
        ("bench put --total 10 --read-ratio 0.5", "--read-ratio is for mixed, not put"),
        ("bench get --total 10 --read-ratio 0.5", "--read-ratio is for mixed, not get"),
        ("bench put --total 10 --consistency lease", "--consistency and --from are for get and mixed"),
        ("bench floor --from any", "not floor"),
        ("bench floor --no-floor", "nothing to measure"),
        ("bench put --clients 4", "put needs --total N or --duration D"),
        ("bench get --duration 0s", "--duration must be more than 0"),
    ] {
        let e = plan(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
        assert!(!e.contains('\n'), "{bad}: {e}");
    }
}

#[test]
fn defaults_and_budgets() {
    let p = plan("bench mixed --duration 10s --clients 8 --consistency serializable --from any").unwrap();
    assert_eq!((p.mode, p.clients, p.read_ratio, p.keys), (Mode::Mixed, 8, 0.9, 1000));
    assert_eq!((p.consistency, p.from), (Consistency::Serializable, ReadFrom::Any));
    assert_eq!(p.budget, Budget::For(Duration::from_secs(10)));
    assert_eq!(p.echo_budget(), Budget::For(ECHO_TIME));
    assert!(p.puts() && p.gets() && p.floor);
    let p = plan("bench put --total 200 --json --no-floor").unwrap();
    assert_eq!((p.budget, p.read_ratio, p.floor, p.progress), (Budget::Total(200), 0.0, false, false));
    assert!(p.puts() && !p.gets());
    assert_eq!(p.echo_budget(), Budget::For(ECHO_TIME));
    let p = plan("bench get --duration 1s").unwrap();
    assert_eq!(p.echo_budget(), Budget::For(Duration::from_secs(1)));
    assert!(!p.puts() && p.gets());
    let p = plan("bench floor").unwrap();
    assert_eq!(p.budget, Budget::For(ECHO_TIME));
    assert!(!p.puts() && !p.gets());
    let p = plan("bench floor --total 5000 --dir /x").unwrap();
    assert_eq!((p.echo_budget(), p.dir), (Budget::Total(5000), Some(PathBuf::from("/x"))));
    let p = plan("bench mixed --total 1 --read-ratio 0").unwrap();
    assert!(p.puts() && !p.gets());
}

#[test]
fn a_value_the_cluster_cannot_take_is_refused_naming_the_limit() {
    let p = plan("bench put --total 1 --clients 100 --keys 5000 --value-bytes 1000").unwrap();
    assert_eq!(p.longest_key(), "bench/99/4999");
    let seen = std::cell::RefCell::new(String::new());
    let limit = |key: &str| {
        *seen.borrow_mut() = key.into();
        Some(1000)
    };
    assert_eq!(check_value_size(&p, limit), Ok(()));
    assert_eq!(*seen.borrow(), "bench/99/4999");
    let e = check_value_size(&p, |_| Some(999)).unwrap_err();
    assert_eq!(e, "value too large: 1000 bytes (at most 999 with keys like bench/99/4999)");
    assert!(check_value_size(&p, |_| None).unwrap_err().contains("at most 0"));
    let p = plan("bench get --total 1 --clients 1 --keys 100000").unwrap();
    assert_eq!(p.longest_key(), "bench/k/99999");
}

fn stats(ops: u64, secs: f64, p50: u64, max: u64, errors: u64) -> Stats {
    Stats {
        ops,
        errors,
        first_error: (errors > 0).then(|| "no answer".to_string()),
        seconds: secs,
        ops_per_sec: ops as f64 / secs,
        p50,
        p90: p50 * 2,
        p99: p50 * 3,
        p999: p50 * 4,
        max,
    }
}

fn report(mode: Mode, load: Option<Stats>) -> Report {
    Report {
        mode,
        clients: 64,
        value_bytes: 100,
        budget: Budget::For(Duration::from_secs(5)),
        reads: (mode == Mode::Get).then(|| Reads {
            ratio: 1.0,
            consistency: "linearizable".into(),
            from: "leader".into(),
        }),
        echo: Some((stats(200_000, 2.0, 50, 900, 0), 100)),
        fsync: Some((stats(500, 1.0, 2000, 9000, 0), PathBuf::from("/data"))),
        load,
        warmup_errors: 0,
    }
}

#[test]
fn ratios_divide_by_the_floor() {
    let r = report(Mode::Put, Some(stats(5_000, 5.0, 4_000, 30_000, 3)));
    let ratios = r.ratios().unwrap();
    assert_eq!(ratios.ops_vs_echo, Some(0.01));
    assert_eq!(ratios.p50_vs_echo, Some(80.0));
    assert_eq!(ratios.p50_vs_fsync, Some(2.0));
    let r = report(Mode::Get, Some(stats(5_000, 5.0, 100, 1_000, 0)));
    assert_eq!(r.ratios().unwrap().p50_vs_fsync, None, "only puts wait for fdatasync");
    assert_eq!(report(Mode::Floor, None).ratios(), None);
    let mut r = report(Mode::Put, Some(stats(10, 1.0, 10, 10, 0)));
    r.echo = Some((stats(0, 1.0, 0, 0, 5), 100));
    assert_eq!(r.ratios().unwrap().ops_vs_echo, None, "nothing to divide by");
    assert_eq!(
        (times(None), times(Some(80.0)), times(Some(2.0)), times(Some(0.01))),
        ("-".into(), "80.0×".into(), "2.00×".into(), "0.0100×".into())
    );
    assert_eq!(
        (micros(850), micros(4_000), micros(2_500_000)),
        ("850µs".into(), "4.00ms".into(), "2.50s".into())
    );
}

#[test]
fn the_table_is_aligned_and_names_errors_and_ratios() {
    let table = report(Mode::Put, Some(stats(5_000, 5.0, 4_000, 30_000, 3))).table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("node bench put: 64 clients, 100-byte values, 5s"), "{table}");
    let head = lines.iter().position(|l| l.contains("ops/s")).unwrap();
    let rows = &lines[head..head + 4];
    let width = |l: &str| l.chars().count();
    assert!(rows.iter().all(|l| width(l) == width(rows[0])), "{table}");
    assert!(
        rows[1].starts_with("udp echo") && rows[2].starts_with("fdatasync") && rows[3].starts_with("put")
    );
    assert!(rows[3].contains("4.00ms") && rows[3].contains("30.00ms"), "{table}");
    assert!(table.contains("put: 3 errors; first: no answer"), "{table}");
    assert!(table.contains("put ÷ floor: ops/s 0.0100× echo; p50 80.0× echo, 2.00× fdatasync"), "{table}");
}

#[test]
fn the_json_has_every_figure() {
    let v = report(Mode::Get, Some(stats(5_000, 5.0, 100, 1_000, 0))).json();
    assert_eq!(v["mode"], "get");
    assert_eq!(v["result"]["ops"], 5_000);
    assert_eq!(v["result"]["errors"], 0);
    assert_eq!(v["result"]["latency_us"]["p99_9"], 400);
    assert_eq!(v["floor"]["echo"]["payload_bytes"], 100);
    assert_eq!(v["floor"]["fsync"]["dir"], "/data");
    assert_eq!(v["ratios"]["p50_vs_echo_p50"], 2.0);
    assert!(v["ratios"]["p50_vs_fsync_p50"].is_null());
    assert_eq!((v["consistency"].as_str(), v["from"].as_str()), (Some("linearizable"), Some("leader")));
    assert_eq!((v["duration_s"].as_f64(), v["total"].is_null()), (Some(5.0), true));
    let v = report(Mode::Floor, None).json();
    assert!(v["result"].is_null() && v["ratios"].is_null() && v["read_ratio"].is_null());
}

#[test]
fn the_floor_measures_echo_and_fdatasync_here() {
    let dir = tempfile::tempdir().unwrap();
    let p =
        plan(&format!("bench floor --clients 2 --total 200 --value-bytes 64 --dir {}", dir.path().display()))
            .unwrap();
    let floor = floor::measure(&p, dir.path()).unwrap();
    assert_eq!((floor.echo.hist.len(), floor.echo.errors), (200, 0));
    assert_eq!((floor.fsync.hist.len(), floor.fsync.errors), (floor::FSYNCS, 0));
    assert_eq!(floor.echo_bytes, 64);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the scratch dir is removed");
}

#[test]
fn the_loop_records_long_latencies_and_counts_every_failure() {
    let op = |_: &mut (), turn: drive::Turn| {
        if turn.ticket % 5 == 0 {
            return Err(format!("op {} failed", turn.ticket));
        }
        std::thread::sleep(Duration::from_millis(5));
        Ok(())
    };
    let out = drive::drive("test", 2, Budget::Total(10), false, |_| Ok(()), op).unwrap();
    assert_eq!((out.hist.len(), out.errors), (8, 2));
    assert!(out.first_error.as_deref().is_some_and(|e| e.ends_with(" failed")), "{out:?}");
    assert!(out.hist.min() >= 5_000 && out.hist.value_at_quantile(0.5) >= 5_000, "{out:?}");
    let out = drive::drive(
        "test",
        3,
        Budget::For(Duration::from_millis(200)),
        false,
        |_| Ok(()),
        |_, _| {
            std::thread::sleep(Duration::from_millis(10));
            Ok(())
        },
    )
    .unwrap();
    assert!(out.elapsed >= Duration::from_millis(200) && out.elapsed < Duration::from_secs(2), "{out:?}");
    assert!(out.hist.len() >= 30, "{out:?}");
    let setup = |c| if c == 1 { Err("client 1: no socket".to_string()) } else { Ok(()) };
    let err = drive::drive("test", 3, Budget::For(Duration::from_secs(60)), false, setup, |_, _| Ok(()));
    assert_eq!(err.unwrap_err(), "client 1: no socket");
}

#[test]
fn suite_takes_a_list_of_client_counts_each_at_least_one() {
    for bad in [
        "bench suite --clients 0,4",
        "bench suite --clients 4,0",
        "bench suite --clients=",
        "bench suite --clients ,",
        "bench suite --clients 1,,4",
        "bench suite --clients 1,5000",
        "bench suite --clients x",
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}");
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{bad}: {e}");
    }
    for (bad, says) in [
        ("bench suite --clients 4,1,4", "--clients lists 4 twice"),
        ("bench put --clients 1,4 --total 3", "--clients takes one count in put; lists are for suite"),
        ("bench floor --clients 1,4", "lists are for suite"),
        ("bench suite --consistency lease", "--consistency and --from are for get and mixed, not suite"),
        ("bench suite --from any", "not suite"),
        ("bench suite --read-ratio 0.5", "--read-ratio is for mixed, not suite"),
        ("bench suite --duration 0s", "--duration must be more than 0"),
    ] {
        let e = plan(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
        assert!(!e.contains('\n'), "{bad}: {e}");
    }
}

#[test]
fn suite_defaults_and_the_largest_count_for_keys() {
    let p = plan("bench suite").unwrap();
    assert_eq!((p.mode, p.counts.as_slice(), p.clients), (Mode::Suite, &[1, 64, 256][..], 256));
    assert_eq!((p.budget, p.echo_budget()), (Budget::For(SUITE_TIME), Budget::For(ECHO_TIME)));
    assert!(p.puts() && p.gets() && p.floor);
    let p = plan("bench suite --clients 11,1 --total 100 --keys 100000 --json").unwrap();
    assert_eq!((p.counts.as_slice(), p.clients, p.budget), (&[11, 1][..], 11, Budget::Total(100)));
    assert_eq!(p.longest_key(), "bench/10/99999");
    let p = plan("bench suite --clients 64 --clients 8").unwrap();
    assert_eq!(p.counts, [64, 8]);
    let p = plan("bench put --total 1").unwrap();
    assert_eq!((p.counts.as_slice(), p.clients), (&[CLIENTS][..], CLIENTS));
}

#[test]
fn suite_runs_puts_then_every_consistency_from_every_member() {
    use suite::Workload;
    let all = Workload::all();
    let names: Vec<String> = all.iter().map(|w| w.short()).collect();
    assert_eq!(
        names,
        [
            "put",
            "get lin/leader",
            "get lin/any",
            "get lease/leader",
            "get lease/any",
            "get ser/leader",
            "get ser/any"
        ]
    );
    assert!(names.iter().all(|n| n.chars().count() <= 16), "the table's workload column");
}

/// A suite at 1 and 4 clients: echo 10000 and 40000 ops/s, puts a tenth
/// of that, gets half the echo; one get with errors.
fn suite() -> suite_report::Suite {
    use suite::Workload;
    let p = plan("bench suite --clients 1,4 --total 100").unwrap();
    let mut s = suite_report::Suite::new(&p, true, Some((stats(500, 1.0, 2000, 9000, 0), "/data".into())));
    for (clients, k) in [(1, 1), (4, 4)] {
        s.echoes.push((clients, stats(10_000 * k, 1.0, 100, 900, 0)));
        for w in Workload::all() {
            let (ops, p50) = if w == Workload::Put { (1_000 * k, 1_000) } else { (5_000 * k, 200) };
            let errors = u64::from(clients == 4 && w.short() == "get ser/any");
            s.rows.push(suite_report::Row {
                clients,
                workload: w,
                stats: stats(ops, 1.0, p50, 9_000, errors),
                warmup_errors: 0,
            });
        }
    }
    s
}

#[test]
fn suite_rows_divide_by_the_echo_and_puts_of_as_many_clients() {
    let s = suite();
    let put = &s.rows[7];
    let r = s.ratios(put);
    assert_eq!((put.clients, r.ops_vs_echo, r.ops_vs_put, r.p50_vs_echo), (4, Some(0.1), None, Some(10.0)));
    let r = s.ratios(&s.rows[8]);
    assert_eq!((r.ops_vs_echo, r.ops_vs_put, r.p50_vs_echo), (Some(0.5), Some(5.0), Some(2.0)));
}

#[test]
fn the_suite_table_has_a_row_per_count_and_workload_aligned() {
    let table = suite().table();
    assert!(table.starts_with("node bench suite: clients 1, 4; 100-byte values; 100 ops a row"), "{table}");
    assert!(table.contains("lease reads: on"), "{table}");
    let head = table.lines().position(|l| l.starts_with("clients  workload")).unwrap();
    let rows: Vec<&str> = table.lines().skip(head).take_while(|l| !l.contains(": 1 errors")).collect();
    let rows: Vec<&str> = rows.into_iter().filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 1 + 2 * 8, "{table}");
    assert!(rows.iter().all(|l| l.chars().count() == rows[0].chars().count()), "{table}");
    assert!(rows[1].trim_start().starts_with("1  udp echo") && rows[2].contains(" put "), "{table}");
    let get = rows.iter().find(|l| l.trim_start().starts_with("4  get lin/leader")).unwrap();
    assert!(get.ends_with("0.50×    5.00×    2.00×"), "{get}");
    assert!(table.contains("4× get ser/any: 1 errors; first: no answer"), "{table}");
    let mut off = suite();
    off.lease = false;
    assert!(off.table().contains("lease reads: off"));
}

#[test]
fn the_suite_json_has_every_row_with_its_ratios() {
    let v = suite().json();
    assert_eq!((v["mode"].as_str(), v["lease_reads"].as_bool()), (Some("suite"), Some(true)));
    assert_eq!(v["clients"], serde_json::json!([1, 4]));
    assert_eq!((v["total"].as_u64(), v["floor"]["echo"][1]["clients"].as_u64()), (Some(100), Some(4)));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 14);
    let row = &rows[12];
    assert_eq!((row["clients"].as_u64(), row["workload"].as_str()), (Some(4), Some("get")));
    assert_eq!((row["consistency"].as_str(), row["from"].as_str()), (Some("serializable"), Some("leader")));
    assert_eq!(row["ratios"]["ops_per_sec_vs_put"], 5.0);
    assert_eq!(row["latency_us"]["p99_9"], 800);
    assert!(rows[0]["consistency"].is_null() && rows[0]["ratios"]["ops_per_sec_vs_put"].is_null());
}
