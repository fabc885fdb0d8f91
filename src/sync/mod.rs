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
