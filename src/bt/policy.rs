//! The settings of BitTorrent's algorithms: the swarm file's `[policy]` table, resolved. Each
//! default is a documented client's (DESIGN.md, "BitTorrent's own algorithms"; the README gives
//! the sources): mainline 4.x's choker, BEP 3's block size and pipeline, a tracker's answer of
//! 50 peers.

use serde::Serialize;

/// Simulated time, in nanoseconds (as everywhere in the engine).
pub type Nanos = u64;

const SECOND: Nanos = 1_000_000_000;

/// Which piece a peer asks for next, once its started pieces are all asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PieceOrder {
    /// The piece fewest of its connections hold (ties at random), after `random_first` pieces
    /// at random.
    RarestFirst,
    /// Any piece the remote holds, at random.
    Random,
    /// The lowest-numbered piece the remote holds (as a streaming client would).
    InOrder,
}

/// How a peer decides whom it uploads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Choke {
    /// Mainline's choker: the best uploaders to it, plus an optimistic unchoke; round robin as
    /// a seed.
    TitForTat,
    /// Every interested connection is unchoked (no reciprocation at all).
    None,
}

/// Who gets the optimistic unchoke when it rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optimistic {
    /// The interested, choked peer that has waited longest since its last optimistic unchoke
    /// (libtorrent's rule): every peer gets its turn.
    LongestWaiting,
    /// A random interested, choked peer, those connected in the last three rotations three
    /// times as likely (mainline's rule).
    Random,
}

/// How a seed chooses whom it uploads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedChoke {
    /// Mainline 4.x's round robin: in two rechokes out of three the longest unchoked of the
    /// unchoked makes room for the longest choked.
    Mainline,
    /// libtorrent 2.0's round robin (`seed_choking_algorithm = round_robin`): an unchoked peer
    /// keeps its slot until it has been sent `seed_quota` pieces' worth and a minute has
    /// passed; the longest choked take the slots so freed, and an optimistic unchoke rotates
    /// beside them as a leecher's does.
    Libtorrent,
}

/// The resolved `[policy]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub pieces: PieceOrder,
    /// Pieces chosen at random before rarest first begins (mainline: 4).
    pub random_first: u32,
    /// Once every block it lacks is asked for, ask for them from every connection that has them
    /// and cancel the duplicates as blocks arrive.
    pub endgame: bool,
    pub choke: Choke,
    /// Regular unchoke slots of a leecher (mainline: 3).
    pub unchoke_slots: u32,
    /// Optimistic unchoke slots (mainline: 1). A seed's round robin uses both kinds of slot.
    pub optimistic_slots: u32,
    pub optimistic_rule: Optimistic,
    pub seed_choke: SeedChoke,
    /// Under libtorrent's seed choker, the pieces' worth of bytes an unchoked peer is sent
    /// before its slot can go to another (libtorrent's `seeding_piece_quota`: 20).
    pub seed_quota: u32,
    /// How often the choker runs (mainline: 10 s). The rate that ranks a connection is the
    /// bytes it sent over the last two rechoke periods (20 s at the default).
    #[serde(rename = "rechoke_ns")]
    pub rechoke: Nanos,
    /// How often the optimistic unchoke rotates (mainline: 30 s); a multiple of `rechoke`.
    #[serde(rename = "optimistic_ns")]
    pub optimistic: Nanos,
    /// A connection that sent nothing for this long while the peer wanted something of it is
    /// snubbed: only an optimistic unchoke serves it (mainline: 60 s).
    #[serde(rename = "snub_ns")]
    pub snub: Nanos,
    /// Block requests a peer keeps outstanding on each connection (BEP 3 clients: 5).
    pub requests_in_flight: u32,
    /// The block a request asks for, in bytes (16 KiB, a protocol constant in practice).
    #[serde(rename = "block_bytes")]
    pub block: u32,
    /// Peers the tracker returns to an announce (50).
    pub peer_set: u32,
    /// The most connections a peer keeps (mainline: 80).
    pub max_connections: u32,
    /// A peer with fewer connections than this announces again (mainline: 20) ...
    pub min_connections: u32,
    /// ... and at most this often for that reason.
    #[serde(rename = "min_reannounce_ns")]
    pub min_reannounce: Nanos,
    /// The regular re-announce (30 min).
    #[serde(rename = "reannounce_ns")]
    pub reannounce: Nanos,
    /// What TCP/IP headers and the protocol's own messages cost, in millionths of a link's
    /// rate: a block of `b` payload bits takes `b * 10^6 / (10^6 - overhead)` bits of the
    /// links (5%: a 1 Mbit/s uplink carries 0.95 Mbit/s of blocks).
    pub overhead_ppm: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            pieces: PieceOrder::RarestFirst,
            random_first: 4,
            endgame: true,
            choke: Choke::TitForTat,
            unchoke_slots: 3,
            optimistic_slots: 1,
            optimistic_rule: Optimistic::LongestWaiting,
            seed_choke: SeedChoke::Mainline,
            seed_quota: 20,
            rechoke: 10 * SECOND,
            optimistic: 30 * SECOND,
            snub: 60 * SECOND,
            requests_in_flight: 5,
            block: 16 * 1024,
            peer_set: 50,
            max_connections: 80,
            min_connections: 20,
            min_reannounce: 60 * SECOND,
            reannounce: 30 * 60 * SECOND,
            overhead_ppm: 50_000,
        }
    }
}

impl Policy {
    /// The bits a block of `payload_bytes` takes on the links, overhead included (rounded up:
    /// a link never carries a block for less than it costs).
    pub fn wire_bits(&self, payload_bytes: u64) -> u64 {
        let payload = u128::from(payload_bytes) * 8;
        let bits = (payload * 1_000_000).div_ceil(1_000_000 - u128::from(self.overhead_ppm));
        bits as u64
    }

    /// Everything that must hold between the settings, as a message naming the setting: the
    /// swarm file's reader reports it at the `[policy]` table.
    pub fn check(&self) -> Result<(), String> {
        if self.rechoke == 0 {
            return Err("rechoke must be above 0 s".into());
        }
        if self.optimistic == 0 || !self.optimistic.is_multiple_of(self.rechoke) {
            return Err("optimistic must be a positive multiple of rechoke (the rotation happens at a rechoke)".into());
        }
        if self.requests_in_flight == 0 {
            return Err("requests_in_flight must be at least 1".into());
        }
        if self.block == 0 {
            return Err("block must be at least 1 B".into());
        }
        if self.peer_set == 0 || self.max_connections == 0 {
            return Err("peer_set and max_connections must be at least 1".into());
        }
        if self.overhead_ppm >= 1_000_000 {
            return Err("overhead must be below 100%".into());
        }
        Ok(())
    }

    /// Blocks in a piece of `piece_bytes`.
    pub fn blocks_in(&self, piece_bytes: u64) -> u32 {
        piece_bytes.div_ceil(u64::from(self.block)) as u32
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn overhead_takes_its_share_of_the_link() {
        let policy = Policy::default();
        // 16 KiB of payload at 5%: 131072 / 0.95 bits, rounded up.
        assert_eq!(policy.wire_bits(16 * 1024), 137_971);
        let free = Policy { overhead_ppm: 0, ..Policy::default() };
        assert_eq!(free.wire_bits(16 * 1024), 131_072);
        assert!(Policy::default().check().is_ok());
        assert!(Policy { optimistic: 25 * SECOND, ..Policy::default() }.check().is_err());
    }
}
