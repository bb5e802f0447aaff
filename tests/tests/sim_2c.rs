//! 2C scenarios on the simulator; `SEEDS=<n>` for a soak, `SEED=<n>` to
//! replay one seed.

use tests::runner::run_test;

#[test]
fn persist1_2c() {
    run_test("persist1_2c");
}

#[test]
fn persist2_2c() {
    run_test("persist2_2c");
}

#[test]
fn persist3_2c() {
    run_test("persist3_2c");
}

#[test]
fn figure8_2c() {
    run_test("figure8_2c");
}

#[test]
fn unreliable_agree_2c() {
    run_test("unreliable_agree_2c");
}

#[test]
fn figure8_unreliable_2c() {
    run_test("figure8_unreliable_2c");
}

#[test]
fn reliable_churn_2c() {
    run_test("reliable_churn_2c");
}

#[test]
fn unreliable_churn_2c() {
    run_test("unreliable_churn_2c");
}
