//! 2D snapshot scenarios on a live cluster: each member writes its
//! snapshots to files in its data directory, drops the WAL segments they
//! cover, streams them to a follower that needs them in chunks over UDP,
//! and restarts from its newest snapshot and the WAL after it. One run each;
//! `SEED=<n>` picks the scenario's choices (default 1).

use tests::live::run_test;

#[test]
fn live_snapshot_basic_2d() {
    run_test("snapshot_basic_2d");
}

#[test]
fn live_snapshot_install_2d() {
    run_test("snapshot_install_2d");
}

#[test]
fn live_snapshot_install_unreliable_2d() {
    run_test("snapshot_install_unreliable_2d");
}

#[test]
fn live_snapshot_install_crash_2d() {
    run_test("snapshot_install_crash_2d");
}

#[test]
fn live_snapshot_install_unreliable_crash_2d() {
    run_test("snapshot_install_unreliable_crash_2d");
}

#[test]
fn live_snapshot_all_crash_2d() {
    run_test("snapshot_all_crash_2d");
}

#[test]
fn live_snapshot_init_2d() {
    run_test("snapshot_init_2d");
}
