//! What a simulated run produced, peer by peer: the engine's answer, before it is written out.

use super::link::Nanos;

/// One peer's run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerOutcome {
    /// When it held everything it wanted (`Some(0)` for a peer that wanted nothing).
    pub done_at: Option<Nanos>,
    /// Bytes of pieces it sent (each counted once it left its uplink).
    pub uploaded_bytes: u64,
    /// Bytes of pieces it received, each once.
    pub downloaded_bytes: u64,
    /// Bytes of blocks it received that it had already (BitTorrent's endgame and chokes make
    /// some); the course protocol makes none.
    pub duplicate_bytes: u64,
    /// What BitTorrent's algorithms add; None under the course protocol.
    pub bittorrent: Option<BitTorrentOutcome>,
}

/// A BitTorrent peer's figures, each up to the run's end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BitTorrentOutcome {
    /// While it downloaded, the mean fraction of its connections it was interested in, in
    /// millionths (sampled at each rechoke); None if it never was sampled (a seed).
    pub interest_ppm: Option<u32>,
    /// By class (an index in the scenario's classes): the time it gave peers of that class in
    /// regular (not optimistic) unchokes, summed over its connections.
    pub regular_unchoke_ns: Vec<u64>,
    /// For a peer that held the file from the start: payload bytes of blocks it sent again
    /// before every block had gone out once, and when the last one first went out.
    pub first_copies: Option<FirstCopiesOutcome>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FirstCopiesOutcome {
    pub repeat_bytes: u64,
    pub all_out_at: Option<Nanos>,
    /// Payload bytes it sent before the first leecher completed the file.
    pub before_first_done: u64,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// By peer: `peers[k]` is peer `k + 1`.
    pub peers: Vec<PeerOutcome>,
    /// When the last peer was done: the run's simulated length.
    pub simulated: Nanos,
    /// Events handled.
    pub events: u64,
}

/// How far a run has come, for a progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub now: Nanos,
    pub peers_done: u32,
    pub peers: u32,
    pub events: u64,
}
