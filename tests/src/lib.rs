//! The tester: the lab's Raft scenarios (lab-tests.md) over a harness with
//! interchangeable back ends.
//!
//! - [`harness`]: the cluster API ([`harness::Backend`]), the apply-order
//!   checker, and the [`harness::Tester`] with the lab's helpers
//!   (`check_one_leader`, `one`, `wait`, …).
//! - [`sim`]: a deterministic simulator back end: virtual time, a faulty
//!   network, crash/restart with in-memory disks, safety invariants checked
//!   after every event; a seed replays a run exactly.
//! - [`scenarios`]: every scenario, written once against the harness.
//! - [`runner`]: runs a scenario over seeds, for the `#[test]`s and the
//!   `lab` report binary.
//!
//! Not here: the back end over real nodes and UDP (a later part).
//!
//! ```
//! use tests::runner::run_once;
//!
//! let scenario = tests::scenarios::find("basic_agree_2b").unwrap();
//! let run = run_once(scenario, 7, false);
//! assert!(run.result.is_ok());
//! assert_eq!(run.summary.commands, 3);
//! ```

pub mod harness;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod sim;
