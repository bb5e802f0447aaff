//! The resolver's timing, with a fake clock and no DNS.

use super::*;

fn name(s: &str) -> PeerAddr {
    PeerAddr::parse(s).unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn never(_: &PeerAddr) -> io::Result<SocketAddr> {
    panic!("no DNS in these tests")
}

/// Peer 2 by name (resolved to 10.0.0.2 at start), peer 3 by IP.
fn resolver(t0: Instant) -> Resolver {
    let names = BTreeMap::from([(2, name("db2.internal:7102")), (3, name("10.0.0.3:7103"))]);
    let current = BTreeMap::from([(2, sa("10.0.0.2:7102")), (3, sa("10.0.0.3:7103"))]);
    Resolver::new(names, &current, Arc::new(never), None, t0)
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

fn due_ids(r: &mut Resolver, at: Instant) -> Vec<u64> {
    r.due(at).into_iter().map(|(id, _)| id).collect()
}

#[test]
fn a_named_peer_is_due_after_two_seconds_of_silence_and_literals_never() {
    let t0 = Instant::now();
    let mut r = resolver(t0);
    assert!(due_ids(&mut r, secs(t0, 1.9)).is_empty());
    assert_eq!(due_ids(&mut r, secs(t0, 2.0)), vec![2]);
    // In flight: not again until it reports.
    assert!(due_ids(&mut r, secs(t0, 100.0)).is_empty());
}

#[test]
fn each_fruitless_try_doubles_the_wait_up_to_thirty_seconds() {
    let t0 = Instant::now();
    let mut r = resolver(t0);
    let mut tries = Vec::new();
    let mut t = 2.0;
    while t < 200.0 {
        if due_ids(&mut r, secs(t0, t)) == vec![2] {
            tries.push(t);
            // Same address: nothing new, so the next wait doubles.
            assert_eq!(r.resolved(2, Ok(sa("10.0.0.2:7102")), secs(t0, t)), None);
        }
        t += 0.5;
    }
    let waits: Vec<f64> = tries.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(&waits[..6], &[2.0, 4.0, 8.0, 16.0, 30.0, 30.0], "tries at {tries:?}");
    // An error counts as a fruitless try too.
    let mut r = resolver(t0);
    assert_eq!(due_ids(&mut r, secs(t0, 2.0)), vec![2]);
    r.resolved(2, Err(io::Error::other("SERVFAIL")), secs(t0, 2.0));
    assert!(due_ids(&mut r, secs(t0, 3.9)).is_empty());
    assert_eq!(due_ids(&mut r, secs(t0, 4.0)), vec![2]);
}

#[test]
fn hearing_from_the_peer_starts_over() {
    let t0 = Instant::now();
    let mut r = resolver(t0);
    for t in [2.0, 4.0, 8.0] {
        assert_eq!(due_ids(&mut r, secs(t0, t)), vec![2]);
        r.resolved(2, Ok(sa("10.0.0.2:7102")), secs(t0, t));
    }
    r.heard(2, secs(t0, 9.0));
    assert!(due_ids(&mut r, secs(t0, 10.9)).is_empty());
    assert_eq!(due_ids(&mut r, secs(t0, 11.0)), vec![2]);
    // Heard again while a try is in flight: the try still reports.
    r.heard(2, secs(t0, 11.5));
    assert_eq!(r.resolved(2, Ok(sa("10.0.0.9:7102")), secs(t0, 11.6)), Some(sa("10.0.0.9:7102")));
}

#[test]
fn a_new_address_is_handed_out_once_and_the_wait_starts_over() {
    let t0 = Instant::now();
    let mut r = resolver(t0);
    for t in [2.0, 4.0, 8.0] {
        due_ids(&mut r, secs(t0, t));
        r.resolved(2, Ok(sa("10.0.0.2:7102")), secs(t0, t));
    }
    assert_eq!(due_ids(&mut r, secs(t0, 16.0)), vec![2]);
    let moved = sa("10.0.1.2:7102");
    assert_eq!(r.resolved(2, Ok(moved), secs(t0, 16.0)), Some(moved));
    assert_eq!(r.current(2), Some(moved));
    // Still silent at the new address: tried again 2 s later, not 16.
    assert!(due_ids(&mut r, secs(t0, 17.9)).is_empty());
    assert_eq!(due_ids(&mut r, secs(t0, 18.0)), vec![2]);
    assert_eq!(r.resolved(2, Ok(moved), secs(t0, 18.0)), None);
    // Unknown peers (clients, removed members) are ignored.
    r.heard(99, secs(t0, 18.0));
    assert_eq!(r.resolved(99, Ok(moved), secs(t0, 18.0)), None);
}

#[test]
fn a_peer_not_resolved_at_start_is_due_at_once() {
    let t0 = Instant::now();
    let names = BTreeMap::from([(2, name("db2.internal:7102"))]);
    let mut r = Resolver::new(names, &BTreeMap::new(), Arc::new(never), None, t0);
    assert_eq!(r.current(2), None);
    assert_eq!(due_ids(&mut r, t0), vec![2]);
    r.resolved(2, Err(io::Error::other("NXDOMAIN")), t0);
    assert_eq!(due_ids(&mut r, secs(t0, 2.0)), vec![2], "retried with backoff although never heard");
}

#[test]
fn set_members_keeps_unchanged_peers_and_adds_new_ones_due_at_once() {
    let t0 = Instant::now();
    let mut r = resolver(t0);
    let members = BTreeMap::from([
        (2, name("db2.internal:7102")), // unchanged: keeps its state
        (4, name("db4.internal:7104")), // new name: due at once
        (5, name("10.0.0.5:7105")),     // new literal: known, never due
    ]);
    r.set_members(members, secs(t0, 1.0));
    assert_eq!(r.current(3), None, "peer 3 forgotten");
    assert_eq!(r.current(5), Some(sa("10.0.0.5:7105")));
    assert_eq!(due_ids(&mut r, secs(t0, 1.0)), vec![4]);
    assert_eq!(due_ids(&mut r, secs(t0, 2.0)), vec![2]);
    // A peer whose name changed starts afresh.
    r.set_members(BTreeMap::from([(2, name("db2.other:7102"))]), secs(t0, 3.0));
    assert_eq!(r.current(2), None);
    assert_eq!(due_ids(&mut r, secs(t0, 3.0)), vec![2]);
}

#[test]
fn tick_resolves_on_a_thread_and_reports() {
    let t0 = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let names = BTreeMap::from([(2, name("db2.internal:7102"))]);
    let fake: ResolveFn = Arc::new(|a: &PeerAddr| {
        assert_eq!(a.host(), "db2.internal");
        Ok(sa("10.9.9.9:7102"))
    });
    let report: ReportFn = Arc::new(move |peer, addr| tx.lock().unwrap().send((peer, addr)).unwrap());
    let mut r = Resolver::new(names, &BTreeMap::new(), fake, Some(report), t0);
    r.tick(t0);
    let (peer, addr) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(peer, 2);
    assert_eq!(r.resolved(peer, addr, t0), Some(sa("10.9.9.9:7102")));
    r.tick(t0); // nothing due: no thread, no report
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
}
