//! The file writer: puts each finished file on disk, then reports it to the tracker.
//!
//! Writing is the one blocking thing a peer does (a create, a write and a rename), so it is an
//! actor of its own: with the actors on threads it writes while the scheduler goes on. On the
//! pump's thread it writes between two rounds of the pump; that is no loss when ranks outnumber
//! cores (the disk's work is CPU time either way, and a writer thread would cost more: see
//! `main`'s choice of MPI threading level). A file counts as complete for the tracker only once
//! it is on disk, and "all done" follows the last of them, so when the job ends every output
//! exists.

use std::path::PathBuf;

use super::actor::Actor;
use super::mirror::MirrorHandle;
use super::{Outbox, PumpCommand};
use crate::model::{FileId, FileName, Hashes, PeerId};
use crate::output;
use crate::sync::{Receiver, Sender, TryRecv};
use crate::test_panic::Site;

pub enum WriterMail {
    /// A file is whole: write it, then report it.
    Finished { file: FileId, name: FileName, hashes: Hashes },
    /// Every wanted file has been handed over: once they are written, say "all done".
    AllFinished,
}

#[derive(Clone)]
pub struct WriterHandle(Sender<WriterMail>);

impl WriterHandle {
    pub fn send(&self, mail: WriterMail) {
        // A closed mailbox means the rank is shutting down after a failure; nothing to report.
        let _ = self.0.send(mail);
    }
}

pub struct FileWriter {
    me: PeerId,
    output_dir: PathBuf,
    mailbox: Receiver<WriterMail>,
    mirror: MirrorHandle,
    outbox: Outbox,
    /// A write failed and the job is ending: write nothing more.
    failed: bool,
    /// Test-only: panic at the first finished file (`crate::test_panic`).
    pub(super) test_panic: bool,
}

impl FileWriter {
    pub fn new(me: PeerId, output_dir: PathBuf, mirror: MirrorHandle, outbox: Outbox) -> (FileWriter, WriterHandle) {
        let (sender, mailbox) = crate::sync::mailbox();
        (FileWriter { me, output_dir, mailbox, mirror, outbox, failed: false, test_panic: false }, WriterHandle(sender))
    }

    fn handle(&mut self, mail: WriterMail) {
        if self.failed {
            return;
        }
        match mail {
            WriterMail::Finished { file, name, hashes } => {
                if self.test_panic {
                    crate::test_panic::trip(Site::Writer);
                }
                match output::write_file(&self.output_dir, self.me, &name, &hashes) {
                    Ok(()) => self.mirror.completed(file),
                    Err(error) => {
                        self.failed = true;
                        let _ = self.outbox.send(PumpCommand::Fatal(format!("peer {}: {error}", self.me)));
                    }
                }
            }
            WriterMail::AllFinished => self.mirror.all_done(),
        }
    }
}

/// The writer ends once the scheduler, its one sender, is gone and every file is written.
impl Actor for FileWriter {
    type Output = ();

    fn run(mut self) {
        while let Some(mail) = self.mailbox.recv() {
            self.handle(mail);
        }
    }

    fn step(&mut self) -> bool {
        let mut had_mail = false;
        while let TryRecv::Item(mail) = self.mailbox.try_recv() {
            self.handle(mail);
            had_mail = true;
        }
        had_mail
    }

    fn stop(mut self) {
        self.step();
    }
}
