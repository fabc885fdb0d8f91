//! Which block a peer asks a connection for: piece choice (rarest first, random, in order; the
//! first pieces at random), strict priority for started pieces, and endgame.
//!
//! The picker knows what its peer holds, which pieces it has started and the state of each of
//! their blocks, and how many of its connections hold each piece (availability). The peer asks
//! it for a block one connection at a time, with that connection's bitfield.

use smallvec::SmallVec;

use super::message::BlockRef;
use super::policy::{PieceOrder, Policy};
use crate::peer::segments::bits;
use crate::prefetch;
use crate::rng::Rng;

/// A block's state in a started piece: asked of this many connections (0: not asked), or
/// `RECEIVED`.
type BlockState = u8;
const RECEIVED: BlockState = u8::MAX;

/// A piece with some blocks asked for, not all received.
#[derive(Debug)]
struct Started {
    piece: u32,
    /// Inline for a piece of up to 16 blocks (256 KiB of 16 KiB blocks, the usual), for 8
    /// bytes more than a vector: every block's arrival reads its state, and in an allocation of
    /// its own it was a cache miss the hints did not reach (a third of a block's arrival at
    /// 3,000 leechers).
    blocks: SmallVec<[BlockState; 16]>,
    /// Blocks not yet asked of anyone.
    unasked: u32,
    /// Blocks not yet received.
    missing: u32,
}

/// What a block's arrival did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrived {
    /// It was had already (a duplicate, in endgame or after a choke).
    Duplicate,
    /// New; its piece still lacks blocks.
    Block,
    /// New, and it completed its piece.
    Piece,
}

#[derive(Debug)]
pub struct Picker {
    pieces: u32,
    blocks_per_piece: u32,
    last_piece_blocks: u32,
    /// The pieces held, whole.
    have: Box<[u64]>,
    held: u32,
    /// By piece: the connections that hold it.
    availability: Box<[u16]>,
    /// The pieces started, oldest first.
    started: Vec<Started>,
    /// By piece: in `started`.
    is_started: Box<[u64]>,
    /// Blocks of started pieces not asked of anyone, all pieces together.
    unasked: u32,
}

impl Picker {
    /// Asks for its tables, and `piece`'s count, without waiting for them (`crate::prefetch`).
    pub fn warm(&self, piece: Option<u32>) {
        prefetch::slice(&self.have);
        prefetch::slice(&self.started);
        if let Some(count) = piece.and_then(|piece| self.availability.get(piece as usize)) {
            prefetch::value(count);
        }
    }

    /// The picker of a peer that holds every piece (`seed`) or none, of a file of `pieces`
    /// pieces of `blocks_per_piece` blocks, the last of `last_piece_blocks`.
    pub fn new(pieces: u32, blocks_per_piece: u32, last_piece_blocks: u32, seed: bool) -> Picker {
        let words = bits::words_for(pieces);
        let mut have = vec![0u64; words].into_boxed_slice();
        if seed {
            for piece in 0..pieces {
                bits::set(&mut have, piece);
            }
        }
        Picker {
            pieces,
            blocks_per_piece,
            last_piece_blocks,
            have,
            held: if seed { pieces } else { 0 },
            availability: vec![0; pieces as usize].into_boxed_slice(),
            started: Vec::new(),
            is_started: vec![0; words].into_boxed_slice(),
            unasked: 0,
        }
    }

    pub fn pieces(&self) -> u32 {
        self.pieces
    }

    pub fn held(&self) -> u32 {
        self.held
    }

    pub fn complete(&self) -> bool {
        self.held == self.pieces
    }

    pub fn has(&self, piece: u32) -> bool {
        bits::test(&self.have, piece)
    }

    /// The peer's bitfield, as a `Connect` or `Accept` carries it.
    pub fn bitfield(&self) -> Box<[u64]> {
        self.have.clone()
    }

    pub fn blocks_of(&self, piece: u32) -> u32 {
        if piece + 1 == self.pieces { self.last_piece_blocks } else { self.blocks_per_piece }
    }

    /// Endgame: every block the peer lacks has been asked for at least once.
    pub fn all_asked(&self) -> bool {
        !self.complete() && self.unasked == 0 && self.held + self.started.len() as u32 == self.pieces
    }

    /// A connection holding `piece` has come (or announced it).
    pub fn gained(&mut self, piece: u32) {
        let count = &mut self.availability[piece as usize];
        *count = count.saturating_add(1);
    }

    /// A connection holding `piece` has gone.
    pub fn lost(&mut self, piece: u32) {
        let count = &mut self.availability[piece as usize];
        *count = count.saturating_sub(1);
    }

    /// A connection with this bitfield has come: each piece it holds is one more available.
    pub fn gained_all(&mut self, bitfield: &[u64]) {
        for piece in ones(bitfield, self.pieces) {
            self.gained(piece);
        }
    }

    /// The next block to ask of a connection holding `remote`, not among `asked_of_it`, or
    /// None. Marks it asked.
    ///
    /// Started pieces first, oldest first (strict priority: a piece is finished before another
    /// is begun, so that whole pieces can be shared sooner). Then a new piece, by the policy:
    /// the first `random_first` at random, then rarest first (ties at random), or at random, or
    /// in order. Once every block the peer lacks is asked for (endgame, if the policy has it),
    /// a block already asked of others, not received, that this connection has.
    pub fn pick(
        &mut self,
        remote: &[u64],
        asked_of_it: &[BlockRef],
        policy: &Policy,
        rng: &mut Rng,
    ) -> Option<BlockRef> {
        if self.complete() {
            return None;
        }
        for started in &mut self.started {
            if started.unasked == 0 || !bits::test(remote, started.piece) {
                continue;
            }
            let block = started.blocks.iter().position(|&state| state == 0).expect("an unasked block") as u32;
            started.blocks[block as usize] = 1;
            started.unasked -= 1;
            self.unasked -= 1;
            return Some(BlockRef { piece: started.piece, block });
        }
        if let Some(piece) = self.choose_new(remote, policy, rng) {
            let blocks = self.blocks_of(piece);
            let mut states = smallvec::smallvec![0; blocks as usize];
            states[0] = 1;
            self.started.push(Started { piece, blocks: states, unasked: blocks - 1, missing: blocks });
            self.unasked += blocks - 1;
            bits::set(&mut self.is_started, piece);
            return Some(BlockRef { piece, block: 0 });
        }
        if policy.endgame && self.all_asked() {
            for started in &mut self.started {
                if !bits::test(remote, started.piece) {
                    continue;
                }
                let piece = started.piece;
                let wanted = started.blocks.iter().enumerate().find(|&(block, &state)| {
                    state != RECEIVED && !asked_of_it.contains(&BlockRef { piece, block: block as u32 })
                });
                if let Some((block, _)) = wanted {
                    started.blocks[block] = started.blocks[block].saturating_add(1).min(RECEIVED - 1);
                    return Some(BlockRef { piece, block: block as u32 });
                }
            }
        }
        None
    }

    /// A piece the remote holds that the peer neither holds nor has started.
    fn choose_new(&self, remote: &[u64], policy: &Policy, rng: &mut Rng) -> Option<u32> {
        let candidates = (0..self.have.len()).flat_map(|word| {
            let mut free = remote[word] & !self.have[word] & !self.is_started[word];
            std::iter::from_fn(move || {
                (free != 0).then(|| {
                    let bit = free.trailing_zeros();
                    free &= free - 1;
                    word as u32 * 64 + bit
                })
            })
        });
        let order = if self.held < policy.random_first && policy.pieces == PieceOrder::RarestFirst {
            PieceOrder::Random
        } else {
            policy.pieces
        };
        match order {
            PieceOrder::InOrder => candidates.take(1).next(),
            PieceOrder::Random => reservoir(candidates, rng),
            PieceOrder::RarestFirst => {
                // The rarest, ties drawn uniformly: a reservoir over the pieces of the lowest
                // count seen so far, restarted when a lower one appears.
                let mut best: Option<(u16, u32)> = None;
                let mut ties = 0u64;
                for piece in candidates {
                    let count = self.availability[piece as usize];
                    match best {
                        Some((lowest, _)) if count > lowest => {}
                        Some((lowest, _)) if count == lowest => {
                            ties += 1;
                            if rng.below(ties) == 0 {
                                best = Some((count, piece));
                            }
                        }
                        _ => {
                            best = Some((count, piece));
                            ties = 1;
                        }
                    }
                }
                best.map(|(_, piece)| piece)
            }
        }
    }

    /// A request of `block` will not be answered (the connection choked): it may be asked of
    /// another.
    pub fn unask(&mut self, block: BlockRef) {
        let Some(started) = self.started.iter_mut().find(|s| s.piece == block.piece) else {
            return; // its piece is complete
        };
        let state = &mut started.blocks[block.block as usize];
        if *state == RECEIVED || *state == 0 {
            return;
        }
        *state -= 1;
        if *state == 0 {
            started.unasked += 1;
            self.unasked += 1;
        }
    }

    /// Connections a block is asked of now (0 once it has arrived).
    pub fn asks(&self, block: BlockRef) -> u8 {
        let Some(started) = self.started.iter().find(|s| s.piece == block.piece) else { return 0 };
        match started.blocks[block.block as usize] {
            RECEIVED => 0,
            asks => asks,
        }
    }

    /// A block has arrived.
    pub fn arrived(&mut self, block: BlockRef) -> Arrived {
        if self.has(block.piece) {
            return Arrived::Duplicate;
        }
        let Some(index) = self.started.iter().position(|s| s.piece == block.piece) else {
            return Arrived::Duplicate; // never asked: not counted
        };
        let started = &mut self.started[index];
        let state = &mut started.blocks[block.block as usize];
        if *state == RECEIVED {
            return Arrived::Duplicate;
        }
        if *state == 0 {
            // Arrived after its request was given up (a choke): it is no longer unasked.
            started.unasked -= 1;
            self.unasked -= 1;
        }
        *state = RECEIVED;
        started.missing -= 1;
        if started.missing > 0 {
            return Arrived::Block;
        }
        let piece = started.piece;
        // `remove`, not `swap_remove`: oldest first is the order of strict priority.
        self.started.remove(index);
        bits::clear(&mut self.is_started, piece);
        bits::set(&mut self.have, piece);
        self.held += 1;
        Arrived::Piece
    }

    /// Whether a remote bitfield holds something this peer lacks, and how many such pieces.
    pub fn wanted_in(&self, remote: &[u64]) -> u32 {
        remote.iter().zip(self.have.iter()).map(|(r, h)| (r & !h).count_ones()).sum()
    }
}

/// The pieces set in a bitfield of `len` pieces.
pub fn ones(bitfield: &[u64], len: u32) -> impl Iterator<Item = u32> + '_ {
    (0..len).filter(move |&piece| bits::test(bitfield, piece))
}

/// One item drawn uniformly from an iterator, in one pass.
fn reservoir(items: impl Iterator<Item = u32>, rng: &mut Rng) -> Option<u32> {
    let mut chosen = None;
    let mut seen = 0u64;
    for item in items {
        seen += 1;
        if rng.below(seen) == 0 {
            chosen = Some(item);
        }
    }
    chosen
}

/// Blocks in a small list, as a connection's outstanding requests are kept.
pub type Blocks = SmallVec<[BlockRef; 5]>;

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// A picker of 64 pieces of 2 blocks, where piece 63 is the rarest (held by 1 connection)
    /// and every other by 5.
    fn skewed() -> Picker {
        let mut picker = Picker::new(64, 2, 2, false);
        for piece in 0..64 {
            for _ in 0..if piece == 63 { 1 } else { 5 } {
                picker.gained(piece);
            }
        }
        picker
    }

    fn take_piece(picker: &mut Picker, remote: &[u64], policy: &Policy, rng: &mut Rng) -> u32 {
        let first = picker.pick(remote, &[], policy, rng).unwrap();
        let second = picker.pick(remote, &[], policy, rng).unwrap();
        assert_eq!((second.piece, second.block), (first.piece, 1), "a started piece is finished first");
        assert_eq!(picker.arrived(first), Arrived::Block);
        assert_eq!(picker.arrived(second), Arrived::Piece);
        first.piece
    }

    #[test]
    fn the_first_four_pieces_are_random_then_the_rarest() {
        let policy = Policy::default();
        let remote = [u64::MAX];
        let mut rarest_among_first = 0;
        for seed in 0..50 {
            let mut rng = Rng::new(seed);
            let mut picker = skewed();
            let first: Vec<u32> = (0..4).map(|_| take_piece(&mut picker, &remote, &policy, &mut rng)).collect();
            rarest_among_first += first.contains(&63) as u32;
            if !first.contains(&63) {
                assert_eq!(take_piece(&mut picker, &remote, &policy, &mut rng), 63, "the fifth is the rarest");
            }
        }
        // At random, piece 63 is among the first four in about 4 of 64 draws (3 in 50 runs).
        assert!(rarest_among_first < 15, "the rarest was among the first four in {rarest_among_first} of 50");
    }

    #[test]
    fn in_order_and_random_orders() {
        let mut rng = Rng::new(1);
        let in_order = Policy { pieces: PieceOrder::InOrder, ..Policy::default() };
        let mut picker = skewed();
        let order: Vec<u32> = (0..6).map(|_| take_piece(&mut picker, &[u64::MAX], &in_order, &mut rng)).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4, 5]);
        let random = Policy { pieces: PieceOrder::Random, ..Policy::default() };
        let mut picker = skewed();
        let order: Vec<u32> = (0..6).map(|_| take_piece(&mut picker, &[u64::MAX], &random, &mut rng)).collect();
        assert_ne!(order, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn only_pieces_the_remote_holds_and_none_twice_outside_endgame() {
        let policy = Policy { endgame: false, ..Policy::default() };
        let mut rng = Rng::new(2);
        let mut picker = Picker::new(3, 2, 1, false);
        let remote = [0b101];
        let mut asked = vec![];
        while let Some(block) = picker.pick(&remote, &asked, &policy, &mut rng) {
            assert_ne!(block.piece, 1);
            assert!(!asked.contains(&block));
            asked.push(block);
        }
        assert_eq!(asked.len(), 3, "2 blocks of piece 0, 1 of the last piece");
        // A choke gives a block back, to be asked again.
        picker.unask(asked[0]);
        assert_eq!(picker.pick(&remote, &[], &policy, &mut rng), Some(asked[0]));
    }
}
