//! A simulated run's results, written into an output folder: `summary.json` (the scenario as
//! run, in SI units, and the run's figures) and `peers.csv` (one row per peer), both loadable in
//! pandas.
//!
//! Deterministic to the byte: the same `Outcome` gives the same files, `wall_seconds` aside.
//! Keys come in a fixed order (structs, not maps); every float is computed from the run's
//! integers in one fixed way; times in `peers.csv` are printed from integer nanoseconds with no
//! float in between.
//!
//! The folder is replaced whole or not at all: the files are written into a fresh sibling
//! folder, which is then swapped in (see [`replace_folder`]). A run that fails leaves any
//! earlier results as they were, and never a half-written folder.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::link::Nanos;
use super::outcome::Outcome;
use super::scenario::{Scenario, SimFile};
use super::swarm::{Protocol, Swarm};
use super::theory;

/// The file every results folder holds; an existing folder without it is not replaced (it is
/// not a previous run's, and replacing it would delete someone's files).
pub const SUMMARY: &str = "summary.json";
pub const PEERS: &str = "peers.csv";

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// What a run's results are made from.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    pub scenario: &'a Scenario,
    /// The swarm file the scenario came from, as resolved (seed overridden, if it was); None for
    /// a course folder.
    pub swarm: Option<&'a Swarm>,
    pub outcome: &'a Outcome,
    /// How long the engine ran, in wall-clock seconds: the one figure that differs between
    /// identical runs.
    pub wall_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} exists and is not a folder; results go into a folder of their own")]
    NotAFolder { path: PathBuf },
    #[error(
        "{path} exists and does not hold a previous run's results (no {SUMMARY}); \
         results replace their folder whole, so choose another --out or remove it"
    )]
    NotResults { path: PathBuf },
    #[error("{path} cannot be an output folder: it has no name of its own")]
    NoName { path: PathBuf },
    #[error("the engine reported {outcomes} peers for a scenario of {peers}")]
    Mismatch { peers: usize, outcomes: usize },
}

/// `summary.json`: the fields in the order they are written.
#[derive(Clone, Debug, Serialize)]
pub struct Summary<'a> {
    /// The program and version that wrote it.
    pub bitorrent: &'static str,
    pub scenario: ScenarioView<'a>,
    pub seed: u64,
    /// Peers, the tracker not counted.
    pub peers: u32,
    /// When the last peer was done (the engine's clock at the end).
    pub simulated_seconds: f64,
    /// What no schedule can beat: when the last peer could be done at the earliest. None when no
    /// peer wants anything.
    pub t_min_seconds: Option<f64>,
    /// `t_min_seconds / completion_seconds.last`, in (0, 1]; None without a bound, or when a peer
    /// that wanted something never finished.
    pub efficiency: Option<f64>,
    /// Over the peers that wanted something and got it.
    pub completion_seconds: Completion,
    /// Peers that wanted something and never had it all (0 in a finished run).
    pub peers_unfinished: u32,
    pub classes: Vec<ClassSummary<'a>>,
    /// What BitTorrent's algorithms add; absent under the course protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bittorrent: Option<BitTorrentSummary>,
    /// Events the engine handled.
    pub events: u64,
    pub wall_seconds: f64,
}

/// The scenario as run, every quantity in SI units (bytes, bits per second, seconds), the same
/// shape for a swarm file and a course folder.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioView<'a> {
    /// The swarm file or course folder, as given on the command line.
    pub origin: &'a str,
    /// `"swarm file"` or `"course folder"`.
    pub input: &'static str,
    pub seed: u64,
    /// One way, between any two peers.
    pub latency_seconds: f64,
    /// name, size_bytes, piece_bytes, pieces, owners, wanted_by.
    pub files: &'a [SimFile],
    pub classes: Vec<ClassView<'a>>,
    /// What the peers ran: `{"name": "course"}`, or `{"name": "bittorrent", ...}` with every
    /// setting of BitTorrent's algorithms (`swarm::Protocol`).
    pub protocol: &'a Protocol,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassView<'a> {
    pub name: &'a str,
    pub count: u32,
    pub upload_bits_per_s: u64,
    pub download_bits_per_s: u64,
    /// Never uploads (a swarm file's `free_rider = true`, or an upload of 0).
    pub free_rider: bool,
    /// From a swarm file: whether the class holds the file from the start, and its first peer
    /// id (its peers are `first_peer .. first_peer + count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_peer: Option<u32>,
}

/// Completion times in seconds. Percentiles are nearest-rank: the p-th of n sorted times is the
/// one at 1-based rank `ceil(p * n / 100)`, always a time some peer had (the median of an even
/// count is the lower middle one). All None when no peer finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Completion {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub last: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassSummary<'a> {
    pub name: &'a str,
    pub count: u32,
    /// Over the class's peers that wanted something and got it; None if there are none (seeds).
    pub mean_completion_seconds: Option<f64>,
    pub uploaded_bytes: u128,
    pub downloaded_bytes: u128,
    /// Uploaded over downloaded; None for a class that downloaded nothing (seeds).
    pub share_ratio: Option<f64>,
    /// Bytes of blocks its peers received twice (endgame's duplicates, blocks that came after
    /// a choke): not in `downloaded_bytes`.
    pub duplicate_bytes: u128,
    /// BitTorrent: while they downloaded, the mean fraction of their connections its peers
    /// were interested in (piece diversity: near 1, every neighbour has something to give).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_interest_fraction: Option<f64>,
    /// BitTorrent: how its peers' regular (tit-for-tat) unchoke time went to each class, as
    /// fractions of the class's total; all 0 when it gave none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regular_unchokes_to: Option<Vec<ShareOfUnchokes<'a>>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ShareOfUnchokes<'a> {
    pub class: &'a str,
    pub fraction: f64,
}

/// The swarm-wide figures of BitTorrent's algorithms.
#[derive(Clone, Debug, Serialize)]
pub struct BitTorrentSummary {
    /// Over the peers that held the file from the start: payload bytes they sent again before
    /// every block of the file had gone out once (rarest first is meant to keep this low).
    pub seed_repeat_bytes_before_all_out: u128,
    /// When the last of those peers had sent every block once; None if one never did.
    pub seed_all_out_seconds: Option<f64>,
    /// Payload bytes those peers sent before the first leecher completed the file: in a
    /// flash crowd, how much of the file the seeds had to put out before anyone had it all.
    pub seed_uploaded_bytes_before_first_completion: u128,
    /// Over the leechers: the mean fraction of their connections they were interested in.
    pub mean_interest_fraction: Option<f64>,
}

fn seconds(nanos: Nanos) -> f64 {
    nanos as f64 / NANOS_PER_SECOND as f64
}

/// The mean of integer nanoseconds, in seconds: summed exactly, divided once.
fn mean_seconds(times: &[Nanos]) -> Option<f64> {
    if times.is_empty() {
        return None;
    }
    let sum: u128 = times.iter().map(|&t| u128::from(t)).sum();
    Some(sum as f64 / times.len() as f64 / NANOS_PER_SECOND as f64)
}

/// The nearest-rank `percent`-th percentile of `sorted` (ascending, non-empty), 0 < percent <= 100.
fn nearest_rank(sorted: &[Nanos], percent: usize) -> Nanos {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn completion(mut times: Vec<Nanos>) -> Completion {
    times.sort_unstable();
    let Some(&last) = times.last() else { return Completion::default() };
    Completion {
        mean: mean_seconds(&times),
        median: Some(seconds(nearest_rank(&times, 50))),
        p90: Some(seconds(nearest_rank(&times, 90))),
        last: Some(seconds(last)),
    }
}

/// The summary of `run`.
pub fn summary<'a>(run: &Run<'a>) -> Result<Summary<'a>, ResultsError> {
    let Run { scenario, swarm, outcome, wall_seconds } = *run;
    if outcome.peers.len() != scenario.peers.len() {
        return Err(ResultsError::Mismatch { peers: scenario.peers.len(), outcomes: outcome.peers.len() });
    }
    let mut done = Vec::new();
    let mut unfinished = 0;
    let mut class_done: Vec<Vec<Nanos>> = vec![Vec::new(); scenario.classes.len()];
    let mut class_bytes = vec![(0u128, 0u128, 0u128); scenario.classes.len()];
    let figures = BitTorrentFigures::of(scenario, outcome);
    for (peer, result) in scenario.peers.iter().zip(&outcome.peers) {
        let class = peer.class as usize;
        class_bytes[class].0 += u128::from(result.uploaded_bytes);
        class_bytes[class].1 += u128::from(result.downloaded_bytes);
        class_bytes[class].2 += u128::from(result.duplicate_bytes);
        if peer.wants.is_empty() {
            continue;
        }
        match result.done_at {
            Some(at) => {
                done.push(at);
                class_done[class].push(at);
            }
            None => unfinished += 1,
        }
    }
    // Exact (theory's rationals), for a swarm file's one file and a course folder's several.
    let t_min_seconds = theory::min_distribution_time(scenario).map(|bound| bound.t_min().as_f64());
    let completion = completion(done);
    let efficiency = match (t_min_seconds, completion.last) {
        (Some(t_min), Some(last)) if unfinished == 0 && last > 0.0 => Some(t_min / last),
        _ => None,
    };
    let classes = scenario
        .classes
        .iter()
        .enumerate()
        .zip(class_done)
        .zip(class_bytes)
        .map(|(((index, class), times), (uploaded_bytes, downloaded_bytes, duplicate_bytes))| ClassSummary {
            name: &class.name,
            count: class.count,
            mean_completion_seconds: mean_seconds(&times),
            uploaded_bytes,
            downloaded_bytes,
            share_ratio: (downloaded_bytes > 0).then(|| uploaded_bytes as f64 / downloaded_bytes as f64),
            duplicate_bytes,
            mean_interest_fraction: figures.as_ref().and_then(|f| f.interest[index].mean()),
            regular_unchokes_to: figures.as_ref().map(|f| {
                let given: u128 = f.unchokes[index].iter().sum();
                scenario
                    .classes
                    .iter()
                    .zip(&f.unchokes[index])
                    .map(|(to, &ns)| ShareOfUnchokes {
                        class: &to.name,
                        fraction: if given == 0 { 0.0 } else { ns as f64 / given as f64 },
                    })
                    .collect()
            }),
        })
        .collect();
    Ok(Summary {
        bitorrent: concat!("bitorrent ", env!("CARGO_PKG_VERSION")),
        scenario: scenario_view(scenario, swarm),
        seed: scenario.seed,
        peers: scenario.peer_count(),
        simulated_seconds: seconds(outcome.simulated),
        t_min_seconds,
        efficiency,
        completion_seconds: completion,
        peers_unfinished: unfinished,
        classes,
        bittorrent: figures.map(|f| f.summary()),
        events: outcome.events,
        wall_seconds,
    })
}

/// A running mean of millionths.
#[derive(Clone, Copy, Default)]
struct MeanPpm {
    sum: u128,
    count: u64,
}

impl MeanPpm {
    fn add(&mut self, ppm: u32) {
        self.sum += u128::from(ppm);
        self.count += 1;
    }

    fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64 / 1e6)
    }
}

/// BitTorrent's figures, summed by class; None under the course protocol.
struct BitTorrentFigures {
    /// By class: the interest fractions of its peers.
    interest: Vec<MeanPpm>,
    all: MeanPpm,
    /// By class, then by the class unchoked: regular unchoke time.
    unchokes: Vec<Vec<u128>>,
    repeat_bytes: u128,
    all_out: Option<Option<Nanos>>,
    before_first_done: u128,
}

impl BitTorrentFigures {
    fn of(scenario: &Scenario, outcome: &Outcome) -> Option<BitTorrentFigures> {
        scenario.protocol.policy()?;
        let classes = scenario.classes.len();
        let mut figures = BitTorrentFigures {
            interest: vec![MeanPpm::default(); classes],
            all: MeanPpm::default(),
            unchokes: vec![vec![0; classes]; classes],
            repeat_bytes: 0,
            all_out: None,
            before_first_done: 0,
        };
        for (peer, result) in scenario.peers.iter().zip(&outcome.peers) {
            let Some(bt) = &result.bittorrent else { continue };
            let class = peer.class as usize;
            if let Some(ppm) = bt.interest_ppm {
                figures.interest[class].add(ppm);
                figures.all.add(ppm);
            }
            for (to, &ns) in bt.regular_unchoke_ns.iter().enumerate() {
                figures.unchokes[class][to] += u128::from(ns);
            }
            if let Some(copies) = bt.first_copies {
                figures.repeat_bytes += u128::from(copies.repeat_bytes);
                figures.before_first_done += u128::from(copies.before_first_done);
                // The latest of the seeds' times; never, if one never got there.
                figures.all_out = Some(match (figures.all_out, copies.all_out_at) {
                    (None, at) => at,
                    (Some(Some(a)), Some(b)) => Some(a.max(b)),
                    _ => None,
                });
            }
        }
        Some(figures)
    }

    fn summary(&self) -> BitTorrentSummary {
        BitTorrentSummary {
            seed_repeat_bytes_before_all_out: self.repeat_bytes,
            seed_all_out_seconds: self.all_out.flatten().map(seconds),
            seed_uploaded_bytes_before_first_completion: self.before_first_done,
            mean_interest_fraction: self.all.mean(),
        }
    }
}

fn scenario_view<'a>(scenario: &'a Scenario, swarm: Option<&'a Swarm>) -> ScenarioView<'a> {
    let classes = scenario
        .classes
        .iter()
        .enumerate()
        .map(|(index, class)| {
            let from_file = swarm.and_then(|swarm| swarm.classes().get(index));
            ClassView {
                name: &class.name,
                count: class.count,
                upload_bits_per_s: class.upload_bits_per_s,
                download_bits_per_s: class.download_bits_per_s,
                free_rider: class.free_rider,
                seed: from_file.map(|class| class.seed),
                first_peer: from_file.map(|class| class.first.0),
            }
        })
        .collect();
    ScenarioView {
        origin: &scenario.origin,
        input: if swarm.is_some() { "swarm file" } else { "course folder" },
        seed: scenario.seed,
        latency_seconds: seconds(scenario.latency_ns),
        files: &scenario.files,
        classes,
        protocol: &scenario.protocol,
    }
}

/// `summary.json`'s text: pretty-printed, with a final newline.
pub fn summary_json(run: &Run) -> Result<String, ResultsError> {
    let summary = summary(run)?;
    let mut text = serde_json::to_string_pretty(&summary).expect("a summary is plain data and always serializes");
    text.push('\n');
    Ok(text)
}

/// Integer nanoseconds as seconds with all nine decimals: `12345678901` is `12.345678901`.
pub fn exact_seconds(nanos: Nanos) -> String {
    format!("{}.{:09}", nanos / NANOS_PER_SECOND, nanos % NANOS_PER_SECOND)
}

/// `peers.csv`: a header, then one row per peer in id order; `done_seconds` is empty for a peer
/// that never had all it wanted, and 0 for one that wanted nothing. Class names need no quoting
/// (the swarm file refuses commas, quotes and control characters in them).
pub fn peers_csv(run: &Run) -> Result<String, ResultsError> {
    let Run { scenario, outcome, .. } = *run;
    if outcome.peers.len() != scenario.peers.len() {
        return Err(ResultsError::Mismatch { peers: scenario.peers.len(), outcomes: outcome.peers.len() });
    }
    let mut text = String::with_capacity(48 * (outcome.peers.len() + 1));
    text.push_str(
        "peer,class,done_seconds,uploaded_bytes,downloaded_bytes,duplicate_bytes,share_ratio,interest_fraction\n",
    );
    for (index, (peer, result)) in scenario.peers.iter().zip(&outcome.peers).enumerate() {
        let done = result.done_at.map(exact_seconds).unwrap_or_default();
        let class = &scenario.classes[peer.class as usize].name;
        // Ratios to 6 decimals: enough to compare peers, and the same text on every machine.
        let share = match result.downloaded_bytes {
            0 => String::new(),
            down => format!("{:.6}", result.uploaded_bytes as f64 / down as f64),
        };
        let interest = result
            .bittorrent
            .as_ref()
            .and_then(|bt| bt.interest_ppm)
            .map(|ppm| format!("{}.{:06}", ppm / 1_000_000, ppm % 1_000_000))
            .unwrap_or_default();
        text.push_str(&format!(
            "{},{class},{done},{},{},{},{share},{interest}\n",
            index + 1,
            result.uploaded_bytes,
            result.downloaded_bytes,
            result.duplicate_bytes
        ));
    }
    Ok(text)
}

/// Writes `run`'s results into `folder`, replacing it whole (see [`replace_folder`]).
pub fn write(folder: &Path, run: &Run) -> Result<Written, ResultsError> {
    let summary = summary_json(run)?;
    let peers = peers_csv(run)?;
    replace_folder(folder, |temporary| {
        write_file(&temporary.join(SUMMARY), summary.as_bytes())?;
        write_file(&temporary.join(PEERS), peers.as_bytes())
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    let io = |source| ResultsError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::create(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    // On disk before the folder is swapped in, so a crash right after cannot leave the new
    // folder in place with empty files.
    file.sync_all().map_err(io)
}

/// What a successful replacement left behind.
#[derive(Debug, PartialEq, Eq)]
pub struct Written {
    /// The previous results, moved aside but not removed (removing them failed): the new folder
    /// is in place all the same, and this one can go.
    pub leftover: Option<PathBuf>,
}

/// Makes `folder` hold exactly what `fill` writes, or leaves it as it was.
///
/// `fill` writes into a fresh hidden folder beside `folder` (same parent, so the renames below
/// stay on one file system and are atomic). When it succeeds, an existing `folder` is renamed
/// aside, the new one renamed in, and the old one removed; when anything fails, the fresh
/// folder is removed and `folder` is untouched (renamed back, if it had been moved aside).
/// Missing parents of `folder` are created.
///
/// An existing `folder` must be a previous run's results (it holds [`SUMMARY`]) or empty: an
/// `--out` pointed at a folder of other files is refused rather than emptied.
pub fn replace_folder(
    folder: &Path,
    fill: impl FnOnce(&Path) -> Result<(), ResultsError>,
) -> Result<Written, ResultsError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ResultsError::Io { path, source }
    };
    let Some(name) = folder.file_name() else {
        return Err(ResultsError::NoName { path: folder.to_path_buf() });
    };
    let name = name.to_string_lossy();
    let parent = match folder.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let existing = match std::fs::symlink_metadata(folder) {
        Ok(metadata) if metadata.is_dir() => true,
        Ok(_) => return Err(ResultsError::NotAFolder { path: folder.to_path_buf() }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(error) => return Err(io(folder)(error)),
    };
    if existing && !folder.join(SUMMARY).is_file() {
        let empty = std::fs::read_dir(folder).map_err(io(folder))?.next().is_none();
        if !empty {
            return Err(ResultsError::NotResults { path: folder.to_path_buf() });
        }
    }
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;

    let temporary = fresh_sibling(&parent, &name, "partial").map_err(io(&parent))?;
    let filled = fill(&temporary).and_then(|()| {
        // The folder's entry itself, so the renamed-in folder is not empty after a crash.
        std::fs::File::open(&temporary).and_then(|dir| dir.sync_all()).map_err(io(&temporary))
    });
    if let Err(error) = filled {
        let _ = std::fs::remove_dir_all(&temporary);
        return Err(error);
    }

    let aside = if existing {
        let aside = match fresh_sibling(&parent, &name, "old") {
            Ok(aside) => aside,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&temporary);
                return Err(io(&parent)(error));
            }
        };
        // `fresh_sibling` made it to claim the name; renaming a folder over an empty one is
        // allowed on Unix.
        if let Err(error) = std::fs::rename(folder, &aside) {
            let _ = std::fs::remove_dir(&aside);
            let _ = std::fs::remove_dir_all(&temporary);
            return Err(io(folder)(error));
        }
        Some(aside)
    } else {
        None
    };
    if let Err(error) = std::fs::rename(&temporary, folder) {
        if let Some(aside) = &aside {
            let _ = std::fs::rename(aside, folder);
        }
        let _ = std::fs::remove_dir_all(&temporary);
        return Err(io(folder)(error));
    }
    let leftover = aside.filter(|aside| std::fs::remove_dir_all(aside).is_err());
    Ok(Written { leftover })
}

/// Creates an empty folder `.<name>.<what>-<pid>-<n>` in `parent`, with the first `n` free:
/// hidden, and never one that another run (or an earlier crash) is using.
fn fresh_sibling(parent: &Path, name: &str, what: &str) -> std::io::Result<PathBuf> {
    let pid = std::process::id();
    let mut n = 0u32;
    loop {
        let path = parent.join(format!(".{name}.{what}-{pid}-{n}"));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(error) => return Err(error),
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::sim::outcome::PeerOutcome;
    use crate::sim::scratch::{Folder, names};
    use crate::sim::swarm;

    const SWARM: &str = "seed = 7\n[file]\nsize = \"4 MiB\"\npiece = \"256 KiB\"\n[network]\nlatency = \"20 ms\"\n\
                         [[peers]]\nname = \"seed\"\ncount = 1\nupload = \"10 Mbit/s\"\ndownload = \"10 Mbit/s\"\n\
                         seed = true\n[[peers]]\nname = \"leecher\"\ncount = 4\nupload = \"1 Mbit/s\"\n\
                         download = \"4 Mbit/s\"\n";

    fn swarm() -> Swarm {
        swarm::parse(SWARM, "swarm.toml").unwrap()
    }

    /// A made-up run of `SWARM`: the seed (peer 1) wanted nothing; leechers finish at 10, 20, 30
    /// and 40.5 s.
    fn outcome() -> Outcome {
        let leecher = |done: Nanos, up: u64| PeerOutcome {
            done_at: Some(done),
            uploaded_bytes: up,
            downloaded_bytes: 4 << 20,
            duplicate_bytes: 0,
            bittorrent: None,
        };
        Outcome {
            peers: vec![
                PeerOutcome {
                    done_at: Some(0),
                    uploaded_bytes: 6 << 20,
                    downloaded_bytes: 0,
                    duplicate_bytes: 0,
                    bittorrent: None,
                },
                leecher(10_000_000_000, 1 << 20),
                leecher(20_000_000_000, 3 << 20),
                leecher(30_000_000_000, 3 << 20),
                leecher(40_500_000_001, 3 << 20),
            ],
            simulated: 40_500_000_001,
            events: 1234,
        }
    }

    #[test]
    fn the_summary_has_its_fields_in_order_and_in_si_units() {
        let swarm = swarm();
        let scenario = Scenario::from_swarm(&swarm, "swarm.toml");
        let outcome = outcome();
        let run = Run { scenario: &scenario, swarm: Some(&swarm), outcome: &outcome, wall_seconds: 0.25 };
        let text = summary_json(&run).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        // serde_json's map is sorted unless asked otherwise: check the order in the text.
        let order = [
            "\"bitorrent\"",
            "\"scenario\"",
            "\n  \"seed\"",
            "\n  \"peers\"",
            "\"simulated_seconds\"",
            "\"t_min_seconds\"",
            "\"efficiency\"",
            "\"completion_seconds\"",
            "\"peers_unfinished\"",
            "\n  \"classes\"",
            "\n  \"bittorrent\"",
            "\"events\"",
            "\"wall_seconds\"",
        ];
        let positions: Vec<usize> = order.iter().map(|key| text.find(key).unwrap_or_else(|| panic!("{key}"))).collect();
        assert!(positions.is_sorted(), "{text}");
        assert_eq!(keys.len(), order.len(), "{keys:?}");

        assert_eq!(value["seed"], 7);
        assert_eq!(value["peers"], 5);
        assert_eq!(value["events"], 1234);
        assert_eq!(value["wall_seconds"], 0.25);
        let scenario = &value["scenario"];
        assert_eq!(scenario["origin"], "swarm.toml");
        assert_eq!(scenario["input"], "swarm file");
        assert_eq!(scenario["latency_seconds"], 0.02);
        assert_eq!(scenario["files"][0]["size_bytes"], 4 << 20);
        assert_eq!(scenario["files"][0]["piece_bytes"], 256 << 10);
        assert_eq!(scenario["files"][0]["pieces"], 16);
        assert_eq!(scenario["classes"][1]["upload_bits_per_s"], 1_000_000);
        assert_eq!(scenario["classes"][1]["download_bits_per_s"], 4_000_000);
        assert_eq!(scenario["classes"][1]["seed"], false);
        assert_eq!(scenario["classes"][1]["first_peer"], 2);
        assert_eq!(scenario["classes"][1]["free_rider"], false);
        assert_eq!(scenario["protocol"]["name"], "bittorrent");
        assert_eq!(scenario["protocol"]["unchoke_slots"], 3);
        assert_eq!(scenario["protocol"]["rechoke_ns"], 10_000_000_000_u64);

        // T_min: 4 leechers x 32 Mibit over 14 Mbit/s binds (9.586 s) over 32 Mibit / 4 Mbit/s.
        // Floats are checked on the summary itself: serde_json's reader is not correctly rounded.
        let summary = summary(&run).unwrap();
        let t_min = summary.t_min_seconds.unwrap();
        assert!((t_min - 4.0 * 32.0 * 1_048_576.0 / 14e6).abs() < 1e-12, "{t_min}");
        let last = 40_500_000_001_f64 / 1e9;
        assert_eq!(summary.simulated_seconds, last);
        assert_eq!(summary.efficiency, Some(t_min / last));
        let expected = Completion {
            mean: Some(100_500_000_001_f64 / 4.0 / 1e9), // summed in integers, divided once
            median: Some(20.0),                          // nearest rank: the lower middle of four
            p90: Some(last),
            last: Some(last),
        };
        assert_eq!(summary.completion_seconds, expected);
        assert_eq!(summary.classes[1].mean_completion_seconds, expected.mean);
        assert_eq!(value["peers_unfinished"], 0);
        let seed = &value["classes"][0];
        assert_eq!(seed["name"], "seed");
        assert_eq!(seed["count"], 1);
        assert!(seed["mean_completion_seconds"].is_null(), "the seed wanted nothing");
        assert_eq!(seed["uploaded_bytes"], 6 << 20);
        let leechers = &value["classes"][1];
        assert_eq!(leechers["uploaded_bytes"], 10 << 20);
        assert_eq!(leechers["downloaded_bytes"], 16 << 20);
    }

    #[test]
    fn the_same_outcome_gives_the_same_bytes_but_the_wall_time() {
        let swarm = swarm();
        let scenario = Scenario::from_swarm(&swarm, "swarm.toml");
        let outcome = outcome();
        let at = |wall_seconds| {
            let run = Run { scenario: &scenario, swarm: Some(&swarm), outcome: &outcome, wall_seconds };
            (summary_json(&run).unwrap(), peers_csv(&run).unwrap())
        };
        let (first, first_csv) = at(1.5);
        let (second, second_csv) = at(1.5);
        assert_eq!(first, second);
        assert_eq!(first_csv, second_csv);
        let (other, other_csv) = at(2.75);
        assert_eq!(first.replace("\"wall_seconds\": 1.5", "\"wall_seconds\": 2.75"), other);
        assert_eq!(first_csv, other_csv);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let ten: Vec<Nanos> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 50), 5);
        assert_eq!(nearest_rank(&ten, 90), 9);
        assert_eq!(nearest_rank(&ten, 100), 10);
        assert_eq!(nearest_rank(&[7], 50), 7);
        assert_eq!(nearest_rank(&[7], 90), 7);
        let eleven: Vec<Nanos> = (1..=11).collect();
        assert_eq!(nearest_rank(&eleven, 50), 6, "the middle of an odd count");
        assert_eq!(nearest_rank(&eleven, 90), 10, "ceil(9.9)");
        let completion = completion(vec![3_000_000_000, 1_000_000_000, 2_000_000_000]);
        assert_eq!(completion, Completion { mean: Some(2.0), median: Some(2.0), p90: Some(3.0), last: Some(3.0) });
        assert_eq!(super::completion(vec![]), Completion::default());
    }

    #[test]
    fn a_peer_that_never_finished_is_counted_and_voids_the_efficiency() {
        let swarm = swarm();
        let scenario = Scenario::from_swarm(&swarm, "swarm.toml");
        let mut outcome = outcome();
        outcome.peers[4].done_at = None;
        let run = Run { scenario: &scenario, swarm: Some(&swarm), outcome: &outcome, wall_seconds: 0.0 };
        let summary = summary(&run).unwrap();
        assert_eq!(summary.peers_unfinished, 1);
        assert_eq!(summary.efficiency, None);
        assert_eq!(summary.completion_seconds.last, Some(30.0));
        let csv = peers_csv(&run).unwrap();
        assert!(csv.ends_with("\n5,leecher,,3145728,4194304,0,0.750000,\n"), "{csv}");
    }

    #[test]
    fn peers_csv_has_a_row_per_peer_with_exact_times() {
        let swarm = swarm();
        let scenario = Scenario::from_swarm(&swarm, "swarm.toml");
        let outcome = outcome();
        let run = Run { scenario: &scenario, swarm: Some(&swarm), outcome: &outcome, wall_seconds: 0.0 };
        assert_eq!(
            peers_csv(&run).unwrap(),
            "peer,class,done_seconds,uploaded_bytes,downloaded_bytes,duplicate_bytes,share_ratio,interest_fraction\n\
             1,seed,0.000000000,6291456,0,0,,\n\
             2,leecher,10.000000000,1048576,4194304,0,0.250000,\n\
             3,leecher,20.000000000,3145728,4194304,0,0.750000,\n\
             4,leecher,30.000000000,3145728,4194304,0,0.750000,\n\
             5,leecher,40.500000001,3145728,4194304,0,0.750000,\n"
        );
        assert_eq!(exact_seconds(12_345_678_901), "12.345678901");
        assert_eq!(exact_seconds(u64::MAX), "18446744073.709551615");
    }

    #[test]
    fn a_course_scenario_uses_its_own_bound_and_no_swarm_fields() {
        let folder = Folder::new("results-course");
        let hash = |c: char| c.to_string().repeat(32);
        std::fs::write(folder.0.join("in1.txt"), format!("1\nf 2\n{}\n{}\n0\n", hash('a'), hash('b'))).unwrap();
        std::fs::write(folder.0.join("in2.txt"), "0\n1\nf\n").unwrap();
        let scenario = Scenario::from_course(&folder.0, 8_000_000, 8_000_000, 1_000_000, 1 << 20, 3).unwrap();
        let outcome = Outcome {
            peers: vec![
                PeerOutcome {
                    done_at: Some(0),
                    uploaded_bytes: 2 << 20,
                    downloaded_bytes: 0,
                    duplicate_bytes: 0,
                    bittorrent: None,
                },
                PeerOutcome {
                    done_at: Some(4_000_000_000),
                    uploaded_bytes: 0,
                    downloaded_bytes: 2 << 20,
                    duplicate_bytes: 0,
                    bittorrent: None,
                },
            ],
            simulated: 4_000_000_000,
            events: 9,
        };
        let run = Run { scenario: &scenario, swarm: None, outcome: &outcome, wall_seconds: 0.0 };
        let value: serde_json::Value = serde_json::from_str(&summary_json(&run).unwrap()).unwrap();
        assert_eq!(value["scenario"]["input"], "course folder");
        assert_eq!(value["scenario"]["protocol"], serde_json::json!({"name": "course"}));
        assert_eq!(value["scenario"]["classes"][0]["free_rider"], false);
        assert_eq!(value["seed"], 3);
        assert!(value["scenario"]["classes"][0].get("seed").is_none());
        // 2 MiB through 8 Mbit/s: 2.097152 s.
        assert_eq!(value["t_min_seconds"], 2.097152);
        assert_eq!(value["efficiency"], 2.097152 / 4.0);
        assert_eq!(value["completion_seconds"]["last"], 4.0);
    }

    #[test]
    fn a_mismatched_outcome_is_an_error() {
        let swarm = swarm();
        let scenario = Scenario::from_swarm(&swarm, "swarm.toml");
        let mut outcome = outcome();
        outcome.peers.pop();
        let run = Run { scenario: &scenario, swarm: Some(&swarm), outcome: &outcome, wall_seconds: 0.0 };
        assert!(matches!(summary_json(&run), Err(ResultsError::Mismatch { peers: 5, outcomes: 4 })));
    }

    #[test]
    fn a_new_folder_is_written_and_no_temporary_is_left() {
        let parent = Folder::new("results-new");
        let out = parent.0.join("deeper").join("out");
        let swarm = swarm();
        let scenario = Scenario::from_swarm(&swarm, "swarm.toml");
        let outcome = outcome();
        let run = Run { scenario: &scenario, swarm: Some(&swarm), outcome: &outcome, wall_seconds: 0.0 };
        assert_eq!(write(&out, &run).unwrap(), Written { leftover: None });
        assert_eq!(names(&out), [PEERS, SUMMARY]);
        assert_eq!(names(&parent.0.join("deeper")), ["out"]);
        assert_eq!(std::fs::read_to_string(out.join(PEERS)).unwrap(), peers_csv(&run).unwrap());
    }

    #[test]
    fn an_existing_folder_is_replaced_whole() {
        let parent = Folder::new("results-replace");
        let out = parent.0.join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(SUMMARY), "old").unwrap();
        std::fs::write(out.join("stray.txt"), "left from before").unwrap();
        std::fs::create_dir(out.join("sub")).unwrap();
        replace_folder(&out, |dir| write_file(&dir.join(SUMMARY), b"new")).unwrap();
        assert_eq!(names(&out), [SUMMARY], "the stray file and folder are gone");
        assert_eq!(std::fs::read_to_string(out.join(SUMMARY)).unwrap(), "new");
        assert_eq!(parent.names(), ["out"], "nothing aside or partial is left");
    }

    #[test]
    fn a_failed_write_leaves_the_old_folder_intact_and_no_temporary() {
        let parent = Folder::new("results-failed");
        let out = parent.0.join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(SUMMARY), "old").unwrap();
        std::fs::write(out.join("stray.txt"), "left from before").unwrap();
        let error = replace_folder(&out, |dir| {
            write_file(&dir.join(SUMMARY), b"new")?;
            Err(ResultsError::Io { path: dir.join(PEERS), source: std::io::Error::other("disk full") })
        })
        .unwrap_err();
        assert!(error.to_string().ends_with("peers.csv: disk full"), "{error}");
        assert_eq!(names(&out), ["stray.txt", SUMMARY]);
        assert_eq!(std::fs::read_to_string(out.join(SUMMARY)).unwrap(), "old");
        assert_eq!(parent.names(), ["out"], "the temporary is gone");

        // And with no folder before: none after.
        let fresh = parent.0.join("fresh");
        replace_folder(&fresh, |_| Err(ResultsError::NoName { path: PathBuf::new() })).unwrap_err();
        assert_eq!(parent.names(), ["out"]);
    }

    #[test]
    fn a_folder_that_is_not_results_is_refused_untouched() {
        let parent = Folder::new("results-foreign");
        let out = parent.0.join("src");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("main.rs"), "fn main() {}").unwrap();
        let error = replace_folder(&out, |dir| write_file(&dir.join(SUMMARY), b"new")).unwrap_err();
        assert!(matches!(error, ResultsError::NotResults { .. }), "{error}");
        assert_eq!(names(&out), ["main.rs"]);
        assert_eq!(parent.names(), ["src"]);
        // A file where the folder should be.
        let file = parent.0.join("file");
        std::fs::write(&file, "x").unwrap();
        let error = replace_folder(&file, |_| Ok(())).unwrap_err();
        assert!(matches!(error, ResultsError::NotAFolder { .. }), "{error}");
        // An empty folder is fine.
        let empty = parent.0.join("empty");
        std::fs::create_dir(&empty).unwrap();
        replace_folder(&empty, |dir| write_file(&dir.join(SUMMARY), b"new")).unwrap();
        assert_eq!(names(&empty), [SUMMARY]);
        for nameless in [Path::new("/"), Path::new(".."), Path::new("a/..")] {
            let error = replace_folder(nameless, |_| Ok(())).unwrap_err();
            assert!(matches!(error, ResultsError::NoName { .. }), "{nameless:?}: {error}");
        }
    }
}
