//! The swarm file: a TOML description of a swarm for the simulated engine, read into a
//! validated [`Swarm`] of plain integers (bytes, bits per second, nanoseconds).
//!
//! ```toml
//! seed = 7                      # every random choice (default 1); --seed overrides
//! [file]
//! size = "100 MiB"
//! piece = "256 KiB"             # the unit a peer requests; the last piece may be shorter
//! [network]
//! latency = "50 ms"             # one way, between any two peers and to the tracker
//! [[peers]]                     # a class of peers
//! name = "seed"
//! count = 1
//! upload = "10 Mbit/s"
//! download = "100 Mbit/s"
//! seed = true                   # holds the whole file from the start (default false)
//! [[peers]]
//! name = "leecher"
//! count = 1000
//! upload = "1 Mbit/s"
//! download = "4 Mbit/s"
//! [policy]                      # optional, and so is each key: BitTorrent's algorithms' settings
//! protocol = "bittorrent"       # or "course": the course's own protocol, with no other key
//! unchoke_slots = 4             # ... (`bt::policy::Policy` has every key and its default)
//! ```
//!
//! Quantities are strings with their unit (`units` lists them). Every peer is present at time 0
//! and stays to the end. Unknown keys are refused, so a misspelt key is an error rather than a
//! silently used default; new keys can still be added later as optional ones without breaking
//! existing files (and `[file]` can later also accept `[[file]]` for several files).
//!
//! A class may be a free rider (`free_rider = true`: it never uploads; a class that uploads at
//! 0 bit/s is one too), but not a seed. `[policy]` sets BitTorrent's algorithms, each key
//! optional with [`Policy::default`]'s value; [`Setting`] and [`resolve_policy`] serve the
//! command line's options too, so that both read and check a setting the same way.
//!
//! Every error is one line naming the file, line and column (1-based; the column counts
//! characters, as an editor does): `swarm.toml:7:10: unknown unit "Mbps" in upload; use one of:
//! ...`. Errors found after TOML decoding still have a place, because the fields they concern
//! are read with their spans.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::units::{
    BitsPerSecond, Bytes, Kind, Nanoseconds, PartsPerMillion, UnitError, parse as parse_quantity, parse_percent,
};
use crate::bt::policy::{Choke, Nanos, Optimistic, PieceOrder, Policy, SeedChoke};
use crate::model::PeerId;

/// The most peers a swarm may have, all classes together. A count is checked against it before
/// anything is sized by it, so a typo of three extra zeros is an error, not an allocation that
/// takes the machine down. 2^24 is well past the design's target of a million peers (a few KB
/// each) and still leaves peer ids (tracker 0, peers 1..=N) far inside u32.
pub const MAX_PEERS: u32 = 1 << 24;

/// The most pieces a file may have. Every peer keeps a bitfield of the pieces it holds (and of
/// its neighbours'), so the piece count multiplies the per-peer memory: 2^20 pieces is a 128 KiB
/// bitfield per peer, already past the design's budget of a few KB. Real torrents stay far below
/// (100 GB in 256 KiB pieces is 400,000).
pub const MAX_PIECES: u32 = 1 << 20;

/// The seed of every random choice when the file gives none.
pub const DEFAULT_SEED: u64 = 1;

/// A swarm, validated: at least one class, at least one seed, sizes and counts in range.
///
/// Peer ids: the tracker is peer 0 (as in `model::PeerId`); peers are numbered from 1 in the
/// order the classes appear in the file, each class taking the next `count` ids. With the
/// example above, the seed is peer 1 and the leechers are peers 2..=1001.
///
/// Serialized (for a run's JSON), every quantity is its base-unit integer and its key says the
/// unit, so that a result carries the full scenario it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Swarm {
    seed: u64,
    file: FileSpec,
    network: Network,
    classes: Vec<PeerClass>,
    total_peers: u32,
    protocol: Protocol,
}

/// The protocol the peers run, with its settings: the `[policy]` table, resolved.
///
/// Serialized as an object whose `name` says which (`{"name": "course"}`, or `{"name":
/// "bittorrent", "pieces": "rarest-first", ...}` with every setting of [`Policy`], its keys
/// saying their units), so that a result carries the settings it ran with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "name")]
pub enum Protocol {
    /// BitTorrent's algorithms (`crate::bt`): blocks, `have`s, a piece order, choking.
    #[serde(rename = "bittorrent")]
    BitTorrent(Policy),
    /// The course's own protocol, the one the simulation ran first: whole pieces asked of a
    /// holder, and answered yes or no.
    #[serde(rename = "course")]
    Course,
}

impl Default for Protocol {
    /// What a swarm file without `[policy]` runs: BitTorrent's algorithms, at their defaults.
    fn default() -> Protocol {
        Protocol::BitTorrent(Policy::default())
    }
}

impl Protocol {
    pub fn kind(&self) -> ProtocolKind {
        match self {
            Protocol::BitTorrent(_) => ProtocolKind::BitTorrent,
            Protocol::Course => ProtocolKind::Course,
        }
    }

    /// The settings of BitTorrent's algorithms; None for the course's protocol.
    pub fn policy(&self) -> Option<&Policy> {
        match self {
            Protocol::BitTorrent(policy) => Some(policy),
            Protocol::Course => None,
        }
    }
}

/// Which protocol, without its settings: what `protocol = "..."` and `--protocol` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolKind {
    BitTorrent,
    Course,
}

/// The names the swarm file and the command line give each setting's values, in the order
/// messages and help list them. The enums' own serialized names are the same (a test checks).
pub const PROTOCOLS: &[(&str, ProtocolKind)] =
    &[("bittorrent", ProtocolKind::BitTorrent), ("course", ProtocolKind::Course)];
pub const PIECE_ORDERS: &[(&str, PieceOrder)] =
    &[("rarest-first", PieceOrder::RarestFirst), ("random", PieceOrder::Random), ("in-order", PieceOrder::InOrder)];
pub const CHOKES: &[(&str, Choke)] = &[("tit-for-tat", Choke::TitForTat), ("none", Choke::None)];
pub const OPTIMISTIC_RULES: &[(&str, Optimistic)] =
    &[("longest-waiting", Optimistic::LongestWaiting), ("random", Optimistic::Random)];
pub const SEED_CHOKES: &[(&str, SeedChoke)] =
    &[("mainline", SeedChoke::Mainline), ("libtorrent", SeedChoke::Libtorrent)];

/// The name `table` gives `value`.
pub fn name_of<T: PartialEq>(table: &[(&'static str, T)], value: &T) -> &'static str {
    table.iter().find(|(_, known)| known == value).map(|(name, _)| *name).expect("every value has a name")
}

/// `"a", "b", "c"`, for messages.
fn names<T>(table: &[(&str, T)]) -> String {
    table.iter().map(|(name, _)| format!("{name:?}")).collect::<Vec<_>>().join(", ")
}

/// The keys of `[policy]` besides `protocol`, each a setting of [`Policy`], in the order the
/// README lists them; on the command line each is an option, `--` and the key with `-` for `_`.
pub const POLICY_KEYS: [&str; 19] = [
    "pieces",
    "random_first",
    "endgame",
    "choke",
    "unchoke_slots",
    "optimistic_slots",
    "optimistic_rule",
    "seed_choke",
    "seed_quota",
    "rechoke",
    "optimistic",
    "snub",
    "requests_in_flight",
    "block",
    "peer_set",
    "max_connections",
    "min_connections",
    "reannounce",
    "overhead",
];

/// One setting of BitTorrent's algorithms, read from the swarm file's `[policy]` or from the
/// command line, in base units. [`resolve_policy`] applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    Pieces(PieceOrder),
    RandomFirst(u32),
    Endgame(bool),
    Choke(Choke),
    UnchokeSlots(u32),
    OptimisticSlots(u32),
    OptimisticRule(Optimistic),
    SeedChoke(SeedChoke),
    SeedQuota(u32),
    Rechoke(Nanos),
    Optimistic(Nanos),
    Snub(Nanos),
    RequestsInFlight(u32),
    /// In bytes, not yet checked against the piece.
    Block(u64),
    PeerSet(u32),
    MaxConnections(u32),
    MinConnections(u32),
    Reannounce(Nanos),
    /// In parts per million.
    Overhead(u32),
}

impl Setting {
    /// Its key in `[policy]` (one of [`POLICY_KEYS`]).
    pub fn key(&self) -> &'static str {
        match self {
            Setting::Pieces(_) => "pieces",
            Setting::RandomFirst(_) => "random_first",
            Setting::Endgame(_) => "endgame",
            Setting::Choke(_) => "choke",
            Setting::UnchokeSlots(_) => "unchoke_slots",
            Setting::OptimisticSlots(_) => "optimistic_slots",
            Setting::OptimisticRule(_) => "optimistic_rule",
            Setting::SeedChoke(_) => "seed_choke",
            Setting::SeedQuota(_) => "seed_quota",
            Setting::Rechoke(_) => "rechoke",
            Setting::Optimistic(_) => "optimistic",
            Setting::Snub(_) => "snub",
            Setting::RequestsInFlight(_) => "requests_in_flight",
            Setting::Block(_) => "block",
            Setting::PeerSet(_) => "peer_set",
            Setting::MaxConnections(_) => "max_connections",
            Setting::MinConnections(_) => "min_connections",
            Setting::Reannounce(_) => "reannounce",
            Setting::Overhead(_) => "overhead",
        }
    }

    /// The setting of `key` in `policy`; None if `key` is not one of [`POLICY_KEYS`].
    pub fn of(policy: &Policy, key: &str) -> Option<Setting> {
        Some(match key {
            "pieces" => Setting::Pieces(policy.pieces),
            "random_first" => Setting::RandomFirst(policy.random_first),
            "endgame" => Setting::Endgame(policy.endgame),
            "choke" => Setting::Choke(policy.choke),
            "unchoke_slots" => Setting::UnchokeSlots(policy.unchoke_slots),
            "optimistic_slots" => Setting::OptimisticSlots(policy.optimistic_slots),
            "optimistic_rule" => Setting::OptimisticRule(policy.optimistic_rule),
            "seed_choke" => Setting::SeedChoke(policy.seed_choke),
            "seed_quota" => Setting::SeedQuota(policy.seed_quota),
            "rechoke" => Setting::Rechoke(policy.rechoke),
            "optimistic" => Setting::Optimistic(policy.optimistic),
            "snub" => Setting::Snub(policy.snub),
            "requests_in_flight" => Setting::RequestsInFlight(policy.requests_in_flight),
            "block" => Setting::Block(u64::from(policy.block)),
            "peer_set" => Setting::PeerSet(policy.peer_set),
            "max_connections" => Setting::MaxConnections(policy.max_connections),
            "min_connections" => Setting::MinConnections(policy.min_connections),
            "reannounce" => Setting::Reannounce(policy.reannounce),
            "overhead" => Setting::Overhead(policy.overhead_ppm),
            _ => return None,
        })
    }

    /// Sets it in `policy`; a block must fit in a u32 (checked by `resolve_policy` first).
    fn apply(self, policy: &mut Policy) {
        match self {
            Setting::Pieces(order) => policy.pieces = order,
            Setting::RandomFirst(n) => policy.random_first = n,
            Setting::Endgame(on) => policy.endgame = on,
            Setting::Choke(choke) => policy.choke = choke,
            Setting::UnchokeSlots(n) => policy.unchoke_slots = n,
            Setting::OptimisticSlots(n) => policy.optimistic_slots = n,
            Setting::OptimisticRule(rule) => policy.optimistic_rule = rule,
            Setting::SeedChoke(choke) => policy.seed_choke = choke,
            Setting::SeedQuota(n) => policy.seed_quota = n,
            Setting::Rechoke(ns) => policy.rechoke = ns,
            Setting::Optimistic(ns) => policy.optimistic = ns,
            Setting::Snub(ns) => policy.snub = ns,
            Setting::RequestsInFlight(n) => policy.requests_in_flight = n,
            Setting::Block(bytes) => policy.block = u32::try_from(bytes).unwrap_or(u32::MAX),
            Setting::PeerSet(n) => policy.peer_set = n,
            Setting::MaxConnections(n) => policy.max_connections = n,
            Setting::MinConnections(n) => policy.min_connections = n,
            Setting::Reannounce(ns) => policy.reannounce = ns,
            Setting::Overhead(ppm) => policy.overhead_ppm = ppm,
        }
    }
}

/// The value as a swarm file writes it, quotes aside: `rarest-first`, `4`, `10 s`, `16 KiB`, `5%`.
impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Setting::Pieces(order) => f.write_str(name_of(PIECE_ORDERS, &order)),
            Setting::Choke(choke) => f.write_str(name_of(CHOKES, &choke)),
            Setting::OptimisticRule(rule) => f.write_str(name_of(OPTIMISTIC_RULES, &rule)),
            Setting::SeedChoke(choke) => f.write_str(name_of(SEED_CHOKES, &choke)),
            Setting::Endgame(on) => write!(f, "{on}"),
            Setting::RandomFirst(n)
            | Setting::UnchokeSlots(n)
            | Setting::OptimisticSlots(n)
            | Setting::SeedQuota(n)
            | Setting::RequestsInFlight(n)
            | Setting::PeerSet(n)
            | Setting::MaxConnections(n)
            | Setting::MinConnections(n) => write!(f, "{n}"),
            Setting::Rechoke(ns) | Setting::Optimistic(ns) | Setting::Snub(ns) | Setting::Reannounce(ns) => {
                write!(f, "{}", Nanoseconds(ns))
            }
            Setting::Block(bytes) => write!(f, "{}", Bytes(bytes)),
            Setting::Overhead(ppm) => write!(f, "{}", PartsPerMillion(ppm)),
        }
    }
}

/// `base` with `settings` applied in order (a later one of the same key wins), checked for a
/// file of pieces of `piece`: the block fits in a piece, and [`Policy::check`] holds.
///
/// `W` says where each setting was written (a span of the file, an option); an error comes
/// with the place of the setting at fault: for a rule between settings, the one written here
/// whose value from `base` would make the rule hold (`optimistic = "25 s"` rather than
/// `rechoke`), else the first the message names. None when no setting it names was written
/// here.
pub fn resolve_policy<W: Clone>(
    base: &Policy,
    settings: &[(W, Setting)],
    piece: Bytes,
) -> Result<Policy, (Option<W>, String)> {
    let mut policy = base.clone();
    for (place, setting) in settings {
        if let Setting::Block(bytes) = *setting {
            let block = Bytes(bytes);
            if block > piece {
                return Err((Some(place.clone()), format!("block is {block}, larger than the file's piece ({piece})")));
            }
            if u32::try_from(bytes).is_err() {
                let most = Bytes(u64::from(u32::MAX));
                return Err((
                    Some(place.clone()),
                    format!("block is {block}, more than the most a block may be ({most})"),
                ));
            }
        }
        setting.apply(&mut policy);
    }
    let Err(message) = policy.check() else { return Ok(policy) };
    // The keys the message names, in its order, that a setting here wrote (the last of each).
    let mut named: Vec<(&str, &W)> = Vec::new();
    for word in message.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let written = settings.iter().rev().find(|(_, setting)| setting.key() == word);
        if let Some((place, setting)) = written
            && !named.iter().any(|(key, _)| *key == setting.key())
        {
            named.push((setting.key(), place));
        }
    }
    let fixes = |key: &str| {
        let mut undone = policy.clone();
        Setting::of(base, key).expect("a key of the policy").apply(&mut undone);
        undone.check().is_ok()
    };
    let at = named.iter().find(|(key, _)| fixes(key)).or(named.first()).map(|(_, place)| (*place).clone());
    Err((at, message))
}

/// The one file the swarm shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FileSpec {
    #[serde(rename = "size_bytes")]
    pub size: Bytes,
    /// The unit a peer requests. At least 1 byte and at most `size`.
    #[serde(rename = "piece_bytes")]
    pub piece: Bytes,
    /// `ceil(size / piece)`, at least 1 and at most [`MAX_PIECES`].
    pub pieces: u32,
    /// The last piece's size: `piece` when it divides `size`, what remains otherwise.
    #[serde(rename = "last_piece_bytes")]
    pub last_piece: Bytes,
}

impl FileSpec {
    /// The size of piece `index` (from 0), or None past the last one.
    pub fn piece_size(&self, index: u32) -> Option<Bytes> {
        match index.cmp(&(self.pieces - 1)) {
            std::cmp::Ordering::Less => Some(self.piece),
            std::cmp::Ordering::Equal => Some(self.last_piece),
            std::cmp::Ordering::Greater => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Network {
    /// One way, between any two peers and between a peer and the tracker. Zero is accepted here;
    /// an engine that shards by time windows of the minimum latency must refuse it itself.
    #[serde(rename = "latency_ns")]
    pub latency: Nanoseconds,
}

/// A class of peers that share their links' capacities and their role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerClass {
    /// Non-empty, printable, no commas or quotes, no space at either end: it goes into CSV files.
    pub name: String,
    /// At least 1.
    pub count: u32,
    /// May be 0 (a free rider), though not for every seed at once.
    #[serde(rename = "upload_bits_per_s")]
    pub upload: BitsPerSecond,
    /// At least 1 bit/s for a leecher; a seed never downloads, so its download may be 0.
    #[serde(rename = "download_bits_per_s")]
    pub download: BitsPerSecond,
    /// Holds the whole file from time 0.
    pub seed: bool,
    /// Never uploads: `free_rider = true` in the file (not for a seed), or an upload of 0.
    pub free_rider: bool,
    /// The class's first peer id; its peers are `first..first + count`.
    #[serde(serialize_with = "serialize_peer_id")]
    pub first: PeerId,
}

impl PeerClass {
    /// The ids of this class's peers, in order.
    pub fn ids(&self) -> impl Iterator<Item = PeerId> + use<> {
        (self.first.0..self.first.0 + self.count).map(PeerId)
    }

    pub fn contains(&self, peer: PeerId) -> bool {
        (self.first.0..self.first.0 + self.count).contains(&peer.0)
    }
}

fn serialize_peer_id<S: serde::Serializer>(peer: &PeerId, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u32(peer.0)
}

impl Swarm {
    /// The seed of every random choice.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The same swarm with another seed (the command line's `--seed` wins over the file's).
    pub fn with_seed(self, seed: u64) -> Swarm {
        Swarm { seed, ..self }
    }

    pub fn file(&self) -> &FileSpec {
        &self.file
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The classes in file order; their peer ids follow the same order.
    pub fn classes(&self) -> &[PeerClass] {
        &self.classes
    }

    /// Every peer, seeds included: peer ids are `1..=total_peers()`.
    pub fn total_peers(&self) -> u32 {
        self.total_peers
    }

    /// The peers that start without the file (N in Kumar and Ross's bound).
    pub fn leechers(&self) -> u32 {
        self.classes.iter().filter(|c| !c.seed).map(|c| c.count).sum()
    }

    /// The protocol the peers run, and its settings.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// The same swarm running another protocol (the command line's options win over the
    /// file's `[policy]`).
    pub fn with_protocol(self, protocol: Protocol) -> Swarm {
        Swarm { protocol, ..self }
    }

    /// Every peer id, in order.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + use<> {
        (1..=self.total_peers).map(PeerId)
    }

    /// The class a peer belongs to; None for the tracker (0) and past the last peer.
    pub fn class_of(&self, peer: PeerId) -> Option<&PeerClass> {
        // Classes are sorted by their first id, so the candidate is the last one starting at or
        // before `peer`.
        let after = self.classes.partition_point(|c| c.first <= peer);
        let class = self.classes.get(after.checked_sub(1)?)?;
        class.contains(peer).then_some(class)
    }
}

/// Where in the file: 1-based line, and 1-based column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("{file}: cannot read: {source}")]
    Unreadable { file: String, source: std::io::Error },
    /// `at` is None only when the TOML decoder gave no position, which it does not for text.
    #[error("{file}{}: {problem}", at.map(|a| format!(":{}:{}", a.line, a.column)).unwrap_or_default())]
    Bad { file: String, at: Option<Location>, problem: String },
}

impl SwarmError {
    pub fn file(&self) -> &str {
        match self {
            SwarmError::Unreadable { file, .. } | SwarmError::Bad { file, .. } => file,
        }
    }

    /// Where the problem is, when it is in the text.
    pub fn location(&self) -> Option<Location> {
        match self {
            SwarmError::Unreadable { .. } => None,
            SwarmError::Bad { at, .. } => *at,
        }
    }
}

/// Reads and validates the swarm file at `path`; errors name it as given.
pub fn load(path: &Path) -> Result<Swarm, SwarmError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SwarmError::Unreadable { file: origin.clone(), source })?;
    match String::from_utf8(bytes) {
        Ok(text) => parse(&text, &origin),
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let prefix = std::str::from_utf8(&error.as_bytes()[..valid]).unwrap_or_default();
            Err(SwarmError::Bad {
                file: origin,
                at: Some(locate(prefix, valid)),
                problem: "the file is not UTF-8 text".into(),
            })
        }
    }
}

/// Parses and validates a swarm file's text. `origin` only names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Swarm, SwarmError> {
    let bad = |span: Range<usize>, problem: String| SwarmError::Bad {
        file: origin.to_string(),
        at: Some(locate(text, span.start)),
        problem,
    };
    let raw: RawSwarm = toml::from_str(text).map_err(|error| SwarmError::Bad {
        file: origin.to_string(),
        at: error.span().map(|span| locate(text, span.start)),
        // One line per error: the decoder's messages are one line already, but make sure.
        problem: error.message().trim().replace('\n', "; "),
    })?;
    raw.validate(text).map_err(|Problem { span, text }| bad(span, text))
}

/// Line and column of byte `offset` in `text`, both 1-based, the column in characters.
fn locate(text: &str, offset: usize) -> Location {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
}

// The file as written, before validation. Each field that validation may complain about keeps
// its span, so that the complaint has a line and column.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwarm {
    seed: Option<Spanned<toml::Value>>,
    file: RawFile,
    network: RawNetwork,
    peers: Spanned<Vec<Spanned<RawClass>>>,
    policy: Option<Spanned<RawPolicy>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    size: Spanned<toml::Value>,
    piece: Spanned<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    latency: Spanned<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: Spanned<String>,
    count: Spanned<toml::Value>,
    upload: Spanned<toml::Value>,
    download: Spanned<toml::Value>,
    #[serde(default)]
    seed: bool,
    free_rider: Option<Spanned<toml::Value>>,
}

/// `[policy]`: every key optional. Values are read as `toml::Value`s so that a wrong type is
/// said in the file's words.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    protocol: Option<Spanned<toml::Value>>,
    pieces: Option<Spanned<toml::Value>>,
    random_first: Option<Spanned<toml::Value>>,
    endgame: Option<Spanned<toml::Value>>,
    choke: Option<Spanned<toml::Value>>,
    unchoke_slots: Option<Spanned<toml::Value>>,
    optimistic_slots: Option<Spanned<toml::Value>>,
    optimistic_rule: Option<Spanned<toml::Value>>,
    seed_choke: Option<Spanned<toml::Value>>,
    seed_quota: Option<Spanned<toml::Value>>,
    rechoke: Option<Spanned<toml::Value>>,
    optimistic: Option<Spanned<toml::Value>>,
    snub: Option<Spanned<toml::Value>>,
    requests_in_flight: Option<Spanned<toml::Value>>,
    block: Option<Spanned<toml::Value>>,
    peer_set: Option<Spanned<toml::Value>>,
    max_connections: Option<Spanned<toml::Value>>,
    min_connections: Option<Spanned<toml::Value>>,
    reannounce: Option<Spanned<toml::Value>>,
    overhead: Option<Spanned<toml::Value>>,
}

/// A validation failure: where, and what.
struct Problem {
    span: Range<usize>,
    text: String,
}

fn problem<T>(at: &Spanned<T>, text: String) -> Problem {
    Problem { span: at.span(), text }
}

/// A quantity field: a string with its unit. Anything else is refused with the fix in the
/// message (a bare number is the likely mistake: it has no unit to read).
fn quantity(value: &Spanned<toml::Value>, field: &str, kind: Kind) -> Result<u64, Problem> {
    let example = kind.example();
    match value.get_ref() {
        toml::Value::String(text) => {
            parse_quantity(text, kind).map_err(|e: UnitError| problem(value, e.in_field(field)))
        }
        toml::Value::Integer(n) => Err(problem(
            value,
            format!("{field} = {n} has no unit; write the number and its unit in quotes, like {field} = {example}"),
        )),
        other => Err(problem(
            value,
            format!("{field} must be a string with a number and its unit, like {example}, not {}", a_kind(other)),
        )),
    }
}

/// An integer field. Read from a `toml::Value` rather than an `i64` so that the message for a
/// string or a float says what to write instead of naming a Rust type.
fn integer(value: &Spanned<toml::Value>, field: &str, example: &str) -> Result<i64, Problem> {
    match value.get_ref() {
        toml::Value::Integer(n) => Ok(*n),
        other => Err(problem(
            value,
            format!("{field} must be a whole number, like {field} = {example}, not {}", a_kind(other)),
        )),
    }
}

/// "a string", "an integer": a value's TOML type, for messages.
fn a_kind(value: &toml::Value) -> String {
    let kind = value.type_str();
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {kind}")
}

/// A count that fits a u32: 0 or more.
fn count(value: &Spanned<toml::Value>, field: &str, example: &str) -> Result<u32, Problem> {
    let n = integer(value, field, example)?;
    if n < 0 {
        return Err(problem(value, format!("{field} must be 0 or more, not {n}")));
    }
    u32::try_from(n).map_err(|_| problem(value, format!("{field} = {n} is more than the most it may be, {}", u32::MAX)))
}

fn boolean(value: &Spanned<toml::Value>, field: &str) -> Result<bool, Problem> {
    match value.get_ref() {
        toml::Value::Boolean(on) => Ok(*on),
        other => Err(problem(value, format!("{field} must be true or false, not {}", a_kind(other)))),
    }
}

/// One of the names `table` knows.
fn named<T: Copy>(value: &Spanned<toml::Value>, field: &str, table: &[(&str, T)]) -> Result<T, Problem> {
    let given = match value.get_ref() {
        toml::Value::String(text) => {
            if let Some((_, known)) = table.iter().find(|(name, _)| name == text) {
                return Ok(*known);
            }
            format!("{text:?}")
        }
        other => a_kind(other),
    };
    Err(problem(value, format!("{field} must be one of {}, not {given}", names(table))))
}

/// A percentage in a string, in parts per million.
fn percent(value: &Spanned<toml::Value>, field: &str) -> Result<u32, Problem> {
    match value.get_ref() {
        toml::Value::String(text) => parse_percent(text).map_err(|e| problem(value, e.in_field(field))),
        number @ (toml::Value::Integer(_) | toml::Value::Float(_)) => Err(problem(
            value,
            format!("{field} = {number} has no %; write the percentage in quotes, like {field} = \"5%\""),
        )),
        other => {
            Err(problem(value, format!("{field} must be a percentage in a string, like \"5%\", not {}", a_kind(other))))
        }
    }
}

impl RawSwarm {
    /// `text` is the file, for the one message that names a second place in it.
    fn validate(self, text: &str) -> Result<Swarm, Problem> {
        let seed = match &self.seed {
            None => DEFAULT_SEED,
            Some(seed) => {
                let n = integer(seed, "seed", "7")?;
                u64::try_from(n).map_err(|_| problem(seed, format!("seed must be 0 or more, not {n}")))?
            }
        };
        let file = self.file.validate()?;
        let latency = Nanoseconds(quantity(&self.network.latency, "latency", Kind::Duration)?);

        let mut classes: Vec<PeerClass> = Vec::with_capacity(self.peers.get_ref().len());
        let mut first_at: HashMap<String, usize> = HashMap::new();
        // The peers of the classes so far, never above MAX_PEERS.
        let mut total: u32 = 0;
        for raw in self.peers.get_ref() {
            let raw_class = raw.get_ref();
            let name = raw_class.name.get_ref();
            check_name(name).map_err(|text| problem(&raw_class.name, text))?;
            if let Some(first) = first_at.get(name.as_str()) {
                return Err(problem(
                    &raw_class.name,
                    format!("class name {name:?} is used twice: it was first given on line {first}"),
                ));
            }

            let count = integer(&raw_class.count, "count", "100")?;
            if count < 1 {
                return Err(problem(&raw_class.count, format!("count must be at least 1, not {count}")));
            }
            // Checked before anything is sized by it; u64 holds any count plus the total.
            let after = u64::try_from(count)
                .ok()
                .and_then(|count| count.checked_add(u64::from(total)))
                .and_then(|sum| u32::try_from(sum).ok())
                .filter(|&sum| sum <= MAX_PEERS);
            let Some(after) = after else {
                return Err(problem(
                    &raw_class.count,
                    format!(
                        "count {count} makes the swarm larger than {MAX_PEERS} peers, the most a swarm may have \
                         (every peer costs memory)"
                    ),
                ));
            };
            let first = PeerId(total + 1);
            let count = after - total;
            total = after;

            let upload = BitsPerSecond(quantity(&raw_class.upload, "upload", Kind::Rate)?);
            let download = BitsPerSecond(quantity(&raw_class.download, "download", Kind::Rate)?);
            if download.0 == 0 && !raw_class.seed {
                return Err(problem(
                    &raw_class.download,
                    format!("download is {download} for class {name:?}: a leecher that cannot download never finishes"),
                ));
            }
            let free_rider = match &raw_class.free_rider {
                None => false,
                Some(value) => {
                    let free_rider = boolean(value, "free_rider")?;
                    if free_rider && raw_class.seed {
                        return Err(problem(
                            value,
                            format!(
                                "class {name:?} has seed = true and free_rider = true: a seed is there to upload the \
                                 file, so a free rider can only be a leecher"
                            ),
                        ));
                    }
                    free_rider
                }
            };
            first_at.insert(name.clone(), locate(text, raw_class.name.span().start).line);
            classes.push(PeerClass {
                name: name.clone(),
                count,
                upload,
                download,
                seed: raw_class.seed,
                free_rider: free_rider || upload.0 == 0,
                first,
            });
        }

        let Some(first_class) = self.peers.get_ref().first() else {
            return Err(problem(&self.peers, "there are no peers: give at least one [[peers]] class".into()));
        };
        if !classes.iter().any(|c| c.seed) {
            return Err(problem(
                first_class,
                "no class is a seed: at least one [[peers]] class needs seed = true, \
                 or no one holds the file to start with"
                    .into(),
            ));
        }
        // A leecher can only get the file through a seed (everyone else starts with nothing),
        // so seeds that all upload nothing leave every leecher waiting forever. This covers a
        // swarm where every upload is zero, and also one whose leechers upload but seeds don't.
        let leechers_exist = classes.iter().any(|c| !c.seed);
        let seeds_upload = classes.iter().any(|c| c.seed && c.upload.0 > 0);
        if leechers_exist && !seeds_upload {
            let (index, _) = classes.iter().enumerate().find(|(_, c)| c.seed).expect("a seed class, checked above");
            return Err(problem(
                &self.peers.get_ref()[index].get_ref().upload,
                "every seed uploads at 0 bit/s, so no leecher can ever get the file".into(),
            ));
        }

        let protocol = match &self.policy {
            None => Protocol::default(),
            Some(policy) => policy.get_ref().validate(policy.span(), file.piece)?,
        };
        Ok(Swarm { seed, file, network: Network { latency }, classes, total_peers: total, protocol })
    }
}

impl RawPolicy {
    /// The protocol, for a file of pieces of `piece`; `table` is where `[policy]` is, for a
    /// problem no one key is at.
    fn validate(&self, table: Range<usize>, piece: Bytes) -> Result<Protocol, Problem> {
        let kind = match &self.protocol {
            None => ProtocolKind::BitTorrent,
            Some(value) => named(value, "protocol", PROTOCOLS)?,
        };
        let given = self.given();
        if kind == ProtocolKind::Course {
            return match given.first() {
                None => Ok(Protocol::Course),
                Some((key, value)) => Err(problem(
                    value,
                    format!(
                        "{key} applies only to protocol = \"bittorrent\", and this [policy] has protocol = \"course\" \
                         (the course's protocol has no settings)"
                    ),
                )),
            };
        }
        let settings = given
            .into_iter()
            .map(|(key, value)| Ok((value.span(), setting(key, value)?)))
            .collect::<Result<Vec<_>, _>>()?;
        resolve_policy(&Policy::default(), &settings, piece)
            .map(Protocol::BitTorrent)
            .map_err(|(at, text)| Problem { span: at.unwrap_or(table), text })
    }

    /// The settings the file gives, each with its key, in the file's order.
    fn given(&self) -> Vec<(&'static str, &Spanned<toml::Value>)> {
        let keys = [
            ("pieces", &self.pieces),
            ("random_first", &self.random_first),
            ("endgame", &self.endgame),
            ("choke", &self.choke),
            ("unchoke_slots", &self.unchoke_slots),
            ("optimistic_slots", &self.optimistic_slots),
            ("optimistic_rule", &self.optimistic_rule),
            ("seed_choke", &self.seed_choke),
            ("seed_quota", &self.seed_quota),
            ("rechoke", &self.rechoke),
            ("optimistic", &self.optimistic),
            ("snub", &self.snub),
            ("requests_in_flight", &self.requests_in_flight),
            ("block", &self.block),
            ("peer_set", &self.peer_set),
            ("max_connections", &self.max_connections),
            ("min_connections", &self.min_connections),
            ("reannounce", &self.reannounce),
            ("overhead", &self.overhead),
        ];
        let mut given: Vec<_> = keys.into_iter().filter_map(|(key, value)| Some((key, value.as_ref()?))).collect();
        given.sort_by_key(|(_, value)| value.span().start);
        given
    }
}

/// The setting of `key` (one of [`POLICY_KEYS`]) as the file writes it.
fn setting(key: &str, value: &Spanned<toml::Value>) -> Result<Setting, Problem> {
    Ok(match key {
        "pieces" => Setting::Pieces(named(value, key, PIECE_ORDERS)?),
        "random_first" => Setting::RandomFirst(count(value, key, "4")?),
        "endgame" => Setting::Endgame(boolean(value, key)?),
        "choke" => Setting::Choke(named(value, key, CHOKES)?),
        "unchoke_slots" => Setting::UnchokeSlots(count(value, key, "3")?),
        "optimistic_slots" => Setting::OptimisticSlots(count(value, key, "1")?),
        "optimistic_rule" => Setting::OptimisticRule(named(value, key, OPTIMISTIC_RULES)?),
        "seed_choke" => Setting::SeedChoke(named(value, key, SEED_CHOKES)?),
        "seed_quota" => Setting::SeedQuota(count(value, key, "20")?),
        "rechoke" => Setting::Rechoke(quantity(value, key, Kind::Duration)?),
        "optimistic" => Setting::Optimistic(quantity(value, key, Kind::Duration)?),
        "snub" => Setting::Snub(quantity(value, key, Kind::Duration)?),
        "requests_in_flight" => Setting::RequestsInFlight(count(value, key, "5")?),
        "block" => Setting::Block(quantity(value, key, Kind::Size)?),
        "peer_set" => Setting::PeerSet(count(value, key, "50")?),
        "max_connections" => Setting::MaxConnections(count(value, key, "80")?),
        "min_connections" => Setting::MinConnections(count(value, key, "20")?),
        "reannounce" => Setting::Reannounce(quantity(value, key, Kind::Duration)?),
        "overhead" => Setting::Overhead(percent(value, key)?),
        _ => unreachable!("{key} is not a key of [policy]"),
    })
}

impl RawFile {
    fn validate(self) -> Result<FileSpec, Problem> {
        let size = Bytes(quantity(&self.size, "size", Kind::Size)?);
        if size.0 == 0 {
            return Err(problem(&self.size, "size is 0 B: a file has at least one byte".into()));
        }
        let piece = Bytes(quantity(&self.piece, "piece", Kind::Size)?);
        if piece.0 == 0 {
            return Err(problem(&self.piece, "piece is 0 B: a piece has at least one byte".into()));
        }
        if piece > size {
            return Err(problem(&self.piece, format!("piece is {piece}, larger than the file ({size})")));
        }
        let pieces = size.0.div_ceil(piece.0);
        let Some(pieces) = u32::try_from(pieces).ok().filter(|&p| p <= MAX_PIECES) else {
            return Err(problem(
                &self.piece,
                format!(
                    "pieces of {piece} cut the file ({size}) into {pieces} pieces, more than the {MAX_PIECES} a file \
                     may have (each peer keeps a bit per piece): use larger pieces"
                ),
            ));
        };
        let last_piece = Bytes(size.0 - (u64::from(pieces) - 1) * piece.0);
        Ok(FileSpec { size, piece, pieces, last_piece })
    }
}

/// A class name goes into CSV headers and cells, so it must not need quoting there.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a class name cannot be empty".into());
    }
    if name.chars().any(char::is_control) {
        return Err(format!("class name {name:?} has a control character"));
    }
    if name.contains([',', '"', '\'']) {
        return Err(format!(
            "class name {name:?} has a comma or a quote; it goes into CSV files, which would need quoting"
        ));
    }
    if name.trim() != name {
        return Err(format!("class name {name:?} starts or ends with a space"));
    }
    Ok(())
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// The example of the module's doc comment, one key per line so that positions are easy to
    /// read off: line 10 is the seed's upload, line 16 the leechers'.
    const EXAMPLE: &str = r#"seed = 7
[file]
size = "100 MiB"
piece = "256 KiB"
[network]
latency = "50 ms"
[[peers]]
name = "seed"
count = 1
upload = "10 Mbit/s"
download = "100 Mbit/s"
seed = true
[[peers]]
name = "leecher"
count = 1000
upload = "1 Mbit/s"
download = "4 Mbit/s"
"#;

    /// EXAMPLE with one piece of text replaced (which must be there, so a test cannot go stale
    /// by replacing nothing and then failing for some other reason, or passing).
    fn example_with(old: &str, new: &str) -> String {
        assert_eq!(EXAMPLE.matches(old).count(), 1, "{old:?} must occur once in EXAMPLE");
        EXAMPLE.replace(old, new)
    }

    /// The error's line, column and whole message; the message must start with the place.
    fn refused(text: &str) -> (usize, usize, String) {
        let error = parse(text, "swarm.toml").expect_err("the file must be refused");
        let at = error.location().expect("a position");
        let message = error.to_string();
        assert!(message.starts_with(&format!("swarm.toml:{}:{}: ", at.line, at.column)), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
        (at.line, at.column, message)
    }

    #[test]
    fn the_example_parses_to_plain_integers() {
        let swarm = parse(EXAMPLE, "swarm.toml").unwrap();
        assert_eq!(swarm.seed(), 7);
        assert_eq!(
            *swarm.file(),
            FileSpec { size: Bytes(104_857_600), piece: Bytes(262_144), pieces: 400, last_piece: Bytes(262_144) }
        );
        assert_eq!(swarm.network().latency, Nanoseconds(50_000_000));
        assert_eq!(
            swarm.classes(),
            [
                PeerClass {
                    name: "seed".into(),
                    count: 1,
                    upload: BitsPerSecond(10_000_000),
                    download: BitsPerSecond(100_000_000),
                    seed: true,
                    free_rider: false,
                    first: PeerId(1),
                },
                PeerClass {
                    name: "leecher".into(),
                    count: 1000,
                    upload: BitsPerSecond(1_000_000),
                    download: BitsPerSecond(4_000_000),
                    seed: false,
                    free_rider: false,
                    first: PeerId(2),
                },
            ]
        );
        assert_eq!(swarm.total_peers(), 1001);
        assert_eq!(swarm.leechers(), 1000);
    }

    #[test]
    fn peer_ids_follow_class_order_from_one() {
        let swarm = parse(EXAMPLE, "swarm.toml").unwrap();
        let ids: Vec<PeerId> = swarm.peers().collect();
        assert_eq!((ids.len(), ids[0], ids[1000]), (1001, PeerId(1), PeerId(1001)));
        let by_class: Vec<PeerId> = swarm.classes().iter().flat_map(|c| c.ids()).collect();
        assert_eq!(by_class, ids);
        assert_eq!(swarm.class_of(PeerId::TRACKER), None);
        assert_eq!(swarm.class_of(PeerId(1)).map(|c| c.name.as_str()), Some("seed"));
        assert_eq!(swarm.class_of(PeerId(2)).map(|c| c.name.as_str()), Some("leecher"));
        assert_eq!(swarm.class_of(PeerId(1001)).map(|c| c.name.as_str()), Some("leecher"));
        assert_eq!(swarm.class_of(PeerId(1002)), None);
    }

    #[test]
    fn seed_defaults_to_one_and_can_be_overridden() {
        let swarm = parse(&example_with("seed = 7\n", ""), "swarm.toml").unwrap();
        assert_eq!(swarm.seed(), DEFAULT_SEED);
        assert_eq!(swarm.with_seed(99).seed(), 99);
        let (line, column, message) = refused(&example_with("seed = 7", "seed = -7"));
        assert_eq!((line, column), (1, 8));
        assert!(message.ends_with("seed must be 0 or more, not -7"), "{message}");
        let (_, _, message) = refused(&example_with("seed = 7", "seed = \"7\""));
        assert!(message.ends_with("seed must be a whole number, like seed = 7, not a string"), "{message}");
    }

    #[test]
    fn the_last_piece_may_be_shorter() {
        let text = example_with("size = \"100 MiB\"", "size = \"1000 B\"").replace("256 KiB", "300 B");
        let file = *parse(&text, "s").unwrap().file();
        assert_eq!((file.pieces, file.piece, file.last_piece), (4, Bytes(300), Bytes(100)));
        assert_eq!(file.piece_size(0), Some(Bytes(300)));
        assert_eq!(file.piece_size(3), Some(Bytes(100)));
        assert_eq!(file.piece_size(4), None);
        // A piece as large as the file: one piece.
        let text = example_with("piece = \"256 KiB\"", "piece = \"100 MiB\"");
        let file = *parse(&text, "s").unwrap().file();
        assert_eq!((file.pieces, file.last_piece), (1, Bytes(104_857_600)));
        assert_eq!(file.piece_size(0), Some(Bytes(104_857_600)));
    }

    #[test]
    fn an_unknown_unit_is_placed_and_lists_the_units() {
        let text = "[file]\nsize = \"1 MiB\"\npiece = \"1 KiB\"\n[network]\nlatency = \"1 ms\"\n[[peers]]\n\
                    upload = \"1 Mbps\"\nname = \"s\"\ncount = 1\ndownload = \"1 Mbit/s\"\nseed = true\n";
        let (_, _, message) = refused(text);
        assert!(
            message.starts_with(
                "swarm.toml:7:10: unknown unit \"Mbps\" in upload; use one of: bit/s, kbit/s, Mbit/s, Gbit/s, B/s, \
                 kB/s, KiB/s, MB/s, MiB/s"
            ),
            "{message}"
        );
        let (line, column, message) = refused(&example_with("\"50 ms\"", "\"50 msec\""));
        assert_eq!((line, column), (6, 11));
        assert!(message.contains("unknown unit \"msec\" in latency; use one of: ns, us"), "{message}");
    }

    #[test]
    fn a_quantity_must_be_a_string_with_a_unit() {
        let (line, column, message) = refused(&example_with("size = \"100 MiB\"", "size = 104857600"));
        assert_eq!((line, column), (3, 8));
        assert!(
            message.ends_with(
                "size = 104857600 has no unit; write the number and its unit in quotes, like size = \"100 MiB\""
            ),
            "{message}"
        );
        let (line, column, message) = refused(&example_with("upload = \"1 Mbit/s\"", "upload = 1.5"));
        assert_eq!((line, column), (16, 10));
        assert!(
            message.ends_with("upload must be a string with a number and its unit, like \"10 Mbit/s\", not a float"),
            "{message}"
        );
        let (line, column, message) = refused(&example_with("\"4 Mbit/s\"", "\"4.0000001 Mbit/s\""));
        assert_eq!((line, column), (17, 12));
        assert!(
            message.ends_with("\"4.0000001 Mbit/s\" in download is not a whole number of bits per second"),
            "{message}"
        );
        let (line, column, message) = refused(&example_with("\"256 KiB\"", "\"-256 KiB\""));
        assert_eq!((line, column), (4, 9));
        assert!(message.ends_with("\"-256 KiB\" in piece is negative; a size is 0 or more"), "{message}");
    }

    #[test]
    fn text_that_is_not_toml_is_placed() {
        let (line, column, message) = refused(&example_with("count = 1000", "count = "));
        assert_eq!(line, 15);
        assert!(column >= 8, "{message}");
        let (line, _, _) = refused(&example_with("[network]", "[network"));
        assert_eq!(line, 5);
        let (line, column, message) = refused(&format!("{EXAMPLE}[file]\n"));
        assert_eq!((line, column), (18, 2));
        assert!(message.contains("duplicate key"), "{message}");
    }

    #[test]
    fn unknown_keys_are_refused_where_they_are() {
        let (line, column, message) = refused(&example_with("upload = \"1 Mbit/s\"", "uplaod = \"1 Mbit/s\""));
        assert_eq!((line, column), (16, 1));
        assert!(message.contains("unknown field `uplaod`"), "{message}");
        let (line, column, message) = refused(&example_with("[network]\n", "[network]\njitter = \"1 ms\"\n"));
        assert_eq!((line, column), (6, 1));
        assert!(message.contains("unknown field `jitter`"), "{message}");
        let (line, column, message) = refused(&format!("rounds = 3\n{EXAMPLE}"));
        assert_eq!((line, column), (1, 1));
        assert!(message.contains("unknown field `rounds`"), "{message}");
        let (line, _, message) =
            refused(&example_with("piece = \"256 KiB\"\n", "piece = \"256 KiB\"\nblock = \"16 KiB\"\n"));
        assert_eq!(line, 5);
        assert!(message.contains("unknown field `block`"), "{message}");
    }

    #[test]
    fn missing_fields_are_refused() {
        let (line, column, message) = refused(&example_with("count = 1000\n", ""));
        assert_eq!((line, column), (13, 1), "the class's header");
        assert!(message.ends_with("missing field `count`"), "{message}");
        let (line, _, message) = refused(&example_with("piece = \"256 KiB\"\n", ""));
        assert_eq!(line, 2);
        assert!(message.ends_with("missing field `piece`"), "{message}");
        let (_, _, message) = refused(&example_with("[network]\nlatency = \"50 ms\"\n", ""));
        assert!(message.ends_with("missing field `network`"), "{message}");
        let (line, column, message) = refused("");
        assert_eq!((line, column), (1, 1));
        assert!(message.ends_with("missing field `file`"), "{message}");
    }

    #[test]
    fn zero_is_refused_where_it_makes_no_sense() {
        let (line, column, message) = refused(&example_with("\"100 MiB\"", "\"0 MiB\""));
        assert_eq!((line, column), (3, 8));
        assert!(message.ends_with("size is 0 B: a file has at least one byte"), "{message}");
        let (line, column, message) = refused(&example_with("\"256 KiB\"", "\"0 B\""));
        assert_eq!((line, column), (4, 9));
        assert!(message.ends_with("piece is 0 B: a piece has at least one byte"), "{message}");
        let (line, column, message) = refused(&example_with("\"4 Mbit/s\"", "\"0 Mbit/s\""));
        assert_eq!((line, column), (17, 12));
        assert!(
            message
                .ends_with("download is 0 bit/s for class \"leecher\": a leecher that cannot download never finishes"),
            "{message}"
        );
        let (line, column, message) = refused(&example_with("count = 1000", "count = 0"));
        assert_eq!((line, column), (15, 9));
        assert!(message.ends_with("count must be at least 1, not 0"), "{message}");
        let (_, _, message) = refused(&example_with("count = 1000", "count = -4"));
        assert!(message.ends_with("count must be at least 1, not -4"), "{message}");
        let (line, column, message) = refused(&example_with("count = 1000", "count = \"1000\""));
        assert_eq!((line, column), (15, 9));
        assert!(message.ends_with("count must be a whole number, like count = 100, not a string"), "{message}");
        let (_, _, message) = refused(&example_with("count = 1000", "count = 10.5"));
        assert!(message.ends_with("count must be a whole number, like count = 100, not a float"), "{message}");
    }

    #[test]
    fn zero_is_accepted_where_it_makes_sense() {
        // A free rider uploads nothing; a seed never downloads; a zero latency is the engine's
        // to refuse if it needs one.
        let text = example_with("\"1 Mbit/s\"", "\"0 bit/s\"")
            .replace("\"100 Mbit/s\"", "\"0 bit/s\"")
            .replace("\"50 ms\"", "\"0 s\"");
        let swarm = parse(&text, "s").unwrap();
        assert_eq!(swarm.classes()[1].upload, BitsPerSecond(0));
        assert_eq!(swarm.classes()[0].download, BitsPerSecond(0));
        assert_eq!(swarm.network().latency, Nanoseconds(0));
    }

    #[test]
    fn seeds_that_upload_nothing_are_refused() {
        let text = example_with("\"10 Mbit/s\"", "\"0 bit/s\"");
        let (line, column, message) = refused(&text);
        assert_eq!((line, column), (10, 10));
        assert!(message.ends_with("every seed uploads at 0 bit/s, so no leecher can ever get the file"), "{message}");
        // Every upload zero: the same refusal.
        let (line, _, _) = refused(&text.replace("\"1 Mbit/s\"", "\"0 bit/s\""));
        assert_eq!(line, 10);
        // One seed class of two uploading is enough.
        let two_seeds = format!(
            "{EXAMPLE}[[peers]]\nname = \"seed2\"\ncount = 1\nupload = \"0 bit/s\"\ndownload = \"1 Mbit/s\"\nseed = true\n"
        );
        assert!(parse(&two_seeds, "s").is_ok());
        // Seeds only: nothing to deliver, so nothing to refuse.
        let only_seed = example_with("\"10 Mbit/s\"", "\"0 bit/s\"")
            .replace("download = \"4 Mbit/s\"\n", "download = \"4 Mbit/s\"\nseed = true\n");
        assert_eq!(parse(&only_seed, "s").unwrap().leechers(), 0);
    }

    #[test]
    fn counts_beyond_the_ceiling_are_refused_before_allocating() {
        let (line, column, message) = refused(&example_with("count = 1000", &format!("count = {}", MAX_PEERS)));
        assert_eq!((line, column), (15, 9), "the seed's 1 plus this is one too many");
        assert!(
            message.contains(&format!("count {MAX_PEERS} makes the swarm larger than {MAX_PEERS} peers")),
            "{message}"
        );
        let just_fits = example_with("count = 1000", &format!("count = {}", MAX_PEERS - 1));
        assert_eq!(parse(&just_fits, "s").unwrap().total_peers(), MAX_PEERS);
        let (_, _, message) = refused(&example_with("count = 1000", &format!("count = {}", i64::MAX)));
        assert!(message.contains("makes the swarm larger than"), "{message}");
    }

    #[test]
    fn pieces_must_fit_the_file_and_the_memory() {
        let (line, column, message) = refused(&example_with("\"256 KiB\"", "\"101 MiB\""));
        assert_eq!((line, column), (4, 9));
        assert!(message.ends_with("piece is 101 MiB, larger than the file (100 MiB)"), "{message}");
        let (line, _, message) = refused(&example_with("\"256 KiB\"", "\"64 B\""));
        assert_eq!(line, 4);
        assert!(message.contains("into 1638400 pieces, more than the 1048576"), "{message}");
        let exactly_max = example_with("\"256 KiB\"", "\"100 B\"").replace("\"100 MiB\"", "\"104857600 B\"");
        assert_eq!(parse(&exactly_max, "s").unwrap().file().pieces, MAX_PIECES);
    }

    #[test]
    fn a_swarm_needs_a_seed_and_a_class() {
        let (line, column, message) = refused(&example_with("seed = true\n", ""));
        assert_eq!((line, column), (7, 1), "the first class");
        assert!(message.contains("no class is a seed"), "{message}");
        let text = "peers = []\n[file]\nsize = \"1 MiB\"\npiece = \"1 KiB\"\n[network]\nlatency = \"1 ms\"\n";
        let (line, column, message) = refused(text);
        assert_eq!((line, column), (1, 9));
        assert!(message.contains("there are no peers"), "{message}");
    }

    #[test]
    fn class_names_are_unique_and_fit_a_csv() {
        let (line, column, message) = refused(&example_with("name = \"leecher\"", "name = \"seed\""));
        assert_eq!((line, column), (14, 8));
        assert!(message.ends_with("class name \"seed\" is used twice: it was first given on line 8"), "{message}");
        for (name, words) in [
            ("", "cannot be empty"),
            ("a,b", "has a comma or a quote"),
            ("a\\\"b", "has a comma or a quote"),
            ("it's", "has a comma or a quote"),
            ("a\\tb", "has a control character"),
            (" a", "starts or ends with a space"),
        ] {
            let (line, column, message) = refused(&example_with("name = \"leecher\"", &format!("name = \"{name}\"")));
            assert_eq!((line, column), (14, 8), "{name}");
            assert!(message.contains(words), "{name}: {message}");
        }
        assert!(parse(&example_with("\"leecher\"", "\"fast leecher (4 Mbit/s)\""), "s").is_ok());
    }

    #[test]
    fn columns_count_characters_and_lines_survive_crlf() {
        // A multi-byte character before the error on its line (an inline table keeps them on one).
        let text = "peers = [{ name = \"été\", count = 0, upload = \"1 Mbit/s\", download = \"1 Mbit/s\", seed = true }]\n\
                    [file]\nsize = \"1 MiB\"\npiece = \"1 KiB\"\n[network]\nlatency = \"1 ms\"\n";
        let (line, column, _) = refused(text);
        assert_eq!((line, column), (1, 34), "é is one column, not two bytes (36)");
        let (line, column, message) = refused(&example_with("count = 1000", "count = 0").replace('\n', "\r\n"));
        assert_eq!((line, column), (15, 9), "{message}");
        assert_eq!(locate("ab\ncd", 0), Location { line: 1, column: 1 });
        assert_eq!(locate("ab\ncd", 3), Location { line: 2, column: 1 });
        assert_eq!(locate("ab\ncd", 5), Location { line: 2, column: 3 });
        assert_eq!(locate("é", 1), Location { line: 1, column: 1 }, "inside a character: its start");
    }

    #[test]
    fn load_names_the_file_it_could_not_read() {
        let dir = std::env::temp_dir().join(format!("bitorrent-swarm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.toml");
        let error = load(&missing).unwrap_err();
        assert!(matches!(error, SwarmError::Unreadable { .. }));
        assert!(error.to_string().starts_with(&format!("{}: cannot read: ", missing.display())), "{error}");
        let latin1 = dir.join("latin1.toml");
        std::fs::write(&latin1, b"seed = 1\n# caf\xe9\n").unwrap();
        let error = load(&latin1).unwrap_err();
        assert_eq!(error.to_string(), format!("{}:2:6: the file is not UTF-8 text", latin1.display()));
        assert_eq!(error.file(), latin1.display().to_string());
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, example_with("count = 1000", "count = 0")).unwrap();
        let error = load(&bad).unwrap_err();
        assert!(error.to_string().starts_with(&format!("{}:15:9: count must be", bad.display())), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_flash_crowd_input_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inputs/swarms/flash-crowd.toml");
        let swarm = load(&path).unwrap();
        let example = parse(EXAMPLE, "swarm.toml").unwrap();
        assert_eq!(swarm, example, "the input file is the documented example");
    }

    #[test]
    fn serializes_with_units_in_the_keys() {
        let swarm = parse(EXAMPLE, "swarm.toml").unwrap();
        let value = toml::Value::try_from(&swarm).unwrap();
        let file = &value["file"];
        assert_eq!(file["size_bytes"].as_integer(), Some(104_857_600));
        assert_eq!(file["piece_bytes"].as_integer(), Some(262_144));
        assert_eq!(file["pieces"].as_integer(), Some(400));
        assert_eq!(value["network"]["latency_ns"].as_integer(), Some(50_000_000));
        let leecher = &value["classes"][1];
        assert_eq!(leecher["upload_bits_per_s"].as_integer(), Some(1_000_000));
        assert_eq!(leecher["download_bits_per_s"].as_integer(), Some(4_000_000));
        assert_eq!(leecher["first"].as_integer(), Some(2));
        assert_eq!(value["total_peers"].as_integer(), Some(1001));
        assert_eq!(value["seed"].as_integer(), Some(7));
    }

    /// EXAMPLE with a `[policy]` table after it: the header is line 18, `table`'s first line 19.
    fn with_policy(table: &str) -> String {
        format!("{EXAMPLE}[policy]\n{table}")
    }

    #[test]
    fn without_a_policy_the_swarm_runs_bittorrent_at_its_defaults() {
        let default = Protocol::BitTorrent(Policy::default());
        assert_eq!(parse(EXAMPLE, "s").unwrap().protocol(), &default);
        assert_eq!(Protocol::default(), default);
        assert_eq!(parse(&with_policy(""), "s").unwrap().protocol(), &default, "an empty table");
        assert_eq!(parse(&with_policy("protocol = \"bittorrent\"\n"), "s").unwrap().protocol(), &default);
        let course = parse(&with_policy("protocol = \"course\"\n"), "s").unwrap();
        assert_eq!(course.protocol(), &Protocol::Course);
        assert_eq!(course.protocol().policy(), None);
        assert_eq!(course.protocol().kind(), ProtocolKind::Course);
        let swarm = parse(EXAMPLE, "s").unwrap().with_protocol(Protocol::Course);
        assert_eq!(swarm.protocol(), &Protocol::Course);
        // An inline table is a table too.
        let inline = format!("policy = {{ protocol = \"course\" }}\n{EXAMPLE}");
        assert_eq!(parse(&inline, "s").unwrap().protocol(), &Protocol::Course);
    }

    /// `policy` as a `[policy]` table's keys, every one of them, from the units' and names' own
    /// printed forms.
    fn table_of(policy: &Policy) -> String {
        let time = |ns| format!("\"{}\"", Nanoseconds(ns));
        let lines = [
            ("pieces", format!("{:?}", name_of(PIECE_ORDERS, &policy.pieces))),
            ("random_first", policy.random_first.to_string()),
            ("endgame", policy.endgame.to_string()),
            ("choke", format!("{:?}", name_of(CHOKES, &policy.choke))),
            ("unchoke_slots", policy.unchoke_slots.to_string()),
            ("optimistic_slots", policy.optimistic_slots.to_string()),
            ("optimistic_rule", format!("{:?}", name_of(OPTIMISTIC_RULES, &policy.optimistic_rule))),
            ("seed_choke", format!("{:?}", name_of(SEED_CHOKES, &policy.seed_choke))),
            ("seed_quota", policy.seed_quota.to_string()),
            ("rechoke", time(policy.rechoke)),
            ("optimistic", time(policy.optimistic)),
            ("snub", time(policy.snub)),
            ("requests_in_flight", policy.requests_in_flight.to_string()),
            ("block", format!("\"{}\"", Bytes(u64::from(policy.block)))),
            ("peer_set", policy.peer_set.to_string()),
            ("max_connections", policy.max_connections.to_string()),
            ("min_connections", policy.min_connections.to_string()),
            ("reannounce", time(policy.reannounce)),
            ("overhead", format!("\"{}\"", PartsPerMillion(policy.overhead_ppm))),
        ];
        let keys: Vec<&str> = lines.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, POLICY_KEYS, "every key, in order");
        for (key, value) in &lines {
            let setting = Setting::of(policy, key).unwrap();
            assert_eq!(setting.key(), *key);
            assert_eq!(&setting.to_string(), value.trim_matches('"'), "Display writes what the file would");
        }
        lines.iter().map(|(key, value)| format!("{key} = {value}\n")).collect()
    }

    #[test]
    fn a_full_policy_table_round_trips() {
        let table = "protocol = \"bittorrent\"\npieces = \"in-order\"\nrandom_first = 0\nendgame = false\n\
                     choke = \"none\"\nunchoke_slots = 7\noptimistic_slots = 2\noptimistic_rule = \"random\"\n\
                     seed_choke = \"libtorrent\"\nseed_quota = 5\nrechoke = \"5 s\"\noptimistic = \"15 s\"\nsnub = \"2 min\"\nrequests_in_flight = 16\n\
                     block = \"32 KiB\"\npeer_set = 200\nmax_connections = 55\nmin_connections = 10\n\
                     reannounce = \"1 h\"\noverhead = \"2.5%\"\n";
        let expected = Policy {
            pieces: PieceOrder::InOrder,
            random_first: 0,
            endgame: false,
            choke: Choke::None,
            unchoke_slots: 7,
            optimistic_slots: 2,
            optimistic_rule: Optimistic::Random,
            seed_choke: SeedChoke::Libtorrent,
            seed_quota: 5,
            rechoke: 5_000_000_000,
            optimistic: 15_000_000_000,
            snub: 120_000_000_000,
            requests_in_flight: 16,
            block: 32 * 1024,
            peer_set: 200,
            max_connections: 55,
            min_connections: 10,
            reannounce: 3_600_000_000_000,
            overhead_ppm: 25_000,
            ..Policy::default()
        };
        let swarm = parse(&with_policy(table), "s").unwrap();
        assert_eq!(swarm.protocol().policy(), Some(&expected));
        // Printed back as a table, it reads the same: defaults, and the table above.
        for policy in [Policy::default(), expected] {
            let again = parse(&with_policy(&table_of(&policy)), "s").unwrap();
            assert_eq!(again.protocol(), &Protocol::BitTorrent(policy));
        }
        // Other spellings of the same values.
        let other =
            parse(&with_policy("overhead = \"0 %\"\nblock = \"16384 B\"\nrechoke = \"10000 ms\"\n"), "s").unwrap();
        let policy = other.protocol().policy().unwrap();
        assert_eq!((policy.overhead_ppm, policy.block, policy.rechoke), (0, 16_384, 10_000_000_000));
    }

    #[test]
    fn the_names_are_the_serialized_ones() {
        for (name, value) in PIECE_ORDERS {
            assert_eq!(serde_json::to_value(value).unwrap(), *name);
        }
        for (name, value) in CHOKES {
            assert_eq!(serde_json::to_value(value).unwrap(), *name);
        }
        for (name, value) in OPTIMISTIC_RULES {
            assert_eq!(serde_json::to_value(value).unwrap(), *name);
        }
        for (name, value) in SEED_CHOKES {
            assert_eq!(serde_json::to_value(value).unwrap(), *name);
        }
        for (name, kind) in PROTOCOLS {
            let protocol = match kind {
                ProtocolKind::BitTorrent => Protocol::default(),
                ProtocolKind::Course => Protocol::Course,
            };
            assert_eq!(protocol.kind(), *kind);
            assert_eq!(serde_json::to_value(&protocol).unwrap()["name"], *name);
        }
        assert_eq!(name_of(CHOKES, &Choke::TitForTat), "tit-for-tat");
    }

    #[test]
    fn the_protocol_serializes_with_its_name_and_settings() {
        assert_eq!(serde_json::to_value(Protocol::Course).unwrap(), serde_json::json!({"name": "course"}));
        let value = serde_json::to_value(Protocol::default()).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 1 + 20, "the name and every setting: {keys:?}");
        assert_eq!(value["name"], "bittorrent");
        assert_eq!(value["pieces"], "rarest-first");
        assert_eq!(value["optimistic_rule"], "longest-waiting");
        assert_eq!(value["seed_choke"], "mainline");
        assert_eq!(value["seed_quota"], 20);
        assert_eq!(value["rechoke_ns"], 10_000_000_000_u64);
        assert_eq!(value["block_bytes"], 16_384);
        assert_eq!(value["overhead_ppm"], 50_000);
        let swarm = toml::Value::try_from(parse(EXAMPLE, "s").unwrap()).unwrap();
        assert_eq!(swarm["protocol"]["name"].as_str(), Some("bittorrent"));
        assert_eq!(swarm["classes"][1]["free_rider"].as_bool(), Some(false));
    }

    #[test]
    fn bad_policies_are_placed_at_their_key() {
        for (table, (line, column), expected) in [
            ("unchoke = 4\n", (19, 1), "unknown field `unchoke`"),
            (
                "pieces = \"rarest\"\n",
                (19, 10),
                "pieces must be one of \"rarest-first\", \"random\", \"in-order\", not \"rarest\"",
            ),
            ("choke = true\n", (19, 9), "choke must be one of \"tit-for-tat\", \"none\", not a boolean"),
            (
                "protocol = \"mainline\"\n",
                (19, 12),
                "protocol must be one of \"bittorrent\", \"course\", not \"mainline\"",
            ),
            ("rechoke = \"10 sec\"\n", (19, 11), "unknown unit \"sec\" in rechoke; use one of: ns, us"),
            ("snub = 60\n", (19, 8), "snub = 60 has no unit; write the number and its unit in quotes"),
            ("overhead = \"5\"\n", (19, 12), "\"5\" in overhead has no %; write a percentage, like \"5%\""),
            ("overhead = \"100%\"\n", (19, 12), "\"100%\" in overhead is 100% or more; a share must be below 100%"),
            ("overhead = \"-5%\"\n", (19, 12), "\"-5%\" in overhead is negative"),
            (
                "overhead = 5\n",
                (19, 12),
                "overhead = 5 has no %; write the percentage in quotes, like overhead = \"5%\"",
            ),
            (
                "rechoke = \"10 s\"\noptimistic = \"25 s\"\n",
                (20, 14),
                "optimistic must be a positive multiple of rechoke",
            ),
            ("rechoke = \"7 s\"\n", (19, 11), "optimistic must be a positive multiple of rechoke"),
            ("rechoke = \"0 s\"\n", (19, 11), "rechoke must be above 0 s"),
            ("block = \"512 KiB\"\n", (19, 9), "block is 512 KiB, larger than the file's piece (256 KiB)"),
            ("block = \"0 B\"\n", (19, 9), "block must be at least 1 B"),
            ("peer_set = 30\nmax_connections = 0\n", (20, 19), "peer_set and max_connections must be at least 1"),
            ("requests_in_flight = 0\n", (19, 22), "requests_in_flight must be at least 1"),
            ("unchoke_slots = -1\n", (19, 17), "unchoke_slots must be 0 or more, not -1"),
            ("peer_set = 4294967296\n", (19, 12), "peer_set = 4294967296 is more than the most it may be, 4294967295"),
            (
                "random_first = \"4\"\n",
                (19, 16),
                "random_first must be a whole number, like random_first = 4, not a string",
            ),
            ("endgame = \"yes\"\n", (19, 11), "endgame must be true or false, not a string"),
            (
                "protocol = \"course\"\nunchoke_slots = 4\n",
                (20, 17),
                "unchoke_slots applies only to protocol = \"bittorrent\", and this [policy] has protocol = \"course\"",
            ),
            // The first in the file, whatever the order of the keys.
            ("overhead = \"5%\"\nprotocol = \"course\"\npieces = \"random\"\n", (19, 12), "overhead applies only to"),
        ] {
            let (at_line, at_column, message) = refused(&with_policy(table));
            assert_eq!((at_line, at_column), (line, column), "{table}: {message}");
            assert!(message.contains(expected), "{table}: {message}");
        }
        // Unknown keys elsewhere, as before; a misspelt table name is one too.
        let (line, column, message) = refused(&format!("{EXAMPLE}[polciy]\n"));
        assert_eq!((line, column), (18, 2), "{message}");
        assert!(message.contains("unknown field `polciy`"), "{message}");
    }

    #[test]
    fn a_problem_between_settings_is_placed_at_the_one_that_breaks_it() {
        let at =
            |settings: &[(u32, Setting)]| resolve_policy(&Policy::default(), settings, Bytes(1 << 20)).unwrap_err().0;
        let second = |value: u64| Setting::Rechoke(value * 1_000_000_000);
        // optimistic 30 s at rechoke 7 s: the rechoke broke it (the default optimistic is fine).
        assert_eq!(at(&[(1, second(7))]), Some(1));
        // Both given: the one whose default would mend it.
        assert_eq!(at(&[(1, second(10)), (2, Setting::Optimistic(25_000_000_000))]), Some(2));
        assert_eq!(at(&[(1, second(7)), (2, Setting::Optimistic(20_000_000_000))]), Some(1));
        // Neither default mends it: the first the message names.
        assert_eq!(at(&[(1, second(7)), (2, Setting::Optimistic(25_000_000_000))]), Some(2));
        assert_eq!(at(&[(1, Setting::PeerSet(30)), (2, Setting::MaxConnections(0))]), Some(2));
        // The last of a key wins, and is where the problem is.
        assert_eq!(at(&[(1, Setting::PeerSet(0)), (2, Setting::PeerSet(0))]), Some(2));
        // Not written here: no place (a base that already breaks a rule).
        let broken = Policy { requests_in_flight: 0, ..Policy::default() };
        let error = resolve_policy(&broken, &[(1, Setting::PeerSet(9))], Bytes(1 << 20)).unwrap_err();
        assert_eq!(error, (None, "requests_in_flight must be at least 1".to_string()));
        // A block as large as the piece is fine; one byte more is not.
        let piece = Bytes(16 * 1024);
        assert_eq!(resolve_policy(&Policy::default(), &[(1, Setting::Block(16 * 1024))], piece).unwrap().block, 16_384);
        let (place, message) =
            resolve_policy(&Policy::default(), &[(1, Setting::Block(16 * 1024 + 1))], piece).unwrap_err();
        assert_eq!((place, message.as_str()), (Some(1), "block is 16385 B, larger than the file's piece (16 KiB)"));
        let (_, message) =
            resolve_policy(&Policy::default(), &[(1, Setting::Block(1 << 32))], Bytes(1 << 33)).unwrap_err();
        assert_eq!(message, "block is 4 GiB, more than the most a block may be (4294967295 B)");
    }

    #[test]
    fn free_riders_are_leechers_that_never_upload() {
        let text = example_with("download = \"4 Mbit/s\"\n", "download = \"4 Mbit/s\"\nfree_rider = true\n");
        let swarm = parse(&text, "s").unwrap();
        assert!(swarm.classes()[1].free_rider);
        assert!(!swarm.classes()[0].free_rider);
        let text = example_with("download = \"4 Mbit/s\"\n", "download = \"4 Mbit/s\"\nfree_rider = false\n");
        assert!(!parse(&text, "s").unwrap().classes()[1].free_rider);
        // An upload of 0 is a free rider too.
        let text = example_with("\"1 Mbit/s\"", "\"0 bit/s\"");
        assert!(parse(&text, "s").unwrap().classes()[1].free_rider);
        // Not a seed.
        let text = example_with("seed = true\n", "seed = true\nfree_rider = true\n");
        let (line, column, message) = refused(&text);
        assert_eq!((line, column), (13, 14));
        assert!(
            message.ends_with(
                "class \"seed\" has seed = true and free_rider = true: a seed is there to upload the file, so a free \
                 rider can only be a leecher"
            ),
            "{message}"
        );
        assert!(parse(&example_with("seed = true\n", "seed = true\nfree_rider = false\n"), "s").is_ok());
        let text = example_with("download = \"4 Mbit/s\"\n", "download = \"4 Mbit/s\"\nfree_rider = 1\n");
        let (line, column, message) = refused(&text);
        assert_eq!((line, column), (18, 14));
        assert!(message.ends_with("free_rider must be true or false, not an integer"), "{message}");
    }

    /// The README's `[policy]` table is every key at its default.
    #[test]
    fn the_readmes_policy_table_is_the_defaults() {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
        let start = readme.find("```toml\n[policy]\n").expect("the README's [policy] table") + "```toml\n".len();
        let table = &readme[start..start + readme[start..].find("```").unwrap()];
        for key in POLICY_KEYS {
            assert!(table.contains(&format!("\n{key} = ")), "the README leaves {key} out");
        }
        let swarm = parse(&format!("{EXAMPLE}{table}"), "README.md").unwrap();
        assert_eq!(swarm.protocol(), &Protocol::default());
    }
}
