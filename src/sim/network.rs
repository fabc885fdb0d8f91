//! The network of the simulated engine: every peer's uplink and downlink, and the latency
//! between any two peers.
//!
//! A piece leaves the sender's uplink, shared with the sender's connections to other peers;
//! crosses the network in `latency`; then comes in through the receiver's downlink, shared with
//! its connections from other peers (each link: processor sharing among connections, pieces of
//! one connection one after the other, `link.rs`). So a piece that has both links to itself
//! takes `b/u + latency + b/d`, and a stream that keeps two or more pieces in flight moves at
//! `min(u, d)`: the downlink takes one piece while the uplink sends the next. Uploads to `k`
//! peers get `u/k` each, and no link ever moves more than its capacity.
//!
//! Each link is local to its peer, and a shard's `Network` holds its own peers' links alone: a
//! piece is the sender's shard's until it leaves the uplink, and travels to the receiver's in
//! its `Arrive` event, a latency later. So shards share nothing but events at least a latency
//! ahead, which is what lets them run a window of that length apart (DESIGN.md, "sharding").
//!
//! Messages without a payload to speak of (requests, refusals, the tracker's) take `latency`
//! alone; the engine schedules those itself.

use super::link::{Link, Nanos, Sent, TransferId};
use super::placement::Placement;
use crate::prefetch;

/// Which of a peer's two links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// What the network asks the engine to schedule, and hands back when it is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent<P> {
    /// The next completion of the link in `direction` of the event's peer (its key's `to`),
    /// ignored if the link's next completion has moved since. `remote` is the peer at the other
    /// end of the piece expected to finish then: a hint, for the engine to ask ahead for that
    /// connection's memory (its peer reads it as the piece leaves or arrives); what finishes
    /// is the link's to say when the event comes.
    LinkDue { direction: Direction, remote: u32 },
    /// A piece has crossed the network and reaches the receiver's downlink, with all the
    /// receiver's shard needs of it.
    Arrive(Arrival<P>),
}

/// A piece reaching its receiver's downlink. Its sender and receiver are its event's (the key's
/// `from` and `to`), not repeated here: the queue keeps some ten events a peer, and this, the
/// largest kind, set the size of them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival<P> {
    pub bits: u64,
    pub payload: P,
}

/// One piece on one of a shard's links, and what the engine will want back when it is through.
struct Transfer<P> {
    from: u32,
    to: u32,
    bits: u64,
    payload: P,
}

/// A piece's time on one link: the engine keeps them when asked, so that a test can check that
/// no link carried more than its capacity in any interval. Each link's shard records its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRecord {
    /// The link's peer: the sender, on an uplink; the receiver, on a downlink.
    pub peer: u32,
    pub direction: Direction,
    pub bits: u64,
    /// When the piece started on the link, and when it was through.
    pub start: Nanos,
    pub end: Nanos,
}

/// Where the network puts the events it needs: the engine's queue, which keys them
/// (`queue::Sequencer`), or another shard's.
pub trait Schedule<P> {
    /// An event at `at` for peer `to`, caused by peer `from`.
    fn schedule(&mut self, at: Nanos, to: u32, from: u32, event: NetEvent<P>);
}

/// One of a peer's links with what the network keeps of it. Every event of a link reads all of
/// it, so it is one value, its bookkeeping first and then the link's own clock, together in its
/// first 64 bytes (one or two cache lines, as the element falls): kept in vectors of their own,
/// the due times and the bits sent were a miss each.
#[repr(C)]
struct Port {
    /// The completion the link has an event scheduled for; an event for another time is stale.
    due: Option<Nanos>,
    /// The bits it has sent so far (an uplink: each piece counted once it is through).
    sent_bits: u64,
    link: Link,
}

impl Port {
    fn new(capacity: u64) -> Port {
        Port { due: None, sent_bits: 0, link: Link::new(capacity) }
    }
}

/// The links of one shard's peers.
pub struct Network<P> {
    latency: Nanos,
    placement: Placement,
    /// By row (`Placement::slot`).
    uplinks: Vec<Port>,
    downlinks: Vec<Port>,
    /// Pieces on this shard's links, by transfer id (a name local to the shard, which decides
    /// nothing); freed ids are reused.
    transfers: Vec<Option<Transfer<P>>>,
    free: Vec<TransferId>,
    /// When a piece started on the link it is on, by transfer id: kept only with `records`.
    started: Vec<Nanos>,
    records: Option<Vec<LinkRecord>>,
    finished: Vec<Sent>,
    /// An uplink whose completion `handle` left for `settle` to schedule.
    unsettled: Option<u32>,
}

impl<P> Network<P> {
    /// The links of a shard's rows, with these (upload, download) capacities in bit/s, row by
    /// row; `placement` says which row each peer has.
    pub fn new(latency: Nanos, placement: Placement, capacities: impl IntoIterator<Item = (u64, u64)>) -> Network<P> {
        let (uplinks, downlinks): (Vec<Port>, Vec<Port>) =
            capacities.into_iter().map(|(up, down)| (Port::new(up), Port::new(down))).unzip();
        Network {
            latency,
            placement,
            uplinks,
            downlinks,
            transfers: Vec::new(),
            free: Vec::new(),
            started: Vec::new(),
            records: None,
            finished: Vec::new(),
            unsettled: None,
        }
    }

    /// Pieces on this shard's links, not yet delivered (pieces between shards are not counted).
    pub fn in_flight(&self) -> usize {
        self.transfers.len() - self.free.len()
    }

    /// Asks for row `row`'s link in `direction` and what its next completion reads, without
    /// waiting for them (`crate::prefetch`): at stage 0 the link, at stage 1 (which reads what
    /// stage 0 brought in) its list of pieces, at stage 2, for a `completion`, the piece that
    /// finishes next; nothing at later stages. (The list is in the link up to six pieces, and
    /// beyond in an allocation of its own: read at stage 1, it was a twentieth of a run's time,
    /// a miss that no hint had asked for.) Only a completion reads a piece's record, and only
    /// the finishing one's: asking for every piece on the link took room among the misses the
    /// processor keeps in flight.
    pub fn warm(&self, row: usize, direction: Direction, stage: usize, completion: bool) {
        let links = match direction {
            Direction::Up => &self.uplinks,
            Direction::Down => &self.downlinks,
        };
        let Some(port) = links.get(row) else { return };
        match stage {
            0 => prefetch::value(port),
            1 => port.link.warm_transfers(),
            2 if completion => {
                if let Some(transfer) = port.link.next_transfer().and_then(|id| self.transfers.get(id as usize)) {
                    prefetch::value(transfer);
                }
            }
            _ => {}
        }
    }

    /// What the piece that finishes next on row `row`'s link in `direction` carries, if its
    /// record is at hand: for a hint at the stage after `warm`'s last (a delivered piece's
    /// payload may point to memory of its own).
    pub fn next_payload(&self, row: usize, direction: Direction) -> Option<&P> {
        let links = match direction {
            Direction::Up => &self.uplinks,
            Direction::Down => &self.downlinks,
        };
        let id = links.get(row)?.link.next_transfer()?;
        self.transfers.get(id as usize)?.as_ref().map(|transfer| &transfer.payload)
    }

    /// The bits peer `id`'s uplink has sent so far (each piece counted once it is through).
    pub fn sent_bits(&self, id: u32) -> u64 {
        self.uplinks[self.placement.slot(id)].sent_bits
    }

    /// Keep a record of every piece delivered (`records`): called before any is sent.
    pub fn keep_records(&mut self) {
        assert!(self.transfers.is_empty(), "records are kept from the start or not at all");
        self.records.get_or_insert_with(Vec::new);
    }

    /// The pieces each link has carried so far, if `keep_records` was called.
    pub fn records(&self) -> &[LinkRecord] {
        self.records.as_deref().unwrap_or(&[])
    }

    /// Holds a piece starting on one of the shard's links at `now`.
    fn hold(&mut self, now: Nanos, transfer: Transfer<P>) -> TransferId {
        let id = match self.free.pop() {
            Some(id) => {
                self.transfers[id as usize] = Some(transfer);
                id
            }
            None => {
                // Grown by an eighth, not doubled: the table reaches its size early in a run
                // and keeps it, and doubled it left a third of itself unused (a piece on a link
                // is 56 bytes, and a peer has some twelve out).
                if self.transfers.len() == self.transfers.capacity() {
                    self.transfers.reserve_exact(1 + self.transfers.len() / 8);
                }
                self.transfers.push(Some(transfer));
                if self.records.is_some() {
                    self.started.push(0);
                }
                self.transfers.len() as TransferId - 1
            }
        };
        if self.records.is_some() {
            self.started[id as usize] = now;
        }
        id
    }

    /// Takes a piece off the link it was on, and records its time there.
    fn release(&mut self, now: Nanos, id: TransferId, direction: Direction) -> Transfer<P> {
        let transfer = self.transfers[id as usize].take().expect("a transfer on a link is held");
        self.free.push(id);
        if let Some(records) = &mut self.records {
            let peer = if direction == Direction::Up { transfer.from } else { transfer.to };
            let start = self.started[id as usize];
            records.push(LinkRecord { peer, direction, bits: transfer.bits, start, end: now });
        }
        transfer
    }

    /// Sends a piece of `bits` from `from` (one of the shard's peers) to `to`, starting on the
    /// sender's uplink at `now`.
    pub fn send(&mut self, now: Nanos, from: u32, to: u32, bits: u64, payload: P, out: &mut impl Schedule<P>) {
        let id = self.hold(now, Transfer { from, to, bits, payload });
        self.uplinks[self.placement.slot(from)].link.start(now, to, id, bits);
        self.reschedule(from, Direction::Up, out);
    }

    /// Handles one of the network's own events, caused by peer `from` for peer `to` (its key's
    /// peers). Pieces that came through the receiver's downlink go to `delivered` as (sender,
    /// receiver, payload); those that left the sender's uplink, to `departed` as (sender,
    /// receiver). Call `settle` once the sender has put on its uplink what follows them: the
    /// uplink's next completion is scheduled then, once, rather than now and again when the
    /// next piece joins (a block's departure was two events).
    pub fn handle(
        &mut self,
        now: Nanos,
        (from, to): (u32, u32),
        event: NetEvent<P>,
        out: &mut impl Schedule<P>,
        delivered: &mut Vec<(u32, u32, P)>,
        departed: &mut Vec<(u32, u32)>,
    ) {
        debug_assert!(self.unsettled.is_none(), "an uplink left unsettled");
        match event {
            NetEvent::Arrive(Arrival { bits, payload }) => {
                let id = self.hold(now, Transfer { from, to, bits, payload });
                self.downlinks[self.placement.slot(to)].link.start(now, from, id, bits);
                self.reschedule(to, Direction::Down, out);
            }
            NetEvent::LinkDue { direction, .. } => {
                let peer = to;
                let row = self.placement.slot(peer);
                let due = match direction {
                    Direction::Up => &mut self.uplinks[row].due,
                    Direction::Down => &mut self.downlinks[row].due,
                };
                if *due != Some(now) {
                    return; // stale: the link's next completion moved after this was scheduled
                }
                *due = None;
                let mut finished = std::mem::take(&mut self.finished);
                match direction {
                    Direction::Up => {
                        self.uplinks[row].link.finish(now, &mut finished);
                        for &Sent { id, .. } in &finished {
                            let Transfer { from, to, bits, payload } = self.release(now, id, Direction::Up);
                            self.uplinks[row].sent_bits += bits;
                            departed.push((from, to));
                            let arrival = Arrival { bits, payload };
                            out.schedule(now + self.latency, to, from, NetEvent::Arrive(arrival));
                        }
                    }
                    Direction::Down => {
                        self.downlinks[row].link.finish(now, &mut finished);
                        for &Sent { id, .. } in &finished {
                            let piece = self.release(now, id, Direction::Down);
                            delivered.push((piece.from, piece.to, piece.payload));
                        }
                    }
                }
                finished.clear();
                self.finished = finished;
                match direction {
                    Direction::Up => self.unsettled = Some(peer),
                    Direction::Down => self.reschedule(peer, direction, out),
                }
            }
        }
    }

    /// Schedules the next completion of the uplink `handle` left unsettled, if any.
    pub fn settle(&mut self, out: &mut impl Schedule<P>) {
        if let Some(peer) = self.unsettled.take() {
            self.reschedule(peer, Direction::Up, out);
        }
    }

    /// Schedules the link's next completion if it has moved.
    fn reschedule(&mut self, peer: u32, direction: Direction, out: &mut impl Schedule<P>) {
        let row = self.placement.slot(peer);
        let Port { link, due, .. } = match direction {
            Direction::Up => &mut self.uplinks[row],
            Direction::Down => &mut self.downlinks[row],
        };
        let next = link.next_completion();
        if next != *due {
            *due = next;
            if let (Some(at), Some(remote)) = (next, link.next_flow()) {
                out.schedule(at, peer, peer, NetEvent::LinkDue { direction, remote });
            }
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::sim::placement::Placement;
    use crate::sim::queue::{EventQueue, Sequencer};

    const MBIT: u64 = 1_000_000;
    const SECOND: Nanos = 1_000_000_000;
    const MS: Nanos = 1_000_000;

    /// The engine's queue, as the network sees it.
    struct Queue {
        events: EventQueue<NetEvent<u32>>,
        sequencer: Sequencer,
    }

    impl Schedule<u32> for Queue {
        fn schedule(&mut self, at: Nanos, to: u32, from: u32, event: NetEvent<u32>) {
            self.events.push(self.sequencer.key(at, to, from), event);
        }
    }

    /// A network and its queue, run by hand: the engine's loop without a protocol.
    struct Bench {
        network: Network<u32>,
        queue: Queue,
        /// (sender, receiver, payload, arrival time)
        delivered: Vec<(u32, u32, u32, Nanos)>,
    }

    impl Bench {
        fn new(latency: Nanos, capacities: &[(u64, u64)]) -> Bench {
            // One shard: peer k on row k.
            let mut network = Network::new(latency, Placement::whole(), capacities.iter().copied());
            network.keep_records();
            let queue =
                Queue { events: EventQueue::new(), sequencer: Sequencer::new(Placement::whole(), capacities.len()) };
            Bench { network, queue, delivered: vec![] }
        }

        fn send(&mut self, now: Nanos, from: u32, to: u32, bits: u64, payload: u32) {
            self.network.send(now, from, to, bits, payload, &mut self.queue);
        }

        /// Runs events up to and including `until`; what arrives is answered by `on_arrival`.
        fn run(&mut self, until: Nanos, mut on_arrival: impl FnMut(&mut Bench, u32, u32, u32, Nanos)) {
            while self.queue.events.next_time().is_some_and(|at| at <= until) {
                let (key, event) = self.queue.events.pop().expect("peeked");
                let mut delivered = Vec::new();
                self.network.handle(
                    key.at,
                    (key.from, key.to),
                    event,
                    &mut self.queue,
                    &mut delivered,
                    &mut Vec::new(),
                );
                self.network.settle(&mut self.queue);
                for (from, to, payload) in delivered {
                    self.delivered.push((from, to, payload, key.at));
                    on_arrival(self, from, to, payload, key.at);
                }
            }
        }
    }

    #[test]
    fn a_lone_piece_takes_both_links_and_the_latency() {
        let mut bench = Bench::new(50 * MS, &[(MBIT, 4 * MBIT), (MBIT, 4 * MBIT)]);
        bench.send(0, 0, 1, 2 * MBIT, 7);
        bench.run(u64::MAX, |_, _, _, _, _| {});
        // 2 s on the 1 Mbit/s uplink, 50 ms across, 0.5 s on the 4 Mbit/s downlink.
        assert_eq!(bench.delivered, vec![(0, 1, 7, 2 * SECOND + 50 * MS + SECOND / 2)]);
    }

    /// A stream that keeps `in_flight` pieces out, each asked again as one arrives, moves at
    /// min(up, down) once it runs.
    fn stream_rate(up: u64, down: u64, in_flight: u32) -> f64 {
        let piece = 2 * MBIT;
        let mut bench = Bench::new(20 * MS, &[(up, 100 * MBIT), (100 * MBIT, down)]);
        for n in 0..in_flight {
            bench.send(0, 0, 1, piece, n);
        }
        bench.run(600 * SECOND, |bench, from, to, payload, at| {
            // The request for the next piece takes the latency to reach the sender.
            let _ = payload;
            bench.send(at + 20 * MS, from, to, piece, payload + in_flight);
        });
        // Steady state: the rate over the second half of the run.
        let arrivals: Vec<Nanos> = bench.delivered.iter().map(|d| d.3).collect();
        let half = arrivals.len() / 2;
        let (first, last) = (arrivals[half], *arrivals.last().unwrap());
        (arrivals.len() - 1 - half) as f64 * piece as f64 / ((last - first) as f64 / SECOND as f64)
    }

    #[test]
    fn a_pipelined_stream_moves_at_the_slower_of_the_two_links() {
        for (up, down) in [(MBIT, 4 * MBIT), (4 * MBIT, MBIT), (3 * MBIT, 3 * MBIT)] {
            let rate = stream_rate(up, down, 4);
            let expected = up.min(down) as f64;
            assert!((rate - expected).abs() / expected < 0.001, "up {up}, down {down}: {rate} bit/s");
        }
        // With one piece at a time the links take turns, and the stream is slower than either.
        let alone = stream_rate(MBIT, 4 * MBIT, 1);
        assert!(alone < 0.9 * MBIT as f64, "one piece at a time moved at {alone} bit/s");
    }

    #[test]
    fn k_uploads_from_one_peer_get_a_kth_each() {
        let k = 5u32;
        let capacities: Vec<(u64, u64)> =
            std::iter::once((5 * MBIT, 100 * MBIT)).chain((0..k).map(|_| (MBIT, 100 * MBIT))).collect();
        let mut bench = Bench::new(0, &capacities);
        for receiver in 1..=k {
            bench.send(0, 0, receiver, MBIT, receiver);
        }
        bench.run(u64::MAX, |_, _, _, _, _| {});
        // Each gets 1 Mbit/s of the 5: all leave the uplink at 1 s; the downlinks add 10 ms.
        assert_eq!(bench.delivered.len(), k as usize);
        assert!(bench.delivered.iter().all(|d| d.3 == SECOND + 10 * MS), "{:?}", bench.delivered);
    }

    #[test]
    fn no_link_carries_more_than_its_capacity_in_any_interval() {
        // A small random swarm of transfers; then, from the records alone, every interval
        // between two record times on every link holds no more bits than the link can carry.
        let mut rng = crate::rng::Rng::new(3);
        let peers = 6u32;
        let capacities: Vec<(u64, u64)> =
            (0..peers).map(|_| (1 + rng.below(4) * MBIT, 1 + rng.below(8) * MBIT)).collect();
        let mut bench = Bench::new(5 * MS, &capacities);
        let mut now = 0;
        for n in 0..200 {
            let from = rng.below(u64::from(peers)) as u32;
            let to = (from + 1 + rng.below(u64::from(peers) - 1) as u32) % peers;
            bench.send(now, from, to, 1 + rng.below(MBIT), n);
            now += rng.below(300 * MS);
            bench.run(now, |_, _, _, _, _| {});
        }
        bench.run(u64::MAX, |_, _, _, _, _| {});
        let records = bench.network.records().to_vec();
        assert_eq!(records.len(), 2 * 200, "each piece once on each of its two links");
        for peer in 0..peers {
            for (direction, capacity) in
                [(Direction::Up, capacities[peer as usize].0), (Direction::Down, capacities[peer as usize].1)]
            {
                let spans: Vec<(Nanos, Nanos, u64)> = records
                    .iter()
                    .filter(|r| r.peer == peer && r.direction == direction)
                    .map(|r| (r.start, r.end, r.bits))
                    .collect();
                let times: Vec<Nanos> = spans.iter().flat_map(|s| [s.0, s.1]).collect();
                for &a in &times {
                    for &b in times.iter().filter(|&&b| b > a) {
                        let inside: u128 = spans.iter().filter(|s| s.0 >= a && s.1 <= b).map(|s| u128::from(s.2)).sum();
                        let can = u128::from(capacity) * u128::from(b - a) / u128::from(SECOND);
                        assert!(
                            inside <= can,
                            "peer {peer} {direction:?}: {inside} bits in [{a}, {b}] ns, capacity {can}"
                        );
                    }
                }
            }
        }
    }
}
