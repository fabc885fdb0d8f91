//! The MPI transport: one communicator, byte messages, polled by the pump.
//!
//! Only the pump's thread calls MPI (`MPI_THREAD_SINGLE` when the actors run on it, `FUNNELED`
//! when they have threads of their own; see `main`).
//!
//! Sends of more than a few hundred bytes are non-blocking (`MPI_Isend`), and this is what keeps
//! the tracker fast. A blocking
//! send of a message that does not fit MPI's eager path (a swarm the tracker sends with the go
//! carries every hash of the file: 3 KB at 100 segments) waits until the receiving rank runs
//! and takes it; with more ranks than cores that is a scheduler time slice away, and the tracker
//! spent most of the protocol waiting on its first answers, one after another (the figures are
//! in the README's benchmark section). Posted without waiting, they all travel at once and the
//! tracker goes on answering.

use mpi::collective::CommunicatorCollectives;
use mpi::datatype::Equivalence;
use mpi::point_to_point::{Destination, Source};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};

use super::{Transport, TransportError};
use crate::model::PeerId;

/// The most bytes sent with a blocking send. A message this small goes out at once on every
/// OpenMPI transport (well under the eager limits, 4 KB and up), so the send never waits for the
/// receiver, and it spares the bookkeeping of a pending send; nearly every message is this small
/// (a segment request is 10 bytes, a reply without a bitfield 18).
const SMALL: usize = 256;

pub struct MpiTransport {
    world: SimpleCommunicator,
    me: PeerId,
    ranks: u32,
    /// Sends MPI has not finished with yet, oldest first.
    sending: Vec<PendingSend>,
    /// Where messages are received: one buffer, reused.
    inbox: Vec<u8>,
}

/// A posted send and the buffer MPI reads it from.
///
/// rsmpi ties a request to its buffer's lifetime; a request that outlives the call that posted
/// it needs a `'static` buffer, so the buffer is leaked for the request and taken back once MPI
/// says the send is complete. This is the module's one `unsafe`, and `reclaim` is its only
/// way out.
struct PendingSend {
    /// `None` once the send has finished.
    request: Option<Request<'static, [u8], StaticScope>>,
    buffer: *mut [u8],
}

impl PendingSend {
    fn post(world: &SimpleCommunicator, to: PeerId, bytes: Vec<u8>) -> PendingSend {
        let buffer: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        let pointer: *mut [u8] = buffer;
        let request = world.process_at_rank(to.0 as i32).immediate_send(StaticScope, &*buffer);
        PendingSend { request: Some(request), buffer: pointer }
    }

    /// Whether MPI is done with the buffer (asking it, if it had not said so yet).
    fn is_finished(&mut self) -> bool {
        let Some(request) = self.request.take() else { return true };
        match request.test() {
            Ok(_) => true,
            Err(request) => {
                self.request = Some(request);
                false
            }
        }
    }

    /// Waits until MPI is done with the buffer, then frees it.
    fn finish(self) {
        if let Some(request) = self.request {
            request.wait();
        }
        Self::reclaim(self.buffer);
    }

    #[allow(unsafe_code)] // the module's one `unsafe` (see above)
    fn reclaim(buffer: *mut [u8]) {
        // SAFETY: `buffer` came from `Box::leak` in `post` and is reclaimed once, here, after its
        // request completed (`test` said so or `wait` returned), the request's borrow of it
        // ending with the request; nothing else holds it.
        drop(unsafe { Box::from_raw(buffer) });
    }
}

impl MpiTransport {
    pub fn new(world: SimpleCommunicator) -> MpiTransport {
        let me = PeerId(world.rank() as u32);
        let ranks = world.size() as u32;
        MpiTransport { world, me, ranks, sending: Vec::new(), inbox: Vec::new() }
    }

    /// Ends every process of the job: the one path a fatal error takes under MPI.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Frees the buffers of the oldest sends MPI has finished, stopping at the first it has
    /// not. Testing an unfinished send makes OpenMPI drive its transport, and when that finds
    /// nothing to do on an oversubscribed machine it yields the core for a scheduler cycle:
    /// testing every pending send on every poll held the tracker to about one message a cycle,
    /// so this is called only when a poll finds nothing (the README's benchmark section has the
    /// figures). Sends mostly finish in order, so the ones behind the first
    /// unfinished one wait a little longer to be freed.
    fn reap_sends(&mut self) {
        let mut finished = 0;
        while finished < self.sending.len() && self.sending[finished].is_finished() {
            finished += 1;
        }
        self.sending.drain(..finished).for_each(PendingSend::finish);
    }
}

impl Transport for MpiTransport {
    fn me(&self) -> PeerId {
        self.me
    }

    fn ranks(&self) -> u32 {
        self.ranks
    }

    fn send(&mut self, to: PeerId, bytes: &[u8]) -> Result<(), TransportError> {
        if to.0 >= self.ranks {
            return Err(TransportError::Send(to, "no such rank".into()));
        }
        // MPI keeps the order of messages between two ranks in the order the sends are posted,
        // blocking or not, as the protocol needs.
        // A blocking send has copied the bytes (or delivered them) when it returns; a posted
        // one reads them later, from a copy of its own.
        if bytes.len() <= SMALL {
            self.world.process_at_rank(to.0 as i32).send(bytes);
        } else {
            self.sending.push(PendingSend::post(&self.world, to, bytes.to_vec()));
        }
        Ok(())
    }

    fn barrier(&mut self) {
        self.world.barrier();
    }

    fn poll(&mut self) -> Result<Option<(PeerId, &[u8])>, TransportError> {
        // A matched probe hands us the message itself, so no other probe can steal it; rsmpi
        // insists that a matched message is received, which we do at once.
        //
        // Twice before saying "nothing": OpenMPI's probe looks for a message that has already
        // arrived *before* it drives the transport, so the messages that call pulls in are only
        // found by the next one. Without the second look they would wait for the pump's next
        // round, a scheduler time slice away when ranks outnumber cores.
        let world = &self.world;
        let probe = || world.any_process().immediate_matched_probe();
        let Some((probed, status)) = probe().or_else(probe) else {
            // Nothing to take: a good moment to free what MPI has finished sending (asking
            // may yield the core, see `reap_sends`, but there is nothing to do meanwhile).
            self.reap_sends();
            return Ok(None);
        };
        let len = usize::try_from(status.count(u8::equivalent_datatype())).unwrap_or(0);
        self.inbox.resize(len, 0);
        probed.matched_receive_into(&mut self.inbox[..]);
        Ok(Some((PeerId(status.source_rank() as u32), &self.inbox)))
    }
}

impl Drop for MpiTransport {
    /// Every posted send completes before MPI is finalized: the protocol guarantees each message
    /// a receiver (a rank stops only after it has taken everything meant for it), so this wait
    /// ends.
    fn drop(&mut self) {
        for send in self.sending.drain(..) {
            send.finish();
        }
    }
}
