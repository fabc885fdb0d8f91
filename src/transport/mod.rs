//! How ranks reach each other. The actors never see this: only the pump does, through the
//! `Transport` trait, so the same pump runs over MPI in production and over channels in tests.

pub mod local;
// Compiled under loom too (it names no shared-memory primitive, so nothing in it is modelled):
// then `main.rs` needs only one gate, on `main` itself.
#[cfg(feature = "mpi")]
pub mod mpi;

use crate::model::PeerId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Another rank failed and the whole job is being torn down (in-process transport only;
    /// under MPI the failing rank aborts every process itself).
    #[error("another rank failed")]
    Aborted,
    #[error("cannot send to rank {0}: {1}")]
    Send(PeerId, String),
}

pub trait Transport {
    /// This rank's peer id.
    fn me(&self) -> PeerId;
    /// How many ranks take part, the tracker included.
    fn ranks(&self) -> u32;
    /// Sends a copy of `bytes`: the caller may reuse them at once.
    fn send(&mut self, to: PeerId, bytes: &[u8]) -> Result<(), TransportError>;
    /// A message that has arrived, if any; never blocks. The bytes are lent until the next poll
    /// (the transport reuses one buffer, sparing an allocation a message).
    fn poll(&mut self) -> Result<Option<(PeerId, &[u8])>, TransportError>;
    /// Waits until every rank has reached this point (for timing from a common start).
    fn barrier(&mut self);
}
