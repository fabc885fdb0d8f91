//! One shard of a simulated run: some of the swarm's peers (and, on shard 0, the tracker), their
//! links and their events, run window by window (`window.rs`).
//!
//! Every decision is the protocol core's, the same code the live runtime's actors drive: the
//! tracker's state machine (`tracker.rs`, with a sampled peer set), each peer's download
//! scheduler (`peer::scheduler`), its way of keeping a swarm view (`peer::mirror::MirroredSwarm`)
//! and of answering a request (`peer::upload::reply`). What a shard adds is what the live
//! runtime gets from the world: time, and a network. A message takes the scenario's latency; a
//! granted piece travels through the sender's uplink, the latency and the receiver's downlink
//! (`network.rs`), and its reply arrives with it.
//!
//! A shard handles its events in the queue's total order (`queue.rs`). Peers touch each other
//! only through events, and every event for another peer happens at least a latency later: so
//! each peer sees the same events in the same order however the peers are split, and a run's
//! results depend on nothing but the scenario and its seed.

use super::bittorrent::{BitTorrentPeers, Changed, Net};
use super::engine::SimError;
use super::link::Nanos;
use super::network::{Direction, LinkRecord, NetEvent, Network, Schedule};
use super::outcome::{BitTorrentOutcome, FirstCopiesOutcome, PeerOutcome};
use super::placement::Placement;
use super::queue::{EventKey, EventQueue, Sequencer};
use super::scenario::Scenario;
use super::window::{WindowReport, earliest};
use crate::bt::message::{BlockRef, WireMessage};
use crate::bt::peer::ProtocolError;
use crate::model::{FileId, FileName, Hashes, OwnedFile, PeerId, SegmentHash};
use crate::peer::mirror::MirroredSwarm;
use crate::peer::policy::FewestInFlight;
use crate::peer::scheduler::{Actions, DownloadConfig, FileStart, Reply, Scheduler, WhenStalled};
use crate::peer::segments::{self, SegmentSet};
use crate::peer::{piece_policy, upload};
use crate::prefetch;
use crate::sync::Arc;
use crate::tracker::{PeerSet, Tracker};
use crate::wire::{Holder, Message};
use smallvec::{SmallVec, smallvec};

/// The most members a peer's view of a swarm takes. A BitTorrent client keeps a peer set of some
/// tens, not the swarm (mainline's limit is 80 connections); with the tracker's answers of 50
/// drawn at random, a view of 80 also keeps each peer's memory small whatever the swarm's size.
pub const VIEW_CAP: usize = 80;

// How a simulated peer downloads. The live runtime's settings suit transfers that take
// microseconds: a window of 32 requests, 4 neighbours, the least loaded holder by segments
// handed out, the tracker asked again at once when stalled. On links where a piece takes
// seconds each was measured to waste the swarm's upload (a 100-leecher flash crowd of a 100 MiB
// file finished at 0.04 of the bound, and the seed uploaded at a tenth of its rate: counts of
// segments handed out make a fast seed look busy). A simulated peer is set up as a BitTorrent
// client is: a peer set of some neighbours besides the seeds, some seconds of data in flight,
// requests spread over holders by how many are out to each (`FewestInFlight`: a fast holder
// answers sooner, so it is asked again sooner), and, when nothing can be asked, a wait
// (`stall_wait`) rather than the tracker asked again. README, "The simulated peer", has the
// figures behind each value.

/// Partial holders it asks besides the seeds.
const NEIGHBOURS: usize = 8;
/// Pieces in flight at once: 3 MiB of 256 KiB pieces, some 6 s of a 4 Mbit/s downlink.
const WINDOW: usize = 12;

/// How many times a stalled peer's wait doubles while waits bring it nothing: up to four times
/// a piece's time. Early in a flash crowd most peers and their neighbours have nothing, and a
/// peer that looked again every piece time probed all its neighbours each time; with 10,000
/// leechers, doubling twice cut the run's events by a quarter (30.9 to 23.5 million) for the
/// same efficiency (0.842, 0.844). Doubling once cut a sixth; three times cost efficiency.
const WAIT_DOUBLINGS: u32 = 2;

/// How many events ahead of the one handled each stage of `Shard::warm` looks.
const WARM_AHEAD: [usize; 4] = [4, 3, 2, 1];

/// What happens at an event's time.
///
/// Kept small, for the queue holds some ten for every peer: the commonest messages, requests
/// and refusals, have kinds of their own, and the others (the tracker's, and those to it) are
/// boxed. As one `Message` an event took 88 bytes; so, 56; and 48 since an arrival leaves its
/// sender and receiver to its key (`network::Arrival`).
#[derive(Debug)]
pub enum Event {
    /// The network's own: a link's next completion, a piece or block reaching a downlink.
    Net(NetEvent<Payload>),
    /// A segment request arrives (it was sent `latency` earlier).
    Request { from: PeerId, file: FileId, segment: u32, with_bitfield: bool },
    /// A refusal arrives.
    Refusal { from: PeerId, file: FileId, segment: u32, load: u32, held: Box<[u64]> },
    /// Any other message arrives.
    Deliver { from: PeerId, message: Box<Message> },
    /// A stalled peer's wait is over.
    Wake,
    /// A BitTorrent message arrives.
    Wire { from: u32, message: WireMessage },
    /// A BitTorrent peer's timer: its choker runs.
    Tick,
}

impl Event {
    /// `message` from `from`, as the event of its arrival.
    pub fn arrival_of(from: PeerId, message: Message) -> Event {
        match message {
            Message::SegmentRequest { file, segment, with_bitfield } => {
                Event::Request { from, file, segment, with_bitfield }
            }
            Message::SegmentReply { file, segment, granted: false, load, held } => {
                Event::Refusal { from, file, segment, load, held: held.into_boxed_slice() }
            }
            message => Event::Deliver { from, message: Box::new(message) },
        }
    }
}

/// An event on its way to another shard.
pub type Routed = (EventKey, Event);

/// Bitfields that replies brought, once read, kept for the next answers to write theirs in.
///
/// Every refusal carries its holder's bitfield, and so does a "yes" when asked to, in an
/// allocation of its own that the asker frees once it has copied it: some 2 million of the 6.3
/// million allocations of a run of 10,000 course leechers (most of the rest are the tracker's
/// refreshes, one message after another). Freed and taken again in bursts, they
/// overflowed glibc's per-thread cache into its lists of small free blocks, which it sweeps
/// (`malloc_consolidate`) before any larger allocation: the allocator was 7% of a run's time at
/// 100,000 peers. A shard both answers and reads replies, so its own spares nearly always do.
#[derive(Default)]
struct SpareBitfields(Vec<Vec<u64>>);

impl SpareBitfields {
    /// The most kept: a few windows' worth of a shard's answers, and a few hundred kilobytes.
    const MOST: usize = 4096;

    /// A spare, or a new empty vector if there is none.
    fn take(&mut self) -> Vec<u64> {
        self.0.pop().unwrap_or_default()
    }

    /// Keeps `bitfield`'s room, if it has any and there is room for it.
    fn give(&mut self, bitfield: Vec<u64>) {
        if bitfield.capacity() > 0 && self.0.len() < Self::MOST {
            self.0.push(bitfield);
        }
    }
}

/// What travels over the links: a course protocol's piece, or a BitTorrent block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Piece(Piece),
    Block { block: BlockRef, bytes: u32 },
}

/// A granted piece on its way, with the "yes" it carries: the holder's answer but for its
/// sender, who is the network's to know. Kept small: every piece on a link holds one (a whole
/// `Message` made it 112 bytes a piece, and ten or so pieces are in flight for each peer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub file: FileId,
    pub segment: u32,
    pub load: u32,
    /// The holder's bitfield, when the request asked for it.
    pub held: Box<[u64]>,
}

/// One peer's state: its scheduler and what it keeps beside it in the live runtime's mirror and
/// upload server.
struct SimulatedPeer {
    scheduler: Scheduler,
    /// By file id: what it holds (and serves from) of each file it owns or downloads. Inline
    /// for the usual one file: every request reads it, and a vector of its own was one more miss
    /// before the set itself.
    held: SmallVec<[Option<Arc<SegmentSet>>; 1]>,
    /// By file id: its view of each wanted file's swarm.
    swarms: Vec<Option<MirroredSwarm>>,
    /// Segments handed out: its load, as the upload server counts it.
    uploaded: u64,
    downloaded_bytes: u64,
    done_at: Option<Nanos>,
    /// Waits in a row that ended with no piece received since: each one doubles the next.
    fruitless_waits: u32,
    /// Its uplink moves something (a free rider's does not).
    uploads: bool,
}

/// The shard's queue as its network and peers see it: events keyed by the sequencer, kept when
/// they are for one of its own peers, put in the outbox of their shard otherwise.
pub(super) struct Timeline {
    placement: Placement,
    shard: u32,
    events: EventQueue<Event>,
    sequencer: Sequencer,
    /// By shard: events for it, handed over at the window's end.
    outboxes: Vec<Vec<Routed>>,
    /// The earliest event put in an outbox in this window.
    earliest_sent: Option<Nanos>,
}

impl Schedule<Payload> for Timeline {
    fn schedule(&mut self, at: Nanos, to: u32, from: u32, event: NetEvent<Payload>) {
        self.push(at, to, from, Event::Net(event));
    }
}

impl Timeline {
    pub(super) fn push(&mut self, at: Nanos, to: u32, from: u32, event: Event) {
        let key = self.sequencer.key(at, to, from);
        let shard = self.placement.shard_of(to);
        if shard == self.shard {
            self.events.push(key, event);
        } else {
            self.earliest_sent = earliest(self.earliest_sent, Some(at));
            self.outboxes[shard as usize].push((key, event));
        }
    }

    fn deliver(&mut self, at: Nanos, from: PeerId, to: PeerId, message: Message) {
        self.push(at, to.0, from.0, Event::arrival_of(from, message));
    }
}

pub struct Shard<'a> {
    scenario: &'a Scenario,
    placement: Placement,
    index: u32,
    now: Nanos,
    latency: Nanos,
    timeline: Timeline,
    network: Network<Payload>,
    /// The course protocol's tracker, on shard 0 alone.
    tracker: Option<Tracker>,
    /// The course protocol's peers, by row, from row 1: `peers[r - 1]` is the peer in row `r`
    /// (`Placement::slot`). Empty when the swarm runs BitTorrent's algorithms.
    peers: Vec<SimulatedPeer>,
    /// The peers and tracker when the swarm runs BitTorrent's algorithms.
    bittorrent: Option<BitTorrentPeers>,
    departed: Vec<(u32, u32)>,
    /// Scratch for a scheduler's decisions, emptied as they are carried out.
    actions: Actions,
    /// The bitfields of replies handled, for answers to write theirs in.
    spare_bitfields: SpareBitfields,
    delivered: Vec<(u32, u32, Payload)>,
    done: u32,
    events: u64,
    /// When a piece last arrived at one of its peers.
    last_piece_at: Nanos,
    /// When its last peer to be done was done, and its first.
    last_done_at: Nanos,
    first_done_at: Option<Nanos>,
    /// In the current window: (a time, events handled before it), one for each time handled,
    /// so that the last window can count only the events up to the run's end.
    window_times: Vec<(Nanos, u64)>,
}

impl<'a> Shard<'a> {
    /// Shard `index` of a run split as `placement` says.
    pub fn new(scenario: &'a Scenario, placement: Placement, index: u32) -> Shard<'a> {
        let count = scenario.peer_count();
        let files = scenario.files.len();
        let rows = placement.slots(index, count);
        // Row 0 is the tracker's, on a link of its own that carries no pieces.
        let capacities = std::iter::once((0, 0)).chain(placement.peers_of(index, count).map(|id| {
            let class = scenario.class_of(PeerId(id));
            (class.upload_bits_per_s, class.download_bits_per_s)
        }));
        let on_tracker_shard = index == placement.shard_of(0);
        let bittorrent = scenario
            .protocol
            .policy()
            .map(|policy| BitTorrentPeers::new(scenario, policy, placement.peers_of(index, count), on_tracker_shard));
        let course_peers = placement.peers_of(index, count).take(if bittorrent.is_some() { 0 } else { usize::MAX });
        let peers = course_peers
            .map(|id| {
                let me = PeerId(id);
                let spec = scenario.peer(me);
                let pieces = piece_policy(me, scenario.seed, false);
                let holders = Box::new(FewestInFlight::new());
                let config = DownloadConfig {
                    me,
                    wanted: spec.wants.len(),
                    window: WINDOW,
                    seed: scenario.seed,
                    neighbours: NEIGHBOURS,
                    when_stalled: WhenStalled::Wait,
                };
                SimulatedPeer {
                    scheduler: Scheduler::new(config, pieces, holders),
                    held: smallvec![None; files],
                    swarms: (0..files).map(|_| None).collect(),
                    uploaded: 0,
                    downloaded_bytes: 0,
                    done_at: None,
                    fruitless_waits: 0,
                    uploads: scenario.class_of(me).uploads(),
                }
            })
            .collect();
        let tracker = (on_tracker_shard && bittorrent.is_none()).then(|| {
            Tracker::with_peer_set(count, PeerSet::Sample { max: PeerSet::BITTORRENT_SAMPLE, seed: scenario.seed })
        });
        Shard {
            scenario,
            placement,
            index,
            now: 0,
            latency: scenario.latency_ns,
            timeline: Timeline {
                placement,
                shard: index,
                events: EventQueue::new(),
                sequencer: Sequencer::new(placement, rows),
                outboxes: (0..placement.shards()).map(|_| Vec::new()).collect(),
                earliest_sent: None,
            },
            network: Network::new(scenario.latency_ns, placement, capacities),
            tracker,
            peers,
            bittorrent,
            departed: Vec::new(),
            actions: Actions::default(),
            spare_bitfields: SpareBitfields::default(),
            delivered: Vec::new(),
            done: 0,
            events: 0,
            last_piece_at: 0,
            last_done_at: 0,
            first_done_at: None,
            window_times: Vec::new(),
        }
    }

    /// The BitTorrent peers, when the swarm runs BitTorrent's algorithms.
    pub fn bittorrent(&self) -> Option<&BitTorrentPeers> {
        self.bittorrent.as_ref()
    }

    pub fn keep_records(&mut self) {
        self.network.keep_records();
    }

    pub fn records(&self) -> &[LinkRecord] {
        self.network.records()
    }

    fn peer(&mut self, id: PeerId) -> &mut SimulatedPeer {
        &mut self.peers[self.placement.slot(id.0) - 1]
    }

    /// The events for other shards made since the last window closed, by shard.
    pub fn outboxes(&mut self) -> &mut [Vec<Routed>] {
        &mut self.timeline.outboxes
    }

    /// Takes in events other shards sent.
    pub fn receive(&mut self, inbox: &mut Vec<Routed>) {
        for (key, event) in inbox.drain(..) {
            debug_assert_eq!(self.placement.shard_of(key.to), self.index, "an event for another shard");
            self.timeline.events.push(key, event);
        }
    }

    /// At time 0 every peer registers, as in the live runtime: the files it owns, with their
    /// hashes, and the names of those it wants. A file's hashes are made up (a simulated file
    /// has no content), the same for every owner, so that owners agree.
    pub fn register_everyone(&mut self) {
        if self.bittorrent.is_some() {
            let rows = 1..self.placement.slots(self.index, self.scenario.peer_count());
            let now = self.now;
            let (bittorrent, mut net) = self.bittorrent_on_net();
            bittorrent.start(now, rows, &mut net);
            return;
        }
        let hashes: Vec<Vec<SegmentHash>> = self.scenario.files.iter().enumerate().map(made_up_hashes).collect();
        let names: Vec<FileName> = self
            .scenario
            .files
            .iter()
            .map(|file| FileName::new(&file.name).expect("a scenario's file names are valid"))
            .collect();
        for id in self.placement.peers_of(self.index, self.scenario.peer_count()) {
            let spec = self.scenario.peer(PeerId(id));
            let owned = spec
                .owns
                .iter()
                .map(|&file| OwnedFile { name: names[file as usize].clone(), hashes: hashes[file as usize].clone() })
                .collect();
            let wanted = spec.wants.iter().map(|&file| names[file as usize].clone()).collect();
            self.send(PeerId(id), PeerId::TRACKER, Message::Register { owned, wanted });
        }
    }

    /// Handles every event of its own before `end`, in order.
    ///
    /// While one is handled, the state of the peers of the next few is asked for (`warm`, from
    /// the queue's `upcoming`): consecutive events belong to peers far apart in memory, and the
    /// wait for the first touch of each was most of an event's time.
    pub fn run_window(&mut self, end: Nanos) -> Result<(), SimError> {
        self.window_times.clear();
        self.timeline.earliest_sent = None;
        while let Some((key, event)) = self.timeline.events.pop_before(end) {
            for (stage, &ahead) in WARM_AHEAD.iter().enumerate() {
                if let Some((later, later_event)) = self.timeline.events.upcoming(ahead - 1) {
                    self.warm(later.to, later_event, stage);
                }
            }
            debug_assert!(key.at >= self.now, "events are handled in time order");
            if self.window_times.last().is_none_or(|&(at, _)| at != key.at) {
                self.window_times.push((key.at, self.events));
            }
            self.now = key.at;
            self.events += 1;
            self.handle(PeerId(key.to), key.from, event)?;
        }
        Ok(())
    }

    /// Asks for the memory that the event for peer `to` will read, without waiting for it: in
    /// stages, each one reading only what the one before brought in (stage 0 asks for the
    /// peer's row and its links, stage 1 for what they point to, and so on down). Only what the
    /// kind of event reads: the processor keeps a few misses in flight, and a hint beyond them
    /// waits its turn.
    fn warm(&self, to: u32, event: &Event, stage: usize) {
        let row = self.placement.slot(to);
        let direction = match event {
            Event::Net(NetEvent::LinkDue { direction, .. }) => Some(*direction),
            Event::Net(NetEvent::Arrive(_)) => Some(Direction::Down),
            // A request may be granted, and the piece put on the uplink.
            Event::Request { .. } | Event::Wire { .. } => Some(Direction::Up),
            _ => None,
        };
        if let Some(direction) = direction {
            let completion = matches!(event, Event::Net(NetEvent::LinkDue { .. }));
            self.network.warm(row, direction, stage, completion);
            // A piece through a downlink is a "yes" whose holder's bitfield, in a box of its own
            // written a latency or more ago, the receiver's scheduler copies: that copy's first
            // read, with a refusal's (below), was 3% of a run's samples at 100,000 peers.
            if completion
                && direction == Direction::Down
                && stage == WARM_AHEAD.len() - 1
                && let Some(Payload::Piece(piece)) = self.network.next_payload(row, direction)
            {
                prefetch::slice(&piece.held);
            }
        }
        // What reaches a downlink goes no further until it is through; an uplink's departure
        // concerns the course's peer only through its link.
        let peer_reads = match event {
            Event::Net(NetEvent::Arrive(_)) => false,
            Event::Net(NetEvent::LinkDue { direction: Direction::Up, .. }) => self.bittorrent.is_some(),
            _ => true,
        };
        if !peer_reads {
            return;
        }
        if stage == 0 {
            self.timeline.sequencer.warm(row);
        }
        if let Some(bittorrent) = &self.bittorrent {
            let (remote, piece) = match event {
                Event::Wire { from, message: WireMessage::Have { piece } } => (Some(*from), Some(*piece)),
                Event::Wire { from, .. } => (Some(*from), None),
                // A block leaving the uplink, or through the downlink: its connection.
                Event::Net(NetEvent::LinkDue { remote, .. }) => (Some(*remote), None),
                _ => (None, None),
            };
            bittorrent.warm(row, stage, remote, piece);
            return;
        }
        let Some(peer) = self.peers.get(row.wrapping_sub(1)) else { return };
        // A request reads what the peer holds; the rest, its scheduler.
        let scheduler = !matches!(event, Event::Request { .. });
        match stage {
            0 => prefetch::value(peer),
            1 => {
                if let Event::Refusal { held, .. } = event {
                    prefetch::slice(held);
                }
                peer.held.iter().flatten().for_each(|held| prefetch::value(&**held));
                if scheduler {
                    peer.scheduler.warm(0);
                }
            }
            2 => {
                peer.held.iter().flatten().for_each(|held| held.warm());
                if scheduler {
                    peer.scheduler.warm(1);
                }
            }
            _ => {}
        }
    }

    /// A window has closed, and the job stands as `job` says: what needs the whole job's
    /// knowledge is settled (the seeds' bytes before the first completion).
    pub fn window_closed(&mut self, job: &WindowReport) {
        if let Some(bittorrent) = &mut self.bittorrent {
            bittorrent.window_closed(job.first_done_at);
        }
    }

    /// Where the shard stands, for the window's end.
    pub fn report(&self) -> WindowReport {
        let queued = self.timeline.events.next_time();
        let next = earliest(queued, self.timeline.earliest_sent);
        WindowReport {
            next,
            done: self.done,
            events: self.events,
            in_flight: self.network.in_flight() as u64,
            now: self.now,
            last_piece_at: self.last_piece_at,
            last_done_at: self.last_done_at,
            first_done_at: self.first_done_at,
            failed: false,
        }
    }

    /// The events it handled up to and including time `end`, the run's end: in the last window
    /// a shard may have gone past it.
    pub fn events_until(&self, end: Nanos) -> u64 {
        match self.window_times.iter().find(|&&(at, _)| at > end) {
            Some(&(_, before)) => before,
            None => self.events,
        }
    }

    /// Its peers' outcomes, by id, as they stand at `end`, the run's end.
    pub fn outcomes(&self, end: Nanos) -> Box<dyn Iterator<Item = (PeerId, PeerOutcome)> + '_> {
        let ids = self.placement.peers_of(self.index, self.scenario.peer_count());
        if let Some(bittorrent) = &self.bittorrent {
            return Box::new(ids.map(move |id| {
                let row = self.placement.slot(id);
                let stats = bittorrent.stats(row);
                let mut regular_unchoke_ns = vec![0; self.scenario.classes.len()];
                let peer = bittorrent.peer(row);
                let open = peer.conns().iter().map(|conn| (conn.peer, conn.regular_ns(end)));
                for (remote, ns) in open.chain(stats.closed_regular_ns.iter().copied()) {
                    regular_unchoke_ns[self.scenario.peer(PeerId(remote)).class as usize] += ns;
                }
                let figures = BitTorrentOutcome {
                    interest_ppm: (stats.interest_samples > 0)
                        .then(|| (stats.interest_ppm_sum / stats.interest_samples) as u32),
                    regular_unchoke_ns,
                    first_copies: bittorrent.first_copies(row).map(|copies| FirstCopiesOutcome {
                        repeat_bytes: copies.repeat_bytes,
                        all_out_at: copies.all_out_at,
                        before_first_done: copies.before_first_done.unwrap_or(0),
                    }),
                };
                let outcome = PeerOutcome {
                    done_at: if self.scenario.peer(PeerId(id)).wants.is_empty() { Some(0) } else { stats.done_at },
                    uploaded_bytes: stats.uploaded_bytes,
                    downloaded_bytes: stats.downloaded_bytes,
                    duplicate_bytes: stats.duplicate_bytes,
                    bittorrent: Some(figures),
                };
                (PeerId(id), outcome)
            }));
        }
        Box::new(ids.zip(&self.peers).map(|(id, peer)| {
            let wants_nothing = self.scenario.peer(PeerId(id)).wants.is_empty();
            let outcome = PeerOutcome {
                done_at: if wants_nothing { Some(0) } else { peer.done_at },
                uploaded_bytes: self.network.sent_bits(id) / 8,
                downloaded_bytes: peer.downloaded_bytes,
                duplicate_bytes: 0,
                bittorrent: None,
            };
            (PeerId(id), outcome)
        }))
    }

    /// A message from `from` to `to`, arriving after the latency.
    fn send(&mut self, from: PeerId, to: PeerId, message: Message) {
        self.timeline.deliver(self.now + self.latency, from, to, message);
    }

    /// Event `event` for peer `at`, caused by peer `by` (its key's peers: the messages name
    /// their sender themselves, the network's events do not).
    fn handle(&mut self, at: PeerId, by: u32, event: Event) -> Result<(), SimError> {
        match event {
            Event::Net(event) => {
                let mut delivered = std::mem::take(&mut self.delivered);
                let mut departed = std::mem::take(&mut self.departed);
                self.network.handle(self.now, (by, at.0), event, &mut self.timeline, &mut delivered, &mut departed);
                let mut result = Ok(());
                if self.bittorrent.is_some() {
                    for (from, to) in departed.drain(..) {
                        let (now, row) = (self.now, self.placement.slot(from));
                        let (bittorrent, mut net) = self.bittorrent_on_net();
                        bittorrent.on_block_sent(now, row, to, &mut net);
                    }
                }
                departed.clear();
                // The uplink's next completion, once what follows the departed blocks is on it.
                self.network.settle(&mut self.timeline);
                for (from, to, payload) in delivered.drain(..) {
                    self.last_piece_at = self.now;
                    if result.is_ok() {
                        result = self.on_arrival(from, to, payload);
                    }
                }
                self.delivered = delivered;
                self.departed = departed;
                result
            }
            Event::Wire { from, message } => {
                let (now, row) = (self.now, self.placement.slot(at.0));
                let (bittorrent, mut net) = self.bittorrent_on_net();
                let changed = bittorrent.on_message(now, row, from, message, &mut net).map_err(protocol_error)?;
                self.count(at, changed);
                Ok(())
            }
            Event::Tick => {
                let (now, row) = (self.now, self.placement.slot(at.0));
                let (bittorrent, mut net) = self.bittorrent_on_net();
                bittorrent.on_tick(now, row, &mut net);
                Ok(())
            }
            Event::Deliver { from, message } if at == PeerId::TRACKER => {
                let tracker = self.tracker.as_mut().expect("the tracker's events go to its shard");
                for (to, reply) in tracker.handle(from, *message)? {
                    self.send(PeerId::TRACKER, to, reply);
                }
                Ok(())
            }
            Event::Deliver { from, message } => self.at_peer(at, from, *message),
            Event::Request { from, file, segment, with_bitfield } => {
                self.answer(at, from, file, segment, with_bitfield)
            }
            // A refusal: no data, so it came by latency alone. A yes comes with its piece.
            Event::Refusal { from, file, segment, load, held } => {
                let reply = Reply { from, file, segment, granted: false, load, held: held.into_vec() };
                self.on_reply(at, reply)
            }
            Event::Wake => {
                self.peer(at).scheduler.wake();
                self.decide(at)
            }
        }
    }

    /// A piece or block has come through the downlink of `to`.
    fn on_arrival(&mut self, from: u32, to: u32, payload: Payload) -> Result<(), SimError> {
        match payload {
            Payload::Piece(piece) => {
                let bytes = self.scenario.files[piece.file.0 as usize].piece_bits(piece.segment) / 8;
                // (The sender's share is its uplink's count, on its own shard.)
                let peer = self.peer(PeerId(to));
                peer.fruitless_waits = 0;
                peer.downloaded_bytes += bytes;
                let Piece { file, segment, load, held } = piece;
                let reply = Reply { from: PeerId(from), file, segment, granted: true, load, held: held.into_vec() };
                self.on_reply(PeerId(to), reply)
            }
            Payload::Block { block, bytes } => {
                let (now, row) = (self.now, self.placement.slot(to));
                let (bittorrent, mut net) = self.bittorrent_on_net();
                let changed = bittorrent.on_block(now, row, from, (block, bytes), &mut net).map_err(protocol_error)?;
                self.count(PeerId(to), changed);
                Ok(())
            }
        }
    }

    /// The BitTorrent peers, and the clock and network lent to them for an event.
    fn bittorrent_on_net(&mut self) -> (&mut BitTorrentPeers, Net<'_>) {
        let bittorrent = self.bittorrent.as_mut().expect("BitTorrent's events in a BitTorrent swarm");
        (bittorrent, Net { latency: self.latency, timeline: &mut self.timeline, network: &mut self.network })
    }

    /// A BitTorrent peer that completed the file is done.
    fn count(&mut self, peer: PeerId, changed: Changed) {
        if changed.completed {
            debug_assert!(!self.scenario.peer(peer).wants.is_empty());
            self.done += 1;
            self.last_done_at = self.now;
            self.first_done_at.get_or_insert(self.now);
        }
    }

    /// A message reaches peer `me`: what the live runtime's router, mirror, upload desk and
    /// scheduler would do with it.
    fn at_peer(&mut self, me: PeerId, from: PeerId, message: Message) -> Result<(), SimError> {
        match message {
            Message::Go { owned } => {
                let spec = self.scenario.peer(me);
                let pieces: Vec<u32> =
                    spec.owns.iter().map(|&file| self.scenario.files[file as usize].pieces).collect();
                let peer = self.peer(me);
                for ((_, id), pieces) in owned.iter().zip(pieces) {
                    peer.held[id.0 as usize] = Some(Arc::new(SegmentSet::full(pieces)));
                }
                peer.scheduler.start();
                self.decide(me)
            }
            Message::Swarm { file, name, hashes, holders, version } => {
                self.add_file(me, file, name, hashes, holders, version);
                self.decide(me)
            }
            Message::SwarmUpdate { file, changes, version } => {
                let peer = self.peer(me);
                let Some(swarm) = peer.swarms.get_mut(file.0 as usize).and_then(Option::as_mut) else {
                    return Err(self.unexpected(me, from, "refresh of a swarm it was never sent"));
                };
                let changed = swarm.update(changes, version);
                peer.scheduler.swarm_refreshed(file, changed);
                self.decide(me)
            }
            Message::Stop => Ok(()),
            other => Err(self.unexpected(me, from, &format!("{:?}", other.kind()))),
        }
    }

    fn unexpected(&self, peer: PeerId, from: PeerId, what: &str) -> SimError {
        SimError::Unexpected { peer, from, what: what.to_string() }
    }

    /// The swarm of a wanted file arrives: the peer starts downloading it, serving what it gets
    /// from the first segment on.
    fn add_file(
        &mut self,
        me: PeerId,
        file: FileId,
        name: FileName,
        hashes: Hashes,
        holders: Vec<Holder>,
        version: u32,
    ) {
        let segments = Arc::new(SegmentSet::empty(hashes.len() as u32));
        let swarm = MirroredSwarm::new(holders, version, VIEW_CAP);
        let start = FileStart { id: file, name, hashes, segments: segments.clone(), swarm: swarm.view().clone() };
        let mut actions = std::mem::take(&mut self.actions);
        let peer = self.peer(me);
        peer.held[file.0 as usize] = Some(segments);
        peer.swarms[file.0 as usize] = Some(swarm);
        peer.scheduler.add_file(start, &mut actions);
        self.actions = actions;
    }

    /// Peer `me` answers a request of `asker`'s, as its upload server would: a refusal goes
    /// back by latency alone; a granted piece goes through the network.
    fn answer(
        &mut self,
        me: PeerId,
        asker: PeerId,
        file: FileId,
        segment: u32,
        with_bitfield: bool,
    ) -> Result<(), SimError> {
        let peer = &mut self.peers[self.placement.slot(me.0) - 1];
        let Some(set) = peer.held.get(file.0 as usize).and_then(Option::as_ref) else {
            // The live runtime's server keeps such a request until the file's id is known (MPI
            // orders messages per sender only). Here every peer learns its files' ids at the go,
            // a latency before anyone can ask it: a request for another file is a bug, not a
            // race, and dropping it would leave the asker waiting for ever.
            return Err(self.unexpected(
                me,
                asker,
                &format!("request for file id {}, which it does not serve", file.0),
            ));
        };
        let reply = if peer.uploads {
            let count = |granted| {
                peer.uploaded += u64::from(granted);
                peer.uploaded
            };
            upload::reply(set, file, segment, with_bitfield, count, || self.spare_bitfields.take())
        } else {
            // A free rider (or a peer at 0 bit/s, which could never send a piece) says
            // no, with a bitfield of nothing to give, so that nobody waits on it for ever and
            // askers look elsewhere until what they know of it ages.
            let held = vec![0; segments::bits::words_for(set.len())];
            Message::SegmentReply { file, segment, granted: false, load: 0, held }
        };
        match reply {
            Message::SegmentReply { granted: true, load, held, .. } => {
                let bits = self.scenario.files[file.0 as usize].piece_bits(segment);
                let piece = Piece { file, segment, load, held: held.into_boxed_slice() };
                self.network.send(self.now, me.0, asker.0, bits, Payload::Piece(piece), &mut self.timeline);
            }
            refusal => self.send(me, asker, refusal),
        }
        Ok(())
    }

    fn on_reply(&mut self, me: PeerId, reply: Reply) -> Result<(), SimError> {
        let mut actions = std::mem::take(&mut self.actions);
        let result = self.peer(me).scheduler.on_reply(&reply, &mut actions);
        self.actions = actions;
        self.spare_bitfields.give(reply.held);
        result.map_err(|error| SimError::Download { peer: me, error })?;
        self.decide(me)
    }

    /// The scheduler decides after an event, and its decisions go out: requests to holders,
    /// refreshes and completions to the tracker.
    fn decide(&mut self, me: PeerId) -> Result<(), SimError> {
        let mut actions = std::mem::take(&mut self.actions);
        self.peer(me).scheduler.decide(&mut actions);
        for (to, request) in actions.requests.drain(..) {
            self.send(me, to, request);
        }
        for refresh in actions.refreshes.drain(..) {
            let message = self.peers[self.placement.slot(me.0) - 1].swarms[refresh.file.0 as usize]
                .as_ref()
                .map(|swarm| swarm.refresh(refresh.file, refresh.from_start));
            if let Some(message) = message {
                self.send(me, PeerId::TRACKER, message);
            }
        }
        for finished in actions.finished.drain(..) {
            self.send(me, PeerId::TRACKER, Message::FileComplete { file: finished.file });
        }
        if std::mem::take(&mut actions.wait) {
            let fruitless = self.peer(me).fruitless_waits;
            self.peer(me).fruitless_waits = fruitless.saturating_add(1);
            let at = self.now + (self.stall_wait(me) << fruitless.min(WAIT_DOUBLINGS));
            self.timeline.push(at, me.0, me.0, Event::Wake);
        }
        if std::mem::take(&mut actions.all_finished) {
            // A peer that wanted nothing is done from the start (`outcome`); one that wanted
            // something, when it has the last of it.
            if !self.scenario.peer(me).wants.is_empty() {
                let now = self.now;
                self.peer(me).done_at = Some(now);
                self.done += 1;
                self.last_done_at = now;
                self.first_done_at.get_or_insert(now);
            }
            self.send(me, PeerId::TRACKER, Message::AllDone);
        }
        self.actions = actions;
        Ok(())
    }

    /// How long a stalled peer waits before it looks again, the first time: the time a piece
    /// takes to reach it on its own downlink (what its holders learn in that time is what may
    /// unstall it), and no less than a round trip. (Waits that bring nothing double it, up to
    /// `WAIT_DOUBLINGS` times.)
    fn stall_wait(&self, me: PeerId) -> Nanos {
        let spec = self.scenario.peer(me);
        let class = &self.scenario.classes[spec.class as usize];
        let piece_bits = spec.wants.first().map_or(0, |&file| self.scenario.files[file as usize].piece_bits(0));
        let piece_time =
            (u128::from(piece_bits) * 1_000_000_000).div_ceil(u128::from(class.download_bits_per_s.max(1)));
        (piece_time as Nanos).max(2 * self.latency)
    }
}

fn protocol_error(error: ProtocolError) -> SimError {
    SimError::Unexpected { peer: PeerId(error.peer), from: PeerId(error.from), what: error.what }
}

/// Made-up hashes for file number `index`: 32 hex digits each, distinct within the file.
fn made_up_hashes((index, file): (usize, &super::scenario::SimFile)) -> Vec<SegmentHash> {
    (0..file.pieces)
        .map(|piece| {
            let value = crate::rng::mix(((index as u64) << 32) | u64::from(piece));
            let text = format!("{value:016x}{:016x}", crate::rng::mix(value));
            SegmentHash::parse(&text).expect("32 hex digits make a hash")
        })
        .collect()
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn spare_bitfields_give_back_the_room_of_those_read_and_keep_only_so_many() {
        let mut spares = SpareBitfields::default();
        assert_eq!(spares.take().capacity(), 0, "none kept yet: a new, empty vector");
        let read = vec![7u64; 7];
        let room = read.as_ptr();
        spares.give(read);
        spares.give(Vec::new()); // no room: not kept
        let again = spares.take();
        assert_eq!(again.as_ptr(), room, "the room of the last one read");
        assert_eq!(spares.take().capacity(), 0);
        for _ in 0..SpareBitfields::MOST + 10 {
            spares.give(vec![0; 7]);
        }
        assert_eq!(spares.0.len(), SpareBitfields::MOST);
    }
}
