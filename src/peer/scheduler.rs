//! The download scheduler's decisions, with no I/O: which segment to ask of which holder, how
//! many requests to keep in flight, what an answer changes, when to refresh a swarm, when a file
//! is whole. A [`Scheduler`] takes an event (a file to download, a swarm refreshed, a reply) and
//! records what it decided in [`Actions`]; it never sends, waits or reads a clock. The state it
//! shares is read and written in place: the swarm the tracker mirror publishes, and the segment
//! set the upload side serves from. Its driver, the scheduler actor (`download.rs`), feeds it
//! its mail and carries the actions out, so that tests drive the decisions directly, event by
//! event, and another engine can drive the same code.

use super::peer_table::PeerTable;
use super::policy::{Candidate, HolderPolicy, PiecePolicy};
use super::segment_queue::SegmentQueue;
use super::segments::{Marked, SegmentSet, bits};
use crate::model::{FileId, FileName, Hashes, PeerId};
use crate::prefetch;
use crate::rng::Rng;
use crate::sync::{Arc, SnapshotCell};
use crate::wire::{FileSources, Holder, Message};
use smallvec::SmallVec;

/// A swarm as the tracker last described it: the other ranks holding a file, whole or in part.
pub type SwarmView = Vec<Holder>;

/// Everything needed to start downloading a file, from the swarm the tracker sent with the go.
pub struct FileStart {
    pub id: FileId,
    pub name: FileName,
    pub hashes: Hashes,
    /// Shared with the upload server, which serves from it as it fills.
    pub segments: Arc<SegmentSet>,
    /// Published by the tracker mirror whenever the tracker answers a refresh.
    pub swarm: Arc<SnapshotCell<SwarmView>>,
}

/// A holder's answer to one of our segment requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub from: PeerId,
    pub file: FileId,
    pub segment: u32,
    pub granted: bool,
    /// The holder's load: segments it has handed out so far.
    pub load: u32,
    /// With a no, or when the request asked for it, the holder's segments of the file as bitset
    /// words; empty otherwise.
    pub held: Vec<u64>,
}

/// What the scheduler did, returned when it stops.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DownloadFigures {
    pub downloaded: u64,
    pub requests: u64,
    pub sources: Vec<FileSources>,
}

pub struct DownloadConfig {
    pub me: PeerId,
    /// How many files this peer wants: all done once that many are whole.
    pub wanted: usize,
    /// Requests kept in flight at once, over all files and holders.
    pub window: usize,
    /// The run's seed: which partial holders become this peer's neighbours comes from it.
    pub seed: u64,
    /// How many partial holders of a file it asks, besides the seeds (see `NEIGHBOURS`).
    pub neighbours: usize,
    /// What it does when no holder it knows may give a segment it needs.
    pub when_stalled: WhenStalled,
}

/// What a peer does when no holder it knows may give a segment it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenStalled {
    /// Ask the tracker for the whole swarm, and look again when it answers. The live runtime's
    /// way: its transfers take microseconds, so by the answer some holder has moved on.
    AskTracker,
    /// Wait: the driver calls [`Scheduler::wake`] a while later, when what it knows of the
    /// holders has aged. The simulated engine's way: there a transfer takes seconds, and asking
    /// the tracker again and again meanwhile only floods it.
    Wait,
}

/// What the scheduler decided, for its driver to carry out. The driver keeps one, hands it to
/// every call, and empties it as it carries it out: `refreshes` and `finished` keep their room,
/// and `requests` goes to the network whole, one batch a decision, made with room for what the
/// window has free.
#[derive(Debug, Default)]
pub struct Actions {
    /// Segment requests to send, in the order decided: one batch for the network.
    pub requests: Vec<(PeerId, Message)>,
    /// Swarm refreshes to ask of the tracker, in order.
    pub refreshes: Vec<Refresh>,
    /// Files now whole, in the order they completed, with their hashes (the scheduler needs
    /// them no more): to be written, then reported.
    pub finished: Vec<FinishedFile>,
    /// Every wanted file is whole (said once, after the last of `finished`).
    pub all_finished: bool,
    /// Stalled, waiting (`WhenStalled::Wait`): call [`Scheduler::wake`] a while later. Said once
    /// until then.
    pub wait: bool,
    /// The scheduler's scratch for a request: the holders it could go to, and the segment each
    /// would be asked for. Kept here, with the driver, to spare an allocation a request without
    /// room in every scheduler (a simulated engine runs a scheduler a peer, and a shard one
    /// `Actions` for all of its peers).
    candidates: Vec<Candidate>,
    asks: Vec<u32>,
}

/// Ask the tracker what changed in the file's swarm since our view or, `from_start`, for the
/// whole swarm (which it always answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    pub file: FileId,
    pub from_start: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedFile {
    pub file: FileId,
    pub name: FileName,
    pub hashes: Hashes,
}

/// The scheduler's record of one file being downloaded.
struct Download {
    start: FileStart,
    /// Segments still to request, in the piece policy's order. An entry whose segment has been
    /// asked for meanwhile (out of order, see `unrequested`) is skipped when it comes up.
    queue: SegmentQueue,
    /// The segments neither held nor asked for now, as bitset words: matched against a partial
    /// holder's bitfield to find something to ask of it when it lacks the next in `queue`.
    unrequested: Bitfield,
    /// Segments no holder in the current swarm would give; retried when the swarm changes.
    stalled: SegmentQueue,
    /// Segments received since the last swarm refresh (the protocol refreshes every 10).
    since_refresh: u32,
    /// A refresh from the start, which is always answered, is out (asked when stalled).
    refresh_pending: bool,
    /// Each holder's part in this file.
    holders: PeerTable<HolderInFile>,
    /// The partial holders this peer asks (see `NEIGHBOURS`); seeds are always asked.
    neighbours: PeerTable<bool>,
    /// The size of the swarm the neighbours were drawn from.
    neighbours_drawn_from: usize,
    /// The holders this peer asks now: the swarm's seeds and its neighbours, kept up to date
    /// with the swarm, so that a request looks at a handful of holders, not at the whole swarm.
    askable: SmallVec<[Holder; ASKABLE_INLINE]>,
}

/// A holder's bitfield as bitset words, inline up to 512 segments: every request looks at the
/// bitfields of the holders it could go to, and a bitfield of its own allocation was the
/// simulated engine's costliest memory access (a cache miss per holder; `make bench-sim`).
type Bitfield = SmallVec<[u64; 8]>;

/// The holders a peer asks, inline when they are a simulated peer's usual (its 8 neighbours
/// and a seed or two), like the bitfields: they are read at every request.
const ASKABLE_INLINE: usize = 10;

/// What one holder has done for one file being downloaded.
#[derive(Default, Clone)]
struct HolderInFile {
    /// Segments received from it.
    received: u32,
    /// Requests out to it now.
    asked: u32,
    /// Set aside for a while after saying no (see `SetAside`).
    aside: SetAside,
    /// What it said it held when it last sent its bitfield (bitset words; empty until it has):
    /// with a refusal, or when asked for it. What it held it still holds, so those segments are
    /// asked of it freely; what it lacked it may have got since, so that part is believed only
    /// until the file's next refresh, and the next request then asks for a new bitfield.
    bitfield: Bitfield,
    /// Refreshes of the file since the bitfield came.
    refreshes_since_bitfield: u32,
    /// A request that asked for its bitfield is out.
    bitfield_asked: bool,
}

impl HolderInFile {
    /// A segment its bitfield shows and `wanted` has, looking from word `from` on (wrapping),
    /// so that different downloaders tend to ask for different ones.
    fn holds_one_of(&self, wanted: &[u64], from: u32) -> Option<u32> {
        // Both as plain slices of one length, taken once: indexing the inline vector word by
        // word asked at each word where its words are.
        let words = self.bitfield.len().min(wanted.len());
        let (held, wanted) = (&self.bitfield[..words], &wanted[..words]);
        let first = (from as usize).checked_rem(words).unwrap_or(0);
        (first..words).chain(0..first).find_map(|word| {
            let common = held[word] & wanted[word];
            (common != 0).then(|| word as u32 * 64 + common.trailing_zeros())
        })
    }

    /// Whether the next request should ask for its bitfield: we have none, or an old one.
    fn wants_bitfield(&self) -> bool {
        !self.bitfield_asked && (self.bitfield.is_empty() || self.refreshes_since_bitfield > 0)
    }

    /// Whether it holds `segment`: `Some(true)` if it said so, `Some(false)` if it said lately
    /// that it lacked it, `None` if we do not know.
    fn may_hold(&self, segment: u32) -> Option<bool> {
        if self.bitfield.is_empty() {
            None
        } else if bits::test(&self.bitfield, segment) {
            Some(true)
        } else if self.refreshes_since_bitfield == 0 {
            Some(false)
        } else {
            None
        }
    }
}

/// What the scheduler knows of a holder across files.
#[derive(Default, Clone, Copy)]
struct HolderLoad {
    /// Its own figure, from its last reply: segments it has handed out.
    reported: u32,
    /// Our requests out to it now.
    in_flight: u32,
}

/// A holder that refused is set aside for a number of swarm refreshes that doubles with each
/// refusal in a row (1, 2, 4, .. 16): a partial holder that lacks one segment likely lacks the
/// next ones too, but it fills up, so it is tried again later rather than never.
#[derive(Default, Clone, Copy)]
struct SetAside {
    refusals_in_a_row: u32,
    refreshes_left: u32,
}

impl SetAside {
    const LONGEST: u32 = 16;

    fn refused(&mut self) {
        self.refusals_in_a_row += 1;
        self.refreshes_left = (1u32 << (self.refusals_in_a_row - 1).min(4)).min(Self::LONGEST);
    }

    fn refreshed(&mut self) {
        self.refreshes_left = self.refreshes_left.saturating_sub(1);
    }
}

impl Download {
    /// A refresh is going out. What we know of the holders ages by one refresh now, answered or
    /// not (the tracker answers only with news), and stalled segments are tried again.
    fn refreshing(&mut self) {
        self.holders.rows_mut().for_each(|holder| {
            holder.aside.refreshed();
            holder.refreshes_since_bitfield = holder.refreshes_since_bitfield.saturating_add(1);
        });
        self.unstall();
    }

    /// Every segment of the queue stalls, behind those that stalled before. Moved whole when
    /// nothing stalled before: a stall then costs neither a copy nor a second queue's room.
    fn stall(&mut self) {
        if self.stalled.is_empty() {
            std::mem::swap(&mut self.queue, &mut self.stalled);
        } else {
            self.stalled.append(&mut self.queue);
        }
        // The emptied queue's room goes, but for a few segments': a queue has room for the whole
        // file, and two of them a peer were an eighth of a simulated peer's memory. Only a
        // segment given back (`push_front`) or an unstall into a queue that is not empty needs
        // room again.
        self.queue.shrink();
    }

    /// Stalled segments go back to the queue, behind what it holds (moved whole into an empty
    /// one).
    fn unstall(&mut self) {
        if self.queue.is_empty() {
            std::mem::swap(&mut self.queue, &mut self.stalled);
        } else {
            self.queue.append(&mut self.stalled);
        }
        self.stalled.shrink();
    }

    /// The most segments one holder should give when others can: half the file, rounded up.
    fn share_cap(&self) -> u32 {
        self.start.segments.len().div_ceil(2)
    }
}

/// How many partial holders of a file a peer asks, besides the seeds: its neighbours in that
/// swarm, as a BitTorrent client keeps a peer set rather than talking to the whole swarm. What a
/// partial holder has is unknown until it answers, so every holder asked costs a refusal or two
/// before it is known; with every downloader asking every other, those refusals outnumbered the
/// transfers (README, "How a run goes"). Each peer draws its own
/// neighbours from the run's seed, so every holder is some peers' neighbour and uploads stay
/// even.
pub const NEIGHBOURS: usize = 4;

/// The protocol's refresh period, in segments received.
const REFRESH_EVERY: u32 = 10;

/// The scheduler's state: every file being downloaded, what it knows of each holder, the
/// requests in flight, and the policies it chooses with.
pub struct Scheduler {
    config: DownloadConfig,
    pieces: Box<dyn PiecePolicy>,
    holders: Box<dyn HolderPolicy>,
    downloads: Vec<Download>,
    /// Index in `downloads` by file id (ids are small and dense: the tracker numbers files).
    by_id: Vec<Option<usize>>,
    started: bool,
    finished_files: usize,
    all_done_sent: bool,
    in_flight: usize,
    loads: PeerTable<HolderLoad>,
    /// Which download the next request pass starts from, so that files share the window.
    turn: usize,
    figures: DownloadFigures,
    /// A wait is out (`WhenStalled::Wait`).
    waiting: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("peer {from} answered for segment {segment} of file id {file}, which was not asked of it")]
    Unasked { from: PeerId, file: u32, segment: u32 },
}

impl Scheduler {
    pub fn new(config: DownloadConfig, pieces: Box<dyn PiecePolicy>, holders: Box<dyn HolderPolicy>) -> Scheduler {
        // Room for exactly the files it wants: the first push would make room for four.
        let downloads = Vec::with_capacity(config.wanted);
        Scheduler {
            config,
            pieces,
            holders,
            downloads,
            by_id: Vec::new(),
            started: false,
            finished_files: 0,
            all_done_sent: false,
            in_flight: 0,
            loads: PeerTable::new(),
            turn: 0,
            figures: DownloadFigures::default(),
            waiting: false,
        }
    }

    /// Requests out now, over all files.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The tracker said go: once every wanted file is whole, the scheduler may say so.
    pub fn start(&mut self) {
        self.started = true;
    }

    /// A wanted file to download, from its swarm.
    pub fn add_file(&mut self, start: FileStart, actions: &mut Actions) {
        let segments = start.segments.len();
        let queue = SegmentQueue::from_order(self.pieces.order(segments).make_contiguous(), segments);
        let mut unrequested = Bitfield::from_elem(0, bits::words_for(segments));
        queue.iter().for_each(|segment| bits::set(&mut unrequested, segment));
        let complete_already = start.segments.is_complete(); // a file of no segments
        let slot = start.id.0 as usize; // an id the tracker gave: small
        if slot >= self.by_id.len() {
            self.by_id.resize(slot + 1, None);
        }
        self.by_id[slot] = Some(self.downloads.len());
        self.downloads.push(Download {
            start,
            queue,
            unrequested,
            stalled: SegmentQueue::for_file(segments),
            since_refresh: 0,
            refresh_pending: false,
            holders: PeerTable::new(),
            neighbours: PeerTable::new(),
            neighbours_drawn_from: 0,
            askable: SmallVec::new(),
        });
        let index = self.downloads.len() - 1;
        self.pick_neighbours(index);
        if complete_already {
            self.complete(index, actions);
        }
    }

    /// The tracker answered a refresh of the file's swarm; `changed` if the swarm it publishes
    /// is new. Stalled segments are tried again.
    pub fn swarm_refreshed(&mut self, file: FileId, changed: bool) {
        let Some(index) = self.index_of(file) else { return };
        let download = &mut self.downloads[index];
        download.refresh_pending = false;
        download.unstall();
        if changed {
            self.pick_neighbours(index);
        }
    }

    /// The wait asked for (`Actions::wait`) is over: what we know of the holders ages as at a
    /// refresh, and stalled segments are tried again at the next decision.
    pub fn wake(&mut self) {
        self.waiting = false;
        self.downloads.iter_mut().for_each(Download::refreshing);
    }

    /// A holder answered one of our requests. An answer to a request not made is an error: the
    /// holder or the transport is broken.
    pub fn on_reply(
        &mut self,
        &Reply { from, file, segment, granted, load, ref held }: &Reply,
        actions: &mut Actions,
    ) -> Result<(), DownloadError> {
        let unasked = DownloadError::Unasked { from, file: file.0, segment };
        let Some(index) = self.index_of(file) else { return Err(unasked) };
        let download = &mut self.downloads[index];
        let holder = download.holders.row(from);
        if holder.asked == 0 {
            return Err(unasked);
        }
        holder.asked -= 1;
        self.in_flight -= 1;
        let holder_load = self.loads.row(from);
        holder_load.in_flight -= 1;
        holder_load.reported = load;
        if !held.is_empty() {
            holder.bitfield = Bitfield::from_slice(held);
            holder.refreshes_since_bitfield = 0;
            holder.bitfield_asked = false;
        }
        if !granted {
            holder.aside.refused();
            download.queue.push_front(segment);
            bits::set(&mut download.unrequested, segment);
            return Ok(());
        }
        let marked = download.start.segments.mark(segment);
        if marked == Marked::AlreadyHeld {
            return Ok(());
        }
        self.figures.downloaded += 1;
        holder.aside = SetAside::default();
        holder.received += 1;
        download.since_refresh += 1;
        if download.since_refresh == REFRESH_EVERY {
            download.since_refresh = 0;
            download.refreshing();
            actions.refreshes.push(Refresh { file, from_start: false });
        }
        if marked == Marked::Completed {
            self.complete(index, actions);
        }
        Ok(())
    }

    /// Asks for the memory its next decision reads, without waiting for it (`crate::prefetch`):
    /// at stage 0 its downloads and their index by file, its table of holders' loads and its
    /// holder policy; at stage 1, which reads what stage 0 brought in, each download's table of
    /// holders and the front of its queue.
    pub fn warm(&self, stage: usize) {
        match stage {
            0 => {
                prefetch::slice(&self.downloads);
                // A reply finds its download through this one: two thirds of `on_reply`'s
                // samples waited on it.
                prefetch::slice(&self.by_id);
                self.loads.warm();
                // The holder policy's state (its turn) is an allocation of its own.
                prefetch::value(&*self.holders);
            }
            _ => self.downloads.iter().for_each(|download| {
                download.holders.warm();
                download.queue.warm();
            }),
        }
    }

    /// Decides after a batch of events, not after each: fills the window with requests, and says
    /// "all finished" once every wanted file is whole.
    pub fn decide(&mut self, actions: &mut Actions) {
        self.fill_window(actions);
        // A file waits when it has stalled segments and nothing in flight that could bring news
        // of its holders; one file's requests do not hold another's wait back.
        let waits = |download: &Download| {
            !download.stalled.is_empty() && download.holders.iter().all(|(_, holder)| holder.asked == 0)
        };
        if self.config.when_stalled == WhenStalled::Wait && !self.waiting && self.downloads.iter().any(waits) {
            self.waiting = true;
            actions.wait = true;
        }
        if self.started && !self.all_done_sent && self.finished_files == self.config.wanted {
            self.all_done_sent = true;
            actions.all_finished = true;
        }
    }

    /// What the scheduler did: segments received, requests made, and each file's sources.
    pub fn figures(mut self) -> DownloadFigures {
        self.figures.sources = self
            .downloads
            .iter()
            .map(|download| FileSources {
                file: download.start.id,
                counts: download
                    .holders
                    .iter()
                    .filter(|(_, holder)| holder.received > 0)
                    .map(|(peer, holder)| (peer, holder.received))
                    .collect(),
            })
            .filter(|sources| !sources.counts.is_empty())
            .collect();
        self.figures
    }

    fn index_of(&self, file: FileId) -> Option<usize> {
        self.by_id.get(file.0 as usize).copied().flatten()
    }

    /// A file is whole: it goes to be written, with its hashes (the scheduler needs them no more).
    fn complete(&mut self, index: usize, actions: &mut Actions) {
        let start = &mut self.downloads[index].start;
        let hashes = start.hashes.clone();
        actions.finished.push(FinishedFile { file: start.id, name: start.name.clone(), hashes });
        self.finished_files += 1;
    }

    /// Adds requests until the window is full or nothing more can be asked now.
    fn fill_window(&mut self, actions: &mut Actions) {
        // Room for what the window has free, at once: the batch is handed over whole and a
        // new one made each time.
        actions.requests.reserve_exact(self.config.window.saturating_sub(self.in_flight));
        while self.in_flight < self.config.window {
            let count = self.downloads.len();
            let sent = (0..count).any(|offset| self.request_one((self.turn + offset) % count.max(1), actions));
            if !sent {
                break;
            }
            self.turn = self.turn.wrapping_add(1);
        }
    }
    /// Brings the download's holders to ask up to date with its swarm: its seeds, and its
    /// neighbours, drawn again only when the swarm has grown (swarms only grow: the tracker adds
    /// every asker), not at every refresh: most refreshes bring the same members.
    fn pick_neighbours(&mut self, index: usize) {
        let DownloadConfig { me, seed, neighbours, .. } = self.config;
        let download = &mut self.downloads[index];
        let swarm = download.start.swarm.load();
        if swarm.len() != download.neighbours_drawn_from {
            download.neighbours = Self::draw_neighbours(me, seed, neighbours, download.start.id, &swarm);
            download.neighbours_drawn_from = swarm.len();
        }
        let neighbours = &download.neighbours;
        download.askable.clear();
        download.askable.extend(
            swarm.iter().filter(|holder| holder.peer != me && (holder.seed || neighbours.get(holder.peer))).copied(),
        );
        // What was learned of a holder no longer asked goes, once nothing is out to it: a
        // neighbour drawn out stays out (its score stands, and swarms only grow), and in a flash
        // crowd each peer went through some twenty neighbours, a row of 100 bytes each.
        let askable = &download.askable;
        download.holders.retain(|peer, holder| holder.asked > 0 || askable.iter().any(|asked| asked.peer == peer));
    }

    /// This peer's neighbours among a file's partial holders: the `NEIGHBOURS` with the lowest
    /// score, a hash of (seed, me, file, holder). A holder keeps its score as the swarm grows,
    /// so the set changes only when a newcomer scores lower: what was learned of the neighbours
    /// stays useful.
    fn draw_neighbours(me: PeerId, seed: u64, count: usize, file: FileId, swarm: &[Holder]) -> PeerTable<bool> {
        let score = |peer: PeerId| {
            Rng::derive(seed ^ (u64::from(file.0) << 32), (u64::from(me.0) << 32) | u64::from(peer.0)).next_u64()
        };
        // On the stack for a simulated peer's view of up to 80 members: a kilobyte or more on
        // the heap, each draw also swept glibc's lists of small free blocks (a third of those
        // sweeps at 10,000 course leechers).
        let mut partial: SmallVec<[(u64, PeerId); 96]> = swarm
            .iter()
            .filter(|holder| !holder.seed && holder.peer != me)
            .map(|holder| (score(holder.peer), holder.peer))
            .collect();
        // The `count` lowest scores, in no order: the table keeps its rows by peer.
        if partial.len() > count {
            partial.select_nth_unstable(count);
            partial.truncate(count);
        }
        let mut neighbours = PeerTable::with_capacity(partial.len());
        for &(_, peer) in &partial {
            *neighbours.row(peer) = true;
        }
        neighbours
    }

    /// Adds one request for the download at `index` to the actions, if it has a segment some holder
    /// may give.
    ///
    /// Each holder asked is matched with a segment: the next in the piece order if it may have
    /// that one, or else one its bitfield shows that we still need; then the holder policy
    /// chooses among them. Without the second kind a partial holder that lacks the next segment
    /// sits idle while the seeds take the request, and with a deep window the seeds then
    /// uploaded most of everything (the README's figures).
    fn request_one(&mut self, index: usize, actions: &mut Actions) -> bool {
        let download = &mut self.downloads[index];
        while let Some(segment) = download.queue.front() {
            if !bits::test(&download.unrequested, segment) || download.start.segments.contains(segment) {
                download.queue.pop_front(); // asked for out of order meanwhile, or held
                continue;
            }
            let (candidates, asks) = (&mut actions.candidates, &mut actions.asks);
            candidates.clear();
            asks.clear();
            for holder in &download.askable {
                let in_file = download.holders.peek(holder.peer);
                let may_hold = if holder.seed { Some(true) } else { in_file.and_then(|h| h.may_hold(segment)) };
                // What to ask of it: the next segment if it may have that one; else something
                // its bitfield shows that we need (no risk of a no); else, if nothing is known
                // either way, the next segment as a probe, one at a time per holder: each probe
                // risks a refusal, and the answer brings its bitfield. (Probed several at once,
                // as a deep window would, a partial holder refused them all.)
                let known_other = || in_file.and_then(|h| h.holds_one_of(&download.unrequested, segment / 64));
                let ask = match may_hold {
                    Some(true) => segment,
                    _ => match known_other() {
                        Some(other) => other,
                        None if may_hold.is_none() && in_file.is_none_or(|h| h.asked == 0) => segment,
                        None => continue,
                    },
                };
                let load = self.loads.get(holder.peer);
                let (given, aside) = in_file.map_or((0, false), |h| (h.received + h.asked, h.aside.refreshes_left > 0));
                candidates.push(Candidate {
                    peer: holder.peer,
                    seed: holder.seed,
                    reported_load: load.reported,
                    in_flight: load.in_flight,
                    given,
                    // Set aside for refusing, unless it said it has the segment to ask.
                    set_aside: aside && ask == segment && may_hold != Some(true),
                });
                asks.push(ask);
            }
            if candidates.is_empty() {
                // Whether a holder is a candidate does not depend on the segment: a seed always
                // is; a partial holder is if its bitfield shows any segment still unrequested
                // (and this one is), or, not knowing, if it is not being probed already. So no
                // segment of the queue has a candidate now: they all stall, at once.
                download.stall();
                match self.config.when_stalled {
                    WhenStalled::AskTracker if !download.refresh_pending => {
                        download.refresh_pending = true;
                        actions.refreshes.push(Refresh { file: download.start.id, from_start: true });
                    }
                    _ => {}
                }
                return false;
            }
            let chosen = self.holders.choose(candidates, download.share_cap());
            let (holder, ask) = (candidates[chosen].peer, asks[chosen]);
            if ask == segment {
                download.queue.pop_front();
            }
            bits::clear(&mut download.unrequested, ask);
            let seed = candidates[chosen].seed;
            let in_file = download.holders.row(holder);
            in_file.asked += 1;
            // Seeds hold everything; a partial holder's bitfield lets us ask it for what it has.
            let with_bitfield = !seed && in_file.wants_bitfield();
            in_file.bitfield_asked |= with_bitfield;
            self.loads.row(holder).in_flight += 1;
            self.in_flight += 1;
            self.figures.requests += 1;
            actions
                .requests
                .push((holder, Message::SegmentRequest { file: download.start.id, segment: ask, with_bitfield }));
            return true;
        }
        false
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::model::SegmentHash;
    use crate::peer::policy::{InOrder, LeastBusy};

    fn holder_with(bitfield: Vec<u64>, refreshes_since_bitfield: u32) -> HolderInFile {
        HolderInFile { bitfield: Bitfield::from_vec(bitfield), refreshes_since_bitfield, ..HolderInFile::default() }
    }

    #[test]
    fn what_a_bitfield_says_it_holds_stays_true_what_it_lacked_goes_stale() {
        let fresh = holder_with(vec![0b101], 0);
        assert_eq!(fresh.may_hold(0), Some(true));
        assert_eq!(fresh.may_hold(1), Some(false));
        let old = holder_with(vec![0b101], 1);
        assert_eq!(old.may_hold(2), Some(true));
        assert_eq!(old.may_hold(1), None, "it may have got it since");
        assert_eq!(HolderInFile::default().may_hold(0), None, "no bitfield yet");
    }

    #[test]
    fn a_bitfield_is_asked_for_when_missing_or_old_and_not_already_asked() {
        assert!(HolderInFile::default().wants_bitfield());
        assert!(!holder_with(vec![1], 0).wants_bitfield());
        assert!(holder_with(vec![1], 2).wants_bitfield());
        let asked = HolderInFile { bitfield_asked: true, ..HolderInFile::default() };
        assert!(!asked.wants_bitfield());
    }

    #[test]
    fn a_holder_is_matched_with_a_segment_it_holds_and_we_need() {
        // It holds 3 and 70; we need 70 and 100.
        let holder = holder_with(vec![1 << 3, 1 << (70 - 64)], 0);
        let mut wanted = vec![0u64; 2];
        bits::set(&mut wanted, 70);
        bits::set(&mut wanted, 100);
        assert_eq!(holder.holds_one_of(&wanted, 0), Some(70));
        assert_eq!(holder.holds_one_of(&wanted, 1), Some(70));
        bits::clear(&mut wanted, 70);
        assert_eq!(holder.holds_one_of(&wanted, 0), None, "nothing it holds is needed");
        assert!(!bits::test(&wanted, 70) && bits::test(&wanted, 100));
        assert_eq!(HolderInFile::default().holds_one_of(&wanted, 0), None);
    }

    // -----------------------------------------------------------------------------------------
    // The scheduler's decisions, driven event by event: no actor, no mailbox, no network.

    const ME: PeerId = PeerId(1);
    const FILE: FileId = FileId(0);

    fn seed(peer: u32) -> Holder {
        Holder { peer: PeerId(peer), seed: true }
    }

    fn partial(peer: u32) -> Holder {
        Holder { peer: PeerId(peer), seed: false }
    }

    /// A request as decided: to whom, which segment, whether it asks for the bitfield.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Asked {
        to: u32,
        segment: u32,
        with_bitfield: bool,
    }

    fn asked(to: u32, segment: u32, with_bitfield: bool) -> Asked {
        Asked { to, segment, with_bitfield }
    }

    /// Chooses the candidate that comes first in its list of peers (the first candidate if none
    /// is listed), so that a test decides which holder gets a request and watches what the
    /// scheduler offers and does around that choice.
    struct Prefer(Vec<u32>);

    impl HolderPolicy for Prefer {
        fn choose(&mut self, candidates: &[Candidate], _share_cap: u32) -> usize {
            let place = |candidate: &Candidate| self.0.iter().position(|&peer| PeerId(peer) == candidate.peer);
            (0..candidates.len()).min_by_key(|&index| place(&candidates[index]).unwrap_or(usize::MAX)).unwrap_or(0)
        }
    }

    /// A scheduler with one file being downloaded, segments asked first to last.
    struct Bench {
        scheduler: Scheduler,
        actions: Actions,
        segments: Arc<SegmentSet>,
        swarm: Arc<SnapshotCell<SwarmView>>,
    }

    impl Bench {
        fn new(window: usize, segments: u32, swarm: &[Holder], holders: impl HolderPolicy + 'static) -> Bench {
            Bench::with_seed(window, segments, swarm, Box::new(holders), 1)
        }

        fn with_seed(window: usize, len: u32, swarm: &[Holder], holders: Box<dyn HolderPolicy>, seed: u64) -> Bench {
            Bench::configured(window, len, swarm, holders, seed, WhenStalled::AskTracker)
        }

        fn configured(
            window: usize,
            len: u32,
            swarm: &[Holder],
            holders: Box<dyn HolderPolicy>,
            seed: u64,
            when_stalled: WhenStalled,
        ) -> Bench {
            let config = DownloadConfig { me: ME, wanted: 1, window, seed, neighbours: NEIGHBOURS, when_stalled };
            let mut scheduler = Scheduler::new(config, Box::new(InOrder), holders);
            let mut actions = Actions::default();
            let segments = Arc::new(SegmentSet::empty(len));
            let swarm = Arc::new(SnapshotCell::new(swarm.to_vec()));
            scheduler.start();
            let name = FileName::new("file1").expect("a good name");
            let hashes = Hashes::new(vec![SegmentHash([b'a'; SegmentHash::LEN]); len as usize]);
            let start = FileStart { id: FILE, name, hashes, segments: segments.clone(), swarm: swarm.clone() };
            scheduler.add_file(start, &mut actions);
            Bench { scheduler, actions, segments, swarm }
        }

        /// The requests of one decision.
        fn decide(&mut self) -> Vec<Asked> {
            self.scheduler.decide(&mut self.actions);
            self.actions
                .requests
                .drain(..)
                .map(|(to, message)| match message {
                    Message::SegmentRequest { file, segment, with_bitfield } => {
                        assert_eq!(file, FILE);
                        asked(to.0, segment, with_bitfield)
                    }
                    other => panic!("the scheduler sent {other:?}"),
                })
                .collect()
        }

        /// An answer from `from`: `held` lists what its bitfield shows (none sent if `None`).
        fn reply(&mut self, from: u32, segment: u32, granted: bool, load: u32, held: Option<&[u32]>) {
            let held = held.map_or_else(Vec::new, |segments| {
                let mut words = vec![0; bits::words_for(self.segments.len())];
                segments.iter().for_each(|&segment| bits::set(&mut words, segment));
                words
            });
            let reply = Reply { from: PeerId(from), file: FILE, segment, granted, load, held };
            self.scheduler.on_reply(&reply, &mut self.actions).expect("a reply to a request");
        }

        fn refreshes(&mut self) -> Vec<Refresh> {
            self.actions.refreshes.drain(..).collect()
        }

        /// Answers every request with window 1 until the file is whole, `answer` saying for each
        /// (holder, segment) whether it gives it and what load it reports; what was asked, in order.
        fn serve(&mut self, mut answer: impl FnMut(u32, u32) -> (bool, u32)) -> Vec<Asked> {
            let mut log = Vec::new();
            while !self.segments.is_complete() {
                let requests = self.decide();
                assert_eq!(requests.len(), 1, "window 1: one request a decision, after {log:?}");
                let request = requests[0];
                log.push(request);
                let (granted, load) = answer(request.to, request.segment);
                // A partial holder that refuses holds nothing: its bitfield says so.
                let held: &[u32] = &[];
                self.reply(
                    request.to,
                    request.segment,
                    granted,
                    load,
                    (!granted || request.with_bitfield).then_some(held),
                );
            }
            log
        }

        fn sources(self) -> Vec<(PeerId, u32)> {
            let figures = self.scheduler.figures();
            figures.sources.into_iter().flat_map(|file| file.counts).collect()
        }
    }

    #[test]
    fn a_holder_is_asked_for_the_next_segment_or_for_one_its_bitfield_shows() {
        let mut bench = Bench::new(2, 8, &[seed(2), partial(3)], Prefer(vec![3, 2]));
        // The partial holder, unknown, gets the next segment as a probe that asks for its
        // bitfield; the seed the one after (the partial holder has a probe out already).
        assert_eq!(bench.decide(), [asked(3, 0, true), asked(2, 1, false)]);
        // It lacks 0 but holds 5 and 6; the seed gives 1.
        bench.reply(3, 0, false, 0, Some(&[5, 6]));
        bench.reply(2, 1, true, 1, None);
        // Segment 0 is next again; the partial holder is matched with what it holds instead,
        // as many at once as it holds (no risk of a no), and its fresh bitfield is not asked again.
        assert_eq!(bench.decide(), [asked(3, 5, false), asked(3, 6, false)]);
        // Segment 0, still next, goes to the seed as soon as there is room.
        bench.reply(3, 5, true, 1, None);
        assert_eq!(bench.decide(), [asked(2, 0, false)]);
    }

    #[test]
    fn an_unknown_partial_holder_is_probed_one_segment_at_a_time() {
        let mut bench = Bench::new(8, 10, &[partial(3), partial(4)], Prefer(vec![3, 4]));
        // However wide the window: one probe each, and nothing else to ask.
        assert_eq!(bench.decide(), [asked(3, 0, true), asked(4, 1, true)]);
        assert_eq!(bench.scheduler.in_flight(), 2);
        // The answer brings the bitfield: then it is asked for what it holds, several at once.
        bench.reply(3, 0, true, 1, Some(&[0, 2, 4, 7]));
        bench.scheduler.swarm_refreshed(FILE, false);
        assert_eq!(bench.decide(), [asked(3, 2, false), asked(3, 4, false), asked(3, 7, false)]);
    }

    #[test]
    fn segments_no_holder_may_give_wait_for_the_whole_swarm_then_are_asked_again() {
        let mut bench = Bench::new(4, 6, &[partial(3)], Prefer(vec![]));
        assert_eq!(bench.decide(), [asked(3, 0, true)]);
        // Nobody else may give 1..5: they wait, and the whole swarm is asked for, once.
        assert_eq!(bench.refreshes(), [Refresh { file: FILE, from_start: true }]);
        // The holder lacks 0 and holds 1: 1 is asked of it; 0 waits too, and no second refresh
        // goes out while the first is unanswered.
        bench.reply(3, 0, false, 0, Some(&[1]));
        assert_eq!(bench.decide(), [asked(3, 1, false)]);
        assert_eq!(bench.refreshes(), []);
        // The swarm did not change: the waiting segments are tried again, wait again, and the
        // whole swarm is asked for again.
        bench.scheduler.swarm_refreshed(FILE, false);
        assert_eq!(bench.decide(), []);
        assert_eq!(bench.refreshes(), [Refresh { file: FILE, from_start: true }]);
        // A seed joins: what waited goes to it, as the window allows (1 is still out).
        bench.swarm.publish(Arc::new(vec![partial(3), seed(5)]));
        bench.scheduler.swarm_refreshed(FILE, true);
        assert_eq!(bench.decide(), [asked(5, 2, false), asked(5, 3, false), asked(5, 4, false)]);
        bench.reply(3, 1, true, 1, None);
        bench.reply(5, 2, true, 1, None);
        assert_eq!(bench.decide(), [asked(5, 5, false), asked(5, 0, false)]);
        assert_eq!(bench.refreshes(), []);
    }

    #[test]
    fn a_peer_that_waits_when_stalled_asks_no_tracker_and_waits_only_with_nothing_in_flight() {
        let mut bench = Bench::configured(4, 6, &[partial(3)], Box::new(Prefer(vec![])), 1, WhenStalled::Wait);
        // The holder is probed; nothing else may be asked, but a reply is still to come.
        assert_eq!(bench.decide(), [asked(3, 0, true)]);
        assert_eq!(bench.refreshes(), []);
        assert!(!bench.actions.wait, "a wait while a reply may bring news");
        // It holds nothing: with nothing in flight and nothing to ask, the peer waits, once.
        bench.reply(3, 0, false, 0, Some(&[]));
        assert_eq!(bench.decide(), []);
        assert!(std::mem::take(&mut bench.actions.wait));
        assert_eq!(bench.decide(), []);
        assert!(!bench.actions.wait, "a second wait asked for while one is out");
        assert_eq!(bench.refreshes(), []);
        // The wait is over: what the holder lacked may have come since, so it is probed again
        // (for the first segment that stalled; the refused one went behind it).
        bench.scheduler.wake();
        assert_eq!(bench.decide(), [asked(3, 1, true)]);
        bench.reply(3, 1, false, 0, Some(&[2]));
        assert_eq!(bench.decide(), [asked(3, 2, false)]);
    }

    #[test]
    fn a_stalled_file_waits_even_while_another_file_has_requests_out() {
        let config = DownloadConfig {
            me: ME,
            wanted: 2,
            window: 3,
            seed: 1,
            neighbours: NEIGHBOURS,
            when_stalled: WhenStalled::Wait,
        };
        let mut scheduler = Scheduler::new(config, Box::new(InOrder), Box::new(Prefer(vec![])));
        let mut actions = Actions::default();
        scheduler.start();
        // File 0 has one partial holder, peer 3; file 1 a seed, peer 2, and many segments.
        for (id, holders, len) in [(0, vec![partial(3)], 4), (1, vec![seed(2)], 40)] {
            let name = FileName::new(&format!("file{id}")).expect("a good name");
            let hashes = Hashes::new(vec![SegmentHash([b'a'; SegmentHash::LEN]); len]);
            let segments = Arc::new(SegmentSet::empty(len as u32));
            let swarm = Arc::new(SnapshotCell::new(holders));
            scheduler.add_file(FileStart { id: FileId(id), name, hashes, segments, swarm }, &mut actions);
        }
        scheduler.decide(&mut actions);
        let asked: Vec<(u32, u32)> = actions
            .requests
            .drain(..)
            .map(|(to, message)| match message {
                Message::SegmentRequest { file, .. } => (to.0, file.0),
                other => panic!("the scheduler sent {other:?}"),
            })
            .collect();
        assert_eq!(asked, [(3, 0), (2, 1), (2, 1)], "a probe for file 0, the rest of the window to the seed");
        assert!(!actions.wait);
        // Peer 3 holds nothing of file 0: file 0 has nothing in flight and nothing to ask, and
        // waits, though file 1's requests are still out.
        let refusal = Reply { from: PeerId(3), file: FileId(0), segment: 0, granted: false, load: 0, held: vec![0] };
        scheduler.on_reply(&refusal, &mut actions).expect("a reply to a request");
        scheduler.decide(&mut actions);
        assert!(scheduler.in_flight() > 0, "file 1's requests are out");
        assert!(actions.wait, "file 0 waits for news of its holder, whatever file 1 does");
    }

    #[test]
    fn a_holder_that_refused_comes_last_for_a_doubling_number_of_refreshes() {
        // A partial holder that holds nothing, and a seed far busier than it.
        let mut bench = Bench::new(1, 40, &[seed(2), partial(3)], LeastBusy::new());
        let log = bench.serve(|holder, _| if holder == 2 { (true, 100) } else { (false, 0) });
        let probes: Vec<u32> = log.iter().filter(|request| request.to == 3).map(|request| request.segment).collect();
        // Refused at 0, it is set aside until the next refresh (after 10 segments), then probed
        // at 10; refused again, it is set aside for two refreshes, so the seed, busier and over
        // its share of the file, takes 20..29 too; it is probed again at 30.
        assert_eq!(probes, [0, 10, 30], "{log:?}");
        assert_eq!(bench.refreshes().len(), 4, "a refresh every 10 segments");
    }

    #[test]
    fn no_holder_gives_more_than_half_of_a_file_while_another_can() {
        // Seed 2 reports no load at all, seed 3 a heavy one: only the cap shares the file.
        let mut bench = Bench::new(1, 10, &[seed(2), seed(3)], LeastBusy::new());
        bench.serve(|holder, _| (true, if holder == 2 { 0 } else { 1000 }));
        assert_eq!(bench.sources(), [(PeerId(2), 5), (PeerId(3), 5)]);
        // Half, rounded up, of an odd count.
        let mut bench = Bench::new(1, 9, &[seed(2), seed(3)], LeastBusy::new());
        bench.serve(|holder, _| (true, if holder == 2 { 0 } else { 1000 }));
        assert_eq!(bench.sources(), [(PeerId(2), 5), (PeerId(3), 4)]);
        // Alone, a holder gives the whole file.
        let mut bench = Bench::new(1, 10, &[seed(2)], LeastBusy::new());
        bench.serve(|_, _| (true, 0));
        assert_eq!(bench.sources(), [(PeerId(2), 10)]);
    }

    #[test]
    fn four_partial_holders_are_asked_drawn_from_the_seed_and_the_same_seed_asks_the_same() {
        let swarm: Vec<Holder> = std::iter::once(seed(2)).chain((3..13).map(partial)).collect();
        let probed = |run_seed: u64| {
            let mut bench = Bench::with_seed(32, 100, &swarm, Box::new(LeastBusy::new()), run_seed);
            let requests = bench.decide();
            assert_eq!(requests.len(), 32);
            let mut partial: Vec<u32> = requests.iter().map(|request| request.to).filter(|&to| to != 2).collect();
            partial.sort_unstable();
            (requests, partial)
        };
        let (first, neighbours) = probed(5);
        assert_eq!(neighbours.len(), NEIGHBOURS, "one probe to each neighbour: {first:?}");
        assert_eq!(probed(5).0, first, "the same seed and events, the same requests");
        assert_ne!(probed(6).1, neighbours, "another seed, other neighbours");
    }

    #[test]
    fn a_whole_file_is_handed_over_once_and_all_finished_said_once_after_it() {
        let mut bench = Bench::new(4, 2, &[seed(2)], LeastBusy::new());
        assert_eq!(bench.decide().len(), 2);
        assert!(bench.actions.finished.is_empty() && !bench.actions.all_finished);
        bench.reply(2, 0, true, 1, None);
        bench.reply(2, 1, true, 2, None);
        let finished: Vec<FileId> = bench.actions.finished.drain(..).map(|file| file.file).collect();
        assert_eq!(finished, [FILE]);
        assert_eq!(bench.decide(), []);
        assert!(std::mem::take(&mut bench.actions.all_finished));
        assert_eq!(bench.decide(), []);
        assert!(!bench.actions.all_finished && bench.actions.finished.is_empty(), "said once");
        // An answer to nothing asked is an error, not a miscount.
        let stray = Reply { from: PeerId(2), file: FILE, segment: 0, granted: true, load: 3, held: Vec::new() };
        assert!(bench.scheduler.on_reply(&stray, &mut bench.actions).is_err());
    }
}
