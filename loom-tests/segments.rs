//! `SegmentSet`, the production bitset (src/peer/segments.rs), under loom.
//!
//! The download scheduler marks segments as they arrive; the upload server reads them with no
//! lock to answer requests. A segment's bytes are modelled by a loom `UnsafeCell` that the
//! marker fills before it marks: loom reports any read of it that is not ordered after the
//! write by happens-before ("Causality violation"), so a reader that sees a bit but not the
//! bytes behind it fails the model, whatever value it happened to read.
//!
//! Run: `LOOM_MAX_PREEMPTIONS=2 cargo test --release --features loom --test loom_segments`

// The model's plain memory is a loom `UnsafeCell`, whose accesses are `unsafe` by design: that is
// how loom checks each one is ordered after the write it reads.
#![allow(unsafe_code)]

mod common;

use bitorrent::peer::segments::{Marked, SegmentSet};
use bitorrent::sync::Arc;
use bitorrent::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use bitorrent::sync::thread;
use loom::cell::UnsafeCell;

/// What the models need of a bitset: the production one, or a planted-bug copy of it.
trait Bitset: Send + Sync + 'static {
    fn empty(len: u32) -> Self;
    fn mark(&self, segment: u32) -> Marked;
    fn contains(&self, segment: u32) -> bool;
    fn is_complete(&self) -> bool;
}

impl Bitset for SegmentSet {
    fn empty(len: u32) -> Self {
        SegmentSet::empty(len)
    }
    fn mark(&self, segment: u32) -> Marked {
        SegmentSet::mark(self, segment)
    }
    fn contains(&self, segment: u32) -> bool {
        SegmentSet::contains(self, segment)
    }
    fn is_complete(&self) -> bool {
        SegmentSet::is_complete(self)
    }
}

/// A segment's bytes, written by the one thread that receives the segment, before it marks it.
struct Bytes(UnsafeCell<u64>);

// SAFETY: The models only read a segment's bytes after seeing it marked; loom checks that this is safe.
unsafe impl Sync for Bytes {}

impl Bytes {
    fn new() -> Bytes {
        Bytes(UnsafeCell::new(0))
    }
    fn write(&self, value: u64) {
        // SAFETY: one writer per segment, and readers wait for the mark (what loom checks).
        self.0.with_mut(|bytes| unsafe { *bytes = value })
    }
    fn read(&self) -> u64 {
        // SAFETY: as for `write`.
        self.0.with(|bytes| unsafe { *bytes })
    }
}

fn content(segment: u32) -> u64 {
    1000 + u64::from(segment)
}

struct Shared<S> {
    set: S,
    /// `bytes[i]` belongs to segment `segments[i]` of the model.
    bytes: Vec<Bytes>,
}

fn shared<S: Bitset>(len: u32, segments: usize) -> Arc<Shared<S>> {
    Arc::new(Shared { set: S::empty(len), bytes: (0..segments).map(|_| Bytes::new()).collect() })
}

/// Segment 0 in the first word, segment 64 in the second: marks in different atomics.
const IN_TWO_WORDS: [u32; 2] = [0, 64];

/// A scheduler-like writer stores each segment's bytes, then marks it, 0 before 64; an upload
/// server-like reader looks twice over both segments. Checks:
/// - a segment seen held comes with its bytes (the Release in `mark`, the Acquire in `contains`);
/// - a segment seen held stays held (monotonic);
/// - segment 64 seen held means segment 0, marked before it in another word, is seen held too.
fn publication<S: Bitset>() {
    let shared = shared::<S>(65, IN_TWO_WORDS.len());
    let writer = {
        let shared = shared.clone();
        thread::spawn_named("scheduler".into(), move || {
            for (slot, &segment) in IN_TWO_WORDS.iter().enumerate() {
                shared.bytes[slot].write(content(segment));
                assert_eq!(shared.set.mark(segment), Marked::Added);
            }
        })
    };
    let mut seen = [false; IN_TWO_WORDS.len()];
    for _ in 0..2 {
        // The later segment first: if it is held, the earlier one must be by the next look.
        for (slot, &segment) in IN_TWO_WORDS.iter().enumerate().rev() {
            let held = shared.set.contains(segment);
            assert!(held || !seen[slot], "segment {segment} was seen held, then not held");
            if held {
                seen[slot] = true;
                assert_eq!(shared.bytes[slot].read(), content(segment), "segment {segment} held without its bytes");
            }
        }
        assert!(!seen[1] || seen[0], "segment 64 seen held but segment 0, marked before it, not");
    }
    writer.join().unwrap();
    assert!(IN_TWO_WORDS.iter().all(|&segment| shared.set.contains(segment)));
    assert!(!shared.set.is_complete(), "2 of 65 segments held");
}

/// Two markers race over the same two segments (each marks both, in opposite orders) while a
/// reader asks `is_complete`. Checks: exactly one mark reports `Completed`, one `Added`, the
/// other two `AlreadyHeld`; and a reader that sees the set complete sees every segment held.
fn completion_once<S: Bitset>() {
    let set = Arc::new(S::empty(2));
    let marker = |order: [u32; 2]| {
        let set = set.clone();
        thread::spawn_named(format!("marker{order:?}"), move || order.map(|segment| set.mark(segment)))
    };
    let first = marker([0, 1]);
    let second = marker([1, 0]);
    if set.is_complete() {
        assert!(set.contains(0) && set.contains(1), "complete, yet a segment is not held");
    }
    let results: Vec<Marked> = first.join().unwrap().into_iter().chain(second.join().unwrap()).collect();
    let count = |what: Marked| results.iter().filter(|&&result| result == what).count();
    assert_eq!(count(Marked::Completed), 1, "completion must be reported exactly once: {results:?}");
    assert_eq!(count(Marked::Added), 1, "{results:?}");
    assert_eq!(count(Marked::AlreadyHeld), 2, "{results:?}");
    assert!(set.is_complete());
}

/// Two markers each store one segment's bytes and mark it; the marker whose mark completes the
/// set (the scheduler then writes the file out) reads every segment's bytes, and so does a
/// reader that sees the set complete. Checks the AcqRel on the held count and the Acquire in
/// `held`: completion happens after every mark and the writes before it.
fn completion_sees_everything<S: Bitset>() {
    let shared = shared::<S>(2, 2);
    let read_all = |shared: &Shared<S>| {
        for segment in 0..2u32 {
            assert!(shared.set.contains(segment), "complete, yet segment {segment} is not held");
            assert_eq!(
                shared.bytes[segment as usize].read(),
                content(segment),
                "complete without segment {segment}'s bytes"
            );
        }
    };
    let markers: Vec<_> = (0..2u32)
        .map(|segment| {
            let shared = shared.clone();
            thread::spawn_named(format!("marker{segment}"), move || {
                shared.bytes[segment as usize].write(content(segment));
                let marked = shared.set.mark(segment);
                if marked == Marked::Completed {
                    read_all(&shared);
                }
                marked
            })
        })
        .collect();
    if shared.set.is_complete() {
        read_all(&shared);
    }
    let results: Vec<Marked> = markers.into_iter().map(|marker| marker.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|&&marked| marked == Marked::Completed).count(), 1, "{results:?}");
}

#[test]
fn a_segment_seen_held_comes_with_its_bytes_and_stays_held() {
    common::check("segments/publication", publication::<SegmentSet>);
}

#[test]
fn completion_is_reported_exactly_once() {
    common::check("segments/completion_once", completion_once::<SegmentSet>);
}

#[test]
fn completion_happens_after_every_segment() {
    common::check("segments/completion_sees_everything", completion_sees_everything::<SegmentSet>);
}

// ---------------------------------------------------------------------------------------------
// PLANTED BUGS: evidence that these models fail when the orderings are wrong.
//
// `PlantedSet` is a test-only copy of `SegmentSet::mark`/`contains`/`held` (one word suffices
// for these models) whose two orderings are parameters. With production's orderings it passes
// the models above; with either one weakened to Relaxed, loom reports a causality violation.
// ---------------------------------------------------------------------------------------------

struct PlantedSet<const MARK_RELAXED: bool, const COUNT_RELAXED: bool> {
    words: [AtomicU64; 2],
    len: u32,
    held: AtomicU32,
}

impl<const MARK_RELAXED: bool, const COUNT_RELAXED: bool> Bitset for PlantedSet<MARK_RELAXED, COUNT_RELAXED> {
    fn empty(len: u32) -> Self {
        assert!(len <= 128);
        PlantedSet { words: [AtomicU64::new(0), AtomicU64::new(0)], len, held: AtomicU32::new(0) }
    }

    fn contains(&self, segment: u32) -> bool {
        segment < self.len && self.words[(segment / 64) as usize].load(Ordering::Acquire) & (1 << (segment % 64)) != 0
    }

    fn mark(&self, segment: u32) -> Marked {
        let bit = 1u64 << (segment % 64);
        // PLANTED BUG when MARK_RELAXED: production uses Release here.
        let mark_order = if MARK_RELAXED { Ordering::Relaxed } else { Ordering::Release };
        if self.words[(segment / 64) as usize].fetch_or(bit, mark_order) & bit != 0 {
            return Marked::AlreadyHeld;
        }
        // PLANTED BUG when COUNT_RELAXED: production uses AcqRel here.
        let count_order = if COUNT_RELAXED { Ordering::Relaxed } else { Ordering::AcqRel };
        if self.held.fetch_add(1, count_order) + 1 == self.len { Marked::Completed } else { Marked::Added }
    }

    fn is_complete(&self) -> bool {
        // PLANTED BUG when COUNT_RELAXED: production uses Acquire here.
        let order = if COUNT_RELAXED { Ordering::Relaxed } else { Ordering::Acquire };
        self.held.load(order) == self.len
    }
}

/// The copy with production's orderings passes: the planted failures below come from the
/// weakened ordering alone.
#[test]
fn planted_copy_with_production_orderings_passes() {
    common::check("segments/planted_copy_faithful/publication", publication::<PlantedSet<false, false>>);
    common::check("segments/planted_copy_faithful/completion", completion_sees_everything::<PlantedSet<false, false>>);
}

/// PLANTED BUG: marking with Relaxed instead of Release. A reader sees the bit but not the
/// segment's bytes written before it.
#[test]
#[should_panic(expected = "Causality violation")]
fn planted_bug_relaxed_mark_is_caught() {
    common::check("segments/planted_relaxed_mark", publication::<PlantedSet<true, false>>);
}

/// PLANTED BUG: the held count with Relaxed instead of AcqRel/Acquire. The completing marker
/// (or a reader that sees the set complete) does not even see the other marker's bit, let alone
/// its bytes.
#[test]
#[should_panic(expected = "complete, yet segment")]
fn planted_bug_relaxed_count_is_caught() {
    common::check("segments/planted_relaxed_count", completion_sees_everything::<PlantedSet<false, true>>);
}
