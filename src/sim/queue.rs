//! The simulated engine's events in the order they happen.
//!
//! The order is total and does not depend on where peers run: by time, then by the destination
//! peer, the source peer and the source's own sequence number (DESIGN.md). Two events never
//! share a key, since a source numbers what it sends, so the run is the same whatever order
//! events were pushed in, and whichever shard or thread pushed them.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::link::Nanos;

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

/// An event and its key, ordered by the key alone.
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
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// Numbers the events each peer causes, so that every key is unique.
#[derive(Debug, Default)]
pub struct Sequencer {
    next: Vec<u64>,
}

impl Sequencer {
    pub fn new(peers: usize) -> Sequencer {
        Sequencer { next: vec![0; peers] }
    }

    /// The key of the next event `from` causes for `to` at `at`.
    pub fn key(&mut self, at: Nanos, to: u32, from: u32) -> EventKey {
        let counter = &mut self.next[from as usize];
        let seq = *counter;
        *counter += 1;
        EventKey { at, to, from, seq }
    }
}

/// Pending events, earliest first.
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Entry<E>>>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new() }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, key: EventKey, event: E) {
        self.heap.push(Reverse(Entry { key, event }));
    }

    /// The earliest event, taken off the queue.
    pub fn pop(&mut self) -> Option<(EventKey, E)> {
        self.heap.pop().map(|Reverse(entry)| (entry.key, entry.event))
    }

    /// When the earliest event happens.
    pub fn next_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|Reverse(entry)| entry.key.at)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
