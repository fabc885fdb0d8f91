//! `LoadCounter` (src/sync/load.rs) under loom: the count of segments a peer has handed out,
//! which it reports in every reply and which askers compare to pick the least busy holder.
//!
//! Production bumps it from two threads: the upload desk answers on the pump's thread and the
//! upload server answers deferred requests on its own (src/peer/upload.rs, `UploadState`); the
//! figures are read at the end. The orderings are the
//! production type's own (Relaxed; see the comments there), so this checks the real thing.
//!
//! Run: `LOOM_MAX_PREEMPTIONS=2 cargo test --release --features loom --test loom_load`

mod common;

use bitorrent::sync::atomic::{AtomicU64, Ordering};
use bitorrent::sync::{Arc, LoadCounter, thread};

trait Counter: Send + Sync + 'static {
    fn new() -> Self;
    fn add(&self, n: u64) -> u64;
    fn get(&self) -> u64;
}

impl Counter for LoadCounter {
    fn new() -> Self {
        LoadCounter::new()
    }
    fn add(&self, n: u64) -> u64 {
        LoadCounter::add(self, n)
    }
    fn get(&self) -> u64 {
        LoadCounter::get(self)
    }
}

const BUMPS: u64 = 2;

/// Two answerers (the desk on the pump's thread, the server on its own) each count two uploads
/// while a third thread reads the count three times. Checks: no increment is lost (the final
/// count is 4, and the counts `add` returned, which go out in replies as the load, are exactly
/// 1, 2, 3, 4: none twice); each answerer's counts rise; the reader's readings never go back
/// and never exceed what was added.
fn counts<C: Counter>() {
    let load = Arc::new(C::new());
    let answerers: Vec<_> = ["desk", "server"]
        .into_iter()
        .map(|who| {
            let load = load.clone();
            thread::spawn_named(who.into(), move || (0..BUMPS).map(|_| load.add(1)).collect::<Vec<u64>>())
        })
        .collect();
    let mut readings = Vec::new();
    for _ in 0..3 {
        readings.push(load.get());
    }
    // Join before asserting (loom#350: failing with a thread still suspended aborts the binary).
    let returned: Vec<Vec<u64>> = answerers.into_iter().map(|answerer| answerer.join().unwrap()).collect();
    assert!(readings.is_sorted(), "the load went back: {readings:?}");
    assert!(readings.iter().all(|&reading| reading <= 2 * BUMPS), "{readings:?}");
    for own in &returned {
        assert!(own.is_sorted(), "one answerer's counts went back: {own:?}");
    }
    let mut all: Vec<u64> = returned.concat();
    all.sort();
    assert_eq!(all, [1, 2, 3, 4], "a count returned twice: an increment was lost");
    assert_eq!(load.get(), 2 * BUMPS, "an increment was lost");
}

#[test]
fn no_increment_is_lost_and_readings_never_go_back() {
    common::check("load/counts", counts::<LoadCounter>);
}

/// PLANTED BUG: a counter that adds with a load and a store instead of one read-modify-write.
/// Two answerers that both load 0 both store 1.
struct LoadThenStore(AtomicU64);

impl Counter for LoadThenStore {
    fn new() -> Self {
        LoadThenStore(AtomicU64::new(0))
    }
    fn add(&self, n: u64) -> u64 {
        let next = self.0.load(Ordering::Relaxed) + n; // the bug: not atomic with the store
        self.0.store(next, Ordering::Relaxed);
        next
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[test]
#[should_panic(expected = "an increment was lost")]
fn planted_bug_load_then_store_loses_increments() {
    common::check("load/planted_load_then_store", counts::<LoadThenStore>);
}
