//! Model-checked primitives, for `--features loom`.
//!
//! crossbeam-channel and arc-swap are not modelled by loom (a real crossbeam `recv` inside a
//! model hangs), so the mailbox and the snapshot cell are rebuilt here from loom's lock,
//! condition variable and `RwLock`, with the same API and the same guarantees as the production
//! side: the models then check the protocol built on top of them.

use std::collections::VecDeque;

use super::{Closed, TryRecv};

pub type Arc<T> = loom::sync::Arc<T>;

pub mod thread {
    use std::time::Duration;

    pub use loom::thread::JoinHandle;

    pub use super::super::scoped::{Scope, ScopedJoinHandle, panic_message, scope, spawn_scoped};

    pub fn spawn_named<F, T>(name: String, body: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        loom::thread::Builder::new().name(name).spawn(body).expect("loom refused to start a thread")
    }

    /// Tells loom's scheduler that this thread waits for another (a spin loop must, or loom
    /// explores it spinning forever).
    #[inline]
    pub fn yield_now() {
        loom::thread::yield_now()
    }

    /// loom has no clock: sleeping is modelled as letting the others run.
    #[inline]
    pub fn sleep(_duration: Duration) {
        loom::thread::yield_now()
    }

    /// Catches nothing: loom reports what it finds (a failed assertion, a deadlock) by
    /// panicking, and a model must fail on it rather than see it turned into a rank's error.
    pub fn catch_panic<T>(body: impl FnOnce() -> T) -> Result<T, String> {
        Ok(body())
    }
}

/// parking_lot's lock API (no poisoning) over loom's mutex.
pub struct Mutex<T>(loom::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().expect("a loom mutex cannot be poisoned here")
    }
}

struct MailboxState<T> {
    queue: VecDeque<T>,
    senders: usize,
    receiver_alive: bool,
}

struct Shared<T> {
    state: loom::sync::Mutex<MailboxState<T>>,
    ready: loom::sync::Condvar,
}

/// The mailbox's own shared state is held by a std `Arc`, deliberately: everything the
/// protocol depends on (the queue, the sender count, the wake-ups) goes through the loom mutex
/// and condition variable, while reclaiming the mailbox's memory is crossbeam's business in
/// production, not ours. A loom `Arc` would add a scheduling point to every handle's clone and
/// drop and multiply the executions of every model that uses mailboxes, for nothing checked.
type SharedBox<T> = std::sync::Arc<Shared<T>>;

pub fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let shared = SharedBox::new(Shared {
        state: loom::sync::Mutex::new(MailboxState { queue: VecDeque::new(), senders: 1, receiver_alive: true }),
        ready: loom::sync::Condvar::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

pub struct Sender<T>(SharedBox<T>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.state.lock().unwrap().senders += 1;
        Sender(self.0.clone())
    }
}

/// True while a failed model is being torn down. loom then unwinds the threads it had
/// suspended outside its execution, where touching a loom lock panics again and aborts the
/// whole test binary, hiding which model failed and why (loom#350). The model has failed
/// already, so the handles' drops skip their bookkeeping then.
fn failed_model_teardown() -> bool {
    std::thread::panicking()
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if failed_model_teardown() {
            return;
        }
        let mut state = self.0.state.lock().unwrap();
        state.senders -= 1;
        if state.senders == 0 {
            // The receiver may be waiting for an item that will now never come.
            self.0.ready.notify_all();
        }
    }
}

impl<T> Sender<T> {
    pub fn send(&self, item: T) -> Result<(), Closed<T>> {
        let mut state = self.0.state.lock().unwrap();
        if !state.receiver_alive {
            return Err(Closed(item));
        }
        state.queue.push_back(item);
        self.0.ready.notify_one();
        Ok(())
    }
}

pub struct Receiver<T>(SharedBox<T>);

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if failed_model_teardown() {
            return;
        }
        self.0.state.lock().unwrap().receiver_alive = false;
    }
}

impl<T> Receiver<T> {
    pub fn recv(&self) -> Option<T> {
        let mut state = self.0.state.lock().unwrap();
        loop {
            if let Some(item) = state.queue.pop_front() {
                return Some(item);
            }
            if state.senders == 0 {
                return None;
            }
            state = self.0.ready.wait(state).unwrap();
        }
    }

    pub fn try_recv(&self) -> TryRecv<T> {
        let mut state = self.0.state.lock().unwrap();
        match state.queue.pop_front() {
            Some(item) => TryRecv::Item(item),
            None if state.senders == 0 => TryRecv::Closed,
            None => TryRecv::Empty,
        }
    }

    /// loom has no clock: waiting "a while" is modelled as one look, then a yield.
    pub fn recv_timeout(&self, _timeout: std::time::Duration) -> TryRecv<T> {
        match self.try_recv() {
            TryRecv::Empty => {
                loom::thread::yield_now();
                TryRecv::Empty
            }
            other => other,
        }
    }
}

pub struct SnapshotCell<T> {
    value: loom::sync::RwLock<Arc<T>>,
    edition: super::atomic::AtomicU64,
}

impl<T> SnapshotCell<T> {
    pub fn new(value: T) -> Self {
        SnapshotCell { value: loom::sync::RwLock::new(Arc::new(value)), edition: super::atomic::AtomicU64::new(0) }
    }

    pub fn load(&self) -> Arc<T> {
        self.value.read().unwrap().clone()
    }

    /// The same orderings as production's: the bump follows the replacement.
    pub fn edition(&self) -> u64 {
        self.edition.load(super::atomic::Ordering::Acquire)
    }

    pub fn publish(&self, value: Arc<T>) {
        *self.value.write().unwrap() = value;
        self.edition.fetch_add(1, super::atomic::Ordering::Release);
    }

    /// Holds the write lock while `change` runs, so writers are serialised; same contract as
    /// production's compare-and-swap loop (no change lost).
    pub fn update(&self, mut change: impl FnMut(&T) -> T) {
        {
            let mut current = self.value.write().unwrap();
            *current = Arc::new(change(&current));
        }
        self.edition.fetch_add(1, super::atomic::Ordering::Release);
    }
}
