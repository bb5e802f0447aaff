//! The scenario harness: the [`Backend`] trait (the cluster API), the
//! [`ApplyChecker`], and the [`Tester`] with the lab's helpers.

mod apply;
mod backend;
mod checks;
mod error;
mod machine;
mod ops;
mod tester;

pub use apply::{show, ApplyChecker};
pub use backend::Backend;
pub use checks::ELECTION_TIMEOUT;
pub use error::{Failure, TestResult};
pub use machine::{LabMachine, Report};
pub use ops::{Activity, OneOp};
pub use tester::{cmd, Summary, Tester};
