//! One BitTorrent peer as a state machine: its connections and what it knows of each, the
//! requests it has out and those it serves, driven by messages, blocks and a timer.
//!
//! A peer announces to the tracker and connects to the members it is given (up to
//! `max_connections`, counting its attempts). A connection opens with both bitfields; then each
//! side says `Interested` when the other holds a piece it lacks, and is told `Have` for each
//! piece the other completes (not when it holds the piece already: libtorrent's have
//! suppression, which changes no decision). A connection that unchokes it gets up to
//! `requests_in_flight` block requests, which the picker chooses (`picker.rs`); it serves the
//! requests of the connections it unchokes, one block at a time on its uplink per connection,
//! in the order they came; a choke drops the requests it had not started. Every `rechoke` its
//! timer runs the choker (`choker.rs`) and, when due, announces again.
//!
//! The engine carries what the peer returns in `Out`: messages (after the latency) and blocks
//! (through the links), and calls back with `on_block` when a block has come through its
//! downlink and `on_block_sent` when one has left its uplink.

use smallvec::SmallVec;

use super::choker::{Candidate, Choker};
use super::message::{BlockRef, WireMessage};
use super::picker::{Arrived, Blocks, Picker};
use super::policy::{Choke, Nanos, Policy};
use crate::peer::segments::bits;
use crate::prefetch;
use crate::rng::Rng;

/// The tracker's peer id.
pub const TRACKER: u32 = 0;

/// The shape of the shared file, as the peer needs it.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub pieces: u32,
    pub piece_bytes: u64,
    pub last_piece_bytes: u64,
}

impl Geometry {
    fn piece_bytes(&self, piece: u32) -> u64 {
        if piece + 1 == self.pieces { self.last_piece_bytes } else { self.piece_bytes }
    }

    /// The payload bytes of a block.
    pub fn block_bytes(&self, policy: &Policy, block: BlockRef) -> u32 {
        let start = u64::from(block.block) * u64::from(policy.block);
        (self.piece_bytes(block.piece) - start).min(u64::from(policy.block)) as u32
    }
}

/// What the engine carries out after a call.
#[derive(Debug, Default)]
pub struct Out {
    /// Messages, each to a peer (or `TRACKER`), in the order they were said.
    pub messages: Vec<(u32, WireMessage)>,
    /// Blocks to start on the uplink: (receiver, block, payload bytes).
    pub blocks: Vec<(u32, BlockRef, u32)>,
    /// The peer has just completed the file.
    pub completed: bool,
}

/// A protocol violation: a bug in a peer or the engine, never the swarm's doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("peer {peer}: {what} (from peer {from})")]
pub struct ProtocolError {
    pub peer: u32,
    pub from: u32,
    pub what: String,
}

/// What a peer has done, for the run's results.
#[derive(Debug, Default, Clone)]
pub struct PeerStats {
    /// Payload bytes of blocks it sent (counted as each leaves its uplink).
    pub uploaded_bytes: u64,
    /// Payload bytes of new blocks it received.
    pub downloaded_bytes: u64,
    /// Payload bytes of blocks it already had when they came.
    pub duplicate_bytes: u64,
    pub done_at: Option<Nanos>,
    /// At each rechoke while downloading, the fraction of its connections it was interested
    /// in, in millionths, summed; and how many were summed.
    pub interest_ppm_sum: u64,
    pub interest_samples: u64,
    /// Connections it closed or that were closed, with the time it gave each in regular
    /// unchokes: (remote, nanoseconds).
    pub closed_regular_ns: Vec<(u32, u64)>,
    /// Its rechokes: how many, the first's time and the last's.
    pub rechokes: u32,
    pub first_rechoke_at: Nanos,
    pub last_rechoke_at: Nanos,
}

/// One connection, as this peer sees it.
#[derive(Debug)]
pub struct Conn {
    pub peer: u32,
    /// The remote's pieces, as it has told.
    bitfield: Box<[u64]>,
    /// Pieces the remote holds that this peer lacks.
    wanted: u32,
    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,
    /// This peer's requests to the remote, not yet answered.
    asked: Blocks,
    /// The remote's requests to this peer, not yet started.
    queue: Blocks,
    /// The block for the remote on this peer's uplink.
    sending: Option<BlockRef>,
    /// Payload bytes received from the remote in this rechoke period and the one before.
    got: [u64; 2],
    /// Payload bytes sent to the remote in this rechoke period, and since its current unchoke
    /// began (libtorrent's seed choker reads them).
    sent_this_round: u64,
    sent_since_unchoked: u64,
    last_block_at: Nanos,
    interested_since: Nanos,
    connected_at: Nanos,
    /// When its last optimistic unchoke ended (its connection, if it had none).
    waiting_since: Nanos,
    unchoked_since: Option<Nanos>,
    /// When its last unchoke ended (its connection, if it had none).
    choked_since: Nanos,
    /// The current unchoke is optimistic.
    optimistic: bool,
    /// While this peer is a leecher: when the remote's current regular unchoke began.
    regular_since: Option<Nanos>,
    /// Time the remote spent regularly unchoked by this peer while this peer was a leecher
    /// (tit-for-tat's choices; a seed's round robin is not reciprocation), the current
    /// unchoke aside.
    regular_ns: u64,
}

impl Conn {
    fn snubbed(&self, now: Nanos, policy: &Policy) -> bool {
        self.am_interested && now.saturating_sub(self.last_block_at.max(self.interested_since)) >= policy.snub
    }

    /// Time the remote has spent regularly unchoked by this peer up to `now`.
    pub fn regular_ns(&self, now: Nanos) -> u64 {
        self.regular_ns + self.regular_since.map_or(0, |since| now.saturating_sub(since))
    }

    pub fn is_unchoked(&self) -> bool {
        !self.am_choking
    }

    pub fn is_optimistic(&self) -> bool {
        !self.am_choking && self.optimistic
    }

    /// Requests of the remote's that wait to be started.
    pub fn queued(&self) -> &[BlockRef] {
        &self.queue
    }

    /// This peer's requests to the remote, not yet answered.
    pub fn asked(&self) -> &[BlockRef] {
        &self.asked
    }
}

pub struct Peer {
    id: u32,
    /// It serves requests (a free rider does not).
    uploads: bool,
    picker: Picker,
    /// By peer id, ascending.
    conns: Vec<Conn>,
    /// `conns`' peer ids, apart: a search reads these few lines, not one line a connection
    /// (the search was a fifth of the run's time).
    ids: Vec<u32>,
    /// Peers it has asked to connect to, with no answer yet.
    connecting: SmallVec<[u32; 8]>,
    choker: Choker,
    rng: Rng,
    last_announce: Nanos,
    stats: PeerStats,
}

impl Peer {
    /// Peer `id`, holding the whole file (`seed`) or nothing, serving requests if `uploads`.
    /// Its random choices come from a stream of `seed_of_run` of its own.
    pub fn new(id: u32, seed: bool, uploads: bool, file: &Geometry, policy: &Policy, seed_of_run: u64) -> Peer {
        let blocks = policy.blocks_in(file.piece_bytes);
        let last = policy.blocks_in(file.last_piece_bytes);
        Peer {
            id,
            uploads,
            picker: Picker::new(file.pieces, blocks, last, seed),
            conns: Vec::new(),
            ids: Vec::new(),
            connecting: SmallVec::new(),
            choker: Choker::new(),
            rng: Rng::derive(seed_of_run, u64::from(id)),
            last_announce: 0,
            stats: PeerStats::default(),
        }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn stats(&self) -> &PeerStats {
        &self.stats
    }

    pub fn conns(&self) -> &[Conn] {
        &self.conns
    }

    pub fn picker(&self) -> &Picker {
        &self.picker
    }

    pub fn is_complete(&self) -> bool {
        self.picker.complete()
    }

    /// At time 0: announce, and the time of the first rechoke, drawn in `[0, rechoke)` so
    /// that peers' timers are not in step.
    pub fn start(&mut self, now: Nanos, policy: &Policy, out: &mut Out) -> Nanos {
        self.last_announce = now;
        out.messages.push((TRACKER, WireMessage::Announce));
        now + self.rng.below(policy.rechoke)
    }

    /// Asks for the memory an event from `remote` (if it names one) will read, without waiting
    /// for it (`crate::prefetch`), in stages, each reading only what the one before brought in:
    /// stage 0 is the caller's (this peer's own row); at stage 1 its connections' ids and its
    /// picker's tables, with `piece`'s count when the event names a piece; at stage 2 the
    /// remote's connection; at stage 3 that connection's bitfield.
    pub fn warm(&self, stage: usize, remote: Option<u32>, piece: Option<u32>) {
        let conn = || remote.and_then(|remote| self.conn_index(remote)).map(|index| &self.conns[index]);
        match stage {
            0 => {}
            1 => {
                prefetch::slice(&self.ids);
                self.picker.warm(piece);
            }
            2 => conn().into_iter().for_each(prefetch::value),
            _ => conn().into_iter().for_each(|conn| prefetch::slice(&conn.bitfield)),
        }
    }

    fn conn_index(&self, peer: u32) -> Option<usize> {
        self.ids.binary_search(&peer).ok()
    }

    fn error(&self, from: u32, what: impl Into<String>) -> ProtocolError {
        ProtocolError { peer: self.id, from, what: what.into() }
    }

    /// A message has arrived.
    pub fn on_message(
        &mut self,
        now: Nanos,
        from: u32,
        message: WireMessage,
        file: &Geometry,
        policy: &Policy,
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        if let WireMessage::Peers { peers } = message {
            for peer in peers.iter().copied() {
                let room = (self.conns.len() + self.connecting.len()) < policy.max_connections as usize;
                if room && peer != self.id && self.conn_index(peer).is_none() && !self.connecting.contains(&peer) {
                    self.connecting.push(peer);
                    out.messages.push((peer, WireMessage::Connect { bitfield: self.picker.bitfield() }));
                }
            }
            return Ok(());
        }
        let Some(index) = self.conn_index(from) else {
            return self.unconnected(now, from, message, policy, out);
        };
        match message {
            WireMessage::Have { piece } => {
                if piece >= self.picker.pieces() {
                    return Err(self.error(from, format!("have of piece {piece}, past the file")));
                }
                let conn = &mut self.conns[index];
                if !bits::test(&conn.bitfield, piece) {
                    bits::set(&mut conn.bitfield, piece);
                    self.picker.gained(piece);
                    if !self.picker.has(piece) {
                        conn.wanted += 1;
                        if !conn.am_interested {
                            conn.am_interested = true;
                            conn.interested_since = now;
                            out.messages.push((from, WireMessage::Interested));
                        }
                    }
                }
                if self.picker.complete() && self.holds_all(index) {
                    self.close(now, index, true, file, policy, out);
                    return Ok(());
                }
                self.fill(index, policy, out);
            }
            // An interested connection takes a free slot at once (libtorrent's rule), rather
            // than wait for the next rechoke: a peer's first pieces spread sooner.
            WireMessage::Interested => {
                self.conns[index].peer_interested = true;
                let free_slot = match policy.choke {
                    Choke::None => true,
                    Choke::TitForTat => self.unchoked() < policy.unchoke_slots + policy.optimistic_slots,
                };
                if free_slot && self.uploads && self.conns[index].am_choking {
                    self.unchoke(now, index, out);
                }
            }
            // An unchoked connection that loses interest keeps its slot to the next rechoke:
            // choking it at once and giving the slot to the connection choked longest (as
            // libtorrent does) cost a 1,000-leecher crowd of a 20 MiB file 7% of its efficiency
            // (0.55 to 0.51, over 3 seeds), the slot going to peers that do not reciprocate.
            WireMessage::NotInterested => self.conns[index].peer_interested = false,
            WireMessage::Choke => {
                let conn = &mut self.conns[index];
                conn.peer_choking = true;
                for block in conn.asked.drain(..) {
                    self.picker.unask(block);
                }
                // What was asked of it may now be asked of others.
                self.fill_all(policy, out);
            }
            WireMessage::Unchoke => {
                self.conns[index].peer_choking = false;
                self.fill(index, policy, out);
            }
            WireMessage::Request { blocks } => {
                let conn = &mut self.conns[index];
                if conn.am_choking {
                    return Ok(()); // requests to a choked connection are dropped, as BEP 3 has it
                }
                for block in blocks.iter().copied() {
                    if !self.picker.has(block.piece) || block.block >= self.picker.blocks_of(block.piece) {
                        return Err(self.error(from, format!("request of {block:?}, which it does not hold")));
                    }
                    conn.queue.push(block);
                }
                self.serve(index, file, policy, out);
            }
            WireMessage::Cancel { block } => self.conns[index].queue.retain(|queued| *queued != block),
            WireMessage::Close => self.close(now, index, false, file, policy, out),
            WireMessage::Connect { .. } | WireMessage::Accept { .. } => {
                return Err(self.error(from, "a second handshake on an open connection"));
            }
            other => return Err(self.error(from, format!("unexpected {other:?}"))),
        }
        Ok(())
    }

    /// A message from a peer it has no connection with: a handshake, an answer to its own, or a
    /// `have` it was sent while its handshake was refused.
    fn unconnected(
        &mut self,
        now: Nanos,
        from: u32,
        message: WireMessage,
        policy: &Policy,
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        let attempted = self.connecting.iter().position(|&p| p == from);
        match message {
            WireMessage::Connect { bitfield } => {
                if let Some(at) = attempted {
                    // Both asked at once: each has the other's bitfield, and each kept room.
                    self.connecting.swap_remove(at);
                    self.open(now, from, bitfield, out)?;
                } else if self.conns.len() + self.connecting.len() < policy.max_connections as usize {
                    out.messages.push((from, WireMessage::Accept { bitfield: self.picker.bitfield() }));
                    self.open(now, from, bitfield, out)?;
                } else {
                    out.messages.push((from, WireMessage::Refuse));
                }
            }
            WireMessage::Accept { bitfield } => {
                let Some(at) = attempted else {
                    return Err(self.error(from, "an accept it did not ask for"));
                };
                self.connecting.swap_remove(at);
                self.open(now, from, bitfield, out)?;
            }
            WireMessage::Refuse => {
                if let Some(at) = attempted {
                    self.connecting.swap_remove(at);
                }
            }
            // What a peer said before it learnt of a close (or while its handshake was being
            // refused) comes after the connection is gone: nothing to do with it.
            WireMessage::Have { .. }
            | WireMessage::Interested
            | WireMessage::NotInterested
            | WireMessage::Choke
            | WireMessage::Unchoke
            | WireMessage::Request { .. }
            | WireMessage::Cancel { .. }
            | WireMessage::Close => {}
            other => return Err(self.error(from, format!("{other:?} with no connection"))),
        }
        Ok(())
    }

    /// A connection opens, the remote holding `bitfield`.
    fn open(&mut self, now: Nanos, peer: u32, bitfield: Box<[u64]>, out: &mut Out) -> Result<(), ProtocolError> {
        if bitfield.len() != bits::words_for(self.picker.pieces()) {
            return Err(self.error(peer, "a bitfield of the wrong length"));
        }
        self.picker.gained_all(&bitfield);
        let wanted = self.picker.wanted_in(&bitfield);
        let conn = Conn {
            peer,
            bitfield,
            wanted,
            am_choking: true,
            am_interested: wanted > 0,
            peer_choking: true,
            peer_interested: false,
            asked: Blocks::new(),
            queue: Blocks::new(),
            sending: None,
            got: [0; 2],
            sent_this_round: 0,
            sent_since_unchoked: 0,
            last_block_at: now,
            interested_since: now,
            connected_at: now,
            waiting_since: now,
            unchoked_since: None,
            choked_since: now,
            optimistic: false,
            regular_since: None,
            regular_ns: 0,
        };
        if wanted > 0 {
            out.messages.push((peer, WireMessage::Interested));
        }
        let at = self.ids.partition_point(|&id| id < peer);
        // Grown by a few, not doubled: a peer's connections are most of its memory, and their
        // number settles early (some 48 of 80 in a flash crowd, which doubling left in room
        // for 64).
        if self.conns.len() == self.conns.capacity() {
            let more = 4 + self.conns.len() / 8;
            self.conns.reserve_exact(more);
            self.ids.reserve_exact(more);
        }
        self.conns.insert(at, conn);
        self.ids.insert(at, peer);
        if self.picker.complete() && self.holds_all(at) {
            // Two seeds: nothing to trade, and each connection is room another could use.
            self.drop_conn(now, at, out);
        }
        Ok(())
    }

    /// The remote of a connection holds every piece.
    fn holds_all(&self, index: usize) -> bool {
        let held: u32 = self.conns[index].bitfield.iter().map(|word| word.count_ones()).sum();
        held == self.picker.pieces()
    }

    /// Closes a connection (telling the remote, if `tell`): what it held is no longer
    /// available, what was asked of it may be asked of others, and a block on the uplink for
    /// it still leaves (counted now).
    fn close(&mut self, now: Nanos, index: usize, tell: bool, file: &Geometry, policy: &Policy, out: &mut Out) {
        if let Some(block) = self.conns[index].sending {
            self.stats.uploaded_bytes += u64::from(file.block_bytes(policy, block));
        }
        let had_asked = !self.conns[index].asked.is_empty();
        if tell {
            self.drop_conn(now, index, out);
        } else {
            self.forget(now, index);
        }
        if had_asked && !self.picker.complete() {
            self.fill_all(policy, out);
        }
    }

    /// Closes a connection that has nothing on the uplink, and tells the remote.
    fn drop_conn(&mut self, now: Nanos, index: usize, out: &mut Out) {
        let peer = self.forget(now, index);
        out.messages.push((peer, WireMessage::Close));
    }

    /// Removes a connection and all it counted for; its remote.
    fn forget(&mut self, now: Nanos, index: usize) -> u32 {
        let conn = self.conns.remove(index);
        self.ids.remove(index);
        for piece in super::picker::ones(&conn.bitfield, self.picker.pieces()) {
            self.picker.lost(piece);
        }
        for block in conn.asked.iter().copied() {
            self.picker.unask(block);
        }
        let regular = conn.regular_ns(now);
        if regular > 0 {
            self.stats.closed_regular_ns.push((conn.peer, regular));
        }
        conn.peer
    }

    /// Connections it unchokes now.
    fn unchoked(&self) -> u32 {
        self.conns.iter().filter(|c| !c.am_choking).count() as u32
    }

    /// Unchokes a connection between rechokes, into a free slot: a regular unchoke until the
    /// next rechoke says otherwise.
    fn unchoke(&mut self, now: Nanos, index: usize, out: &mut Out) {
        let conn = &mut self.conns[index];
        conn.am_choking = false;
        conn.unchoked_since = Some(now);
        conn.optimistic = false;
        if !self.picker.complete() {
            conn.regular_since = Some(now);
        }
        out.messages.push((conn.peer, WireMessage::Unchoke));
    }

    /// Asks an unchoking connection for blocks until its pipeline is full or nothing is left.
    fn fill(&mut self, index: usize, policy: &Policy, out: &mut Out) {
        let was_endgame = self.picker.all_asked();
        let conn = &mut self.conns[index];
        if conn.peer_choking || !conn.am_interested {
            return;
        }
        let mut blocks: SmallVec<[BlockRef; 5]> = SmallVec::new();
        while conn.asked.len() < policy.requests_in_flight as usize {
            let Some(block) = self.picker.pick(&conn.bitfield, &conn.asked, policy, &mut self.rng) else { break };
            conn.asked.push(block);
            blocks.push(block);
        }
        if !blocks.is_empty() {
            out.messages.push((conn.peer, WireMessage::Request { blocks: blocks.into_vec().into_boxed_slice() }));
        }
        if policy.endgame && !was_endgame && self.picker.all_asked() {
            // Endgame has begun: every unchoking connection may now take duplicates.
            self.fill_all(policy, out);
        }
    }

    fn fill_all(&mut self, policy: &Policy, out: &mut Out) {
        for index in 0..self.conns.len() {
            if self.conns[index].asked.len() < policy.requests_in_flight as usize {
                self.fill(index, policy, out);
            }
        }
    }

    /// Starts the next requested block for a connection, if its uplink slot is free.
    fn serve(&mut self, index: usize, file: &Geometry, policy: &Policy, out: &mut Out) {
        let conn = &mut self.conns[index];
        if conn.sending.is_some() || conn.am_choking || conn.queue.is_empty() {
            return;
        }
        let block = conn.queue.remove(0);
        conn.sending = Some(block);
        out.blocks.push((conn.peer, block, file.block_bytes(policy, block)));
    }

    /// The block this peer was sending to `to` has left its uplink: which it was.
    pub fn on_block_sent(&mut self, to: u32, file: &Geometry, policy: &Policy, out: &mut Out) -> Option<BlockRef> {
        let index = self.conn_index(to)?;
        let conn = &mut self.conns[index];
        let block = conn.sending.take()?;
        let bytes = u64::from(file.block_bytes(policy, block));
        conn.sent_this_round += bytes;
        conn.sent_since_unchoked += bytes;
        self.stats.uploaded_bytes += bytes;
        self.serve(index, file, policy, out);
        Some(block)
    }

    /// A block from `from` has come through this peer's downlink.
    pub fn on_block(
        &mut self,
        now: Nanos,
        from: u32,
        block: BlockRef,
        bytes: u32,
        policy: &Policy,
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        let Some(index) = self.conn_index(from) else {
            // Sent before the connection closed (only seeds close, so it comes to a peer that
            // holds the file): a block received again.
            if !self.picker.complete() {
                return Err(self.error(from, "a block with no connection"));
            }
            self.stats.duplicate_bytes += u64::from(bytes);
            return Ok(());
        };
        let asks = self.picker.asks(block);
        let conn = &mut self.conns[index];
        conn.got[0] += u64::from(bytes);
        conn.last_block_at = now;
        let asked_here = conn.asked.contains(&block);
        conn.asked.retain(|asked| *asked != block);
        let arrived = self.picker.arrived(block);
        if arrived == Arrived::Duplicate {
            self.stats.duplicate_bytes += u64::from(bytes);
        } else {
            self.stats.downloaded_bytes += u64::from(bytes);
        }
        // Whoever else was asked for it is told not to bother (endgame's cancels; and a block
        // asked again after a choke that came anyway), and may be asked for another.
        let mut cancelled: SmallVec<[usize; 4]> = SmallVec::new();
        if asks > u8::from(asked_here) {
            for (other, conn) in self.conns.iter_mut().enumerate() {
                if other != index && conn.asked.contains(&block) {
                    conn.asked.retain(|asked| *asked != block);
                    out.messages.push((conn.peer, WireMessage::Cancel { block }));
                    cancelled.push(other);
                }
            }
        }
        if arrived == Arrived::Piece {
            self.completed_piece(now, block.piece, out);
        }
        if self.picker.complete() {
            return Ok(());
        }
        // Only connections with room now need asking: new work for an idle one comes with
        // its `have`s, a choke elsewhere (`fill_all`) or endgame's start, each handled there.
        self.fill(index, policy, out);
        for other in cancelled {
            self.fill(other, policy, out);
        }
        Ok(())
    }

    fn completed_piece(&mut self, now: Nanos, piece: u32, out: &mut Out) {
        for conn in &mut self.conns {
            if bits::test(&conn.bitfield, piece) {
                conn.wanted -= 1;
                if conn.wanted == 0 && conn.am_interested {
                    conn.am_interested = false;
                    out.messages.push((conn.peer, WireMessage::NotInterested));
                }
            } else {
                out.messages.push((conn.peer, WireMessage::Have { piece }));
            }
        }
        // Those it is still connecting to learn it too, after their handshake.
        for &peer in &self.connecting {
            out.messages.push((peer, WireMessage::Have { piece }));
        }
        if self.picker.complete() {
            self.stats.done_at = Some(now);
            out.completed = true;
            for conn in &mut self.conns {
                if let Some(since) = conn.regular_since.take() {
                    conn.regular_ns += now - since;
                }
                for block in conn.asked.drain(..) {
                    out.messages.push((conn.peer, WireMessage::Cancel { block }));
                }
            }
            // Now a seed: connections to other seeds go, leaving room for leechers.
            for index in (0..self.conns.len()).rev() {
                if self.holds_all(index) && self.conns[index].sending.is_none() {
                    self.drop_conn(now, index, out);
                }
            }
        }
    }

    /// The peer's timer, every `rechoke`: the choker runs, and the peer announces if due.
    pub fn on_tick(&mut self, now: Nanos, file: &Geometry, policy: &Policy, out: &mut Out) {
        if self.stats.rechokes == 0 {
            self.stats.first_rechoke_at = now;
        }
        self.stats.rechokes += 1;
        self.stats.last_rechoke_at = now;
        if !self.picker.complete() && !self.conns.is_empty() {
            let interested = self.conns.iter().filter(|c| c.am_interested).count() as u64;
            self.stats.interest_ppm_sum += interested * 1_000_000 / self.conns.len() as u64;
            self.stats.interest_samples += 1;
        }
        let candidates: Vec<Candidate> = self
            .conns
            .iter_mut()
            .map(|conn| {
                let rate = conn.got[0] + conn.got[1];
                conn.got = [0, conn.got[0]];
                let sent_last_round = std::mem::take(&mut conn.sent_this_round);
                Candidate {
                    peer: conn.peer,
                    interested: conn.peer_interested,
                    rate,
                    snubbed: conn.snubbed(now, policy),
                    connected_at: conn.connected_at,
                    waiting_since: conn.waiting_since,
                    unchoked_since: conn.unchoked_since,
                    choked_since: conn.choked_since,
                    sent_last_round,
                    sent_since_unchoked: conn.sent_since_unchoked,
                }
            })
            .collect();
        let seed = self.picker.complete();
        let unchoked =
            self.choker.rechoke(now, seed, self.uploads, file.piece_bytes, policy, &candidates, &mut self.rng);
        for conn in &mut self.conns {
            let regular = unchoked.regular.contains(&conn.peer);
            let optimistic = unchoked.optimistic.contains(&conn.peer);
            if conn.optimistic && !optimistic {
                conn.waiting_since = now;
            }
            if let Some(since) = conn.regular_since.filter(|_| !regular) {
                conn.regular_ns += now - since;
                conn.regular_since = None;
            }
            if regular && !seed && conn.regular_since.is_none() {
                conn.regular_since = Some(now);
            }
            conn.optimistic = optimistic;
            match (conn.am_choking, regular || optimistic) {
                (true, true) => {
                    conn.am_choking = false;
                    conn.unchoked_since = Some(now);
                    conn.sent_since_unchoked = 0;
                    out.messages.push((conn.peer, WireMessage::Unchoke));
                }
                (false, false) => {
                    conn.am_choking = true;
                    conn.unchoked_since = None;
                    conn.choked_since = now;
                    conn.queue.clear();
                    out.messages.push((conn.peer, WireMessage::Choke));
                }
                _ => {}
            }
        }
        let due = now >= self.last_announce + policy.reannounce;
        // A seed waits to be found by leechers' announces; a leecher looks for more peers.
        let short = !self.picker.complete()
            && self.conns.len() + self.connecting.len() < policy.min_connections as usize
            && now >= self.last_announce + policy.min_reannounce;
        if due || short {
            self.last_announce = now;
            out.messages.push((TRACKER, WireMessage::Announce));
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::bt::policy::Optimistic;

    const SECOND: Nanos = 1_000_000_000;

    /// 8 pieces of 2 blocks.
    fn file() -> Geometry {
        Geometry { pieces: 8, piece_bytes: 32 * 1024, last_piece_bytes: 32 * 1024 }
    }

    fn full() -> Box<[u64]> {
        vec![0xff].into_boxed_slice()
    }

    fn empty() -> Box<[u64]> {
        vec![0].into_boxed_slice()
    }

    /// Peer 1, a leecher, connected at time 0 to `remotes` (each holding `bitfield`), each of
    /// which says it is interested.
    fn uploader(policy: &Policy, remotes: std::ops::RangeInclusive<u32>, bitfield: Box<[u64]>) -> Peer {
        let mut peer = Peer::new(1, false, true, &file(), policy, 9);
        let mut out = Out::default();
        for remote in remotes {
            peer.on_message(0, remote, WireMessage::Connect { bitfield: bitfield.clone() }, &file(), policy, &mut out)
                .unwrap();
            peer.on_message(0, remote, WireMessage::Interested, &file(), policy, &mut out).unwrap();
        }
        peer
    }

    fn unchoked(peer: &Peer) -> (Vec<u32>, Vec<u32>) {
        let regular = peer.conns().iter().filter(|c| c.is_unchoked() && !c.is_optimistic()).map(|c| c.peer).collect();
        let optimistic = peer.conns().iter().filter(|c| c.is_optimistic()).map(|c| c.peer).collect();
        (regular, optimistic)
    }

    /// After libtorrent's own simulation test of optimistic unchokes: 20 interested peers that
    /// upload nothing, an uploader with no regular slot and 1 optimistic one, 1,800 s: each
    /// peer is unchoked for 90 s, within 1.5 s.
    #[test]
    fn optimistic_unchokes_take_fair_turns() {
        let policy = Policy { unchoke_slots: 0, optimistic_slots: 1, ..Policy::default() };
        let mut peer = uploader(&policy, 2..=21, empty());
        let mut since: [Option<Nanos>; 22] = [None; 22];
        let mut total = [0u64; 22];
        let mut out = Out::default();
        for conn in peer.conns().iter().filter(|c| c.is_unchoked()) {
            since[conn.peer as usize] = Some(0); // a free slot, filled when it said it was interested
        }
        let end = 1800 * SECOND;
        for tick in 0..180 {
            let now = tick * 10 * SECOND;
            peer.on_tick(now, &file(), &policy, &mut out);
            for (to, message) in out.messages.drain(..) {
                match message {
                    WireMessage::Unchoke => since[to as usize] = Some(now),
                    WireMessage::Choke => total[to as usize] += now - since[to as usize].take().unwrap(),
                    _ => {}
                }
            }
            let (regular, optimistic) = unchoked(&peer);
            assert!(regular.is_empty() && optimistic.len() == 1, "at {tick}: {regular:?} {optimistic:?}");
        }
        for remote in 2..=21 {
            let time = total[remote] + since[remote].map_or(0, |at| end - at);
            let off = time.abs_diff(90 * SECOND);
            assert!(off <= 3 * SECOND / 2, "peer {remote} was unchoked {} s", time as f64 / 1e9);
        }
    }

    #[test]
    fn three_regular_and_one_optimistic_rotating_every_thirty_seconds() {
        let policy = Policy::default();
        let mut peer = uploader(&policy, 2..=11, full());
        let mut out = Out::default();
        let mut last_optimistic = None;
        for tick in 0..12u64 {
            let now = tick * 10 * SECOND;
            // Peers 2, 3 and 4 send it something every period; the others nothing.
            for (from, blocks) in [(2, 3), (3, 2), (4, 1)] {
                for block in 0..blocks {
                    let block = BlockRef { piece: block, block: 0 };
                    peer.on_block(now + SECOND, from, block, 16 * 1024, &policy, &mut out).unwrap();
                }
            }
            peer.on_tick(now + 5 * SECOND, &file(), &policy, &mut out);
            let (mut regular, optimistic) = unchoked(&peer);
            regular.sort_unstable();
            assert_eq!(optimistic.len(), 1, "one optimistic unchoke");
            if tick >= 1 {
                assert_eq!(regular, vec![2, 3, 4], "at {tick}: the three best senders");
            }
            assert_eq!(regular.len(), 3);
            if tick % 3 != 0 {
                assert_eq!(Some(optimistic[0]), last_optimistic, "at {tick}: it rotates every 30 s only");
            }
            last_optimistic = Some(optimistic[0]);
        }
    }

    #[test]
    fn a_snubbed_peer_is_unchoked_only_optimistically() {
        let policy = Policy { optimistic_rule: Optimistic::Random, ..Policy::default() };
        let mut peer = uploader(&policy, 2..=8, full());
        let mut out = Out::default();
        for tick in 0..30u64 {
            let now = tick * 10 * SECOND;
            // Only peer 2 ever sends it anything; the others are snubbed from 60 s on.
            peer.on_block(now + SECOND, 2, BlockRef { piece: 0, block: 0 }, 16 * 1024, &policy, &mut out).unwrap();
            peer.on_tick(now + 2 * SECOND, &file(), &policy, &mut out);
            let (regular, _) = unchoked(&peer);
            if now + 2 * SECOND >= 60 * SECOND {
                assert_eq!(regular, vec![2], "at {} s only the one sender has a regular slot", now / SECOND + 2);
            }
        }
    }

    #[test]
    fn endgame_asks_everyone_and_cancels_what_came() {
        let policy = Policy::default();
        // One piece of 2 blocks: the file is a single piece.
        let file = Geometry { pieces: 1, piece_bytes: 32 * 1024, last_piece_bytes: 32 * 1024 };
        let mut peer = Peer::new(1, false, true, &file, &policy, 3);
        let mut out = Out::default();
        for remote in [2, 3] {
            peer.on_message(0, remote, WireMessage::Connect { bitfield: vec![1].into() }, &file, &policy, &mut out)
                .unwrap();
        }
        peer.on_message(1, 2, WireMessage::Unchoke, &file, &policy, &mut out).unwrap();
        assert!(peer.picker().all_asked(), "both blocks asked of peer 2: endgame");
        peer.on_message(2, 3, WireMessage::Unchoke, &file, &policy, &mut out).unwrap();
        let asked = |peer: &Peer, remote: usize| peer.conns()[remote].asked().to_vec();
        assert_eq!(asked(&peer, 0).len(), 2);
        assert_eq!(asked(&peer, 1).len(), 2, "in endgame the same blocks are asked of peer 3 too");
        out.messages.clear();
        let first = asked(&peer, 0)[0];
        peer.on_block(3, 2, first, 16 * 1024, &policy, &mut out).unwrap();
        assert!(!asked(&peer, 1).contains(&first), "no duplicate in flight once the block came");
        assert!(out.messages.contains(&(3, WireMessage::Cancel { block: first })));
        let second = asked(&peer, 1)[0];
        peer.on_block(4, 3, second, 16 * 1024, &policy, &mut out).unwrap();
        assert!(peer.is_complete());
        assert!(peer.conns().iter().all(|c| c.asked().is_empty()));
        assert_eq!(peer.stats().duplicate_bytes, 0);
    }

    #[test]
    fn requests_to_a_choked_connection_are_dropped_and_a_choke_drops_the_queue() {
        let policy = Policy::default();
        let mut seed = Peer::new(1, true, true, &file(), &policy, 1);
        let mut out = Out::default();
        seed.on_message(0, 2, WireMessage::Connect { bitfield: empty() }, &file(), &policy, &mut out).unwrap();
        let request = || WireMessage::Request {
            blocks: vec![BlockRef { piece: 0, block: 0 }, BlockRef { piece: 0, block: 1 }].into(),
        };
        // Not interested yet, so not unchoked: its request is dropped.
        seed.on_message(1, 2, request(), &file(), &policy, &mut out).unwrap();
        assert!(out.blocks.is_empty());
        seed.on_message(2, 2, WireMessage::Interested, &file(), &policy, &mut out).unwrap();
        assert!(seed.conns()[0].is_unchoked(), "a free slot is filled at once");
        seed.on_message(3, 2, request(), &file(), &policy, &mut out).unwrap();
        assert_eq!(out.blocks.len(), 1, "one block at a time on the uplink");
        assert_eq!(seed.conns()[0].queued().len(), 1);
        seed.on_block_sent(2, &file(), &policy, &mut out);
        assert_eq!(out.blocks.len(), 2, "the next as the first leaves");
        assert_eq!(seed.stats().uploaded_bytes, 16 * 1024);
    }

    #[test]
    fn seeds_close_their_connections_to_seeds_and_what_comes_after_is_dropped() {
        let policy = Policy::default();
        let file = Geometry { pieces: 1, piece_bytes: 16 * 1024, last_piece_bytes: 16 * 1024 };
        let mut out = Out::default();
        // A seed that another seed connects to accepts, then closes at once.
        let mut seed = Peer::new(1, true, true, &file, &policy, 1);
        seed.on_message(0, 2, WireMessage::Connect { bitfield: vec![1].into() }, &file, &policy, &mut out).unwrap();
        assert!(seed.conns().is_empty());
        assert_eq!(out.messages.last(), Some(&(2, WireMessage::Close)));
        // What the other said before it heard is dropped, not an error.
        for late in [WireMessage::Interested, WireMessage::Have { piece: 0 }, WireMessage::Close] {
            seed.on_message(1, 2, late, &file, &policy, &mut out).unwrap();
        }
        // A leecher that completes the file closes its connection to a seed, keeps the others.
        let mut leecher = Peer::new(3, false, true, &file, &policy, 2);
        leecher.on_message(0, 1, WireMessage::Connect { bitfield: vec![1].into() }, &file, &policy, &mut out).unwrap();
        leecher.on_message(0, 4, WireMessage::Connect { bitfield: vec![0].into() }, &file, &policy, &mut out).unwrap();
        leecher.on_message(1, 1, WireMessage::Unchoke, &file, &policy, &mut out).unwrap();
        out.messages.clear();
        leecher.on_block(2, 1, BlockRef { piece: 0, block: 0 }, 16 * 1024, &policy, &mut out).unwrap();
        assert!(leecher.is_complete());
        assert_eq!(leecher.conns().iter().map(|c| c.peer).collect::<Vec<_>>(), vec![4]);
        assert!(out.messages.contains(&(1, WireMessage::Close)));
        assert!(out.messages.contains(&(4, WireMessage::Have { piece: 0 })));
        // A block the seed had sent before it heard counts as received again.
        leecher.on_block(3, 1, BlockRef { piece: 0, block: 0 }, 16 * 1024, &policy, &mut out).unwrap();
        assert_eq!(leecher.stats().duplicate_bytes, 16 * 1024);
    }
}
