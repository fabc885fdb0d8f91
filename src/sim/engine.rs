//! The simulated engine: the live runtime's protocol on a simulated clock, on one shard or split
//! over many.
//!
//! The peers are split over shards (`placement.rs`): `threads` worker threads in this process,
//! each owning one shard (`shard.rs`), times the job's MPI ranks. Shards run in windows of the
//! scenario's latency and trade what they sent each other at each window's end (`window.rs`);
//! a run on one shard is the same loop with no one to trade with. Every peer sees the same
//! events in the same order however the peers are split, so the outcome is the same, to the
//! byte, for any split (tested below, and across ranks in `tests/sim_mpi.rs`).

use super::link::Nanos;
use super::network::LinkRecord;
use super::outcome::{Outcome, PeerOutcome, Progress};
use super::placement::Placement;
use super::scenario::Scenario;
use super::shard::{Routed, Shard};
use super::window::{CloseError, Crossing, Ranks, RanksError, WindowReport, crossings};
use crate::model::PeerId;
use crate::peer::scheduler::DownloadError;
use crate::sync::thread;
use crate::tracker::TrackerError;

/// How long the swarm may go without a piece arriving before the run is called stuck: an hour of
/// simulated time, far longer than any piece takes on a link that moves at all.
const STUCK_AFTER: Nanos = 3_600_000_000_000;

/// The most worker threads a rank runs.
pub const MAX_THREADS: u32 = 256;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the swarm cannot finish: {file} is wanted, but every peer that holds it uploads at 0 bit/s")]
    NoUpload { file: String },
    #[error(
        "the network's latency is 0, and a run split over {shards} shards needs one: shards run apart for a \
         latency at a time; give the swarm a latency, or run it on one thread and one rank"
    )]
    NoLatency { shards: u32 },
    #[error(
        "the swarm is stuck at {at_seconds:.3} s of simulated time: {why}, and {waiting} of {wanting} peers \
         still lack what they want"
    )]
    Stuck { at_seconds: f64, why: &'static str, waiting: u32, wanting: u32 },
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error("peer {peer}: {error}")]
    Download { peer: PeerId, error: DownloadError },
    #[error("peer {peer}: unexpected {what} from peer {from}")]
    Unexpected { peer: PeerId, from: PeerId, what: String },
    /// Another shard stopped the run on an error of its own, which it reports.
    #[error("the run stopped: another shard failed (its error is reported where it ran)")]
    OtherShard,
    #[error("the run's shards lost touch: {0}")]
    Close(#[from] CloseError),
    #[error("worker thread {worker} panicked: {message}")]
    WorkerPanicked { worker: u32, message: String },
}

impl SimError {
    /// Whether every shard of a split run stops with this error, having come to it together
    /// (from the scenario, or from the job's combined reports), rather than one shard alone.
    pub fn is_everyones(&self) -> bool {
        matches!(
            self,
            SimError::NoUpload { .. } | SimError::NoLatency { .. } | SimError::Stuck { .. } | SimError::OtherShard
        )
    }
}

/// The other ranks of an MPI job, as the engine needs them: to trade windows (`Ranks`), and at
/// the end to bring every rank's peers to rank 0.
pub trait JobRanks: Ranks<Routed> {
    /// Sends this rank's peers' outcomes and its events to rank 0; on rank 0, returns every
    /// rank's (its own included), and on the others `None`.
    fn gather(&mut self, mine: ShardEnd) -> Result<Option<Vec<ShardEnd>>, RanksError>;
}

/// What a shard (or several, merged) ends a run with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardEnd {
    /// Its peers' outcomes, with their ids.
    pub peers: Vec<(PeerId, PeerOutcome)>,
    /// Events it handled up to the run's end.
    pub events: u64,
}

impl ShardEnd {
    /// Takes in another shard's end.
    fn absorb(&mut self, other: ShardEnd) {
        self.peers.extend(other.peers);
        self.events += other.events;
    }
}

/// Runs `scenario` to the end, on one thread: until every peer holds what it wants.
pub fn simulate(scenario: &Scenario, on_progress: &mut dyn FnMut(&Progress)) -> Result<Outcome, SimError> {
    simulate_split(scenario, 1, None, on_progress).map(|outcome| outcome.expect("a run of one rank has its outcome"))
}

/// Runs `scenario` to the end on `threads` worker threads of this rank and, with `ranks`, over
/// every rank of the job (this one's call among them). The outcome on rank 0, `None` on the
/// others. `on_progress` is called on the calling thread, at window ends.
pub fn simulate_split(
    scenario: &Scenario,
    threads: u32,
    ranks: Option<&mut dyn JobRanks>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Option<Outcome>, SimError> {
    let (rank, rank_count) = ranks.as_ref().map_or((0, 1), |ranks| (ranks.rank(), ranks.ranks()));
    let (end, _) = run_rank(scenario, threads.clamp(1, MAX_THREADS), rank, rank_count, ranks, false, on_progress)?;
    Ok(end.map(|end| outcome(scenario, end)))
}

/// Runs `scenario` on one rank's `threads` workers; with `keep_records`, also returns what every
/// piece spent on each link (for the tests that check the links over a whole run; kept only
/// then, since a record a piece is memory a large run has no use for).
fn run_rank(
    scenario: &Scenario,
    threads: u32,
    rank: u32,
    rank_count: u32,
    mut ranks: Option<&mut dyn JobRanks>,
    keep_records: bool,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(Option<ShardEnd>, Vec<LinkRecord>), SimError> {
    refuse_what_cannot_finish(scenario)?;
    let shards = threads * rank_count;
    if shards > 1 && scenario.latency_ns == 0 {
        return Err(SimError::NoLatency { shards });
    }
    let placement = Placement::new(shards);
    let mut workers = crossings::<Routed>(threads as usize, rank, rank_count).into_iter();
    let first = workers.next().expect("a rank has a worker");
    let ends: Vec<WorkerEnd> = thread::scope(|scope| {
        let others: Vec<_> = workers
            .map(|crossing| {
                let worker = crossing.shard();
                let body = move || work(scenario, placement, crossing, None, keep_records, &mut |_| {});
                (worker, thread::spawn_scoped(scope, format!("sim-worker-{worker}"), body))
            })
            .collect();
        // Worker 0 on this thread: it trades with the other ranks (MPI wants one thread to do
        // that) and reports the progress.
        let report_progress = rank == 0;
        let mine = work(
            scenario,
            placement,
            first,
            ranks.as_mut().map(|ranks| &mut **ranks as &mut dyn Ranks<Routed>),
            keep_records,
            &mut |job| {
                if report_progress {
                    on_progress(job)
                }
            },
        );
        let mut ends = vec![mine];
        for (worker, handle) in others {
            ends.push(handle.join().unwrap_or_else(|panic| WorkerEnd {
                result: Err(SimError::WorkerPanicked { worker, message: thread::panic_message(&*panic) }),
                ..WorkerEnd::default()
            }));
        }
        ends
    });
    // The error that stopped the run: a worker's own, rather than another's word that one failed.
    let follows_another = |error: &SimError| matches!(error, SimError::OtherShard | SimError::Close(_));
    let mut records = Vec::new();
    let mut merged = ShardEnd::default();
    let mut failure: Option<SimError> = None;
    for end in ends {
        if let Err(error) = end.result
            && failure.as_ref().is_none_or(|failure| follows_another(failure) && !follows_another(&error))
        {
            failure = Some(error);
        }
        merged.absorb(end.shard);
        records.extend(end.records);
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    let end = match ranks {
        None => Some(merged),
        Some(ranks) => ranks.gather(merged).map_err(CloseError::from)?.map(|ends| {
            ends.into_iter().fold(ShardEnd::default(), |mut all, end| {
                all.absorb(end);
                all
            })
        }),
    };
    Ok((end, records))
}

/// A worker's end: its shard's, and how its run ended.
#[derive(Debug)]
struct WorkerEnd {
    shard: ShardEnd,
    records: Vec<LinkRecord>,
    result: Result<(), SimError>,
}

impl Default for WorkerEnd {
    fn default() -> Self {
        WorkerEnd { shard: ShardEnd::default(), records: Vec::new(), result: Ok(()) }
    }
}

/// One worker: builds its shard, then runs it window by window until the job is done, stuck
/// or failed. `on_window` sees the job's report at each window's end.
fn work(
    scenario: &Scenario,
    placement: Placement,
    mut crossing: Crossing<Routed>,
    mut ranks: Option<&mut dyn Ranks<Routed>>,
    keep_records: bool,
    on_window: &mut dyn FnMut(&Progress),
) -> WorkerEnd {
    let mut shard = Shard::new(scenario, placement, crossing.shard());
    if keep_records {
        shard.keep_records();
    }
    shard.register_everyone();
    let wanting = scenario.peers.iter().filter(|peer| !peer.wants.is_empty()).count() as u32;
    // One shard needs no window to keep it apart from others; a window of 1 ns still takes
    // every event of its instant, those it makes at that instant too (with a latency of 0).
    let window = scenario.latency_ns.max(1);
    let mut report = shard.report();
    let mut inbox = Vec::new();
    let mut own_error = None;
    let result = loop {
        let job = match crossing.close(report, shard.outboxes(), ranks.as_deref_mut(), &mut inbox) {
            Ok(job) => job,
            Err(error) => break Err(SimError::Close(error)),
        };
        shard.receive(&mut inbox);
        shard.window_closed(&job);
        on_window(&Progress { now: job.now, peers_done: job.done, peers: wanting, events: job.events });
        if job.failed {
            break Err(own_error.take().unwrap_or(SimError::OtherShard));
        }
        if job.done == wanting {
            let events = shard.events_until(job.last_done_at);
            let peers = shard.outcomes(job.last_done_at).collect();
            let records = shard.records().to_vec();
            return WorkerEnd { shard: ShardEnd { peers, events }, records, result: Ok(()) };
        }
        let stuck =
            |why| SimError::Stuck { at_seconds: job.now as f64 / 1e9, why, waiting: wanting - job.done, wanting };
        let Some(start) = job.next else {
            break Err(stuck("nothing is left to happen"));
        };
        // A piece on a link is sure to arrive (only peers that upload send), however slow the
        // link; with none, peers that only wait and probe for an hour are going nowhere.
        if job.in_flight == 0 && start.saturating_sub(job.last_piece_at) > STUCK_AFTER {
            break Err(stuck("no piece has arrived for an hour, and none is on its way"));
        }
        report = match shard.run_window(start.saturating_add(window)) {
            Ok(()) => shard.report(),
            Err(error) => {
                own_error = Some(error);
                WindowReport { failed: true, ..shard.report() }
            }
        };
    };
    WorkerEnd { result, ..WorkerEnd::default() }
}

/// The run's outcome, from every shard's end.
fn outcome(scenario: &Scenario, mut end: ShardEnd) -> Outcome {
    end.peers.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(end.peers.len(), scenario.peers.len(), "every peer's outcome, once");
    let peers: Vec<PeerOutcome> = end.peers.into_iter().map(|(_, outcome)| outcome).collect();
    let simulated = peers.iter().filter_map(|peer| peer.done_at).max().unwrap_or(0);
    Outcome { peers, simulated, events: end.events }
}

/// A wanted file whose holders all upload nothing can never spread.
fn refuse_what_cannot_finish(scenario: &Scenario) -> Result<(), SimError> {
    for (index, file) in scenario.files.iter().enumerate() {
        let index = index as u32;
        let uploads = scenario
            .peers
            .iter()
            .filter(|peer| peer.owns.contains(&index))
            .any(|peer| scenario.classes[peer.class as usize].uploads());
        if file.wanted_by > 0 && !uploads {
            return Err(SimError::NoUpload { file: file.name.clone() });
        }
    }
    Ok(())
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::bt::policy::Policy;
    use crate::sim::network::Direction;
    use crate::sim::swarm::{self, Protocol, Swarm};
    use crate::sim::theory;

    fn swarm(classes: &str, size: &str) -> Swarm {
        let text = format!(
            "seed = 3\n[file]\nsize = \"{size}\"\npiece = \"256 KiB\"\n[network]\nlatency = \"20 ms\"\n{classes}"
        );
        swarm::parse(&text, "test.toml").expect("a valid swarm")
    }

    fn class(name: &str, count: u32, up: &str, down: &str, seed: bool) -> String {
        format!(
            "[[peers]]\nname = \"{name}\"\ncount = {count}\nupload = \"{up}\"\ndownload = \"{down}\"\nseed = {seed}\n"
        )
    }

    /// Swarms of several shapes: homogeneous, classes of different speeds, a slow seed, free riders.
    fn shapes() -> Vec<(&'static str, Swarm)> {
        vec![
            (
                "homogeneous",
                // More pieces than a peer keeps requests out: leechers serve each other too.
                swarm(
                    &(class("seed", 1, "4 Mbit/s", "20 Mbit/s", true)
                        + &class("leecher", 30, "1 Mbit/s", "4 Mbit/s", false)),
                    "20 MiB",
                ),
            ),
            (
                "two classes",
                swarm(
                    &(class("seed", 2, "8 Mbit/s", "8 Mbit/s", true)
                        + &class("fast", 15, "4 Mbit/s", "16 Mbit/s", false)
                        + &class("slow", 15, "512 kbit/s", "2 Mbit/s", false)),
                    "3 MiB",
                ),
            ),
            (
                "seed-bound",
                swarm(
                    &(class("seed", 1, "1 Mbit/s", "1 Mbit/s", true)
                        + &class("leecher", 12, "10 Mbit/s", "10 Mbit/s", false)),
                    "2 MiB",
                ),
            ),
            (
                "free riders",
                swarm(
                    &(class("seed", 1, "4 Mbit/s", "4 Mbit/s", true)
                        + &class("leecher", 10, "1 Mbit/s", "4 Mbit/s", false)
                        + &class("free rider", 10, "0 bit/s", "4 Mbit/s", false)),
                    "6 MiB",
                ),
            ),
        ]
    }

    fn run(swarm: &Swarm) -> Outcome {
        simulate(&Scenario::from_swarm(swarm, "test.toml"), &mut |_| {}).expect("the swarm finishes")
    }

    #[test]
    fn no_peer_beats_its_download_and_no_swarm_beats_the_minimum_distribution_time() {
        for (shape, swarm) in shapes() {
            let outcome = run(&swarm);
            let scenario = Scenario::from_swarm(&swarm, "test.toml");
            let bound = theory::min_distribution_time(&scenario).expect("leechers").t_min().ceil_nanos().unwrap();
            assert!(
                outcome.simulated >= bound,
                "{shape}: the last finished at {} ns, before T_min {bound} ns",
                outcome.simulated
            );
            for (index, peer) in outcome.peers.iter().enumerate() {
                let id = PeerId(index as u32 + 1);
                let done = peer.done_at.unwrap_or_else(|| panic!("{shape}: peer {id} never finished"));
                let own_bound = theory::min_finish(&scenario, id).expect("a peer").ceil_nanos().unwrap();
                assert!(
                    done >= own_bound,
                    "{shape}: peer {id} done at {done} ns, faster than its download allows ({own_bound} ns)"
                );
            }
        }
    }

    #[test]
    fn what_is_uploaded_is_downloaded_and_every_leecher_gets_the_whole_file() {
        for (shape, swarm) in shapes() {
            let outcome = run(&swarm);
            let up: u64 = outcome.peers.iter().map(|peer| peer.uploaded_bytes).sum();
            let down: u64 = outcome.peers.iter().map(|peer| peer.downloaded_bytes + peer.duplicate_bytes).sum();
            // A block counts as uploaded when it leaves the uplink: at the run's end (the last
            // completion) some are still on their way, at most one on each connection's
            // uplink and each request outstanding, for every peer.
            let policy = Policy::default();
            let peers = u64::from(swarm.total_peers());
            let on_their_way = peers
                * u64::from(policy.max_connections.min(swarm.total_peers()))
                * u64::from(policy.requests_in_flight + 1)
                * u64::from(policy.block);
            assert!(up >= down, "{shape}: {down} bytes came through downlinks, only {up} left uplinks");
            assert!(up - down <= on_their_way, "{shape}: {} bytes left uplinks and never came", up - down);
            let size = swarm.file().size.get();
            for (index, peer) in outcome.peers.iter().enumerate() {
                let seed = swarm.class_of(PeerId(index as u32 + 1)).unwrap().seed;
                if seed {
                    assert_eq!((peer.done_at, peer.downloaded_bytes), (Some(0), 0), "{shape}: a seed");
                } else {
                    assert!(
                        peer.downloaded_bytes >= size,
                        "{shape}: peer {} got {} of {size} bytes",
                        index + 1,
                        peer.downloaded_bytes
                    );
                }
            }
        }
    }

    /// Every BitTorrent peer's choker runs exactly every `rechoke` (10 s) from a phase of its
    /// own in the first period, the whole run long.
    #[test]
    fn every_peer_rechokes_exactly_every_ten_seconds() {
        let swarm = swarm(
            &(class("seed", 1, "4 Mbit/s", "20 Mbit/s", true) + &class("leecher", 20, "1 Mbit/s", "4 Mbit/s", false)),
            "4 MiB",
        );
        let scenario = Scenario::from_swarm(&swarm, "test.toml");
        let mut shard = Shard::new(&scenario, Placement::whole(), 0);
        shard.register_everyone();
        let end = 200_000_000_000;
        shard.run_window(end).unwrap();
        let peers = shard.bittorrent().expect("BitTorrent by default");
        let ten = 10_000_000_000;
        let mut phases = std::collections::BTreeSet::new();
        for row in 1..=21 {
            let stats = peers.stats(row);
            assert!(stats.first_rechoke_at < ten, "row {row}: first rechoke at {}", stats.first_rechoke_at);
            assert!(stats.last_rechoke_at + ten >= end, "row {row}: the timer stopped");
            let span = stats.last_rechoke_at - stats.first_rechoke_at;
            assert_eq!(span, u64::from(stats.rechokes - 1) * ten, "row {row}: not every 10 s");
            phases.insert(stats.first_rechoke_at);
        }
        assert!(phases.len() > 15, "peers' timers are not in step");
    }

    /// A peer that uploads at 0 bit/s says no to every request: before it did, it said yes to
    /// pieces its uplink could never send, and the swarm stalled on them for ever.
    #[test]
    fn free_riders_get_the_file_and_upload_nothing() {
        let (_, swarm) = shapes().into_iter().find(|(shape, _)| *shape == "free riders").unwrap();
        let outcome = run(&swarm);
        for (index, peer) in outcome.peers.iter().enumerate() {
            let class = swarm.class_of(PeerId(index as u32 + 1)).unwrap();
            assert!(peer.done_at.is_some(), "peer {} ({}) never finished", index + 1, class.name);
            if class.name == "free rider" {
                assert_eq!(peer.uploaded_bytes, 0, "free rider {} uploaded", index + 1);
            }
        }
    }

    /// A free rider with an uplink uploads nothing either, and gets the file all the same (on
    /// the course's protocol, said so: the engine runs no other yet).
    #[test]
    fn free_riders_with_an_uplink_upload_nothing_either() {
        let swarm = swarm(
            &(class("seed", 1, "4 Mbit/s", "4 Mbit/s", true)
                + &class("leecher", 6, "1 Mbit/s", "4 Mbit/s", false)
                + &class("free rider", 6, "10 Mbit/s", "4 Mbit/s", false)
                + "free_rider = true\n[policy]\nprotocol = \"course\"\n"),
            "2 MiB",
        );
        assert_eq!(swarm.protocol(), &Protocol::Course);
        let outcome = run(&swarm);
        for (index, peer) in outcome.peers.iter().enumerate() {
            let class = swarm.class_of(PeerId(index as u32 + 1)).unwrap();
            assert!(peer.done_at.is_some(), "peer {} ({}) never finished", index + 1, class.name);
            if class.free_rider {
                assert_eq!(peer.uploaded_bytes, 0, "free rider {} uploaded", index + 1);
            }
        }
        let free_riders = swarm.classes().iter().filter(|class| class.free_rider).count();
        assert_eq!(free_riders, 1);
    }

    /// The promise of sharding: split over any number of threads, every shape gives the very
    /// outcome it gives on one (`tests/sim_mpi.rs` does the same over ranks, from the files).
    #[test]
    fn any_split_over_threads_gives_the_same_outcome_as_one_thread() {
        for (shape, swarm) in shapes() {
            let scenario = Scenario::from_swarm(&swarm, "test.toml");
            let one = run(&swarm);
            for threads in [2, 3, 5] {
                let split = simulate_split(&scenario, threads, None, &mut |_| {}).expect("the swarm finishes").unwrap();
                assert_eq!(split, one, "{shape}: {threads} threads gave another outcome than one");
            }
        }
    }

    #[test]
    fn a_split_run_needs_a_latency_and_one_thread_does_not() {
        let (_, swarm) = shapes().remove(0);
        let mut scenario = Scenario::from_swarm(&swarm, "test.toml");
        scenario.latency_ns = 0;
        let error = simulate_split(&scenario, 2, None, &mut |_| {}).unwrap_err();
        assert!(matches!(error, SimError::NoLatency { shards: 2 }), "{error}");
        let outcome = simulate(&scenario, &mut |_| {}).expect("one thread runs without latency");
        assert!(outcome.peers.iter().all(|peer| peer.done_at.is_some()));
    }

    #[test]
    fn the_same_seed_gives_the_same_run_and_another_seed_another() {
        // A file of more pieces than a peer keeps requests out, so that leechers serve each other
        // too, and who serves whom follows the piece orders and neighbours drawn from the seed.
        let swarm = swarm(
            &(class("seed", 1, "4 Mbit/s", "20 Mbit/s", true) + &class("leecher", 20, "1 Mbit/s", "4 Mbit/s", false)),
            "20 MiB",
        );
        let first = run(&swarm);
        assert_eq!(first, run(&swarm), "two runs of one swarm and seed differ");
        let other = run(&swarm.clone().with_seed(4));
        assert_ne!(first.peers, other.peers, "another seed gave the very same run");
    }

    /// A piece's time on a link, (start, end), and its bits.
    type Span = ((Nanos, Nanos), u64);

    /// The link model's promise, checked on whole runs: from the run's transfer records
    /// alone, no link carried more than its capacity in any interval. For each link, the bits
    /// of the pieces wholly inside [a, b] are at most capacity x (b - a); the worst intervals
    /// start where a piece started and end where one ended, so those are all that are tried.
    #[test]
    fn over_a_whole_run_no_link_carries_more_than_its_capacity_in_any_interval() {
        for (shape, swarm) in shapes() {
            let mut scenario = Scenario::from_swarm(&swarm, "test.toml");
            // Without the protocol's overhead, a block's bits on the links are its payload's.
            if let Protocol::BitTorrent(policy) = &mut scenario.protocol {
                policy.overhead_ppm = 0;
            }
            // On three threads: the records are the shards' together.
            let (end, records) = run_rank(&scenario, 3, 0, 1, None, true, &mut |_| {}).expect("the swarm finishes");
            let outcome = outcome(&scenario, end.expect("one rank"));
            let delivered: u64 =
                records.iter().filter(|record| record.direction == Direction::Down).map(|record| record.bits / 8).sum();
            let downloaded: u64 = outcome.peers.iter().map(|peer| peer.downloaded_bytes + peer.duplicate_bytes).sum();
            assert_eq!(delivered, downloaded, "{shape}: a record for every piece delivered");
            for (index, spec) in scenario.peers.iter().enumerate() {
                let peer = index as u32 + 1;
                let class = &scenario.classes[spec.class as usize];
                let spans = |direction| {
                    let on_link = |r: &&LinkRecord| r.peer == peer && r.direction == direction;
                    records.iter().filter(on_link).map(|r| ((r.start, r.end), r.bits)).collect()
                };
                let (up, down) = (spans(Direction::Up), spans(Direction::Down));
                let links: [(&str, u64, Vec<Span>); 2] =
                    [("uplink", class.upload_bits_per_s, up), ("downlink", class.download_bits_per_s, down)];
                for (name, capacity, mut spans) in links {
                    spans.sort_unstable_by_key(|&((_, end), _)| end);
                    for &((a, _), _) in &spans {
                        let mut inside = 0u128;
                        for &((start, end), bits) in spans.iter().filter(|&&((start, _), _)| start >= a) {
                            inside += u128::from(bits);
                            let can = u128::from(capacity) * u128::from(end - a) / 1_000_000_000;
                            assert!(
                                inside <= can,
                                "{shape}: peer {peer}'s {name} carried {inside} bits in [{a}, {end}] ns, \
                                 more than its {capacity} bit/s allow ({can}); a piece started at {start}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_course_folder_runs_on_links() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apd-tema3/test2");
        let scenario = Scenario::from_course(&folder, 1_000_000, 4_000_000, 10_000_000, 16 * 1024, 1).unwrap();
        let outcome = simulate(&scenario, &mut |_| {}).expect("the course's swarm finishes");
        assert_eq!(outcome.peers.len(), scenario.peers.len());
        assert!(outcome.peers.iter().all(|peer| peer.done_at.is_some()));
        let bound = theory::min_distribution_time(&scenario).unwrap().t_min().ceil_nanos().unwrap();
        assert!(outcome.simulated >= bound, "{} ns against a bound of {bound} ns", outcome.simulated);
        for (index, peer) in outcome.peers.iter().enumerate() {
            let own_bound = theory::min_finish(&scenario, PeerId(index as u32 + 1)).unwrap().ceil_nanos().unwrap();
            assert!(peer.done_at.unwrap() >= own_bound, "peer {} beat its own download", index + 1);
        }
    }

    #[test]
    fn a_file_nobody_can_upload_is_refused_before_the_run() {
        let (_, swarm) = shapes().remove(0);
        let mut scenario = Scenario::from_swarm(&swarm, "test.toml");
        scenario.classes[0].upload_bits_per_s = 0;
        let error = simulate(&scenario, &mut |_| {}).unwrap_err();
        assert!(error.to_string().contains("every peer that holds it uploads at 0 bit/s"), "{error}");
    }
}
