//! Production primitives: std threads, crossbeam channels, arc-swap, parking_lot.

use super::{Closed, TryRecv};

/// A type alias, not a re-export, so that clippy's `disallowed_types` (which resolves re-exports
/// to std's own type) flags `std::sync::Arc` named elsewhere but not `crate::sync::Arc`.
pub type Arc<T> = std::sync::Arc<T>;

pub mod thread {
    use std::time::Duration;

    pub use std::thread::JoinHandle;

    pub use super::super::scoped::{Scope, ScopedJoinHandle, panic_message, scope, spawn_scoped};

    /// Spawns a named thread (names show in debuggers and panics).
    pub fn spawn_named<F, T>(name: String, body: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::thread::Builder::new().name(name).spawn(body).expect("the OS refused to start a thread")
    }

    /// Lets another thread run. A function, not a re-export, so that clippy's
    /// `disallowed_methods` can forbid `std::thread::yield_now` outside the shim: under loom a
    /// spin loop must yield to loom's scheduler, not to the OS.
    #[inline]
    pub fn yield_now() {
        std::thread::yield_now()
    }

    /// Sleeps for `duration` (under loom, which has no clock, it yields instead).
    #[inline]
    pub fn sleep(duration: Duration) {
        std::thread::sleep(duration)
    }

    /// Runs `body`; if it panics, the panic's message instead of its value. After a panic the
    /// callers use nothing `body` borrowed but to end the job (the actor that panicked is
    /// dropped; the rank's transport only aborts or goes), which is why asserting unwind safety
    /// is sound here.
    pub fn catch_panic<T>(body: impl FnOnce() -> T) -> Result<T, String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).map_err(|payload| panic_message(&*payload))
    }
}

/// A lock for the rare state that really is shared and written by several threads.
pub type Mutex<T> = parking_lot::Mutex<T>;

/// An unbounded many-to-one mailbox: crossbeam's channel.
///
/// Unbounded on purpose: actors and the pump send to each other in a cycle, and a cycle of
/// bounded channels can deadlock when every one of them is full.
pub fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let (sender, receiver) = crossbeam_channel::unbounded();
    (Sender(sender), Receiver(receiver))
}

pub struct Sender<T>(crossbeam_channel::Sender<T>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender(self.0.clone())
    }
}

impl<T> Sender<T> {
    pub fn send(&self, item: T) -> Result<(), Closed<T>> {
        self.0.send(item).map_err(|err| Closed(err.0))
    }
}

pub struct Receiver<T>(crossbeam_channel::Receiver<T>);

impl<T> Receiver<T> {
    /// Waits for the next item; `None` once every sender is gone and the mailbox is empty.
    pub fn recv(&self) -> Option<T> {
        self.0.recv().ok()
    }

    pub fn try_recv(&self) -> TryRecv<T> {
        match self.0.try_recv() {
            Ok(item) => TryRecv::Item(item),
            Err(crossbeam_channel::TryRecvError::Empty) => TryRecv::Empty,
            Err(crossbeam_channel::TryRecvError::Disconnected) => TryRecv::Closed,
        }
    }

    /// Waits up to `timeout` for an item; `Empty` if none came.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> TryRecv<T> {
        match self.0.recv_timeout(timeout) {
            Ok(item) => TryRecv::Item(item),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => TryRecv::Empty,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => TryRecv::Closed,
        }
    }
}

/// A value that one thread replaces whole and others read without locks: arc-swap, and a count
/// of the replacements (its edition) for readers that keep a copy (`SnapshotCache`).
pub struct SnapshotCell<T> {
    value: arc_swap::ArcSwap<T>,
    edition: super::atomic::AtomicU64,
}

impl<T> SnapshotCell<T> {
    pub fn new(value: T) -> Self {
        SnapshotCell { value: arc_swap::ArcSwap::from_pointee(value), edition: super::atomic::AtomicU64::new(0) }
    }

    /// The current value. Readers never block the writer nor each other.
    pub fn load(&self) -> Arc<T> {
        self.value.load_full()
    }

    /// How many times the value has been replaced. Acquire pairs with the Release of the bump
    /// after each replacement: a reader that sees an edition then loads that value or a newer.
    pub fn edition(&self) -> u64 {
        self.edition.load(super::atomic::Ordering::Acquire)
    }

    /// Replaces the value; readers see the old one or the new one, never a mix.
    pub fn publish(&self, value: Arc<T>) {
        self.value.store(value);
        self.edition.fetch_add(1, super::atomic::Ordering::Release);
    }

    /// Replaces the value with `change(current)`, so that concurrent `update`s never lose one
    /// another's change (a `load` then `publish` would: the second writer publishes a copy
    /// made before the first one's change). `change` may run more than once when writers race:
    /// keep it free of side effects.
    pub fn update(&self, mut change: impl FnMut(&T) -> T) {
        self.value.rcu(|current| change(current));
        self.edition.fetch_add(1, super::atomic::Ordering::Release);
    }
}
