//! The pump: a rank's main thread, the only one that touches the transport.
//!
//! For a peer it sends what the actors put in its outbox and routes what arrives to the actor it
//! is for; for the tracker it feeds the tracker's state machine. It never blocks in the
//! transport: it polls, and when a round finds nothing to do it backs off, so that many ranks
//! can share two cores.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::input::{InputError, PeerInput};
use crate::model::PeerId;
use crate::peer::{self, PeerConfig, PumpCommand, Route};
use crate::sync::{Receiver, TryRecv};
use crate::test_panic::Site;
use crate::tracker::{Phase, Tracker, TrackerError};
use crate::transport::{Transport, TransportError};
use crate::wire::{DecodeError, Message, MessageKind, PeerReport};

#[derive(Debug, thiserror::Error)]
pub enum RankError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error("rank {at}: malformed message from rank {from}: {error}")]
    Decode { at: PeerId, from: PeerId, error: DecodeError },
    #[error("rank {at}: unexpected {kind:?} from rank {from}")]
    Unexpected { at: PeerId, from: PeerId, kind: MessageKind },
    #[error("{0}")]
    Fatal(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Messages sent, by kind: the pump sees every one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Traffic {
    pub sent: [u64; MessageKind::ALL.len()],
}

impl Traffic {
    fn count(&mut self, message: &Message) {
        self.sent[message.kind().tag() as usize] += 1;
    }
}

/// The pump's way out: counts each message by kind and encodes it into one reused buffer, sparing
/// an allocation a message (the transport copies what it must keep).
#[derive(Default)]
struct Outgoing {
    traffic: Traffic,
    buffer: Vec<u8>,
}

impl Outgoing {
    fn send<T: Transport>(&mut self, transport: &mut T, to: PeerId, message: &Message) -> Result<(), RankError> {
        self.traffic.count(message);
        message.encode_into(&mut self.buffer);
        transport.send(to, &self.buffer)?;
        Ok(())
    }
}

fn receive<T: Transport>(transport: &mut T) -> Result<Option<(PeerId, Message)>, RankError> {
    let Some((from, bytes)) = transport.poll()? else { return Ok(None) };
    let message = Message::decode(bytes).map_err(|error| RankError::Decode { at: transport.me(), from, error })?;
    Ok(Some((from, message)))
}

/// How long an idle pump waits. While the rank has been busy lately it only yields the core
/// between looks (an answer is usually microseconds away, and under MPI nothing wakes a waiting
/// thread when a message arrives); once idle for a while it waits in steps that double up to a
/// ceiling, so that an idle rank costs the machine next to nothing.
struct Backoff {
    idle_since: Option<Instant>,
    /// Idle rounds in a row.
    idle_rounds: u32,
    idle_waits: u32,
}

impl Backoff {
    /// How long after its last work a rank still counts as busy and only yields.
    const BUSY_SPELL: Duration = Duration::from_millis(2);
    /// The longest an idle rank waits between two looks at the transport.
    const LONGEST_WAIT: Duration = Duration::from_micros(200);
    /// Idle rounds between two looks at the clock while busy. A round that yields takes a
    /// microsecond or more, so this overshoots the busy spell by little, and spares the
    /// clock read that once cost as much as the rest of an idle round.
    const ROUNDS_PER_CLOCK_READ: u32 = 16;

    fn new() -> Backoff {
        Backoff { idle_since: None, idle_rounds: 0, idle_waits: 0 }
    }

    fn reset(&mut self) {
        self.idle_since = None;
        self.idle_rounds = 0;
        self.idle_waits = 0;
    }

    /// Spends an idle round: yields the core, or sleeps once idle for a while.
    fn idle(&mut self) {
        match self.next_wait() {
            None => crate::sync::thread::yield_now(),
            Some(wait) => crate::sync::thread::sleep(wait),
        }
    }

    /// How long to wait this idle round; `None` means just yield.
    fn next_wait(&mut self) -> Option<Duration> {
        self.idle_rounds = self.idle_rounds.saturating_add(1);
        if self.idle_waits == 0 {
            if self.idle_rounds % Self::ROUNDS_PER_CLOCK_READ != 1 {
                return None;
            }
            let idle_since = *self.idle_since.get_or_insert_with(Instant::now);
            if idle_since.elapsed() < Self::BUSY_SPELL {
                return None;
            }
        }
        self.idle_waits = (self.idle_waits + 1).min(16);
        Some(Duration::from_micros(1u64 << self.idle_waits).min(Self::LONGEST_WAIT))
    }
}

/// The most messages a peer's pump takes in before it sends what is waiting.
const ROUND: usize = 256;

/// What a peer's run produced.
pub struct PeerOutcome {
    pub report: PeerReport,
    pub traffic: Traffic,
}

/// Runs peer `transport.me()` from its input until the tracker says stop, then reports.
pub fn run_peer<T: Transport>(
    transport: &mut T,
    input: PeerInput,
    config: &PeerConfig,
) -> Result<PeerOutcome, RankError> {
    let me = transport.me();
    let (outbox, commands) = crate::sync::mailbox();
    let (router, mut actors) = peer::start(me, input, config, outbox);
    let mut out = Outgoing::default();
    let test_panic = config.test_panic.armed(Site::Pump, me);
    let pumped = pump_peer(transport, router, &mut actors, &commands, &mut out, test_panic);
    // Every path out of `pump_peer` has dropped the router, so the actors end.
    let mut report = actors.join();
    pumped?;
    // The report counts itself, so the figures add up to what crossed the wire.
    report.sent = out.traffic.sent.to_vec();
    report.sent[MessageKind::Report.tag() as usize] += 1;
    out.send(transport, PeerId::TRACKER, &Message::Report(report.clone()))?;
    Ok(PeerOutcome { report, traffic: out.traffic })
}

/// Carries out one command from an actor.
fn execute<T: Transport>(transport: &mut T, out: &mut Outgoing, command: PumpCommand) -> Result<(), RankError> {
    match command {
        PumpCommand::Send { to, message } => out.send(transport, to, &message),
        PumpCommand::SendAll(messages) => {
            messages.iter().try_for_each(|(to, message)| out.send(transport, *to, message))
        }
        PumpCommand::Fatal(what) => Err(RankError::Fatal(what)),
    }
}

fn pump_peer<T: Transport>(
    transport: &mut T,
    router: peer::Router,
    actors: &mut peer::Actors,
    commands: &Receiver<PumpCommand>,
    out: &mut Outgoing,
    test_panic: bool,
) -> Result<(), RankError> {
    let me = transport.me();
    let mut router = Some(router);
    let mut backoff = Backoff::new();
    let result = (|| loop {
        let mut worked = false;
        // A bounded round, so that a steady stream in cannot starve what goes out.
        for _ in 0..ROUND {
            let Some((from, message)) = receive(transport)? else { break };
            worked = true;
            let kind = message.kind();
            let route = match &mut router {
                Some(router) => router.route(from, message),
                None => Route::Unexpected,
            };
            match route {
                Route::Delivered => {}
                Route::Answer(reply) => out.send(transport, from, &reply)?,
                // Dropping the router closes the upload server's and scheduler's mailboxes
                // (once the mirror, which holds the scheduler's too, has seen the stop); the
                // actors on this thread stop at once.
                Route::Stop => {
                    router = None;
                    actors.stop_on_pump();
                }
                Route::Unexpected => return Err(RankError::Unexpected { at: me, from, kind }),
            }
        }
        if let Some(router) = &mut router {
            let flushed = router.flush();
            if flushed && test_panic {
                crate::test_panic::trip(Site::Pump);
            }
            worked |= flushed;
        }
        // The actors that run on this thread take what was just routed to them, so that their
        // requests go out in this same round.
        worked |= actors.take_turn();
        let mut next = commands.try_recv();
        loop {
            match next {
                TryRecv::Item(command) => execute(transport, out, command)?,
                TryRecv::Empty => break,
                // Every actor has ended: after a stop, that is the end of the pump's work.
                TryRecv::Closed => return Ok(()),
            }
            worked = true;
            next = commands.try_recv();
        }
        if worked {
            backoff.reset();
            continue;
        }
        // Idle: wait on the outbox, so that an actor's message wakes us at once; the transport
        // is looked at again when the wait ends.
        match backoff.next_wait() {
            None => crate::sync::thread::yield_now(),
            Some(wait) => match commands.recv_timeout(wait) {
                TryRecv::Item(command) => {
                    backoff.reset();
                    execute(transport, out, command)?
                }
                TryRecv::Empty => {}
                TryRecv::Closed => return Ok(()),
            },
        }
    })();
    if result.is_err()
        && let Some(router) = router.take()
    {
        router.abort();
    }
    if result.is_err() {
        actors.stop_on_pump();
    }
    result
}

/// What the tracker's run produced.
pub struct TrackerOutcome {
    pub tracker: Tracker,
    /// From the go-ahead to the stop: the protocol itself, without start-up.
    pub protocol_time: Duration,
    /// From the go-ahead to each peer's "all done".
    pub done_after: BTreeMap<PeerId, Duration>,
    pub traffic: Traffic,
}

/// Runs the tracker until every peer has sent its report after the stop. `test_panic`: panic
/// right after the go (test-only, `crate::test_panic`).
pub fn run_tracker<T: Transport>(transport: &mut T, test_panic: bool) -> Result<TrackerOutcome, RankError> {
    let peers = transport.ranks() - 1;
    let mut tracker = Tracker::new(peers);
    let mut out = Outgoing::default();
    let mut backoff = Backoff::new();
    let mut went_at: Option<Instant> = None;
    let mut stopped_at = None;
    let mut done_after = BTreeMap::new();
    while tracker.phase() != Phase::Finished {
        let Some((from, message)) = receive(transport)? else {
            backoff.idle();
            continue;
        };
        backoff.reset();
        if let (Some(went), Message::AllDone) = (went_at, &message) {
            done_after.insert(from, went.elapsed());
        }
        let before = tracker.phase();
        for (to, reply) in tracker.handle(from, message)? {
            out.send(transport, to, &reply)?;
        }
        match (before, tracker.phase()) {
            (Phase::Registering, Phase::Running) => {
                went_at = Some(Instant::now());
                if test_panic {
                    crate::test_panic::trip(Site::Tracker);
                }
            }
            (Phase::Running, Phase::Stopping) => stopped_at = Some(Instant::now()),
            _ => {}
        }
    }
    let protocol_time = match (went_at, stopped_at) {
        (Some(went), Some(stopped)) => stopped - went,
        _ => Duration::ZERO,
    };
    Ok(TrackerOutcome { tracker, protocol_time, done_after, traffic: out.traffic })
}
