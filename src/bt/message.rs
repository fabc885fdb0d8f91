//! What BitTorrent peers say to each other and to the tracker (BEP 3's peer wire protocol, less
//! the bytes): a block's data is not a message here but a transfer on the links, which the
//! engine carries and hands back as `Peer::on_block`.

use crate::wire::{DecodeError, Reader, Writer};

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
    /// The sender has closed the connection (two seeds have nothing to give each other).
    Close,
}

// Written for the simulation's batches between ranks (`sim::routed`), with the live wire's
// own integer codec: one tag byte, then the fields in order.
const CONNECT: u8 = 0;
const ACCEPT: u8 = 1;
const REFUSE: u8 = 2;
const HAVE: u8 = 3;
const INTERESTED: u8 = 4;
const NOT_INTERESTED: u8 = 5;
const CHOKE: u8 = 6;
const UNCHOKE: u8 = 7;
const REQUEST: u8 = 8;
const CANCEL: u8 = 9;
const ANNOUNCE: u8 = 10;
const PEERS: u8 = 11;
const CLOSE: u8 = 12;

impl WireMessage {
    pub(crate) fn write(&self, out: &mut Writer<'_>) {
        let block = |out: &mut Writer<'_>, block: &BlockRef| {
            out.u32(block.piece);
            out.u32(block.block);
        };
        match self {
            WireMessage::Connect { bitfield } => {
                out.u8(CONNECT);
                out.words(bitfield);
            }
            WireMessage::Accept { bitfield } => {
                out.u8(ACCEPT);
                out.words(bitfield);
            }
            WireMessage::Refuse => out.u8(REFUSE),
            WireMessage::Have { piece } => {
                out.u8(HAVE);
                out.u32(*piece);
            }
            WireMessage::Interested => out.u8(INTERESTED),
            WireMessage::NotInterested => out.u8(NOT_INTERESTED),
            WireMessage::Choke => out.u8(CHOKE),
            WireMessage::Unchoke => out.u8(UNCHOKE),
            WireMessage::Request { blocks } => {
                out.u8(REQUEST);
                out.u32(blocks.len() as u32);
                blocks.iter().for_each(|b| block(out, b));
            }
            WireMessage::Cancel { block: b } => {
                out.u8(CANCEL);
                block(out, b);
            }
            WireMessage::Announce => out.u8(ANNOUNCE),
            WireMessage::Peers { peers } => {
                out.u8(PEERS);
                out.u32(peers.len() as u32);
                peers.iter().for_each(|&peer| out.u32(peer));
            }
            WireMessage::Close => out.u8(CLOSE),
        }
    }

    pub(crate) fn read(input: &mut Reader<'_>) -> Result<WireMessage, DecodeError> {
        fn count(input: &mut Reader<'_>, item: usize) -> Result<usize, DecodeError> {
            let count = input.u32("a count")?;
            if count as usize * item > input.0.len() {
                return Err(DecodeError::ImpossibleCount { count, remaining: input.0.len() });
            }
            Ok(count as usize)
        }
        let block = |input: &mut Reader<'_>| -> Result<BlockRef, DecodeError> {
            Ok(BlockRef { piece: input.u32("a piece")?, block: input.u32("a block")? })
        };
        Ok(match input.u8("a message tag")? {
            CONNECT => WireMessage::Connect { bitfield: input.words()?.into() },
            ACCEPT => WireMessage::Accept { bitfield: input.words()?.into() },
            REFUSE => WireMessage::Refuse,
            HAVE => WireMessage::Have { piece: input.u32("a piece")? },
            INTERESTED => WireMessage::Interested,
            NOT_INTERESTED => WireMessage::NotInterested,
            CHOKE => WireMessage::Choke,
            UNCHOKE => WireMessage::Unchoke,
            REQUEST => {
                let n = count(input, 8)?;
                WireMessage::Request { blocks: (0..n).map(|_| block(input)).collect::<Result<_, _>>()? }
            }
            CANCEL => WireMessage::Cancel { block: block(input)? },
            ANNOUNCE => WireMessage::Announce,
            PEERS => {
                let n = count(input, 4)?;
                WireMessage::Peers { peers: (0..n).map(|_| input.u32("a peer")).collect::<Result<_, _>>()? }
            }
            CLOSE => WireMessage::Close,
            tag => return Err(DecodeError::UnknownTag(tag)),
        })
    }
}
