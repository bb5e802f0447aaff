//! `node`: see `node --help` and the crate docs.

fn main() -> std::process::ExitCode {
    node::cli::main()
}
