//! 2C persistence scenarios on a live cluster: crash = `Server::stop`
//! keeping the WAL directory, restart = `Server::start` on it, so what
//! survives is what the real WAL recovered. One run each on the reliable
//! network; `SEED=<n>` picks the scenario's choices (default 1). The
//! figure-8 and churn scenarios stay on the simulator.

use tests::live::run_test;

#[test]
fn live_persist1_2c() {
    run_test("persist1_2c");
}

#[test]
fn live_persist2_2c() {
    run_test("persist2_2c");
}

#[test]
fn live_persist3_2c() {
    run_test("persist3_2c");
}
