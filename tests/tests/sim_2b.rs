//! 2B scenarios on the simulator; `SEEDS=<n>` for a soak, `SEED=<n>` to
//! replay one seed.

use tests::runner::run_test;

#[test]
fn basic_agree_2b() {
    run_test("basic_agree_2b");
}

#[test]
fn rpc_bytes_2b() {
    run_test("rpc_bytes_2b");
}

#[test]
fn fail_agree_2b() {
    run_test("fail_agree_2b");
}

#[test]
fn fail_no_agree_2b() {
    run_test("fail_no_agree_2b");
}

#[test]
fn concurrent_starts_2b() {
    run_test("concurrent_starts_2b");
}

#[test]
fn rejoin_2b() {
    run_test("rejoin_2b");
}

#[test]
fn backup_2b() {
    run_test("backup_2b");
}

#[test]
fn count_2b() {
    run_test("count_2b");
}

#[test]
fn follower_failure_2b() {
    run_test("follower_failure_2b");
}

#[test]
fn leader_failure_2b() {
    run_test("leader_failure_2b");
}
