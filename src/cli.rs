//! The command line: `bitorrent` under mpirun, `bitorrent local` in one process,
//! `bitorrent gen` to write a scenario, `bitorrent sim` to run one on the simulated engine.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::peer::{PeerConfig, Placement};
use crate::run::RunConfig;
use crate::sim::command::{DEFAULT_OUT, Input, Request};

#[derive(Parser, Debug)]
#[command(
    name = "bitorrent",
    version,
    about = "A BitTorrent swarm simulator: rank 0 tracks, every other rank is a peer.",
    long_about = "A BitTorrent swarm simulator.\n\n\
        Under MPI: `mpirun -np N bitorrent` in a folder holding in1.txt .. in<N-1>.txt. Rank 0 \
        is the tracker; each other rank is a peer that writes client<R>_<file> for every file \
        it wanted.\n\nWithout MPI: `bitorrent local --ranks N [FOLDER]` runs the same swarm as \
        threads of one process."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole swarm in this process (ranks as threads), no MPI needed.
    Local {
        /// Ranks in all, the tracker included (peers are 1..N-1).
        #[arg(long, short = 'n')]
        ranks: u32,
        /// The folder holding in1.txt .. in<N-1>.txt (the current folder if not given).
        folder: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Write a generated scenario (in1.txt .. in<N-1>.txt) into FOLDER.
    Gen(GenArgs),
    /// Run a swarm on the simulated engine (simulated time, link capacities, latency; no MPI) and
    /// write summary.json and peers.csv into the --out folder.
    Sim(SimArgs),
    /// Under mpirun: the same request/reply exchanges with no swarm logic, the floor to measure
    /// the protocol against; prints its exchange time.
    Floor {
        /// Request/replies each peer makes
        #[arg(long)]
        exchanges: u64,
        /// Requests each peer keeps in flight (the swarm's default, for a like-for-like ratio)
        #[arg(long, default_value_t = u64::from(DEFAULT_WINDOW))]
        window: u64,
    },
}

/// Segment requests a peer keeps in flight unless told otherwise. With ranks outnumbering cores a
/// reply is a scheduler cycle away, and each rank gets through what its window lets it per time
/// slice, so a deeper window is faster up to a point; deeper still lets the seeds take most
/// uploads at 128 ranks (the README's benchmark section has the figures). Partial holders are asked one unknown segment at a time however deep the window (see the
/// scheduler), so a deep window does not multiply refusals.
pub const DEFAULT_WINDOW: u32 = 32;

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The folder holding the inputs in<R>.txt [default: the current folder]
    #[arg(long, short = 'i', value_name = "DIR")]
    pub input: Option<PathBuf>,
    /// The folder the client<R>_<file> outputs go to [default: the input folder]
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Segment requests each peer keeps in flight at once
    #[arg(long, short = 'w', default_value_t = DEFAULT_WINDOW, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub window: u32,
    /// Seed for every random choice of the run
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Ask for segments first to last instead of in a random order (from the seed). Every
    /// downloader then wants the same segment at once, and partial holders can rarely help
    #[arg(long)]
    pub in_order: bool,
    /// Where each peer's actors run: all on the rank's pump thread (fast when ranks outnumber
    /// cores), or each on a thread of its own
    #[arg(long, value_enum, default_value_t = Placement::Pump)]
    pub actors: Placement,
    /// Print nothing but errors
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every peer's figures at the end
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Write the run's figures (time, traffic, every peer's uploads and sources) as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}

impl RunArgs {
    /// The run's configuration; `folder` (from `local`) stands in for `--input` when given.
    pub fn config(&self, folder: Option<PathBuf>) -> RunConfig {
        let input_dir = self.input.clone().or(folder).unwrap_or_else(|| PathBuf::from("."));
        let output_dir = self.output.clone().unwrap_or_else(|| input_dir.clone());
        RunConfig {
            input_dir,
            peer: PeerConfig {
                window: self.window as usize,
                seed: self.seed,
                output_dir,
                in_order: self.in_order,
                actors: self.actors,
                test_panic: crate::test_panic::TestPanic::from_env(),
            },
        }
    }
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// Where to write in1.txt .. in<N-1>.txt (created if missing)
    pub folder: PathBuf,
    /// Ranks in all, the tracker included
    #[arg(long)]
    pub ranks: u32,
    /// Number of files
    #[arg(long)]
    pub files: u32,
    /// Segments per file
    #[arg(long)]
    pub segments: u32,
    /// Peers that own each file whole
    #[arg(long, default_value_t = 1)]
    pub seeds: u32,
    /// Files each peer wants (at most)
    #[arg(long, default_value_t = 1)]
    pub wants: u32,
    /// Seed of the generator: the same seed writes the same files
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write Windows line endings (CRLF)
    #[arg(long)]
    pub crlf: bool,
}

/// `bitorrent sim SWARM.toml` or `bitorrent sim --input FOLDER --upload .. --download ..
/// --latency ..`. Quantities are a number and a unit, as in the swarm file ("10 Mbit/s",
/// "50 ms", "256 KiB"); they are read by `sim::units` when the command runs, so that a bad one
/// is reported like any other bad input.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// The swarm file (TOML: the file, the network, the classes of peers)
    #[arg(value_name = "SWARM.toml", required_unless_present = "input", conflicts_with = "input")]
    pub swarm: Option<PathBuf>,
    /// Run a course folder (in1.txt .. in<N>.txt) instead, every peer on the links given by
    /// --upload, --download and --latency
    #[arg(long, short = 'i', value_name = "FOLDER", requires_all = ["upload", "download", "latency"])]
    pub input: Option<PathBuf>,
    /// With --input: every peer's upload capacity, like "10 Mbit/s"
    #[arg(long, value_name = "RATE", requires = "input")]
    pub upload: Option<String>,
    /// With --input: every peer's download capacity, like "40 Mbit/s"
    #[arg(long, value_name = "RATE", requires = "input")]
    pub download: Option<String>,
    /// With --input: the one-way latency between any two peers, like "50 ms"
    #[arg(long, value_name = "TIME", requires = "input")]
    pub latency: Option<String>,
    /// With --input: the size of a piece, every segment being one [default: "256 KiB"]
    #[arg(long, value_name = "SIZE", requires = "input")]
    pub piece: Option<String>,
    /// Seed for every random choice; overrides the swarm file's [default: the file's, or 1]
    #[arg(long)]
    pub seed: Option<u64>,
    /// The folder the results go to, replaced whole when the run succeeds
    #[arg(long, short = 'o', value_name = "DIR", default_value = DEFAULT_OUT)]
    pub out: PathBuf,
    /// Print nothing but errors: no progress line, no summary line
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Worker threads that split the peers between them (in each rank, under mpirun); the
    /// results are the same for any number
    #[arg(long, short = 't', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::sim::engine::MAX_THREADS)))]
    pub threads: u32,
}

impl SimArgs {
    pub fn request(&self) -> Request {
        let input = match (&self.swarm, &self.input) {
            (_, Some(folder)) => Input::Course {
                folder: folder.clone(),
                // clap requires all three with --input.
                upload: self.upload.clone().unwrap_or_default(),
                download: self.download.clone().unwrap_or_default(),
                latency: self.latency.clone().unwrap_or_default(),
                piece: self.piece.clone(),
            },
            (Some(file), None) => Input::Swarm(file.clone()),
            // clap requires one of the two.
            (None, None) => Input::Swarm(PathBuf::new()),
        };
        Request { input, seed: self.seed, out: self.out.clone(), quiet: self.quiet, ranks: 1 }
    }
}
