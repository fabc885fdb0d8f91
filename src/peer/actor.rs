//! What every actor of a peer can do, and where it runs.
//!
//! An actor owns its state and its mailbox and is driven by the mail it gets. Who gives it its
//! turns is a separate choice, the [`Placement`]: a thread of its own that waits on the mailbox
//! (`run`), or the pump's thread, which gives it a turn after every round (`step`). The actor's
//! code is the same either way, as a tokio task is the same on either of tokio's runtimes.

use std::fmt;

use super::{Outbox, PumpCommand};
use crate::model::PeerId;
use crate::sync::thread::{self, JoinHandle};

/// Where a peer's actors run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// On the pump's thread, each given a turn after every round of the pump: one thread per
    /// rank, so MPI can run without locks (`MPI_THREAD_SINGLE`). A reply reaches the scheduler,
    /// and its next request the transport, with no thread switch: a hand-over between two
    /// threads of a rank waits for the receiving thread's next time slice when ranks outnumber
    /// cores, and those waits, not the work, were most of the protocol's time.
    #[default]
    Pump,
    /// Each on a thread of its own, as the pthreads original had it: truly parallel with the
    /// pump, which pays when every rank has cores to itself.
    Threads,
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Placement::Pump => "pump",
            Placement::Threads => "threads",
        })
    }
}

pub trait Actor: Send + 'static {
    /// What the actor did, handed back when it ends.
    type Output: Default + Send + 'static;
    /// Its whole life on a thread of its own: waits for mail and handles it until it ends.
    fn run(self) -> Self::Output;
    /// One turn on a thread that has other work: handles the mail already waiting and never
    /// waits for more. True if there was any.
    fn step(&mut self) -> bool;
    /// Ends an actor that ran by turns: takes the mail still waiting, then sums up.
    fn stop(self) -> Self::Output;
}

/// Where one actor is, as the run goes on.
///
/// A panic in an actor, on either placement, becomes the rank's one fatal error: the seat
/// catches it where the actor was given its turn (the pump's `step`, or the top of the actor's
/// own thread) and sends the pump a `Fatal` naming the peer, the actor and the panic's message,
/// as any other error an actor meets does. Caught rather than seen from a panic hook because
/// the pump is then the one to end the job (under mpirun only its thread may call MPI, so it
/// is the one to call `MPI_Abort`), and because on the pump's thread the pump goes on to stop
/// the other actors, take the writer's last files, and join the actor threads, as after any
/// error. An actor that panicked is dropped, never given another turn.
pub enum Seat<A: Actor> {
    Thread(JoinHandle<A::Output>),
    Pump(Box<A>, PanicAlarm),
    /// It ran by turns and has stopped (or panicked).
    Stopped(A::Output),
}

impl<A: Actor> Seat<A> {
    /// Seats `actor` as `placement` says; a thread of its own is named `peer<me>-<role>`.
    pub fn new(placement: Placement, actor: A, me: PeerId, role: &'static str, outbox: &Outbox) -> Seat<A> {
        let alarm = PanicAlarm { outbox: outbox.clone(), me, role };
        match placement {
            Placement::Pump => Seat::Pump(Box::new(actor), alarm),
            Placement::Threads => Seat::Thread(thread::spawn_named(format!("peer{me}-{role}"), move || {
                alarm.guard(|| actor.run()).unwrap_or_default()
            })),
        }
    }

    /// Gives an actor on the pump's thread its turn. True if it had mail (or panicked: the
    /// pump then has the fatal error to take).
    pub fn step(&mut self) -> bool {
        let Seat::Pump(actor, alarm) = self else { return false };
        match alarm.guard(|| actor.step()) {
            Some(had_mail) => had_mail,
            None => {
                *self = Seat::Stopped(A::Output::default());
                true
            }
        }
    }

    /// Stops an actor on the pump's thread; one on its own thread ends by itself.
    pub fn stop_on_pump(&mut self) {
        if let Seat::Pump(..) = self {
            let Seat::Pump(actor, alarm) = std::mem::replace(self, Seat::Stopped(A::Output::default())) else {
                unreachable!("matched just above")
            };
            *self = Seat::Stopped(alarm.guard(|| actor.stop()).unwrap_or_default());
        }
    }

    /// What the actor did, once it has ended (stopped first if it ran by turns). An actor that
    /// panicked did nothing that counts: the job is failing anyway.
    pub fn join(mut self) -> A::Output {
        self.stop_on_pump();
        match self {
            Seat::Thread(handle) => handle.join().unwrap_or_default(),
            Seat::Stopped(output) => output,
            Seat::Pump(..) => unreachable!("stopped above"),
        }
    }
}

/// Turns an actor's panic into a fatal error of its rank, which the pump acts on: without it,
/// an actor's thread would vanish and leave the swarm waiting for it forever, and a panic on
/// the pump's thread would unwind the rank past the abort of the job. It holds a sender of the
/// pump's outbox, so it lives exactly as long as the actor it guards (the outbox closes when
/// every actor has ended).
pub struct PanicAlarm {
    outbox: Outbox,
    me: PeerId,
    role: &'static str,
}

impl PanicAlarm {
    /// Runs `work`; `None` if it panicked, the pump having been told.
    fn guard<T>(&self, work: impl FnOnce() -> T) -> Option<T> {
        let panic = match thread::catch_panic(work) {
            Ok(done) => return Some(done),
            Err(panic) => panic,
        };
        let what = format!("peer {}: the {} actor panicked: {panic}", self.me, self.role);
        let _ = self.outbox.send(PumpCommand::Fatal(what));
        None
    }
}
