//! `SnapshotCell` (src/sync/), the cell the tracker mirror publishes swarms and the segment book
//! through, under loom.
//!
//! What is checked is the loom side of the shim (a loom `RwLock<Arc<T>>`) and the protocols
//! built on it; production's arc-swap is trusted to give the same guarantees (its documented
//! contract), as loom cannot model it. A snapshot's contents are modelled by a loom `UnsafeCell`
//! that the publisher fills after building the value and before publishing it: loom reports a
//! read that is not ordered after that write ("Causality violation").
//!
//! Run: `LOOM_MAX_PREEMPTIONS=2 cargo test --release --features loom --test loom_snapshot`

// The model's plain memory is a loom `UnsafeCell`, whose accesses are `unsafe` by design: that is
// how loom checks each one is ordered after the write it reads.
#![allow(unsafe_code)]

mod common;

use std::collections::HashSet;

use bitorrent::model::FileId;
use bitorrent::peer::segments::SegmentSet;
use bitorrent::peer::upload::SegmentBook;
use bitorrent::sync::{Arc, SnapshotCell, thread};
use loom::cell::UnsafeCell;

/// A snapshot: a version and a body that must always go with it. "A mix" would be a body from
/// another version, or a body whose write the reader is not ordered after.
struct Snapshot {
    version: u64,
    body: UnsafeCell<u64>,
}

// SAFETY: Bodies are written before publication only; loom checks every read is ordered after it.
unsafe impl Sync for Snapshot {}

impl Snapshot {
    fn new(version: u64) -> Snapshot {
        let snapshot = Snapshot { version, body: UnsafeCell::new(0) };
        // Written after construction, as a swarm view is filled in before it is published.
        // SAFETY: not shared yet.
        snapshot.body.with_mut(|body| unsafe { *body = Snapshot::body_of(version) });
        snapshot
    }

    fn body_of(version: u64) -> u64 {
        version * 1000 + 7
    }

    fn body(&self) -> u64 {
        // SAFETY: the body is never written once the snapshot is shared.
        self.body.with(|body| unsafe { *body })
    }
}

/// The tracker mirror publishes versions 1 and 2 on a thread of its own while a reader, made by
/// `reader` before the mirror starts, reads three times, and once more after the mirror is
/// joined. Checks: every read is the initial value (0) or a published one, whole; the versions
/// one reader sees never go backwards; the read after the join is the last version.
fn publish_while_reading<R>(
    reader: impl FnOnce(&SnapshotCell<Snapshot>) -> R,
    read: impl Fn(&mut R, &SnapshotCell<Snapshot>) -> Arc<Snapshot>,
) {
    let cell = Arc::new(SnapshotCell::new(Snapshot::new(0)));
    let mut reader = reader(&cell);
    let mirror = {
        let cell = cell.clone();
        thread::spawn_named("mirror".into(), move || {
            for version in 1..=2 {
                cell.publish(Arc::new(Snapshot::new(version)));
            }
        })
    };
    let mut last = 0;
    for _ in 0..3 {
        let snapshot = read(&mut reader, &cell);
        assert!(snapshot.version <= 2, "a version nobody published: {}", snapshot.version);
        assert_eq!(snapshot.body(), Snapshot::body_of(snapshot.version), "a mixed snapshot");
        assert!(snapshot.version >= last, "went back from version {last} to {}", snapshot.version);
        last = snapshot.version;
    }
    mirror.join().unwrap();
    assert_eq!(read(&mut reader, &cell).version, 2, "a publish the reader missed");
}

/// The download scheduler loads a swarm the mirror publishes.
#[test]
fn readers_see_whole_snapshots_never_going_back() {
    common::check("snapshot/whole_and_monotonic", || publish_while_reading(|_| (), |_, cell| cell.load()));
}

/// The upload desk reads the segment book through a `SnapshotCache` (src/sync/mod.rs): a copy
/// loaded again only when the cell's edition moved. Besides the above, this checks that no
/// publish hides behind a stale edition.
#[test]
fn a_cached_reader_sees_whole_snapshots_and_catches_up() {
    use bitorrent::sync::SnapshotCache;

    common::check("snapshot/cache", || {
        publish_while_reading(SnapshotCache::new, |cache, cell| cache.current(cell).clone())
    });
}

/// src/peer/mirror.rs publishes a new file's set this way (in `start` and `on_swarm`): load the
/// book, clone the map, insert, publish. Copied here because it is inline there; it is the
/// mirror's alone to do (one writer). `SnapshotCell::update` is the same step as one call.
fn publish_file(book: &SnapshotCell<SegmentBook>, file: FileId, segments: Arc<SegmentSet>) {
    let mut next = SegmentBook::clone(&book.load());
    next.insert(file, segments);
    book.publish(Arc::new(next));
}

fn files_in(book: &SegmentBook) -> HashSet<u32> {
    book.keys().map(|file| file.0).collect()
}

/// One writer (the mirror) adds file 1, then file 2, to the production `SegmentBook` while the
/// upload server loads it three times. Checks: a file once visible stays visible; file 2
/// visible means file 1 is too (each book is a copy of the last); a visible file's set is the
/// one the mirror inserted (shared with the scheduler), not a copy.
#[test]
fn a_published_file_stays_in_the_segment_book() {
    common::check("snapshot/segment_book_one_writer", || {
        let book = Arc::new(SnapshotCell::new(SegmentBook::new()));
        let first = Arc::new(SegmentSet::empty(1));
        let mirror = {
            let book = book.clone();
            let first = first.clone();
            thread::spawn_named("mirror".into(), move || {
                publish_file(&book, FileId(1), first);
                publish_file(&book, FileId(2), Arc::new(SegmentSet::full(1)));
            })
        };
        let mut seen = HashSet::new();
        for _ in 0..3 {
            let now = files_in(&book.load());
            assert!(seen.is_subset(&now), "files {seen:?} were visible, now only {now:?}");
            assert!(!now.contains(&2) || now.contains(&1), "file 2 without file 1: {now:?}");
            seen = now;
        }
        if let Some(set) = book.load().get(&FileId(1)) {
            // The very set the scheduler fills, not a copy: the book's clone copies handles.
            assert!(Arc::ptr_eq(set, &first), "the book holds a copy of file 1's set");
        }
        mirror.join().unwrap();
        assert_eq!(files_in(&book.load()), HashSet::from([1, 2]));
    });
}

/// `SnapshotCell::update`: two writers each add a file; neither insert is lost.
#[test]
fn updates_from_two_writers_are_both_kept() {
    common::check("snapshot/update_two_writers", || {
        let book = Arc::new(SnapshotCell::new(SegmentBook::new()));
        let writers: Vec<_> = (1..=2)
            .map(|file| {
                let book = book.clone();
                thread::spawn_named(format!("writer{file}"), move || {
                    book.update(|current| {
                        let mut next = current.clone();
                        next.insert(FileId(file), Arc::new(SegmentSet::empty(1)));
                        next
                    })
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(files_in(&book.load()), HashSet::from([1, 2]), "an update was lost");
    });
}

/// PLANTED BUG: the mirror's load-clone-insert-publish done by two writers at once. One copy
/// is made before the other writer publishes and overwrites its insert: the pattern in
/// src/peer/mirror.rs is only sound because the mirror is the book's one writer.
#[test]
#[should_panic(expected = "an insert was lost")]
fn planted_bug_two_writers_of_the_book_lose_an_insert() {
    common::check("snapshot/planted_two_writers", || {
        let book = Arc::new(SnapshotCell::new(SegmentBook::new()));
        let writers: Vec<_> = (1..=2)
            .map(|file| {
                let book = book.clone();
                thread::spawn_named(format!("writer{file}"), move || {
                    publish_file(&book, FileId(file), Arc::new(SegmentSet::empty(1)))
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(files_in(&book.load()), HashSet::from([1, 2]), "an insert was lost");
    });
}
