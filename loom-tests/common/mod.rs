//! What every model shares: how it is run, and how long it took.

use std::time::Instant;

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` is not set: CI's, so that a bare
/// `cargo test --features loom` finishes too (an unbounded search of these models does not).
const DEFAULT_PREEMPTIONS: usize = 2;

/// Checks `body` under every interleaving loom explores (within the preemption bound), then
/// prints how many executions that took and how long, for `--nocapture` runs and the CI log.
pub fn check<F>(name: &str, body: F)
where
    F: Fn() + Sync + Send + 'static,
{
    check_with(name, 0, body)
}

/// Like `check`, with a higher branch limit for the long models (a branch is a scheduling
/// decision in one execution; loom's default limit is 1,000). 0 keeps the default.
#[allow(clippy::disallowed_types)] // counts executions from outside the model: std, not loom
pub fn check_with<F>(name: &str, max_branches: usize, body: F)
where
    F: Fn() + Sync + Send + 'static,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    // One model at a time, whatever `--test-threads` says: loom maps a fresh stack for every
    // thread of every execution, and two models side by side spend their time contending in
    // the kernel for the address space (the suite took twice as long in parallel on two cores as
    // one model at a time). A model that fails poisons the lock; the next one goes on.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());

    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(DEFAULT_PREEMPTIONS));
    if max_branches > builder.max_branches {
        builder.max_branches = max_branches;
    }
    let bound = builder.preemption_bound;
    let executions = Arc::new(AtomicUsize::new(0));
    let counted = executions.clone();
    let started = Instant::now();
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        body()
    });
    eprintln!(
        "{name}: {} executions in {:.2?} (preemption bound {})",
        executions.load(Ordering::Relaxed),
        started.elapsed(),
        bound.map_or("none".to_string(), |bound| bound.to_string())
    );
}
