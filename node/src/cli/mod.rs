//! The `node` binary's command line (clap derive): one file per
//! subcommand. Every error is one line on stderr; bad arguments or a bad
//! cluster.toml exit with 2, other failures with 1.

mod local;
mod ops;
mod run;
mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::ClusterConfig;

/// A member of a Raft cluster over UDP, and its client.
#[derive(Parser, Debug)]
#[command(name = "node", version, about)]
pub struct Args {
    /// The cluster file (the same on every machine).
    #[arg(long, global = true, default_value = "cluster.toml")]
    config: PathBuf,
    /// How long a client command may take (e.g. 500ms, 3s).
    #[arg(long, global = true, default_value = "3s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one member: binds the addr of its id in the cluster file.
    Run {
        #[arg(long)]
        id: u64,
        /// Where to keep the write-ahead log (default: data_dir/node-ID).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
    /// Print the value of KEY (exit 1 if there is none).
    Get { key: String },
    /// Remove KEY.
    Delete { key: String },
    /// One line per member: id, addr, role, term, commit, last and applied index.
    Status {
        /// A JSON array of objects instead.
        #[arg(long)]
        json: bool,
    },
    /// Start every member of the cluster file on this machine, until Ctrl-C.
    Local,
}

/// Parses the arguments, runs the command, returns the exit code.
pub fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    match args.command {
        Command::Run { id, data_dir } => run::run(&args.config, id, data_dir),
        Command::Put { key, value, value_file } => {
            ops::put(&args.config, args.timeout, &key, value, value_file.as_deref())
        }
        Command::Get { key } => ops::get(&args.config, args.timeout, &key),
        Command::Delete { key } => ops::delete(&args.config, args.timeout, &key),
        Command::Status { json } => status::status(&args.config, args.timeout, json),
        Command::Local => local::local(&args.config, args.timeout),
    }
}

/// `tracing` to stderr, off unless `RUST_LOG` says otherwise (targets:
/// election, replication, wal, net, client).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
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
