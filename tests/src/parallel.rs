//! Runs many independent tasks on a few threads with a progress bar on
//! stderr: the `lab` and `chaos` binaries' loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `run` on every task on `jobs` threads; results in completion order.
/// `failure` names a failed result for the progress bar's message.
pub fn run_all<T: Sync, R: Send>(
    tasks: &[T],
    jobs: usize,
    run: impl Fn(&T) -> R + Sync,
    failure: impl Fn(&T, &R) -> Option<String> + Sync,
) -> Vec<R> {
    let bar = ProgressBar::new(tasks.len() as u64);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {elapsed}  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(tasks.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while let Some(task) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = run(task);
                    if let Some(what) = failure(task, &result) {
                        bar.set_message(format!("FAIL {what}"));
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner()).push(result);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}
