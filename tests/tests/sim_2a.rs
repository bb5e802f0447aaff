//! 2A scenarios on the simulator; `SEEDS=<n>` for a soak, `SEED=<n>` to
//! replay one seed.

use tests::runner::run_test;

#[test]
fn initial_election_2a() {
    run_test("initial_election_2a");
}

#[test]
fn re_election_2a() {
    run_test("re_election_2a");
}

#[test]
fn many_elections_2a() {
    run_test("many_elections_2a");
}
