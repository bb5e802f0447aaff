//! 2B scenarios on a live cluster: real `node` servers over UDP on
//! loopback, WALs in temporary directories, real time. One run each on the
//! reliable network; `SEED=<n>` picks the scenario's choices (default 1).

use tests::live::run_test;

#[test]
fn live_basic_agree_2b() {
    run_test("basic_agree_2b");
}

#[test]
fn live_rpc_bytes_2b() {
    run_test("rpc_bytes_2b");
}

#[test]
fn live_fail_agree_2b() {
    run_test("fail_agree_2b");
}

#[test]
fn live_fail_no_agree_2b() {
    run_test("fail_no_agree_2b");
}

#[test]
fn live_concurrent_starts_2b() {
    run_test("concurrent_starts_2b");
}

#[test]
fn live_rejoin_2b() {
    run_test("rejoin_2b");
}

#[test]
fn live_backup_2b() {
    run_test("backup_2b");
}

#[test]
fn live_count_2b() {
    run_test("count_2b");
}

#[test]
fn live_follower_failure_2b() {
    run_test("follower_failure_2b");
}

#[test]
fn live_leader_failure_2b() {
    run_test("leader_failure_2b");
}
