//! `wal-dump DIR`: prints a log directory's segments (with the cluster and
//! member each belongs to) and records, its snapshot files (and whether
//! each verifies), and what recovery would do, without changing anything
//! (no lock taken).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use wal::snapshot::{self, Inspected};
use wal::{inspect, Identity, RecordRef, SegmentEnd, Wal};

/// `println!` that ignores a closed stdout (`wal-dump DIR | head`) instead
/// of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Print the segments, records and snapshot files of a write-ahead log directory.
#[derive(Parser)]
struct Args {
    /// The log directory.
    dir: PathBuf,
    /// Print only segment summaries, not each record.
    #[arg(long)]
    summary: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wal-dump: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), wal::Error> {
    // Segments are listed even when recovery would fail (that is when a
    // dump is most useful), so check the directory first.
    match std::fs::metadata(&args.dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(wal::Error::NotADir(args.dir.clone())),
        Err(_) => return Err(wal::Error::MissingDir(args.dir.clone())),
    }
    for path in inspect::segments(&args.dir)? {
        dump_segment(&path, args.summary)?;
    }
    dump_snapshots(&args.dir)?;
    let recovered = Wal::recover_read_only(&args.dir)?;
    let r = &recovered.report;
    match recovered.identity {
        Some(id) => out!("identity: {id}"),
        None if r.segments_read == 0 => {
            out!("identity: none yet (no segment; open records the one it is given)")
        }
        None => out!("identity: none recorded (format version 1; open adopts the one it is given)"),
    }
    out!(
        "recovery: {} segments, {} records, {} bytes; {} entries ({}..={}), hard state term {} vote {:?}",
        r.segments_read,
        r.records_read,
        r.bytes_read,
        recovered.entries.len(),
        recovered.entries.first().map_or(0, |e| e.index),
        recovered.entries.last().map_or(0, |e| e.index),
        recovered.hard_state.current_term,
        recovered.hard_state.voted_for,
    );
    match &r.torn_tail {
        Some(t) => out!(
            "recovery: would cut a torn tail of {} bytes at {} offset {} ({}); would remove {} empty segments",
            t.bytes_cut,
            t.path.display(),
            t.offset,
            t.reason,
            r.segments_discarded.len()
        ),
        None => out!("recovery: the log ends cleanly"),
    }
    Ok(())
}

fn dump_segment(path: &std::path::Path, summary: bool) -> Result<(), wal::Error> {
    let mut records = 0u64;
    let (header, file_len, end) = inspect::walk_segment(path, &mut |offset, len, rec| {
        records += 1;
        if !summary {
            out!("  @{offset:<10} {len:>8} B  {}", describe(&rec));
        }
    })?;
    let end = match end {
        SegmentEnd::Clean { end } => format!("records end at {end}"),
        SegmentEnd::Stopped { offset, reason } => format!("bad frame at {offset}: {reason}"),
    };
    out!(
        "segment {} seq {} first_index {} size {} ({} bytes on disk), {}: {records} records, {end}",
        path.display(),
        header.sequence,
        header.first_index,
        header.segment_size,
        file_len,
        describe_identity(header.identity),
    );
    Ok(())
}

/// One line per snapshot file and per temporary. A file that cannot be
/// read is reported and the dump goes on.
fn dump_snapshots(dir: &Path) -> Result<(), wal::Error> {
    for path in snapshot::list(dir)? {
        match snapshot::inspect(&path) {
            Ok(found) => out!("{}", describe_snapshot(&path, &found)),
            Err(e) => out!("snapshot {}: unreadable: {e}", path.display()),
        }
    }
    for path in snapshot::list_temporaries(dir)? {
        let len = std::fs::metadata(&path)
            .map_or_else(|e| format!("unreadable: {e}"), |m| format!("{} bytes", m.len()));
        out!(
            "snapshot temporary {}: {len}, unfinished (never read; remove_older removes it)",
            path.display()
        );
    }
    Ok(())
}

fn describe_snapshot(path: &Path, found: &Inspected) -> String {
    let verdict = match &found.refused {
        None => "verifies".to_string(),
        Some(reason) => format!("REFUSED: {reason}"),
    };
    match found.header {
        Some(h) => format!(
            "snapshot {}: index {} term {}, {}, {} data bytes, crc32c {:#010x}: {verdict}",
            path.display(),
            h.meta.index,
            h.meta.term,
            h.identity,
            h.len,
            h.crc32c
        ),
        None => format!("snapshot {}: {verdict}", path.display()),
    }
}

fn describe_identity(identity: Option<Identity>) -> String {
    identity.map_or_else(|| "no identity (format version 1)".to_string(), |id| id.to_string())
}

fn describe(rec: &RecordRef<'_>) -> String {
    match rec {
        RecordRef::Entry { index, term, tag, data } => {
            let kind = if *tag == 0 { String::new() } else { format!(" tag {tag}") };
            format!("entry index {index} term {term}{kind} data {} B", data.len())
        }
        RecordRef::HardState(hs) => format!("hard state term {} vote {:?}", hs.current_term, hs.voted_for),
        RecordRef::Truncate { from_index } => format!("truncate from {from_index}"),
    }
}
