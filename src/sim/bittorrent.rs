//! A shard's peers when the swarm runs BitTorrent's algorithms: the shard's clock and network
//! carry what each `bt::Peer` decides.
//!
//! A message takes the latency; a block goes through the sender's uplink, the latency and the
//! receiver's downlink (`network.rs`), costing its payload and the policy's overhead
//! (`Policy::wire_bits`). Each peer's timer fires every `rechoke` from a phase of its own. The
//! tracker (`bt::tracker`) lives on the tracker's shard.

use super::link::Nanos;
use super::network::Network;
use super::scenario::Scenario;
use super::shard::{Event, Payload, Timeline};
use crate::bt::message::{BlockRef, WireMessage};
use crate::bt::peer::{Geometry, Out, Peer, PeerStats, ProtocolError, TRACKER};
use crate::bt::policy::Policy;
use crate::bt::tracker::Tracker;
use crate::model::PeerId;
use crate::prefetch;

/// What a peer's event changed that the shard counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// A peer completed the file.
    pub completed: bool,
}

/// Blocks a seed that held the file from the start has sent, until every block was out once:
/// what rarest first is said to save (a seed's upload spent on copies is not spent on pieces
/// the swarm lacks).
#[derive(Debug, Clone)]
pub struct FirstCopies {
    /// By block (piece by piece): sent at least once.
    sent: Box<[u64]>,
    remaining: u64,
    /// Payload bytes of blocks it had sent before, sent while some block was not yet out.
    pub repeat_bytes: u64,
    /// When the last block went out for the first time.
    pub all_out_at: Option<Nanos>,
    /// Payload bytes sent before the first peer completed the file, once that is known.
    pub before_first_done: Option<u64>,
    /// Until then: what was sent in windows before it, and in the current window (when, how
    /// much): the first completion is known to every shard only at its window's end.
    sent_before: u64,
    sent_in_window: Vec<(Nanos, u32)>,
}

impl FirstCopies {
    fn count(&mut self, now: Nanos, block: BlockRef, blocks_per_piece: u32, bytes: u32) {
        if self.before_first_done.is_none() {
            self.sent_in_window.push((now, bytes));
        }
        if self.remaining == 0 {
            return;
        }
        let index = u64::from(block.piece) * u64::from(blocks_per_piece) + u64::from(block.block);
        let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
        if self.sent[word] & bit != 0 {
            self.repeat_bytes += u64::from(bytes);
            return;
        }
        self.sent[word] |= bit;
        self.remaining -= 1;
        if self.remaining == 0 {
            self.all_out_at = Some(now);
        }
    }
}

impl FirstCopies {
    /// A window has closed; the first completion, if the job has had one.
    fn window_closed(&mut self, first_done_at: Option<Nanos>) {
        if self.before_first_done.is_some() {
            return;
        }
        match first_done_at {
            None => self.sent_before += self.sent_in_window.drain(..).map(|(_, bytes)| u64::from(bytes)).sum::<u64>(),
            Some(first) => {
                let before: u64 =
                    self.sent_in_window.iter().filter(|&&(at, _)| at < first).map(|&(_, bytes)| u64::from(bytes)).sum();
                self.before_first_done = Some(self.sent_before + before);
                self.sent_in_window = Vec::new();
            }
        }
    }
}

pub struct BitTorrentPeers {
    policy: Policy,
    file: Geometry,
    blocks_per_piece: u32,
    /// By row, from row 1, as the shard's peers.
    peers: Vec<Peer>,
    /// Only on the tracker's shard.
    tracker: Option<Tracker>,
    /// By row, from row 1: for peers that held the file from the start.
    first_copies: Vec<Option<FirstCopies>>,
    out: Out,
}

impl BitTorrentPeers {
    pub fn new(scenario: &Scenario, policy: &Policy, ids: impl Iterator<Item = u32>, tracker: bool) -> BitTorrentPeers {
        let spec = &scenario.files[0];
        let file = Geometry {
            pieces: spec.pieces,
            piece_bytes: spec.piece_bytes,
            last_piece_bytes: spec.size_bytes - u64::from(spec.pieces - 1) * spec.piece_bytes,
        };
        let blocks_per_piece = policy.blocks_in(spec.piece_bytes);
        let mut peers = Vec::new();
        let mut first_copies = Vec::new();
        for id in ids {
            let me = PeerId(id);
            let seed = scenario.peer(me).owns.contains(&0);
            let uploads = scenario.class_of(me).uploads();
            peers.push(Peer::new(id, seed, uploads, &file, policy, scenario.seed));
            first_copies.push(seed.then(|| {
                let blocks = u64::from(blocks_per_piece) * u64::from(spec.pieces);
                FirstCopies {
                    sent: vec![0; blocks.div_ceil(64) as usize].into_boxed_slice(),
                    remaining: u64::from(spec.pieces - 1) * u64::from(blocks_per_piece)
                        + u64::from(policy.blocks_in(file.last_piece_bytes)),
                    repeat_bytes: 0,
                    all_out_at: None,
                    before_first_done: None,
                    sent_before: 0,
                    sent_in_window: Vec::new(),
                }
            }));
        }
        BitTorrentPeers {
            policy: policy.clone(),
            file,
            blocks_per_piece,
            peers,
            tracker: tracker.then(|| Tracker::new(scenario.peer_count(), policy.peer_set, scenario.seed)),
            first_copies,
            out: Out::default(),
        }
    }

    pub fn peer(&self, row: usize) -> &Peer {
        &self.peers[row - 1]
    }

    /// Asks for the memory an event for the peer in `row` will read (`Peer::warm`); stage 0
    /// is its own row.
    pub fn warm(&self, row: usize, stage: usize, remote: Option<u32>, piece: Option<u32>) {
        let Some(peer) = self.peers.get(row.wrapping_sub(1)) else { return };
        match stage {
            0 => prefetch::value(peer),
            _ => peer.warm(stage, remote, piece),
        }
    }

    pub fn stats(&self, row: usize) -> &PeerStats {
        self.peers[row - 1].stats()
    }

    pub fn first_copies(&self, row: usize) -> Option<&FirstCopies> {
        self.first_copies[row - 1].as_ref()
    }

    pub(super) fn window_closed(&mut self, first_done_at: Option<Nanos>) {
        for copies in self.first_copies.iter_mut().flatten() {
            copies.window_closed(first_done_at);
        }
    }

    /// At time 0 every peer announces, and its timer starts.
    pub(super) fn start(&mut self, now: Nanos, rows: impl Iterator<Item = usize>, net: &mut Net<'_>) {
        for row in rows {
            let (first_tick, _) = self.drive(now, row, net, |peer, _, policy, out| peer.start(now, policy, out));
            let id = self.peers[row - 1].id();
            net.timeline.push(first_tick, id, id, Event::Tick);
        }
    }

    /// A message reaches the tracker (row 0) or the peer in `row`.
    pub(super) fn on_message(
        &mut self,
        now: Nanos,
        row: usize,
        from: u32,
        message: WireMessage,
        net: &mut Net<'_>,
    ) -> Result<Changed, ProtocolError> {
        if row == 0 {
            let tracker = self.tracker.as_mut().expect("the tracker's messages go to its shard");
            let WireMessage::Announce = message else {
                return Err(ProtocolError { peer: TRACKER, from, what: format!("the tracker got {message:?}") });
            };
            let peers = tracker.announce(from);
            net.send(now, TRACKER, from, WireMessage::Peers { peers });
            return Ok(Changed::default());
        }
        let (result, changed) =
            self.drive(now, row, net, |peer, file, policy, out| peer.on_message(now, from, message, file, policy, out));
        result.map(|()| changed)
    }

    /// The timer of the peer in `row` fires; it fires again a rechoke later.
    pub(super) fn on_tick(&mut self, now: Nanos, row: usize, net: &mut Net<'_>) {
        self.drive(now, row, net, |peer, file, policy, out| peer.on_tick(now, file, policy, out));
        let id = self.peers[row - 1].id();
        net.timeline.push(now + self.policy.rechoke, id, id, Event::Tick);
    }

    /// A block from `from` has come through the downlink of the peer in `row`.
    pub(super) fn on_block(
        &mut self,
        now: Nanos,
        row: usize,
        from: u32,
        (block, bytes): (BlockRef, u32),
        net: &mut Net<'_>,
    ) -> Result<Changed, ProtocolError> {
        let (result, changed) =
            self.drive(now, row, net, |peer, _, policy, out| peer.on_block(now, from, block, bytes, policy, out));
        result.map(|()| changed)
    }

    /// The block the peer in `row` was sending to `to` has left its uplink.
    pub(super) fn on_block_sent(&mut self, now: Nanos, row: usize, to: u32, net: &mut Net<'_>) {
        let (sent, _) = self.drive(now, row, net, |peer, file, policy, out| peer.on_block_sent(to, file, policy, out));
        if let (Some(block), Some(copies)) = (sent, &mut self.first_copies[row - 1]) {
            copies.count(now, block, self.blocks_per_piece, self.file.block_bytes(&self.policy, block));
        }
    }

    /// Lets the peer in `row` act, then carries out what it decided.
    fn drive<R>(
        &mut self,
        now: Nanos,
        row: usize,
        net: &mut Net<'_>,
        act: impl FnOnce(&mut Peer, &Geometry, &Policy, &mut Out) -> R,
    ) -> (R, Changed) {
        let mut out = std::mem::take(&mut self.out);
        let peer = &mut self.peers[row - 1];
        let result = act(peer, &self.file, &self.policy, &mut out);
        let me = peer.id();
        let changed = self.carry(now, me, &mut out, net);
        self.out = out;
        (result, changed)
    }

    /// Carries out what peer `me` decided: its messages after the latency, its blocks onto its
    /// uplink.
    fn carry(&mut self, now: Nanos, me: u32, out: &mut Out, net: &mut Net<'_>) -> Changed {
        for (to, message) in out.messages.drain(..) {
            net.send(now, me, to, message);
        }
        for (to, block, bytes) in out.blocks.drain(..) {
            let bits = self.policy.wire_bits(u64::from(bytes));
            net.network.send(now, me, to, bits, Payload::Block { block, bytes }, net.timeline);
        }
        Changed { completed: std::mem::take(&mut out.completed) }
    }
}

/// The shard's clock and network, lent to the peers for one event (`Shard::bittorrent`).
pub(super) struct Net<'a> {
    pub(super) latency: Nanos,
    pub(super) timeline: &'a mut Timeline,
    pub(super) network: &'a mut Network<Payload>,
}

impl Net<'_> {
    fn send(&mut self, now: Nanos, from: u32, to: u32, message: WireMessage) {
        self.timeline.push(now + self.latency, to, from, Event::Wire { from, message });
    }
}
