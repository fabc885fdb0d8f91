//! A peer: four actors around the pump.
//!
//! ```text
//!             pump (the rank's main thread, the only one that touches the transport)
//!            /            |              \
//!   upload server   download scheduler   tracker mirror
//!                         |                  ^
//!                    file writer ------------+
//! ```
//! The pump routes what arrives to the actor it is for; the actors put what they send in the
//! pump's outbox. The scheduler, the mirror and the writer also talk directly. Segment state is
//! shared through atomic bitsets, swarms and the segment book through snapshot cells. Where the
//! actors run, on the pump's thread or on threads of their own, is `actor::Placement`.

pub mod actor;
pub mod download;
pub mod mirror;
pub mod peer_table;
pub mod policy;
pub mod scheduler;
pub mod segment_queue;
pub mod segments;
pub mod upload;
pub mod writer;

use std::path::PathBuf;

use crate::input::PeerInput;
use crate::model::PeerId;
use crate::rng::Rng;
use crate::sync::{Arc, Sender, SnapshotCell};
use crate::test_panic::{Site, TestPanic};
use crate::wire::{Message, PeerReport};
pub use actor::Placement;
use actor::Seat;
use download::{DownloadHandle, DownloadMail, DownloadScheduler};
use mirror::{MirrorHandle, MirrorMail, TrackerMirror};
use scheduler::DownloadConfig;
use upload::{SegmentBook, UploadDesk, UploadServer, UploadState};
use writer::FileWriter;

/// What an actor asks of the pump.
pub enum PumpCommand {
    Send {
        to: PeerId,
        message: Message,
    },
    /// Several messages at once (the scheduler's requests of one decision).
    SendAll(Vec<(PeerId, Message)>),
    /// Something went wrong that the rank cannot recover from; the pump ends the job.
    Fatal(String),
}

/// The pump's inbox of commands, one sender per actor.
pub type Outbox = Sender<PumpCommand>;

/// How a peer behaves, from the command line.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub window: usize,
    pub seed: u64,
    pub output_dir: PathBuf,
    /// Ask for segments first to last instead of in a random order.
    pub in_order: bool,
    /// Where the actors run.
    pub actors: Placement,
    /// Test-only: which actor panics (see `crate::test_panic`); by default none.
    pub test_panic: TestPanic,
}

/// Where the pump sends what arrives. Dropping it lets the actors end.
pub struct Router {
    upload: UploadDesk,
    download: DownloadHandle,
    mirror: MirrorHandle,
    /// Replies gathered in this round of the pump, handed to the scheduler in one mail by
    /// `flush`: one wake-up of the scheduler per round, not per reply.
    replies: Vec<scheduler::Reply>,
}

/// Where a message from the network goes.
pub enum Route {
    Delivered,
    /// The answer to send back at once (a segment request answered by the upload desk).
    Answer(Message),
    /// The tracker said stop: the pump should drop the router and wind down.
    Stop,
    /// The message has no business reaching a peer.
    Unexpected,
}

impl Router {
    pub fn route(&mut self, from: PeerId, message: Message) -> Route {
        match message {
            Message::SegmentRequest { file, segment, with_bitfield } if from != PeerId::TRACKER => {
                if let Some(reply) = self.upload.answer(from, file, segment, with_bitfield) {
                    return Route::Answer(reply);
                }
            }
            Message::SegmentReply { file, segment, granted, load, held } if from != PeerId::TRACKER => {
                self.replies.push(scheduler::Reply { from, file, segment, granted, load, held });
            }
            Message::Stop if from == PeerId::TRACKER => {
                self.flush();
                self.mirror.send(MirrorMail::FromTracker(Message::Stop));
                return Route::Stop;
            }
            message @ (Message::Go { .. } | Message::Swarm { .. } | Message::SwarmUpdate { .. })
                if from == PeerId::TRACKER =>
            {
                self.mirror.send(MirrorMail::FromTracker(message));
            }
            _ => return Route::Unexpected,
        }
        Route::Delivered
    }

    /// Hands the replies gathered so far to the scheduler.
    /// True if there were any: the scheduler will likely answer with requests soon.
    pub fn flush(&mut self) -> bool {
        if self.replies.is_empty() {
            return false;
        }
        // The next round's replies get as much room as this round's took, so that gathering
        // them does not grow a vector reply by reply.
        let room = self.replies.len();
        self.download.send(DownloadMail::Replies(std::mem::replace(&mut self.replies, Vec::with_capacity(room))));
        true
    }

    /// Stops the actors after a fatal error: the mirror on an explicit word, the others as
    /// their mailboxes close.
    pub fn abort(self) {
        self.mirror.send(MirrorMail::Abort);
    }
}

/// The running actors of a peer.
pub struct Actors {
    upload: Seat<UploadServer>,
    upload_state: Arc<UploadState>,
    download: Seat<DownloadScheduler>,
    mirror: Seat<TrackerMirror>,
    writer: Seat<FileWriter>,
}

impl Actors {
    /// Gives the actors that run on the pump's thread their turn. True if any had mail.
    ///
    /// The mirror goes first and the scheduler second, so that a file or swarm the mirror
    /// publishes reaches the scheduler in the same turn; the writer then writes what the
    /// scheduler finished.
    pub fn take_turn(&mut self) -> bool {
        let mirror = self.mirror.step();
        let download = self.download.step();
        let writer = self.writer.step();
        let upload = self.upload.step();
        mirror || download || writer || upload
    }

    /// The rank is winding down (the tracker said stop, or the rank failed): stops the actors
    /// that run on the pump's thread. Their senders to the pump's outbox go with them, so that
    /// the outbox closes once the actors on threads of their own end as well.
    pub fn stop_on_pump(&mut self) {
        self.mirror.stop_on_pump();
        self.download.stop_on_pump();
        // After the scheduler: every file it finished is written before the rank ends.
        self.writer.stop_on_pump();
        self.upload.stop_on_pump();
    }

    /// Waits for every actor to end (they do once the router is dropped) and sums up the run.
    pub fn join(self) -> PeerReport {
        self.upload.join();
        let upload = self.upload_state.figures();
        let download = self.download.join();
        self.writer.join();
        self.mirror.join();
        PeerReport {
            uploaded: upload.uploaded,
            refused: upload.refused,
            downloaded: download.downloaded,
            requests: download.requests,
            sources: download.sources,
            sent: Vec::new(), // the pump's to fill: it alone sees every message sent
        }
    }
}

/// Peer `me`'s piece order: a random one from the run's seed and its id, or first to last. Both
/// engines' peers are built with it.
pub fn piece_policy(me: PeerId, seed: u64, in_order: bool) -> Box<dyn policy::PiecePolicy> {
    if in_order { Box::new(policy::InOrder) } else { Box::new(policy::RandomOrder(Rng::derive(seed, me.0 as u64))) }
}

/// Starts the four actors of peer `me`; returns the router the pump feeds and the actors to join.
pub fn start(me: PeerId, input: PeerInput, config: &PeerConfig, outbox: Outbox) -> (Router, Actors) {
    let book = Arc::new(SnapshotCell::new(SegmentBook::new()));
    let wanted = input.wanted.len();
    let (mut upload_server, upload, upload_handle) = UploadServer::new(book.clone(), outbox.clone());
    upload_server.test_panic = config.test_panic.armed(Site::Upload, me);
    let upload_state = upload_server.state();
    let (mut tracker_mirror, mirror) = TrackerMirror::new(me, input, outbox.clone(), book, upload_handle);
    let pieces = piece_policy(me, config.seed, config.in_order);
    let holders = Box::new(policy::LeastBusy::default());
    let (mut file_writer, writer) = FileWriter::new(me, config.output_dir.clone(), mirror.clone(), outbox.clone());
    file_writer.test_panic = config.test_panic.armed(Site::Writer, me);
    let download_config = DownloadConfig {
        me,
        wanted,
        window: config.window.max(1),
        seed: config.seed,
        neighbours: scheduler::NEIGHBOURS,
        when_stalled: scheduler::WhenStalled::AskTracker,
    };
    let (mut scheduler, download) =
        DownloadScheduler::new(download_config, outbox.clone(), mirror.clone(), writer, pieces, holders);
    scheduler.test_panic = config.test_panic.armed(Site::Download, me);
    tracker_mirror.test_panic = config.test_panic.armed(Site::Mirror, me);
    tracker_mirror.connect(download.clone());
    tracker_mirror.register();
    let placement = config.actors;
    let actors = Actors {
        upload: Seat::new(placement, upload_server, me, "upload", &outbox),
        upload_state,
        download: Seat::new(placement, scheduler, me, "download", &outbox),
        mirror: Seat::new(placement, tracker_mirror, me, "mirror", &outbox),
        writer: Seat::new(placement, file_writer, me, "writer", &outbox),
    };
    (Router { upload, download, mirror, replies: Vec::new() }, actors)
}
