//! Client requests proposed by this leader and waiting for their entry to
//! be applied: the reply goes out only after the apply, so nothing is
//! acknowledged before it is committed.

use std::collections::BTreeMap;

use crate::proto::Reply;

/// Who asked for the entry at an index, in which term it was placed.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    client: u64,
    seq: u64,
    term: u64,
}

/// Requests by log index.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    by_index: BTreeMap<u64, Waiting>,
}

impl Requests {
    pub(crate) fn insert(&mut self, index: u64, term: u64, client: u64, seq: u64) {
        self.by_index.insert(index, Waiting { client, seq, term });
    }

    /// The entry at `index` of `term` was applied: who to answer, if it is
    /// the entry that was proposed there (a new leader may have replaced it;
    /// that client will retry).
    pub(crate) fn applied(&mut self, index: u64, term: u64) -> Option<(u64, u64)> {
        let w = self.by_index.remove(&index)?;
        (w.term == term).then_some((w.client, w.seq))
    }

    /// A snapshot through `index` replaced the log: the entries up to it
    /// will not be applied here, so their clients should ask again.
    pub(crate) fn forget_through(&mut self, index: u64, redirect: &Reply) -> Vec<(u64, u64, Reply)> {
        let later = self.by_index.split_off(&(index + 1));
        let through = std::mem::replace(&mut self.by_index, later);
        through.into_values().map(|w| (w.client, w.seq, redirect.clone())).collect()
    }

    /// Leadership or term changed: clients waiting on entries of other
    /// terms than `keep_term` (all, when we no longer lead) should ask
    /// elsewhere. Returns (client, seq, reply) for each.
    pub(crate) fn abandon(&mut self, redirect: &Reply, keep_term: Option<u64>) -> Vec<(u64, u64, Reply)> {
        let all = std::mem::take(&mut self.by_index);
        let (keep, drop): (BTreeMap<_, _>, BTreeMap<_, _>) =
            all.into_iter().partition(|(_, w)| Some(w.term) == keep_term);
        self.by_index = keep;
        drop.into_values().map(|w| (w.client, w.seq, redirect.clone())).collect()
    }
}
