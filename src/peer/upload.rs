//! The upload server: answers other peers' segment requests from this peer's segment state.
//!
//! Its hot path is the [`UploadDesk`]: a lock-free answer (a snapshot load and an atomic bit
//! test) that the pump calls on its own thread for every request, so that answering costs no
//! thread wake-up at all (the wake-ups of a hop through a mailbox, not the work, were what made
//! the protocol slow). The server's own thread takes what the desk cannot answer at
//! once: a request for a file this peer has not been told the id of yet. The tracker can list a
//! peer in a swarm before that peer's "go" or its first swarm answer has reached it (MPI orders
//! messages per sender, not across senders), so such a request waits here until the tracker
//! mirror publishes the file, and is answered then. A seed therefore never refuses.

use std::collections::HashMap;

use super::actor::Actor;
use super::segments::SegmentSet;
use super::{Outbox, PumpCommand};
use crate::model::{FileId, PeerId};
use crate::sync::{Arc, LoadCounter, Receiver, Sender, SnapshotCache, SnapshotCell, TryRecv};
use crate::wire::Message;

/// Every file this peer can serve from, by id: owned files (full) and downloads (filling up).
/// Replaced whole by the tracker mirror when a file is added; read by the desk and the server.
pub type SegmentBook = HashMap<FileId, Arc<SegmentSet>>;

pub enum UploadMail {
    /// A request for a file not in the book yet, handed over by the desk.
    Deferred { from: PeerId, file: FileId, segment: u32, with_bitfield: bool },
    /// The tracker mirror published a new book: deferred requests may be answerable now.
    BookChanged,
}

/// What the upload server did, at the end of the run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UploadFigures {
    pub uploaded: u64,
    pub refused: u64,
}

/// What the desk and the server share: the book they answer from, and what they have done.
pub struct UploadState {
    book: Arc<SnapshotCell<SegmentBook>>,
    /// Segments handed out: the load this peer reports in every reply. Bumped by the pump's
    /// thread (the desk) and by the server's (deferred answers), hence a shared counter.
    uploaded: LoadCounter,
    refused: LoadCounter,
}

/// How a peer answers a request for `segment` of `file` from what it holds of the file (`set`):
/// yes if it holds the segment, else no; with its bitfield when it says no or was asked for it;
/// and its load, the segments it has handed out, this one included. `count` records the answer
/// (granted or not) and returns the load; `room` gives the vector the bitfield is written in, if
/// one is sent (the simulated engine reuses those of replies it has handled). Both engines
/// answer with this.
pub fn reply(
    set: &SegmentSet,
    file: FileId,
    segment: u32,
    with_bitfield: bool,
    count: impl FnOnce(bool) -> u64,
    room: impl FnOnce() -> Vec<u64>,
) -> Message {
    let granted = set.contains(segment);
    let load = u32::try_from(count(granted)).unwrap_or(u32::MAX);
    let held = if granted && !with_bitfield {
        Vec::new()
    } else {
        let mut held = room();
        set.words_into(&mut held);
        held
    };
    Message::SegmentReply { file, segment, granted, load, held }
}

impl UploadState {
    fn reply(&self, set: &SegmentSet, file: FileId, segment: u32, with_bitfield: bool) -> Message {
        let count = |granted| {
            if granted {
                self.uploaded.add(1)
            } else {
                self.refused.add(1);
                self.uploaded.get()
            }
        };
        reply(set, file, segment, with_bitfield, count, Vec::new)
    }

    pub fn figures(&self) -> UploadFigures {
        UploadFigures { uploaded: self.uploaded.get(), refused: self.refused.get() }
    }
}

/// The lock-free answer path, held by the pump.
pub struct UploadDesk {
    state: Arc<UploadState>,
    server: Sender<UploadMail>,
    /// The book as of its last edition: it changes once per file, and is read per request.
    book: SnapshotCache<SegmentBook>,
}

impl UploadDesk {
    /// The reply to a segment request, or `None` if it was handed to the server to answer later.
    pub fn answer(&mut self, from: PeerId, file: FileId, segment: u32, with_bitfield: bool) -> Option<Message> {
        let book = self.book.current(&self.state.book);
        let Some(set) = book.get(&file) else {
            // If the server is gone the rank is stopping and nobody waits for this answer.
            let _ = self.server.send(UploadMail::Deferred { from, file, segment, with_bitfield });
            return None;
        };
        Some(self.state.reply(set, file, segment, with_bitfield))
    }
}

/// The server serves deferred requests until every handle is gone. The desk holds a handle too,
/// so the server ends once the pump has dropped the desk and the mirror its handle, at the stop.
impl Actor for UploadServer {
    type Output = ();

    fn run(mut self) {
        while let Some(mail) = self.mailbox.recv() {
            self.handle(mail);
            self.answer_waiting();
        }
    }

    fn step(&mut self) -> bool {
        let mut had_mail = false;
        while let TryRecv::Item(mail) = self.mailbox.try_recv() {
            self.handle(mail);
            had_mail = true;
        }
        if had_mail {
            self.answer_waiting();
        }
        had_mail
    }

    fn stop(mut self) {
        self.step();
    }
}

pub struct UploadServer {
    mailbox: Receiver<UploadMail>,
    state: Arc<UploadState>,
    outbox: Outbox,
    waiting: Vec<Waiting>,
    /// Test-only: panic at the first mail (`crate::test_panic`).
    pub(super) test_panic: bool,
}

/// A deferred request, waiting for its file to reach the book.
struct Waiting {
    from: PeerId,
    file: FileId,
    segment: u32,
    with_bitfield: bool,
}

/// What the tracker mirror holds to tell the server the book changed.
#[derive(Clone)]
pub struct UploadHandle(Sender<UploadMail>);

impl UploadHandle {
    pub fn book_changed(&self) {
        let _ = self.0.send(UploadMail::BookChanged);
    }
}

impl UploadServer {
    /// The server, the desk for the pump, and the handle for the tracker mirror.
    pub fn new(book: Arc<SnapshotCell<SegmentBook>>, outbox: Outbox) -> (UploadServer, UploadDesk, UploadHandle) {
        let (sender, mailbox) = crate::sync::mailbox();
        let state = Arc::new(UploadState { book, uploaded: LoadCounter::new(), refused: LoadCounter::new() });
        let desk = UploadDesk { book: SnapshotCache::new(&state.book), state: state.clone(), server: sender.clone() };
        let server = UploadServer { mailbox, state, outbox, waiting: Vec::new(), test_panic: false };
        (server, desk, UploadHandle(sender))
    }

    /// The shared state, for reading the figures once the run is over.
    pub fn state(&self) -> Arc<UploadState> {
        self.state.clone()
    }

    fn handle(&mut self, mail: UploadMail) {
        if self.test_panic {
            crate::test_panic::trip(crate::test_panic::Site::Upload);
        }
        if let UploadMail::Deferred { from, file, segment, with_bitfield } = mail {
            self.waiting.push(Waiting { from, file, segment, with_bitfield });
        }
    }
    fn answer_waiting(&mut self) {
        let book = self.state.book.load();
        let outbox = &self.outbox;
        let state = &self.state;
        self.waiting.retain(|request| {
            let Some(set) = book.get(&request.file) else { return true };
            let reply = state.reply(set, request.file, request.segment, request.with_bitfield);
            let _ = outbox.send(PumpCommand::Send { to: request.from, message: reply });
            false
        });
    }
}
