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
