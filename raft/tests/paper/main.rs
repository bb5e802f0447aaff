//! Tests named by the section of the Raft paper they check, in the manner
//! of etcd's `raft_paper_test.go`, driven through the public API only.

mod net;

mod backoff;
mod bad_input;
mod compaction_7;
mod election_5_2;
mod flow_control;
mod hostile;
mod lease;
mod membership_4;
mod mutants_budget;
mod mutants_config;
mod mutants_election;
mod mutants_flow;
mod mutants_log;
mod mutants_ready;
mod mutants_validate;
mod planted;
mod prevote_9_6;
mod random_messages;
mod replication_5_3;
mod safety_5_4;
mod transfer_3_10;
