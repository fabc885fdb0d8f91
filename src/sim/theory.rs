//! What no run can beat: Kumar and Ross's minimum distribution time, in exact arithmetic, so
//! that a run's result can be checked against it (`t_last >= T_min`) with no tolerance.
//!
//! For N leechers present from the start, a file of F bits, seeds' total upload u_s, leechers'
//! uploads u_i and smallest leecher download d_min (Kumar & Ross, 2006):
//!
//! ```text
//! T_min = max(F / u_s,  F / d_min,  N * F / (u_s + sum u_i))
//! ```
//!
//! - F / u_s: every bit must leave the seeds at least once, and they send at most u_s.
//! - F / d_min: the slowest leecher must take in all F bits.
//! - N * F / (u_s + sum u_i): N copies must be uploaded by everyone together.
//!
//! Seeds are the peers with `seed = true`: they hold the whole file at time 0, are not among the
//! N, and their uploads add up to u_s (Kumar and Ross have one server; several seeds act as one
//! with their total upload, and each term's argument holds for them unchanged). A seed's download
//! plays no part. Likewise no peer can finish before F / d_i, its own download time.
//!
//! The same three arguments hold for any [`Scenario`], a course folder's several files included,
//! and this module computes them there, so that one computation serves both inputs: each file
//! wanted must leave the peers that own it at least once (the largest F_f / u_f, u_f its owners'
//! upload); each peer takes in all it wants through its own downlink (the largest W_i / d_i, W_i
//! the bits it wants); and every bit wanted leaves some uplink (sum W_i / sum of all uploads). For
//! a swarm file's one file these are exactly Kumar and Ross's three terms.
//!
//! Times are exact rationals of seconds ([`Seconds`]); [`Seconds::ceil_nanos`] gives the
//! simulated clock's integer form.

use std::cmp::Ordering;

use super::scenario::Scenario;
use crate::model::PeerId;

/// A non-negative time in seconds, as an exact fraction in lowest terms.
///
/// The numerator and denominator are u128: the largest term is N * F, at most 2^24 peers times
/// 2^67 bits, which leaves room to multiply by 10^9 (< 2^30) for nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Seconds {
    numerator: u128,
    denominator: u128,
}

impl Seconds {
    pub const ZERO: Seconds = Seconds { numerator: 0, denominator: 1 };

    /// `numerator / denominator` seconds. Callers divide by rates that the swarm file guarantees
    /// are positive; a zero denominator is a broken invariant, not an input error.
    fn new(numerator: u128, denominator: u128) -> Seconds {
        assert!(denominator > 0, "a time of {numerator}/0 s: a rate the swarm guarantees positive was 0");
        let g = gcd(numerator, denominator);
        Seconds { numerator: numerator / g, denominator: denominator / g }
    }

    pub fn numerator(self) -> u128 {
        self.numerator
    }

    pub fn denominator(self) -> u128 {
        self.denominator
    }

    /// In nanoseconds, rounded up; None past u64 (584 years), which no simulated clock reaches.
    ///
    /// Up, because this is a lower bound checked against integer event times: a finish time t
    /// (whole nanoseconds) with t >= T satisfies t >= ceil(T), so `ceil` is the tightest integer
    /// bound that stays true. Rounding down would be true but weaker; to nearest could be false.
    pub fn ceil_nanos(self) -> Option<u64> {
        let nanos = self.numerator.checked_mul(1_000_000_000)?.div_ceil(self.denominator);
        u64::try_from(nanos).ok()
    }

    /// For reports only: nothing that orders events may use it.
    pub fn as_f64(self) -> f64 {
        self.numerator as f64 / self.denominator as f64
    }
}

impl Ord for Seconds {
    /// Exact, without forming the cross products (which can pass u128): compare the integer
    /// parts, then the remainders as reciprocals, as in a continued fraction. Each round is a
    /// step of Euclid's algorithm, so it ends.
    fn cmp(&self, other: &Seconds) -> Ordering {
        let (mut a, mut b, mut c, mut d) = (self.numerator, self.denominator, other.numerator, other.denominator);
        loop {
            let (q1, r1, q2, r2) = (a / b, a % b, c / d, c % d);
            if q1 != q2 {
                return q1.cmp(&q2);
            }
            match (r1, r2) {
                (0, 0) => return Ordering::Equal,
                (0, _) => return Ordering::Less,
                (_, 0) => return Ordering::Greater,
                // r1/b against r2/d is d/r2 against b/r1.
                _ => (a, b, c, d) = (d, r2, b, r1),
            }
        }
    }
}

impl PartialOrd for Seconds {
    fn partial_cmp(&self, other: &Seconds) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Which of the three terms is the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Term {
    /// F / u_s: the seeds (a file's owners) cannot send one copy sooner.
    SeedUpload,
    /// F / d_min: the slowest leecher cannot take one copy (all it wants) in sooner.
    SlowestDownload,
    /// N * F / (u_s + sum u_i): the swarm cannot upload N copies (all that is wanted) sooner.
    SwarmUpload,
}

/// Kumar and Ross's bound with its three terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinDistributionTime {
    pub seed_upload: Seconds,
    pub slowest_download: Seconds,
    pub swarm_upload: Seconds,
    /// The largest term; on a tie, the first in the formula's order.
    pub binding: Term,
}

impl MinDistributionTime {
    /// T_min: no schedule finishes the last leecher sooner.
    pub fn t_min(&self) -> Seconds {
        match self.binding {
            Term::SeedUpload => self.seed_upload,
            Term::SlowestDownload => self.slowest_download,
            Term::SwarmUpload => self.swarm_upload,
        }
    }
}

/// The bits peer `peer` wants, all its files together.
fn wanted_bits(scenario: &Scenario, peer: &super::scenario::SimPeer) -> u128 {
    peer.wants.iter().map(|&file| u128::from(scenario.files[file as usize].size_bytes) * 8).sum()
}

/// T_min for `scenario`, or None when nobody wants anything (nothing to distribute: the bound is
/// 0 and a ratio against it means nothing), or when a wanted file's owners upload nothing (no
/// finite bound: the engine refuses such a run).
pub fn min_distribution_time(scenario: &Scenario) -> Option<MinDistributionTime> {
    let mut owners_upload = vec![0u128; scenario.files.len()];
    let (mut all_wanted, mut all_upload) = (0u128, 0u128);
    let mut slowest_download: Option<Seconds> = None;
    for peer in &scenario.peers {
        let class = &scenario.classes[peer.class as usize];
        // A free rider's uplink carries nothing, however fast.
        let upload = if class.uploads() { u128::from(class.upload_bits_per_s) } else { 0 };
        all_upload += upload;
        peer.owns.iter().for_each(|&file| owners_upload[file as usize] += upload);
        if peer.wants.is_empty() {
            continue;
        }
        let wants = wanted_bits(scenario, peer);
        all_wanted += wants;
        let own = Seconds::new(wants, u128::from(class.download_bits_per_s));
        slowest_download = Some(slowest_download.map_or(own, |slowest| slowest.max(own)));
    }
    let slowest_download = slowest_download?;
    let mut seed_upload = Seconds::ZERO;
    for (file, &upload) in scenario.files.iter().zip(&owners_upload) {
        if file.wanted_by > 0 {
            if upload == 0 {
                return None;
            }
            seed_upload = seed_upload.max(Seconds::new(u128::from(file.size_bytes) * 8, upload));
        }
    }
    let swarm_upload = Seconds::new(all_wanted, all_upload);
    let mut binding = Term::SeedUpload;
    let mut largest = seed_upload;
    for (term, time) in [(Term::SlowestDownload, slowest_download), (Term::SwarmUpload, swarm_upload)] {
        if time > largest {
            (binding, largest) = (term, time);
        }
    }
    Some(MinDistributionTime { seed_upload, slowest_download, swarm_upload, binding })
}

/// The earliest `peer` can finish: the bits it wants over its download (F / d_i for a leecher),
/// 0 for a peer that wants nothing; None if `peer` is not one of the scenario's peers.
pub fn min_finish(scenario: &Scenario, peer: PeerId) -> Option<Seconds> {
    let index = peer.index().checked_sub(1)?;
    let spec = scenario.peers.get(index)?;
    if spec.wants.is_empty() {
        return Some(Seconds::ZERO);
    }
    let class = &scenario.classes[spec.class as usize];
    Some(Seconds::new(wanted_bits(scenario, spec), u128::from(class.download_bits_per_s)))
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::sim::swarm::parse as parse_swarm;

    /// The scenario of a swarm file's text.
    fn parse(text: &str, origin: &str) -> Scenario {
        Scenario::from_swarm(&parse_swarm(text, origin).unwrap(), origin)
    }

    /// A swarm of one seed class and the given leecher classes `(count, upload, download)`. The
    /// file is one piece: the bound does not depend on pieces.
    fn swarm(size: &str, seed_upload: &str, leechers: &[(u32, &str, &str)]) -> Scenario {
        let mut text = format!(
            "[file]\nsize = \"{size}\"\npiece = \"{size}\"\n[network]\nlatency = \"1 ms\"\n\
             [[peers]]\nname = \"seed\"\ncount = 1\nupload = \"{seed_upload}\"\ndownload = \"1 Mbit/s\"\nseed = true\n"
        );
        for (k, (count, up, down)) in leechers.iter().enumerate() {
            text += &format!("[[peers]]\nname = \"l{k}\"\ncount = {count}\nupload = \"{up}\"\ndownload = \"{down}\"\n");
        }
        parse(&text, "test.toml")
    }

    #[test]
    fn design_example_is_830_6_seconds_and_the_swarm_binds() {
        let s = swarm("100 MiB", "10 Mbit/s", &[(1000, "1 Mbit/s", "4 Mbit/s")]);
        let bound = min_distribution_time(&s).unwrap();
        assert_eq!(bound.binding, Term::SwarmUpload);
        // 1000 * 100 * 2^20 * 8 bits / 1010 Mbit/s, in lowest terms.
        assert_eq!(bound.t_min(), Seconds::new(1000 * 838_860_800, 1_010_000_000));
        assert_eq!((bound.t_min().numerator(), bound.t_min().denominator()), (2_097_152, 2_525));
        assert_eq!((bound.t_min().as_f64() * 10.0).round() / 10.0, 830.6);
        assert_eq!(bound.t_min().ceil_nanos(), Some(830_555_247_525));
        assert_eq!(bound.seed_upload, Seconds::new(838_860_800, 10_000_000));
        assert_eq!(bound.slowest_download, Seconds::new(838_860_800, 4_000_000));
    }

    #[test]
    fn the_seed_binds_when_it_is_slow() {
        let s = swarm("1 MiB", "1 Mbit/s", &[(10, "10 Mbit/s", "100 Mbit/s")]);
        let bound = min_distribution_time(&s).unwrap();
        assert_eq!(bound.binding, Term::SeedUpload);
        assert_eq!(bound.t_min(), Seconds::new(8_388_608, 1_000_000));
        assert!(bound.t_min() > bound.swarm_upload && bound.t_min() > bound.slowest_download);
    }

    #[test]
    fn the_slowest_download_binds_and_only_leechers_count() {
        // The seed's own download (1 Mbit/s in the helper) is smaller still, and must not count.
        let s = swarm("1 MiB", "100 Mbit/s", &[(10, "100 Mbit/s", "10 Mbit/s"), (5, "100 Mbit/s", "2 Mbit/s")]);
        let bound = min_distribution_time(&s).unwrap();
        assert_eq!(bound.binding, Term::SlowestDownload);
        assert_eq!(bound.t_min(), Seconds::new(8_388_608, 2_000_000));
    }

    #[test]
    fn several_seeds_add_their_uploads_and_free_riders_add_nothing() {
        let text = "[file]\nsize = \"1 MiB\"\npiece = \"1 MiB\"\n[network]\nlatency = \"0 s\"\n\
                    [[peers]]\nname = \"s\"\ncount = 3\nupload = \"1 Mbit/s\"\ndownload = \"0 bit/s\"\nseed = true\n\
                    [[peers]]\nname = \"free\"\ncount = 4\nupload = \"0 bit/s\"\ndownload = \"1 Gbit/s\"\n";
        let bound = min_distribution_time(&parse(text, "t")).unwrap();
        assert_eq!(bound.seed_upload, Seconds::new(8_388_608, 3_000_000));
        // 4 copies from 3 Mbit/s of seeds: the swarm term, 4/3 of the seed term.
        assert_eq!(bound.swarm_upload, Seconds::new(4 * 8_388_608, 3_000_000));
        assert_eq!(bound.binding, Term::SwarmUpload);
        // Free riders said so: their uplinks add nothing either.
        let said = text.replace(
            "\"0 bit/s\"\ndownload = \"1 Gbit/s\"\n",
            "\"1 Gbit/s\"\ndownload = \"1 Gbit/s\"\nfree_rider = true\n",
        );
        assert_ne!(said, text);
        assert_eq!(min_distribution_time(&parse(&said, "t")).unwrap(), bound);
    }

    #[test]
    fn a_tie_reports_the_first_term() {
        // One leecher that uploads nothing and downloads as fast as the seed uploads: all equal.
        let s = swarm("1 MiB", "1 Mbit/s", &[(1, "0 bit/s", "1 Mbit/s")]);
        let bound = min_distribution_time(&s).unwrap();
        assert_eq!((bound.seed_upload, bound.slowest_download), (bound.swarm_upload, bound.swarm_upload));
        assert_eq!(bound.binding, Term::SeedUpload);
    }

    #[test]
    fn several_files_generalise_each_term() {
        use crate::sim::scenario::{SimClass, SimFile, SimPeer};
        let file = |name: &str, bytes: u64, wanted_by: u32| SimFile {
            name: name.into(),
            size_bytes: bytes,
            piece_bytes: bytes,
            pieces: 1,
            owners: 1,
            wanted_by,
        };
        let peer = |owns: Vec<u32>, wants: Vec<u32>| SimPeer { class: 0, owns, wants };
        // Peer 1 owns a (1,000 bytes), peer 2 owns b (3,000); peer 3 wants both, peer 4 wants a.
        let scenario = Scenario {
            origin: "t".into(),
            seed: 1,
            latency_ns: 0,
            files: vec![file("a", 1_000, 2), file("b", 3_000, 1)],
            classes: vec![SimClass {
                name: "peer".into(),
                count: 4,
                upload_bits_per_s: 1_000,
                download_bits_per_s: 2_000,
                free_rider: false,
            }],
            peers: vec![peer(vec![0], vec![]), peer(vec![1], vec![]), peer(vec![], vec![0, 1]), peer(vec![], vec![0])],
            protocol: crate::sim::swarm::Protocol::Course,
        };
        let bound = min_distribution_time(&scenario).unwrap();
        // b's 24,000 bits leave its one owner at 1,000 bit/s; peer 3 takes in 32,000 at 2,000;
        // 40,000 bits wanted leave 4,000 bit/s of uplinks.
        assert_eq!(bound.seed_upload, Seconds::new(24_000, 1_000));
        assert_eq!(bound.slowest_download, Seconds::new(32_000, 2_000));
        assert_eq!(bound.swarm_upload, Seconds::new(40_000, 4_000));
        assert_eq!(bound.binding, Term::SeedUpload);
        assert_eq!(min_finish(&scenario, PeerId(4)), Some(Seconds::new(8_000, 2_000)));
        assert_eq!(min_finish(&scenario, PeerId(1)), Some(Seconds::ZERO), "wants nothing");
    }

    #[test]
    fn no_leechers_no_bound() {
        let text = "[file]\nsize = \"1 MiB\"\npiece = \"1 MiB\"\n[network]\nlatency = \"0 s\"\n\
                    [[peers]]\nname = \"s\"\ncount = 3\nupload = \"1 Mbit/s\"\ndownload = \"0 bit/s\"\nseed = true\n";
        assert_eq!(min_distribution_time(&parse(text, "t")), None);
    }

    #[test]
    fn min_finish_is_the_peers_own_download_time() {
        let s = swarm("100 MiB", "10 Mbit/s", &[(2, "1 Mbit/s", "4 Mbit/s"), (3, "1 Mbit/s", "8 Mbit/s")]);
        assert_eq!(min_finish(&s, PeerId(1)), Some(Seconds::ZERO), "the seed");
        assert_eq!(min_finish(&s, PeerId(2)), Some(Seconds::new(838_860_800, 4_000_000)));
        assert_eq!(min_finish(&s, PeerId(3)), Some(Seconds::new(838_860_800, 4_000_000)));
        assert_eq!(min_finish(&s, PeerId(4)), Some(Seconds::new(838_860_800, 8_000_000)));
        assert_eq!(min_finish(&s, PeerId(6)).map(|t| t.as_f64()), Some(104.8576));
        assert_eq!(min_finish(&s, PeerId(7)), None);
        assert_eq!(min_finish(&s, PeerId::TRACKER), None);
    }

    #[test]
    fn nanoseconds_round_up_and_stop_at_u64() {
        assert_eq!(Seconds::new(1, 3).ceil_nanos(), Some(333_333_334));
        assert_eq!(Seconds::new(1, 4).ceil_nanos(), Some(250_000_000), "already whole: unchanged");
        assert_eq!(Seconds::ZERO.ceil_nanos(), Some(0));
        assert_eq!(Seconds::new(u128::from(u64::MAX), 1_000_000_000).ceil_nanos(), Some(u64::MAX));
        assert_eq!(Seconds::new(u128::from(u64::MAX) + 1, 1_000_000_000).ceil_nanos(), None);
        // 16 GiB through a 1 bit/s seed: 4,000 years.
        let s = swarm("16 GiB", "1 bit/s", &[(1, "1 bit/s", "1 bit/s")]);
        assert_eq!(min_distribution_time(&s).unwrap().t_min().ceil_nanos(), None);
    }

    #[test]
    fn comparison_is_exact_even_past_u128_cross_products() {
        let small = [(0, 1), (1, 3), (2, 6), (1, 2), (2, 3), (5, 7), (7, 5), (3, 1), (10, 3)];
        for &(a, b) in &small {
            for &(c, d) in &small {
                let expected = (a * d).cmp(&(c * b));
                assert_eq!(Seconds::new(a, b).cmp(&Seconds::new(c, d)), expected, "{a}/{b} vs {c}/{d}");
            }
        }
        // Numerators and denominators near 2^100: a cross product would need 2^200.
        let big = 1u128 << 100;
        let x = Seconds::new(big + 1, big - 1);
        let y = Seconds::new(big + 3, big + 1);
        // (2^100 + 1)^2 > (2^100 + 3)(2^100 - 1) = 2^200 + 2^101 - 3.
        assert_eq!(x.cmp(&y), Ordering::Greater);
        assert_eq!(y.cmp(&x), Ordering::Less);
        assert_eq!(x.cmp(&x), Ordering::Equal);
        assert_eq!(Seconds::new(6, 4), Seconds::new(3, 2), "kept in lowest terms");
    }
}
