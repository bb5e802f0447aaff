//! What `Config` promises a driver: the lab configuration's batch budget
//! for AppendEntries (§5.3 leaves batching to the implementation) and the
//! hard bound on the entry bytes of one AppendEntries that a transport
//! must be able to carry.

use raft::{Body, Config, Message, ENTRY_OVERHEAD_BYTES};

use crate::net::Net;

/// Data plus overhead of the entries of each AppendEntries to `to`.
fn append_sizes(msgs: &[Message], to: u64) -> Vec<(usize, usize)> {
    msgs.iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.body {
            Body::AppendEntries { entries, .. } if !entries.is_empty() => {
                let bytes = entries.iter().map(|e| e.data.len() + ENTRY_OVERHEAD_BYTES).sum();
                Some((entries.len(), bytes))
            }
            _ => None,
        })
        .collect()
}

/// `Config::lab` batches up to 64 KiB of entries (data plus overhead) per
/// AppendEntries: 1000-byte entries cost 1030 bytes each, so 63 fit.
#[test]
fn lab_config_batches_up_to_64_kib_of_entries_per_append() {
    assert_eq!(Config::lab(1, vec![1]).max_append_bytes, 64 * 1024);
    let mut net = Net::new(3);
    net.campaign(1);
    for i in 0..100u8 {
        net.node(1).propose(vec![i; 1000]).unwrap();
    }
    net.flush();
    let sizes = append_sizes(&net.queue.iter().cloned().collect::<Vec<_>>(), 2);
    assert_eq!(sizes, vec![(63, 63 * 1030)], "one batch goes out, the rest once it is answered");
    net.deliver_all();
    let sizes = append_sizes(&net.sent, 2);
    assert_eq!(sizes, vec![(63, 63 * 1030), (37, 37 * 1030)]);
}

/// `max_append_entry_bytes` bounds every AppendEntries the leader sends,
/// and is reached: by one entry of the largest admitted size, or by the
/// batch budget when that is larger.
#[test]
fn max_append_entry_bytes_bounds_every_append_and_is_reached() {
    let lab = Config::lab(1, vec![1, 2, 3]);
    assert_eq!(lab.max_append_entry_bytes(), lab.max_entry_bytes + ENTRY_OVERHEAD_BYTES);
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1).propose(vec![7; lab.max_entry_bytes]).unwrap();
    net.node(1).propose(vec![8; 10]).unwrap();
    net.deliver_all();
    let sizes = append_sizes(&net.sent, 2);
    assert!(sizes.iter().all(|&(_, bytes)| bytes <= lab.max_append_entry_bytes()), "{sizes:?}");
    assert_eq!(sizes[0], (1, lab.max_append_entry_bytes()));

    let adjust = |c: &mut Config| {
        c.max_entry_bytes = 10;
        c.max_append_bytes = 4 * (10 + ENTRY_OVERHEAD_BYTES);
    };
    let mut small = Config::lab(1, vec![1, 2, 3]);
    adjust(&mut small);
    assert_eq!(small.max_append_entry_bytes(), small.max_append_bytes);
    let mut net = Net::with_config(3, adjust);
    net.campaign(1);
    for i in 0..10u8 {
        net.node(1).propose(vec![i; 10]).unwrap();
    }
    net.deliver_all();
    let sizes = append_sizes(&net.sent, 2);
    assert!(sizes.iter().all(|&(_, bytes)| bytes <= small.max_append_entry_bytes()), "{sizes:?}");
    assert_eq!(sizes[0], (4, small.max_append_entry_bytes()));
}
