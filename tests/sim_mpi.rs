//! `bitorrent sim` split over the ranks of an MPI job and the threads of each: for any split the
//! results are the very bytes of a run in one process on one thread (`wall_seconds` aside),
//! written by rank 0 alone; a bad swarm file is said once and fails the job with no results; a
//! rank killed mid-run ends the job at once, with no results folder written and earlier results
//! left as they were.
//!
//! Without the `mpi` feature the splits over threads alone are checked, and the tests that need
//! mpirun are marked ignored.
// These run the binary, which a `--features loom` build replaces with a stub.
#![cfg(not(feature = "loom"))]
// As in tests/common: this harness only starts processes and waits on them, never a loom model.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// The swarm file's name in every test's folder: `summary.json` records it as given, so every
/// run of a test must name it alike.
const SWARM_FILE: &str = "swarm.toml";

/// A hang guard, not a measure: each of these small swarms runs in well under a second.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The splits under mpirun: ranks (4 is more than this machine's two cores) by worker threads.
const RANKS: [u32; 3] = [1, 2, 4];
const THREADS: [u32; 2] = [1, 2];

/// One seed, 40 leechers alike arriving at once.
const FLASH_CROWD: &str = "\
seed = 7
[file]
size = \"8 MiB\"
piece = \"256 KiB\"
[network]
latency = \"50 ms\"
[[peers]]
name = \"seed\"
count = 1
upload = \"10 Mbit/s\"
download = \"100 Mbit/s\"
seed = true
[[peers]]
name = \"leecher\"
count = 40
upload = \"1 Mbit/s\"
download = \"4 Mbit/s\"
";

/// Two seeds and three classes of leechers, each several times faster than the next.
const HETEROGENEOUS: &str = "\
seed = 11
[file]
size = \"6 MiB\"
piece = \"256 KiB\"
[network]
latency = \"30 ms\"
[[peers]]
name = \"seed\"
count = 2
upload = \"20 Mbit/s\"
download = \"20 Mbit/s\"
seed = true
[[peers]]
name = \"fiber\"
count = 8
upload = \"10 Mbit/s\"
download = \"50 Mbit/s\"
[[peers]]
name = \"dsl\"
count = 20
upload = \"1 Mbit/s\"
download = \"8 Mbit/s\"
[[peers]]
name = \"mobile\"
count = 12
upload = \"256 kbit/s\"
download = \"2 Mbit/s\"
";

/// A seed slower than any leecher: every piece must first squeeze through its uplink.
const SLOW_SEED: &str = "\
seed = 3
[file]
size = \"8 MiB\"
piece = \"256 KiB\"
[network]
latency = \"40 ms\"
[[peers]]
name = \"seed\"
count = 1
upload = \"512 kbit/s\"
download = \"10 Mbit/s\"
seed = true
[[peers]]
name = \"leecher\"
count = 25
upload = \"5 Mbit/s\"
download = \"20 Mbit/s\"
";

/// Leechers that share, and free riders that upload nothing and say no to every request.
const FREE_RIDERS: &str = "\
seed = 5
[file]
size = \"8 MiB\"
piece = \"256 KiB\"
[network]
latency = \"25 ms\"
[[peers]]
name = \"seed\"
count = 1
upload = \"8 Mbit/s\"
download = \"8 Mbit/s\"
seed = true
[[peers]]
name = \"sharer\"
count = 24
upload = \"1 Mbit/s\"
download = \"4 Mbit/s\"
[[peers]]
name = \"free rider\"
count = 10
upload = \"0 bit/s\"
download = \"4 Mbit/s\"
";

/// Three peers on up to eight shards, most of them empty, and windows of a microsecond.
const FEWER_PEERS_THAN_SHARDS: &str = "\
seed = 9
[file]
size = \"8 MiB\"
piece = \"256 KiB\"
[network]
latency = \"1 us\"
[[peers]]
name = \"seed\"
count = 1
upload = \"2 Mbit/s\"
download = \"100 Mbit/s\"
seed = true
[[peers]]
name = \"leecher\"
count = 2
upload = \"1 Mbit/s\"
download = \"4 Mbit/s\"
";

// ---------------------------------------------------------------------------------------------
// The same bytes for any split

/// `bitorrent sim swarm.toml --out <out> <extra>` in `dir`, in one process.
fn sim_in_one_process(dir: &Path, out: &str, extra: &[&str]) -> Run {
    let mut args = vec!["sim", SWARM_FILE, "--out", out];
    args.extend(extra);
    let _not_beside_an_mpirun = heavy_lock();
    bitorrent(dir, &args, RUN_TIMEOUT)
}

/// Where two texts first differ: the line, and each one's version of it.
fn first_difference(expected: &str, found: &str) -> String {
    let (mut expected_lines, mut found_lines) = (expected.lines(), found.lines());
    let shown = |line: Option<&str>| line.map_or("(none: the text ends)".to_string(), |line| format!("{line:?}"));
    for number in 1.. {
        match (expected_lines.next(), found_lines.next()) {
            (None, None) => break,
            (expected, found) if expected != found => {
                return format!("line {number}\n  one process: {}\n  this split:  {}", shown(expected), shown(found));
            }
            _ => {}
        }
    }
    "no line differs: only the line ends".to_string()
}

/// The results in `split` are those in `reference`, byte for byte (`wall_seconds` aside), and
/// nothing else.
fn assert_same_results(reference: &Path, split: &Path, what: &str, run: &Run) {
    assert_eq!(entries(split), ["peers.csv", "summary.json"], "{what}: the results folder holds\n{}", run.describe());
    let compared = [
        ("summary.json (wall_seconds aside)", summary_but_wall(reference), summary_but_wall(split)),
        ("peers.csv", read(reference.join("peers.csv")), read(split.join("peers.csv"))),
    ];
    for (name, expected, found) in compared {
        assert!(
            expected == found,
            "{what}: {name} differs from the one-process run's, first at {}\n{}",
            first_difference(&expected, &found),
            run.describe()
        );
    }
}

/// What the swarm is for, checked on the reference run so that the split is tested on the
/// traffic it claims: every class that is not a seed uploads something exactly when its uplink
/// can (leechers serve each other across shards; free riders serve no one).
fn assert_leechers_upload_as_they_can(shape: &str, reference: &Path) {
    let summary: serde_json::Value = serde_json::from_str(&read(reference.join("summary.json"))).unwrap();
    let classes = summary["scenario"]["classes"].as_array().expect("the scenario's classes");
    for (class, outcome) in classes.iter().zip(summary["classes"].as_array().expect("the classes' outcomes")) {
        if class["seed"] == true {
            continue;
        }
        let can_upload = class["upload_bits_per_s"].as_u64().expect("an upload rate") > 0;
        let uploaded = outcome["uploaded_bytes"].as_u64().expect("uploaded bytes");
        assert_eq!(uploaded > 0, can_upload, "{shape}: class {} uploaded {uploaded} bytes", class["name"]);
    }
}

/// Runs `swarm` in one process on one thread, then split over two threads without mpirun and
/// over every split of `RANKS` x `THREADS` under mpirun: each must write the same bytes, and
/// rank 0 alone may say the summary line.
fn same_bytes_for_every_split(shape: &str, swarm: &str) {
    let scratch = Scratch::new(&format!("sim-split-{shape}"));
    write(scratch.join(SWARM_FILE), swarm);
    let reference = scratch.join("one");
    sim_in_one_process(scratch.path(), "one", &["--quiet"]).assert_success();
    assert_leechers_upload_as_they_can(shape, &reference);

    let run = sim_in_one_process(scratch.path(), "threads", &["--quiet", "--threads", "2"]);
    run.assert_success();
    assert_same_results(&reference, &scratch.join("threads"), &format!("{shape}: --threads 2 without mpirun"), &run);

    let mut written = vec!["one".to_string(), SWARM_FILE.to_string(), "threads".to_string()];
    // Without the mpi feature, the split over threads above is all this build can run.
    let ranks_under_mpirun: &[u32] = if UNDER_MPI { &RANKS } else { &[] };
    for &ranks in ranks_under_mpirun {
        for threads in THREADS {
            let what = format!("{shape}: mpirun -np {ranks} with --threads {threads}");
            let out = format!("np{ranks}-t{threads}");
            let threads = threads.to_string();
            let args = ["sim", SWARM_FILE, "--out", &out, "--threads", &threads];
            let run = mpirun(ranks, scratch.path(), &args, RUN_TIMEOUT);
            run.assert_success();
            assert_same_results(&reference, &scratch.join(&out), &what, &run);
            let said = run.stderr.matches(&format!("bitorrent: {SWARM_FILE}: ")).count();
            assert_eq!(said, 1, "{what}: the summary line should be said once, by rank 0:\n{}", run.describe());
            written.push(out);
            written.sort();
            // No other rank wrote a folder of its own beside it, nor left one aside or partial.
            assert_eq!(entries(scratch.path()), written, "{what}: the folder holds\n{}", run.describe());
        }
    }
}

#[test]
fn a_flash_crowd_gives_the_same_bytes_on_any_split() {
    same_bytes_for_every_split("flash crowd", FLASH_CROWD);
}

#[test]
fn classes_of_different_speeds_give_the_same_bytes_on_any_split() {
    same_bytes_for_every_split("heterogeneous classes", HETEROGENEOUS);
}

#[test]
fn a_swarm_bound_by_a_slow_seed_gives_the_same_bytes_on_any_split() {
    same_bytes_for_every_split("slow seed", SLOW_SEED);
}

#[test]
fn free_riders_give_the_same_bytes_on_any_split() {
    same_bytes_for_every_split("free riders", FREE_RIDERS);
}

#[test]
fn fewer_peers_than_shards_give_the_same_bytes_on_any_split() {
    same_bytes_for_every_split("fewer peers than shards", FEWER_PEERS_THAN_SHARDS);
}

// ---------------------------------------------------------------------------------------------
// Errors under mpirun

/// The swarm in `dir` refused under `mpirun -np 2 ... --out out`: the job fails by itself, says
/// `message` once in all its output (rank 0 speaks for every rank), and writes nothing.
fn assert_refused_once_under_mpirun(dir: &Path, message: &str) {
    let before = entries(dir);
    let run = mpirun(2, dir, &["sim", SWARM_FILE, "--out", "out"], RUN_TIMEOUT);
    run.assert_failed_by_itself();
    let said = format!("{}{}", run.stdout, run.stderr).matches(message).count();
    assert_eq!(said, 1, "{message:?} should be said once:\n{}", run.describe());
    assert_eq!(entries(dir), before, "a refused run changed {}:\n{}", dir.display(), run.describe());
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn a_bad_swarm_file_under_mpirun_is_said_once_at_its_line_and_column() {
    let scratch = Scratch::new("sim-mpi-bad-swarm");
    let bad = FLASH_CROWD.replacen("\"1 Mbit/s\"", "\"1 Mbps\"", 1);
    // Where the bad quantity starts, counted as an editor counts: lines and characters from 1.
    let at = bad.find("\"1 Mbps\"").expect("the spoilt quantity");
    let line = bad[..at].matches('\n').count() + 1;
    let column = bad[..at].rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    write(scratch.join(SWARM_FILE), &bad);
    assert_refused_once_under_mpirun(
        scratch.path(),
        &format!("bitorrent: {SWARM_FILE}:{line}:{column}: unknown unit \"Mbps\" in upload"),
    );
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn a_latency_of_0_under_mpirun_is_refused() {
    let scratch = Scratch::new("sim-mpi-latency-0");
    write(scratch.join(SWARM_FILE), FLASH_CROWD.replacen("\"50 ms\"", "\"0 ms\"", 1));
    assert_refused_once_under_mpirun(scratch.path(), "latency is 0");
}

// ---------------------------------------------------------------------------------------------
// A rank killed mid-run

/// The big swarm's file, beside whatever a test put in its folder before.
const BIG_SWARM_FILE: &str = "big.toml";

/// A flash crowd of 3,000 leechers on a 100 MiB file: seconds of work for each of two ranks.
fn big_swarm() -> String {
    let big = FLASH_CROWD.replacen("\"8 MiB\"", "\"100 MiB\"", 1).replacen("count = 40", "count = 3000", 1);
    assert!(big.contains("100 MiB") && big.contains("count = 3000"), "the flash crowd changed shape:\n{big}");
    big
}

/// The processor time rank 1 has used when it is killed: far beyond reading the swarm and
/// starting MPI (a tenth of a second), far below the whole run (seconds).
const WORK_BEFORE_THE_KILL: Duration = Duration::from_millis(500);

/// How long the job may take to end after the kill: OpenMPI takes about a second.
const END_AFTER_THE_KILL: Duration = Duration::from_secs(10);

/// Every file and folder under `dir`, by its path below `dir`, with a file's bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("list {}: {e}", folder.display())) {
            let path = entry.unwrap_or_else(|e| panic!("list {}: {e}", folder.display())).path();
            let below = path.strip_prefix(dir).expect("under dir").to_path_buf();
            if path.is_dir() {
                found.insert(below, None);
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                found.insert(below, Some(bytes));
            }
        }
    }
    found
}

/// Runs `mpirun -np 2 bitorrent sim big.toml --out out <extra>` in `dir`, kills rank 1 with
/// SIGKILL once it is well into the simulation, and checks that the job then ends by itself at
/// once, non-zero, saying which rank was killed, with no rank left running and `dir` as it was
/// before: no results folder written or changed, nothing partial or set aside beside it.
fn kill_rank_1_mid_run(dir: &Path, extra: &[&str]) {
    write(dir.join(BIG_SWARM_FILE), big_swarm());
    let before = snapshot(dir);
    let mut args = vec!["sim", BIG_SWARM_FILE, "--out", "out"];
    args.extend(extra);
    launcher(); // fails, never skips, without the launcher
    let _one_at_a_time = heavy_lock();
    let mut killed: Result<Instant, String> = Err("not yet".into());
    // No assertion inside: a panic there would leave the job running unwatched.
    let command = mpirun_command(2, BIN, &args, &[]);
    let run = run_command_while(command, dir, Duration::from_secs(120), |mpirun| {
        let deadline = Instant::now() + Duration::from_secs(60);
        killed = loop {
            if Instant::now() > deadline {
                break Err(format!("rank 1 did not use {WORK_BEFORE_THE_KILL:?} of processor time in 60 s"));
            }
            if let Some(pid) = rank_process(mpirun, 1)
                && cpu_time(pid).is_some_and(|used| used >= WORK_BEFORE_THE_KILL)
            {
                break if kill_hard(pid) {
                    Ok(Instant::now())
                } else {
                    Err("rank 1 had ended before the kill: make the swarm bigger".into())
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        };
    });
    let ended = Instant::now();
    let killed_at = killed.unwrap_or_else(|why| panic!("{why}\n{}", run.describe()));
    run.assert_failed_by_itself();
    let took = ended - killed_at;
    assert!(took < END_AFTER_THE_KILL, "the job took {took:?} to end after the kill:\n{}", run.describe());
    assert!(!run.stderr.contains("results in"), "the run finished before the kill: make the swarm bigger");
    // OpenMPI's words; rank_process finds the ranks through OpenMPI's environment too.
    run.assert_stderr_mentions(&["process rank 1", "exited on signal 9 (Killed)"]);
    let command_line: Vec<&str> = std::iter::once(BIN).chain(args.iter().copied()).collect();
    assert!(gone_within(&command_line, Duration::from_secs(5)), "a rank is still running after mpirun ended");
    let after = snapshot(dir);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|path| path.display().to_string())
        .collect();
    assert!(changed.is_empty(), "the killed run changed {changed:?} in {}:\n{}", dir.display(), run.describe());
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn a_rank_killed_mid_run_ends_the_job_with_no_results_folder() {
    let scratch = Scratch::new("sim-mpi-kill");
    kill_rank_1_mid_run(scratch.path(), &[]);
    assert_eq!(entries(scratch.path()), [BIG_SWARM_FILE]);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn a_rank_killed_mid_run_leaves_earlier_results_as_they_were() {
    let scratch = Scratch::new("sim-mpi-kill-keeps");
    write(scratch.join(SWARM_FILE), FLASH_CROWD);
    sim_in_one_process(scratch.path(), "out", &["--quiet"]).assert_success();
    kill_rank_1_mid_run(scratch.path(), &["--threads", "2"]);
    assert_eq!(entries(&scratch.join("out")), ["peers.csv", "summary.json"]);
}
