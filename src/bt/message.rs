//! What BitTorrent peers say to each other and to the tracker (BEP 3's peer wire protocol, less
//! the bytes): a block's data is not a message here but a transfer on the links, which the
//! engine carries and hands back as `Peer::on_block`.

/// One block of a piece: the unit of a request (16 KiB by default, the last of a piece shorter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    pub piece: u32,
    /// From 0 within the piece.
    pub block: u32,
}

/// A message from one peer to another, or between a peer and the tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireMessage {
    /// The handshake, with the sender's bitfield: it asks to connect.
    Connect {
        bitfield: Box<[u64]>,
    },
    /// The connection is taken; the receiver's bitfield.
    Accept {
        bitfield: Box<[u64]>,
    },
    /// The connection is refused: the receiver has no room (or is already connected).
    Refuse,
    /// The sender now holds this piece.
    Have {
        piece: u32,
    },
    Interested,
    NotInterested,
    /// The sender will serve none of the receiver's requests; those it had are dropped.
    Choke,
    Unchoke,
    /// Blocks the sender wants, in order; several sent at one instant travel as one message.
    Request {
        blocks: Box<[BlockRef]>,
    },
    /// A block the sender no longer wants (it came from someone else, in endgame).
    Cancel {
        block: BlockRef,
    },
    /// A peer to the tracker: it is in the swarm and wants peers.
    Announce,
    /// The tracker's answer: some members of the swarm, drawn at random.
    Peers {
        peers: Box<[u32]>,
    },
}
