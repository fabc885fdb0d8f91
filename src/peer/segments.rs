//! Which segments of a file a peer holds: a bitset of atomic words.
//!
//! One writer (the download scheduler) marks segments as they arrive while the upload server
//! reads them to answer requests, with no lock. A segment once marked is never unmarked.

use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const WORD_BITS: u32 = 64;

/// The same layout in plain words, as `SegmentSet::words_into` writes them and the wire carries them
/// (bit `i` of word `i / 64` for segment `i`): for one thread's own sets, such as a bitfield a
/// holder sent. Segments past the words are never in them, and setting or clearing one does
/// nothing.
pub mod bits {
    use super::WORD_BITS;

    /// How many words hold `len` segments.
    pub fn words_for(len: u32) -> usize {
        len.div_ceil(WORD_BITS) as usize
    }

    /// The word a segment lives in, and its bit there.
    pub(super) fn locate(segment: u32) -> (usize, u64) {
        ((segment / WORD_BITS) as usize, 1 << (segment % WORD_BITS))
    }

    pub fn test(words: &[u64], segment: u32) -> bool {
        let (word, bit) = locate(segment);
        words.get(word).is_some_and(|word| word & bit != 0)
    }

    pub fn set(words: &mut [u64], segment: u32) {
        let (word, bit) = locate(segment);
        if let Some(word) = words.get_mut(word) {
            *word |= bit;
        }
    }

    pub fn clear(words: &mut [u64], segment: u32) {
        let (word, bit) = locate(segment);
        if let Some(word) = words.get_mut(word) {
            *word &= !bit;
        }
    }
}

pub struct SegmentSet {
    words: Box<[AtomicU64]>,
    len: u32,
    held: AtomicU32,
}

/// What marking a segment changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// It was already held: nothing changed.
    AlreadyHeld,
    /// Newly held; the file is not complete yet.
    Added,
    /// Newly held, and this was the last missing segment. Exactly one mark of a set returns this.
    Completed,
}

impl SegmentSet {
    /// Asks for its words, without waiting for them (`crate::prefetch`).
    pub fn warm(&self) {
        crate::prefetch::slice(&self.words);
    }

    /// A set with none of `len` segments held.
    pub fn empty(len: u32) -> SegmentSet {
        let words = (0..bits::words_for(len)).map(|_| AtomicU64::new(0)).collect();
        SegmentSet { words, len, held: AtomicU32::new(0) }
    }

    /// A set with all `len` segments held (a file owned whole).
    pub fn full(len: u32) -> SegmentSet {
        let words = (0..bits::words_for(len) as u32)
            .map(|word| {
                let bits_in_word = (len - word * WORD_BITS).min(WORD_BITS);
                AtomicU64::new(if bits_in_word == WORD_BITS { u64::MAX } else { (1u64 << bits_in_word) - 1 })
            })
            .collect();
        SegmentSet { words, len, held: AtomicU32::new(len) }
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn locate(&self, segment: u32) -> Option<(&AtomicU64, u64)> {
        if segment >= self.len {
            return None;
        }
        let (word, bit) = bits::locate(segment);
        Some((&self.words[word], bit))
    }

    /// Whether `segment` is held. Out-of-range segments are never held.
    pub fn contains(&self, segment: u32) -> bool {
        // Acquire pairs with the Release in `mark`: a reader that sees the bit also sees
        // everything the writer did before marking (in a real client, the segment's bytes).
        self.locate(segment).is_some_and(|(word, bit)| word.load(Ordering::Acquire) & bit != 0)
    }

    /// Marks `segment` as held. Out-of-range segments are ignored (reported as already held).
    pub fn mark(&self, segment: u32) -> Marked {
        let Some((word, bit)) = self.locate(segment) else {
            return Marked::AlreadyHeld;
        };
        // Release publishes what the writer did before marking to readers that Acquire the bit.
        if word.fetch_or(bit, Ordering::Release) & bit != 0 {
            return Marked::AlreadyHeld;
        }
        // AcqRel: the marker that brings the count to `len` must see every other mark's count
        // increment before it (the read half), and publishes its own (the write half), so that
        // exactly one marker sees the last increment and reports completion.
        if self.held.fetch_add(1, Ordering::AcqRel) + 1 == self.len { Marked::Completed } else { Marked::Added }
    }

    /// The whole set as bitset words (bit `i` of word `i / 64` for segment `i`), for telling
    /// another peer what this one has, written over `words` (its room reused; exactly the room
    /// needed if it must grow). Each word is read with Acquire, as `contains` reads it; words
    /// read one after another may be from slightly different moments, which is fine for a set
    /// that only grows: every bit seen is held.
    pub fn words_into(&self, words: &mut Vec<u64>) {
        words.clear();
        words.reserve_exact(self.words.len());
        words.extend(self.words.iter().map(|word| word.load(Ordering::Acquire)));
    }

    /// How many segments are held.
    pub fn held(&self) -> u32 {
        // Acquire: a reader that sees the full count also sees every bit set before it counted.
        self.held.load(Ordering::Acquire)
    }

    pub fn is_complete(&self) -> bool {
        self.held() == self.len
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn full_sets_hold_everything_and_nothing_more() {
        for len in [0, 1, 63, 64, 65, 128, 1000] {
            let set = SegmentSet::full(len);
            assert!(set.is_complete());
            assert!((0..len).all(|segment| set.contains(segment)), "{len}");
            assert!(!set.contains(len));
            assert_eq!(set.mark(len), Marked::AlreadyHeld);
        }
    }

    #[test]
    fn marking_counts_once_and_completes_once() {
        let set = SegmentSet::empty(130);
        assert!(!set.contains(5));
        let mut completions = 0;
        for segment in (0..130).rev() {
            assert_ne!(set.mark(segment), Marked::AlreadyHeld);
            assert_eq!(set.mark(segment), Marked::AlreadyHeld);
            completions += (set.is_complete()) as u32;
        }
        assert_eq!(completions, 1);
        assert_eq!(set.held(), 130);
        let single = SegmentSet::empty(1);
        assert_eq!(single.mark(0), Marked::Completed);
    }
}
