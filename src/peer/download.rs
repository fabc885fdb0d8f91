//! The download scheduler actor: feeds the scheduler's decisions (`scheduler.rs`) the mail it
//! gets, and carries out what they decide: requests to the pump, refreshes to the tracker
//! mirror, finished files to the writer.

use super::actor::Actor;
use super::mirror::MirrorHandle;
use super::policy::{HolderPolicy, PiecePolicy};
use super::scheduler::{Actions, DownloadConfig, DownloadFigures, FileStart, Reply, Scheduler};
use super::writer::{WriterHandle, WriterMail};
use super::{Outbox, PumpCommand};
use crate::model::{FileId, PeerId};
use crate::sync::{Receiver, Sender, TryRecv};

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

#[derive(Clone)]
pub struct DownloadHandle(Sender<DownloadMail>);

impl DownloadHandle {
    /// False if the scheduler has stopped.
    pub fn send(&self, mail: DownloadMail) -> bool {
        self.0.send(mail).is_ok()
    }
}

/// How many times the scheduler looks for an expected answer before it parks.
const SPINS_BEFORE_PARKING: u32 = 32;

pub struct DownloadScheduler {
    scheduler: Scheduler,
    /// What the scheduler decided and this actor has yet to carry out; empty between turns.
    actions: Actions,
    me: PeerId,
    mailbox: Receiver<DownloadMail>,
    outbox: Outbox,
    mirror: MirrorHandle,
    writer: WriterHandle,
    /// Test-only: panic at the first replies (`crate::test_panic`).
    pub(super) test_panic: bool,
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
        self.scheduler.figures()
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
        self.scheduler.figures()
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
        let me = config.me;
        let scheduler = DownloadScheduler {
            scheduler: Scheduler::new(config, pieces, holders),
            actions: Actions::default(),
            me,
            mailbox,
            outbox,
            mirror,
            writer,
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
            let handled = self.handle(mail);
            // What the mail decided goes out now, as it did before an error if there is one.
            self.tell_mirror_and_writer();
            if let Err(err) = handled {
                let _ = self.outbox.send(PumpCommand::Fatal(format!("peer {}: {err}", self.me)));
                return false;
            }
            if let TryRecv::Item(mail) = self.mailbox.try_recv() {
                next = Some(mail);
            }
        }
        self.scheduler.decide(&mut self.actions);
        self.carry_out_decision();
        true
    }

    fn handle(&mut self, mail: DownloadMail) -> Result<(), super::scheduler::DownloadError> {
        match mail {
            DownloadMail::Started => self.scheduler.start(),
            DownloadMail::NewFile(start) => self.scheduler.add_file(start, &mut self.actions),
            DownloadMail::SwarmRefreshed { file, changed } => self.scheduler.swarm_refreshed(file, changed),
            DownloadMail::Replies(replies) => {
                if self.test_panic {
                    crate::test_panic::trip(crate::test_panic::Site::Download);
                }
                for reply in replies {
                    self.scheduler.on_reply(&reply, &mut self.actions)?;
                }
            }
        }
        Ok(())
    }

    /// Refreshes to the mirror and finished files to the writer, in the order decided.
    fn tell_mirror_and_writer(&mut self) {
        for refresh in self.actions.refreshes.drain(..) {
            self.mirror.refresh(refresh.file, refresh.from_start);
        }
        for finished in self.actions.finished.drain(..) {
            self.writer.send(WriterMail::Finished {
                file: finished.file,
                name: finished.name,
                hashes: finished.hashes,
            });
        }
    }

    /// Carries out a decision: stalled files' refreshes, the requests as one batch for the pump
    /// (one wake-up of the pump, however many), then "all finished" after the last file.
    fn carry_out_decision(&mut self) {
        self.tell_mirror_and_writer();
        let requests = std::mem::take(&mut self.actions.requests);
        if !requests.is_empty() {
            // A closed outbox means the rank is shutting down; the loop ends on its own then.
            let _ = self.outbox.send(PumpCommand::SendAll(requests));
        }
        if std::mem::take(&mut self.actions.all_finished) {
            self.writer.send(WriterMail::AllFinished);
        }
    }

    /// The next mail, waiting as long as it takes; `None` once every handle is gone.
    ///
    /// With requests in flight an answer is usually microseconds away, so the scheduler first
    /// looks again a few times, yielding the core in between, before it parks: a parked thread
    /// costs the pump a wake-up per reply, and wake-ups, not work, dominate the protocol's time.
    fn next_mail(&self) -> Option<DownloadMail> {
        if self.scheduler.in_flight() > 0 {
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
}
