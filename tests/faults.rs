//! Faults: a panic in any actor, a peer killed with SIGKILL, an output folder on a full disk.
//! Each must end the whole job by itself within seconds, with a non-zero exit, say what
//! happened where it can, and leave every `client*` file whole (its owner's hashes) or absent.
// These run the binary, which a `--features loom` build replaces with a stub: loom builds
// run only the models in loom-tests/.
#![cfg(not(feature = "loom"))]
// As in tests/common: this harness only starts processes and waits on them, never a loom model.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bitorrent::scenario::{self, Scenario, ScenarioSpec};
use common::*;

/// A failing job ends in a second or two; past this it is killed and reported as hung.
const BOUND: Duration = Duration::from_secs(20);

/// The test-only hook that plants a panic (`src/test_panic.rs`).
const PANIC: &str = "BITORRENT_TEST_PANIC";

fn plan(ranks: u32, files: u32, segments: u32, wants: u32, seed: u64) -> Scenario {
    let spec = ScenarioSpec { ranks, files, segments, seeds: 1, wants, seed, crlf: false };
    scenario::plan(&spec).unwrap_or_else(|error| panic!("{spec:?}: {error}"))
}

/// Writes the scenario's inputs into `dir`; what a finished run would have written.
fn write_scenario(scenario: &Scenario, dir: &Path) -> Expected {
    scenario.write_to(dir, false).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    expected_from_inputs(&scenario.inputs)
}

/// The first rank that wants something (so its scheduler, pump and writer all get work).
fn a_downloader(scenario: &Scenario) -> u32 {
    let index = scenario.inputs.iter().position(|input| !input.wanted.is_empty()).expect("someone downloads");
    index as u32 + 1
}

/// Every `client*` file in `dir` is one a peer wanted, whole: byte for byte its owner's hashes.
fn assert_whole_or_absent(run: &Run, dir: &Path, expected: &Expected) {
    for name in client_files(dir) {
        let problem = match expected.get(&name) {
            None => "written, but no peer wanted it".to_string(),
            Some(content) => {
                let found = read(dir.join(&name));
                if found == *content {
                    continue;
                }
                format!("half-written or wrong: {} bytes, {} expected", found.len(), content.len())
            }
        };
        panic!("{}: {problem}\n{}", dir.join(&name).display(), run.describe());
    }
}

/// The writer's temporaries (`.client<R>_<file>.partial`) in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".client"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A panic anywhere

#[derive(Clone, Copy, Debug)]
enum How {
    Local,
    Mpirun,
}

/// Plants a panic in `site` (of one downloading peer, or the tracker) with the actors placed as
/// `actors` says: the job must end non-zero within the bound, saying which rank and which actor
/// panicked and why, with no half-written output.
fn a_panic_ends_the_job(how: How, site: &str, actors: &str) {
    const RANKS: u32 = 6;
    let scratch = Scratch::new(&format!("panic-{site}-{actors}"));
    let scenario = plan(RANKS, 3, 300, 2, 11);
    let expected = write_scenario(&scenario, scratch.path());
    let rank = a_downloader(&scenario);
    let (planted, says) = match site {
        "tracker" => ("tracker".to_string(), "bitorrent: rank 0: the tracker panicked: ".to_string()),
        "pump" => (format!("pump@{rank}"), format!("bitorrent: peer {rank}: the pump panicked: ")),
        actor => (format!("{actor}@{rank}"), format!("bitorrent: peer {rank}: the {actor} actor panicked: ")),
    };
    let args = ["--actors", actors];
    let env = [(PANIC, planted.as_str())];
    let run = match how {
        How::Local => local_env(RANKS, scratch.path(), &args, &env, BOUND),
        How::Mpirun => mpirun_env(RANKS, scratch.path(), &args, &env, BOUND),
    };
    run.assert_failed_by_itself();
    let message = format!("{says}{PANIC} planted this panic in the {site}");
    run.assert_stderr_mentions(&[&message]);
    assert_whole_or_absent(&run, scratch.path(), &expected);
}

macro_rules! panic_tests {
    ($($(#[$meta:meta])* $name:ident: $how:ident, $site:literal, $actors:literal;)*) => {
        $(
            #[test]
            $(#[$meta])*
            fn $name() {
                a_panic_ends_the_job(How::$how, $site, $actors);
            }
        )*
    };
}

panic_tests! {
    local_upload_panic_on_the_pump: Local, "upload", "pump";
    local_upload_panic_on_threads: Local, "upload", "threads";
    local_download_panic_on_the_pump: Local, "download", "pump";
    local_download_panic_on_threads: Local, "download", "threads";
    local_mirror_panic_on_the_pump: Local, "mirror", "pump";
    local_mirror_panic_on_threads: Local, "mirror", "threads";
    local_writer_panic_on_the_pump: Local, "writer", "pump";
    local_writer_panic_on_threads: Local, "writer", "threads";
    local_pump_panic_on_the_pump: Local, "pump", "pump";
    local_pump_panic_on_threads: Local, "pump", "threads";
    local_tracker_panic_on_the_pump: Local, "tracker", "pump";
    local_tracker_panic_on_threads: Local, "tracker", "threads";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_writer_panic_on_the_pump: Mpirun, "writer", "pump";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_writer_panic_on_threads: Mpirun, "writer", "threads";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_download_panic_on_the_pump: Mpirun, "download", "pump";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_download_panic_on_threads: Mpirun, "download", "threads";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_pump_panic_on_the_pump: Mpirun, "pump", "pump";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_pump_panic_on_threads: Mpirun, "pump", "threads";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_tracker_panic_on_the_pump: Mpirun, "tracker", "pump";
    #[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
    mpirun_tracker_panic_on_threads: Mpirun, "tracker", "threads";
}

// ---------------------------------------------------------------------------------------------
// A peer killed with SIGKILL

/// A peer's process killed mid-run under mpirun: mpirun sees its rank die and ends the job, at
/// once and non-zero; every output written by then is whole (the writer renames a finished
/// temporary), and no rank is left running.
///
/// Mid-run, for sure: one file is cut short, so the peers that want it finish it early while
/// the others' files take seconds more; the kill comes as soon as a first output appears.
#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_a_peer_killed_mid_run_ends_the_job() {
    const RANKS: u32 = 8;
    const SHORT: usize = 2000;
    let scratch = Scratch::new("sigkill");
    let mut scenario = plan(RANKS, 4, 60_000, 2, 21);
    let short = scenario.inputs.iter().find_map(|input| input.wanted.first()).expect("someone downloads").clone();
    for owned in scenario.inputs.iter_mut().flat_map(|input| input.owned.iter_mut()) {
        if owned.name == short {
            owned.hashes.truncate(SHORT);
        }
    }
    let expected = write_scenario(&scenario, scratch.path());
    let victim = a_downloader(&scenario);
    let outputs_begun = |dir: &Path| {
        std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("client") || name.starts_with(".client")
        })
    };
    launcher(); // fails, never skips, without the launcher
    let _one_at_a_time = heavy_lock();
    let mut killed: Result<Instant, String> = Err("not yet".into());
    // No assertion inside: a panic there would leave the job running unwatched.
    let command = mpirun_command(RANKS, BIN, &[], &[]);
    let run = run_command_while(command, scratch.path(), Duration::from_secs(60), |mpirun| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !outputs_begun(scratch.path()) {
            if Instant::now() > deadline {
                killed = Err("no output appeared in 60 s".into());
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        killed = match rank_process(mpirun, victim) {
            Some(pid) if kill_hard(pid) => Ok(Instant::now()),
            _ => Err(format!("rank {victim} had ended before the kill: make the swarm bigger")),
        };
    });
    let ended = Instant::now();
    let killed_at = killed.unwrap_or_else(|why| panic!("{why}\n{}", run.describe()));
    run.assert_failed_by_itself();
    let took = ended - killed_at;
    assert!(took < Duration::from_secs(10), "the job took {took:?} to end after the kill:\n{}", run.describe());
    assert!(gone_within(&[BIN], Duration::from_secs(5)), "a rank of the job is still running after mpirun ended");
    assert_whole_or_absent(&run, scratch.path(), &expected);
    let written = client_files(scratch.path()).len();
    assert!(
        written < expected.len(),
        "all {written} outputs were written before the kill: the swarm was over, make it bigger\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// The output folder on a full disk

/// A small tmpfs mounted on a folder, unmounted when dropped (so a failing test leaves no mount).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !status.success() {
            return Err(format!("mount -t tmpfs on {} failed: {status}", path.display()));
        }
        Ok(Tmpfs { path: path.to_path_buf() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status().is_ok_and(|status| status.success());
        if !unmounted {
            eprintln!("could not unmount the tmpfs on {}: unmount it by hand", self.path.display());
        }
    }
}

/// One peer downloads two files of 33,000 bytes each into a 64 KiB tmpfs: one fits, the other
/// cannot. The job must end non-zero, naming the file it could not write, with that file absent,
/// the one that fit whole (if written), and no temporary left. One downloader alone, so that no
/// other rank is mid-write when the job is torn down (under mpirun a rank killed by the abort
/// could leave a temporary behind; it is hidden for that reason, but could not be checked here).
fn a_full_disk_fails_cleanly(how: How, actors: &str) {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs as the output folder needs root");
        return;
    }
    const RANKS: u32 = 4;
    let scratch = Scratch::new(&format!("fulldisk-{actors}"));
    let mut scenario = plan(RANKS, 3, 1000, 2, 31);
    let downloader = a_downloader(&scenario);
    for (index, input) in scenario.inputs.iter_mut().enumerate() {
        if index as u32 + 1 != downloader {
            input.wanted.clear();
        }
    }
    let wanted: Vec<String> = scenario.inputs[downloader as usize - 1].wanted.iter().map(|n| n.to_string()).collect();
    assert_eq!(wanted.len(), 2, "the downloader wants two files");
    let expected = write_scenario(&scenario, scratch.path());
    let out = scratch.subdir("out");
    // Declared after the scratch folder, so dropped (unmounted) before it is removed.
    let _tmpfs = match Tmpfs::mount(&out, "64k") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let out_arg = out.to_string_lossy().into_owned();
    let args = ["--actors", actors, "-o", out_arg.as_str()];
    let run = match how {
        How::Local => local(RANKS, scratch.path(), &args, BOUND),
        How::Mpirun => mpirun(RANKS, scratch.path(), &args, BOUND),
    };
    run.assert_failed_by_itself();
    let failed: Vec<&String> = wanted
        .iter()
        .filter(|name| {
            let path = out.join(format!("client{downloader}_{name}"));
            run.stderr.contains(&format!("bitorrent: peer {downloader}: cannot write {}: ", path.display()))
        })
        .collect();
    assert_eq!(failed.len(), 1, "one error naming the file that did not fit:\n{}", run.describe());
    run.assert_stderr_mentions(&["No space left on device"]);
    let outputs = client_files(&out);
    assert!(!outputs.contains(&format!("client{downloader}_{}", failed[0])), "the failed file exists: {outputs:?}");
    assert_whole_or_absent(&run, &out, &expected);
    let left = temporaries(&out);
    assert!(left.is_empty(), "temporaries left in {}: {left:?}\n{}", out.display(), run.describe());
}

#[test]
fn local_a_full_output_disk_fails_cleanly_on_the_pump() {
    a_full_disk_fails_cleanly(How::Local, "pump");
}

#[test]
fn local_a_full_output_disk_fails_cleanly_on_threads() {
    a_full_disk_fails_cleanly(How::Local, "threads");
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn mpirun_a_full_output_disk_fails_cleanly() {
    a_full_disk_fails_cleanly(How::Mpirun, "pump");
}
