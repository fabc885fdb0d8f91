//! How a peer runs: its actors on the pump's thread (the default) or on threads of their own
//! (`--actors threads`), segments asked in a random order (the default) or first to last
//! (`--in-order`), and what `--stats` says of the run (every peer's `done_seconds`, and figures
//! that add up). Every run must produce exactly the wanted files, judged as the course did.
// These run the binary, which a `--features loom` build replaces with a stub: loom builds
// run only the models in loom-tests/.
#![cfg(not(feature = "loom"))]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use bitorrent::input::PeerInput;
use bitorrent::scenario::{self, ScenarioSpec};
use common::*;
use serde_json::Value as Json;

/// Far above what any of these swarms takes (well under a second each), low enough to report a
/// hang.
const TIMEOUT: Duration = Duration::from_secs(90);

fn spec(ranks: u32, files: u32, segments: u32, seeds: u32, wants: u32, seed: u64) -> ScenarioSpec {
    ScenarioSpec { ranks, files, segments, seeds, wants, seed, crlf: false }
}

/// The scenario's inputs, as planned.
fn plan(spec: &ScenarioSpec) -> Vec<PeerInput> {
    scenario::plan(spec).unwrap_or_else(|error| panic!("{spec:?}: {error}")).inputs
}

/// Writes `inputs` (`inputs[0]` is rank 1) into `dir`; what the judge expects there.
fn write_inputs(inputs: &[PeerInput], dir: &Path) -> Expected {
    for (index, input) in inputs.iter().enumerate() {
        write(dir.join(format!("in{}.txt", index + 1)), bitorrent::input::render_peer_input(input, false));
    }
    expected_from_inputs(inputs)
}

/// Runs the scenario once per argument list, each in a fresh folder, and judges every run.
/// `how` is "local" or "mpirun".
fn judged_runs(how: &str, spec: &ScenarioSpec, variants: &[&[&str]]) {
    let inputs = plan(spec);
    let mut written = Vec::new();
    for args in variants {
        let scratch = Scratch::new(&format!("{how}-{}", args.join("")));
        let expected = write_inputs(&inputs, scratch.path());
        assert!(!expected.is_empty(), "{spec:?} should make peers download");
        let run = match how {
            "mpirun" => mpirun(spec.ranks, scratch.path(), args, TIMEOUT),
            _ => {
                let _not_beside_an_mpirun = heavy_lock();
                local(spec.ranks, scratch.path(), args, TIMEOUT)
            }
        };
        if !run.succeeded() || judge(scratch.path(), &expected).is_err() {
            eprintln!("{how} with {args:?} on {spec:?}");
        }
        assert_judged(&run, scratch.path(), &expected);
        written.push(client_files(scratch.path()));
    }
    // The judge already compared each folder with the expectation; this says it plainly: the
    // placement or the order of the actors changes nothing in what is written.
    assert!(written.windows(2).all(|pair| pair[0] == pair[1]), "{how}: the variants wrote different files");
}

// ---------------------------------------------------------------------------------------------
// --actors pump|threads

/// A few dozen ranks, several files each wanted by many peers, so that partial holders trade.
fn local_scenario() -> ScenarioSpec {
    spec(40, 8, 60, 2, 3, 101)
}

#[test]
fn local_actor_threads_and_the_default_give_correct_outputs() {
    judged_runs(
        "local",
        &local_scenario(),
        &[
            &["-q"],
            &["-q", "--actors", "pump"],
            &["-q", "--actors", "threads"],
            &["-q", "--actors", "threads", "--in-order", "--window", "3", "--seed", "9"],
        ],
    );
}

/// The same swarm under mpirun: the default (actors on the pump, MPI at THREAD_SINGLE) and
/// `--actors threads` (MPI at THREAD_FUNNELED) both start MPI and finish the swarm.
#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_actor_threads_and_the_default_give_correct_outputs() {
    judged_runs("mpirun", &spec(10, 4, 200, 1, 2, 102), &[&["-q"], &["-q", "--actors", "threads"]]);
}

// ---------------------------------------------------------------------------------------------
// --in-order and the random order

/// Several downloaders of the same file: in order they all want the same segment at once.
#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_in_order_and_the_default_random_order_give_correct_outputs() {
    judged_runs("mpirun", &spec(8, 2, 300, 1, 1, 103), &[&["-q", "--in-order"], &["-q"]]);
}

// ---------------------------------------------------------------------------------------------
// --stats

/// Peer 3 (index 2) wants nothing: it is done as soon as the swarm starts, and still reported.
fn stats_inputs() -> Vec<PeerInput> {
    let mut inputs = plan(&spec(24, 6, 40, 2, 3, 104));
    inputs[2].wanted.clear();
    inputs
}

#[test]
fn local_stats_report_every_peers_completion_and_add_up() {
    let inputs = stats_inputs();
    let ranks = inputs.len() as u32 + 1;
    // Segments of every file, by name, from its owners.
    let segments: HashMap<String, usize> = inputs
        .iter()
        .flat_map(|input| input.owned.iter().map(|file| (file.name.to_string(), file.hashes.len())))
        .collect();
    // (rank, file) of every download that moves a segment.
    let downloads: BTreeSet<(u64, String)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(index, input)| input.wanted.iter().map(move |name| (index as u64 + 1, name.to_string())))
        .filter(|(_, name)| segments[name] > 0)
        .collect();
    let downloaders: BTreeSet<u64> = downloads.iter().map(|(rank, _)| *rank).collect();
    assert!(
        downloaders.contains(&1) && !downloaders.contains(&3) && downloaders.len() >= 20,
        "the scenario is as intended"
    );

    for placement in ["pump", "threads"] {
        let scratch = Scratch::new(&format!("stats-{placement}"));
        let expected = write_inputs(&inputs, scratch.path());
        let stats_path = scratch.join("stats.json");
        let stats_arg = stats_path.to_string_lossy().into_owned();
        let run = {
            let _not_beside_an_mpirun = heavy_lock();
            local(ranks, scratch.path(), &["-q", "--actors", placement, "--stats", &stats_arg], TIMEOUT)
        };
        assert_judged(&run, scratch.path(), &expected);
        let text = read(&stats_path);
        let stats: Json = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{placement}: the stats are not JSON ({error}):\n{text}"));
        check_stats(&stats, ranks, &downloads, &segments).unwrap_or_else(|problem| {
            panic!("--actors {placement}: {problem}\n--- stats ---\n{text}\n{}", run.describe())
        });
        // And the checks would see a wrong report: each of these spoils one figure.
        let protocol = number(&stats, "protocol_seconds").expect("checked");
        let spoils: [(&str, Spoil); 4] = [
            ("a missing done_seconds", |peer, _| {
                peer.remove("done_seconds");
            }),
            ("a downloader done at 0", |peer, _| {
                peer.insert("done_seconds".into(), Json::from(0.0));
            }),
            ("a peer done after the protocol's end", |peer, protocol| {
                peer.insert("done_seconds".into(), Json::from(protocol + 0.001));
            }),
            ("an upload too many", |peer, _| {
                let uploaded = peer["uploaded"].as_f64().expect("a number");
                peer.insert("uploaded".into(), Json::from(uploaded + 1.0));
            }),
        ];
        for (what, spoil) in spoils {
            let mut spoiled = stats.clone();
            let Json::Object(top) = &mut spoiled else { unreachable!("checked") };
            let Some(Json::Array(peers)) = top.get_mut("peers") else { unreachable!("checked") };
            // Peer 1 downloads (peer 3 is the one that wants nothing).
            let Json::Object(peer) = &mut peers[0] else { unreachable!("checked") };
            spoil(peer, protocol);
            assert!(check_stats(&spoiled, ranks, &downloads, &segments).is_err(), "the checks missed {what}");
        }
    }
}

/// Spoils one figure of a peer's entry in the stats (given the protocol's seconds).
type Spoil = fn(&mut serde_json::Map<String, Json>, f64);

/// What a user would check in the stats of a finished run. The problem found, if any.
fn check_stats(
    stats: &Json,
    ranks: u32,
    downloads: &BTreeSet<(u64, String)>,
    segments: &HashMap<String, usize>,
) -> Result<(), String> {
    if count(stats, "ranks")? != u64::from(ranks) {
        return Err(format!("ranks is {}, not {ranks}", count(stats, "ranks")?));
    }
    let protocol = number(stats, "protocol_seconds")?;
    if protocol <= 0.0 {
        return Err(format!("protocol_seconds is {protocol}"));
    }
    let transfers = count(stats, "transfers")?;
    let peers = field(stats, "peers")?.as_array().ok_or("peers is not an array")?;
    let files = field(stats, "files")?.as_array().ok_or("files is not an array")?;

    // Every peer once, each with its completion time.
    let mut by_rank: BTreeMap<u64, &Json> = BTreeMap::new();
    for peer in peers {
        if by_rank.insert(count(peer, "rank")?, peer).is_some() {
            return Err(format!("peer {} is reported twice", count(peer, "rank")?));
        }
    }
    let all: Vec<u64> = (1..u64::from(ranks)).collect();
    if by_rank.keys().copied().collect::<Vec<_>>() != all {
        return Err(format!("the peers reported are {:?}, not 1..{}", by_rank.keys().collect::<Vec<_>>(), ranks - 1));
    }
    let downloaders: BTreeSet<u64> = downloads.iter().map(|(rank, _)| *rank).collect();
    let mut last_done: f64 = 0.0;
    for (&rank, peer) in &by_rank {
        let done = number(peer, "done_seconds")?;
        if downloaders.contains(&rank) && done <= 0.0 {
            return Err(format!("peer {rank} downloaded, yet its done_seconds is {done}"));
        }
        if !(0.0..=protocol).contains(&done) {
            return Err(format!("peer {rank}: done_seconds {done} outside 0 ..= protocol_seconds {protocol}"));
        }
        last_done = last_done.max(done);
    }
    // The tracker stops the protocol after the last "all done", not before.
    if last_done > protocol {
        return Err(format!("the last peer was done at {last_done} s, after the protocol's end at {protocol} s"));
    }

    // Transfers, uploads and downloads agree.
    let sum = |key: &str| by_rank.values().map(|peer| count(peer, key)).sum::<Result<u64, String>>();
    let (downloaded, uploaded, refused, requests) =
        (sum("downloaded")?, sum("uploaded")?, sum("refused")?, sum("requests")?);
    if transfers != downloaded {
        return Err(format!("transfers {transfers} != the peers' downloads {downloaded}"));
    }
    if uploaded != transfers {
        return Err(format!("the peers' uploads {uploaded} != transfers {transfers}"));
    }
    let needed: u64 = downloads.iter().map(|(_, name)| segments[name] as u64).sum();
    if transfers != needed {
        return Err(format!("transfers {transfers} != the {needed} segments the peers wanted"));
    }
    // Every request got an answer: a segment, or a refusal.
    if requests != uploaded + refused {
        return Err(format!("requests {requests} != uploaded {uploaded} + refused {refused}"));
    }

    // Every download once, whole, from members of its swarm; each source's share is in its uploads.
    let mut seen = BTreeSet::new();
    let mut downloaded_by: BTreeMap<u64, u64> = BTreeMap::new();
    let mut uploaded_by: BTreeMap<u64, u64> = BTreeMap::new();
    for file in files {
        let rank = count(file, "rank")?;
        let name = field(file, "file")?.as_str().ok_or("a file name is not a string")?.to_string();
        let file_segments = count(file, "segments")?;
        let holders = count(file, "holders")?;
        let sources = field(file, "sources")?.as_object().ok_or("sources is not an object")?;
        let what = format!("peer {rank}'s {name}");
        if segments.get(&name).map(|&n| n as u64) != Some(file_segments) {
            return Err(format!("{what}: {file_segments} segments, expected {:?}", segments.get(&name)));
        }
        if !seen.insert((rank, name.clone())) {
            return Err(format!("{what} is reported twice"));
        }
        let mut from_sources = 0;
        for (source, segments_given) in sources {
            let source: u64 = source.parse().map_err(|_| format!("{what}: source {source:?} is not a rank"))?;
            if source == 0 || source == rank || source >= u64::from(ranks) {
                return Err(format!("{what}: source {source} is not another peer"));
            }
            let given =
                segments_given.as_f64().ok_or_else(|| format!("{what}: a source's count is not a number"))? as u64;
            if given == 0 {
                return Err(format!("{what}: source {source} is listed with 0 segments"));
            }
            from_sources += given;
            *uploaded_by.entry(source).or_default() += given;
        }
        if from_sources != file_segments {
            return Err(format!("{what}: its sources gave {from_sources} segments, the file has {file_segments}"));
        }
        // Swarms only grow, and a peer asks only members of the file's swarm.
        if sources.len() as u64 > holders {
            return Err(format!("{what}: {} distinct sources, but only {holders} other holders", sources.len()));
        }
        *downloaded_by.entry(rank).or_default() += file_segments;
    }
    if seen != *downloads {
        let missing: Vec<_> = downloads.difference(&seen).collect();
        let extra: Vec<_> = seen.difference(downloads).collect();
        return Err(format!("files[] does not list the downloads: missing {missing:?}, unexpected {extra:?}"));
    }
    for (&rank, peer) in &by_rank {
        let (down, up) = (count(peer, "downloaded")?, count(peer, "uploaded")?);
        let (files_down, sources_up) =
            (downloaded_by.get(&rank).copied().unwrap_or(0), uploaded_by.get(&rank).copied().unwrap_or(0));
        if down != files_down {
            return Err(format!("peer {rank} downloaded {down}, but its files hold {files_down} segments"));
        }
        if up != sources_up {
            return Err(format!("peer {rank} uploaded {up}, but the files name it as the source of {sources_up}"));
        }
    }
    Ok(())
}

fn field<'a>(json: &'a Json, key: &str) -> Result<&'a Json, String> {
    json.get(key).ok_or_else(|| format!("no \"{key}\" in {json:?}"))
}

fn number(json: &Json, key: &str) -> Result<f64, String> {
    field(json, key)?.as_f64().ok_or_else(|| format!("\"{key}\" is not a number in {json:?}"))
}

/// A whole, non-negative number.
fn count(json: &Json, key: &str) -> Result<u64, String> {
    let value = number(json, key)?;
    if value >= 0.0 && value.fract() == 0.0 {
        Ok(value as u64)
    } else {
        Err(format!("\"{key}\" is not a count: {value}"))
    }
}

// ---------------------------------------------------------------------------------------------
// A bad --actors

#[test]
fn a_bad_actors_value_is_refused_naming_the_option() {
    let scratch = Scratch::new("bad-actors");
    write_inputs(&plan(&spec(4, 2, 5, 1, 1, 105)), scratch.path());
    let cases: [&[&str]; 4] = [
        &["--actors", "bogus"],
        &["--actors", "Threads-please"],
        &["local", "--ranks", "4", "--actors", "bogus"],
        &["local", "--ranks", "4", "--actors="],
    ];
    for args in cases {
        let run = bitorrent(scratch.path(), args, Duration::from_secs(15));
        run.assert_refused();
        run.assert_stderr_mentions(&["--actors"]);
        if args.contains(&"bogus") {
            // Says what was wrong and what would do.
            run.assert_stderr_mentions(&["bogus", "pump", "threads"]);
        }
        assert_no_outputs(&run, scratch.path());
    }
}
