//! The WAL on a thread of its own, so the event loop never waits for the
//! disk: it hands each turn's writes over and goes on receiving, sending
//! and applying while they are written and synced.
//!
//! The thread takes every job waiting, does them in order, then syncs once
//! for all of them (group commit: the writes queued while a sync runs share
//! the next one) and reports the last write it covered with
//! [`Command::Synced`]. Compactions are jobs too, so they run in order with
//! the writes (an installed snapshot's log drop is durable before the
//! segments it covers go). Any error is reported once and ends the thread:
//! the loop stops the member (a failed fsync is never retried).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use smol::channel::Sender;

use super::Command;
use crate::member::WriteId;
use crate::metrics::Metrics;
use crate::storage::{Storage, StorageError};

/// One thing for the WAL thread to do.
enum Job {
    Write(Box<raft::Ready>, WriteId),
    /// A snapshot through this index is durable: drop the segments it covers.
    Compact(u64),
}

/// The loop's handle on the WAL thread.
pub(super) struct WalWriter {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    dir: PathBuf,
    identity: wal::Identity,
}

impl WalWriter {
    /// Moves `storage` to a new thread that reports on `report`.
    pub(super) fn spawn(
        storage: Storage,
        report: Sender<Command>,
        metrics: Metrics,
    ) -> std::io::Result<WalWriter> {
        let (dir, identity) = (storage.dir().to_path_buf(), storage.identity());
        let (jobs, inbox) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || run(storage, &inbox, &report, &metrics))?;
        Ok(WalWriter { jobs: Some(jobs), thread: Some(thread), dir, identity })
    }

    /// Queues a turn's writes; [`Command::Synced`] says when they are
    /// durable.
    pub(super) fn write(&self, writes: raft::Ready, id: WriteId) {
        self.send(Job::Write(Box::new(writes), id));
    }

    /// Queues the compaction behind a durable snapshot through `index`.
    pub(super) fn compact(&self, index: u64) {
        self.send(Job::Compact(index));
    }

    fn send(&self, job: Job) {
        // The thread is gone only after it reported an error, which stops
        // the loop: nothing more needs writing.
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    /// The log directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whose log this is.
    pub(super) fn identity(&self) -> wal::Identity {
        self.identity
    }
}

impl Drop for WalWriter {
    /// Lets the thread finish what was queued, and waits for it.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut storage: Storage, inbox: &mpsc::Receiver<Job>, report: &Sender<Command>, metrics: &Metrics) {
    while let Ok(first) = inbox.recv() {
        let jobs = std::iter::once(first).chain(inbox.try_iter());
        let outcome = do_jobs(&mut storage, jobs, metrics);
        let failed = outcome.is_err();
        if let Ok(None) = outcome {
            continue;
        }
        if report.send_blocking(Command::Synced(outcome)).is_err() || failed {
            return;
        }
    }
}

/// Does `jobs` in order and syncs once; the last write covered, if any.
fn do_jobs(
    storage: &mut Storage,
    jobs: impl Iterator<Item = Job>,
    metrics: &Metrics,
) -> Result<Option<WriteId>, StorageError> {
    let (mut last, mut bytes) = (None, 0);
    for job in jobs {
        match job {
            Job::Write(writes, id) => {
                storage.write(&writes)?;
                bytes += writes.entries.iter().map(|e| e.data.len() as u64).sum::<u64>();
                last = Some(id);
            }
            Job::Compact(index) => {
                let removed = storage.compact(index)?;
                tracing::debug!(target: "wal", index, removed, "log compacted behind a snapshot");
            }
        }
    }
    if last.is_some() {
        let started = Instant::now();
        storage.sync()?;
        metrics.wal_synced(started.elapsed().as_secs_f64(), bytes);
    }
    Ok(last)
}
