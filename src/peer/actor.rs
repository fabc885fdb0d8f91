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
pub enum Seat<A: Actor> {
    Thread(JoinHandle<A::Output>),
    Pump(Box<A>),
    /// It ran by turns and has stopped.
    Stopped(A::Output),
}

impl<A: Actor> Seat<A> {
    /// Seats `actor` as `placement` says; a thread of its own is named `peer<me>-<role>`.
    pub fn new(placement: Placement, actor: A, me: PeerId, role: &'static str, outbox: &Outbox) -> Seat<A> {
        match placement {
            Placement::Pump => Seat::Pump(Box::new(actor)),
            Placement::Threads => {
                let alarm = PanicAlarm(outbox.clone(), role);
                Seat::Thread(thread::spawn_named(format!("peer{me}-{role}"), move || {
                    let _alarm = alarm;
                    actor.run()
                }))
            }
        }
    }

    /// Gives an actor on the pump's thread its turn. True if it had mail.
    pub fn step(&mut self) -> bool {
        match self {
            Seat::Pump(actor) => actor.step(),
            Seat::Thread(_) | Seat::Stopped(_) => false,
        }
    }

    /// Stops an actor on the pump's thread; one on its own thread ends by itself.
    pub fn stop_on_pump(&mut self) {
        if let Seat::Pump(_) = self {
            let Seat::Pump(actor) = std::mem::replace(self, Seat::Stopped(A::Output::default())) else {
                unreachable!("matched just above")
            };
            *self = Seat::Stopped(actor.stop());
        }
    }

    /// What the actor did, once it has ended (stopped first if it ran by turns). An actor whose
    /// thread panicked did nothing that counts: the job is failing anyway.
    pub fn join(mut self) -> A::Output {
        self.stop_on_pump();
        match self {
            Seat::Thread(handle) => handle.join().unwrap_or_default(),
            Seat::Stopped(output) => output,
            Seat::Pump(_) => unreachable!("stopped above"),
        }
    }
}

/// Ends the job if an actor's thread panics: the thread would otherwise vanish and leave the
/// swarm waiting for it forever. (On the pump's thread a panic ends the rank by itself.)
struct PanicAlarm(Outbox, &'static str);

impl Drop for PanicAlarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(PumpCommand::Fatal(format!("the {} actor panicked", self.1)));
        }
    }
}
