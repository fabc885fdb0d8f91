//! The one place that names synchronization primitives.
//!
//! Production code takes its threads, atomics, `Arc`, mailboxes and snapshot cells from here and
//! from nowhere else (clippy's `disallowed_types` in `clippy.toml` enforces it). Built normally,
//! these are std's atomics, crossbeam's channels and arc-swap; built with `--features loom`, they
//! are loom's model-checked types, so the models in `loom-tests/` exercise the production code
//! itself, not a copy of it. The two sides expose the same small API: only the calls we use.
//!
//! This is the same shape as tokio's `src/loom/`.

#[cfg(not(feature = "loom"))]
mod std_side;
#[cfg(not(feature = "loom"))]
pub use std_side::*;

#[cfg(feature = "loom")]
mod loom_side;
#[cfg(feature = "loom")]
pub use loom_side::*;

/// Atomics and orderings, from std or loom.
pub mod atomic {
    #[cfg(feature = "loom")]
    pub use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    #[cfg(not(feature = "loom"))]
    pub use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
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
