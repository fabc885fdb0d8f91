//! Hints that bring memory into the cache before it is read, without waiting for it.
//!
//! The simulated engine handles its events in time order, and consecutive events belong to
//! peers far apart in memory: at 100,000 peers nearly all of an event's time was the wait for
//! the first touch of its peer's state, each load waiting on the one before it
//! (docs/performance.md). The events of a window are known before they are handled, so the
//! shard asks for the state of the peers a few events ahead while it handles the current one
//! (`sim::shard`, `run_window`); these are the hints it uses.
//!
//! A hint changes no value and cannot fault, whatever the address: it is a request to the cache.
//! On processors other than x86-64 it does nothing.

/// The bytes of a cache line, on the processors this runs on.
const LINE: usize = 64;

/// The most lines a hint for one value asks for: a peer's largest parts are a few lines, and a
/// hint for a long vector would flood the cache with lines that are not read soon.
const MOST_LINES: usize = 20;

/// Asks for the cache lines of `value` (up to `MOST_LINES`); a trait object's too.
#[inline(always)]
pub fn value<T: ?Sized>(value: &T) {
    bytes(value as *const T as *const u8, size_of_val(value));
}

/// Asks for the cache lines of the first items of `items` (up to `MOST_LINES`).
#[inline(always)]
pub fn slice<T>(items: &[T]) {
    bytes(items.as_ptr() as *const u8, size_of_val(items));
}

#[inline(always)]
fn bytes(start: *const u8, len: usize) {
    let (back, lines) = lines_of(start as usize, len);
    let first = start.wrapping_sub(back);
    for line in 0..lines {
        line_at(first.wrapping_add(line * LINE));
    }
}

/// The lines that bytes `start .. start + len` lie on (up to `MOST_LINES`): how far the first
/// line begins before `start`, and how many lines. Counted from the line `start` is on, not
/// from `start`: a value seldom begins a line (the allocator aligns to 16 bytes), and counted
/// from `start`, a 256-byte link on five lines had its last one, where its capacity is, left
/// out.
#[inline(always)]
fn lines_of(start: usize, len: usize) -> (usize, usize) {
    let back = start % LINE;
    let lines = if len == 0 { 0 } else { (back + len).div_ceil(LINE).min(MOST_LINES) };
    (back, lines)
}

#[inline(always)]
fn line_at(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        #[allow(unsafe_code)]
        // SAFETY: a prefetch reads nothing the program sees and never faults, whatever the
        // address (Intel's and AMD's manuals: it is a hint, dropped if the address is invalid);
        // SSE, which it needs, is part of every x86-64 processor.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(address as *const i8)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn every_line_a_value_lies_on_is_asked_for() {
        for start in 4096..4096 + 2 * LINE {
            for len in 0..8 * LINE {
                let (back, lines) = lines_of(start, len);
                let first = start - back;
                assert_eq!(first % LINE, 0, "a line's start");
                assert!(
                    len == 0 || first + lines * LINE >= start + len,
                    "{len} bytes at {start}: the last line left out"
                );
                assert!(
                    lines == 0 || first + (lines - 1) * LINE < start + len,
                    "{len} bytes at {start}: a line too many"
                );
                assert_eq!(lines == 0, len == 0, "nothing asked for nothing");
            }
        }
        assert_eq!(lines_of(0, 1 << 20).1, MOST_LINES, "a long slice is cut");
    }
}
