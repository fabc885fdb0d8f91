//! The download scheduler: decides which segment to ask of which holder, keeps a window of
//! requests in flight, records what arrives and writes each file once it is whole.

use std::collections::VecDeque;

use super::actor::Actor;
use super::mirror::MirrorHandle;
use super::peer_table::PeerTable;
use super::policy::{Candidate, HolderPolicy, PiecePolicy};
use super::segments::{Marked, SegmentSet, bits};
use super::writer::{WriterHandle, WriterMail};
use super::{Outbox, PumpCommand};
use crate::model::{FileId, FileName, PeerId, SegmentHash};
use crate::rng::Rng;
use crate::sync::{Arc, Receiver, Sender, SnapshotCell, TryRecv};
use crate::wire::{FileSources, Holder, Message};

/// A swarm as the tracker last described it: the other ranks holding a file, whole or in part.
pub type SwarmView = Vec<Holder>;

/// Everything needed to start downloading a file, from the swarm the tracker sent with the go.
pub struct FileStart {
    pub id: FileId,
    pub name: FileName,
    pub hashes: Vec<SegmentHash>,
    /// Shared with the upload server, which serves from it as it fills.
    pub segments: Arc<SegmentSet>,
    /// Published by the tracker mirror whenever the tracker answers a refresh.
    pub swarm: Arc<SnapshotCell<SwarmView>>,
}

pub enum DownloadMail {
    /// The tracker said go: the swarms of the wanted files follow.
    Started,
    NewFile(FileStart),
    /// The tracker answered a refresh of the file's swarm (it answers only with news, or when
    /// asked from the start); `changed` if the swarm the mirror publishes is new.
    SwarmRefreshed {
        file: FileId,
        changed: bool,
    },
    /// Answers to our segment requests, as many as the pump gathered in one round.
    Replies(Vec<Reply>),
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

#[derive(Clone)]
pub struct DownloadHandle(Sender<DownloadMail>);

impl DownloadHandle {
    /// False if the scheduler has stopped.
    pub fn send(&self, mail: DownloadMail) -> bool {
        self.0.send(mail).is_ok()
    }
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
}

/// The scheduler's record of one file being downloaded.
struct Download {
    start: FileStart,
    /// Segments still to request, in the piece policy's order. An entry whose segment has been
    /// asked for meanwhile (out of order, see `unrequested`) is skipped when it comes up.
    queue: VecDeque<u32>,
    /// The segments neither held nor asked for now, as bitset words: matched against a partial
    /// holder's bitfield to find something to ask of it when it lacks the next in `queue`.
    unrequested: Vec<u64>,
    /// Segments no holder in the current swarm would give; retried when the swarm changes.
    stalled: Vec<u32>,
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
    askable: Vec<Holder>,
}

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
    bitfield: Vec<u64>,
    /// Refreshes of the file since the bitfield came.
    refreshes_since_bitfield: u32,
    /// A request that asked for its bitfield is out.
    bitfield_asked: bool,
}

impl HolderInFile {
    /// A segment its bitfield shows and `wanted` has, looking from word `from` on (wrapping),
    /// so that different downloaders tend to ask for different ones.
    fn holds_one_of(&self, wanted: &[u64], from: u32) -> Option<u32> {
        let words = self.bitfield.len().min(wanted.len());
        (0..words).map(|offset| (from as usize + offset) % words).find_map(|word| {
            let common = self.bitfield[word] & wanted[word];
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
        self.queue.extend(self.stalled.drain(..));
    }

    /// The most segments one holder should give when others can: half the file, rounded up.
    fn share_cap(&self) -> u32 {
        self.start.segments.len().div_ceil(2)
    }
}

/// How many partial holders of a file a peer asks, besides the seeds: its neighbours in that
/// swarm, as a BitTorrent client keeps a peer set rather than talking to the whole swarm. What a
/// partial holder has is unknown until it answers, so every holder asked costs a refusal or two
/// before it is known; with every downloader asking every other (a 128-rank swarm has 60
/// downloaders a file), those refusals outnumbered the transfers. Each peer draws its own
/// neighbours from the run's seed, so every holder is some peers' neighbour and uploads stay
/// even.
const NEIGHBOURS: usize = 4;

/// The protocol's refresh period, in segments received.
const REFRESH_EVERY: u32 = 10;

/// How many times the scheduler looks for an expected answer before it parks.
const SPINS_BEFORE_PARKING: u32 = 32;

pub struct DownloadScheduler {
    config: DownloadConfig,
    mailbox: Receiver<DownloadMail>,
    outbox: Outbox,
    mirror: MirrorHandle,
    writer: WriterHandle,
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
    /// Scratch space for the holders a request could go to, and the segment each would be asked
    /// for: kept to spare allocations a request.
    candidates: Vec<Candidate>,
    asks: Vec<u32>,
    /// Test-only: panic at the first replies (`crate::test_panic`).
    pub(super) test_panic: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("peer {from} answered for segment {segment} of file id {file}, which was not asked of it")]
    Unasked { from: PeerId, file: u32, segment: u32 },
}

impl Actor for DownloadScheduler {
    type Output = DownloadFigures;

    /// Runs until every handle is gone, then returns what it did.
    fn run(mut self) -> DownloadFigures {
        while let Some(mail) = self.next_mail() {
            if !self.take_batch(mail) {
                break;
            }
        }
        self.finish()
    }

    fn step(&mut self) -> bool {
        match self.mailbox.try_recv() {
            TryRecv::Item(mail) => {
                self.take_batch(mail);
                true
            }
            TryRecv::Empty | TryRecv::Closed => false,
        }
    }

    fn stop(mut self) -> DownloadFigures {
        while self.step() {}
        self.finish()
    }
}

impl DownloadScheduler {
    pub fn new(
        config: DownloadConfig,
        outbox: Outbox,
        mirror: MirrorHandle,
        writer: WriterHandle,
        pieces: Box<dyn PiecePolicy>,
        holders: Box<dyn HolderPolicy>,
    ) -> (DownloadScheduler, DownloadHandle) {
        let (sender, mailbox) = crate::sync::mailbox();
        let scheduler = DownloadScheduler {
            config,
            mailbox,
            outbox,
            mirror,
            writer,
            pieces,
            holders,
            downloads: Vec::new(),
            by_id: Vec::new(),
            started: false,
            finished_files: 0,
            all_done_sent: false,
            in_flight: 0,
            loads: PeerTable::new(),
            turn: 0,
            figures: DownloadFigures::default(),
            candidates: Vec::new(),
            asks: Vec::new(),
            test_panic: false,
        };
        (scheduler, DownloadHandle(sender))
    }

    /// Handles `mail` and everything already waiting behind it, then makes one decision: one
    /// decision per batch, not per message, and so fewer wake-ups of the pump. False after an
    /// error, which has been sent to the pump as fatal.
    fn take_batch(&mut self, mail: DownloadMail) -> bool {
        let mut next = Some(mail);
        while let Some(mail) = next.take() {
            if let Err(err) = self.handle(mail) {
                let _ = self.outbox.send(PumpCommand::Fatal(format!("peer {}: {err}", self.config.me)));
                return false;
            }
            if let TryRecv::Item(mail) = self.mailbox.try_recv() {
                next = Some(mail);
            }
        }
        self.fill_window();
        self.report_progress();
        true
    }

    /// The next mail, waiting as long as it takes; `None` once every handle is gone.
    ///
    /// With requests in flight an answer is usually microseconds away, so the scheduler first
    /// looks again a few times, yielding the core in between, before it parks: a parked thread
    /// costs the pump a wake-up per reply, and wake-ups, not work, dominate the protocol's time.
    fn next_mail(&self) -> Option<DownloadMail> {
        if self.in_flight > 0 {
            for _ in 0..SPINS_BEFORE_PARKING {
                match self.mailbox.try_recv() {
                    TryRecv::Item(mail) => return Some(mail),
                    TryRecv::Closed => return None,
                    TryRecv::Empty => crate::sync::thread::yield_now(),
                }
            }
        }
        self.mailbox.recv()
    }

    fn finish(mut self) -> DownloadFigures {
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

    fn handle(&mut self, mail: DownloadMail) -> Result<(), DownloadError> {
        match mail {
            DownloadMail::Started => self.started = true,
            DownloadMail::NewFile(start) => self.add_file(start),
            DownloadMail::SwarmRefreshed { file, changed } => {
                let Some(index) = self.index_of(file) else { return Ok(()) };
                let download = &mut self.downloads[index];
                download.refresh_pending = false;
                download.queue.extend(download.stalled.drain(..));
                if changed {
                    self.pick_neighbours(index);
                }
            }
            DownloadMail::Replies(replies) => {
                if self.test_panic {
                    crate::test_panic::trip(crate::test_panic::Site::Download);
                }
                for reply in replies {
                    self.on_reply(reply)?;
                }
            }
        }
        Ok(())
    }

    fn index_of(&self, file: FileId) -> Option<usize> {
        self.by_id.get(file.0 as usize).copied().flatten()
    }

    fn add_file(&mut self, start: FileStart) {
        let queue = self.pieces.order(start.segments.len());
        let mut unrequested = vec![0; bits::words_for(start.segments.len())];
        queue.iter().for_each(|&segment| bits::set(&mut unrequested, segment));
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
            stalled: Vec::new(),
            since_refresh: 0,
            refresh_pending: false,
            holders: PeerTable::new(),
            neighbours: PeerTable::new(),
            neighbours_drawn_from: 0,
            askable: Vec::new(),
        });
        let index = self.downloads.len() - 1;
        self.pick_neighbours(index);
        if complete_already {
            self.complete(index);
        }
    }

    fn on_reply(&mut self, Reply { from, file, segment, granted, load, held }: Reply) -> Result<(), DownloadError> {
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
            holder.bitfield = held;
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
            self.mirror.refresh(file, false);
        }
        if marked == Marked::Completed {
            self.complete(index);
        }
        Ok(())
    }

    /// A file is whole: the writer puts it on disk and then tells the tracker we seed it. Its
    /// hashes go with it; the scheduler needs them no more.
    fn complete(&mut self, index: usize) {
        let start = &mut self.downloads[index].start;
        let hashes = std::mem::take(&mut start.hashes);
        self.writer.send(WriterMail::Finished { file: start.id, name: start.name.clone(), hashes });
        self.finished_files += 1;
    }

    fn report_progress(&mut self) {
        if self.started && !self.all_done_sent && self.finished_files == self.config.wanted {
            self.all_done_sent = true;
            self.writer.send(WriterMail::AllFinished);
        }
    }

    /// Sends requests until the window is full or nothing more can be asked now.
    ///
    /// The requests go to the pump as one batch: one wake-up of the pump, however many.
    fn fill_window(&mut self) {
        let mut batch = Vec::with_capacity(self.config.window.saturating_sub(self.in_flight));
        while self.in_flight < self.config.window {
            let count = self.downloads.len();
            let sent = (0..count).any(|offset| self.request_one((self.turn + offset) % count.max(1), &mut batch));
            if !sent {
                break;
            }
            self.turn = self.turn.wrapping_add(1);
        }
        if !batch.is_empty() {
            // A closed outbox means the rank is shutting down; the loop ends on its own then.
            let _ = self.outbox.send(PumpCommand::SendAll(batch));
        }
    }

    /// Brings the download's holders to ask up to date with its swarm: its seeds, and its
    /// neighbours, drawn again only when the swarm has grown (swarms only grow: the tracker adds
    /// every asker), not at every refresh: most refreshes bring the same members.
    fn pick_neighbours(&mut self, index: usize) {
        let DownloadConfig { me, seed, .. } = self.config;
        let download = &mut self.downloads[index];
        let swarm = download.start.swarm.load();
        if swarm.len() != download.neighbours_drawn_from {
            download.neighbours = Self::draw_neighbours(me, seed, download.start.id, &swarm);
            download.neighbours_drawn_from = swarm.len();
        }
        let neighbours = &download.neighbours;
        download.askable.clear();
        download
            .askable
            .extend(swarm.iter().filter(|holder| holder.peer != me && (holder.seed || neighbours.get(holder.peer))));
    }

    /// This peer's neighbours among a file's partial holders: the `NEIGHBOURS` with the lowest
    /// score, a hash of (seed, me, file, holder). A holder keeps its score as the swarm grows,
    /// so the set changes only when a newcomer scores lower: what was learned of the neighbours
    /// stays useful.
    fn draw_neighbours(me: PeerId, seed: u64, file: FileId, swarm: &[Holder]) -> PeerTable<bool> {
        let score = |peer: PeerId| {
            Rng::derive(seed ^ (u64::from(file.0) << 32), (u64::from(me.0) << 32) | u64::from(peer.0)).next_u64()
        };
        let mut partial: Vec<(u64, PeerId)> = swarm
            .iter()
            .filter(|holder| !holder.seed && holder.peer != me)
            .map(|holder| (score(holder.peer), holder.peer))
            .collect();
        partial.sort_unstable();
        let mut neighbours = PeerTable::new();
        for &(_, peer) in partial.iter().take(NEIGHBOURS) {
            *neighbours.row(peer) = true;
        }
        neighbours
    }

    /// Adds one request for the download at `index` to `batch`, if it has a segment some holder
    /// may give.
    ///
    /// Each holder asked is matched with a segment: the next in the piece order if it may have
    /// that one, or else one its bitfield shows that we still need; then the holder policy
    /// chooses among them. Without the second kind a partial holder that lacks the next segment
    /// sits idle while the seeds take the request, and with a deep window that made the seeds
    /// upload most of everything (fairness 0.66 at 128 ranks with 64 in flight).
    fn request_one(&mut self, index: usize, batch: &mut Vec<(PeerId, Message)>) -> bool {
        let download = &mut self.downloads[index];
        while let Some(&segment) = download.queue.front() {
            if !bits::test(&download.unrequested, segment) || download.start.segments.contains(segment) {
                download.queue.pop_front(); // asked for out of order meanwhile, or held
                continue;
            }
            let (candidates, asks) = (&mut self.candidates, &mut self.asks);
            candidates.clear();
            asks.clear();
            for holder in &download.askable {
                let in_file = download.holders.peek(holder.peer);
                let may_hold = if holder.seed { Some(true) } else { in_file.and_then(|h| h.may_hold(segment)) };
                // What to ask of it: the next segment if it may have that one; else something
                // its bitfield shows that we need (no risk of a no); else, if nothing is known
                // either way, the next segment as a probe, one at a time per holder: each probe
                // risks a refusal, and the answer brings its bitfield. (Probed several at once,
                // as a deep window would, a partial holder refused them all: twice the refusals
                // at 32 ranks.)
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
                download.queue.pop_front();
                download.stalled.push(segment);
                if !download.refresh_pending {
                    download.refresh_pending = true;
                    self.mirror.refresh(download.start.id, true);
                }
                continue;
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
            batch.push((holder, Message::SegmentRequest { file: download.start.id, segment: ask, with_bitfield }));
            return true;
        }
        false
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    fn holder_with(bitfield: Vec<u64>, refreshes_since_bitfield: u32) -> HolderInFile {
        HolderInFile { bitfield, refreshes_since_bitfield, ..HolderInFile::default() }
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
}
