//! The numbers, stricter than the lab's thresholds, over the
//! default seeds: rpc_bytes ≤ 110,000 bytes; count: ≤ 6.1 rpcs to elect
//! on average and ≤ 10 at most, ≤ 24 for the batch of commands, ≤ 20 in 1 s
//! idle. An election is a pre-vote round (2 requests in a 3-member
//! cluster, §9.6), the votes (2) and the first heartbeats (2); when two
//! members' timers fire together the pre-votes split and another round
//! runs (the 500 default seeds: 6.04 on average; 2,000 seeds: at most 10;
//! before PreVote at most 6).
//! (backup ≤ 1000 rpcs is not reached yet: see the `lab` report.)

use tests::runner::{run_once, seeds_from_env, DEFAULT_SEEDS};
use tests::scenarios;

fn note(run: &tests::runner::Run, key: &str) -> u64 {
    let found = run.summary.notes.iter().find(|(k, _)| *k == key);
    found.map(|&(_, v)| v).unwrap_or_else(|| panic!("{} did not note {key}", run.scenario))
}

#[test]
fn rpc_bytes_within_110k() {
    let s = scenarios::find("rpc_bytes_2b").expect("registered");
    for seed in seeds_from_env(DEFAULT_SEEDS) {
        let run = run_once(s, seed, false);
        assert!(run.result.is_ok(), "seed {seed}: {:?}", run.result);
        assert!(run.summary.bytes <= 110_000, "seed {seed}: {} bytes", run.summary.bytes);
    }
}

#[test]
fn count_within_targets() {
    let s = scenarios::find("count_2b").expect("registered");
    let (mut to_elect, mut runs) = (0, 0);
    for seed in seeds_from_env(DEFAULT_SEEDS) {
        let run = run_once(s, seed, false);
        assert!(run.result.is_ok(), "seed {seed}: {:?}", run.result);
        to_elect += note(&run, "rpcs to elect");
        runs += 1;
        assert!(note(&run, "rpcs to elect") <= 10, "seed {seed}: {:?}", run.summary.notes);
        assert!(note(&run, "rpcs for 10 commands") <= 24, "seed {seed}: {:?}", run.summary.notes);
        assert!(note(&run, "rpcs in 1 s idle") <= 20, "seed {seed}: {:?}", run.summary.notes);
    }
    let bound = runs * 61 / 10;
    assert!(to_elect <= bound, "{to_elect} rpcs to elect over {runs} runs: more than 6.1 on average");
}
