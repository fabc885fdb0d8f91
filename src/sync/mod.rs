//! The one place that names synchronization primitives.
//!
//! Production code takes its threads, atomics, `Arc`, mailboxes and snapshot cells from here and
//! from nowhere else (clippy's `disallowed_types` and `disallowed_methods` in `clippy.toml`
//! enforce it; this module alone allows them). Built normally, these are std's atomics,
//! crossbeam's channels and arc-swap; built with `--features loom`, they are loom's
//! model-checked types, so the models in `loom-tests/` exercise the production code itself, not
//! a copy of it. The two sides expose the same small API: only the calls we use.
//!
//! Types are given as type aliases (`pub type Arc<T> = std::sync::Arc<T>`), not re-exports:
//! clippy resolves a re-export to the original type and would then flag `crate::sync::Arc`
//! itself; an alias keeps the lint for std's name only.
//!
//! This is the same shape as tokio's `src/loom/`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[cfg(not(feature = "loom"))]
mod std_side;
#[cfg(not(feature = "loom"))]
pub use std_side::*;

#[cfg(feature = "loom")]
mod loom_side;
#[cfg(feature = "loom")]
pub use loom_side::*;

mod load;
pub use load::LoadCounter;

/// Scoped threads (std's, in both builds: loom has none) and a panic's message, which both
/// sides' `thread` modules share.
///
/// The one user of scoped threads, the simulated engine's worker threads, never runs in the loom
/// build (its binary only says so); what its workers share, the window's hand-over
/// (`sim::window::Crossing`), is modelled with loom's own threads.
mod scoped {
    pub use std::thread::{Scope, ScopedJoinHandle};

    /// Runs `body` with a scope in which threads may borrow what the caller owns; every thread
    /// spawned in it is joined before this returns.
    pub fn scope<'env, T>(body: impl for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T) -> T {
        std::thread::scope(body)
    }

    /// Spawns a named thread in `scope`.
    pub fn spawn_scoped<'scope, 'env, F, T>(
        scope: &'scope Scope<'scope, 'env>,
        name: String,
        body: F,
    ) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        std::thread::Builder::new().name(name).spawn_scoped(scope, body).expect("the OS refused to start a thread")
    }

    /// What a panic said: its payload when it is text.
    pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
        match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
            (Some(text), _) => text.to_string(),
            (None, Some(text)) => text.clone(),
            (None, None) => "a panic without a message".to_string(),
        }
    }
}

/// A reader's own copy of a `SnapshotCell`'s value, loaded again only when the cell's edition
/// says it was replaced since: one atomic load per read instead of a snapshot load (which
/// takes and gives back a reference count), for a hot path reading a value that seldom changes.
///
/// A copy may be one replacement behind while the replacement's edition bump is on its way,
/// exactly as a `load` racing a `publish` may return the old value.
pub struct SnapshotCache<T> {
    value: Arc<T>,
    edition: u64,
}

impl<T> SnapshotCache<T> {
    pub fn new(cell: &SnapshotCell<T>) -> Self {
        // The edition first: if a replacement lands in between, the copy is newer than its
        // edition says, and the next read loads again, which is harmless.
        let edition = cell.edition();
        SnapshotCache { value: cell.load(), edition }
    }

    /// The cell's value as of its current edition.
    pub fn current(&mut self, cell: &SnapshotCell<T>) -> &Arc<T> {
        let edition = cell.edition();
        if edition != self.edition {
            self.value = cell.load();
            self.edition = edition;
        }
        &self.value
    }
}

/// Atomics and orderings, from std or loom. Write why next to every ordering you use.
pub mod atomic {
    #[cfg(feature = "loom")]
    use loom::sync::atomic as imp;
    #[cfg(not(feature = "loom"))]
    use std::sync::atomic as imp;

    pub use imp::Ordering;
    pub type AtomicBool = imp::AtomicBool;
    pub type AtomicU32 = imp::AtomicU32;
    pub type AtomicU64 = imp::AtomicU64;
    pub type AtomicUsize = imp::AtomicUsize;
}

/// What a non-blocking receive found.
#[derive(Debug, PartialEq, Eq)]
pub enum TryRecv<T> {
    Item(T),
    /// Nothing now; a sender may still send.
    Empty,
    /// Nothing now and never again: every sender is gone.
    Closed,
}

/// The receiving side is gone; the message comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed<T>(pub T);

/// Names every call of the shim once, never runs: `cargo build` type-checks it against the std
/// side and `cargo build --features loom` against the loom side, so a call (or a signature)
/// that one side lacks breaks the build of that side instead of the first model that needs it.
#[allow(dead_code)]
fn both_sides_have_the_same_api<T: Send + 'static>(item: T) {
    use std::time::Duration;

    let (sender, receiver): (Sender<T>, Receiver<T>) = mailbox();
    let _: Result<(), Closed<T>> = sender.clone().send(item);
    let _: Option<T> = receiver.recv();
    let _: TryRecv<T> = receiver.try_recv();
    let _: TryRecv<T> = receiver.recv_timeout(Duration::ZERO);

    let cell: SnapshotCell<u32> = SnapshotCell::new(0);
    let _: Arc<u32> = cell.load();
    cell.publish(Arc::new(1));
    cell.update(|value| value + 1);
    let _: u64 = cell.edition();
    let mut cache = SnapshotCache::new(&cell);
    let _: &Arc<u32> = cache.current(&cell);

    let lock: Mutex<u32> = Mutex::new(0);
    *lock.lock() += 1;

    let load = LoadCounter::new();
    let _: u64 = load.add(1);
    let _: u64 = load.get();

    let handle: thread::JoinHandle<u32> = thread::spawn_named(String::new(), || 0);
    let _: u32 = handle.join().unwrap_or_default();
    thread::yield_now();
    thread::sleep(Duration::ZERO);
    let _: Result<u32, String> = thread::catch_panic(|| 0);
}

// The loom side is checked by the models in loom-tests/; these run the std side's own code.
#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn concurrent_updates_lose_nothing() {
        let cell = Arc::new(SnapshotCell::new(Vec::<u32>::new()));
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let cell = cell.clone();
                thread::spawn_named(format!("writer{writer}"), move || {
                    for n in 0..250 {
                        cell.update(|current| {
                            let mut next = current.clone();
                            next.push(writer * 1000 + n);
                            next
                        });
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let mut all = Vec::clone(&cell.load());
        all.sort();
        let expected: Vec<u32> = (0..4).flat_map(|writer| (0..250).map(move |n| writer * 1000 + n)).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn load_counts_every_add() {
        let load = Arc::new(LoadCounter::new());
        let bumpers: Vec<_> = (0..4)
            .map(|bumper| {
                let load = load.clone();
                thread::spawn_named(format!("bumper{bumper}"), move || {
                    (0..1000).for_each(|_| {
                        load.add(1);
                    })
                })
            })
            .collect();
        for bumper in bumpers {
            bumper.join().unwrap();
        }
        assert_eq!(load.get(), 4000);
    }

    #[test]
    fn catch_panic_gives_back_the_value_or_the_message() {
        assert_eq!(thread::catch_panic(|| 7), Ok(7));
        assert_eq!(thread::catch_panic(|| -> u32 { panic!("plain") }), Err("plain".to_string()));
        let n = 3;
        assert_eq!(thread::catch_panic(|| -> u32 { panic!("formatted {n}") }), Err("formatted 3".to_string()));
        let payload = thread::catch_panic(|| -> u32 { std::panic::panic_any(5u8) });
        assert_eq!(payload, Err("a panic without a message".to_string()));
    }

    #[test]
    fn mailbox_closes_when_the_last_sender_goes() {
        let (sender, receiver) = mailbox::<u32>();
        let other = sender.clone();
        sender.send(1).unwrap();
        drop(sender);
        assert_eq!(receiver.try_recv(), TryRecv::Item(1));
        assert_eq!(receiver.try_recv(), TryRecv::Empty);
        drop(other);
        assert_eq!(receiver.try_recv(), TryRecv::Closed);
        assert_eq!(receiver.recv(), None);
    }
}
