//! A peer: three actors around the pump.
//!
//! ```text
//!             pump (the rank's main thread, the only one that touches the transport)
//!            /            |              \
//!   upload server   download scheduler   tracker mirror
//! ```
//! The pump routes what arrives to the actor it is for; the actors put what they send in the
//! pump's outbox. The scheduler and the mirror also talk directly. Segment state is shared
//! through atomic bitsets, swarms and the segment book through snapshot cells.

pub mod download;
pub mod mirror;
pub mod peer_table;
pub mod policy;
pub mod segments;
pub mod upload;

use std::path::PathBuf;

use crate::input::PeerInput;
use crate::model::PeerId;
use crate::rng::Rng;
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Arc, Sender, SnapshotCell};
use crate::wire::{Message, PeerReport};
use download::{DownloadConfig, DownloadFigures, DownloadHandle, DownloadMail, DownloadScheduler};
use mirror::{MirrorHandle, MirrorMail, TrackerMirror};
use upload::{SegmentBook, UploadDesk, UploadServer, UploadState};

/// What an actor asks of the pump.
pub enum PumpCommand {
    Send { to: PeerId, message: Message },
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
    /// Ask for segments in a random order instead of first to last.
    pub random_order: bool,
}

/// Where the pump sends what arrives. Dropping it lets the actors end.
pub struct Router {
    upload: UploadDesk,
    download: DownloadHandle,
    mirror: MirrorHandle,
    /// Replies gathered in this round of the pump, handed to the scheduler in one mail by
    /// `flush`: one wake-up of the scheduler per round, not per reply.
    replies: Vec<download::Reply>,
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
            Message::SegmentRequest { file, segment } if from != PeerId::TRACKER => {
                if let Some(reply) = self.upload.answer(from, file, segment) {
                    return Route::Answer(reply);
                }
            }
            Message::SegmentReply { file, segment, granted, load } if from != PeerId::TRACKER => {
                self.replies.push(download::Reply { from, file, segment, granted, load });
            }
            Message::Stop if from == PeerId::TRACKER => {
                self.flush();
                self.mirror.send(MirrorMail::FromTracker(Message::Stop));
                return Route::Stop;
            }
            message @ (Message::Go { .. } | Message::Swarm { .. }) if from == PeerId::TRACKER => {
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
        self.download.send(DownloadMail::Replies(std::mem::take(&mut self.replies)));
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
    upload: JoinHandle<()>,
    upload_state: Arc<UploadState>,
    download: JoinHandle<DownloadFigures>,
    mirror: JoinHandle<()>,
}

impl Actors {
    /// Waits for every actor to end (they do once the router is dropped) and sums up the run.
    pub fn join(self) -> PeerReport {
        let _ = self.upload.join();
        let upload = self.upload_state.figures();
        let download = self.download.join().unwrap_or_default();
        let _ = self.mirror.join();
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

/// Ends the job if an actor panics: its thread would otherwise vanish and leave the swarm
/// waiting for it forever.
struct PanicAlarm(Outbox, &'static str);

impl Drop for PanicAlarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(PumpCommand::Fatal(format!("the {} actor panicked", self.1)));
        }
    }
}

fn spawn_actor<T: Send + 'static>(
    me: PeerId,
    role: &'static str,
    outbox: &Outbox,
    body: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let alarm = PanicAlarm(outbox.clone(), role);
    thread::spawn_named(format!("peer{me}-{role}"), move || {
        let _alarm = alarm;
        body()
    })
}

/// Starts the three actors of peer `me`; returns the router the pump feeds and the actors to join.
pub fn start(me: PeerId, input: PeerInput, config: &PeerConfig, outbox: Outbox) -> (Router, Actors) {
    let book = Arc::new(SnapshotCell::new(SegmentBook::new()));
    let wanted = input.wanted.len();
    let (upload_server, upload, upload_handle) = UploadServer::new(book.clone(), outbox.clone());
    let upload_state = upload_server.state();
    let (mut tracker_mirror, mirror) = TrackerMirror::new(me, input, outbox.clone(), book, upload_handle);
    let pieces: Box<dyn policy::PiecePolicy> = if config.random_order {
        Box::new(policy::RandomOrder(Rng::derive(config.seed, me.0 as u64)))
    } else {
        Box::new(policy::InOrder)
    };
    let download_config =
        DownloadConfig { me, wanted, window: config.window.max(1), output_dir: config.output_dir.clone() };
    let (scheduler, download) = DownloadScheduler::new(
        download_config,
        outbox.clone(),
        mirror.clone(),
        pieces,
        Box::new(policy::LeastBusy::default()),
    );
    tracker_mirror.connect(download.clone());
    let actors = Actors {
        upload: spawn_actor(me, "upload", &outbox, move || upload_server.run()),
        upload_state,
        download: spawn_actor(me, "download", &outbox, move || scheduler.run()),
        mirror: spawn_actor(me, "mirror", &outbox, move || tracker_mirror.run()),
    };
    (Router { upload, download, mirror, replies: Vec::new() }, actors)
}
