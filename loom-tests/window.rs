//! The end of a window (`bitorrent::sim::window`), under loom: the production `Crossing::close`
//! over the production mailboxes (the shim's loom side), with each worker on a loom thread.
//!
//! What a sharded run relies on: every worker ends each `close` with exactly the events the
//! others made for its shard in that window (none of a later window, which a worker already
//! ahead may have sent; none missing, which a worker still behind may not have sent yet), and
//! with the same combined report as every other worker, since that report alone decides where
//! the next window starts and whether the run is over. A worker that ran ahead of the others
//! must not overtake them: its next batch waits in its mailbox behind the one that closed this
//! window. The models run two windows, so that a worker in the second window can race one
//! still in the first.
//!
//! Every event names its window, its sender's shard and its receiver's shard, and every shard's
//! report is a function of the window and the shard (`report_of`), so what each worker must
//! end a window with is known in advance. The workers only record what they saw; the model's
//! main thread (itself worker 0, as in the engine, where worker 0 runs on the calling thread)
//! checks it after joining the others: a model that fails while another thread is suspended
//! makes loom 0.7 panic again as it tears that thread down, and the test binary aborts
//! (loom#350), hiding the finding.
//!
//! Run: `LOOM_MAX_PREEMPTIONS=2 cargo test --release --features loom --test loom_window`

mod common;

use std::ops::Range;

use bitorrent::sim::window::{CloseError, Crossing, Ranks, RanksError, WindowReport, crossings};
use bitorrent::sync::thread;

/// Two windows: the fewest in which one worker can be a window ahead of another.
const WINDOWS: u32 = 2;

/// An event from shard `from` to shard `to`, made in `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    window: u32,
    from: u32,
    to: u32,
}

/// What `shard` reports at the end of `window`. Every field differs by shard and by window, so
/// that a report combined twice, or left out, or taken from the other window, shows: `done` is
/// never 0 (a sum would not see shard 0's missing), `in_flight` is a bit per shard (a sum would
/// see one counted twice), `next` and `now` decide a min and a max, and `failed` is set by one
/// shard in the last window only (in the job of two ranks, a shard of the other rank, so it
/// reaches worker 1 only in worker 0's job report).
fn report_of(window: u32, shard: u32) -> WindowReport {
    let (window, shard64) = (u64::from(window), u64::from(shard));
    WindowReport {
        next: Some(window * 10 + shard64),
        done: shard + 1,
        events: window * 100 + shard64,
        in_flight: 1 << shard,
        now: window * 10 + 9 - shard64,
        last_piece_at: window * 10 + shard64,
        last_done_at: window * 10 + shard64,
        first_done_at: (shard > 0).then_some(window * 10 + 5 - shard64),
        failed: window == 1 && shard == 1,
    }
}

/// The reports of `shards` in `window`, combined: what every worker must end the window with.
fn combined(window: u32, shards: Range<u32>) -> WindowReport {
    shards.map(|shard| report_of(window, shard)).reduce(WindowReport::combine).expect("at least one shard")
}

/// What a worker ended one window with.
#[derive(Debug)]
struct Seen {
    report: WindowReport,
    /// Sorted: the order of a window's events in the inbox is not part of the contract (a shard
    /// pushes them into its queue, which orders them by their own key).
    inbox: Vec<Event>,
}

/// What a worker ended each window it closed with and, if a `close` failed, why (it then
/// stops, as the engine's workers do).
type Worked = (Vec<Seen>, Option<CloseError>);

/// One worker: in each window it sends one event to every other shard of the job (those of its
/// own rank through the mailboxes, the others' through worker 0 and `Ranks`) and closes the
/// window. `WAIT = false` closes with the planted bug, `close_without_waiting`.
fn work<const WAIT: bool>(crossing: Crossing<Event>, ranks: Option<&mut dyn Ranks<Event>>) -> Worked {
    let mut seen = Vec::new();
    let error = close_every_window::<WAIT>(crossing, ranks, &mut seen).err();
    (seen, error)
}

fn close_every_window<const WAIT: bool>(
    mut crossing: Crossing<Event>,
    mut ranks: Option<&mut dyn Ranks<Event>>,
    seen: &mut Vec<Seen>,
) -> Result<(), CloseError> {
    let shard = crossing.shard();
    for window in 0..WINDOWS {
        let mut outboxes: Vec<Vec<Event>> = (0..crossing.shards())
            .map(|to| if to == shard { Vec::new() } else { vec![Event { window, from: shard, to }] })
            .collect();
        let mut inbox = Vec::new();
        let report = report_of(window, shard);
        let job = if WAIT {
            crossing.close(report, &mut outboxes, ranks.as_deref_mut(), &mut inbox)?
        } else {
            crossing.close_without_waiting(report, &mut outboxes, ranks.as_deref_mut(), &mut inbox)?
        };
        inbox.sort();
        seen.push(Seen { report: job, inbox });
    }
    Ok(())
}

/// The other rank of a job of two, as this rank's worker 0 sees it: it answers each exchange at
/// once, as if its own shards had reported `report_of` and sent one event to each shard of this
/// rank, all of the window it counts itself (one exchange a window). It keeps what it was given,
/// for the model to check after the workers have joined.
struct OtherRank {
    /// This rank's number (the other rank's is 0).
    rank: u32,
    /// The other rank's shards.
    shards: Range<u32>,
    /// What each exchange was given: this rank's combined report and its outgoing events.
    traded: Vec<(WindowReport, Vec<Vec<Event>>)>,
}

impl Ranks<Event> for OtherRank {
    fn rank(&self) -> u32 {
        self.rank
    }

    fn ranks(&self) -> u32 {
        2
    }

    fn exchange(
        &mut self,
        report: WindowReport,
        outgoing: Vec<Vec<Event>>,
        workers: usize,
    ) -> Result<(WindowReport, Vec<Vec<Event>>), RanksError> {
        let window = self.traded.len() as u32;
        self.traded.push((report, outgoing));
        let job = report.combine(combined(window, self.shards.clone()));
        let incoming = (0..workers as u32)
            .map(|worker| {
                let to = self.rank * workers as u32 + worker;
                self.shards.clone().map(|from| Event { window, from, to }).collect()
            })
            .collect();
        Ok((job, incoming))
    }
}

/// `workers` workers of one rank, in a job of `ranks` (1 or 2) ranks, each close `WINDOWS`
/// windows. In a job of two, this rank is rank 1 (shard numbers are then not worker numbers)
/// and worker 0 trades with an `OtherRank`. Checks, for every window and every worker: its
/// inbox holds exactly the events every other shard of the job sent it in that window, and its
/// report is every shard's combined (so all workers agree); in a job of two, each exchange got
/// this rank's combined report and exactly the window's events for the other rank's shards.
fn windows<const WAIT: bool>(workers: usize, ranks: u32) {
    let rank = ranks - 1;
    let shards = ranks * workers as u32;
    let local = rank * workers as u32..(rank + 1) * workers as u32;
    let mut other_rank = OtherRank { rank, shards: 0..rank * workers as u32, traded: Vec::new() };

    let mut crossings = crossings::<Event>(workers, rank, ranks).into_iter();
    let first = crossings.next().expect("a rank has a worker");
    let others: Vec<_> = crossings
        .map(|crossing| {
            thread::spawn_named(format!("worker{}", crossing.shard()), move || work::<WAIT>(crossing, None))
        })
        .collect();
    let ranks_for_worker_0 = if ranks > 1 { Some(&mut other_rank as &mut dyn Ranks<Event>) } else { None };
    let mut results = vec![work::<WAIT>(first, ranks_for_worker_0)];
    results.extend(others.into_iter().map(|worker| worker.join().unwrap()));

    // The windows first, then the errors: a worker that leaves a window early can leave the
    // model altogether while another still sends to it, whose `close` then fails; what the
    // first worker saw before it left is the finding, the other's error only its consequence.
    for window in 0..WINDOWS {
        let job = combined(window, 0..shards);
        for (shard, (seen, _)) in local.clone().zip(&results) {
            let Some(Seen { report, inbox }) = seen.get(window as usize) else { continue };
            let expected: Vec<Event> =
                (0..shards).filter(|&from| from != shard).map(|from| Event { window, from, to: shard }).collect();
            assert_eq!(
                *inbox, expected,
                "shard {shard} ended window {window} with an inbox that is not exactly the events sent to it in \
                 that window"
            );
            assert_eq!(*report, job, "shard {shard} ended window {window} with another report than the job's");
        }
    }
    for (worker, (_, error)) in results.iter().enumerate() {
        if let Some(error) = error {
            panic!("worker {worker} failed to close a window: {error}");
        }
    }
    if ranks > 1 {
        assert_eq!(other_rank.traded.len(), WINDOWS as usize, "worker 0 trades with the other ranks once a window");
        for (window, (report, outgoing)) in other_rank.traded.into_iter().enumerate() {
            let window = window as u32;
            assert_eq!(report, combined(window, local.clone()), "window {window}: the rank's report, traded");
            for (to, mut events) in outgoing.into_iter().enumerate() {
                let to = to as u32;
                events.sort();
                let expected: Vec<Event> = if local.contains(&to) {
                    Vec::new()
                } else {
                    local.clone().map(|from| Event { window, from, to }).collect()
                };
                assert_eq!(events, expected, "window {window}: what this rank sent shard {to} of the other rank");
            }
        }
    }
}

#[test]
fn two_workers_end_each_window_with_its_events_and_the_same_report() {
    common::check("window/two_workers", || windows::<true>(2, 1));
}

/// With three, a worker's batches come from two others, who may each be in either window.
#[test]
fn three_workers_end_each_window_with_its_events_and_the_same_report() {
    common::check("window/three_workers", || windows::<true>(3, 1));
}

/// One rank's two workers in a job of two ranks: worker 1's events for the other rank go out
/// through worker 0, and what came back, with the job's report, reaches worker 1 in worker 0's
/// job report, behind worker 0's batch of the same window.
#[test]
fn two_ranks_pass_the_job_report_and_the_remote_events_in_their_window() {
    common::check("window/two_ranks", || windows::<true>(2, 2));
}

/// With three workers a rank, worker 0 passes the job's report to two workers, one of which
/// may be a window ahead of the other in its batches to it.
#[test]
fn two_ranks_of_three_workers_pass_the_job_report_and_the_remote_events_in_their_window() {
    common::check("window/two_ranks_three_workers", || windows::<true>(3, 2));
}

// ---------------------------------------------------------------------------------------------
// PLANTED BUG: evidence that the models fail on a hand-over that does not wait.
// ---------------------------------------------------------------------------------------------

/// PLANTED BUG: workers that take only the batches already in their mailboxes
/// (`Crossing::close_without_waiting`: `try_recv` where `close` has `recv`). When a worker
/// closes a window before the other has sent its batch, it ends the window without that
/// batch's events and report, and reads them in the next window instead.
#[test]
#[should_panic(expected = "with an inbox that is not exactly the events sent to it in that window")]
fn planted_bug_a_worker_not_waiting_for_the_others_misses_their_events() {
    common::check("window/planted_no_wait", || windows::<false>(2, 1));
}
