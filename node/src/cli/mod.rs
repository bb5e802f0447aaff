//! The `node` binary's command line (clap derive): one file per
//! subcommand. Every error is one line on stderr; bad arguments or a bad
//! cluster.toml exit with 2, other failures with 1.

mod admin;
mod backup;
mod bench;
mod health;
mod local;
mod ops;
mod run;
mod status;
mod timeline;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::addr::PeerAddr;
use crate::config::ClusterConfig;

/// A member of a Raft cluster over UDP, and its client.
#[derive(Parser, Debug)]
#[command(name = "node", version, about)]
pub struct Args {
    /// The cluster file (the same on every machine).
    #[arg(long, global = true, default_value = "cluster.toml")]
    config: PathBuf,
    /// How members and commands log (with `RUST_LOG`; `node local` sets
    /// info): text lines, or one JSON object per line (`node timeline`
    /// draws those).
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: LogFormat,
    /// How long a client command may take (e.g. 500ms, 3s).
    #[arg(long, global = true, default_value = "3s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one member: binds the addr of its id in the cluster file (or
    /// --addr, for a member joining later).
    Run {
        #[arg(long)]
        id: u64,
        /// Where to keep the write-ahead log (default: data_dir/node-ID).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A member added after the cluster started: wait outside every
        /// configuration until a leader adds it (`node add`).
        #[arg(long)]
        join: bool,
        /// Where a joining member listens (HOST:PORT): needed when its id
        /// is not in the cluster file.
        #[arg(long, requires = "join")]
        addr: Option<PeerAddr>,
    },
    /// Set KEY to VALUE (or to the bytes of --value-file).
    Put {
        key: String,
        #[arg(required_unless_present = "value_file", conflicts_with = "value_file")]
        value: Option<String>,
        /// Read the value from this file ("-" for standard input): for
        /// values too large or too binary for the command line.
        #[arg(long)]
        value_file: Option<PathBuf>,
    },
    /// Print the value of KEY (exit 1 if there is none). Reads write
    /// nothing to the log.
    Get {
        key: String,
        /// linearizable: sees every write acknowledged before it (a round
        /// of heartbeats at the leader); lease: the same without the round
        /// while the leader's lease holds, if cluster.toml's [reads] turns
        /// leases on (safe within its clock-drift bound); serializable:
        /// whatever the member that answers has applied (may be stale).
        #[arg(long, value_enum, default_value_t)]
        consistency: crate::proto::Consistency,
        /// leader: read at the leader; any: at a member picked by this
        /// client (a follower asks the leader for a read index, then
        /// answers itself).
        #[arg(long, value_enum, default_value_t)]
        from: crate::client::ReadFrom,
    },
    /// Remove KEY.
    Delete { key: String },
    /// One line per member: id, addr, role, term, commit, last and applied index.
    Status {
        /// A JSON array of objects instead.
        #[arg(long)]
        json: bool,
        /// Ask again and redraw every second, until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Whether each member can serve: a linearizable read through it
    /// within the timeout, and how long it took (exit 1 if any cannot).
    Health {
        /// A JSON array of objects instead.
        #[arg(long)]
        json: bool,
    },
    /// Start every member of the cluster file on this machine, until Ctrl-C.
    Local,
    /// The configuration as the leader sees it: one line per member (id,
    /// voter or learner, address, how far it is behind the leader).
    Members {
        /// One JSON object instead.
        #[arg(long)]
        json: bool,
    },
    /// Add member ID listening at ADDR (start it first with `node run --id
    /// ID --join --addr ADDR`): a voter at once, or a learner.
    Add {
        id: u64,
        addr: PeerAddr,
        /// Receive the log without voting; `node promote` once caught up.
        #[arg(long)]
        learner: bool,
    },
    /// Make learner ID a voter (refused while it lags the leader).
    Promote { id: u64 },
    /// Remove member ID (voter or learner) from the configuration.
    Remove { id: u64 },
    /// Hand leadership to voter ID, and wait until it leads.
    TransferLeader { id: u64 },
    /// Save a verified copy of the key-value state (with the client
    /// sessions), taken after a linearizable read, to FILE.
    Backup { file: PathBuf },
    /// Make the data directories of the cluster of --config (a new
    /// cluster_id) from a backup, for when a majority is lost for good.
    Restore { file: PathBuf },
    /// Draw members' JSON logs (`--log-format json`) as one HTML page on
    /// stdout: a lane per member, roles and terms, starts and stops,
    /// snapshots, configurations.
    Timeline {
        /// Log files, e.g. data/node-*.log (a member's id is taken from a
        /// `node-N.log` name, else from its lines).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
    },
    /// Measure the cluster (put, get, mixed) from many clients, beside this
    /// machine's floor (floor: UDP echo on loopback, write + fdatasync).
    Bench(bench::BenchArgs),
}

/// Parses the arguments, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match args.command {
        Command::Run { id, data_dir, join, addr } => run::run(&args.config, id, data_dir, join, addr),
        Command::Put { key, value, value_file } => {
            ops::put(&args.config, args.timeout, &key, value, value_file.as_deref())
        }
        Command::Get { key, consistency, from } => {
            ops::get(&args.config, args.timeout, &key, consistency, from)
        }
        Command::Delete { key } => ops::delete(&args.config, args.timeout, &key),
        Command::Status { json, watch } => status::status(&args.config, args.timeout, json, watch),
        Command::Health { json } => health::health(&args.config, args.timeout, json),
        Command::Local => local::local(&args.config, args.timeout, args.log_format),
        Command::Timeline { logs } => timeline::timeline(&logs),
        Command::Members { json } => admin::members(&args.config, args.timeout, json),
        Command::Add { id, addr, learner } => admin::add(&args.config, args.timeout, id, addr, learner),
        Command::Promote { id } => admin::promote(&args.config, args.timeout, id),
        Command::Remove { id } => admin::remove(&args.config, args.timeout, id),
        Command::TransferLeader { id } => admin::transfer_leader(&args.config, args.timeout, id),
        Command::Backup { file } => backup::backup(&args.config, args.timeout, &file),
        Command::Restore { file } => backup::restore(&args.config, &file),
        Command::Bench(bench) => bench::bench(&args.config, args.timeout, &bench),
    }
}

/// `tracing` to stderr, off unless `RUST_LOG` says otherwise (targets:
/// election, replication, wal, net, client).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.with_ansi(ansi).init(),
        LogFormat::Json => fmt.json().init(),
    }
}

/// Loads the cluster file or says why not (exit 2).
fn load(path: &Path) -> Result<ClusterConfig, ExitCode> {
    ClusterConfig::load(path).map_err(|e| fail(2, e))
}

/// One line on stderr, and the exit code.
fn fail(code: u8, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("node: {e}");
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    fn parse(words: &str) -> Result<Command, clap::Error> {
        Args::try_parse_from(std::iter::once("node").chain(words.split_whitespace())).map(|a| a.command)
    }

    #[test]
    fn add_takes_an_id_an_address_and_learner() {
        match parse("add 4 127.0.0.1:7104 --learner").unwrap() {
            Command::Add { id: 4, addr, learner: true } => assert_eq!(addr.to_string(), "127.0.0.1:7104"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("add 4 db4.internal:7104").unwrap(), Command::Add { learner: false, .. }));
        assert!(matches!(parse("add 4 [::1]:7104").unwrap(), Command::Add { .. }));
    }

    #[test]
    fn a_bad_address_or_id_is_refused_before_anything_is_sent() {
        for bad in
            ["add 4 127.0.0.1", "add 4 udp://h:1", "add 4 ::1:7104", "add 4 h:99999", "add x h:1", "add 4"]
        {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::MissingRequiredArgument
                ),
                "{bad}: {:?}",
                e.kind()
            );
        }
        let e = parse("add 4 127.0.0.1").unwrap_err().to_string();
        assert!(e.contains("no :PORT"), "{e}");
    }

    #[test]
    fn run_takes_join_and_addr_but_addr_only_with_join() {
        match parse("run --id 4 --join --addr 127.0.0.1:7104 --data-dir /d").unwrap() {
            Command::Run { id: 4, join: true, addr: Some(a), data_dir: Some(_) } => {
                assert_eq!(a.to_string(), "127.0.0.1:7104")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("run --id 4 --join").unwrap(), Command::Run { join: true, addr: None, .. }));
        assert_eq!(
            parse("run --id 4 --addr 127.0.0.1:7104").unwrap_err().kind(),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(parse("run --id 4 --join --addr nowhere").unwrap_err().kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn the_other_admin_commands_parse() {
        assert!(matches!(parse("members --json").unwrap(), Command::Members { json: true }));
        assert!(matches!(parse("promote 4").unwrap(), Command::Promote { id: 4 }));
        assert!(matches!(parse("remove 3").unwrap(), Command::Remove { id: 3 }));
        assert!(matches!(parse("transfer-leader 2").unwrap(), Command::TransferLeader { id: 2 }));
        assert!(matches!(parse("--timeout 10s transfer-leader 2").unwrap(), Command::TransferLeader { .. }));
        assert_eq!(parse("transfer-leader").unwrap_err().kind(), ErrorKind::MissingRequiredArgument);
    }
}
