//! BitTorrent's own algorithms, as a sans-IO protocol core: a peer's connections, bitfields and
//! `have`s, its piece picker (rarest first, random, in order; endgame), its choker (tit-for-tat
//! with an optimistic unchoke and anti-snubbing; round robin as a seed), and the tracker that
//! hands out peer sets.
//!
//! Like the course protocol's core (`tracker`, `peer::scheduler`), nothing here reads a clock,
//! sends, or touches a thread: a peer takes the time and an event (a message, a block, a timer)
//! and returns what to send and when to be woken. The simulated engine drives it
//! (`sim::shard`); the sources each rule follows are in the README, "BitTorrent's algorithms".

pub mod choker;
pub mod message;
pub mod peer;
pub mod picker;
pub mod policy;
pub mod tracker;
