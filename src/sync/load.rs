//! A load counter: how much work a peer has handed out, bumped as it works and read by whoever
//! compares holders to pick the least busy one.
//!
//! Shared across threads: the upload desk bumps it on the pump's thread, the upload server on
//! its own for the requests it answers late, and the figures are read once both have ended
//! (src/peer/upload.rs, `UploadState`). The `loom_load` model checks it with these orderings.

use super::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct LoadCounter(AtomicU64);

impl LoadCounter {
    pub fn new() -> LoadCounter {
        LoadCounter(AtomicU64::new(0))
    }

    /// Adds `n` and returns the new count.
    pub fn add(&self, n: u64) -> u64 {
        // Relaxed: the count publishes no other data, so it needs no happens-before edge. Being
        // a read-modify-write, `fetch_add` still sees the latest count in the counter's
        // modification order, so no increment is lost however many threads bump it at once.
        self.0.fetch_add(n, Ordering::Relaxed) + n
    }

    /// The count now: never less than a count this thread read or returned from `add` before.
    pub fn get(&self) -> u64 {
        // Relaxed: read-read and write-read coherence (every ordering has them) already keep
        // one thread's successive readings from going backwards; nothing else is read with it.
        self.0.load(Ordering::Relaxed)
    }
}
