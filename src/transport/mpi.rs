//! The MPI transport: one communicator, byte messages, polled by the pump.
//!
//! Only the pump's thread calls MPI (`Threading::Funneled`). Sends are MPI's standard blocking
//! send. That cannot deadlock here: every message after registration is a few dozen bytes, well
//! under the eager limit of every OpenMPI transport, so the send completes without the receiver;
//! the large messages are a peer's registration (sent while the tracker does nothing but
//! receive) and the tracker's first swarm answer to a peer (whose pump is polling, or finishing
//! a small eager send, so it soon receives).

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::collective::CommunicatorCollectives;
use mpi::topology::{Communicator, SimpleCommunicator};

use super::{Transport, TransportError};
use crate::model::PeerId;

pub struct MpiTransport {
    world: SimpleCommunicator,
    me: PeerId,
    ranks: u32,
}

impl MpiTransport {
    pub fn new(world: SimpleCommunicator) -> MpiTransport {
        let me = PeerId(world.rank() as u32);
        let ranks = world.size() as u32;
        MpiTransport { world, me, ranks }
    }

    /// Ends every process of the job: the one path a fatal error takes under MPI.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
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
        self.world.process_at_rank(to.0 as i32).send(&bytes[..]);
        Ok(())
    }

    fn barrier(&mut self) {
        self.world.barrier();
    }

    fn poll(&mut self) -> Result<Option<(PeerId, Vec<u8>)>, TransportError> {
        // A matched probe hands us the message itself, so no other probe can steal it; rsmpi
        // insists that a matched message is received, which we do at once.
        let Some(probed) = self.world.any_process().immediate_matched_probe() else {
            return Ok(None);
        };
        let (bytes, status) = probed.matched_receive_vec::<u8>();
        Ok(Some((PeerId(status.source_rank() as u32), bytes)))
    }
}
