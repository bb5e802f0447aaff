//! 2D scenarios on the simulator; `SEEDS=<n>` for a soak, `SEED=<n>` to
//! replay one seed.

use tests::runner::run_test;

#[test]
fn snapshot_basic_2d() {
    run_test("snapshot_basic_2d");
}

#[test]
fn snapshot_install_2d() {
    run_test("snapshot_install_2d");
}

#[test]
fn snapshot_install_unreliable_2d() {
    run_test("snapshot_install_unreliable_2d");
}

#[test]
fn snapshot_install_crash_2d() {
    run_test("snapshot_install_crash_2d");
}

#[test]
fn snapshot_install_unreliable_crash_2d() {
    run_test("snapshot_install_unreliable_crash_2d");
}

#[test]
fn snapshot_all_crash_2d() {
    run_test("snapshot_all_crash_2d");
}

#[test]
fn snapshot_init_2d() {
    run_test("snapshot_init_2d");
}
