//! The simulated engine's events in the order they happen.
//!
//! The order is total and does not depend on where peers run: by time, then by the destination
//! peer, the source peer and the source's own sequence number (DESIGN.md). Two events never
//! share a key, since a source numbers what it sends, so the run is the same whatever order
//! events were pushed in, and whichever shard or thread pushed them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::link::Nanos;
use super::placement::Placement;

/// When an event happens and how it ranks among those at the same time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    pub at: Nanos,
    /// The peer whose state the event changes.
    pub to: u32,
    /// The peer that caused it (the same peer for its own timers and links).
    pub from: u32,
    /// The source's count of events it has caused so far: unique per source.
    pub seq: u64,
}

/// An event and its key, ordered by the key alone (keys are unique: see `Sequencer`).
struct Entry<E> {
    key: EventKey,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// Numbers the events each peer of a shard causes, so that every key is unique. A peer's
/// events are all caused on its own shard, so its count is the same however peers are split.
#[derive(Debug)]
pub struct Sequencer {
    placement: Placement,
    /// By row of the shard (`Placement::slot`).
    next: Vec<u64>,
}

impl Sequencer {
    /// A sequencer for a shard of `slots` rows.
    pub fn new(placement: Placement, slots: usize) -> Sequencer {
        Sequencer { placement, next: vec![0; slots] }
    }

    /// Asks for row `row`'s count, without waiting for it (`crate::prefetch`).
    pub fn warm(&self, row: usize) {
        if let Some(next) = self.next.get(row) {
            crate::prefetch::value(next);
        }
    }

    /// The key of the next event `from` (one of the shard's peers) causes for `to` at `at`.
    pub fn key(&mut self, at: Nanos, to: u32, from: u32) -> EventKey {
        let counter = &mut self.next[self.placement.slot(from)];
        let seq = *counter;
        *counter += 1;
        EventKey { at, to, from, seq }
    }
}

/// How many events the queue takes out of its buckets at once, in order (`upcoming`): enough
/// for the engine to look ahead, few enough that an instant of a million events (a flash
/// crowd's first) is not held twice.
const TAKE_AHEAD: usize = 1024;

/// The most events' room an emptied bucket keeps.
const KEEP_ROOM: usize = 1 << 12;

/// A bucket of at most this many events is sorted whole rather than spread over the buckets
/// below it. Spread down to single instants, an event moved six times on average and nearly
/// every event popped spread a bucket first (10,000 leechers: 141 million moves and 18.6
/// million spreads for 23.5 million events); sorting a few tens of events in cache costs less.
const SORT_WHOLE: usize = 64;

/// Pending events, earliest first.
///
/// A radix heap on the events' times, since simulated time only goes forward: no event is ever
/// pushed earlier than the last one popped. An event waits in the bucket named by the highest bit
/// in which its time differs from the last time popped; when the events at that time run out, the
/// first non-empty bucket is spread over the lower ones from its earliest time. An event moves
/// down at most 64 times in all, and the buckets are plain vectors walked in order, the events
/// in them: with a million events pending, a binary heap's pops (a walk down twenty levels
/// scattered over tens of megabytes) were the engine's largest cost, and then, with the heap
/// holding indices, the first touch of each event in a slab. Events of equal time are sorted by
/// the rest of their key when their bucket is spread (in a flash crowd, tens of thousands share
/// a nanosecond: every peer registers at 0, and equal links keep them in step). A bucket of a
/// few events is not spread but sorted whole (`SORT_WHOLE`): then the sorted events span some
/// time, and one pushed within it later waits in a small heap beside them.
///
/// The next events are taken out of the buckets in batches, in order (`ahead`), so that the
/// engine can see what comes after the event it handles (`upcoming`) and ask for those peers'
/// memory early (`crate::prefetch`). An event pushed behind one already taken out, which the
/// buckets, already past it, cannot take, waits in a small heap (`behind`); the two are merged
/// by key, so the order is the same as without the batches.
pub struct EventQueue<E> {
    /// The time of the last event handed out: every event pushed is at it or later.
    handed: Nanos,
    /// Events taken out of the buckets, in order: all before those still in the buckets.
    ahead: VecDeque<Entry<E>>,
    /// The key of the last event taken into `ahead`: what is pushed below it goes to `behind`.
    taken: Option<EventKey>,
    /// Events pushed below `taken`, by key.
    behind: BinaryHeap<Reverse<Entry<E>>>,
    /// The time of the earliest event of the last bucket taken out: every event still in the
    /// buckets is later.
    last: Nanos,
    /// The events of the bucket taken out, from `last` to `now_end`, sorted by key, the
    /// earliest last (so that it pops off the end).
    now: Vec<Entry<E>>,
    /// The latest time in `now` when it was sorted.
    now_end: Nanos,
    /// Events pushed at `now_end` or before since `now` was sorted, by key.
    now_late: BinaryHeap<Reverse<Entry<E>>>,
    /// `later[b]`: events whose time differs from `last` first in bit `b` (from 0, the lowest).
    later: Vec<Vec<Entry<E>>>,
    len: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            handed: 0,
            ahead: VecDeque::new(),
            taken: None,
            behind: BinaryHeap::new(),
            last: 0,
            now: Vec::new(),
            now_end: 0,
            now_late: BinaryHeap::new(),
            later: (0..64).map(|_| Vec::new()).collect(),
            len: 0,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `event`. Its time may not be earlier than the last event's popped.
    pub fn push(&mut self, key: EventKey, event: E) {
        assert!(key.at >= self.handed, "an event at {} ns, before the last popped at {} ns", key.at, self.handed);
        self.len += 1;
        if self.taken.is_some_and(|taken| key < taken) {
            self.behind.push(Reverse(Entry { key, event }));
            return;
        }
        if key.at <= self.now_end {
            self.now_late.push(Reverse(Entry { key, event }));
        } else {
            // Later than all of `now`, and so than `last`: `differ` is not 0.
            self.later[Self::bucket(key.at ^ self.last)].push(Entry { key, event });
        }
    }

    /// The bucket of an event whose time differs from `last` by the bits `differ` (not 0).
    fn bucket(differ: Nanos) -> usize {
        63 - differ.leading_zeros() as usize
    }

    /// The earliest event, taken off the queue.
    pub fn pop(&mut self) -> Option<(EventKey, E)> {
        self.pop_before(Nanos::MAX)
    }

    /// The earliest event if it happens before `end`, taken off the queue. Nothing else is
    /// handed out: events at `end` or later may still be pushed (a sharded run's window ends
    /// at `end`, and what other shards send arrives then or later).
    pub fn pop_before(&mut self, end: Nanos) -> Option<(EventKey, E)> {
        if self.ahead.is_empty() {
            while self.ahead.len() < TAKE_AHEAD {
                let Some(entry) = self.take_before(end) else { break };
                self.taken = Some(entry.key);
                self.ahead.push_back(entry);
            }
        }
        let behind_first = heap_first(&self.behind, self.ahead.front());
        let next = if behind_first { self.behind.peek().map(|Reverse(entry)| entry) } else { self.ahead.front() };
        if next?.key.at >= end {
            return None;
        }
        let Entry { key, event } =
            if behind_first { self.behind.pop().map(|Reverse(entry)| entry) } else { self.ahead.pop_front() }?;
        self.handed = key.at;
        self.len -= 1;
        Some((key, event))
    }

    /// The `n`-th event after the next one to be popped, if it has been taken out of the
    /// buckets already (one pushed meanwhile may come before it): for a look ahead, not for
    /// order.
    pub fn upcoming(&self, n: usize) -> Option<(&EventKey, &E)> {
        self.ahead.get(n).map(|entry| (&entry.key, &entry.event))
    }

    /// The earliest event in the buckets if it happens before `end`, taken out of them.
    fn take_before(&mut self, end: Nanos) -> Option<Entry<E>> {
        if self.now.is_empty() && self.now_late.is_empty() {
            let bucket = self.later.iter().position(|bucket| !bucket.is_empty())?;
            let earliest = self.later[bucket].iter().map(|entry| entry.key.at).min().expect("a non-empty bucket");
            if earliest >= end {
                return None;
            }
            let mut entries = std::mem::take(&mut self.later[bucket]);
            self.last = earliest;
            self.now_end = earliest;
            // The events of one instant are gone: the room they took goes too, if large (the
            // instant every peer connects to its tracker's answer kept 150,000 events' room, a
            // third of a 3,000-peer run's memory).
            if self.now.capacity() > KEEP_ROOM {
                self.now = Vec::new();
            }
            if self.now_late.capacity() > KEEP_ROOM {
                self.now_late = BinaryHeap::new();
            }
            if entries.len() <= SORT_WHOLE {
                // All of it, sorted below: the buckets keep only later events, since every one
                // in them differs from `last` in a higher bit than `bucket`.
                self.now_end = entries.iter().map(|entry| entry.key.at).max().expect("a non-empty bucket");
                self.now.append(&mut entries);
            } else {
                // Every entry now differs from `last` in a lower bit than `bucket`, or not at all.
                for entry in entries.drain(..) {
                    match entry.key.at ^ self.last {
                        0 => self.now.push(entry),
                        differ => self.later[Self::bucket(differ)].push(entry),
                    }
                }
            }
            // Its room is kept for the bucket's next events, unless large: a bucket that once
            // held many (at the start, every peer's first messages) would keep that for ever.
            if entries.capacity() <= KEEP_ROOM {
                self.later[bucket] = entries;
            }
            self.now.sort_unstable_by_key(|entry| Reverse(entry.key));
        }
        let sooner_late = heap_first(&self.now_late, self.now.last());
        let next = if sooner_late { self.now_late.peek().map(|Reverse(entry)| entry) } else { self.now.last() };
        if next?.key.at >= end {
            return None;
        }
        if sooner_late { self.now_late.pop().map(|Reverse(entry)| entry) } else { self.now.pop() }
    }

    /// When the earliest event happens.
    pub fn next_time(&self) -> Option<Nanos> {
        let taken = self.ahead.front().map(|entry| entry.key.at);
        let behind = self.behind.peek().map(|Reverse(entry)| entry.key.at);
        if taken.is_some() || behind.is_some() {
            // Both hold events before any still in the buckets.
            return taken.into_iter().chain(behind).min();
        }
        let sorted = self.now.last().map(|entry| entry.key.at);
        let late = self.now_late.peek().map(|Reverse(entry)| entry.key.at);
        if sorted.is_some() || late.is_some() {
            // Both hold events before any still in the buckets.
            return sorted.into_iter().chain(late).min();
        }
        let bucket = self.later.iter().find(|bucket| !bucket.is_empty())?;
        bucket.iter().map(|entry| entry.key.at).min()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Whether the heap's first event comes before `sorted`, the first of a sorted run: the queue
/// merges each of its runs (`ahead`, `now`) with the heap of events pushed within it by key.
fn heap_first<E>(heap: &BinaryHeap<Reverse<Entry<E>>>, sorted: Option<&Entry<E>>) -> bool {
    match (heap.peek(), sorted) {
        (Some(Reverse(first)), Some(sorted)) => first.key < sorted.key,
        (first, _) => first.is_some(),
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn key(at: Nanos, to: u32, from: u32, seq: u64) -> EventKey {
        EventKey { at, to, from, seq }
    }

    #[test]
    fn events_come_out_by_time_then_destination_source_and_sequence() {
        let mut keys = vec![key(5, 1, 1, 0), key(3, 9, 0, 4), key(3, 2, 7, 1), key(3, 2, 7, 0), key(3, 2, 1, 9)];
        let mut queue = EventQueue::new();
        for (index, &key) in keys.iter().enumerate() {
            queue.push(key, index);
        }
        let out: Vec<EventKey> = std::iter::from_fn(|| queue.pop().map(|(key, _)| key)).collect();
        keys.sort();
        assert_eq!(out, keys);
        assert_eq!(out[0], key(3, 2, 1, 9));
    }

    #[test]
    fn the_order_out_does_not_depend_on_the_order_in() {
        let mut rng = Rng::new(11);
        let keys: Vec<EventKey> =
            (0..2_000).map(|seq| key(rng.below(50), rng.below(20) as u32, rng.below(20) as u32, seq)).collect();
        let drain = |keys: &[EventKey]| {
            let mut queue = EventQueue::new();
            keys.iter().for_each(|&key| queue.push(key, key.seq));
            std::iter::from_fn(|| queue.pop()).map(|(key, event)| (key.at, event)).collect::<Vec<_>>()
        };
        let mut shuffled = keys.clone();
        rng.shuffle(&mut shuffled);
        assert_eq!(drain(&keys), drain(&shuffled));
    }

    /// A window's end: nothing at or after `end` comes out, and events may still be pushed
    /// between the last one popped and `end` (another shard's, arriving at the window's end).
    #[test]
    fn pop_before_stops_at_the_window_end_and_leaves_room_behind_it() {
        let mut queue = EventQueue::new();
        for (at, seq) in [(10, 0), (25, 1), (40, 2)] {
            queue.push(key(at, 1, 1, seq), seq);
        }
        assert_eq!(queue.pop_before(20).map(|(key, _)| key.at), Some(10));
        assert_eq!(queue.pop_before(20), None);
        queue.push(key(20, 2, 2, 3), 3); // at the window's end, before the 25 already queued
        queue.push(key(25, 0, 0, 4), 4);
        let rest: Vec<u64> = std::iter::from_fn(|| queue.pop_before(40)).map(|(_, event)| event).collect();
        assert_eq!(rest, vec![3, 4, 1]);
        assert_eq!(queue.pop().map(|(key, _)| key.at), Some(40));
    }

    /// The engine's pattern: pops interleaved with pushes at or after the time popped, times
    /// spread from nanoseconds to hours apart, checked against an ordered set. The radix heap
    /// must give the same events in the same order, and refuse an event in the past.
    #[test]
    fn interleaved_pushes_and_pops_come_out_in_key_order() {
        let mut rng = Rng::new(5);
        let mut queue = EventQueue::new();
        let mut model = std::collections::BTreeSet::new();
        let mut now = 0;
        let mut seq = 0;
        for _ in 0..20_000 {
            if rng.below(3) > 0 || model.is_empty() {
                let ahead = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(1_000),
                    2 => rng.below(50_000_000),
                    _ => rng.below(7_200_000_000_000),
                };
                let key = key(now + ahead, rng.below(8) as u32, rng.below(8) as u32, seq);
                seq += 1;
                queue.push(key, key.seq);
                model.insert(key);
            } else {
                let expected = model.pop_first().unwrap();
                assert_eq!(queue.next_time(), Some(expected.at));
                let (key, event) = queue.pop().unwrap();
                assert_eq!((key, event), (expected, expected.seq));
                now = key.at;
            }
            assert_eq!(queue.len(), model.len());
        }
        while let Some(expected) = model.pop_first() {
            assert_eq!(queue.pop().map(|(key, _)| key), Some(expected));
        }
        assert!(queue.is_empty() && queue.pop().is_none());
        let past = std::panic::catch_unwind(move || {
            let mut queue = EventQueue::new();
            queue.push(key(10, 0, 0, 0), ());
            queue.pop();
            queue.push(key(9, 0, 0, 1), ());
        });
        assert!(past.is_err(), "an event before the last popped was taken");
    }
}
