//! Every scenario of docs/scenarios.md, written once against the harness API,
//! and the registry the tests and the `lab` report run them from.

mod agreement_2b;
mod backup_2b;
mod churn_2c;
mod election_2a;
mod figure8_2c;
mod one_way_x;
mod persistence_2c;
pub mod snapshot_2d;

use crate::harness::{TestResult, Tester};

/// The lab part a scenario belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    A,
    B,
    C,
    /// Log compaction: members snapshot every
    /// [`snapshot_2d::SNAPSHOT_INTERVAL`] applied entries.
    D,
    /// Beyond the lab, on the simulator only.
    X,
}

/// A scenario and how to run it.
pub struct Scenario {
    /// The test function's name, as in docs/scenarios.md.
    pub name: &'static str,
    pub part: Part,
    pub servers: usize,
    /// The hand-out's result line for the 2B rows:
    /// `seconds servers rpcs bytes commands`.
    pub reference: Option<&'static str>,
    /// Also run on the unreliable network profile. Off for scenarios with
    /// exact rpc or byte thresholds, for those that expect no term change
    /// or call `one()` without retry (a lost heartbeat run can strand an
    /// entry of an older term there), for many_elections (four connected
    /// of seven must all vote alike: with 10% loss, 10 rounds without a
    /// leader happen about once in 200 seeds), and for those that choose
    /// their network themselves.
    pub unreliable_too: bool,
    pub run: fn(&mut Tester) -> TestResult<()>,
}

const fn s(
    name: &'static str,
    part: Part,
    servers: usize,
    reference: Option<&'static str>,
    unreliable_too: bool,
    run: fn(&mut Tester) -> TestResult<()>,
) -> Scenario {
    Scenario { name, part, servers, reference, unreliable_too, run }
}

static ALL: [Scenario; 31] = [
    s("initial_election_2a", Part::A, 3, None, false, election_2a::initial_election),
    s("re_election_2a", Part::A, 3, None, true, election_2a::re_election),
    s("many_elections_2a", Part::A, 7, None, false, election_2a::many_elections),
    s("basic_agree_2b", Part::B, 3, Some("0.9 3 16 4572 3"), false, agreement_2b::basic_agree),
    s("rpc_bytes_2b", Part::B, 3, Some("1.7 3 48 114536 11"), false, agreement_2b::rpc_bytes),
    s("fail_agree_2b", Part::B, 3, Some("3.6 3 78 22131 7"), false, agreement_2b::fail_agree),
    s("fail_no_agree_2b", Part::B, 5, Some("3.8 5 172 40935 3"), false, agreement_2b::fail_no_agree),
    s("concurrent_starts_2b", Part::B, 3, Some("1.1 3 24 7379 6"), false, backup_2b::concurrent_starts),
    s("rejoin_2b", Part::B, 3, Some("5.1 3 152 37021 4"), true, agreement_2b::rejoin),
    s("backup_2b", Part::B, 5, Some("17.2 5 2080 1587388 102"), true, backup_2b::backup),
    s("count_2b", Part::B, 3, Some("2.2 3 60 20119 12"), false, backup_2b::count),
    s("follower_failure_2b", Part::B, 3, None, false, agreement_2b::follower_failure),
    s("leader_failure_2b", Part::B, 3, None, false, agreement_2b::leader_failure),
    s("persist1_2c", Part::C, 3, None, false, persistence_2c::persist1),
    s("persist2_2c", Part::C, 5, None, false, persistence_2c::persist2),
    s("persist3_2c", Part::C, 3, None, false, persistence_2c::persist3),
    s("figure8_2c", Part::C, 5, None, true, figure8_2c::figure8),
    s("unreliable_agree_2c", Part::C, 5, None, false, persistence_2c::unreliable_agree),
    s("figure8_unreliable_2c", Part::C, 5, None, false, figure8_2c::figure8_unreliable),
    s("reliable_churn_2c", Part::C, 5, None, false, churn_2c::reliable_churn),
    s("unreliable_churn_2c", Part::C, 5, None, false, churn_2c::unreliable_churn),
    s("snapshot_basic_2d", Part::D, 3, None, false, snapshot_2d::snapshot_basic),
    s("snapshot_install_2d", Part::D, 3, None, false, snapshot_2d::snapshot_install),
    s("snapshot_install_unreliable_2d", Part::D, 3, None, false, snapshot_2d::snapshot_install_unreliable),
    s("snapshot_install_crash_2d", Part::D, 3, None, false, snapshot_2d::snapshot_install_crash),
    s(
        "snapshot_install_unreliable_crash_2d",
        Part::D,
        3,
        None,
        false,
        snapshot_2d::snapshot_install_unreliable_crash,
    ),
    s("snapshot_all_crash_2d", Part::D, 3, None, false, snapshot_2d::snapshot_all_crash),
    s("snapshot_init_2d", Part::D, 3, None, false, snapshot_2d::snapshot_init),
    s("one_way_follower_x", Part::X, 3, None, false, one_way_x::one_way_follower),
    s("one_way_leader_x", Part::X, 5, None, false, one_way_x::one_way_leader),
    s("one_way_lossy_x", Part::X, 3, None, false, one_way_x::one_way_lossy),
];

/// All scenarios, in lab order.
pub fn all() -> &'static [Scenario] {
    &ALL
}

pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}
