//! The upload server: answers other peers' segment requests from this peer's segment state.

use std::collections::HashMap;

use super::segments::SegmentSet;
use super::{Outbox, PumpCommand};
use crate::model::{FileId, PeerId};
use crate::sync::{Arc, Receiver, Sender, SnapshotCell};
use crate::wire::Message;

/// Every file this peer can serve from, by id: owned files (full) and downloads (filling up).
/// Replaced whole by the tracker mirror when a file is added; read by the upload server.
pub type SegmentBook = HashMap<FileId, Arc<SegmentSet>>;

pub enum UploadMail {
    Request { from: PeerId, file: FileId, segment: u32 },
}

/// What the upload server did, returned when it stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UploadFigures {
    pub uploaded: u64,
    pub refused: u64,
}

pub struct UploadServer {
    mailbox: Receiver<UploadMail>,
    book: Arc<SnapshotCell<SegmentBook>>,
    outbox: Outbox,
    figures: UploadFigures,
}

/// The handle others hold to send the upload server work.
#[derive(Clone)]
pub struct UploadHandle(Sender<UploadMail>);

impl UploadHandle {
    /// False if the server has stopped.
    pub fn request(&self, from: PeerId, file: FileId, segment: u32) -> bool {
        self.0.send(UploadMail::Request { from, file, segment }).is_ok()
    }
}

impl UploadServer {
    pub fn new(book: Arc<SnapshotCell<SegmentBook>>, outbox: Outbox) -> (UploadServer, UploadHandle) {
        let (sender, mailbox) = crate::sync::mailbox();
        (UploadServer { mailbox, book, outbox, figures: UploadFigures::default() }, UploadHandle(sender))
    }

    /// Serves until every handle is gone, then returns what it did.
    pub fn run(mut self) -> UploadFigures {
        while let Some(UploadMail::Request { from, file, segment }) = self.mailbox.recv() {
            let reply = self.answer(file, segment);
            if self.outbox.send(PumpCommand::Send { to: from, message: reply }).is_err() {
                break; // the pump is gone: the rank is shutting down
            }
        }
        self.figures
    }

    /// Yes if the segment is held, no otherwise (also for a file we do not know yet: the tracker
    /// may have listed us before our own "go" reached us; the asker simply tries elsewhere).
    fn answer(&mut self, file: FileId, segment: u32) -> Message {
        let granted = self.book.load().get(&file).is_some_and(|set| set.contains(segment));
        if granted {
            self.figures.uploaded += 1;
        } else {
            self.figures.refused += 1;
        }
        let load = u32::try_from(self.figures.uploaded).unwrap_or(u32::MAX);
        Message::SegmentReply { file, segment, granted, load }
    }
}
