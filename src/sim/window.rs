//! The end of a window: what a sharded run's shards hand each other, and how they agree on the
//! next window.
//!
//! A run split over shards advances in windows of the scenario's latency (DESIGN.md, "sharding";
//! Shadow's scheduler does the same with its runahead): every event a shard sends another
//! happens at least a latency after the event that sent it, so in a window `[start, start + L)`
//! each shard handles its own events alone, and what it sends others falls in a later window.
//! At the window's end every worker *closes* it: it hands each other shard the events it made
//! for it, in one batch, with a report of where it stands; it then waits for a batch from every
//! other shard, since only then does it know every event of the next window. The reports,
//! combined, say where the next window starts (the earliest event anywhere) and whether the run
//! is over, and every worker combines the same reports, so all agree without another word.
//!
//! Inside a rank, workers are threads, each owning its shard, and a batch goes through a mailbox
//! (a crossbeam channel) between each pair of them: a worker reads exactly one batch from each
//! other worker per window, so a batch from a worker already in the next window waits in its
//! own mailbox, behind the one that closed this window. Across ranks, worker 0 trades its rank's
//! batches for the others' (`Ranks`, over MPI) and passes each worker what came for it.
//! `loom-tests/window.rs` checks the hand-over with loom.

use super::link::Nanos;
use crate::sync::{Receiver, Sender, mailbox};

/// Where a shard stands at a window's end; `combine`d over shards, where the run stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowReport {
    /// The earliest event the shard knows of: in its queue, or among those it sent others in
    /// the window. Combined: where the next window starts; none, nothing is left to happen.
    pub next: Option<Nanos>,
    /// Peers done.
    pub done: u32,
    /// Events handled so far.
    pub events: u64,
    /// Pieces on the shard's links.
    pub in_flight: u64,
    /// The time of the latest event handled.
    pub now: Nanos,
    /// When a piece last arrived.
    pub last_piece_at: Nanos,
    /// When the last peer to be done was done.
    pub last_done_at: Nanos,
    /// When the first peer to be done was done, if one is.
    pub first_done_at: Option<Nanos>,
    /// The shard stopped on an error of its own (it reports it itself).
    pub failed: bool,
}

impl WindowReport {
    /// Two shards' reports as one.
    #[must_use]
    pub fn combine(self, other: WindowReport) -> WindowReport {
        WindowReport {
            next: earliest(self.next, other.next),
            done: self.done + other.done,
            events: self.events + other.events,
            in_flight: self.in_flight + other.in_flight,
            now: self.now.max(other.now),
            last_piece_at: self.last_piece_at.max(other.last_piece_at),
            last_done_at: self.last_done_at.max(other.last_done_at),
            first_done_at: earliest(self.first_done_at, other.first_done_at),
            failed: self.failed || other.failed,
        }
    }
}

/// The earlier of two times, either of which may be none.
pub fn earliest(a: Option<Nanos>, b: Option<Nanos>) -> Option<Nanos> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The ranks of an MPI job beyond this one, as a rank's worker 0 sees them.
pub trait Ranks<E> {
    /// This rank, from 0.
    fn rank(&self) -> u32;
    /// How many ranks the job has.
    fn ranks(&self) -> u32;
    /// Trades a window's batches with the other ranks: `outgoing[s]` goes to shard `s`'s rank
    /// (entries of this rank's own shards are empty). Returns the report combined over every
    /// rank, and what the other ranks sent to each of this rank's shards, by worker.
    fn exchange(
        &mut self,
        report: WindowReport,
        outgoing: Vec<Vec<E>>,
        workers: usize,
    ) -> Result<(WindowReport, Vec<Vec<E>>), RanksError>;
}

/// The job's communication failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RanksError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    /// A worker of this rank stopped without closing the window (its thread ended).
    #[error("worker {0} of this rank stopped in the middle of the run")]
    WorkerGone(usize),
    #[error(transparent)]
    Ranks(#[from] RanksError),
}

/// What goes from one worker to another at a window's end.
enum Handover<E> {
    /// The sender's report, the events it made for the receiver's shard in the window, and,
    /// to worker 0 in a job of several ranks, those for other ranks' shards (by shard).
    Batch { report: WindowReport, events: Vec<E>, remote: Vec<Vec<E>> },
    /// From worker 0, in a job of several ranks: the report over the whole job, and what other
    /// ranks sent the receiver's shard.
    Job { report: WindowReport, events: Vec<E> },
}

/// How `close` reads the other workers' batches: `Wait` for each, as it must; the loom models'
/// planted bug does not (`Crossing::close_without_waiting`).
#[derive(Clone, Copy)]
enum Reading {
    Wait,
    #[cfg(feature = "loom")]
    WithoutWaiting,
}

/// One worker's ends of the mailboxes to and from the other workers of its rank.
pub struct Crossing<E> {
    worker: usize,
    workers: usize,
    rank: u32,
    ranks: u32,
    /// By worker (`None` for itself).
    to: Vec<Option<Sender<Handover<E>>>>,
    from: Vec<Option<Receiver<Handover<E>>>>,
}

/// The crossings of a rank's `workers` workers, in a job of `ranks` ranks: worker `w` of rank
/// `r` owns shard `r * workers + w`.
pub fn crossings<E>(workers: usize, rank: u32, ranks: u32) -> Vec<Crossing<E>> {
    assert!(workers > 0 && ranks > 0 && rank < ranks);
    let mut to: Vec<Vec<Option<Sender<Handover<E>>>>> =
        (0..workers).map(|_| (0..workers).map(|_| None).collect()).collect();
    let mut from: Vec<Vec<Option<Receiver<Handover<E>>>>> =
        (0..workers).map(|_| (0..workers).map(|_| None).collect()).collect();
    for sender in 0..workers {
        for receiver in (0..workers).filter(|&receiver| receiver != sender) {
            let (tx, rx) = mailbox();
            to[sender][receiver] = Some(tx);
            from[receiver][sender] = Some(rx);
        }
    }
    to.into_iter()
        .zip(from)
        .enumerate()
        .map(|(worker, (to, from))| Crossing { worker, workers, rank, ranks, to, from })
        .collect()
}

impl<E> Crossing<E> {
    /// The job's shard this worker owns.
    pub fn shard(&self) -> u32 {
        self.rank * self.workers as u32 + self.worker as u32
    }

    /// Shards in the whole job.
    pub fn shards(&self) -> u32 {
        self.ranks * self.workers as u32
    }

    fn shard_of_worker(&self, worker: usize) -> usize {
        self.rank as usize * self.workers + worker
    }

    fn is_on_this_rank(&self, shard: usize) -> bool {
        shard / self.workers == self.rank as usize
    }

    /// Closes the window: hands `outboxes` (by shard of the job; this worker's own is not
    /// read) to their shards, adds every event sent to this worker's shard in the window to
    /// `inbox`, and returns the report combined over every shard of the job. `ranks` is needed
    /// by worker 0 of a job of several ranks, and only by it.
    pub fn close<'r>(
        &mut self,
        report: WindowReport,
        outboxes: &mut [Vec<E>],
        ranks: Option<&mut (dyn Ranks<E> + 'r)>,
        inbox: &mut Vec<E>,
    ) -> Result<WindowReport, CloseError> {
        self.close_reading(report, outboxes, ranks, inbox, Reading::Wait)
    }

    /// PLANTED BUG, for the loom models only (`loom-tests/window.rs`): `close`, except that it
    /// reads each other worker's batch without waiting for it, and goes on without one that has
    /// not come yet. The worker then leaves the window before every other worker has closed it:
    /// it misses events of this window, and reads the batch it skipped in a later one. The
    /// models must catch it.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn close_without_waiting<'r>(
        &mut self,
        report: WindowReport,
        outboxes: &mut [Vec<E>],
        ranks: Option<&mut (dyn Ranks<E> + 'r)>,
        inbox: &mut Vec<E>,
    ) -> Result<WindowReport, CloseError> {
        self.close_reading(report, outboxes, ranks, inbox, Reading::WithoutWaiting)
    }

    fn close_reading<'r>(
        &mut self,
        report: WindowReport,
        outboxes: &mut [Vec<E>],
        ranks: Option<&mut (dyn Ranks<E> + 'r)>,
        inbox: &mut Vec<E>,
        reading: Reading,
    ) -> Result<WindowReport, CloseError> {
        debug_assert_eq!(outboxes.len(), self.shards() as usize);
        let several_ranks = self.ranks > 1;
        let mut remote: Vec<Vec<E>> = Vec::new();
        if several_ranks {
            remote = (0..outboxes.len())
                .map(
                    |shard| if self.is_on_this_rank(shard) { Vec::new() } else { std::mem::take(&mut outboxes[shard]) },
                )
                .collect();
        }
        for worker in (0..self.workers).filter(|&worker| worker != self.worker) {
            let events = std::mem::take(&mut outboxes[self.shard_of_worker(worker)]);
            let remote = if worker == 0 { std::mem::take(&mut remote) } else { Vec::new() };
            let sender = self.to[worker].as_ref().expect("a mailbox to every other worker");
            sender.send(Handover::Batch { report, events, remote }).map_err(|_| CloseError::WorkerGone(worker))?;
        }
        let mut rank_report = report;
        for worker in (0..self.workers).filter(|&worker| worker != self.worker) {
            let receiver = self.from[worker].as_ref().expect("a mailbox from every other worker");
            let batch = match reading {
                Reading::Wait => receiver.recv(),
                #[cfg(feature = "loom")]
                Reading::WithoutWaiting => match receiver.try_recv() {
                    crate::sync::TryRecv::Item(handover) => Some(handover),
                    crate::sync::TryRecv::Empty => continue,
                    crate::sync::TryRecv::Closed => None,
                },
            };
            match batch {
                Some(Handover::Batch { report, events, remote: theirs }) => {
                    rank_report = rank_report.combine(report);
                    inbox.extend(events);
                    for (shard, events) in theirs.into_iter().enumerate() {
                        remote[shard].extend(events);
                    }
                }
                Some(Handover::Job { .. }) => unreachable!("a worker's batch comes before worker 0's job report"),
                None => return Err(CloseError::WorkerGone(worker)),
            }
        }
        if !several_ranks {
            return Ok(rank_report);
        }
        if self.worker == 0 {
            let ranks = ranks.expect("worker 0 of a job of several ranks trades with the others");
            let (job, mut incoming) = ranks.exchange(rank_report, remote, self.workers)?;
            for (worker, events) in incoming.iter_mut().enumerate().skip(1) {
                let events = std::mem::take(events);
                let sender = self.to[worker].as_ref().expect("a mailbox to every other worker");
                sender.send(Handover::Job { report: job, events }).map_err(|_| CloseError::WorkerGone(worker))?;
            }
            inbox.append(&mut incoming[0]);
            Ok(job)
        } else {
            let receiver = self.from[0].as_ref().expect("a mailbox from worker 0");
            match receiver.recv() {
                Some(Handover::Job { report, events }) => {
                    inbox.extend(events);
                    Ok(report)
                }
                Some(Handover::Batch { .. }) => {
                    unreachable!("worker 0 sends one batch a window, then the job's report")
                }
                None => Err(CloseError::WorkerGone(0)),
            }
        }
    }
}
