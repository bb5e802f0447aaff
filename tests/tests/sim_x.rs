//! Scenarios beyond the lab, on the simulator: one-way partitions.
//! `SEEDS=<n>` for a soak, `SEED=<n>` to replay one seed.

use tests::runner::run_test;

#[test]
fn one_way_follower_x() {
    run_test("one_way_follower_x");
}

#[test]
fn one_way_leader_x() {
    run_test("one_way_leader_x");
}

#[test]
fn one_way_lossy_x() {
    run_test("one_way_lossy_x");
}
