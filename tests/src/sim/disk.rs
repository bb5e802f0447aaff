//! A simulated disk per server. Writes land in a volatile buffer; a sync
//! takes time (drawn from the disk's [`DiskProfile`]) and only a completed
//! sync makes them durable. A crash loses everything written since the
//! last completed sync, or, in the torn profile, keeps a random prefix of
//! it (a write-ahead log that cuts a torn tail recovers exactly such a
//! prefix). A restart gets what is durable, nothing else. Snapshot files
//! sit beside the log ([`super::snapshots`]); an installed snapshot drops
//! log entries as the node's WAL does (in the same sync as the entries
//! after it), and a snapshot of our own drops the prefix it covers.

use raft::{Entry, HardState, Persisted, Ready, SnapshotInstall};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::invariants::Invariants;
use super::snapshots::{self, SharedFiles};

/// A log and hard state, with the core's rule that an entry at index i
/// replaces every entry from i on. Like the WAL, the log may start at any
/// index once a snapshot has replaced its beginning, and an empty log takes
/// any index.
#[derive(Debug, Default, Clone)]
pub struct Disk {
    pub hard_state: HardState,
    pub entries: Vec<Entry>,
}

impl Disk {
    /// Writes `entries` (consecutive): the first one's index cuts the log
    /// there.
    pub fn write(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        let keep = first.index.saturating_sub(self.first_index());
        self.entries.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        self.entries.extend_from_slice(entries);
    }

    /// Index of the first entry held (1 for an empty log).
    pub fn first_index(&self) -> u64 {
        self.entries.first().map_or(1, |e| e.index)
    }

    /// Term of the entry at `index` (0 for index 0).
    pub fn term(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.entries.get(usize::try_from(i.checked_sub(self.first_index())?).ok()?).map(|e| e.term),
        }
    }

    pub fn last_index(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.index)
    }

    /// Drops the entries up to `index` (a snapshot holds them).
    pub fn compact(&mut self, index: u64) {
        self.entries.retain(|e| e.index > index);
    }

    /// Size of the Raft state this log and hard state make (the lab's
    /// "persisted Raft state", the snapshot not included): the hard state
    /// and each entry's data with its framing.
    pub fn raft_state_bytes(&self) -> usize {
        node::member::raft_state_bytes(&self.entries)
    }

    pub fn persisted(&self, snapshot: raft::SnapshotMeta) -> Persisted {
        Persisted { snapshot, hard_state: self.hard_state, entries: self.entries.clone(), membership: None }
    }
}

/// How long syncs take and what a crash leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskProfile {
    /// A sync's usual duration, µs (uniform in the range).
    pub sync_us: (u64, u64),
    /// Per mille of syncs that take `slow_sync_us` instead.
    pub slow_per_mille: u32,
    pub slow_sync_us: (u64, u64),
    /// A crash keeps a random prefix of the unsynced writes (else none).
    pub torn: bool,
}

impl DiskProfile {
    /// Syncs are instant and nothing is ever unsynced at a crash: the
    /// simulator's disk before it had latency.
    pub const INSTANT: DiskProfile =
        DiskProfile { sync_us: (0, 0), slow_per_mille: 0, slow_sync_us: (0, 0), torn: false };
    /// An SSD: 50–400 µs per sync, 1% of syncs 2–20 ms; a crash loses
    /// everything unsynced.
    pub const SSD: DiskProfile =
        DiskProfile { sync_us: (50, 400), slow_per_mille: 10, slow_sync_us: (2_000, 20_000), torn: false };
    /// The SSD, where a crash keeps a random prefix of the unsynced writes.
    pub const TORN: DiskProfile = DiskProfile { torn: true, ..DiskProfile::SSD };

    pub fn by_name(name: &str) -> Option<DiskProfile> {
        match name {
            "instant" => Some(DiskProfile::INSTANT),
            "ssd" => Some(DiskProfile::SSD),
            "torn" => Some(DiskProfile::TORN),
            _ => None,
        }
    }
}

/// One write, in the order it was issued.
#[derive(Debug, Clone)]
enum Write {
    HardState(HardState),
    /// Consecutive entries; the first cuts the log at its index.
    Entries(Vec<Entry>),
    /// An installed snapshot replaces the log (`Storage::persist`).
    Install(SnapshotInstall),
}

/// A server's disk: what is durable, and what was written since.
#[derive(Debug, Clone)]
pub struct SimDisk {
    durable: Disk,
    /// `durable` with the unsynced writes applied: what the server reads.
    written: Disk,
    unsynced: Vec<Write>,
    pub profile: DiskProfile,
    /// Until then (virtual µs) every sync is slow (a nemesis).
    pub slow_until_us: u64,
    /// The snapshot files beside the log.
    pub files: SharedFiles,
}

impl SimDisk {
    pub fn new(profile: DiskProfile) -> SimDisk {
        SimDisk {
            durable: Disk::default(),
            written: Disk::default(),
            unsynced: Vec::new(),
            profile,
            slow_until_us: 0,
            files: SharedFiles::default(),
        }
    }

    /// The durable snapshot a restart starts from (index 0: none).
    pub fn snapshot(&self) -> raft::SnapshotMeta {
        snapshots::lock(&self.files).current.as_ref().map_or_else(Default::default, |s| s.info.meta)
    }

    /// What a restart reads: the durable log after the current snapshot.
    /// A log that cannot continue the snapshot is dropped first, as the
    /// node's storage does at open (`node::storage::log_is_stale`).
    pub fn persisted(&mut self) -> Persisted {
        let snapshot = self.snapshot();
        let log = self.durable.entries.iter().map(|e| (e.index, e.term));
        if node::storage::log_is_stale(snapshot, log) {
            self.durable.entries.clear();
            self.written = self.durable.clone();
        }
        self.durable.persisted(snapshot)
    }

    /// A snapshot of our own through `index` is durable: the log drops the
    /// prefix it covers, as the WAL drops whole segments.
    pub fn compact(&mut self, index: u64) {
        self.durable.compact(index);
        self.written.compact(index);
    }

    /// What survives a crash now.
    pub fn durable(&self) -> &Disk {
        &self.durable
    }

    /// Issues the writes `ready` asks for (not yet durable). Returns whether
    /// there were any; refuses entries that leave a gap after the log, as
    /// the WAL does.
    pub fn write(&mut self, ready: &Ready) -> Result<bool, String> {
        if let Some(hs) = ready.hard_state {
            self.written.hard_state = hs;
            self.unsynced.push(Write::HardState(hs));
        }
        if let Some(install) = &ready.snapshot {
            install_on(&mut self.written, install);
            self.unsynced.push(Write::Install(install.clone()));
        }
        if let Some(first) = ready.entries.first() {
            let last = self.written.last_index();
            if !self.written.entries.is_empty() && first.index > last + 1 {
                // The WAL refuses this (`IndexGap`): the member would stop.
                return Err(format!("wrote entry {} after its last entry {last}: a gap", first.index));
            }
            self.written.write(&ready.entries);
            self.unsynced.push(Write::Entries(ready.entries.clone()));
        }
        Ok(ready.hard_state.is_some() || ready.snapshot.is_some() || !ready.entries.is_empty())
    }

    /// How long the next sync takes, µs.
    pub fn sync_latency(&self, now_us: u64, rng: &mut ChaCha8Rng) -> u64 {
        let p = &self.profile;
        let slow = now_us < self.slow_until_us || rng.random_range(0..1000) < p.slow_per_mille;
        let (lo, hi) = if slow { p.slow_sync_us } else { p.sync_us };
        rng.random_range(lo..=hi.max(lo))
    }

    /// Writes issued and not yet durable (a sync started now covers them).
    pub fn unsynced_writes(&self) -> usize {
        self.unsynced.len()
    }

    /// A sync that started when `n` writes were unsynced completed: those
    /// `n` are durable, the ones issued since are not. Each write is
    /// checked as it becomes durable.
    pub fn sync_first(&mut self, n: usize, server: usize, inv: &mut Invariants) -> Result<(), String> {
        let n = n.min(self.unsynced.len());
        for w in self.unsynced.drain(..n).collect::<Vec<_>>() {
            self.make_durable(server, &w, w.units(), inv)?;
        }
        Ok(())
    }

    /// The server crashed: unsynced writes are lost, or a prefix of them
    /// (counted in entries and hard-state records) survives when torn.
    pub fn crash(&mut self, server: usize, rng: &mut ChaCha8Rng, inv: &mut Invariants) -> Result<(), String> {
        let writes = std::mem::take(&mut self.unsynced);
        let mut result = Ok(());
        if self.profile.torn {
            let units: usize = writes.iter().map(Write::units).sum();
            let mut keep = rng.random_range(0..=units);
            for w in &writes {
                if keep == 0 {
                    break;
                }
                let n = w.units().min(keep);
                keep -= n;
                result = result.and(self.make_durable(server, w, n, inv));
            }
        }
        self.written = self.durable.clone();
        snapshots::lock(&self.files).crash();
        result
    }

    /// The first `units` of `w` become durable.
    fn make_durable(
        &mut self,
        server: usize,
        w: &Write,
        units: usize,
        inv: &mut Invariants,
    ) -> Result<(), String> {
        match w {
            Write::HardState(hs) => {
                inv.on_hard_state(server, self.durable.hard_state, *hs)?;
                self.durable.hard_state = *hs;
            }
            Write::Entries(es) => {
                let es = &es[..units];
                inv.on_durable_entries(server, &self.durable, es)?;
                self.durable.write(es);
                inv.on_entries(server, &self.durable, es)?;
            }
            Write::Install(install) => install_on(&mut self.durable, install),
        }
        Ok(())
    }
}

/// What an installed snapshot does to the log: keeps the entries after it
/// when the log held its last entry, else drops them all; drops what it
/// covers either way.
fn install_on(disk: &mut Disk, install: &SnapshotInstall) {
    if !install.keep_suffix {
        disk.entries.clear();
    }
    disk.compact(install.snapshot.index);
}

impl Write {
    fn units(&self) -> usize {
        match self {
            Write::HardState(_) => 1,
            Write::Entries(es) => es.len(),
            Write::Install(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn e(index: u64, term: u64) -> Entry {
        Entry::new(index, term, vec![index as u8])
    }

    fn ready(hs: Option<HardState>, entries: Vec<Entry>) -> Ready {
        Ready { hard_state: hs, entries, ..Ready::default() }
    }

    #[test]
    fn an_entry_replaces_everything_from_its_index_on() {
        let mut d = Disk::default();
        d.write(&[e(1, 1), e(2, 1), e(3, 1)]);
        d.write(&[e(2, 2)]);
        assert_eq!(d.entries, vec![e(1, 1), e(2, 2)]);
        assert_eq!(d.term(2), Some(2));
        assert_eq!(d.term(3), None);
        assert_eq!(d.term(0), Some(0));
    }

    #[test]
    fn only_synced_writes_survive_a_crash() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut d = SimDisk::new(DiskProfile::SSD);
        let mut inv = Invariants::new(1);
        d.write(&ready(None, vec![e(1, 1)])).unwrap();
        d.sync_first(d.unsynced_writes(), 0, &mut inv).unwrap();
        let hs = HardState { current_term: 2, voted_for: Some(3) };
        d.write(&ready(Some(hs), vec![e(2, 2)])).unwrap();
        assert_eq!(d.durable().last_index(), 1);
        d.crash(0, &mut rng, &mut inv).unwrap();
        assert_eq!(d.durable().entries, vec![e(1, 1)]);
        assert_eq!(d.durable().hard_state, HardState::default());
    }

    /// A write issued while a sync runs is not covered by it.
    #[test]
    fn a_sync_covers_only_the_writes_issued_before_it_started() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut d = SimDisk::new(DiskProfile::SSD);
        let mut inv = Invariants::new(1);
        d.write(&ready(None, vec![e(1, 1)])).unwrap();
        let covered = d.unsynced_writes();
        d.write(&ready(None, vec![e(2, 1)])).unwrap();
        d.sync_first(covered, 0, &mut inv).unwrap();
        assert_eq!(d.unsynced_writes(), 1);
        d.crash(0, &mut rng, &mut inv).unwrap();
        assert_eq!(d.durable().entries, vec![e(1, 1)]);
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_the_unsynced_writes() {
        let hs = HardState { current_term: 2, voted_for: Some(3) };
        let mut kept = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut d = SimDisk::new(DiskProfile::TORN);
            d.write(&ready(Some(hs), vec![e(1, 2), e(2, 2), e(3, 2)])).unwrap();
            d.crash(0, &mut rng, &mut Invariants::new(1)).unwrap();
            let got = d.durable();
            // A prefix: no entry without the hard state before it, no gap.
            assert!(got.entries.is_empty() || got.hard_state == hs);
            assert_eq!(got.entries, vec![e(1, 2), e(2, 2), e(3, 2)][..got.entries.len()].to_vec());
            kept.insert((got.hard_state == hs, got.entries.len()));
        }
        assert_eq!(kept.len(), 5, "every prefix length happens: {kept:?}");
    }

    #[test]
    fn a_slow_disk_takes_longer() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut d = SimDisk::new(DiskProfile::SSD);
        assert!((0..100).map(|_| d.sync_latency(0, &mut rng)).filter(|&l| l <= 400).count() > 90);
        d.slow_until_us = 1_000;
        assert!((0..100).all(|_| d.sync_latency(0, &mut rng) >= 2_000));
    }
}
