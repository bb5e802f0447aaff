//! Reliability pieces: the RTO estimator, the sender's queue of
//! unacknowledged messages, and the receiver's dedup window.

pub mod dedup;
pub mod rto;
pub mod sender;
