//! The closed loop every measurement uses: `clients` threads, each with
//! its own state (a client, a socket, a file) and one operation in
//! flight, until a number of operations or a time is spent. Latencies of
//! the operations that succeeded go into one histogram per thread (µs),
//! merged at the end; failures are counted, and the first one's message
//! kept, so none goes unreported.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// When a measurement stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Budget {
    /// After this many operations over all threads.
    Total(u64),
    /// Once this long has passed (operations in flight then still finish).
    For(Duration),
}

/// One operation's place: its count in its thread, and its number over
/// all threads (unique, from 0).
#[derive(Debug, Clone, Copy)]
pub(super) struct Turn {
    pub i: u64,
    pub ticket: u64,
}

/// What a measurement found.
#[derive(Debug)]
pub(super) struct Outcome {
    /// Latencies of the successful operations, in µs.
    pub hist: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the start (all threads ready) to the last operation's end.
    pub elapsed: Duration,
}

/// What the threads share: tickets, counts for the progress bar, and a
/// stop flag for when one thread could not even start.
struct Shared {
    total: Option<u64>,
    tickets: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    /// The next operation's ticket, or `None` once the budget is spent.
    fn claim(&self, deadline: Option<Instant>) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        self.total.is_none_or(|total| ticket < total).then_some(ticket)
    }
}

/// One thread's results.
struct Tally {
    hist: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
    finished: Instant,
}

/// Runs `op` in a closed loop on `clients` threads, each with the state
/// `setup` made for it (not timed: a warm-up belongs there), under
/// `budget`; a progress bar labelled `label` on stderr if `show`. A
/// failed setup stops everything and is the error.
pub(super) fn drive<S>(
    label: &str,
    clients: u64,
    budget: Budget,
    show: bool,
    setup: impl Fn(u64) -> Result<S, String> + Sync,
    op: impl Fn(&mut S, Turn) -> Result<(), String> + Sync,
) -> Result<Outcome, String> {
    let hists = (0..clients).map(|_| histogram()).collect::<Result<Vec<_>, _>>()?;
    let total = match budget {
        Budget::Total(n) => Some(n),
        Budget::For(_) => None,
    };
    let zero = || AtomicU64::new(0);
    let shared =
        Shared { total, tickets: zero(), done: zero(), errors: zero(), stop: AtomicBool::new(false) };
    let barrier = Barrier::new(hists.len() + 1);
    let (shared, barrier, setup, op) = (&shared, &barrier, &setup, &op);
    let bar = progress(label, budget, show);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..clients)
            .zip(hists)
            .map(|(c, hist)| s.spawn(move || worker(c, hist, budget, shared, barrier, setup, op)))
            .collect();
        barrier.wait();
        let start = Instant::now();
        while !threads.iter().all(|t| t.is_finished()) {
            show_progress(&bar, budget, shared, start);
            std::thread::sleep(Duration::from_millis(50));
        }
        bar.finish_and_clear();
        let tallies =
            threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("a thread panicked".into())));
        merge(tallies.collect::<Result<Vec<_>, _>>()?, start)
    })
}

/// One thread: set up, wait for the others, then operate until the budget
/// is spent.
fn worker<S>(
    client: u64,
    hist: Histogram<u64>,
    budget: Budget,
    shared: &Shared,
    barrier: &Barrier,
    setup: &impl Fn(u64) -> Result<S, String>,
    op: &impl Fn(&mut S, Turn) -> Result<(), String>,
) -> Result<Tally, String> {
    let state = setup(client);
    if state.is_err() {
        shared.stop.store(true, Ordering::Relaxed);
    }
    barrier.wait();
    let mut state = state?;
    let deadline = match budget {
        Budget::For(d) => Some(Instant::now() + d),
        Budget::Total(_) => None,
    };
    let mut tally = Tally { hist, errors: 0, first_error: None, finished: Instant::now() };
    let mut i = 0;
    while let Some(ticket) = shared.claim(deadline) {
        let began = Instant::now();
        match op(&mut state, Turn { i, ticket }) {
            Ok(()) => tally.hist.saturating_record(began.elapsed().as_micros() as u64),
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    tally.finished = Instant::now();
    Ok(tally)
}

/// Latencies from 1 µs to an hour (a longer one counts as an hour), to 3
/// significant digits. Fixed bounds: `saturating_record` never grows a
/// histogram, it clamps to its bounds.
fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| format!("cannot make a histogram: {e}"))
}

/// All threads' histograms and counts in one.
fn merge(tallies: Vec<Tally>, start: Instant) -> Result<Outcome, String> {
    let mut hist = histogram()?;
    let (mut errors, mut first_error, mut end) = (0, None, start);
    for t in tallies {
        hist.add(&t.hist).map_err(|e| format!("cannot merge histograms: {e}"))?;
        errors += t.errors;
        first_error = first_error.or(t.first_error);
        end = end.max(t.finished);
    }
    Ok(Outcome { hist, errors, first_error, elapsed: end - start })
}

/// A bar on stderr (hidden unless `show`): operations out of --total, or
/// time out of --duration.
fn progress(label: &str, budget: Budget, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let len = match budget {
        Budget::Total(n) => n,
        Budget::For(d) => d.as_millis() as u64,
    };
    let style = ProgressStyle::with_template("{prefix:>10} [{bar:40}] {elapsed} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        .with_style(style.progress_chars("=> "))
        .with_prefix(label.to_string())
}

fn show_progress(bar: &ProgressBar, budget: Budget, shared: &Shared, start: Instant) {
    let done = shared.done.load(Ordering::Relaxed);
    bar.set_position(match budget {
        Budget::Total(_) => done,
        Budget::For(_) => start.elapsed().as_millis() as u64,
    });
    bar.set_message(format!("{done} ops, {} errors", shared.errors.load(Ordering::Relaxed)));
}
