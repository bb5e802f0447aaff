//! The lab tester's apply channel checks: every server applies index i+1
//! right after i, and two servers that applied index i applied the same
//! command there.

use std::sync::Mutex;

/// Commands applied per server, shared by the back end (which reports
/// applies) and the tester (which counts them). Internally locked so a back
/// end with threads can share it.
#[derive(Debug)]
pub struct ApplyChecker {
    inner: Mutex<Applied>,
}

#[derive(Debug)]
struct Applied {
    /// `per_server[s][i - 1]` is the command server `s` applied at index i.
    per_server: Vec<Vec<Vec<u8>>>,
    /// Highest index any server applied since the start.
    max_index: u64,
}

impl ApplyChecker {
    pub fn new(servers: usize) -> ApplyChecker {
        ApplyChecker { inner: Mutex::new(Applied { per_server: vec![Vec::new(); servers], max_index: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Applied> {
        // A panic elsewhere cannot leave the lists half-updated: recover them.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Server `server` applied `cmd` at `index`. Errors describe the
    /// violation: a gap or repeat, or a different command than another
    /// server applied at the same index.
    pub fn apply(&self, server: usize, index: u64, cmd: &[u8]) -> Result<(), String> {
        let mut a = self.lock();
        let expected = a.per_server[server].len() as u64 + 1;
        if index != expected {
            return Err(format!("server {server} applied out of order: index {index}, expected {expected}"));
        }
        let slot = (index - 1) as usize;
        for (other, list) in a.per_server.iter().enumerate() {
            if let Some(theirs) = list.get(slot) {
                if theirs.as_slice() != cmd {
                    return Err(format!(
                        "commit index={index} server={server} {} != server={other} {}",
                        show(cmd),
                        show(theirs)
                    ));
                }
            }
        }
        a.per_server[server].push(cmd.to_vec());
        a.max_index = a.max_index.max(index);
        Ok(())
    }

    /// Server `server` restored a snapshot holding `commands` (those of
    /// indexes 1, 2, …): its record becomes that list. Errors when a
    /// command differs from what another server applied at its index (the
    /// snapshot disagrees with the others' state).
    pub fn restore(&self, server: usize, commands: &[Vec<u8>]) -> Result<(), String> {
        let mut a = self.lock();
        for (slot, cmd) in commands.iter().enumerate() {
            for (other, list) in a.per_server.iter().enumerate() {
                if let Some(theirs) = list.get(slot).filter(|_| other != server) {
                    if theirs != cmd {
                        return Err(format!(
                            "snapshot of server {server} holds {} at index {}, server {other} applied {}",
                            show(cmd),
                            slot + 1,
                            show(theirs)
                        ));
                    }
                }
            }
        }
        a.per_server[server] = commands.to_vec();
        a.max_index = a.max_index.max(commands.len() as u64);
        Ok(())
    }

    /// How many servers applied `index`, and the command there.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Vec<u8>>) {
        let a = self.lock();
        let Some(slot) = index.checked_sub(1).map(|s| s as usize) else { return (0, None) };
        let mut count = 0;
        let mut cmd = None;
        for list in &a.per_server {
            if let Some(c) = list.get(slot) {
                count += 1;
                cmd.get_or_insert_with(|| c.clone());
            }
        }
        (count, cmd)
    }

    /// A restarted server applies its log again from index 1.
    pub fn reset(&self, server: usize) {
        self.lock().per_server[server].clear();
    }

    /// Highest index applied anywhere (the lab's `maxIndex`).
    pub fn max_index(&self) -> u64 {
        self.lock().max_index
    }
}

/// A command for a message: as an integer when it is one of the tester's
/// 8-byte integers, else its length.
pub fn show(cmd: &[u8]) -> String {
    match <[u8; 8]>::try_from(cmd) {
        Ok(b) => u64::from_le_bytes(b).to_string(),
        Err(_) => format!("<{} bytes>", cmd.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_repeats_and_disagreement_are_caught() {
        let c = ApplyChecker::new(2);
        assert!(c.apply(0, 1, b"a").is_ok());
        assert!(c.apply(0, 3, b"c").is_err(), "gap");
        assert!(c.apply(0, 1, b"a").is_err(), "repeat");
        assert!(c.apply(1, 1, b"b").is_err(), "disagreement");
        assert!(c.apply(1, 1, b"a").is_ok());
        assert_eq!(c.n_committed(1), (2, Some(b"a".to_vec())));
        c.reset(1);
        assert_eq!(c.n_committed(1).0, 1);
        assert!(c.apply(1, 1, b"a").is_ok(), "a restarted server applies again from 1");
        assert_eq!(c.max_index(), 1);
    }
}
