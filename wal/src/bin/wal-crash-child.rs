//! Test helper for the `kill -9` test: appends entries to the log in DIR
//! in small synced batches and prints `synced INDEX` after each sync
//! returned, until killed or COUNT entries are written. Entry `i` has term
//! `i / 100 + 1` and data `i` repeated (see `expected_data`).

use std::io::Write;
use std::process::ExitCode;

use wal::{Entry, Wal, WalOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(count)) = (args.get(1), args.get(2).and_then(|c| c.parse::<u64>().ok())) else {
        eprintln!("usage: wal-crash-child DIR COUNT");
        return ExitCode::FAILURE;
    };
    match run(dir, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wal-crash-child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str, count: u64) -> Result<(), Box<dyn std::error::Error>> {
    let options = WalOptions { segment_size: 64 << 10, create_dir: true, ..WalOptions::default() };
    let (mut wal, recovered) = Wal::open(dir, options)?;
    let mut next = recovered.entries.last().map_or(1, |e| e.index + 1);
    let mut out = std::io::stdout().lock();
    while next <= count {
        let batch: Vec<Entry> = (next..next + 1 + next % 7)
            .map(|index| Entry { index, term: index / 100 + 1, tag: 0, data: expected_data(index) })
            .collect();
        wal.append(&batch)?;
        wal.sync()?;
        next += batch.len() as u64;
        writeln!(out, "synced {}", next - 1)?;
        out.flush()?;
    }
    Ok(())
}

/// The data of entry `index`: its index as text, repeated to a length that
/// varies with the index.
fn expected_data(index: u64) -> wal::Bytes {
    index.to_string().repeat(1 + (index % 50) as usize).into_bytes().into()
}
