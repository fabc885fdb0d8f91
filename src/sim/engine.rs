//! The simulated engine: the live runtime's protocol on a simulated clock.
//!
//! Every decision is the protocol core's, the same code the live runtime's actors drive: the
//! tracker's state machine (`tracker.rs`, with a sampled peer set), each peer's download
//! scheduler (`peer::scheduler`), its way of keeping a swarm view (`peer::mirror::MirroredSwarm`)
//! and of answering a request (`peer::upload::reply`). What this module adds is what the live
//! runtime gets from the world: time, and a network. A message takes the scenario's latency; a
//! granted piece travels through the sender's uplink, the latency and the receiver's downlink
//! (`network.rs`), and its reply arrives with it. Events are handled in the queue's total order
//! (`queue.rs`), so a run depends on nothing but the scenario and its seed.

use super::link::Nanos;
use super::network::{NetEvent, Network, Schedule, TransferRecord};
use super::outcome::{Outcome, PeerOutcome, Progress};
use super::queue::{EventQueue, Sequencer};
use super::scenario::Scenario;
use crate::model::{FileId, FileName, Hashes, OwnedFile, PeerId, SegmentHash};
use crate::peer::mirror::MirroredSwarm;
use crate::peer::policy::FewestInFlight;
use crate::peer::scheduler::{Actions, DownloadConfig, DownloadError, FileStart, Reply, Scheduler, WhenStalled};
use crate::peer::segments::{self, SegmentSet};
use crate::peer::{piece_policy, upload};
use crate::sync::Arc;
use crate::tracker::{PeerSet, Tracker, TrackerError};
use crate::wire::{Holder, Message};

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

/// How often, in events, the engine reports its progress.
const PROGRESS_EVERY: u64 = 1 << 16;

/// How long the swarm may go without a piece arriving before the run is called stuck: an hour of
/// simulated time, far longer than any piece takes on a link that moves at all.
const STUCK_AFTER: Nanos = 3_600_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the swarm cannot finish: {file} is wanted, but every peer that holds it uploads at 0 bit/s")]
    NoUpload { file: String },
    #[error(
        "the swarm is stuck at {at_seconds:.3} s of simulated time: {why}, and {waiting} of {wanting} peers \
         still lack what they want"
    )]
    Stuck { at_seconds: f64, why: &'static str, waiting: u32, wanting: u32 },
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error("peer {peer}: {error}")]
    Download { peer: PeerId, error: DownloadError },
    #[error("peer {peer}: unexpected {what} from peer {from}")]
    Unexpected { peer: PeerId, from: PeerId, what: String },
}

/// What happens at an event's time.
enum Event {
    /// The network's own: a link's next completion, a piece reaching a downlink.
    Net(NetEvent),
    /// A message arrives (it was sent `latency` earlier).
    Deliver { from: PeerId, message: Message },
    /// A stalled peer's wait is over.
    Wake,
}

/// One peer's state: its scheduler and what it keeps beside it in the live runtime's mirror and
/// upload server.
struct SimulatedPeer {
    scheduler: Scheduler,
    /// By file id: what it holds (and serves from) of each file it owns or downloads.
    held: Vec<Option<Arc<SegmentSet>>>,
    /// By file id: its view of each wanted file's swarm.
    swarms: Vec<Option<MirroredSwarm>>,
    /// Segments handed out: its load, as the upload server counts it.
    uploaded: u64,
    uploaded_bytes: u64,
    downloaded_bytes: u64,
    done_at: Option<Nanos>,
    /// Waits in a row that ended with no piece received since: each one doubles the next.
    fruitless_waits: u32,
    /// Its uplink moves something (a free rider's does not).
    uploads: bool,
}

/// The engine's queue as the network and the peers see it: every event keyed by the sequencer.
struct Timeline {
    events: EventQueue<Event>,
    sequencer: Sequencer,
}

impl Schedule for Timeline {
    fn schedule(&mut self, at: Nanos, to: u32, from: u32, event: NetEvent) {
        self.events.push(self.sequencer.key(at, to, from), Event::Net(event));
    }
}

impl Timeline {
    fn deliver(&mut self, at: Nanos, from: PeerId, to: PeerId, message: Message) {
        self.events.push(self.sequencer.key(at, to.0, from.0), Event::Deliver { from, message });
    }
}

/// A granted piece on its way, with the "yes" it carries: the holder's answer but for its
/// sender, who is the network's to know. Kept small: every piece on a link holds one (a whole
/// `Message` made it 112 bytes a piece, and ten or so pieces are in flight for each peer).
struct Piece {
    file: FileId,
    segment: u32,
    load: u32,
    /// The holder's bitfield, when the request asked for it.
    held: Vec<u64>,
}

struct Engine<'a> {
    scenario: &'a Scenario,
    now: Nanos,
    latency: Nanos,
    timeline: Timeline,
    network: Network<Piece>,
    tracker: Tracker,
    /// `peers[k]` is peer `k + 1`.
    peers: Vec<SimulatedPeer>,
    /// Scratch for a scheduler's decisions, emptied as they are carried out.
    actions: Actions,
    delivered: Vec<(u32, u32, Piece)>,
    wanting: u32,
    done: u32,
    events: u64,
    /// When a piece last arrived anywhere.
    last_piece_at: Nanos,
}

/// Runs `scenario` to the end: until every peer holds what it wants.
pub fn simulate(scenario: &Scenario, on_progress: &mut dyn FnMut(&Progress)) -> Result<Outcome, SimError> {
    simulate_recording(scenario, on_progress, false).map(|(outcome, _)| outcome)
}

/// Runs `scenario` to the end, and, if `keep_records`, returns what every piece spent on each
/// link (for the tests that check the links over a whole run; kept only then, since a record
/// a piece is memory a large run has no use for).
fn simulate_recording(
    scenario: &Scenario,
    on_progress: &mut dyn FnMut(&Progress),
    keep_records: bool,
) -> Result<(Outcome, Vec<TransferRecord>), SimError> {
    refuse_what_cannot_finish(scenario)?;
    let mut engine = Engine::new(scenario);
    if keep_records {
        engine.network.keep_records();
    }
    engine.register_everyone();
    while engine.done < engine.wanting {
        let stuck = |why| SimError::Stuck {
            at_seconds: engine.now as f64 / 1e9,
            why,
            waiting: engine.wanting - engine.done,
            wanting: engine.wanting,
        };
        // A piece on a link is sure to arrive (only peers that upload send), however slow the
        // link; with none, peers that only wait and probe for an hour are going nowhere.
        if engine.network.in_flight() == 0 && engine.now.saturating_sub(engine.last_piece_at) > STUCK_AFTER {
            return Err(stuck("no piece has arrived for an hour, and none is on its way"));
        }
        let Some((key, event)) = engine.timeline.events.pop() else {
            return Err(stuck("nothing is left to happen"));
        };
        debug_assert!(key.at >= engine.now, "events are handled in time order");
        engine.now = key.at;
        engine.events += 1;
        engine.handle(PeerId(key.to), event)?;
        if engine.events.is_multiple_of(PROGRESS_EVERY) {
            on_progress(&engine.progress());
        }
    }
    on_progress(&engine.progress());
    let records = engine.network.records().to_vec();
    Ok((engine.outcome(), records))
}

/// A wanted file whose holders all upload nothing can never spread.
fn refuse_what_cannot_finish(scenario: &Scenario) -> Result<(), SimError> {
    for (index, file) in scenario.files.iter().enumerate() {
        let index = index as u32;
        let uploads = scenario
            .peers
            .iter()
            .filter(|peer| peer.owns.contains(&index))
            .any(|peer| scenario.classes[peer.class as usize].upload_bits_per_s > 0);
        if file.wanted_by > 0 && !uploads {
            return Err(SimError::NoUpload { file: file.name.clone() });
        }
    }
    Ok(())
}

impl<'a> Engine<'a> {
    fn new(scenario: &'a Scenario) -> Engine<'a> {
        let count = scenario.peer_count();
        // The tracker is peer 0, on a link of its own that carries no pieces.
        let capacities = std::iter::once((0, 0)).chain(scenario.peers.iter().map(|peer| {
            let class = &scenario.classes[peer.class as usize];
            (class.upload_bits_per_s, class.download_bits_per_s)
        }));
        let files = scenario.files.len();
        let peers = (1..=count)
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
                    held: vec![None; files],
                    swarms: (0..files).map(|_| None).collect(),
                    uploaded: 0,
                    uploaded_bytes: 0,
                    downloaded_bytes: 0,
                    done_at: None,
                    fruitless_waits: 0,
                    uploads: scenario.classes[spec.class as usize].upload_bits_per_s > 0,
                }
            })
            .collect();
        let wanting = scenario.peers.iter().filter(|peer| !peer.wants.is_empty()).count() as u32;
        Engine {
            scenario,
            now: 0,
            latency: scenario.latency_ns,
            timeline: Timeline { events: EventQueue::new(), sequencer: Sequencer::new(count as usize + 1) },
            network: Network::new(scenario.latency_ns, capacities),
            tracker: Tracker::with_peer_set(
                count,
                PeerSet::Sample { max: PeerSet::BITTORRENT_SAMPLE, seed: scenario.seed },
            ),
            peers,
            actions: Actions::default(),
            delivered: Vec::new(),
            wanting,
            done: 0,
            events: 0,
            last_piece_at: 0,
        }
    }

    fn peer(&mut self, id: PeerId) -> &mut SimulatedPeer {
        &mut self.peers[id.index() - 1]
    }

    /// At time 0 every peer registers, as in the live runtime: the files it owns, with their
    /// hashes, and the names of those it wants. A file's hashes are made up (a simulated file
    /// has no content), the same for every owner, so that owners agree.
    fn register_everyone(&mut self) {
        let hashes: Vec<Vec<SegmentHash>> = self.scenario.files.iter().enumerate().map(made_up_hashes).collect();
        let names: Vec<FileName> = self
            .scenario
            .files
            .iter()
            .map(|file| FileName::new(&file.name).expect("a scenario's file names are valid"))
            .collect();
        for id in 1..=self.scenario.peer_count() {
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

    /// A message from `from` to `to`, arriving after the latency.
    fn send(&mut self, from: PeerId, to: PeerId, message: Message) {
        self.timeline.deliver(self.now + self.latency, from, to, message);
    }

    fn handle(&mut self, at: PeerId, event: Event) -> Result<(), SimError> {
        match event {
            Event::Net(event) => {
                let mut delivered = std::mem::take(&mut self.delivered);
                self.network.handle(self.now, event, &mut self.timeline, &mut delivered);
                for (from, to, piece) in delivered.drain(..) {
                    self.last_piece_at = self.now;
                    self.peer(PeerId(to)).fruitless_waits = 0;
                    let bytes = self.scenario.files[piece.file.0 as usize].piece_bits(piece.segment) / 8;
                    self.peer(PeerId(from)).uploaded_bytes += bytes;
                    self.peer(PeerId(to)).downloaded_bytes += bytes;
                    let Piece { file, segment, load, held } = piece;
                    let reply = Reply { from: PeerId(from), file, segment, granted: true, load, held };
                    self.on_reply(PeerId(to), reply)?;
                }
                self.delivered = delivered;
                Ok(())
            }
            Event::Deliver { from, message } if at == PeerId::TRACKER => {
                for (to, reply) in self.tracker.handle(from, message)? {
                    self.send(PeerId::TRACKER, to, reply);
                }
                Ok(())
            }
            Event::Deliver { from, message } => self.at_peer(at, from, message),
            Event::Wake => {
                self.peer(at).scheduler.wake();
                self.decide(at)
            }
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
            Message::SegmentRequest { file, segment, with_bitfield } => {
                self.answer(me, from, file, segment, with_bitfield)
            }
            // A refusal: no data, so it came by latency alone. A yes comes with its piece.
            Message::SegmentReply { file, segment, granted: false, load, held } => {
                self.on_reply(me, Reply { from, file, segment, granted: false, load, held })
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
        let peer = &mut self.peers[me.index() - 1];
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
            upload::reply(set, file, segment, with_bitfield, |granted| {
                peer.uploaded += u64::from(granted);
                peer.uploaded
            })
        } else {
            // A peer that uploads at 0 bit/s (a free rider) could never send a piece: it says
            // no, with a bitfield of nothing to give, so that nobody waits on it for ever and
            // askers look elsewhere until what they know of it ages.
            let held = vec![0; segments::bits::words_for(set.len())];
            Message::SegmentReply { file, segment, granted: false, load: 0, held }
        };
        match reply {
            Message::SegmentReply { granted: true, load, held, .. } => {
                let bits = self.scenario.files[file.0 as usize].piece_bits(segment);
                let piece = Piece { file, segment, load, held };
                self.network.send(self.now, me.0, asker.0, bits, piece, &mut self.timeline);
            }
            refusal => self.send(me, asker, refusal),
        }
        Ok(())
    }

    fn on_reply(&mut self, me: PeerId, reply: Reply) -> Result<(), SimError> {
        let mut actions = std::mem::take(&mut self.actions);
        let result = self.peer(me).scheduler.on_reply(reply, &mut actions);
        self.actions = actions;
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
            let message = self.peers[me.index() - 1].swarms[refresh.file.0 as usize]
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
            self.timeline.events.push(self.timeline.sequencer.key(at, me.0, me.0), Event::Wake);
        }
        if std::mem::take(&mut actions.all_finished) {
            // A peer that wanted nothing is done from the start (`outcome`); one that wanted
            // something, when it has the last of it.
            if !self.scenario.peer(me).wants.is_empty() {
                let now = self.now;
                self.peer(me).done_at = Some(now);
                self.done += 1;
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

    fn progress(&self) -> Progress {
        Progress { now: self.now, peers_done: self.done, peers: self.wanting, events: self.events }
    }

    fn outcome(self) -> Outcome {
        let peers: Vec<PeerOutcome> = self
            .peers
            .iter()
            .zip(&self.scenario.peers)
            .map(|(peer, spec)| PeerOutcome {
                done_at: if spec.wants.is_empty() { Some(0) } else { peer.done_at },
                uploaded_bytes: peer.uploaded_bytes,
                downloaded_bytes: peer.downloaded_bytes,
            })
            .collect();
        let simulated = peers.iter().filter_map(|peer| peer.done_at).max().unwrap_or(0);
        Outcome { peers, simulated, events: self.events }
    }
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
    use crate::sim::swarm::{self, Swarm};
    use crate::sim::theory;

    fn swarm(classes: &str, size: &str) -> Swarm {
        let text = format!(
            "seed = 3\n[file]\nsize = \"{size}\"\npiece = \"256 KiB\"\n[network]\nlatency = \"20 ms\"\n{classes}"
        );
        swarm::parse(&text, "test.toml").expect("a valid swarm")
    }

    fn class(name: &str, count: u32, up: &str, down: &str, seed: bool) -> String {
        format!(
            "[[peers]]\nname = \"{name}\"\ncount = {count}\nupload = \"{up}\"\ndownload = \"{down}\"\nseed = {seed}\n"
        )
    }

    /// Swarms of several shapes: homogeneous, classes of different speeds, a slow seed, free riders.
    fn shapes() -> Vec<(&'static str, Swarm)> {
        vec![
            (
                "homogeneous",
                // More pieces than a peer keeps requests out: leechers serve each other too.
                swarm(
                    &(class("seed", 1, "4 Mbit/s", "20 Mbit/s", true)
                        + &class("leecher", 30, "1 Mbit/s", "4 Mbit/s", false)),
                    "20 MiB",
                ),
            ),
            (
                "two classes",
                swarm(
                    &(class("seed", 2, "8 Mbit/s", "8 Mbit/s", true)
                        + &class("fast", 15, "4 Mbit/s", "16 Mbit/s", false)
                        + &class("slow", 15, "512 kbit/s", "2 Mbit/s", false)),
                    "3 MiB",
                ),
            ),
            (
                "seed-bound",
                swarm(
                    &(class("seed", 1, "1 Mbit/s", "1 Mbit/s", true)
                        + &class("leecher", 12, "10 Mbit/s", "10 Mbit/s", false)),
                    "2 MiB",
                ),
            ),
            (
                "free riders",
                swarm(
                    &(class("seed", 1, "4 Mbit/s", "4 Mbit/s", true)
                        + &class("leecher", 10, "1 Mbit/s", "4 Mbit/s", false)
                        + &class("free rider", 10, "0 bit/s", "4 Mbit/s", false)),
                    "6 MiB",
                ),
            ),
        ]
    }

    fn run(swarm: &Swarm) -> Outcome {
        simulate(&Scenario::from_swarm(swarm, "test.toml"), &mut |_| {}).expect("the swarm finishes")
    }

    #[test]
    fn no_peer_beats_its_download_and_no_swarm_beats_the_minimum_distribution_time() {
        for (shape, swarm) in shapes() {
            let outcome = run(&swarm);
            let scenario = Scenario::from_swarm(&swarm, "test.toml");
            let bound = theory::min_distribution_time(&scenario).expect("leechers").t_min().ceil_nanos().unwrap();
            assert!(
                outcome.simulated >= bound,
                "{shape}: the last finished at {} ns, before T_min {bound} ns",
                outcome.simulated
            );
            for (index, peer) in outcome.peers.iter().enumerate() {
                let id = PeerId(index as u32 + 1);
                let done = peer.done_at.unwrap_or_else(|| panic!("{shape}: peer {id} never finished"));
                let own_bound = theory::min_finish(&scenario, id).expect("a peer").ceil_nanos().unwrap();
                assert!(
                    done >= own_bound,
                    "{shape}: peer {id} done at {done} ns, faster than its download allows ({own_bound} ns)"
                );
            }
        }
    }

    #[test]
    fn what_is_uploaded_is_downloaded_and_every_leecher_gets_the_whole_file() {
        for (shape, swarm) in shapes() {
            let outcome = run(&swarm);
            let up: u64 = outcome.peers.iter().map(|peer| peer.uploaded_bytes).sum();
            let down: u64 = outcome.peers.iter().map(|peer| peer.downloaded_bytes).sum();
            assert_eq!(up, down, "{shape}");
            let size = swarm.file().size.get();
            for (index, peer) in outcome.peers.iter().enumerate() {
                let seed = swarm.class_of(PeerId(index as u32 + 1)).unwrap().seed;
                if seed {
                    assert_eq!((peer.done_at, peer.downloaded_bytes), (Some(0), 0), "{shape}: a seed");
                } else {
                    assert!(
                        peer.downloaded_bytes >= size,
                        "{shape}: peer {} got {} of {size} bytes",
                        index + 1,
                        peer.downloaded_bytes
                    );
                }
            }
        }
    }

    /// A peer that uploads at 0 bit/s says no to every request: before it did, it said yes to
    /// pieces its uplink could never send, and the swarm stalled on them for ever.
    #[test]
    fn free_riders_get_the_file_and_upload_nothing() {
        let (_, swarm) = shapes().into_iter().find(|(shape, _)| *shape == "free riders").unwrap();
        let outcome = run(&swarm);
        for (index, peer) in outcome.peers.iter().enumerate() {
            let class = swarm.class_of(PeerId(index as u32 + 1)).unwrap();
            assert!(peer.done_at.is_some(), "peer {} ({}) never finished", index + 1, class.name);
            if class.name == "free rider" {
                assert_eq!(peer.uploaded_bytes, 0, "free rider {} uploaded", index + 1);
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_run_and_another_seed_another() {
        // A file of more pieces than a peer keeps requests out, so that leechers serve each other
        // too, and who serves whom follows the piece orders and neighbours drawn from the seed.
        let swarm = swarm(
            &(class("seed", 1, "4 Mbit/s", "20 Mbit/s", true) + &class("leecher", 20, "1 Mbit/s", "4 Mbit/s", false)),
            "20 MiB",
        );
        let first = run(&swarm);
        assert_eq!(first, run(&swarm), "two runs of one swarm and seed differ");
        let other = run(&swarm.clone().with_seed(4));
        assert_ne!(first.peers, other.peers, "another seed gave the very same run");
    }

    /// A piece's time on a link, (start, end), and its bits.
    type Span = ((Nanos, Nanos), u64);

    /// The link model's promise, checked on whole runs: from the run's transfer records
    /// alone, no link carried more than its capacity in any interval. For each link, the bits
    /// of the pieces wholly inside [a, b] are at most capacity x (b - a); the worst intervals
    /// start where a piece started and end where one ended, so those are all that are tried.
    #[test]
    fn over_a_whole_run_no_link_carries_more_than_its_capacity_in_any_interval() {
        for (shape, swarm) in shapes() {
            let scenario = Scenario::from_swarm(&swarm, "test.toml");
            let (outcome, records) = simulate_recording(&scenario, &mut |_| {}, true).expect("the swarm finishes");
            let delivered: u64 = records.iter().map(|record| record.bits / 8).sum();
            let downloaded: u64 = outcome.peers.iter().map(|peer| peer.downloaded_bytes).sum();
            assert_eq!(delivered, downloaded, "{shape}: a record for every piece delivered");
            for (index, spec) in scenario.peers.iter().enumerate() {
                let peer = index as u32 + 1;
                let class = &scenario.classes[spec.class as usize];
                let up = records.iter().filter(|r| r.from == peer).map(|r| (r.up, r.bits)).collect();
                let down = records.iter().filter(|r| r.to == peer).map(|r| (r.down, r.bits)).collect();
                let links: [(&str, u64, Vec<Span>); 2] =
                    [("uplink", class.upload_bits_per_s, up), ("downlink", class.download_bits_per_s, down)];
                for (name, capacity, mut spans) in links {
                    spans.sort_unstable_by_key(|&((_, end), _)| end);
                    for &((a, _), _) in &spans {
                        let mut inside = 0u128;
                        for &((start, end), bits) in spans.iter().filter(|&&((start, _), _)| start >= a) {
                            inside += u128::from(bits);
                            let can = u128::from(capacity) * u128::from(end - a) / 1_000_000_000;
                            assert!(
                                inside <= can,
                                "{shape}: peer {peer}'s {name} carried {inside} bits in [{a}, {end}] ns, \
                                 more than its {capacity} bit/s allow ({can}); a piece started at {start}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_course_folder_runs_on_links() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apd-tema3/test2");
        let scenario = Scenario::from_course(&folder, 1_000_000, 4_000_000, 10_000_000, 16 * 1024, 1).unwrap();
        let outcome = simulate(&scenario, &mut |_| {}).expect("the course's swarm finishes");
        assert_eq!(outcome.peers.len(), scenario.peers.len());
        assert!(outcome.peers.iter().all(|peer| peer.done_at.is_some()));
        let bound = theory::min_distribution_time(&scenario).unwrap().t_min().ceil_nanos().unwrap();
        assert!(outcome.simulated >= bound, "{} ns against a bound of {bound} ns", outcome.simulated);
        for (index, peer) in outcome.peers.iter().enumerate() {
            let own_bound = theory::min_finish(&scenario, PeerId(index as u32 + 1)).unwrap().ceil_nanos().unwrap();
            assert!(peer.done_at.unwrap() >= own_bound, "peer {} beat its own download", index + 1);
        }
    }

    #[test]
    fn a_file_nobody_can_upload_is_refused_before_the_run() {
        let (_, swarm) = shapes().remove(0);
        let mut scenario = Scenario::from_swarm(&swarm, "test.toml");
        scenario.classes[0].upload_bits_per_s = 0;
        let error = simulate(&scenario, &mut |_| {}).unwrap_err();
        assert!(error.to_string().contains("every peer that holds it uploads at 0 bit/s"), "{error}");
    }
}
