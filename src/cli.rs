//! The command line: `bitorrent` under mpirun, `bitorrent local` in one process,
//! `bitorrent gen` to write a scenario, `bitorrent sim` to run one on the simulated engine.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand};

use crate::bt::policy::{Choke, Optimistic, PieceOrder, SeedChoke};
use crate::peer::{PeerConfig, Placement};
use crate::run::RunConfig;
use crate::sim::command::{DEFAULT_OUT, Input, Request};
use crate::sim::swarm::{CHOKES, OPTIMISTIC_RULES, PIECE_ORDERS, PROTOCOLS, ProtocolKind, SEED_CHOKES};

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
    // Boxed: its options make it far larger than the other commands.
    Sim(Box<SimArgs>),
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
    /// --upload, --download and --latency, running the course's protocol
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
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// The protocol and BitTorrent's settings, each overriding the swarm file's `[policy]` key of
/// the same name (`-` for `_`); a swarm file only (a course folder runs the course's protocol).
/// A default is the file's, or `Policy::default()`'s without one. Quantities are read by
/// `sim::units` when the command runs, as the file's are.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
#[command(next_help_heading = "Protocol (a swarm file's [policy], overridden)")]
pub struct PolicyArgs {
    /// The protocol the peers run: BitTorrent's algorithms, or the course's own (whole pieces
    /// asked for and answered yes or no) [default: the file's, or bittorrent]
    #[arg(long, conflicts_with = "input", value_name = "NAME", value_parser = named(PROTOCOLS))]
    pub protocol: Option<ProtocolKind>,
    /// Which piece a peer asks for next [default: the file's, or rarest-first]
    #[arg(long, conflicts_with = "input", value_name = "ORDER", value_parser = named(PIECE_ORDERS))]
    pub pieces: Option<PieceOrder>,
    /// Pieces a peer picks at random before rarest first [default: the file's, or 4]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub random_first: Option<u32>,
    /// Whether a peer asks every holder for its last blocks [default: the file's, or true]
    #[arg(long, conflicts_with = "input", value_name = "BOOL", action = ArgAction::Set, value_parser = clap::value_parser!(bool))]
    pub endgame: Option<bool>,
    /// Whom a peer uploads to [default: the file's, or tit-for-tat]
    #[arg(long, conflicts_with = "input", value_name = "RULE", value_parser = named(CHOKES))]
    pub choke: Option<Choke>,
    /// Regular unchoke slots of a leecher [default: the file's, or 3]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub unchoke_slots: Option<u32>,
    /// Optimistic unchoke slots [default: the file's, or 1]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub optimistic_slots: Option<u32>,
    /// Who gets an optimistic unchoke [default: the file's, or longest-waiting]
    #[arg(long, conflicts_with = "input", value_name = "RULE", value_parser = named(OPTIMISTIC_RULES))]
    pub optimistic_rule: Option<Optimistic>,
    /// Whom a seed uploads to [default: the file's, or mainline]
    #[arg(long, conflicts_with = "input", value_name = "RULE", value_parser = named(SEED_CHOKES))]
    pub seed_choke: Option<SeedChoke>,
    /// Under libtorrent's seed choker, the pieces' worth an unchoked peer is sent before its
    /// slot can go to another [default: the file's, or 20]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub seed_quota: Option<u32>,
    /// How often the choker runs, like "10 s" [default: the file's, or 10 s]
    #[arg(long, conflicts_with = "input", value_name = "TIME")]
    pub rechoke: Option<String>,
    /// How often the optimistic unchoke rotates, a multiple of the rechoke [default: the file's,
    /// or 30 s]
    #[arg(long, conflicts_with = "input", value_name = "TIME")]
    pub optimistic: Option<String>,
    /// How long a connection may send nothing wanted before it is snubbed [default: the file's,
    /// or 1 min]
    #[arg(long, conflicts_with = "input", value_name = "TIME")]
    pub snub: Option<String>,
    /// Block requests a peer keeps outstanding on a connection [default: the file's, or 5]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub requests_in_flight: Option<u32>,
    /// The block a request asks for, at most the file's piece [default: the file's, or 16 KiB]
    #[arg(long, conflicts_with = "input", value_name = "SIZE")]
    pub block: Option<String>,
    /// Peers the tracker returns to an announce [default: the file's, or 50]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub peer_set: Option<u32>,
    /// The most connections a peer keeps [default: the file's, or 80]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub max_connections: Option<u32>,
    /// A peer with fewer connections announces again [default: the file's, or 20]
    #[arg(long, conflicts_with = "input", value_name = "N")]
    pub min_connections: Option<u32>,
    /// The regular re-announce [default: the file's, or 30 min]
    #[arg(long, conflicts_with = "input", value_name = "TIME")]
    pub reannounce: Option<String>,
    /// What headers and messages take of a link, a percentage below 100% [default: the file's,
    /// or 5%]
    #[arg(long, conflicts_with = "input", value_name = "PERCENT")]
    pub overhead: Option<String>,
}

/// A value parser for the names in `table`: clap lists them in the help and refuses others.
fn named<T: Copy + Send + Sync + 'static>(table: &'static [(&'static str, T)]) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(table.iter().map(|(name, _)| *name)).map(move |name: String| {
        table.iter().find(|(known, _)| *known == name).map(|(_, value)| *value).expect("clap took a name of the table")
    })
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
        Request {
            input,
            seed: self.seed,
            out: self.out.clone(),
            quiet: self.quiet,
            ranks: 1,
            policy: self.policy.clone(),
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::bt::policy::Policy;
    use crate::sim::command::option_of;
    use crate::sim::swarm::{POLICY_KEYS, Setting};

    fn sim(args: &[&str]) -> Result<SimArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["bitorrent", "sim"], args].concat())?;
        match cli.command {
            Some(Command::Sim(args)) => Ok(*args),
            other => panic!("not sim: {other:?}"),
        }
    }

    /// Every `[policy]` key has its option, whose help says the default: `Policy::default()`'s
    /// value, as the file would write it.
    #[test]
    fn every_policy_key_is_an_option_whose_help_says_its_default() {
        let command = Cli::command();
        let sim = command.find_subcommand("sim").expect("sim");
        let default = Policy::default();
        for key in POLICY_KEYS {
            let option = option_of(key);
            let arg = sim
                .get_arguments()
                .find(|arg| arg.get_long().map(|long| format!("--{long}")) == Some(option.clone()))
                .unwrap_or_else(|| panic!("no {option}"));
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let value = Setting::of(&default, key).unwrap();
            assert!(help.ends_with(&format!("[default: the file's, or {value}]")), "{option}: {help}");
        }
        let protocol = sim.get_arguments().find(|arg| arg.get_long() == Some("protocol")).unwrap();
        assert!(protocol.get_help().unwrap().to_string().ends_with("[default: the file's, or bittorrent]"));
    }

    #[test]
    fn policy_options_are_read_into_the_request() {
        let args = sim(&[
            "swarm.toml",
            "--protocol",
            "bittorrent",
            "--pieces",
            "in-order",
            "--endgame",
            "false",
            "--choke",
            "none",
            "--optimistic-rule",
            "random",
            "--unchoke-slots",
            "6",
            "--rechoke",
            "5 s",
            "--overhead",
            "2.5%",
        ])
        .unwrap();
        let request = args.request();
        assert_eq!(
            request.policy,
            PolicyArgs {
                protocol: Some(ProtocolKind::BitTorrent),
                pieces: Some(PieceOrder::InOrder),
                endgame: Some(false),
                choke: Some(Choke::None),
                optimistic_rule: Some(Optimistic::Random),
                unchoke_slots: Some(6),
                rechoke: Some("5 s".into()),
                overhead: Some("2.5%".into()),
                ..PolicyArgs::default()
            }
        );
        assert_eq!(sim(&["swarm.toml"]).unwrap().request().policy, PolicyArgs::default());
    }

    #[test]
    fn bad_policy_options_are_refused_naming_the_option() {
        for (args, option) in [
            (&["--pieces", "rarest"][..], "--pieces"),
            (&["--protocol", "mainline"], "--protocol"),
            (&["--endgame", "yes"], "--endgame"),
            (&["--choke", "always"], "--choke"),
            (&["--optimistic-rule", "oldest"], "--optimistic-rule"),
            (&["--unchoke-slots", "three"], "--unchoke-slots"),
            (&["--peer-set=-1"], "--peer-set"),
        ] {
            let error = sim(&[&["swarm.toml"], args].concat()).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
            assert!(error.to_string().contains(option), "{error}");
        }
        // Not with a course folder.
        let course = ["--input", "course", "--upload", "1 Mbit/s", "--download", "1 Mbit/s", "--latency", "1 ms"];
        for option in [&["--pieces", "random"][..], &["--protocol", "course"], &["--rechoke", "10 s"]] {
            let error = sim(&[&course[..], option].concat()).unwrap_err();
            assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict, "{option:?}");
            assert!(error.to_string().contains(option[0]), "{error}");
        }
    }
}
