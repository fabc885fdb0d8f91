//! The mailbox (`bitorrent::sync::mailbox`), the peer's actors and its stop protocol, under loom.
//!
//! What is checked is the loom side of the shim (a loom `Mutex<VecDeque>` with a `Condvar` that
//! counts senders), whose contract production's crossbeam channel is trusted to share, and the
//! protocols built on it: the actors' "run until every sender is gone", the mirror's explicit
//! stop that breaks the mirror <-> scheduler cycle, the pump draining its outbox until it
//! closes, and the upload desk deferring requests to the upload server. The last models drive
//! the production actors themselves (`peer::start`, `Router`, `UploadServer`/`UploadDesk`),
//! with the model's main thread as the pump: with the actors on threads of their own, 5 threads,
//! loom's limit.
//!
//! loom fails a model that deadlocks ("deadlock; threads = [...]") or in which a thread spins
//! forever waiting (it exceeds its branch limit). A deadlock found while the model's main
//! thread holds a loom `Arc` is printed and then aborts the test binary as loom unwinds (loom
//! 0.7 limitation, tokio-rs/loom#297): the message before the abort is the finding.
//!
//! Run: `LOOM_MAX_PREEMPTIONS=2 cargo test --release --features loom --test loom_mailbox`

mod common;

use std::collections::VecDeque;
use std::path::PathBuf;

use bitorrent::input::PeerInput;
use bitorrent::model::{FileId, FileName, OwnedFile, PeerId, SegmentHash};
use bitorrent::peer::actor::Actor;
use bitorrent::peer::{self, Actors, PeerConfig, Placement, PumpCommand, Route};
use bitorrent::sync::{self, Receiver, Sender, TryRecv, thread};
use bitorrent::wire::Message;

/// A message: which sender sent it, and its place in that sender's sequence.
type Note = (u32, u32);

/// What the generic models need of a mailbox: production's, or a planted-bug one.
trait Mailbox: 'static {
    type Tx: Clone + Send + 'static;
    type Rx: Send + 'static;
    fn open() -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, note: Note) -> bool;
    fn recv(rx: &Self::Rx) -> Option<Note>;
    fn try_recv(rx: &Self::Rx) -> TryRecv<Note>;
}

struct Production;

impl Mailbox for Production {
    type Tx = Sender<Note>;
    type Rx = Receiver<Note>;
    fn open() -> (Self::Tx, Self::Rx) {
        sync::mailbox()
    }
    fn send(tx: &Self::Tx, note: Note) -> bool {
        tx.send(note).is_ok()
    }
    fn recv(rx: &Self::Rx) -> Option<Note> {
        rx.recv()
    }
    fn try_recv(rx: &Self::Rx) -> TryRecv<Note> {
        rx.try_recv()
    }
}

/// Two senders (the second a clone of the first, as every actor's handle is) each send two
/// messages and drop; the receiver loops on `recv` as every actor does. Checks: `recv` returns
/// `None` only once both senders are gone and every message has been received (none lost), each
/// sender's messages arrive in the order sent, and `try_recv` then says `Closed`.
fn recv_until_none<M: Mailbox>() {
    let (tx, rx) = M::open();
    let senders: Vec<_> = [tx.clone(), tx]
        .into_iter()
        .enumerate()
        .map(|(who, tx)| {
            thread::spawn_named(format!("sender{who}"), move || {
                for seq in 0..2 {
                    assert!(M::send(&tx, (who as u32, seq)), "the receiver is alive");
                }
            })
        })
        .collect();
    let mut received = Vec::new();
    while let Some(note) = M::recv(&rx) {
        received.push(note);
    }
    let closed = matches!(M::try_recv(&rx), TryRecv::Closed);
    // Join before asserting: a model that fails while another thread is still suspended makes
    // loom 0.7 panic again as it tears that thread down, and the test binary aborts (loom#350).
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(received.len(), 4, "recv said None before every message arrived: {received:?}");
    for who in 0..2 {
        let seqs: Vec<u32> = received.iter().filter(|note| note.0 == who).map(|note| note.1).collect();
        assert_eq!(seqs, [0, 1], "sender {who}'s messages out of order: {received:?}");
    }
    assert!(closed, "after None, try_recv must say Closed");
}

/// Two senders each send one message and drop; the receiver polls `try_recv` as the pump does,
/// yielding when it finds nothing. Checks: `Closed` comes only after both messages.
fn try_recv_until_closed<M: Mailbox>() {
    let (tx, rx) = M::open();
    let senders: Vec<_> = [tx.clone(), tx]
        .into_iter()
        .enumerate()
        .map(|(who, tx)| thread::spawn_named(format!("sender{who}"), move || assert!(M::send(&tx, (who as u32, 0)))))
        .collect();
    let mut received = 0;
    loop {
        match M::try_recv(&rx) {
            TryRecv::Item(_) => received += 1,
            TryRecv::Empty => thread::yield_now(),
            TryRecv::Closed => break,
        }
    }
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(received, 2, "try_recv said Closed before every message arrived");
}

#[test]
fn recv_returns_none_only_after_every_sender_and_message() {
    common::check("mailbox/recv_until_none", recv_until_none::<Production>);
}

#[test]
fn try_recv_says_closed_only_when_drained() {
    common::check("mailbox/try_recv_until_closed", try_recv_until_closed::<Production>);
}

/// The receiving side's drop makes `send` fail, so a sender learns its peer is gone.
#[test]
fn send_fails_once_the_receiver_is_gone() {
    common::check("mailbox/send_after_receiver_gone", || {
        let (tx, rx) = sync::mailbox::<u32>();
        let receiver = thread::spawn_named("receiver".into(), move || {
            let got = rx.try_recv();
            drop(rx);
            matches!(got, TryRecv::Item(_))
        });
        let first = tx.send(1);
        let received = receiver.join().unwrap();
        assert!(tx.send(2).is_err(), "sent to a dropped receiver");
        assert!(!received || first.is_ok(), "received a message whose send failed");
    });
}

// ---------------------------------------------------------------------------------------------
// The stop protocol, built from the production mailbox with actors shaped like the peer's.
// ---------------------------------------------------------------------------------------------

enum Mail {
    Work(u32),
    /// From the scheduler to the mirror (the every-10-segments swarm refresh).
    Refresh,
    /// From the pump to the mirror (the tracker's stop).
    Stop,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Out {
    Did(&'static str, u32),
    Refreshed,
}

/// The pump (the model's main thread) routes one piece of work to each of three actors, then
/// the tracker's stop to the mirror, drops its senders and drains its outbox until `Closed`.
/// - upload: loops on `recv` until `None`, forwarding each piece of work to the outbox;
/// - scheduler: the same, and sends the mirror a refresh for each piece of work;
/// - mirror: holds the scheduler's sender (as the scheduler holds its), so it ends on the
///   explicit stop (`STOP_ON_MESSAGE`) and, by returning, drops the scheduler's last sender.
///
/// Checks: nothing deadlocks, every piece of work reaches the outbox exactly once, a refresh at
/// most once (the mirror may stop before it), the outbox closes, every actor joins.
/// With `STOP_ON_MESSAGE = false` the mirror ignores the stop and waits for its mailbox to close,
/// which the cycle prevents: the planted bug below.
fn stop_protocol<const STOP_ON_MESSAGE: bool>() {
    let (outbox, commands) = sync::mailbox::<Out>();
    let (to_upload, upload_mail) = sync::mailbox::<Mail>();
    let (to_scheduler, scheduler_mail) = sync::mailbox::<Mail>();
    let (to_mirror, mirror_mail) = sync::mailbox::<Mail>();

    let upload = {
        let outbox = outbox.clone();
        thread::spawn_named("upload".into(), move || {
            while let Some(mail) = upload_mail.recv() {
                if let Mail::Work(n) = mail {
                    let _ = outbox.send(Out::Did("upload", n));
                }
            }
        })
    };
    let scheduler = {
        let outbox = outbox.clone();
        let mirror = to_mirror.clone();
        thread::spawn_named("scheduler".into(), move || {
            while let Some(mail) = scheduler_mail.recv() {
                if let Mail::Work(n) = mail {
                    let _ = outbox.send(Out::Did("scheduler", n));
                    let _ = mirror.send(Mail::Refresh); // fails harmlessly once the mirror stopped
                }
            }
        })
    };
    let mirror = {
        let outbox = outbox.clone();
        let scheduler = to_scheduler.clone(); // the cycle: mirror -> scheduler -> mirror
        thread::spawn_named("mirror".into(), move || {
            let _scheduler = scheduler;
            while let Some(mail) = mirror_mail.recv() {
                match mail {
                    Mail::Work(n) => drop(outbox.send(Out::Did("mirror", n))),
                    Mail::Refresh => drop(outbox.send(Out::Refreshed)),
                    Mail::Stop if STOP_ON_MESSAGE => return,
                    Mail::Stop => {}
                }
            }
        })
    };
    drop(outbox); // the actors hold the outbox's only senders now, as in `peer::start`

    for router in [&to_upload, &to_scheduler, &to_mirror] {
        assert!(router.send(Mail::Work(1)).is_ok(), "an actor stopped before the stop");
    }
    assert!(to_mirror.send(Mail::Stop).is_ok());
    drop((to_upload, to_scheduler, to_mirror)); // the pump drops its router

    let mut out = Vec::new();
    loop {
        match commands.try_recv() {
            TryRecv::Item(item) => out.push(item),
            TryRecv::Empty => thread::yield_now(),
            TryRecv::Closed => break,
        }
    }
    for actor in [upload, scheduler, mirror] {
        actor.join().unwrap();
    }
    out.sort();
    let refreshes = out.iter().filter(|&item| *item == Out::Refreshed).count();
    out.retain(|item| *item != Out::Refreshed);
    assert_eq!(out, [Out::Did("mirror", 1), Out::Did("scheduler", 1), Out::Did("upload", 1)], "work lost or doubled");
    assert!(refreshes <= 1);
}

#[test]
fn the_stop_protocol_delivers_everything_and_ends() {
    common::check_with("mailbox/stop_protocol", 10_000, stop_protocol::<true>);
}

// ---------------------------------------------------------------------------------------------
// The real peer: `peer::start` (upload server, download scheduler, tracker mirror, file writer)
// and its `Router`, with the model's main thread playing the pump (what `pump::pump_peer` does
// with them, minus the transport) and the tracker. With the actors on threads of their own, 5
// threads: loom's limit.
// ---------------------------------------------------------------------------------------------

fn hash(n: u8) -> SegmentHash {
    SegmentHash::parse(&format!("{n:032x}")).unwrap()
}

/// Drains the outbox until `until` says it has seen enough (false if the outbox closes first);
/// every command sent is kept in `sent`. With the actors on threads of their own it waits in
/// `recv` where the pump polls `try_recv` and backs off: the same outcomes (`None` exactly when
/// `try_recv` would say `Closed`), and loom need not explore every turn of a polling loop, which
/// multiplies this model's executions. With the actors on the pump's thread it is the pump's
/// loop itself: give the actors their turn, take what is in the outbox, yield when there is none.
fn pump_outbox(
    actors: &mut Actors,
    placement: Placement,
    commands: &Receiver<PumpCommand>,
    sent: &mut Vec<(PeerId, Message)>,
    until: impl Fn(&[(PeerId, Message)]) -> bool,
) -> bool {
    while !until(sent) {
        let command = match placement {
            Placement::Threads => commands.recv(),
            Placement::Pump => {
                actors.take_turn();
                match commands.try_recv() {
                    TryRecv::Item(command) => Some(command),
                    TryRecv::Empty => {
                        thread::yield_now();
                        continue;
                    }
                    TryRecv::Closed => None,
                }
            }
        };
        match command {
            Some(PumpCommand::Send { to, message }) => sent.push((to, message)),
            Some(PumpCommand::SendAll(batch)) => sent.extend(batch),
            Some(PumpCommand::Fatal(what)) => panic!("an actor failed: {what}"),
            None => return false,
        }
    }
    true
}

/// Peer 1 owns one file of one segment and wants nothing. The pump waits for the registration
/// (the tracker answers nothing before it), then routes the tracker's go; with `REQUEST` it
/// routes a segment request from peer 2 right after; with `ORDERLY_STOP` it waits for "all
/// done" (what the tracker waits for) before it routes the stop, else it routes the stop at
/// once. Then it drops the router, stops the actors on its thread, drains the outbox until it
/// closes and joins the actors.
///
/// The request is answered by the router at once (the upload desk, on the pump's thread) if the
/// mirror has published the book by then, or else deferred to the upload server, which answers
/// it through the outbox once the book has the file (the tracker can list us before our go
/// reaches us). Checks: exactly one answer, and a yes (a seed never refuses, however the go and
/// the request race); the registration, then only the answer and "all done" reach the outbox,
/// "all done" always before an orderly stop; nothing deadlocks, every actor ends, the outbox
/// closes, and the report counts the one upload.
///
/// `THREADS` puts the actors on threads of their own (upload server, scheduler, mirror and file
/// writer: 5 threads with the model's, loom's limit); else they run on the pump's thread, as in
/// production. A rank is then one thread and there is no interleaving to explore: the model
/// runs once and checks the turn order (the go reaches the scheduler, its "all done" the writer,
/// the writer's the mirror, all on the pump) and that the outbox closes once they stop.
///
/// Separate models, not one with every case: each takes seconds to a minute, together they would
/// take far longer (loom explores their interleavings as a product).
fn real_peer<const REQUEST: bool, const ORDERLY_STOP: bool, const THREADS: bool>() {
    let placement = if THREADS { Placement::Threads } else { Placement::Pump };
    let name = FileName::new("file1").unwrap();
    let input = PeerInput { owned: vec![OwnedFile { name: name.clone(), hashes: vec![hash(1)] }], wanted: vec![] };
    let config = PeerConfig {
        window: 1,
        seed: 1,
        output_dir: PathBuf::from("/nonexistent"),
        in_order: false,
        actors: placement,
        test_panic: Default::default(),
    };
    let (outbox, commands) = sync::mailbox();
    let (mut router, mut actors) = peer::start(PeerId(1), input, &config, outbox);

    let mut sent = Vec::new();
    let registered = |sent: &[(PeerId, Message)]| !sent.is_empty();
    assert!(
        pump_outbox(&mut actors, placement, &commands, &mut sent, registered),
        "the outbox closed before the registration"
    );
    assert!(matches!(&sent[0], (PeerId::TRACKER, Message::Register { .. })), "first the registration: {sent:?}");
    assert!(matches!(router.route(PeerId::TRACKER, Message::Go { owned: vec![(name, FileId(0))] }), Route::Delivered));
    let mut answers = Vec::new();
    if REQUEST {
        match router.route(PeerId(2), Message::SegmentRequest { file: FileId(0), segment: 0, with_bitfield: false }) {
            Route::Answer(reply) => answers.push(reply),
            Route::Delivered => {} // deferred: the upload server answers through the outbox
            _ => panic!("a segment request from a peer must be answered or deferred"),
        }
    }
    if ORDERLY_STOP {
        let all_done = |sent: &[(PeerId, Message)]| sent.iter().any(|(_, message)| *message == Message::AllDone);
        assert!(
            pump_outbox(&mut actors, placement, &commands, &mut sent, all_done),
            "the outbox closed before \"all done\""
        );
    }
    assert!(matches!(router.route(PeerId::TRACKER, Message::Stop), Route::Stop));
    drop(router);
    actors.stop_on_pump();
    assert!(!pump_outbox(&mut actors, placement, &commands, &mut sent, |_| false));
    let report = actors.join();

    let mut rest = Vec::new();
    for (to, message) in sent.into_iter().skip(1) {
        match message {
            Message::SegmentReply { .. } if to == PeerId(2) => answers.push(message),
            Message::AllDone if to == PeerId::TRACKER => {}
            other => rest.push((to, other)),
        }
    }
    assert!(rest.is_empty(), "unexpected commands: {rest:?}");
    let uploads = u64::from(REQUEST);
    let answer = Message::SegmentReply { file: FileId(0), segment: 0, granted: true, load: 1, held: vec![] };
    assert_eq!(answers, if REQUEST { vec![answer] } else { vec![] }, "one request, one yes");
    assert_eq!((report.uploaded, report.refused), (uploads, 0));
}

#[test]
fn the_real_peer_answers_a_request_racing_its_go_and_stops() {
    common::check_with("mailbox/real_peer_request_then_stop", 20_000, real_peer::<true, false, true>);
}

#[test]
fn the_real_peer_says_all_done_and_shuts_down() {
    common::check_with("mailbox/real_peer_orderly_stop", 20_000, real_peer::<false, true, true>);
}

#[test]
fn the_real_peer_on_the_pump_answers_a_request_racing_its_go_and_stops() {
    common::check_with("mailbox/real_peer_on_pump_request_then_stop", 20_000, real_peer::<true, false, false>);
}

#[test]
fn the_real_peer_on_the_pump_says_all_done_and_shuts_down() {
    common::check_with("mailbox/real_peer_on_pump_orderly_stop", 20_000, real_peer::<false, true, false>);
}

/// The upload desk's deferral on its own (src/peer/upload.rs), smaller than the whole peer so
/// loom can afford two requests: the pump asks the desk twice while the mirror publishes the
/// file (as `TrackerMirror::publish_book` does: publish the book, then tell the server) and
/// drops its handle; then the pump drops the desk and drains the outbox until it closes.
/// Checks: whether the desk answers at once or defers to the server, both requests get exactly
/// one answer, a yes (no deferred request is forgotten, however the publication races it), the
/// one that asked for the holder's bitfield gets it, the loads they report are 1 and 2, and the
/// server ends.
#[test]
fn the_upload_desk_answers_every_request_once_however_it_races_the_book() {
    use bitorrent::peer::segments::SegmentSet;
    use bitorrent::peer::upload::{SegmentBook, UploadServer};
    use bitorrent::sync::{Arc, SnapshotCell};

    common::check("mailbox/upload_desk_deferral", || {
        let book = Arc::new(SnapshotCell::new(SegmentBook::new()));
        let (outbox, commands) = sync::mailbox();
        let (server, mut desk, handle) = UploadServer::new(book.clone(), outbox);
        let state = server.state();
        let server = thread::spawn_named("upload".into(), move || server.run());
        let mirror = thread::spawn_named("mirror".into(), move || {
            let mut next = SegmentBook::clone(&book.load());
            next.insert(FileId(0), Arc::new(SegmentSet::full(2)));
            book.publish(Arc::new(next));
            handle.book_changed();
        });
        // The second request asks for the bitfield too, which must survive a deferral.
        let mut answers: Vec<Message> =
            (0..2).filter_map(|segment| desk.answer(PeerId(2), FileId(0), segment, segment == 1)).collect();
        drop(desk);
        let mut sent = Vec::new();
        while let Some(command) = commands.recv() {
            match command {
                PumpCommand::Send { to, message } => sent.push((to, message)),
                PumpCommand::SendAll(batch) => sent.extend(batch),
                PumpCommand::Fatal(what) => panic!("an actor failed: {what}"),
            }
        }
        for (to, message) in sent {
            assert_eq!(to, PeerId(2), "unexpected {message:?} to {to}");
            answers.push(message);
        }
        mirror.join().unwrap();
        server.join().unwrap();
        let mut answered: Vec<(u32, bool, Vec<u64>)> = answers
            .iter()
            .map(|answer| match answer {
                Message::SegmentReply { file: FileId(0), segment, granted, held, .. } => {
                    (*segment, *granted, held.clone())
                }
                other => panic!("not an answer: {other:?}"),
            })
            .collect();
        answered.sort();
        let expected = [(0, true, vec![]), (1, true, vec![0b11])];
        assert_eq!(
            answered, expected,
            "every request answered once, yes, the bitfield with the one that asked: {answers:?}"
        );
        let mut loads: Vec<u32> = answers
            .iter()
            .map(|answer| if let Message::SegmentReply { load, .. } = answer { *load } else { 0 })
            .collect();
        loads.sort();
        assert_eq!(loads, [1, 2], "each upload counted once: {answers:?}");
        let figures = state.figures();
        assert_eq!((figures.uploaded, figures.refused), (2, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// PLANTED BUGS: evidence that these models fail on a broken mailbox or a broken protocol.
// ---------------------------------------------------------------------------------------------

/// PLANTED BUG: a receiver that forgets the sender count: it takes an empty mailbox for a
/// closed one (`recv` gives `None` as soon as nothing is waiting). Messages sent later are lost.
struct ForgetsSenders;

impl Mailbox for ForgetsSenders {
    type Tx = Sender<Note>;
    type Rx = Receiver<Note>;
    fn open() -> (Self::Tx, Self::Rx) {
        sync::mailbox()
    }
    fn send(tx: &Self::Tx, note: Note) -> bool {
        tx.send(note).is_ok()
    }
    fn recv(rx: &Self::Rx) -> Option<Note> {
        match rx.try_recv() {
            TryRecv::Item(note) => Some(note),
            TryRecv::Empty | TryRecv::Closed => None, // the bug: Empty is not Closed
        }
    }
    fn try_recv(rx: &Self::Rx) -> TryRecv<Note> {
        match rx.try_recv() {
            TryRecv::Empty => TryRecv::Closed, // the same bug
            other => other,
        }
    }
}

#[test]
#[should_panic(expected = "before every message arrived")]
fn planted_bug_receiver_forgetting_senders_loses_messages() {
    common::check("mailbox/planted_forgets_senders", recv_until_none::<ForgetsSenders>);
}

/// PLANTED BUG: a copy of the loom side's mailbox whose last sender leaves without waking the
/// receiver (no `notify_all` in `Drop`). A receiver already waiting sleeps forever.
struct SilentDrop;

struct SilentShared {
    state: loom::sync::Mutex<(VecDeque<Note>, usize)>,
    ready: loom::sync::Condvar,
}

struct SilentTx(loom::sync::Arc<SilentShared>);

impl Clone for SilentTx {
    fn clone(&self) -> Self {
        self.0.state.lock().unwrap().1 += 1;
        SilentTx(self.0.clone())
    }
}

impl Drop for SilentTx {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().1 -= 1; // the bug: production notifies here when it hits 0
    }
}

impl Mailbox for SilentDrop {
    type Tx = SilentTx;
    type Rx = loom::sync::Arc<SilentShared>;
    fn open() -> (Self::Tx, Self::Rx) {
        let shared = loom::sync::Arc::new(SilentShared {
            state: loom::sync::Mutex::new((VecDeque::new(), 1)),
            ready: loom::sync::Condvar::new(),
        });
        (SilentTx(shared.clone()), shared)
    }
    fn send(tx: &Self::Tx, note: Note) -> bool {
        tx.0.state.lock().unwrap().0.push_back(note);
        tx.0.ready.notify_one();
        true
    }
    fn recv(rx: &Self::Rx) -> Option<Note> {
        let mut state = rx.state.lock().unwrap();
        loop {
            if let Some(note) = state.0.pop_front() {
                return Some(note);
            }
            if state.1 == 0 {
                return None;
            }
            state = rx.ready.wait(state).unwrap();
        }
    }
    fn try_recv(rx: &Self::Rx) -> TryRecv<Note> {
        let mut state = rx.state.lock().unwrap();
        match state.0.pop_front() {
            Some(note) => TryRecv::Item(note),
            None if state.1 == 0 => TryRecv::Closed,
            None => TryRecv::Empty,
        }
    }
}

#[test]
#[should_panic(expected = "deadlock")]
fn planted_bug_silent_last_sender_deadlocks_the_receiver() {
    common::check("mailbox/planted_silent_drop", recv_until_none::<SilentDrop>);
}

/// PLANTED BUG: the mirror waits for its mailbox to close instead of ending on the tracker's
/// stop. The scheduler holds the mirror's sender and the mirror the scheduler's: neither
/// mailbox ever closes, and the whole peer deadlocks at shutdown.
/// The pump polls its outbox (it never blocks), so loom sees this deadlock as the pump spinning
/// forever while every actor waits: the model exceeds its branch limit.
#[test]
#[should_panic(expected = "Model exceeded maximum number of branches")]
fn planted_bug_mirror_waiting_for_close_deadlocks_the_cycle() {
    common::check_with("mailbox/planted_cycle", 10_000, stop_protocol::<false>);
}
