//! Generated swarms: the input files `in1.txt..in<N>.txt` of a scenario described by a few
//! numbers, the same files for the same seed on any machine.
//!
//! Files are `file1..fileF`, each owned whole by `seeds` peers. Ownership is dealt round-robin
//! over a shuffled list of peers, so it is as even as the numbers allow: when there are fewer
//! copies than peers, the peers left over own nothing and only download. Every peer then wants
//! up to `wants` of the files it does not own. Every file has an owner, so every wanted file can
//! be had.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::input::{PeerInput, render_peer_input};
use crate::model::{FileName, OwnedFile, SegmentHash};
use crate::rng::Rng;

#[derive(Clone, Debug)]
pub struct ScenarioSpec {
    /// MPI ranks, the tracker (rank 0) included: peers are ranks 1..ranks.
    pub ranks: u32,
    pub files: u32,
    pub segments: u32,
    /// How many peers own each file whole.
    pub seeds: u32,
    /// How many files each peer wants, at most (fewer if it owns all but a few).
    pub wants: u32,
    pub seed: u64,
    /// Write CRLF line endings, as a Windows editor would, to exercise the reader.
    pub crlf: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioSummary {
    pub ranks: u32,
    pub peers: u32,
    pub files: u32,
    pub segments_per_file: u32,
    /// Segments that must cross the network for every peer to finish.
    pub transfers_needed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("a scenario needs at least 3 ranks (the tracker and two peers), not {ranks}")]
    TooFewRanks { ranks: u32 },
    #[error("a scenario needs at least one file")]
    NoFiles,
    #[error("a file needs at least one segment")]
    NoSegments,
    #[error("every file needs at least one seed (a peer that owns it), so seeds cannot be 0")]
    NoSeeds,
    #[error("{seeds} seeds per file is more than the {peers} peers (ranks minus the tracker)")]
    TooManySeeds { seeds: u32, peers: u32 },
    #[error("a peer cannot want {wants} files: there are only {files}")]
    TooManyWants { wants: u32, files: u32 },
    #[error("the input files would hold up to {lines} lines, more than the limit of {max}")]
    TooLarge { lines: u128, max: u64 },
    #[error("cannot create folder {}: {source}", path.display())]
    CreateFolder { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Every line of every input file is held in memory before it is written; this keeps a typo in
/// a count from eating the machine (about 330 MB of hashes at the limit).
pub const MAX_LINES: u64 = 10_000_000;

/// The inputs of every peer of a planned scenario, in memory.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Index 0 is peer (rank) 1.
    pub inputs: Vec<PeerInput>,
    files: u32,
    segments_per_file: u32,
}

impl Scenario {
    pub fn summary(&self) -> ScenarioSummary {
        let peers = u32::try_from(self.inputs.len()).unwrap_or(u32::MAX);
        let wanted: u64 = self.inputs.iter().map(|input| input.wanted.len() as u64).sum();
        ScenarioSummary {
            ranks: peers.saturating_add(1),
            peers,
            files: self.files,
            segments_per_file: self.segments_per_file,
            transfers_needed: wanted * u64::from(self.segments_per_file),
        }
    }

    /// The text of `in<peer_index + 1>.txt`.
    ///
    /// # Panics
    /// If `peer_index` is not below `inputs.len()`.
    pub fn render(&self, peer_index: usize, crlf: bool) -> String {
        render_peer_input(&self.inputs[peer_index], crlf)
    }

    /// Writes `in1.txt..in<N>.txt` into `folder`, creating it if needed. Other files there,
    /// such as those of an earlier, larger scenario, are left alone.
    pub fn write_to(&self, folder: &Path, crlf: bool) -> Result<(), ScenarioError> {
        std::fs::create_dir_all(folder)
            .map_err(|source| ScenarioError::CreateFolder { path: folder.to_path_buf(), source })?;
        for index in 0..self.inputs.len() {
            let path = folder.join(format!("in{}.txt", index + 1));
            std::fs::write(&path, self.render(index, crlf)).map_err(|source| ScenarioError::Write { path, source })?;
        }
        Ok(())
    }
}

pub fn generate(spec: &ScenarioSpec, folder: &Path) -> Result<ScenarioSummary, ScenarioError> {
    let scenario = plan(spec)?;
    scenario.write_to(folder, spec.crlf)?;
    Ok(scenario.summary())
}

// Independent streams, so that changing how one part draws does not reshuffle the others.
const STREAM_OWNERS: u64 = 1;
const STREAM_HASH_KEY: u64 = 2;
const STREAM_HASHES: u64 = 3;
const STREAM_WANTS: u64 = 4;

pub fn plan(spec: &ScenarioSpec) -> Result<Scenario, ScenarioError> {
    check(spec)?;
    let peers = spec.ranks - 1;

    let hash_key = Rng::derive(spec.seed, STREAM_HASH_KEY).next_u64();
    let mut hash_rng = Rng::derive(spec.seed, STREAM_HASHES);
    let mut segment_number: u64 = 0;
    let mut files: Vec<OwnedFile> = Vec::new();
    for file in 1..=spec.files {
        let name = FileName::new(&format!("file{file}")).expect("\"file<N>\" is always a valid name");
        let mut hashes = Vec::new();
        for _ in 0..spec.segments {
            hashes.push(segment_hash(segment_number, hash_key, &mut hash_rng));
            segment_number += 1;
        }
        files.push(OwnedFile { name, hashes });
    }

    // Copy c of file f goes to the (f * seeds + c)-th peer of the shuffled list, wrapping
    // around: the copies of one file are `seeds` consecutive, hence distinct, peers, and
    // every peer gets as many copies as any other, give or take one.
    let mut order: Vec<u32> = (0..peers).collect();
    Rng::derive(spec.seed, STREAM_OWNERS).shuffle(&mut order);
    let mut owned_by: Vec<Vec<u32>> = vec![Vec::new(); peers as usize];
    let mut slot: u64 = 0;
    for file in 0..spec.files {
        for _ in 0..spec.seeds {
            let peer = order[(slot % u64::from(peers)) as usize];
            owned_by[peer as usize].push(file);
            slot += 1;
        }
    }

    let mut wants_rng = Rng::derive(spec.seed, STREAM_WANTS);
    let inputs = owned_by
        .iter()
        .map(|owned| {
            // `owned` is ascending: files were dealt in order.
            let not_owned = spec.files - owned.len() as u32;
            let wanted = sample_distinct(&mut wants_rng, not_owned, spec.wants.min(not_owned))
                .into_iter()
                .map(|rank| files[nth_not_owned(owned, rank) as usize].name.clone())
                .collect();
            PeerInput { owned: owned.iter().map(|&file| files[file as usize].clone()).collect(), wanted }
        })
        .collect();

    Ok(Scenario { inputs, files: spec.files, segments_per_file: spec.segments })
}

fn check(spec: &ScenarioSpec) -> Result<(), ScenarioError> {
    if spec.ranks < 3 {
        return Err(ScenarioError::TooFewRanks { ranks: spec.ranks });
    }
    let peers = spec.ranks - 1;
    if spec.files == 0 {
        return Err(ScenarioError::NoFiles);
    }
    if spec.segments == 0 {
        return Err(ScenarioError::NoSegments);
    }
    if spec.seeds == 0 {
        return Err(ScenarioError::NoSeeds);
    }
    if spec.seeds > peers {
        return Err(ScenarioError::TooManySeeds { seeds: spec.seeds, peers });
    }
    if spec.wants > spec.files {
        return Err(ScenarioError::TooManyWants { wants: spec.wants, files: spec.files });
    }
    // Two count lines per peer, a header and the hashes per copy of a file, a name per want.
    let lines = 2 * u128::from(peers)
        + u128::from(spec.files) * u128::from(spec.seeds) * (u128::from(spec.segments) + 1)
        + u128::from(peers) * u128::from(spec.wants);
    if lines > u128::from(MAX_LINES) {
        return Err(ScenarioError::TooLarge { lines, max: MAX_LINES });
    }
    Ok(())
}

/// 32 lowercase hex digits. The first 16 are a bijection of the segment's number, so no two
/// segments of a scenario can share a hash (by construction, not by luck); the last 16 are
/// plain random.
fn segment_hash(number: u64, key: u64, rng: &mut Rng) -> SegmentHash {
    let high = crate::rng::mix(number ^ key);
    let value = (u128::from(high) << 64) | u128::from(rng.next_u64());
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; SegmentHash::LEN];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = DIGITS[((value >> (124 - 4 * i)) & 0xF) as usize];
    }
    SegmentHash(bytes)
}

/// `count` distinct numbers from `0..range`, in random order (`count <= range`). A partial
/// Fisher-Yates over a sparse array, so the cost follows `count`, not `range`.
fn sample_distinct(rng: &mut Rng, range: u32, count: u32) -> Vec<u32> {
    let mut moved: HashMap<u32, u32> = HashMap::new();
    let mut picked = Vec::new();
    for i in 0..count {
        let j = i + rng.below(u64::from(range - i)) as u32;
        let at_i = moved.get(&i).copied().unwrap_or(i);
        let at_j = moved.get(&j).copied().unwrap_or(j);
        moved.insert(j, at_i);
        picked.push(at_j);
    }
    picked
}

/// The `rank`-th (from 0) file number missing from `owned` (ascending, distinct). For the i-th
/// owned file, `owned[i] - i` counts the files missing before it and never decreases, so the
/// owned files to skip are a prefix, found by bisection.
fn nth_not_owned(owned: &[u32], rank: u32) -> u32 {
    let (mut low, mut high) = (0, owned.len());
    while low < high {
        let middle = low + (high - low) / 2;
        if owned[middle] - middle as u32 <= rank {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    rank + low as u32
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::input::{parse_peer_input, read_peer_input};
    use std::collections::{HashMap, HashSet};

    fn spec(ranks: u32, files: u32, segments: u32, seeds: u32, wants: u32, seed: u64) -> ScenarioSpec {
        ScenarioSpec { ranks, files, segments, seeds, wants, seed, crlf: false }
    }

    fn planned(spec: &ScenarioSpec) -> Scenario {
        plan(spec).unwrap_or_else(|error| panic!("{spec:?}: {error}"))
    }

    /// Every promise the module makes about a plan, checked against its spec.
    fn check_invariants(spec: &ScenarioSpec, scenario: &Scenario) {
        let peers = spec.ranks - 1;
        assert_eq!(scenario.inputs.len(), peers as usize, "{spec:?}");

        let mut owners: HashMap<&FileName, Vec<&Vec<SegmentHash>>> = HashMap::new();
        for input in &scenario.inputs {
            for file in &input.owned {
                assert_eq!(file.hashes.len(), spec.segments as usize);
                owners.entry(&file.name).or_default().push(&file.hashes);
            }
        }
        assert_eq!(owners.len(), spec.files as usize, "every file has an owner: {spec:?}");
        let mut all_hashes = HashSet::new();
        for (name, copies) in &owners {
            assert_eq!(copies.len(), spec.seeds as usize, "{name} in {spec:?}");
            assert!(copies.iter().all(|hashes| *hashes == copies[0]), "copies of {name} agree");
            for hash in copies[0] {
                assert!(hash.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                assert!(all_hashes.insert(*hash), "hash {hash} repeats in {spec:?}");
            }
        }
        for number in 1..=spec.files {
            assert!(owners.contains_key(&FileName::new(&format!("file{number}")).expect("valid")));
        }

        let counts: Vec<usize> = scenario.inputs.iter().map(|input| input.owned.len()).collect();
        let (least, most) = (counts.iter().min(), counts.iter().max());
        assert!(most.zip(least).is_some_and(|(most, least)| most - least <= 1), "{counts:?}");

        let mut transfers = 0u64;
        for input in &scenario.inputs {
            let owned: HashSet<&FileName> = input.owned.iter().map(|file| &file.name).collect();
            let wanted: HashSet<&FileName> = input.wanted.iter().collect();
            assert_eq!(wanted.len(), input.wanted.len(), "no file wanted twice");
            assert!(wanted.is_disjoint(&owned), "nobody wants what it owns");
            assert!(wanted.iter().all(|name| owners.contains_key(name)));
            let expected = spec.wants.min(spec.files - owned.len() as u32);
            assert_eq!(input.wanted.len(), expected as usize, "{spec:?}");
            transfers += input.wanted.len() as u64 * u64::from(spec.segments);
        }

        assert_eq!(
            scenario.summary(),
            ScenarioSummary {
                ranks: spec.ranks,
                peers,
                files: spec.files,
                segments_per_file: spec.segments,
                transfers_needed: transfers,
            }
        );
    }

    #[test]
    fn small_scenarios_keep_every_promise() {
        for ranks in 3..=7 {
            for files in 1..=5 {
                for seeds in 1..ranks {
                    for wants in 0..=files {
                        for seed in 0..3 {
                            let spec = spec(ranks, files, 2, seeds, wants, seed);
                            check_invariants(&spec, &planned(&spec));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_larger_scenario_keeps_every_promise() {
        let spec = spec(65, 40, 50, 3, 7, 12345);
        let scenario = planned(&spec);
        check_invariants(&spec, &scenario);
        // 120 copies over 64 peers: everybody owns one or two files.
        assert!(scenario.inputs.iter().all(|input| !input.owned.is_empty()));
        assert_eq!(scenario.summary().transfers_needed, 64 * 7 * 50);
    }

    #[test]
    fn peers_left_over_own_nothing_but_still_want() {
        let spec = spec(11, 2, 3, 1, 2, 9);
        let scenario = planned(&spec);
        check_invariants(&spec, &scenario);
        let empty_handed = scenario.inputs.iter().filter(|input| input.owned.is_empty()).count();
        assert_eq!(empty_handed, 8);
        // With as many seeds as peers everyone owns everything and nobody wants anything.
        let spec = self::spec(4, 3, 1, 3, 3, 9);
        assert_eq!(planned(&spec).summary().transfers_needed, 0);
    }

    #[test]
    fn rendered_text_reads_back() {
        let spec = spec(6, 4, 5, 2, 3, 77);
        let scenario = planned(&spec);
        for crlf in [false, true] {
            for (index, input) in scenario.inputs.iter().enumerate() {
                let text = scenario.render(index, crlf);
                assert_eq!(text.contains('\r'), crlf);
                assert!(text.ends_with('\n') && !text.ends_with("\n\n") && !text.ends_with("\r\n\r\n"));
                let source = format!("in{}.txt", index + 1);
                assert_eq!(&parse_peer_input(&source, text.as_bytes()).expect("reads back"), input);
            }
        }
    }

    #[test]
    fn same_seed_same_scenario_other_seed_other_scenario() {
        let first = planned(&spec(9, 6, 8, 2, 3, 42));
        let again = planned(&spec(9, 6, 8, 2, 3, 42));
        let other = planned(&spec(9, 6, 8, 2, 3, 43));
        assert_eq!(first.inputs, again.inputs);
        assert_ne!(first.inputs, other.inputs);
        let hashes = |scenario: &Scenario| -> HashSet<SegmentHash> {
            scenario.inputs.iter().flat_map(|input| &input.owned).flat_map(|file| file.hashes.clone()).collect()
        };
        assert!(hashes(&first).is_disjoint(&hashes(&other)), "another seed draws other hashes");
        let owners = |scenario: &Scenario| -> Vec<Vec<FileName>> {
            scenario.inputs.iter().map(|input| input.owned.iter().map(|file| file.name.clone()).collect()).collect()
        };
        let differs = (0..20).any(|seed| owners(&planned(&spec(9, 6, 8, 2, 3, seed))) != owners(&first));
        assert!(differs, "the seed also moves ownership around");
    }

    #[test]
    fn invalid_specs_are_refused() {
        let good = spec(5, 3, 4, 2, 1, 0);
        assert!(plan(&good).is_ok());
        let cases: Vec<(ScenarioSpec, &str)> = vec![
            (ScenarioSpec { ranks: 0, ..good.clone() }, "at least 3 ranks"),
            (ScenarioSpec { ranks: 2, ..good.clone() }, "at least 3 ranks (the tracker and two peers), not 2"),
            (ScenarioSpec { files: 0, ..good.clone() }, "at least one file"),
            (ScenarioSpec { segments: 0, ..good.clone() }, "at least one segment"),
            (ScenarioSpec { seeds: 0, ..good.clone() }, "seeds cannot be 0"),
            (ScenarioSpec { seeds: 5, ..good.clone() }, "5 seeds per file is more than the 4 peers"),
            (ScenarioSpec { wants: 4, ..good.clone() }, "cannot want 4 files: there are only 3"),
            (ScenarioSpec { segments: u32::MAX, ..good.clone() }, "more than the limit"),
            (ScenarioSpec { ranks: u32::MAX, ..good.clone() }, "more than the limit"),
            (
                ScenarioSpec {
                    ranks: u32::MAX,
                    files: u32::MAX,
                    segments: u32::MAX,
                    seeds: 3,
                    wants: u32::MAX,
                    ..good
                },
                "more than the limit",
            ),
        ];
        for (spec, expected) in cases {
            match plan(&spec) {
                Ok(_) => panic!("{spec:?} was accepted"),
                Err(error) => assert!(error.to_string().contains(expected), "{spec:?}: {error}"),
            }
        }
    }

    #[test]
    fn generate_writes_files_that_read_back() {
        let folder = std::env::temp_dir().join(format!("bitorrent-scenario-test-{}", std::process::id()));
        let spec = ScenarioSpec { crlf: true, ..spec(5, 3, 4, 2, 2, 5) };
        let summary = generate(&spec, &folder.join("nested")).expect("generate");
        let scenario = planned(&spec);
        assert_eq!(summary, scenario.summary());
        for (index, input) in scenario.inputs.iter().enumerate() {
            let path = folder.join("nested").join(format!("in{}.txt", index + 1));
            assert_eq!(&read_peer_input(&path).expect("reads back"), input);
            let bytes = std::fs::read(&path).expect("written");
            assert!(bytes.windows(2).any(|pair| pair == b"\r\n"));
        }
        assert!(!folder.join("nested").join("in5.txt").exists(), "no input for the tracker's rank count");

        // A file where the folder should be: the error names the path.
        let blocker = folder.join("blocker");
        std::fs::write(&blocker, "").expect("write");
        let error = generate(&spec, &blocker).expect_err("not a folder");
        std::fs::remove_dir_all(&folder).expect("cleanup");
        assert!(matches!(error, ScenarioError::CreateFolder { .. }));
        assert!(error.to_string().contains(&blocker.display().to_string()), "{error}");
    }

    #[test]
    fn sampling_and_skipping_match_brute_force() {
        let mut rng = Rng::new(3);
        for range in 0..12 {
            for count in 0..=range {
                let picked = sample_distinct(&mut rng, range, count);
                assert_eq!(picked.len(), count as usize);
                assert!(picked.iter().all(|&n| n < range));
                assert_eq!(picked.iter().collect::<HashSet<_>>().len(), count as usize);
            }
        }
        for mask in 0u32..(1 << 8) {
            let owned: Vec<u32> = (0..8).filter(|bit| mask & (1 << bit) != 0).collect();
            let missing: Vec<u32> = (0..8).filter(|file| !owned.contains(file)).collect();
            for (rank, &file) in missing.iter().enumerate() {
                assert_eq!(nth_not_owned(&owned, rank as u32), file, "{owned:?} rank {rank}");
            }
        }
    }

    #[test]
    fn hashes_stay_unique_however_many_there_are() {
        let mut rng = Rng::new(0);
        let hashes: HashSet<SegmentHash> = (0..200_000).map(|number| segment_hash(number, 7, &mut rng)).collect();
        assert_eq!(hashes.len(), 200_000);
        // The mixer is a bijection: distinct numbers, distinct first halves, whatever the key.
        let firsts: HashSet<u64> = (0..100_000u64).map(|number| crate::rng::mix(number ^ 0xFFFF_FFFF)).collect();
        assert_eq!(firsts.len(), 100_000);
    }
}
