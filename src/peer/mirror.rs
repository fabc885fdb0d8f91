//! The tracker mirror: this rank's one contact with the tracker. It registers, takes in the swarms
//! that come with the go and refreshes them, reports completed files and "all done", and
//! publishes what it learns for the other actors: each swarm as a snapshot, and the segment book
//! the upload server reads.

use std::collections::HashMap;

use super::actor::Actor;
use super::download::{DownloadHandle, DownloadMail};
use super::scheduler::{FileStart, SwarmView};
use super::segments::SegmentSet;
use super::upload::{SegmentBook, UploadHandle};
use super::{Outbox, PumpCommand};
use crate::input::PeerInput;
use crate::model::{FileId, FileName, Hashes, PeerId};
use crate::sync::{Arc, Receiver, Sender, SnapshotCell, TryRecv};
use crate::wire::{Holder, Message};

pub enum MirrorMail {
    /// A message from the tracker, routed by the pump.
    FromTracker(Message),
    /// From the download scheduler: ask the tracker what changed in the file's swarm since our
    /// view, or, `from_start`, for the whole swarm (which is always answered).
    Refresh {
        file: FileId,
        from_start: bool,
    },
    Completed(FileId),
    AllDone,
    /// The rank is giving up (a fatal error elsewhere): stop now.
    Abort,
}

#[derive(Clone)]
pub struct MirrorHandle(Sender<MirrorMail>);

impl MirrorHandle {
    pub fn send(&self, mail: MirrorMail) -> bool {
        self.0.send(mail).is_ok()
    }
    pub fn refresh(&self, file: FileId, from_start: bool) {
        self.send(MirrorMail::Refresh { file, from_start });
    }
    pub fn completed(&self, file: FileId) {
        self.send(MirrorMail::Completed(file));
    }
    pub fn all_done(&self) {
        self.send(MirrorMail::AllDone);
    }
}

pub struct TrackerMirror {
    me: PeerId,
    input: PeerInput,
    mailbox: Receiver<MirrorMail>,
    outbox: Outbox,
    downloads: Option<DownloadHandle>,
    book: Arc<SnapshotCell<SegmentBook>>,
    upload: UploadHandle,
    swarms: HashMap<FileId, MirroredSwarm>,
    /// The tracker said stop, or the rank is giving up: no more mail is taken.
    ended: bool,
    /// Test-only: panic at the go (`crate::test_panic`).
    pub(super) test_panic: bool,
}

/// A wanted file's swarm as this peer knows it.
/// What a peer knows of one wanted file's swarm, and the rules for keeping it: the view it
/// publishes to its scheduler, and how much of the tracker's history that view includes. The
/// simulated engine's peers keep theirs with the same rules.
pub struct MirroredSwarm {
    /// How many of the tracker's changes to the swarm this view includes.
    version: u32,
    view: Arc<SnapshotCell<SwarmView>>,
    /// The most members the view takes: new members beyond it are left out (a member already in
    /// it still becomes a seed). Unbounded in the course's protocol, where the tracker lists
    /// every member; a BitTorrent client keeps a peer set of some tens.
    cap: usize,
}

impl MirroredSwarm {
    /// The swarm as the tracker first described it (at most `cap` of its members).
    pub fn new(mut holders: SwarmView, version: u32, cap: usize) -> MirroredSwarm {
        holders.truncate(cap);
        MirroredSwarm { version, view: Arc::new(SnapshotCell::new(holders)), cap }
    }

    /// The view the scheduler reads.
    pub fn view(&self) -> &Arc<SnapshotCell<SwarmView>> {
        &self.view
    }

    /// The refresh to ask of the tracker: what changed since this view, or (`from_start`) the
    /// whole swarm, which the tracker always answers.
    pub fn refresh(&self, file: FileId, from_start: bool) -> Message {
        Message::SwarmRefresh { file, seen: if from_start { 0 } else { self.version } }
    }

    /// Applies the tracker's answer to a refresh, publishing the new view; true if the view
    /// changed (the scheduler then looks at the swarm again).
    ///
    /// Two refreshes can be out at once (one every 10 segments, one when stalled); both answers
    /// then carry the same changes, and applying a change twice changes nothing. A sampled answer
    /// (the simulated engine's tracker) may likewise bring only members already in the view, or
    /// none it has room for.
    pub fn update(&mut self, changes: Vec<Holder>, version: u32) -> bool {
        self.version = self.version.max(version);
        if changes.is_empty() {
            return false;
        }
        let old = self.view.load();
        let mut view = SwarmView::clone(&old);
        Holder::apply_all(changes, &mut view, self.cap);
        if view == *old {
            return false;
        }
        // Pushes doubled its room: a simulated peer keeps its view for the whole run.
        view.shrink_to_fit();
        self.view.publish(Arc::new(view));
        true
    }
}

/// The mirror ends on an explicit message, not when its mailbox closes: the scheduler holds a
/// handle to it as it holds one to the scheduler, and that cycle would never close. Ending drops
/// the mirror's handle to the scheduler, which lets the scheduler end.
impl Actor for TrackerMirror {
    type Output = ();

    fn run(mut self) {
        while !self.ended {
            let Some(mail) = self.mailbox.recv() else { return };
            self.handle(mail);
        }
    }

    fn step(&mut self) -> bool {
        let mut had_mail = false;
        while !self.ended {
            let TryRecv::Item(mail) = self.mailbox.try_recv() else { break };
            self.handle(mail);
            had_mail = true;
        }
        had_mail
    }

    fn stop(mut self) {
        self.step();
    }
}

impl TrackerMirror {
    pub fn new(
        me: PeerId,
        input: PeerInput,
        outbox: Outbox,
        book: Arc<SnapshotCell<SegmentBook>>,
        upload: UploadHandle,
    ) -> (TrackerMirror, MirrorHandle) {
        let (sender, mailbox) = crate::sync::mailbox();
        let mirror = TrackerMirror {
            me,
            input,
            mailbox,
            outbox,
            downloads: None,
            book,
            upload,
            swarms: HashMap::new(),
            ended: false,
            test_panic: false,
        };
        (mirror, MirrorHandle(sender))
    }

    /// The scheduler's handle is given after both exist (each holds the other's handle).
    pub fn connect(&mut self, downloads: DownloadHandle) {
        self.downloads = Some(downloads);
    }

    /// Tells the tracker what this peer owns and wants: the first message of every peer, sent
    /// as the peer starts, before any mail.
    pub fn register(&self) {
        let register = Message::Register { owned: self.input.owned.clone(), wanted: self.input.wanted.clone() };
        self.to_tracker(register);
    }

    fn handle(&mut self, mail: MirrorMail) {
        match mail {
            MirrorMail::FromTracker(Message::Go { owned }) => {
                if self.test_panic {
                    crate::test_panic::trip(crate::test_panic::Site::Mirror);
                }
                self.start(owned)
            }
            MirrorMail::FromTracker(Message::Swarm { file, name, hashes, holders, version }) => {
                self.on_swarm(file, name, hashes, holders, version)
            }
            MirrorMail::FromTracker(Message::SwarmUpdate { file, changes, version }) => {
                self.on_update(file, changes, version)
            }
            MirrorMail::FromTracker(Message::Stop) | MirrorMail::Abort => self.ended = true,
            MirrorMail::FromTracker(other) => {
                let what = format!("peer {}: unexpected {:?} from the tracker", self.me, other.kind());
                let _ = self.outbox.send(PumpCommand::Fatal(what));
                self.ended = true;
            }
            MirrorMail::Refresh { file, from_start } => {
                if let Some(swarm) = self.swarms.get(&file) {
                    self.to_tracker(swarm.refresh(file, from_start));
                }
            }
            MirrorMail::Completed(file) => self.to_tracker(Message::FileComplete { file }),
            MirrorMail::AllDone => self.to_tracker(Message::AllDone),
        }
    }

    /// The mirror is the book's only writer, so a plain publish loses no update.
    fn publish_book(&self, book: SegmentBook) {
        self.book.publish(Arc::new(book));
        self.upload.book_changed();
    }

    fn to_tracker(&self, message: Message) {
        let _ = self.outbox.send(PumpCommand::Send { to: PeerId::TRACKER, message });
    }

    fn tell_scheduler(&self, mail: DownloadMail) {
        if let Some(downloads) = &self.downloads {
            downloads.send(mail);
        }
    }

    /// Go: serve the files we own under their ids. The swarms of the wanted files follow.
    fn start(&mut self, owned: Vec<(FileName, FileId)>) {
        let ids: HashMap<FileName, FileId> = owned.into_iter().collect();
        let mut book = SegmentBook::clone(&self.book.load());
        for file in &self.input.owned {
            if let Some(&id) = ids.get(&file.name) {
                book.insert(id, Arc::new(SegmentSet::full(file.hashes.len() as u32)));
            }
        }
        self.publish_book(book);
        self.tell_scheduler(DownloadMail::Started);
    }

    /// The swarm of a wanted file, sent after the go: start downloading it.
    fn on_swarm(&mut self, file: FileId, name: FileName, hashes: Hashes, holders: SwarmView, version: u32) {
        let problem = if !self.input.wanted.contains(&name) {
            Some("which this peer does not want")
        } else if self.swarms.contains_key(&file) {
            Some("a second time")
        } else {
            None
        };
        if let Some(problem) = problem {
            let what = format!("peer {}: the tracker sent the swarm of {name} {problem}", self.me);
            let _ = self.outbox.send(PumpCommand::Fatal(what));
            return;
        }
        // Publish the new, empty segment set before the scheduler can fill it, so that the
        // upload server can serve what arrives from the first segment on.
        let segments = Arc::new(SegmentSet::empty(hashes.len() as u32));
        let mut book = SegmentBook::clone(&self.book.load());
        book.insert(file, segments.clone());
        self.publish_book(book);
        let swarm = MirroredSwarm::new(holders, version, usize::MAX);
        let view = swarm.view().clone();
        self.swarms.insert(file, swarm);
        self.tell_scheduler(DownloadMail::NewFile(FileStart { id: file, name, hashes, segments, swarm: view }));
    }

    /// The answer to a refresh (the tracker answers only with news, or a refresh from the
    /// start): apply the changes, publish the new view if any was new, and tell the scheduler,
    /// which retries stalled segments and looks at the swarm again.
    fn on_update(&mut self, file: FileId, changes: Vec<Holder>, version: u32) {
        let Some(swarm) = self.swarms.get_mut(&file) else {
            let what = format!("peer {}: the tracker refreshed file id {} before describing it", self.me, file.0);
            let _ = self.outbox.send(PumpCommand::Fatal(what));
            return;
        };
        let changed = swarm.update(changes, version);
        self.tell_scheduler(DownloadMail::SwarmRefreshed { file, changed });
    }
}
