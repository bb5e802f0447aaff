//! 2A scenarios on a live cluster: real `node` servers over UDP on
//! loopback, WALs in temporary directories, real time. One run each on the
//! reliable network; `SEED=<n>` picks the scenario's choices (default 1).

use tests::live::run_test;

#[test]
fn live_initial_election_2a() {
    run_test("initial_election_2a");
}

#[test]
fn live_re_election_2a() {
    run_test("re_election_2a");
}

#[test]
fn live_many_elections_2a() {
    run_test("many_elections_2a");
}
