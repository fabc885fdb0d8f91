//! Generated swarms (bitorrent::scenario): a few large ones under mpirun, many shapes through
//! `bitorrent local`, and hand-laid-out inputs that the reader must accept. Every wanted file
//! must come out as its owner's hashes, and nothing else may be written.
// These run the binary, which a `--features loom` build replaces with a stub: loom builds
// run only the models in loom-tests/.
#![cfg(not(feature = "loom"))]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use bitorrent::rng::Rng;
use bitorrent::scenario::{self, ScenarioSpec};
use common::*;

/// Far above what any of these swarms takes (seconds), low enough to report a hang.
const TIMEOUT: Duration = Duration::from_secs(90);

fn spec(ranks: u32, files: u32, segments: u32, seeds: u32, wants: u32, seed: u64) -> ScenarioSpec {
    ScenarioSpec { ranks, files, segments, seeds, wants, seed, crlf: false }
}

/// Writes the scenario's inputs into `dir`; what the judge expects there.
fn write_scenario(spec: &ScenarioSpec, dir: &Path) -> Expected {
    let planned = scenario::plan(spec).unwrap_or_else(|error| panic!("{spec:?}: {error}"));
    planned.write_to(dir, spec.crlf).unwrap_or_else(|error| panic!("{spec:?}: {error}"));
    expected_from_inputs(&planned.inputs)
}

fn under_mpirun(label: &str, spec: &ScenarioSpec, args: &[&str]) {
    let scratch = Scratch::new(label);
    let expected = write_scenario(spec, scratch.path());
    assert!(!expected.is_empty(), "{spec:?} should make peers download");
    if spec.crlf {
        assert!(read(scratch.join("in1.txt")).contains("\r\n"), "the inputs are written with CRLF");
    }
    let run = mpirun(spec.ranks, scratch.path(), args, TIMEOUT);
    assert_judged(&run, scratch.path(), &expected);
}

// ---------------------------------------------------------------------------------------------
// Under mpirun: few, large.

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_32_ranks_files_of_3000_segments() {
    under_mpirun("mpi32", &spec(32, 4, 3000, 2, 1, 3), &[]);
}

/// 64 ranks on two cores: every rank a process, eight times oversubscribed.
#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_64_ranks() {
    under_mpirun("mpi64", &spec(64, 16, 100, 3, 8, 9), &[]);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_16_ranks_crlf_inputs() {
    under_mpirun("mpi16crlf", &ScenarioSpec { crlf: true, ..spec(16, 3, 3000, 1, 1, 4) }, &[]);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_24_ranks_in_order() {
    under_mpirun("mpi24inorder", &spec(24, 5, 2000, 2, 1, 5), &["--in-order", "--seed", "77"]);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_window_1() {
    under_mpirun("mpiwindow1", &spec(8, 2, 3000, 1, 1, 6), &["--window", "1"]);
}

/// 17 of 19 peers own nothing and want every file: the few seeds serve a crowd.
#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_many_empty_handed_peers_want_everything() {
    under_mpirun("mpicrowd", &spec(20, 3, 500, 1, 3, 8), &["-w", "3"]);
}

// ---------------------------------------------------------------------------------------------
// Through `local`: many shapes.

struct Shape {
    spec: ScenarioSpec,
    window: u32,
    in_order: bool,
    run_seed: u64,
}

/// Edge shapes by hand, then pseudo-random ones (a fixed sequence: the same every run).
fn shapes() -> Vec<Shape> {
    let shape = |spec: ScenarioSpec, window: u32, in_order: bool| Shape { spec, window, in_order, run_seed: 1 };
    let mut shapes = vec![
        shape(spec(3, 1, 1, 1, 1, 1), 8, false),        // the smallest swarm
        shape(spec(3, 2, 1, 1, 1, 2), 1, false),        // two peers swap
        shape(spec(4, 3, 20, 3, 3, 3), 8, false),       // everybody owns everything: nothing to do
        shape(spec(128, 40, 20, 3, 3, 4), 8, false),    // the largest, everyone busy
        shape(spec(128, 2, 150, 1, 2, 5), 4, true),     // 126 empty-handed peers, 2 seeds
        shape(spec(128, 128, 5, 1, 1, 6), 2, false),    // a file per peer
        shape(spec(64, 1, 600, 1, 1, 7), 8, false),     // a flash crowd on one file
        shape(spec(40, 6, 100, 2, 2, 8), 1, false),     // window 1, many peers
        shape(spec(12, 3, 1000, 1, 2, 9), 4096, false), // the widest window
        shape(spec(30, 20, 1, 1, 20, 10), 8, true),     // one-segment files, want all
        shape(spec(9, 8, 37, 7, 8, 11), 3, true),       // every peer but one owns each file
    ];
    // The library's generator; `%` rather than `Rng::below` keeps the shapes these tests have
    // always run.
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut next = |below: u64| rng.next_u64() % below;
    const WINDOWS: [u32; 7] = [1, 2, 3, 4, 8, 16, 100];
    while shapes.len() < 36 {
        let ranks = 3 + next(126) as u32;
        let peers = ranks - 1;
        let files = 1 + next(12) as u32;
        let seeds = 1 + next(u64::from(peers.min(3))) as u32;
        let wants = next(u64::from(files) + 1) as u32;
        // Keep each swarm to a fraction of a second: at most ~30,000 transfers.
        let most = (30_000 / (u64::from(peers) * u64::from(wants.max(1)))).clamp(1, 400);
        let segments = 1 + next(most) as u32;
        let crlf = next(4) == 0;
        shapes.push(Shape {
            spec: ScenarioSpec { crlf, ..spec(ranks, files, segments, seeds, wants, next(1 << 32)) },
            window: WINDOWS[next(WINDOWS.len() as u64) as usize],
            in_order: next(2) == 0,
            run_seed: next(1000),
        });
    }
    shapes
}

#[test]
fn local_many_shapes() {
    let shapes = shapes();
    assert!(shapes.len() >= 30 && shapes.iter().any(|shape| shape.spec.ranks == 128));
    for (index, shape) in shapes.iter().enumerate() {
        let scratch = Scratch::new(&format!("local{index}"));
        let expected = write_scenario(&shape.spec, scratch.path());
        let window = shape.window.to_string();
        let seed = shape.run_seed.to_string();
        let mut args = vec!["-q", "--window", window.as_str(), "--seed", seed.as_str()];
        if shape.in_order {
            args.push("--in-order");
        }
        let run = {
            let _not_beside_an_mpirun = heavy_lock();
            local(shape.spec.ranks, scratch.path(), &args, TIMEOUT)
        };
        if !run.succeeded() || judge(scratch.path(), &expected).is_err() {
            eprintln!(
                "shape {index}: {:?}, window {}, in order {}, run seed {}",
                shape.spec, shape.window, shape.in_order, shape.run_seed
            );
        }
        assert_judged(&run, scratch.path(), &expected);
    }
}

/// What a user repeating a run can count on. The run's seed fixes its random choices (each
/// peer's piece order, its neighbours), and the scheduler makes the same requests for the same
/// seed and events (`peer::scheduler`'s tests); but in a live run the events are replies whose
/// order the threads' timing decides, so who serves whom, requests and refusals differ from run
/// to run, seed or not. What does not: the bytes written, and what each peer downloads. Two runs
/// with one seed and a run with another (another piece order, other neighbours) must agree on
/// those, so an output that depended on the order segments arrived in, or on the seed, fails.
#[test]
fn local_runs_with_the_same_or_another_seed_write_the_same_bytes_and_download_the_same() {
    let spec = spec(20, 4, 120, 1, 2, 21);
    let mut runs = Vec::new();
    for run_seed in ["5", "5", "6"] {
        let scratch = Scratch::new("repeat");
        let expected = write_scenario(&spec, scratch.path());
        let stats_path = scratch.join("stats.json");
        let stats_arg = stats_path.to_string_lossy().into_owned();
        let run = {
            let _not_beside_an_mpirun = heavy_lock();
            local(spec.ranks, scratch.path(), &["-q", "--seed", run_seed, "--stats", &stats_arg], TIMEOUT)
        };
        assert_judged(&run, scratch.path(), &expected);
        let outputs: BTreeMap<String, Vec<u8>> = client_files(scratch.path())
            .into_iter()
            .map(|name| {
                let bytes = std::fs::read(scratch.join(&name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
                (name, bytes)
            })
            .collect();
        let stats: serde_json::Value = serde_json::from_str(&read(&stats_path)).expect("the stats are JSON");
        runs.push((run_seed, outputs, downloads(&stats)));
    }
    let (_, first_outputs, first_downloads) = &runs[0];
    assert!(!first_outputs.is_empty() && !first_downloads.is_empty());
    for (run_seed, outputs, downloads) in &runs[1..] {
        let differing: Vec<&String> = first_outputs
            .keys()
            .chain(outputs.keys())
            .filter(|name| first_outputs.get(*name) != outputs.get(*name))
            .collect();
        assert!(differing.is_empty(), "--seed {run_seed} wrote other bytes than --seed 5 in {differing:?}");
        assert_eq!(downloads, first_downloads, "--seed {run_seed} downloaded otherwise than --seed 5");
    }
}

/// From `--stats`: every peer's segments downloaded, and every (peer, file) download with its
/// segments: figures of the scenario, not of the timing.
fn downloads(stats: &serde_json::Value) -> BTreeSet<(u64, String, u64)> {
    let figure =
        |entry: &serde_json::Value, key: &str| entry[key].as_u64().unwrap_or_else(|| panic!("{key} in {entry}"));
    let peers = stats["peers"].as_array().expect("peers");
    let files = stats["files"].as_array().expect("files");
    let per_peer = peers.iter().map(|peer| (figure(peer, "rank"), "(all)".to_string(), figure(peer, "downloaded")));
    let per_file = files.iter().map(|file| {
        let name = file["file"].as_str().expect("a file name").to_string();
        (figure(file, "rank"), name, figure(file, "segments"))
    });
    per_peer.chain(per_file).collect()
}

/// `bitorrent gen` writes what the library plans, and only the peers' inputs.
#[test]
fn gen_writes_the_planned_scenario() {
    let scratch = Scratch::new("gen");
    let folder = scratch.join("nested/scenario");
    let run = bitorrent(
        scratch.path(),
        &[
            "gen",
            "nested/scenario",
            "--ranks",
            "9",
            "--files",
            "5",
            "--segments",
            "7",
            "--seeds",
            "2",
            "--wants",
            "3",
            "--seed",
            "11",
            "--crlf",
        ],
        TIMEOUT,
    );
    run.assert_success();
    let planned = scenario::plan(&spec(9, 5, 7, 2, 3, 11)).expect("valid spec");
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .expect("gen made the folder")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, (1..9).map(|rank| format!("in{rank}.txt")).collect::<Vec<_>>());
    for index in 0..8 {
        assert_eq!(
            read(folder.join(format!("in{}.txt", index + 1))),
            planned.render(index, true),
            "in{}.txt",
            index + 1
        );
    }
    // And the written scenario runs.
    let expected = expected_from_inputs(&planned.inputs);
    let run = local(9, &folder, &["-q"], TIMEOUT);
    assert_judged(&run, &folder, &expected);
}

// ---------------------------------------------------------------------------------------------
// Files the generator never makes.

/// A segment hash repeated within a file and across files, a file of no segments that two
/// peers want (its output is empty), and a name outside ASCII.
#[test]
fn unusual_files_arrive_whole() {
    const A: &str = "3fcfb9d1242fdce64aee2bfe35266912";
    const B: &str = "6dd6078d720fc86c885f7f87faf0d32a";
    let inputs = [
        format!("3\nfile1 5\n{A}\n{A}\n{B}\n{A}\n{A}\nempty 0\nnamé-ü 2\n{B}\n{B}\n1\nfile2\n"),
        "0\n3\nfile1\nempty\nnamé-ü\n".to_string(),
        format!("1\nfile2 3\n{B}\n{A}\n{B}\n2\nfile1\nempty\n"),
        "0\n0\n".to_string(),
    ];
    let peers: Vec<Plain> = inputs.iter().map(|text| plain_parse(text)).collect();
    let expected = expected_from_plain(&peers);
    assert_eq!(expected["client2_empty"], "", "an empty file's output is empty");
    let ranks = inputs.len() as u32 + 1;
    for how in ["mpirun", "local"].into_iter().filter(|&how| UNDER_MPI || how == "local") {
        let scratch = Scratch::new("unusual-files");
        for (index, text) in inputs.iter().enumerate() {
            write(scratch.join(format!("in{}.txt", index + 1)), text);
        }
        let run = match how {
            "mpirun" => mpirun(ranks, scratch.path(), &[], TIMEOUT),
            _ => local(ranks, scratch.path(), &["--window", "2"], TIMEOUT),
        };
        assert_judged(&run, scratch.path(), &expected);
        assert!(scratch.join("client2_empty").is_file() && read(scratch.join("client2_empty")).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Layouts the reader must accept.

/// A way people lay out input files by hand, applied to a whole file: its name, and what it does.
type Layout = (&'static str, fn(&str) -> String);

fn layouts() -> Vec<Layout> {
    vec![
        ("crlf", |text| text.replace('\n', "\r\n")),
        ("no final newline", |text| text.trim_end().to_string()),
        ("crlf, no final newline", |text| text.trim_end().replace('\n', "\r\n")),
        ("extra blank lines", |text| {
            let spaced: String = text.lines().map(|line| format!("{line}\n\n \t\n")).collect();
            format!("\n\n{spaced}\n\n")
        }),
        ("spaces and tabs around", |text| {
            text.lines().map(|line| format!(" \t {}\t  \n", line.replacen(' ', " \t ", 1))).collect()
        }),
        ("a byte-order mark", |text| format!("\u{feff}{text}")),
        ("all at once", |text| {
            let lines: Vec<String> =
                text.lines().map(|line| format!("\t {}  ", line.replacen(' ', "\t\t", 1))).collect();
            format!("\u{feff}\r\n{}", lines.join("\r\n\r\n"))
        }),
    ]
}

/// A generated swarm (some peers own nothing) whose files end with a newline, unlike the course's.
fn layout_scenario() -> ScenarioSpec {
    spec(8, 4, 30, 1, 2, 31)
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn unusual_layouts_are_read_under_mpirun() {
    let spec = layout_scenario();
    let scratch = Scratch::new("layouts-mpi");
    let expected = write_scenario(&spec, scratch.path());
    // One layout per peer, so one mpirun covers them all.
    let layouts = layouts();
    assert!(layouts.len() >= (spec.ranks - 1) as usize);
    for (rank, (_, layout)) in (1..spec.ranks).zip(&layouts) {
        let path = scratch.join(format!("in{rank}.txt"));
        write(&path, layout(&read(&path)));
    }
    let run = mpirun(spec.ranks, scratch.path(), &[], TIMEOUT);
    assert_judged(&run, scratch.path(), &expected);
}

#[test]
fn unusual_layouts_are_read_through_local() {
    let spec = layout_scenario();
    for (name, layout) in layouts() {
        let scratch = Scratch::new("layouts-local");
        let expected = write_scenario(&spec, scratch.path());
        for rank in 1..spec.ranks {
            let path = scratch.join(format!("in{rank}.txt"));
            write(&path, layout(&read(&path)));
        }
        let run = local(spec.ranks, scratch.path(), &["-q"], TIMEOUT);
        if !run.succeeded() {
            eprintln!("layout {name:?} was refused");
        }
        assert_judged(&run, scratch.path(), &expected);
    }
}
