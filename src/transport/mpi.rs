//! The MPI transport: one communicator, byte messages, polled by the pump.
//!
//! Only the pump's thread calls MPI (`Threading::Funneled`).
//!
//! Sends are non-blocking (`MPI_Isend`), and this is what keeps the tracker fast. A blocking
//! send of a message that does not fit MPI's eager path (the tracker's first answer to a peer
//! carries every hash of the file: 3 KB at 100 segments) waits until the receiving rank runs
//! and takes it; with more ranks than cores that is a scheduler time slice away. Measured at 32
//! ranks on 2 cores: 360 µs per such send, 89 ms of a 120 ms protocol spent by the tracker
//! waiting on its 248 first answers, one after another. Posted without waiting, they all travel
//! at once and the tracker goes on answering.

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::collective::CommunicatorCollectives;
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};

use super::{Transport, TransportError};
use crate::model::PeerId;

pub struct MpiTransport {
    world: SimpleCommunicator,
    me: PeerId,
    ranks: u32,
    /// Sends MPI has not finished with yet, oldest first.
    sending: Vec<PendingSend>,
}

/// A posted send and the buffer MPI reads it from.
///
/// rsmpi ties a request to its buffer's lifetime; a request that outlives the call that posted
/// it needs a `'static` buffer, so the buffer is leaked for the request and taken back once MPI
/// says the send is complete. This is the module's one `unsafe`, and `reclaim` is its only
/// way out.
struct PendingSend {
    request: Request<'static, [u8], StaticScope>,
    buffer: *mut [u8],
}

impl PendingSend {
    fn post(world: &SimpleCommunicator, to: PeerId, bytes: Vec<u8>) -> PendingSend {
        let buffer: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        let pointer: *mut [u8] = buffer;
        let request = world.process_at_rank(to.0 as i32).immediate_send(StaticScope, &*buffer);
        PendingSend { request, buffer: pointer }
    }

    /// `Ok` once the send is complete (the buffer freed), `Err(self)` while MPI still needs it.
    fn try_finish(self) -> Result<(), PendingSend> {
        let PendingSend { request, buffer } = self;
        match request.test() {
            Ok(_) => {
                Self::reclaim(buffer);
                Ok(())
            }
            Err(request) => Err(PendingSend { request, buffer }),
        }
    }

    /// Waits until MPI is done with the buffer, then frees it.
    fn finish(self) {
        let PendingSend { request, buffer } = self;
        request.wait();
        Self::reclaim(buffer);
    }

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
        MpiTransport { world, me, ranks, sending: Vec::new() }
    }

    /// Ends every process of the job: the one path a fatal error takes under MPI.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Forgets the sends MPI has finished, so that their buffers are freed.
    fn reap_sends(&mut self) {
        if self.sending.is_empty() {
            return;
        }
        let sending = std::mem::take(&mut self.sending);
        self.sending = sending.into_iter().filter_map(|send| send.try_finish().err()).collect();
    }
}

impl Transport for MpiTransport {
    fn me(&self) -> PeerId {
        self.me
    }

    fn ranks(&self) -> u32 {
        self.ranks
    }

    fn send(&mut self, to: PeerId, bytes: Vec<u8>) -> Result<(), TransportError> {
        if to.0 >= self.ranks {
            return Err(TransportError::Send(to, "no such rank".into()));
        }
        // MPI keeps the order of messages between two ranks in the order the sends are posted,
        // as the protocol needs.
        self.sending.push(PendingSend::post(&self.world, to, bytes));
        Ok(())
    }

    fn barrier(&mut self) {
        self.world.barrier();
    }

    fn poll(&mut self) -> Result<Option<(PeerId, Vec<u8>)>, TransportError> {
        self.reap_sends();
        // A matched probe hands us the message itself, so no other probe can steal it; rsmpi
        // insists that a matched message is received, which we do at once.
        //
        // Twice before saying "nothing": OpenMPI's probe looks for a message that has already
        // arrived *before* it drives the transport, so the messages that call pulls in are only
        // found by the next one. Without the second look they would wait for the pump's next
        // round, a scheduler time slice away when ranks outnumber cores.
        let world = &self.world;
        let probe = || world.any_process().immediate_matched_probe();
        let Some(probed) = probe().or_else(probe) else {
            return Ok(None);
        };
        let (bytes, status) = probed.matched_receive_vec::<u8>();
        Ok(Some((PeerId(status.source_rank() as u32), bytes)))
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
