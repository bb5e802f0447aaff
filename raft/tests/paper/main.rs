//! Tests named by the section of the Raft paper they check, in the manner
//! of etcd's `raft_paper_test.go`, driven through the public API only.

mod net;

mod backoff;
mod bad_input;
mod budget;
mod compaction_7;
mod config;
mod election_5_2;
mod flow_control;
mod hostile;
mod leader_write_10_2_1;
mod lease;
mod log;
mod membership_4;
mod planted;
mod prevote_9_6;
mod random_messages;
mod read_index_6_4;
mod ready;
mod replication_5_3;
mod safety_5_4;
mod scripts;
mod transfer_3_10;
