//! Segments waiting to be requested, in the piece policy's order: a queue of segment numbers,
//! two bytes each when the file has at most 65,536 segments (every course file, and a 100 MiB
//! file of 256 KiB pieces has 400), four otherwise. A simulated peer keeps one for every file it
//! downloads, as long as the file, and four bytes a segment were a fifth of its memory.

use std::collections::VecDeque;

/// The room an emptied queue keeps (`SegmentQueue::shrink`): 32 bytes for a narrow queue.
const KEPT_ROOM: usize = 16;

#[derive(Debug, Clone)]
pub enum SegmentQueue {
    Narrow(VecDeque<u16>),
    Wide(VecDeque<u32>),
}

impl SegmentQueue {
    /// An empty queue for a file of `segments` segments.
    pub fn for_file(segments: u32) -> SegmentQueue {
        if segments <= 1 << 16 { SegmentQueue::Narrow(VecDeque::new()) } else { SegmentQueue::Wide(VecDeque::new()) }
    }

    /// `order` (segments of a file of `segments`), in that order.
    pub fn from_order(order: &[u32], segments: u32) -> SegmentQueue {
        match SegmentQueue::for_file(segments) {
            SegmentQueue::Narrow(_) => SegmentQueue::Narrow(order.iter().map(|&segment| narrow(segment)).collect()),
            SegmentQueue::Wide(_) => SegmentQueue::Wide(order.iter().copied().collect()),
        }
    }

    pub fn front(&self) -> Option<u32> {
        match self {
            SegmentQueue::Narrow(queue) => queue.front().map(|&segment| u32::from(segment)),
            SegmentQueue::Wide(queue) => queue.front().copied(),
        }
    }

    /// Asks for the segment at the front, without waiting for it (`crate::prefetch`): the
    /// queue is an allocation of its own, and its front moves through it, so the next request
    /// finds it out of cache (a quarter of the scheduler's decision waited on it).
    pub fn warm(&self) {
        match self {
            SegmentQueue::Narrow(queue) => queue.front().map(crate::prefetch::value),
            SegmentQueue::Wide(queue) => queue.front().map(crate::prefetch::value),
        };
    }

    pub fn pop_front(&mut self) -> Option<u32> {
        match self {
            SegmentQueue::Narrow(queue) => queue.pop_front().map(u32::from),
            SegmentQueue::Wide(queue) => queue.pop_front(),
        }
    }

    pub fn push_front(&mut self, segment: u32) {
        match self {
            SegmentQueue::Narrow(queue) => queue.push_front(narrow(segment)),
            SegmentQueue::Wide(queue) => queue.push_front(segment),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            SegmentQueue::Narrow(queue) => queue.len(),
            SegmentQueue::Wide(queue) => queue.len(),
        }
    }

    /// Moves every segment of `other` behind this queue's, in order.
    pub fn append(&mut self, other: &mut SegmentQueue) {
        match (self, other) {
            (SegmentQueue::Narrow(to), SegmentQueue::Narrow(from)) => to.append(from),
            (SegmentQueue::Wide(to), SegmentQueue::Wide(from)) => to.append(from),
            _ => unreachable!("the queues of one file have one width"),
        }
    }

    /// Gives back the room the queue does not use, but for a few segments' (`KEPT_ROOM`): an
    /// emptied queue soon takes a segment or two back (a refusal puts its segment in front), and
    /// with no room kept, each one was an allocation and the next emptying its release (a
    /// fifth of a run's allocations at 10,000 course leechers).
    pub fn shrink(&mut self) {
        match self {
            SegmentQueue::Narrow(queue) => queue.shrink_to(KEPT_ROOM),
            SegmentQueue::Wide(queue) => queue.shrink_to(KEPT_ROOM),
        }
    }

    /// The segments it has room for without growing.
    #[cfg(all(test, not(feature = "loom")))]
    fn capacity(&self) -> usize {
        match self {
            SegmentQueue::Narrow(queue) => queue.capacity(),
            SegmentQueue::Wide(queue) => queue.capacity(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (narrow, wide) = match self {
            SegmentQueue::Narrow(queue) => (Some(queue.iter().map(|&segment| u32::from(segment))), None),
            SegmentQueue::Wide(queue) => (None, Some(queue.iter().copied())),
        };
        narrow.into_iter().flatten().chain(wide.into_iter().flatten())
    }
}

fn narrow(segment: u32) -> u16 {
    u16::try_from(segment).expect("a narrow queue's file has at most 65,536 segments")
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn both_widths_keep_the_order_given_and_take_segments_back_in_front() {
        for segments in [400, 70_000] {
            let order: Vec<u32> = vec![3, 399, 0, 17];
            let mut queue = SegmentQueue::from_order(&order, segments);
            assert_eq!(matches!(queue, SegmentQueue::Narrow(_)), segments <= 1 << 16);
            assert_eq!(queue.iter().collect::<Vec<_>>(), order);
            assert_eq!(queue.pop_front(), Some(3));
            queue.push_front(399);
            assert_eq!(queue.front(), Some(399));
            let mut behind = SegmentQueue::from_order(&[5], segments);
            queue.append(&mut behind);
            assert!(behind.is_empty());
            assert_eq!(queue.iter().collect::<Vec<_>>(), vec![399, 399, 0, 17, 5]);
            assert_eq!(queue.len(), 5);
        }
        let wide = SegmentQueue::from_order(&[69_999], 70_000);
        assert_eq!(wide.front(), Some(69_999));
    }

    #[test]
    fn an_emptied_queue_gives_back_its_room_but_a_few_segments() {
        let order: Vec<u32> = (0..400).collect();
        let mut queue = SegmentQueue::from_order(&order, 400);
        while queue.pop_front().is_some() {}
        assert!(queue.capacity() >= 400);
        queue.shrink();
        assert!((KEPT_ROOM..2 * KEPT_ROOM).contains(&queue.capacity()), "room for {}", queue.capacity());
        // What it keeps takes a few refused segments back without growing.
        for segment in 0..KEPT_ROOM as u32 {
            queue.push_front(segment);
        }
        let kept = queue.capacity();
        while queue.pop_front().is_some() {}
        queue.shrink();
        assert_eq!(queue.capacity(), kept, "a small room is kept, not given back and taken again");
    }
}
