//! The floor: the cheapest way known to do the swarm's request/reply exchanges over MPI, with no
//! swarm logic at all, to measure the protocol against.
//!
//! One thread per rank polls MPI and answers requests at once; every peer keeps a window of
//! requests out to the other peers in turn until it has made its share of exchanges. Rank 0 only
//! times the run and says stop when every peer is done, as the tracker does. Messages are the
//! size of the swarm's segment request and reply.

use std::time::{Duration, Instant};

use crate::model::PeerId;
use crate::transport::{Transport, TransportError};

const REQUEST: u8 = 1;
const REPLY: u8 = 2;
const DONE: u8 = 3;
const STOP: u8 = 4;
const GO: u8 = 5;

/// What the floor run measured, at rank 0.
pub struct FloorOutcome {
    pub exchanges: u64,
    pub elapsed: Duration,
}

/// Runs this rank's part of the floor: `exchanges` request/replies per peer, `window` at a time.
/// Rank 0 returns the time from its go to its stop; the others return `None`.
pub fn run<T: Transport>(
    transport: &mut T,
    exchanges: u64,
    window: u64,
) -> Result<Option<FloorOutcome>, TransportError> {
    let me = transport.me();
    let ranks = transport.ranks();
    let peers = ranks - 1;
    // Same payload sizes as the swarm's: a request of 10 bytes, a reply (a yes) of 18.
    let request = [REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let reply = [REPLY, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    transport.barrier();
    if me == PeerId::TRACKER {
        for peer in 1..ranks {
            transport.send(PeerId(peer), &[GO])?;
        }
        let started = Instant::now();
        let mut done = 0;
        while done < peers {
            match transport.poll()? {
                Some((_, bytes)) if bytes.first() == Some(&DONE) => done += 1,
                Some(_) => {}
                None => std::hint::spin_loop(),
            }
        }
        let elapsed = started.elapsed();
        for peer in 1..ranks {
            transport.send(PeerId(peer), &[STOP])?;
        }
        return Ok(Some(FloorOutcome { exchanges: exchanges * peers as u64, elapsed }));
    }
    let mut started = false;
    let mut sent = 0u64;
    let mut answered = 0u64;
    let mut next_target = me.0 % peers + 1; // start at the next peer, skip self
    let mut reported = false;
    loop {
        while started && sent - answered < window && sent < exchanges {
            if next_target == me.0 {
                next_target = next_target % peers + 1;
            }
            transport.send(PeerId(next_target), &request)?;
            next_target = next_target % peers + 1;
            sent += 1;
        }
        if started && answered == exchanges && !reported {
            transport.send(PeerId::TRACKER, &[DONE])?;
            reported = true;
        }
        match transport.poll()? {
            Some((from, bytes)) => match bytes.first() {
                Some(&REQUEST) => transport.send(from, &reply)?,
                Some(&REPLY) => answered += 1,
                Some(&STOP) => return Ok(None),
                Some(&GO) => started = true,
                _ => {}
            },
            None => std::hint::spin_loop(),
        }
    }
}
