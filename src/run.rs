//! One swarm run: which role each rank plays, and the in-process runner that plays them all.

use std::path::PathBuf;

use crate::input;
use crate::model::PeerId;
use crate::peer::PeerConfig;
use crate::pump::{self, PeerOutcome, RankError, TrackerOutcome};
use crate::sync::atomic::Ordering;
use crate::transport::local::LocalNetwork;
use crate::transport::{Transport, TransportError};

/// The smallest swarm: a tracker and two peers.
pub const MIN_RANKS: u32 = 3;

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub input_dir: PathBuf,
    pub peer: PeerConfig,
}

/// What one rank's run produced.
pub enum RankOutcome {
    Tracker(TrackerOutcome),
    Peer(PeerOutcome),
}

#[derive(Debug, thiserror::Error)]
#[error("a swarm needs at least {MIN_RANKS} ranks (the tracker and two peers), not {0}")]
pub struct TooFewRanks(pub u32);

/// Plays the role of `transport.me()`: rank 0 tracks, every other rank is a peer.
///
/// A panic on the rank's own thread (the tracker's, or a peer's pump: an actor's panic is caught
/// where the actor runs, see `peer::actor::Seat`) comes back as the rank's fatal error, naming
/// the rank, so that it takes the one path every error takes: under mpirun `main` says it and
/// aborts the world, in one process `run_local` tells every other rank to stop. Caught here,
/// not seen from a panic hook, because the rank's caller owns the transport and is the one
/// that can end the job through it; a hook would need the transport, or the in-process abort
/// flag, in a global. The transport itself is outside the catch, so it is never dropped while
/// unwinding (which under MPI could wait on sends to ranks that are being torn down).
pub fn run_rank<T: Transport>(transport: &mut T, config: &RunConfig) -> Result<RankOutcome, RankError> {
    let me = transport.me();
    crate::sync::thread::catch_panic(|| play_rank(transport, config)).unwrap_or_else(|panic| {
        let who =
            if me == PeerId::TRACKER { "rank 0: the tracker".to_string() } else { format!("peer {me}: the pump") };
        Err(RankError::Fatal(format!("{who} panicked: {panic}")))
    })
}

fn play_rank<T: Transport>(transport: &mut T, config: &RunConfig) -> Result<RankOutcome, RankError> {
    let me = transport.me();
    if me == PeerId::TRACKER {
        let test_panic = config.peer.test_panic.armed(crate::test_panic::Site::Tracker, me);
        return Ok(RankOutcome::Tracker(pump::run_tracker(transport, test_panic)?));
    }
    let input = input::read_peer_input(&config.input_dir.join(format!("in{me}.txt")))?;
    // Make the output folder now, so that a bad one fails the job before any peer starts rather
    // than when the first file is finished.
    let output_dir = &config.peer.output_dir;
    std::fs::create_dir_all(output_dir).map_err(|error| {
        RankError::Fatal(format!("cannot create the output folder {}: {error}", output_dir.display()))
    })?;
    Ok(RankOutcome::Peer(pump::run_peer(transport, input, &config.peer)?))
}

/// Everything an in-process run produced, rank by rank.
pub struct LocalRun {
    pub tracker: TrackerOutcome,
    pub peers: Vec<PeerOutcome>,
}

/// Runs a whole swarm in this process: the tracker and `ranks - 1` peers, each a thread with
/// its own pump and actors, over the in-process transport. The first rank to fail (with an
/// error, or a panic, which `run_rank` turns into one) stops the others, and its error is
/// returned.
pub fn run_local(ranks: u32, config: &RunConfig) -> Result<LocalRun, RankError> {
    if ranks < MIN_RANKS {
        return Err(RankError::Fatal(TooFewRanks(ranks).to_string()));
    }
    let mut network = LocalNetwork::new(ranks);
    let abort = network.abort_flag();
    let handles: Vec<_> = (0..ranks)
        .map(|rank| {
            let mut transport = network.endpoint(rank);
            let config = config.clone();
            let abort = abort.clone();
            crate::sync::thread::spawn_named(format!("rank{rank}"), move || {
                let result = run_rank(&mut transport, &config);
                if result.is_err() {
                    // Relaxed: the flag carries no data, it only tells the other ranks to give up.
                    abort.store(true, Ordering::Relaxed);
                }
                result
            })
        })
        .collect();
    let mut tracker = None;
    let mut peers = Vec::new();
    let mut first_error = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(RankOutcome::Tracker(outcome))) => tracker = Some(outcome),
            Ok(Ok(RankOutcome::Peer(outcome))) => peers.push(outcome),
            // Ranks that stopped because another failed say nothing of the cause.
            Ok(Err(RankError::Transport(TransportError::Aborted))) => {}
            Ok(Err(error)) => {
                first_error.get_or_insert(error);
            }
            // `run_rank` catches panics; one that escaped would be its own bug.
            Err(_) => {
                first_error.get_or_insert(RankError::Fatal("a rank panicked".into()));
            }
        }
    }
    match (first_error, tracker) {
        (Some(error), _) => Err(error),
        (None, Some(tracker)) => Ok(LocalRun { tracker, peers }),
        (None, None) => Err(RankError::Fatal("the tracker did not finish".into())),
    }
}
