//! The `bitorrent` command: parse the command line, run, turn errors into a message and an exit
//! code. The work is in the library.
// Built with `--features loom` the library's primitives are loom's, which only work inside a
// loom model: that build exists for `loom-tests/` alone, and its binary just says so.
#![cfg_attr(feature = "loom", allow(dead_code, unused_imports))]

use std::process::ExitCode;

use bitorrent::cli::{Cli, Command, GenArgs, RunArgs, SimArgs};
use bitorrent::console;
use bitorrent::report;
use bitorrent::run;
use bitorrent::scenario::{self, ScenarioSpec};
#[cfg(feature = "mpi")]
use bitorrent::{
    peer::Placement,
    run::{MIN_RANKS, RankOutcome, TooFewRanks},
    transport::mpi::MpiTransport,
};
use clap::Parser;

#[cfg(feature = "loom")]
fn main() -> ExitCode {
    console::say("this build (--features loom) is for model checking only; build without it to run");
    ExitCode::from(2)
}

#[cfg(not(feature = "loom"))]
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return command_line_error(error),
    };
    match cli.command {
        None => run_mpi(&cli.run),
        Some(Command::Local { ranks, folder, run }) => run_local(ranks, folder, &run),
        Some(Command::Gen(args)) => generate(&args),
        Some(Command::Sim(args)) => {
            #[cfg(target_os = "linux")]
            restart_with_huge_pages();
            simulate(&args)
        }
        Some(Command::Floor { exchanges, window }) => floor(exchanges, window),
    }
}

/// A command line clap refused (or `--help`, `--version`).
#[cfg(not(feature = "mpi"))]
fn command_line_error(error: clap::Error) -> ExitCode {
    let _ = error.print();
    ExitCode::from(error.exit_code().clamp(0, 255) as u8)
}

/// A command line clap refused (or `--help`, `--version`).
///
/// Under mpirun every rank must start MPI before it exits: when some ranks leave before
/// `MPI_Init` while others are still being launched, OpenMPI 4's mpirun can hang in its own
/// abort. So under mpirun the ranks start MPI, rank 0 alone prints, and all finish MPI and exit.
#[cfg(feature = "mpi")]
fn command_line_error(error: clap::Error) -> ExitCode {
    let code = ExitCode::from(error.exit_code().clamp(0, 255) as u8);
    if !launched_by_mpirun() {
        let _ = error.print();
        return code;
    }
    let universe = mpi::initialize();
    let rank = universe.as_ref().map_or(0, |universe| mpi::topology::Communicator::rank(&universe.world()));
    if rank == 0 {
        let _ = error.print();
    }
    drop(universe);
    code
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    console::say(message);
    ExitCode::FAILURE
}

/// OpenMPI's own yielding, which it turns on when ranks outnumber cores: every MPI call that
/// finds nothing to do gives up the core. The pump already yields when a round of it finds
/// nothing, so MPI's yields only come on top, two or three a round, and slow the protocol
/// (measured: the README's benchmark section ("what each change bought")). A setting the user made is kept. (The floor keeps MPI's yields: its loop has no yield of its own.)
///
/// Must run before MPI starts and before any other thread exists, so that nothing reads the
/// environment while it changes.
#[cfg(feature = "mpi")]
#[allow(unsafe_code)] // `set_var` is unsafe while other threads may read the environment
fn let_the_pump_do_the_yielding() {
    const SETTING: &str = "OMPI_MCA_mpi_yield_when_idle";
    if std::env::var_os(SETTING).is_none() {
        // SAFETY: called at the start of `main`'s MPI path, while this is the only thread.
        unsafe { std::env::set_var(SETTING, "0") };
    }
}

#[cfg(feature = "mpi")]
fn run_mpi(args: &RunArgs) -> ExitCode {
    let config = args.config(None);
    let_the_pump_do_the_yielding();
    // With the actors on the pump's thread a rank has one thread, and says so: OpenMPI then
    // takes no locks, which is measurably faster than Funneled (the README's benchmark section).
    // With actor threads, the pump is still the only thread that calls MPI:
    // Funneled is all that needs, and less would not do.
    let needed = match config.peer.actors {
        Placement::Pump => mpi::Threading::Single,
        Placement::Threads => mpi::Threading::Funneled,
    };
    let Some((universe, threading)) = mpi::initialize_with_threading(needed) else {
        return fail("MPI could not be initialised");
    };
    if threading < needed {
        return fail(format!("MPI gives threading level {threading:?}; bitorrent needs {needed:?}"));
    }
    let mut transport = MpiTransport::new(universe.world());
    let ranks = bitorrent::transport::Transport::ranks(&transport);
    if ranks < MIN_RANKS {
        // Every rank sees the same size, so every rank exits; rank 0 alone explains.
        if bitorrent::transport::Transport::me(&transport).0 == 0 {
            console::say(format_args!(
                "{}: run it as `mpirun -np N ./bitorrent` with N >= {MIN_RANKS}, \
                 or without MPI as `./bitorrent local --ranks N`",
                TooFewRanks(ranks)
            ));
        }
        return ExitCode::FAILURE;
    }
    match run::run_rank(&mut transport, &config) {
        Ok(RankOutcome::Tracker(outcome)) => {
            if let Err(error) = report::finish(&outcome, ranks, args.quiet, args.verbose, args.stats.as_deref()) {
                // The swarm itself succeeded and every peer has its files; only the report failed.
                console::say(&error);
                return ExitCode::FAILURE;
            }
        }
        Ok(RankOutcome::Peer(_)) => {}
        Err(error) => {
            // The one fatal path: say why, then end every rank of the job so none is left waiting.
            // A panic anywhere in the rank arrives here as an error too (see `run::run_rank`),
            // so it never unwinds into `MPI_Finalize` while the other ranks wait.
            console::say(&error);
            transport.abort(1);
        }
    }
    drop(transport);
    drop(universe); // MPI_Finalize, after every actor thread has been joined
    ExitCode::SUCCESS
}

fn run_local(ranks: u32, folder: Option<std::path::PathBuf>, args: &RunArgs) -> ExitCode {
    let config = args.config(folder);
    match run::run_local(ranks, &config) {
        Ok(outcome) => match report::finish(&outcome.tracker, ranks, args.quiet, args.verbose, args.stats.as_deref()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(error) => fail(error),
        },
        Err(error) => fail(error),
    }
}

fn generate(args: &GenArgs) -> ExitCode {
    let spec = ScenarioSpec {
        ranks: args.ranks,
        files: args.files,
        segments: args.segments,
        seeds: args.seeds,
        wants: args.wants,
        seed: args.seed,
        crlf: args.crlf,
    };
    match scenario::generate(&spec, &args.folder) {
        Ok(summary) => {
            println!(
                "wrote {}: {} ranks ({} peers), {} files of {} segments, {} transfers needed",
                args.folder.display(),
                summary.ranks,
                summary.peers,
                summary.files,
                summary.segments_per_file,
                summary.transfers_needed
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(error),
    }
}

/// `bitorrent sim`: the simulated engine, in this process, or over the ranks of an MPI job when
/// mpirun started it.
fn simulate(args: &SimArgs) -> ExitCode {
    #[cfg(feature = "mpi")]
    if launched_by_mpirun() {
        return simulate_on_ranks(args);
    }
    let threads = args.threads;
    let engine = |scenario: &bitorrent::sim::scenario::Scenario, on_progress: &mut dyn FnMut(&_)| {
        bitorrent::sim::engine::simulate_split(scenario, threads, None, on_progress)
            .map(|outcome| outcome.expect("a run of one rank has its outcome"))
    };
    match bitorrent::sim::command::run(&args.request(), engine) {
        Ok(finished) => say_finished(args, &finished),
        Err(error) => fail(error),
    }
}

/// The simulated engine's memory is hundreds of megabytes of peers' state, touched one event's
/// peer after another's, at random. With 4 KiB pages nearly every such first touch also misses
/// the processor's cache of page translations (a few megabytes' worth), and walking the page
/// tables costs another round of misses; 2 MiB pages cover a gigabyte with the same cache. The
/// kernel gives them to memory that asks for them (`madvise`, Debian's default setting), and
/// glibc's allocator asks only under its tunable `glibc.malloc.hugetlb=1`, which it reads once,
/// as the process starts. So `sim` starts itself again, once, with the tunable set (README,
/// "Benchmark of the simulated engine", has what it bought); a `glibc.malloc.hugetlb` the user
/// set, `=0` included, is kept. Under mpirun each rank restarts before MPI starts, keeping its
/// process id and environment. If the restart fails, the run goes on as it is.
#[cfg(target_os = "linux")]
fn restart_with_huge_pages() {
    use std::os::unix::process::CommandExt;

    const TUNABLE: &str = "glibc.malloc.hugetlb";
    // Set for the restarted process, so that it never restarts again, whatever glibc does with
    // its tunables' variable.
    const RESTARTED: &str = "BITORRENT_RESTARTED_WITH_HUGE_PAGES";
    let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    if std::env::var_os(RESTARTED).is_some() || tunables.to_string_lossy().contains(TUNABLE) {
        return;
    }
    let mut with_tunable = tunables;
    if !with_tunable.is_empty() {
        with_tunable.push(":");
    }
    with_tunable.push(format!("{TUNABLE}=1"));
    let mut args = std::env::args_os();
    let (Some(argv0), Ok(exe)) = (args.next(), std::env::current_exe()) else { return };
    // `exec` returns only if it failed; the run then goes on without huge pages.
    let _ = std::process::Command::new(exe)
        .arg0(argv0)
        .args(args)
        .env("GLIBC_TUNABLES", with_tunable)
        .env(RESTARTED, "1")
        .exec();
}

fn say_finished(args: &SimArgs, finished: &bitorrent::sim::command::Finished) -> ExitCode {
    if !args.quiet || finished.leftover.is_some() {
        console::say(finished);
    }
    ExitCode::SUCCESS
}

#[cfg(feature = "mpi")]
fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].iter().any(|name| std::env::var_os(name).is_some())
}

/// `mpirun -np R ./bitorrent sim ...`: every rank reads the input, runs its shards, and rank 0
/// writes the results. Every rank says an error that is its own; one that all share (a bad swarm
/// file, a stuck swarm), rank 0 alone.
#[cfg(feature = "mpi")]
fn simulate_on_ranks(args: &SimArgs) -> ExitCode {
    use bitorrent::sim::command::Request;
    use bitorrent::sim::engine::{self, SimError};
    use bitorrent::sim::mpi_ranks::MpiRanks;

    // Worker 0, on this thread, is the only one to call MPI.
    let needed = if args.threads > 1 { mpi::Threading::Funneled } else { mpi::Threading::Single };
    let Some((universe, threading)) = mpi::initialize_with_threading(needed) else {
        return fail("MPI could not be initialised");
    };
    if threading < needed {
        return fail(format!("MPI gives threading level {threading:?}; bitorrent sim needs {needed:?}"));
    }
    let mut ranks = MpiRanks::new(universe.world());
    let rank = bitorrent::sim::window::Ranks::rank(&ranks);
    let threads = args.threads;
    let mut started = false;
    let mut own_error = false;
    let request = Request { ranks: bitorrent::sim::window::Ranks::ranks(&ranks), ..args.request() };
    let result = bitorrent::sim::command::run_on_rank(&request, |scenario, on_progress| {
        started = true;
        let unready: Vec<String> = ranks
            .poll(true)
            .iter()
            .enumerate()
            .filter(|(_, ready)| !**ready)
            .map(|(rank, _)| rank.to_string())
            .collect();
        if !unready.is_empty() {
            return Err(format!("rank {} could not read the input (and says why)", unready.join(", ")));
        }
        engine::simulate_split(scenario, threads, Some(&mut ranks), on_progress).map_err(|error: SimError| {
            own_error = !error.is_everyones();
            error.to_string()
        })
    });
    let code = match result {
        Ok(Some(finished)) => say_finished(args, &finished),
        Ok(None) => ExitCode::SUCCESS,
        Err(error) => {
            if !started {
                // This rank could not read its input: the others must not wait for it. When rank
                // 0 could not either, it says why for all.
                own_error = ranks.poll(false)[0];
            }
            if rank == 0 || own_error {
                console::say(if rank == 0 { error.to_string() } else { format!("rank {rank}: {error}") });
            }
            ExitCode::FAILURE
        }
    };
    drop(ranks);
    drop(universe); // MPI_Finalize, after the worker threads are joined
    code
}

#[cfg(feature = "mpi")]
fn floor(exchanges: u64, window: u64) -> ExitCode {
    let Some(universe) = mpi::initialize() else { return fail("MPI could not be initialised") };
    let mut transport = MpiTransport::new(universe.world());
    if bitorrent::transport::Transport::ranks(&transport) < MIN_RANKS {
        return fail(TooFewRanks(bitorrent::transport::Transport::ranks(&transport)));
    }
    match bitorrent::floor::run(&mut transport, exchanges, window.max(1)) {
        Ok(Some(outcome)) => {
            println!(
                "floor: {} exchanges in {:.4} s ({:.0} per second)",
                outcome.exchanges,
                outcome.elapsed.as_secs_f64(),
                outcome.exchanges as f64 / outcome.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(error) => {
            console::say(format_args!("floor: {error}"));
            transport.abort(1)
        }
    }
}

/// A build without the `mpi` feature has no MPI to run on: it says so, and what does run.
#[cfg(not(feature = "mpi"))]
fn without_mpi(what: &str) -> ExitCode {
    fail(format_args!(
        "{what} needs MPI, and this build has none (built with --no-default-features); \
         run the swarm in one process with `bitorrent local --ranks N`, or build with the `mpi` feature"
    ))
}

#[cfg(not(feature = "mpi"))]
fn run_mpi(_args: &RunArgs) -> ExitCode {
    without_mpi("`bitorrent` under mpirun")
}

#[cfg(not(feature = "mpi"))]
fn floor(_exchanges: u64, _window: u64) -> ExitCode {
    without_mpi("`bitorrent floor`")
}
