//! `bitorrent sim`: read a swarm file or a course folder, run it on the simulated engine, write
//! the results folder, and say how it went in one line.
//!
//! Every input is checked before anything runs, and the results folder is only touched once the
//! run has succeeded (`results::write` replaces it whole), so a refused or failed run leaves no
//! folder behind and an earlier one as it was. Nothing here starts MPI.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::outcome::{Outcome, Progress};
use super::results::{self, ResultsError, Run, Summary};
use super::scenario::{CourseError, Scenario};
use super::swarm::{self, DEFAULT_SEED, Protocol, ProtocolKind, Setting, Swarm, SwarmError, resolve_policy};
use super::units::{self, Kind};
use crate::bt::policy::Policy;
use crate::cli::PolicyArgs;

/// The piece a course folder's segments become unless `--piece` says otherwise: BitTorrent's
/// usual 256 KiB.
pub const DEFAULT_PIECE: &str = "256 KiB";

/// The largest `--piece`: a course file of up to 2^32 segments then stays far inside u64 bytes
/// (and bits). Real torrents use pieces of 16 KiB to 16 MiB.
pub const MAX_PIECE_BYTES: u64 = 1 << 30;

/// The results folder unless `--out` says otherwise, in the current folder.
pub const DEFAULT_OUT: &str = "sim-out";

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A swarm file (TOML).
    Swarm(PathBuf),
    /// A course folder (`in1.txt` .. `in<N>.txt`), every peer on the same links; the quantities
    /// as written on the command line, read with `sim::units`.
    Course { folder: PathBuf, upload: String, download: String, latency: String, piece: Option<String> },
}

/// A `bitorrent sim` command line, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub input: Input,
    /// Overrides the swarm file's seed; a course folder's seed (default [`DEFAULT_SEED`]).
    pub seed: Option<u64>,
    pub out: PathBuf,
    /// No progress line and no summary line: errors only.
    pub quiet: bool,
    /// The ranks the swarm is split over (1 alone): each holds its share of the peers, and
    /// checks its share of the memory.
    pub ranks: u32,
    /// `--protocol` and BitTorrent's settings: override the swarm file's `[policy]`; none is
    /// allowed with a course folder.
    pub policy: PolicyArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error(transparent)]
    Course(#[from] CourseError),
    #[error("{folder}: {problem}")]
    Folder { folder: String, problem: String },
    /// An option's value (`--upload`, `--rechoke` and the like), or an option where it has no
    /// place.
    #[error("{0}")]
    Option(String),
    /// The swarm would not fit in this machine's memory.
    #[error(
        "{origin}: {peers} peers of a {pieces}-piece file need about {need_gb:.1} GB of memory (about \
         {per_peer_kb:.1} KB a peer), more than the {available_gb:.1} GB this machine has free; make the swarm smaller"
    )]
    Memory { origin: String, peers: u32, pieces: u32, need_gb: f64, per_peer_kb: f64, available_gb: f64 },
    /// The engine refused or failed the run; `origin` is the swarm file or course folder.
    #[error("{origin}: {message}")]
    Engine { origin: String, message: String },
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// A finished run: what the summary line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub origin: String,
    pub peers: u32,
    pub simulated_seconds: f64,
    pub t_min_seconds: Option<f64>,
    pub efficiency: Option<f64>,
    pub events: u64,
    pub wall_seconds: f64,
    pub out: PathBuf,
    /// The previous results, moved aside but not removed (see `results::Written`).
    pub leftover: Option<PathBuf>,
}

impl fmt::Display for Finished {
    /// `flash-crowd.toml: 1001 peers in 912.345 s simulated (T_min 830.555 s, efficiency 0.910);
    /// 201234567 events in 12.34 s; results in sim-out`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} peers in {:.3} s simulated (", self.origin, self.peers, self.simulated_seconds)?;
        match self.t_min_seconds {
            Some(t_min) => write!(f, "T_min {t_min:.3} s")?,
            None => write!(f, "T_min none: no peer wants anything")?,
        }
        match self.efficiency {
            Some(efficiency) => write!(f, ", efficiency {efficiency:.3}")?,
            None => write!(f, ", efficiency none")?,
        }
        write!(f, "); {} events in {:.2} s; results in {}", self.events, self.wall_seconds, self.out.display())?;
        if let Some(leftover) = &self.leftover {
            write!(f, " (the previous results could not be removed from {})", leftover.display())?;
        }
        Ok(())
    }
}

/// Runs `request` on `simulate` (the engine: `sim::engine::simulate`, or a stand-in in tests) and
/// writes its results. Errors are one line each (their Display), naming the file at fault.
pub fn run<E: fmt::Display>(
    request: &Request,
    simulate: impl FnOnce(&Scenario, &mut dyn FnMut(&Progress)) -> Result<Outcome, E>,
) -> Result<Finished, CommandError> {
    run_on_rank(request, |scenario, on_progress| simulate(scenario, on_progress).map(Some))
        .map(|finished| finished.expect("a run in one process writes its results"))
}

/// `run` on one rank of a split run: `simulate` gives the outcome on the rank that writes the
/// results and `None` on the others, which then write nothing and say nothing.
pub fn run_on_rank<E: fmt::Display>(
    request: &Request,
    simulate: impl FnOnce(&Scenario, &mut dyn FnMut(&Progress)) -> Result<Option<Outcome>, E>,
) -> Result<Option<Finished>, CommandError> {
    let (scenario, swarm) = load_scenario(request)?;
    let mut line = (!request.quiet && std::io::stderr().is_terminal())
        .then(|| ProgressLine::new(std::io::stderr(), Instant::now()));
    let started = Instant::now();
    let outcome = simulate(&scenario, &mut |progress| {
        if let Some(line) = &mut line {
            line.update(Instant::now(), progress);
        }
    });
    let wall_seconds = started.elapsed().as_secs_f64();
    drop(line); // clears the progress line before anything else is said
    let outcome = outcome
        .map_err(|error| CommandError::Engine { origin: scenario.origin.clone(), message: error.to_string() })?;
    let Some(outcome) = outcome else { return Ok(None) };
    let run = Run { scenario: &scenario, swarm: swarm.as_ref(), outcome: &outcome, wall_seconds };
    let Summary { peers, simulated_seconds, t_min_seconds, efficiency, events, .. } = results::summary(&run)?;
    let written = results::write(&request.out, &run)?;
    Ok(Some(Finished {
        origin: scenario.origin.clone(),
        peers,
        simulated_seconds,
        t_min_seconds,
        efficiency,
        events,
        wall_seconds,
        out: request.out.clone(),
        leftover: written.leftover,
    }))
}

/// The scenario `request` names, every input read and checked; with the swarm file, when it
/// came from one (its seed already overridden by `--seed`).
pub fn load_scenario(request: &Request) -> Result<(Scenario, Option<Swarm>), CommandError> {
    match &request.input {
        Input::Swarm(file) => {
            let mut swarm = swarm::load(file)?;
            if let Some(seed) = request.seed {
                swarm = swarm.with_seed(seed);
            }
            let protocol = override_protocol(&file.display().to_string(), &swarm, &request.policy)?;
            let swarm = swarm.with_protocol(protocol);
            let per_peer = peer_bytes(swarm.protocol(), swarm.total_peers(), swarm.file().pieces);
            check_memory(&file.display().to_string(), swarm.total_peers(), per_peer, request.ranks)?;
            Ok((Scenario::from_swarm(&swarm, &file.display().to_string()), Some(swarm)))
        }
        Input::Course { folder, upload, download, latency, piece } => {
            if let Some((flag, _)) = policy_settings(&request.policy)?.first() {
                return Err(CommandError::Option(format!(
                    "{flag} applies only to a swarm file: a course folder runs the course's protocol"
                )));
            }
            if request.policy.protocol.is_some() {
                return Err(CommandError::Option(
                    "--protocol applies only to a swarm file: a course folder runs the course's protocol".into(),
                ));
            }
            let upload = quantity("--upload", upload, Kind::Rate)?;
            if upload == 0 {
                return Err(CommandError::Option("--upload is 0 bit/s: no peer could ever send a piece".into()));
            }
            let download = quantity("--download", download, Kind::Rate)?;
            if download == 0 {
                return Err(CommandError::Option("--download is 0 bit/s: no peer could ever receive a piece".into()));
            }
            let latency = quantity("--latency", latency, Kind::Duration)?;
            let piece = quantity("--piece", piece.as_deref().unwrap_or(DEFAULT_PIECE), Kind::Size)?;
            if piece == 0 {
                return Err(CommandError::Option("--piece is 0 B: a piece has at least one byte".into()));
            }
            if piece > MAX_PIECE_BYTES {
                return Err(CommandError::Option(format!(
                    "--piece is {}, larger than the most a piece may be ({})",
                    units::Bytes(piece),
                    units::Bytes(MAX_PIECE_BYTES)
                )));
            }
            check_folder(folder)?;
            let seed = request.seed.unwrap_or(DEFAULT_SEED);
            Ok((Scenario::from_course(folder, upload, download, latency, piece, seed)?, None))
        }
    }
}

/// What a simulated peer costs in memory, as measured (`make bench-sim`: 8.3 KB a peer at
/// 100,000 peers of a 400-piece file, the whole process's peak over its peers): a base, and a
/// part that grows with the file's pieces (its piece queue, its bitfield and its neighbours').
/// Rounded down, so that the estimate refuses a swarm that cannot fit, not one that might.
const PEER_BYTES: u64 = 6 * 1024;
const PEER_BYTES_PER_PIECE: u64 = 4;

/// A BitTorrent peer costs more: its connections, each with the remote's bitfield, its state
/// and its request queues. Measured (a flash crowd of a 400-piece file, 2,000 and 4,000
/// leechers): 29 KiB a peer more for each peer more, with some 48 connections a peer where
/// `max_connections` is 80. Rounded down as above: half of `max_connections` connections of
/// 384 bytes and a bitfield each.
const CONNECTION_BYTES: u64 = 384;

/// What one peer of a swarm is estimated to cost, and the file's pieces (for the message).
fn peer_bytes(protocol: &Protocol, peers: u32, pieces: u32) -> (u64, u32) {
    let base = PEER_BYTES_PER_PIECE * u64::from(pieces);
    let bytes = match protocol.policy() {
        None => PEER_BYTES + base,
        Some(policy) => {
            let connections = u64::from(policy.max_connections.min(peers.saturating_sub(1))) / 2;
            let bitfield = u64::from(pieces).div_ceil(64) * 8;
            4 * 1024 + base + connections * (CONNECTION_BYTES + bitfield)
        }
    };
    (bytes, pieces)
}

/// A swarm too large for this machine's memory is refused before anything is allocated for
/// it: otherwise the run grows for minutes and the kernel kills it. Where the free memory
/// cannot be read (not Linux), nothing is refused. Split over `ranks`, each rank checks its
/// share against what its own host has free (ranks that share a host each see the whole of it:
/// the check then refuses less than it could).
fn check_memory(origin: &str, peers: u32, per_peer: (u64, u32), ranks: u32) -> Result<(), CommandError> {
    let Some(available) = available_memory() else { return Ok(()) };
    let (per_peer, pieces) = per_peer;
    let need = u64::from(peers).saturating_mul(per_peer) / u64::from(ranks.max(1));
    if need <= available {
        return Ok(());
    }
    Err(CommandError::Memory {
        origin: origin.to_string(),
        peers,
        pieces,
        need_gb: need as f64 / 1e9,
        per_peer_kb: per_peer as f64 / 1024.0,
        available_gb: available as f64 / 1e9,
    })
}

/// Memory this machine can still give a process, in bytes: the kernel's estimate of what is
/// available without swapping (`MemAvailable`), plus free swap.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |key: &str| {
        meminfo.lines().find_map(|line| line.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
    };
    Some((kib("MemAvailable:")? + kib("SwapFree:").unwrap_or(0)) * 1024)
}

/// The swarm file's protocol with the command line's over it: `--protocol`, then each setting
/// over the file's `[policy]` (or over the defaults, when the file runs the course's protocol
/// and `--protocol bittorrent` says otherwise). A setting for a run of the course's protocol is
/// refused, as the file refuses one beside `protocol = "course"`.
fn override_protocol(origin: &str, swarm: &Swarm, options: &PolicyArgs) -> Result<Protocol, CommandError> {
    let settings = policy_settings(options)?;
    let file = swarm.protocol();
    match options.protocol.unwrap_or(file.kind()) {
        ProtocolKind::Course => match settings.first() {
            None => Ok(Protocol::Course),
            Some((flag, _)) => {
                let why = match options.protocol {
                    Some(_) => "not --protocol course".to_string(),
                    None => format!("and {origin} has protocol = \"course\" (--protocol bittorrent overrides it)"),
                };
                Err(CommandError::Option(format!("{flag} applies only to protocol \"bittorrent\", {why}")))
            }
        },
        ProtocolKind::BitTorrent => {
            let base = file.policy().cloned().unwrap_or_else(Policy::default);
            resolve_policy(&base, &settings, swarm.file().piece).map(Protocol::BitTorrent).map_err(|(flag, problem)| {
                CommandError::Option(match flag {
                    Some(flag) => format!("{flag}: {problem}"),
                    None => format!("{origin}: {problem}"),
                })
            })
        }
    }
}

/// The settings the command line gives, each with its option (`--rechoke`), in the order of
/// `swarm::POLICY_KEYS`; a quantity is read as the swarm file's are.
fn policy_settings(options: &PolicyArgs) -> Result<Vec<(String, Setting)>, CommandError> {
    let time = |option: &str, text: &Option<String>| {
        text.as_deref().map(|text| quantity(option, text, Kind::Duration)).transpose()
    };
    let PolicyArgs {
        protocol: _,
        pieces,
        random_first,
        endgame,
        choke,
        unchoke_slots,
        optimistic_slots,
        optimistic_rule,
        seed_choke,
        seed_quota,
        rechoke,
        optimistic,
        snub,
        requests_in_flight,
        block,
        peer_set,
        max_connections,
        min_connections,
        reannounce,
        overhead,
    } = options;
    let block = block.as_deref().map(|text| quantity("--block", text, Kind::Size)).transpose()?;
    let overhead = overhead
        .as_deref()
        .map(|text| units::parse_percent(text).map_err(|error| CommandError::Option(error.in_field("--overhead"))))
        .transpose()?;
    let given = [
        pieces.map(Setting::Pieces),
        random_first.map(Setting::RandomFirst),
        endgame.map(Setting::Endgame),
        choke.map(Setting::Choke),
        unchoke_slots.map(Setting::UnchokeSlots),
        optimistic_slots.map(Setting::OptimisticSlots),
        optimistic_rule.map(Setting::OptimisticRule),
        seed_choke.map(Setting::SeedChoke),
        seed_quota.map(Setting::SeedQuota),
        time("--rechoke", rechoke)?.map(Setting::Rechoke),
        time("--optimistic", optimistic)?.map(Setting::Optimistic),
        time("--snub", snub)?.map(Setting::Snub),
        requests_in_flight.map(Setting::RequestsInFlight),
        block.map(Setting::Block),
        peer_set.map(Setting::PeerSet),
        max_connections.map(Setting::MaxConnections),
        min_connections.map(Setting::MinConnections),
        time("--reannounce", reannounce)?.map(Setting::Reannounce),
        overhead.map(Setting::Overhead),
    ];
    Ok(given.into_iter().flatten().map(|setting| (option_of(setting.key()), setting)).collect())
}

/// The command line's option for a `[policy]` key: `requests_in_flight` is `--requests-in-flight`.
pub fn option_of(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

fn quantity(option: &str, text: &str, kind: Kind) -> Result<u64, CommandError> {
    units::parse(text, kind).map_err(|error| CommandError::Option(error.in_field(option)))
}

/// A course folder must be there and be a folder: said so plainly, rather than as a missing
/// `in1.txt`.
fn check_folder(folder: &Path) -> Result<(), CommandError> {
    let problem = match std::fs::metadata(folder) {
        Ok(metadata) if metadata.is_dir() => return Ok(()),
        Ok(_) => "not a folder; --input takes the folder holding in1.txt .. in<N>.txt".to_string(),
        Err(error) => format!("cannot read: {error}"),
    };
    Err(CommandError::Folder { folder: folder.display().to_string(), problem })
}

/// The progress line on a terminal: redrawn in place (`\r`, then erase the line), at most once
/// every [`ProgressLine::EVERY`] of wall time however often the engine reports, and erased
/// when dropped so that what is said next starts on a clean line.
pub struct ProgressLine<W: Write> {
    out: W,
    started: Instant,
    last_drawn: Option<Instant>,
}

impl<W: Write> ProgressLine<W> {
    pub const EVERY: Duration = Duration::from_millis(100);

    pub fn new(out: W, started: Instant) -> Self {
        ProgressLine { out, started, last_drawn: None }
    }

    /// Redraws the line with `progress` as of `now`, unless it was drawn less than `EVERY` ago.
    pub fn update(&mut self, now: Instant, progress: &Progress) {
        if self.last_drawn.is_some_and(|last| now.saturating_duration_since(last) < Self::EVERY) {
            return;
        }
        self.last_drawn = Some(now);
        let text = progress_text(progress, now.saturating_duration_since(self.started));
        // A progress line that cannot be drawn is no reason to stop the run.
        let _ = self.out.write_all(format!("\r\x1b[2K{text}").as_bytes());
        let _ = self.out.flush();
    }
}

impl<W: Write> Drop for ProgressLine<W> {
    fn drop(&mut self) {
        if self.last_drawn.is_some() {
            let _ = self.out.write_all(b"\r\x1b[2K");
            let _ = self.out.flush();
        }
    }
}

/// `simulated 123.456 s, 512/1001 peers done, 1234567 events/s` (events per second of wall time
/// since the start; left out before any time has passed).
pub fn progress_text(progress: &Progress, elapsed: Duration) -> String {
    let mut text = format!(
        "simulated {}.{:03} s, {}/{} peers done",
        progress.now / 1_000_000_000,
        progress.now % 1_000_000_000 / 1_000_000,
        progress.peers_done,
        progress.peers
    );
    if !elapsed.is_zero() {
        text.push_str(&format!(", {:.0} events/s", progress.events as f64 / elapsed.as_secs_f64()));
    }
    text
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::bt::policy::{Choke, Optimistic, PieceOrder};
    use crate::sim::outcome::PeerOutcome;
    use crate::sim::scratch::Folder;

    const SWARM: &str = "seed = 7\n[file]\nsize = \"1 MiB\"\npiece = \"256 KiB\"\n[network]\nlatency = \"20 ms\"\n\
                         [[peers]]\nname = \"seed\"\ncount = 1\nupload = \"8 Mbit/s\"\ndownload = \"8 Mbit/s\"\n\
                         seed = true\n[[peers]]\nname = \"leecher\"\ncount = 2\nupload = \"8 Mbit/s\"\n\
                         download = \"8 Mbit/s\"\n";

    /// A stand-in engine: every leecher done at 1 s, 2 s, ..., the seed at 0; reports twice.
    fn fake(scenario: &Scenario, on_progress: &mut dyn FnMut(&Progress)) -> Result<Outcome, String> {
        let peers = scenario.peer_count();
        on_progress(&Progress { now: 0, peers_done: 0, peers, events: 0 });
        let mut outcome = Outcome { peers: Vec::new(), simulated: 0, events: 10 * u64::from(peers) };
        for (index, peer) in scenario.peers.iter().enumerate() {
            let done = if peer.wants.is_empty() { 0 } else { (index as u64 + 1) * 1_000_000_000 + scenario.seed };
            outcome.simulated = outcome.simulated.max(done);
            outcome.peers.push(PeerOutcome {
                done_at: Some(done),
                uploaded_bytes: 1,
                downloaded_bytes: 2,
                duplicate_bytes: 0,
                bittorrent: None,
            });
        }
        on_progress(&Progress { now: outcome.simulated, peers_done: peers, peers, events: outcome.events });
        Ok(outcome)
    }

    fn swarm_request(folder: &Folder, seed: Option<u64>) -> Request {
        let file = folder.0.join("swarm.toml");
        std::fs::write(&file, SWARM).unwrap();
        Request {
            input: Input::Swarm(file),
            seed,
            out: folder.0.join("out"),
            quiet: true,
            ranks: 1,
            policy: PolicyArgs::default(),
        }
    }

    #[test]
    fn a_swarm_file_runs_and_its_results_are_written() {
        let folder = Folder::new("command-swarm");
        let request = swarm_request(&folder, None);
        let finished = run(&request, fake).unwrap();
        assert_eq!(finished.peers, 3);
        assert_eq!(finished.events, 30);
        assert_eq!(finished.simulated_seconds, 3.000000007);
        // 2 x 8 Mibit over 24 Mbit/s (0.699 s) or 8 Mibit over 8 Mbit/s (1.048576 s).
        assert_eq!(finished.t_min_seconds, Some(1.048576));
        assert_eq!(finished.efficiency, Some(1.048576 / 3.000000007));
        assert_eq!(finished.leftover, None);
        let line = finished.to_string();
        assert!(
            line.starts_with(&format!(
                "{}: 3 peers in 3.000 s simulated (T_min 1.049 s, efficiency 0.350); 30 events in ",
                request_origin(&request)
            )),
            "{line}"
        );
        assert!(line.ends_with(&format!("s; results in {}", request.out.display())), "{line}");
        let csv = std::fs::read_to_string(request.out.join(results::PEERS)).unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(csv.contains("\n3,leecher,3.000000007,1,2,0,0.500000,\n"), "{csv}");
    }

    fn request_origin(request: &Request) -> String {
        match &request.input {
            Input::Swarm(file) => file.display().to_string(),
            Input::Course { folder, .. } => folder.display().to_string(),
        }
    }

    #[test]
    fn a_swarm_files_protocol_and_free_riders_reach_the_scenario() {
        let folder = Folder::new("command-protocol");
        let (scenario, swarm) = load_scenario(&swarm_request(&folder, None)).unwrap();
        assert_eq!(scenario.protocol, Protocol::default(), "no [policy]: BitTorrent at its defaults");
        assert_eq!(&scenario.protocol, swarm.unwrap().protocol());
        assert!(scenario.classes.iter().all(|class| !class.free_rider));
        let text = SWARM.replace("count = 2\n", "count = 2\nfree_rider = true\n")
            + "[[peers]]\nname = \"mute\"\ncount = 1\nupload = \"0 bit/s\"\ndownload = \"1 Mbit/s\"\n\
               [policy]\nprotocol = \"course\"\n";
        let request = swarm_request(&folder, None);
        let Input::Swarm(file) = &request.input else { unreachable!() };
        std::fs::write(file, text).unwrap();
        let (scenario, _) = load_scenario(&request).unwrap();
        assert_eq!(scenario.protocol, Protocol::Course);
        let free_riders: Vec<bool> = scenario.classes.iter().map(|class| class.free_rider).collect();
        assert_eq!(free_riders, [false, true, true], "said so, or uploads nothing");
    }

    /// `swarm_request` of SWARM and `policy` (a `[policy]` table's lines, or nothing), with
    /// `options` on the command line.
    fn policy_request(folder: &Folder, policy: Option<&str>, options: PolicyArgs) -> Request {
        let request = swarm_request(folder, None);
        let Input::Swarm(file) = &request.input else { unreachable!() };
        let text = match policy {
            Some(table) => format!("{SWARM}[policy]\n{table}"),
            None => SWARM.to_string(),
        };
        std::fs::write(file, text).unwrap();
        Request { policy: options, ..request }
    }

    fn protocol_of(request: &Request) -> Result<Protocol, String> {
        load_scenario(request).map(|(scenario, _)| scenario.protocol).map_err(|error| error.to_string())
    }

    #[test]
    fn policy_options_override_the_files_policy() {
        let folder = Folder::new("command-policy");
        let file = "unchoke_slots = 4\nrechoke = \"5 s\"\noptimistic = \"15 s\"\npieces = \"random\"\n";
        let options = PolicyArgs {
            unchoke_slots: Some(6),
            optimistic: Some("20 s".into()),
            endgame: Some(false),
            choke: Some(Choke::None),
            optimistic_rule: Some(Optimistic::Random),
            random_first: Some(0),
            optimistic_slots: Some(2),
            snub: Some("2 min".into()),
            requests_in_flight: Some(9),
            block: Some("256 KiB".into()),
            peer_set: Some(30),
            max_connections: Some(40),
            min_connections: Some(5),
            reannounce: Some("1 h".into()),
            overhead: Some("2.5 %".into()),
            ..PolicyArgs::default()
        };
        let expected = Policy {
            pieces: PieceOrder::Random, // the file's, no option
            random_first: 0,
            endgame: false,
            choke: Choke::None,
            unchoke_slots: 6,
            optimistic_slots: 2,
            optimistic_rule: Optimistic::Random,
            rechoke: 5_000_000_000, // the file's
            optimistic: 20_000_000_000,
            snub: 120_000_000_000,
            requests_in_flight: 9,
            block: 256 << 10,
            peer_set: 30,
            max_connections: 40,
            min_connections: 5,
            reannounce: 3_600_000_000_000,
            overhead_ppm: 25_000,
            ..Policy::default()
        };
        let request = policy_request(&folder, Some(file), options.clone());
        assert_eq!(protocol_of(&request), Ok(Protocol::BitTorrent(expected.clone())));
        // The swarm handed to the results is the one that runs.
        let (scenario, swarm) = load_scenario(&request).unwrap();
        assert_eq!(swarm.unwrap().protocol(), &scenario.protocol);
        // No [policy]: over the defaults.
        let request = policy_request(&folder, None, PolicyArgs { pieces: Some(PieceOrder::InOrder), ..options });
        let policy = protocol_of(&request).unwrap().policy().cloned().unwrap();
        assert_eq!((policy.pieces, policy.rechoke, policy.unchoke_slots), (PieceOrder::InOrder, 10_000_000_000, 6));
        // No options: the file's, as it was.
        let request = policy_request(&folder, Some(file), PolicyArgs::default());
        let policy = protocol_of(&request).unwrap().policy().cloned().unwrap();
        assert_eq!((policy.unchoke_slots, policy.optimistic), (4, 15_000_000_000));
    }

    #[test]
    fn the_protocol_option_overrides_the_files_protocol() {
        let folder = Folder::new("command-protocol-option");
        let course = |protocol| PolicyArgs { protocol: Some(protocol), ..PolicyArgs::default() };
        // BitTorrent in the file, the course's on the command line: the file's settings go unused.
        let request = policy_request(&folder, Some("unchoke_slots = 4\n"), course(ProtocolKind::Course));
        assert_eq!(protocol_of(&request), Ok(Protocol::Course));
        let request = policy_request(&folder, None, course(ProtocolKind::Course));
        assert_eq!(protocol_of(&request), Ok(Protocol::Course));
        // The course's in the file, BitTorrent on the command line: at the defaults, and options.
        let request = policy_request(&folder, Some("protocol = \"course\"\n"), course(ProtocolKind::BitTorrent));
        assert_eq!(protocol_of(&request), Ok(Protocol::default()));
        let options = PolicyArgs { peer_set: Some(7), ..course(ProtocolKind::BitTorrent) };
        let request = policy_request(&folder, Some("protocol = \"course\"\n"), options);
        assert_eq!(protocol_of(&request).unwrap().policy().unwrap().peer_set, 7);
        // And it shows in summary.json's scenario.
        let request = policy_request(&folder, None, PolicyArgs { unchoke_slots: Some(5), ..PolicyArgs::default() });
        run(&request, fake).unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(request.out.join(results::SUMMARY)).unwrap()).unwrap();
        assert_eq!(summary["scenario"]["protocol"]["name"], "bittorrent");
        assert_eq!(summary["scenario"]["protocol"]["unchoke_slots"], 5);
    }

    #[test]
    fn bad_policy_options_are_one_line_naming_the_option() {
        let folder = Folder::new("command-policy-bad");
        let origin = folder.0.join("swarm.toml").display().to_string();
        let with = |edit: fn(&mut PolicyArgs)| {
            let mut options = PolicyArgs::default();
            edit(&mut options);
            options
        };
        let course = format!("and {origin} has protocol = \"course\" (--protocol bittorrent overrides it)");
        let multiple = "optimistic must be a positive multiple of rechoke (the rotation happens at a rechoke)";
        for (file, options, expected) in [
            (
                None,
                with(|o| o.rechoke = Some("10 sec".into())),
                "unknown unit \"sec\" in --rechoke; use one of: ns, us",
            ),
            (None, with(|o| o.snub = Some("60".into())), "\"60\" in --snub has no unit; use one of: ns, us, µs"),
            (None, with(|o| o.block = Some("16 kb".into())), "unknown unit \"kb\" in --block; use one of: B, kB, KiB"),
            (None, with(|o| o.overhead = Some("5".into())), "\"5\" in --overhead has no %; write a percentage"),
            (None, with(|o| o.overhead = Some("100%".into())), "\"100%\" in --overhead is 100% or more; a share must"),
            (None, with(|o| o.optimistic = Some("25 s".into())), &format!("--optimistic: {multiple}")),
            // The file's optimistic (20 s) and the option's rechoke: the option is at fault.
            (
                Some("optimistic = \"20 s\"\n"),
                with(|o| o.rechoke = Some("15 s".into())),
                &format!("--rechoke: {multiple}"),
            ),
            (
                None,
                with(|o| o.block = Some("512 KiB".into())),
                "--block: block is 512 KiB, larger than the file's piece",
            ),
            (
                None,
                with(|o| o.requests_in_flight = Some(0)),
                "--requests-in-flight: requests_in_flight must be at least 1",
            ),
            (
                Some("protocol = \"course\"\n"),
                with(|o| o.unchoke_slots = Some(4)),
                &format!("--unchoke-slots applies only to protocol \"bittorrent\", {course}"),
            ),
            (
                None,
                with(|o| (o.protocol, o.endgame) = (Some(ProtocolKind::Course), Some(true))),
                "--endgame applies only to protocol \"bittorrent\", not --protocol course",
            ),
        ] {
            let request = policy_request(&folder, file, options);
            let error = run(&request, fake).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
            assert!(!error.contains('\n'), "{error}");
            assert!(!request.out.exists());
        }
    }

    #[test]
    fn policy_options_are_refused_with_a_course_folder() {
        let folder = Folder::new("command-course-policy");
        for (options, expected) in [
            (
                PolicyArgs { pieces: Some(PieceOrder::Random), ..PolicyArgs::default() },
                "--pieces applies only to a swarm file: a course folder runs the course's protocol",
            ),
            (
                PolicyArgs { protocol: Some(ProtocolKind::Course), ..PolicyArgs::default() },
                "--protocol applies only to a swarm file: a course folder runs the course's protocol",
            ),
        ] {
            let request = Request { policy: options, ..course(&folder, "1 Mbit/s", "1 Mbit/s", "1 ms", None) };
            assert_eq!(run(&request, fake).unwrap_err().to_string(), expected);
            assert!(!request.out.exists());
        }
    }

    #[test]
    fn options_are_the_keys_with_dashes() {
        assert_eq!(option_of("requests_in_flight"), "--requests-in-flight");
        assert_eq!(option_of("block"), "--block");
    }

    #[test]
    fn the_seed_option_overrides_the_files() {
        let folder = Folder::new("command-seed");
        let (scenario, swarm) = load_scenario(&swarm_request(&folder, None)).unwrap();
        assert_eq!((scenario.seed, swarm.unwrap().seed()), (7, 7));
        let (scenario, swarm) = load_scenario(&swarm_request(&folder, Some(99))).unwrap();
        assert_eq!((scenario.seed, swarm.unwrap().seed()), (99, 99));
    }

    #[test]
    fn an_engine_error_names_the_input_and_touches_no_folder() {
        let folder = Folder::new("command-engine-error");
        let request = swarm_request(&folder, None);
        let error =
            run(&request, |_: &Scenario, _: &mut dyn FnMut(&Progress)| Err("the swarm cannot finish")).unwrap_err();
        assert_eq!(error.to_string(), format!("{}: the swarm cannot finish", request_origin(&request)));
        assert!(!request.out.exists());
    }

    fn course(folder: &Folder, upload: &str, download: &str, latency: &str, piece: Option<&str>) -> Request {
        let hash = "a".repeat(32);
        std::fs::write(folder.0.join("in1.txt"), format!("1\nf 2\n{hash}\n{hash}\n0\n")).unwrap();
        std::fs::write(folder.0.join("in2.txt"), "0\n1\nf\n").unwrap();
        Request {
            input: Input::Course {
                folder: folder.0.clone(),
                upload: upload.into(),
                download: download.into(),
                latency: latency.into(),
                piece: piece.map(String::from),
            },
            seed: None,
            out: folder.0.join("out"),
            quiet: true,
            ranks: 1,
            policy: PolicyArgs::default(),
        }
    }

    #[test]
    fn a_course_folder_takes_its_links_from_the_options() {
        let folder = Folder::new("command-course");
        let (scenario, swarm) = load_scenario(&course(&folder, "1 Mbit/s", "2.5 MB/s", "20 ms", None)).unwrap();
        assert!(swarm.is_none());
        assert_eq!(scenario.seed, DEFAULT_SEED);
        assert_eq!(scenario.classes[0].upload_bits_per_s, 1_000_000);
        assert_eq!(scenario.classes[0].download_bits_per_s, 20_000_000);
        assert_eq!(scenario.latency_ns, 20_000_000);
        assert_eq!(scenario.files[0].piece_bytes, 256 << 10);
        assert_eq!(scenario.files[0].size_bytes, 512 << 10);
        assert_eq!(scenario.protocol, Protocol::Course, "a course folder runs the course's protocol");
        assert!(!scenario.classes[0].free_rider);
        let (scenario, _) = load_scenario(&course(&folder, "1 Mbit/s", "1 Mbit/s", "0 s", Some("16 KiB"))).unwrap();
        assert_eq!(scenario.files[0].size_bytes, 32 << 10);
        let finished = run(&course(&folder, "1 Mbit/s", "1 Mbit/s", "1 ms", Some("1 KiB")), fake).unwrap();
        assert_eq!(finished.peers, 2);
    }

    #[test]
    fn bad_course_options_are_one_line_each() {
        let folder = Folder::new("command-course-bad");
        for (request, expected) in [
            (
                course(&folder, "1 Mbps", "1 Mbit/s", "1 ms", None),
                "unknown unit \"Mbps\" in --upload; use one of: bit/s, kbit/s, Mbit/s, Gbit/s, B/s, kB/s, KiB/s, \
                 MB/s, MiB/s (did you mean Mbit/s?)",
            ),
            (
                course(&folder, "0 bit/s", "1 Mbit/s", "1 ms", None),
                "--upload is 0 bit/s: no peer could ever send a piece",
            ),
            (
                course(&folder, "1 Mbit/s", "0 Mbit/s", "1 ms", None),
                "--download is 0 bit/s: no peer could ever receive a piece",
            ),
            (
                course(&folder, "1 Mbit/s", "1 Mbit/s", "1 MiB", None),
                "unknown unit \"MiB\" in --latency; use one of: ns, us, µs, ms, s, min, h (MiB is a unit of size, \
                 and this is a duration)",
            ),
            (
                course(&folder, "1 Mbit/s", "1 Mbit/s", "1 ms", Some("0 B")),
                "--piece is 0 B: a piece has at least one byte",
            ),
            (
                course(&folder, "1 Mbit/s", "1 Mbit/s", "1 ms", Some("2 GiB")),
                "--piece is 2 GiB, larger than the most a piece may be (1 GiB)",
            ),
        ] {
            let error = run(&request, fake).unwrap_err();
            assert_eq!(error.to_string(), expected);
            assert!(!request.out.exists());
        }
        let mut missing = course(&folder, "1 Mbit/s", "1 Mbit/s", "1 ms", None);
        let Input::Course { folder: course_folder, .. } = &mut missing.input else { unreachable!() };
        *course_folder = folder.0.join("nowhere");
        let error = run(&missing, fake).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: cannot read: ", folder.0.join("nowhere").display())), "{error}");
    }

    #[test]
    fn the_progress_line_is_redrawn_in_place_at_most_every_100_ms_and_erased() {
        let start = Instant::now();
        let mut out = Vec::new();
        {
            let mut line = ProgressLine::new(&mut out, start);
            let at = |ms| start + Duration::from_millis(ms);
            let progress = |peers_done, events| Progress { now: 1_500_000_000, peers_done, peers: 10, events };
            line.update(at(0), &progress(0, 0));
            line.update(at(50), &progress(1, 10)); // too soon: not drawn
            line.update(at(100), &progress(2, 1000));
            line.update(at(150), &progress(3, 2000)); // too soon
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\r\x1b[2Ksimulated 1.500 s, 0/10 peers done\
             \r\x1b[2Ksimulated 1.500 s, 2/10 peers done, 10000 events/s\
             \r\x1b[2K"
        );
        let mut untouched = Vec::new();
        drop(ProgressLine::new(&mut untouched, start));
        assert!(untouched.is_empty(), "never drawn, never erased");
    }

    #[test]
    fn progress_text_shows_milliseconds_of_simulated_time() {
        let progress = Progress { now: 12_345_678_901, peers_done: 5, peers: 7, events: 40 };
        assert_eq!(progress_text(&progress, Duration::from_secs(2)), "simulated 12.345 s, 5/7 peers done, 20 events/s");
    }
}
