//! The in-process transport: every rank a thread, every link a mailbox. It runs the same pump
//! and actors as MPI does, for fast tests and for users without MPI.

use super::{Transport, TransportError};
use crate::model::PeerId;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Receiver, Sender, TryRecv};

type Envelope = (PeerId, Vec<u8>);

/// The ranks of one in-process job.
pub struct LocalNetwork {
    inboxes: Vec<Sender<Envelope>>,
    receivers: Vec<Option<Receiver<Envelope>>>,
    aborted: Arc<AtomicBool>,
}

impl LocalNetwork {
    pub fn new(ranks: u32) -> LocalNetwork {
        let (inboxes, receivers) = (0..ranks)
            .map(|_| {
                let (sender, receiver) = crate::sync::mailbox();
                (sender, Some(receiver))
            })
            .unzip();
        LocalNetwork { inboxes, receivers, aborted: Arc::new(AtomicBool::new(false)) }
    }

    /// The transport of one rank; each rank's can be taken once.
    pub fn endpoint(&mut self, rank: u32) -> LocalTransport {
        let inbox = self.receivers[rank as usize].take().expect("each rank's endpoint is taken once");
        LocalTransport {
            me: PeerId(rank),
            inbox,
            links: self.inboxes.clone(),
            aborted: self.aborted.clone(),
            last: Vec::new(),
        }
    }

    /// A flag that, once raised, makes every endpoint's `poll` fail with `Aborted`.
    pub fn abort_flag(&self) -> Arc<AtomicBool> {
        self.aborted.clone()
    }
}

pub struct LocalTransport {
    me: PeerId,
    inbox: Receiver<Envelope>,
    links: Vec<Sender<Envelope>>,
    aborted: Arc<AtomicBool>,
    /// The message `poll` last returned.
    last: Vec<u8>,
}

impl Transport for LocalTransport {
    fn me(&self) -> PeerId {
        self.me
    }

    fn ranks(&self) -> u32 {
        self.links.len() as u32
    }

    fn send(&mut self, to: PeerId, bytes: &[u8]) -> Result<(), TransportError> {
        let link = self.links.get(to.index()).ok_or_else(|| TransportError::Send(to, "no such rank".into()))?;
        // A rank that has finished has dropped its inbox; its last messages were already read.
        let _ = link.send((self.me, bytes.to_vec()));
        Ok(())
    }

    /// Ranks in one process start together; the runner needs no barrier, and tests of the floor
    /// (which uses one) run under MPI only.
    fn barrier(&mut self) {}

    fn poll(&mut self) -> Result<Option<(PeerId, &[u8])>, TransportError> {
        // Relaxed: the flag carries no data; a rank that sees it a few polls late is fine.
        if self.aborted.load(Ordering::Relaxed) {
            return Err(TransportError::Aborted);
        }
        match self.inbox.try_recv() {
            TryRecv::Item((from, bytes)) => {
                self.last = bytes;
                Ok(Some((from, &self.last)))
            }
            TryRecv::Empty | TryRecv::Closed => Ok(None),
        }
    }
}
