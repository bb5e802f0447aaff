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
