//! `Message::decode` under a fuzzer: valid messages of every kind, then the same bytes damaged
//! (bits flipped, bytes overwritten, cut short, lengthened, chunks inserted, dropped or doubled,
//! count fields overwritten with hostile values), and plain random bytes. For every input:
//!
//! - decode returns, never panics;
//! - a valid message decodes to itself, and anything that decodes re-encodes to exactly the bytes
//!   it came from (the encoding is canonical: no trailing bytes, booleans 0 or 1);
//! - no decoded list holds more room than the input could fill (its capacity times its items'
//!   smallest size on the wire is at most the input's length), and no allocation made while
//!   decoding, the refused inputs' included, exceeds the input's length times the largest ratio
//!   of an item's size in memory to its smallest size on the wire, plus room for an error's text.
//!   A count field claiming four billion items is refused before anything is allocated.
//!
//! `FUZZ_CASES` (default 200000: seconds in a release build) sets the number of inputs,
//! `FUZZ_SEED` the seed; `make fuzz` runs a million or more. A failure prints the seed, the
//! case number and the input in hex.
// Part of the ordinary test run; a `--features loom` build runs only the models in loom-tests/.
#![cfg(not(feature = "loom"))]
// A test binary of its own, with a counting allocator; std's types are right here (the sync
// shim exists for loom's models of the program's threads).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
// A global allocator is `unsafe` to implement: this one only counts, then hands every call to
// the system's allocator unchanged (or refuses it with a null pointer, which callers handle).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::mem::size_of;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use bitorrent::model::{FileId, FileName, OwnedFile, PeerId, SegmentHash};
use bitorrent::rng::Rng;
use bitorrent::wire::{FileSources, Holder, Message, MessageKind, PeerReport};

// ---------------------------------------------------------------------------------------------
// The largest allocation a thread makes while it watches.

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// What decode may never ask for at once, whatever the input: refused (the process then aborts
/// with "memory allocation of N bytes failed"), so that a missing count check fails the test on
/// any machine rather than only where the memory runs out.
const REFUSED: usize = 1 << 30;

/// Notes an allocation of `size` bytes; whether to refuse it.
fn note(size: usize) -> bool {
    // `try_with`: an allocation during the thread's teardown finds no thread-local; ignore it.
    WATCHING
        .try_with(|watching| {
            if watching.get() {
                let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
            }
            watching.get() && size >= REFUSED
        })
        .unwrap_or(false)
}

// SAFETY: every method passes its arguments unchanged to `System`, which upholds the contract;
// a refusal returns null, which `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on to the system allocator unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if note(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on to the system allocator unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on to the system allocator unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Decodes `bytes`, catching a panic; with the largest single allocation made meanwhile.
fn decode_watched(bytes: &[u8]) -> (std::thread::Result<Result<Message, bitorrent::wire::DecodeError>>, usize) {
    LARGEST.with(|largest| largest.set(0));
    WATCHING.with(|watching| watching.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| Message::decode(bytes)));
    WATCHING.with(|watching| watching.set(false));
    (result, LARGEST.with(Cell::get))
}

// ---------------------------------------------------------------------------------------------
// Sizes: what an item takes in memory against the least it takes on the wire.

/// The smallest wire size of an item of each list the decoder reads (see src/wire.rs's encoding).
const WIRE_OWNED_FILE: usize = 4 + 4; // a name's length and a hash count, both possibly 0 items
const WIRE_NAME_ID: usize = 4 + 4;
const WIRE_HOLDER: usize = 4 + 1;
const WIRE_SOURCES: usize = 4 + 4;
const WIRE_COUNT: usize = 4 + 4;
const WIRE_WORD: usize = 8;

/// The most bytes of memory a decoded list can take per byte of input.
fn amplification() -> usize {
    [
        size_of::<OwnedFile>().div_ceil(WIRE_OWNED_FILE),
        size_of::<(FileName, FileId)>().div_ceil(WIRE_NAME_ID),
        size_of::<Holder>().div_ceil(WIRE_HOLDER),
        size_of::<SegmentHash>().div_ceil(SegmentHash::LEN),
        size_of::<FileSources>().div_ceil(WIRE_SOURCES),
        size_of::<(PeerId, u32)>().div_ceil(WIRE_COUNT),
        size_of::<u64>().div_ceil(WIRE_WORD),
        1, // a name's bytes
    ]
    .into_iter()
    .max()
    .unwrap()
}

/// Room for an error's text beyond the lists: a refused name is quoted in it (at most 200 bytes,
/// each control character escaped in up to ten), and formatting grows a String by doubling.
const ERROR_TEXT: usize = 4096;

/// Every list in `message` holds no more room than `input_len` bytes could fill.
fn capacities_fit(message: &Message, input_len: usize) -> Result<(), String> {
    let check = |what: &str, capacity: usize, wire: usize| {
        if capacity * wire > input_len {
            Err(format!("{what}: capacity {capacity} x {wire} wire bytes > input of {input_len}"))
        } else {
            Ok(())
        }
    };
    let name = |name: &FileName| check("a name", name.as_str().len(), 1);
    match message {
        Message::Register { owned, wanted } => {
            check("register.owned", owned.capacity(), WIRE_OWNED_FILE)?;
            check("register.wanted", wanted.capacity(), 4)?;
            for file in owned {
                name(&file.name)?;
                check("register.owned.hashes", file.hashes.capacity(), SegmentHash::LEN)?;
            }
            wanted.iter().try_for_each(name)
        }
        Message::Go { owned } => {
            check("go.owned", owned.capacity(), WIRE_NAME_ID)?;
            owned.iter().try_for_each(|(file, _)| name(file))
        }
        Message::Swarm { name: file, hashes, holders, .. } => {
            name(file)?;
            check("swarm.hashes", hashes.capacity(), SegmentHash::LEN)?;
            check("swarm.holders", holders.capacity(), WIRE_HOLDER)
        }
        Message::SwarmUpdate { changes, .. } => check("swarm_update.changes", changes.capacity(), WIRE_HOLDER),
        Message::SegmentReply { held, .. } => check("segment_reply.held", held.capacity(), WIRE_WORD),
        Message::Report(report) => {
            check("report.sources", report.sources.capacity(), WIRE_SOURCES)?;
            check("report.sent", report.sent.capacity(), WIRE_WORD)?;
            for file in &report.sources {
                check("report.sources.counts", file.counts.capacity(), WIRE_COUNT)?;
            }
            Ok(())
        }
        Message::SwarmRefresh { .. }
        | Message::SegmentRequest { .. }
        | Message::FileComplete { .. }
        | Message::AllDone
        | Message::Stop => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Valid messages

struct Gen(Rng);

impl Gen {
    fn below(&mut self, bound: u64) -> u64 {
        self.0.below(bound)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn u32(&mut self) -> u32 {
        match self.below(4) {
            0 => self.below(8) as u32,
            1 => u32::MAX - self.below(3) as u32,
            _ => self.0.next_u64() as u32,
        }
    }
    fn u64(&mut self) -> u64 {
        if self.chance(50) { self.below(1000) } else { self.0.next_u64() }
    }
    /// A list length: mostly short, sometimes long.
    fn len(&mut self) -> usize {
        match self.below(10) {
            0 => 0,
            1..=7 => 1 + self.below(6) as usize,
            8 => self.below(64) as usize,
            _ => self.below(400) as usize,
        }
    }
    fn name(&mut self) -> FileName {
        const PLAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
        let len = if self.chance(5) { FileName::MAX_LEN - self.below(3) as usize } else { 1 + self.below(12) as usize };
        loop {
            let mut text = String::new();
            while text.len() < len {
                if self.chance(3) {
                    text.push(['é', 'ß', '名', '🦀'][self.below(4) as usize]);
                } else {
                    text.push(PLAIN[self.below(PLAIN.len() as u64) as usize] as char);
                }
            }
            while text.len() > len {
                text.pop();
            }
            if let Ok(name) = FileName::new(&text) {
                return name;
            }
        }
    }
    fn hash(&mut self) -> SegmentHash {
        let mut bytes = [0u8; SegmentHash::LEN];
        for byte in &mut bytes {
            *byte = b'!' + self.below(94) as u8; // printable, not a space
        }
        SegmentHash(bytes)
    }
    fn hashes(&mut self) -> Vec<SegmentHash> {
        let len = self.len();
        (0..len).map(|_| self.hash()).collect()
    }
    fn holders(&mut self) -> Vec<Holder> {
        let len = self.len();
        (0..len).map(|_| Holder { peer: PeerId(self.u32()), seed: self.chance(50) }).collect()
    }
    fn names(&mut self) -> Vec<FileName> {
        let len = self.len().min(20);
        (0..len).map(|_| self.name()).collect()
    }

    fn message(&mut self, kind: MessageKind) -> Message {
        match kind {
            MessageKind::Register => {
                let files = self.len().min(8);
                Message::Register {
                    owned: (0..files).map(|_| OwnedFile { name: self.name(), hashes: self.hashes() }).collect(),
                    wanted: self.names(),
                }
            }
            MessageKind::Go => {
                let files = self.len().min(20);
                Message::Go { owned: (0..files).map(|_| (self.name(), FileId(self.u32()))).collect() }
            }
            MessageKind::Swarm => Message::Swarm {
                file: FileId(self.u32()),
                name: self.name(),
                hashes: self.hashes().into(),
                holders: self.holders(),
                version: self.u32(),
            },
            MessageKind::SwarmRefresh => Message::SwarmRefresh { file: FileId(self.u32()), seen: self.u32() },
            MessageKind::SwarmUpdate => {
                Message::SwarmUpdate { file: FileId(self.u32()), changes: self.holders(), version: self.u32() }
            }
            MessageKind::SegmentRequest => Message::SegmentRequest {
                file: FileId(self.u32()),
                segment: self.u32(),
                with_bitfield: self.chance(50),
            },
            MessageKind::SegmentReply => {
                let words = self.len();
                Message::SegmentReply {
                    file: FileId(self.u32()),
                    segment: self.u32(),
                    granted: self.chance(50),
                    load: self.u32(),
                    held: (0..words).map(|_| self.u64()).collect(),
                }
            }
            MessageKind::FileComplete => Message::FileComplete { file: FileId(self.u32()) },
            MessageKind::AllDone => Message::AllDone,
            MessageKind::Stop => Message::Stop,
            MessageKind::Report => {
                let files = self.len().min(16);
                let sources = (0..files)
                    .map(|_| {
                        let sources = self.len().min(64);
                        FileSources {
                            file: FileId(self.u32()),
                            counts: (0..sources).map(|_| (PeerId(self.u32()), self.u32())).collect(),
                        }
                    })
                    .collect();
                let kinds = if self.chance(80) { MessageKind::ALL.len() } else { self.len() };
                Message::Report(PeerReport {
                    uploaded: self.u64(),
                    refused: self.u64(),
                    downloaded: self.u64(),
                    requests: self.u64(),
                    sources,
                    sent: (0..kinds).map(|_| self.u64()).collect(),
                })
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Damage

    /// A count or length as an attacker would write it.
    fn hostile_count(&mut self, len: usize) -> u32 {
        match self.below(8) {
            0 => u32::MAX,
            1 => 1 << 31,
            2 => 0,
            3 => 1 + self.below(3) as u32,
            4 => len as u32 + self.below(3) as u32,
            5 => (len as u32 / 8).wrapping_add(self.below(3) as u32),
            6 => (len as u32 / 5).wrapping_add(1),
            _ => self.0.next_u64() as u32,
        }
    }

    /// One to four damages to `bytes`.
    fn mutate(&mut self, bytes: &mut Vec<u8>) -> &'static str {
        let mut last = "";
        for _ in 0..1 + self.below(4) {
            let len = bytes.len();
            let at = |g: &mut Gen, end: usize| if end == 0 { 0 } else { g.below(end as u64) as usize };
            last = match self.below(10) {
                0 if len > 0 => {
                    let i = at(self, len);
                    bytes[i] ^= 1 << self.below(8);
                    "bit flip"
                }
                1 if len > 0 => {
                    let i = at(self, len);
                    bytes[i] = [0, 1, 2, 0x7f, 0x80, 0xff, b'/', b'.', self.0.next_u64() as u8][self.below(9) as usize];
                    "byte overwritten"
                }
                2 => {
                    let cut = at(self, len + 1);
                    bytes.truncate(cut);
                    "truncated"
                }
                3 => {
                    for _ in 0..1 + self.below(16) {
                        bytes.push(self.0.next_u64() as u8);
                    }
                    "extended"
                }
                4 | 5 if len >= 4 => {
                    // Most u32s in a message are counts or lengths; any may be hit.
                    let i = at(self, len - 3);
                    let value = self.hostile_count(len);
                    bytes[i..i + 4].copy_from_slice(&value.to_le_bytes());
                    "count overwritten"
                }
                6 => {
                    let i = at(self, len + 1);
                    let chunk: Vec<u8> = (0..1 + self.below(8)).map(|_| self.0.next_u64() as u8).collect();
                    bytes.splice(i..i, chunk);
                    "bytes inserted"
                }
                7 if len > 0 => {
                    let i = at(self, len);
                    let end = (i + 1 + self.below(8) as usize).min(len);
                    bytes.drain(i..end);
                    "bytes dropped"
                }
                8 if len > 0 => {
                    let i = at(self, len);
                    let end = (i + 1 + self.below(16) as usize).min(len);
                    let chunk = bytes[i..end].to_vec();
                    bytes.splice(end..end, chunk);
                    "bytes doubled"
                }
                _ if len > 0 => {
                    bytes[0] = self.below(MessageKind::ALL.len() as u64 + 2) as u8;
                    "tag changed"
                }
                _ => {
                    bytes.push(self.below(MessageKind::ALL.len() as u64) as u8);
                    "tag added"
                }
            };
        }
        last
    }
}

// ---------------------------------------------------------------------------------------------

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.trim().replace('_', "").parse().unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[derive(Default)]
struct Tally {
    cases: u64,
    valid: u64,
    decoded: u64,
    errors: BTreeMap<String, u64>,
    damages: BTreeMap<&'static str, u64>,
    largest_ratio: f64,
    largest_alloc: usize,
}

/// Judges one input: no panic, a canonical decode, lists and allocations within bounds.
/// `expected`: the message it must decode to (undamaged inputs).
fn judge(bytes: &[u8], expected: Option<&Message>, tally: &mut Tally, case: &dyn Fn() -> String) {
    let (result, largest) = decode_watched(bytes);
    let fail = |why: String| -> ! { panic!("{why}\n{}\ninput ({} bytes): {}", case(), bytes.len(), hex(bytes)) };
    let decoded = match result {
        Ok(decoded) => decoded,
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                .unwrap_or_default();
            fail(format!("decode panicked: {text}"))
        }
    };
    let bound = bytes.len() * amplification() + ERROR_TEXT;
    if largest > bound {
        fail(format!("decode allocated {largest} bytes at once; the bound is {bound}"));
    }
    if !bytes.is_empty() {
        let ratio = largest as f64 / bytes.len() as f64;
        if ratio > tally.largest_ratio && bytes.len() >= 64 {
            tally.largest_ratio = ratio;
        }
    }
    tally.largest_alloc = tally.largest_alloc.max(largest);
    match (decoded, expected) {
        (Ok(message), expected) => {
            if let Some(expected) = expected
                && &message != expected
            {
                fail(format!("decoded {message:?}, not the encoded {expected:?}"));
            }
            if message.encode() != bytes {
                fail(format!("decoded {message:?}, which encodes to other bytes"));
            }
            if let Err(why) = capacities_fit(&message, bytes.len()) {
                fail(why);
            }
            tally.decoded += 1;
        }
        (Err(error), Some(expected)) => fail(format!("a valid {expected:?} was refused: {error}")),
        (Err(error), None) => {
            // By variant: the text after the first parenthesis or space varies.
            let variant = format!("{error:?}");
            let variant = variant.split(['(', ' ', '{']).next().unwrap_or_default().to_string();
            *tally.errors.entry(variant).or_default() += 1;
        }
    }
    tally.cases += 1;
}

fn run(cases: u64, seed: u64) -> Tally {
    let mut maker = Gen(Rng::new(seed));
    let mut tally = Tally::default();
    let mut case = 0u64;
    while tally.cases < cases {
        case += 1;
        let number = case;
        let kind = MessageKind::ALL[(case % MessageKind::ALL.len() as u64) as usize];
        let message = maker.message(kind);
        let valid = message.encode();
        judge(&valid, Some(&message), &mut tally, &|| format!("seed {seed}, case {number}, valid {kind:?}"));
        tally.valid += 1;
        // Each valid message, damaged several times over, and now and then plain noise.
        for round in 0..4 {
            let mut bytes = valid.clone();
            let damage = maker.mutate(&mut bytes);
            *tally.damages.entry(damage).or_default() += 1;
            judge(&bytes, None, &mut tally, &|| format!("seed {seed}, case {number}.{round}, {kind:?} after {damage}"));
        }
        if case.is_multiple_of(8) {
            let len = maker.below(96) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| maker.0.next_u64() as u8).collect();
            if let Some(first) = bytes.first_mut() {
                *first %= MessageKind::ALL.len() as u8 + 1;
            }
            judge(&bytes, None, &mut tally, &|| format!("seed {seed}, case {number}, random bytes"));
        }
    }
    tally
}

#[test]
fn decode_survives_valid_damaged_and_random_messages() {
    let cases = env_number("FUZZ_CASES", 200_000);
    let seed = env_number("FUZZ_SEED", 0x5EED_F00D);
    let started = Instant::now();
    let tally = run(cases, seed);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "fuzz_wire: {} inputs (seed {seed}) in {seconds:.1} s: {} valid, {} decoded in all, {} refused",
        tally.cases,
        tally.valid,
        tally.decoded,
        tally.cases - tally.decoded
    );
    println!("  refused as: {:?}", tally.errors);
    println!("  damages (the last of each input's): {:?}", tally.damages);
    println!(
        "  largest allocation while decoding: {} bytes; largest per input byte (inputs of 64+ bytes): {:.2} (bound {})",
        tally.largest_alloc,
        tally.largest_ratio,
        amplification()
    );
    // The damage reached every check of the decoder.
    for variant in ["Empty", "UnknownTag", "Truncated", "Trailing", "ImpossibleCount", "BadName", "BadHash", "BadBool"]
    {
        assert!(
            tally.errors.get(variant).is_some_and(|&n| n > 0) || cases < 10_000,
            "no input was refused as {variant}"
        );
    }
}

/// Every u32 of every kind of message, overwritten with a huge count: refused, and before
/// anything of that size is allocated.
#[test]
fn a_huge_count_anywhere_is_refused_without_allocating() {
    let mut maker = Gen(Rng::new(7));
    let mut tally = Tally::default();
    for kind in MessageKind::ALL {
        for _ in 0..20 {
            let message = maker.message(kind);
            let valid = message.encode();
            for at in 1..valid.len().saturating_sub(3) {
                for huge in [u32::MAX, 1 << 31, 1 << 28] {
                    let mut bytes = valid.clone();
                    bytes[at..at + 4].copy_from_slice(&huge.to_le_bytes());
                    judge(&bytes, None, &mut tally, &|| format!("{kind:?} with {huge} at byte {at}"));
                }
            }
        }
    }
    assert!(tally.largest_alloc < 1 << 20, "an allocation of {} bytes", tally.largest_alloc);
}
