//! BitTorrent's algorithms in the simulation, held against what is published about them: a
//! homogeneous flash crowd near the bound, rarest first against random with a slow seed,
//! tit-for-tat's reciprocation and clustering in a swarm of two speeds, free riders last.
//! Stochastic claims are checked over several seeds.

use bitorrent::bt::policy::{PieceOrder, Policy, SeedChoke};
use bitorrent::sim::engine::simulate_split;
use bitorrent::sim::outcome::Outcome;
use bitorrent::sim::results::{self, Run, Summary};
use bitorrent::sim::scenario::Scenario;
use bitorrent::sim::swarm::{self, Protocol, Swarm};

/// A swarm file's text: `classes` are `(name, count, upload, download, seed)`.
fn swarm(size: &str, latency: &str, classes: &[(&str, u32, &str, &str, bool)], seed: u64) -> Swarm {
    let mut text =
        format!("seed = {seed}\n[file]\nsize = \"{size}\"\npiece = \"256 KiB\"\n[network]\nlatency = \"{latency}\"\n");
    for (name, count, up, down, is_seed) in classes {
        text += &format!(
            "[[peers]]\nname = \"{name}\"\ncount = {count}\nupload = \"{up}\"\ndownload = \"{down}\"\nseed = {is_seed}\n"
        );
    }
    swarm::parse(&text, "test.toml").expect("a valid swarm")
}

/// Runs a swarm under `policy` on two threads (the same outcome as one, tested elsewhere).
fn run(swarm: &Swarm, policy: Policy) -> (Scenario, Outcome) {
    let mut scenario = Scenario::from_swarm(swarm, "test.toml");
    scenario.protocol = Protocol::BitTorrent(policy);
    let outcome = simulate_split(&scenario, 2, None, &mut |_| {}).expect("the swarm finishes").expect("one rank");
    (scenario, outcome)
}

fn summary<'a>(scenario: &'a Scenario, swarm: &'a Swarm, outcome: &'a Outcome) -> Summary<'a> {
    results::summary(&Run { scenario, swarm: Some(swarm), outcome, wall_seconds: 0.0 }).unwrap()
}

#[test]
fn a_homogeneous_flash_crowd_finishes_near_the_bound() {
    // DESIGN.md's example: 1,000 leechers at 1 Mbit/s up and 4 down, a 100 MiB file, one
    // 10 Mbit/s seed. T_min = 830.6 s. Real clients reach about 0.8 of it.
    let swarm = swarm(
        "100 MiB",
        "50 ms",
        &[("seed", 1, "10 Mbit/s", "100 Mbit/s", true), ("leecher", 1000, "1 Mbit/s", "4 Mbit/s", false)],
        1,
    );
    let (scenario, outcome) = run(&swarm, Policy::default());
    let summary = summary(&scenario, &swarm, &outcome);
    let efficiency = summary.efficiency.unwrap();
    eprintln!("efficiency {efficiency:.3}, last {:?} s", summary.completion_seconds.last);
    assert!(efficiency <= 1.0, "faster than the bound: {efficiency}");
    assert!(efficiency >= 0.75, "the crowd took more than 1.35x T_min: efficiency {efficiency}");
    // Every piece leaves the one seed at least once before anyone can have the whole file, and
    // the seed sends no faster than its uplink.
    let seed = summary.bittorrent.as_ref().unwrap();
    let first_done = outcome.peers.iter().filter_map(|peer| peer.done_at).filter(|&at| at > 0).min().unwrap();
    let before = seed.seed_uploaded_bytes_before_first_completion;
    eprintln!("the seed sent {before} bytes before the first completion, at {first_done} ns");
    assert!(before >= 100 << 20, "the seed sent only {before} bytes before the first completion");
    assert!(before * 8 <= 10_000_000 * u128::from(first_done) / 1_000_000_000);
    assert!(seed.seed_all_out_seconds.unwrap() <= first_done as f64 / 1e9);
}

/// With a seed no faster than a leecher, what the seed sends first decides how soon the
/// swarm has every piece: rarest first (leechers take first the pieces their neighbours lack)
/// against random, over 10 seeds of the run.
#[test]
fn rarest_first_beats_random_when_the_seed_is_slow() {
    let (mut rarest, mut random) = ([0.0; 3], [0.0; 3]);
    let mut rarest_wins = 0;
    for seed in 1..=10 {
        let swarm = swarm(
            "20 MiB",
            "50 ms",
            &[("seed", 1, "1 Mbit/s", "100 Mbit/s", true), ("leecher", 100, "1 Mbit/s", "4 Mbit/s", false)],
            seed,
        );
        let figures = |pieces| {
            let (scenario, outcome) = run(&swarm, Policy { pieces, ..Policy::default() });
            let summary = summary(&scenario, &swarm, &outcome);
            assert!(summary.efficiency.unwrap() <= 1.0);
            let repeats = summary.bittorrent.as_ref().unwrap().seed_repeat_bytes_before_all_out as f64;
            [summary.completion_seconds.mean.unwrap(), summary.completion_seconds.last.unwrap(), repeats]
        };
        let (with_rarest, with_random) = (figures(PieceOrder::RarestFirst), figures(PieceOrder::Random));
        eprintln!("seed {seed}: rarest first {with_rarest:?}, random {with_random:?}");
        rarest_wins += (with_rarest[0] < with_random[0]) as u32;
        for figure in 0..3 {
            rarest[figure] += with_rarest[figure] / 10.0;
            random[figure] += with_random[figure] / 10.0;
        }
    }
    assert!(rarest[0] < random[0], "mean completion: rarest first {} s, random {} s", rarest[0], random[0]);
    assert!(rarest[1] < random[1], "last completion: rarest first {} s, random {} s", rarest[1], random[1]);
    assert!(rarest[2] < random[2], "seed's repeated bytes: rarest first {}, random {}", rarest[2], random[2]);
    assert!(rarest_wins >= 7, "rarest first had the lower mean in only {rarest_wins} of 10 runs");
}

/// Fast and slow leechers and free riders: tit-for-tat makes the fast upload more than they
/// get and the slow less, peers unchoke their own kind (clustering, after Legout et al. 2007),
/// the slow class finishes after the fast, and free riders last.
#[test]
fn tit_for_tat_rewards_uploaders_and_clusters_peers_by_speed() {
    for seed in 1..=3 {
        let swarm = swarm(
            "20 MiB",
            "50 ms",
            &[
                ("seed", 1, "10 Mbit/s", "100 Mbit/s", true),
                ("fast", 40, "4 Mbit/s", "16 Mbit/s", false),
                ("slow", 40, "512 kbit/s", "4 Mbit/s", false),
                ("free", 10, "0 bit/s", "4 Mbit/s", false),
            ],
            seed,
        );
        let (scenario, outcome) = run(&swarm, Policy::default());
        let summary = summary(&scenario, &swarm, &outcome);
        assert!(summary.efficiency.unwrap() <= 1.0);
        let [_, fast, slow, free] = &summary.classes[..] else { panic!("four classes") };
        let to = |class: &results::ClassSummary, name: &str| {
            class.regular_unchokes_to.as_ref().unwrap().iter().find(|share| share.class == name).unwrap().fraction
        };
        let (fast_ratio, slow_ratio) = (fast.share_ratio.unwrap(), slow.share_ratio.unwrap());
        let shares = [to(fast, "fast"), to(fast, "slow"), to(slow, "fast"), to(slow, "slow")];
        eprintln!("seed {seed}: share ratios fast {fast_ratio:.2}, slow {slow_ratio:.2}; unchokes {shares:.2?}");
        assert!(fast_ratio > 1.0, "seed {seed}: the fast class's share ratio is {fast_ratio}");
        assert!(slow_ratio < 1.0, "seed {seed}: the slow class's share ratio is {slow_ratio}");
        assert!(shares[0] > 0.5, "seed {seed}: the fast gave {} of their regular unchokes to the fast", shares[0]);
        // The slow also reciprocate the fast peers' optimistic unchokes, which bring them more
        // than a slow peer can: what shows their clustering is that they give the slow more
        // than the fast do.
        assert!(
            shares[3] > shares[1],
            "seed {seed}: the slow gave the slow {}, the fast gave them {}",
            shares[3],
            shares[1]
        );
        assert!(
            shares[0] > shares[2],
            "seed {seed}: the fast gave the fast {}, the slow gave them {}",
            shares[0],
            shares[2]
        );
        let mean = |class: &results::ClassSummary| class.mean_completion_seconds.unwrap();
        assert!(mean(fast) < mean(slow), "seed {seed}: the slow class finished first");
        assert!(mean(slow) < mean(free), "seed {seed}: free riders finished before the slow class");
        assert_eq!(free.uploaded_bytes, 0, "seed {seed}: free riders uploaded");
    }
}

/// Random small swarms under random settings: each finishes, respects the bounds, and gives
/// the same outcome on one thread and on three.
#[test]
fn random_swarms_under_random_policies_finish_within_the_bounds() {
    let mut rng = bitorrent::rng::Rng::new(2026);
    for case in 0..24 {
        let mut pick = |choices: &[&'static str]| choices[rng.below(choices.len() as u64) as usize];
        let size = pick(&["600 KiB", "2 MiB", "3 MiB"]);
        let latency = pick(&["1 ms", "20 ms", "150 ms"]);
        let leechers = pick(&["5", "17", "40"]).parse().unwrap();
        let fast = pick(&["2 Mbit/s", "8 Mbit/s"]);
        let classes = [
            ("seed", 1 + (case % 2), pick(&["1 Mbit/s", "10 Mbit/s"]), "50 Mbit/s", true),
            ("a", leechers, "1 Mbit/s", "4 Mbit/s", false),
            ("b", 1 + leechers / 3, fast, pick(&["3 Mbit/s", "20 Mbit/s"]), false),
        ];
        let swarm = swarm(size, latency, &classes, case.into());
        let policy = Policy {
            pieces: [PieceOrder::RarestFirst, PieceOrder::Random, PieceOrder::InOrder][case as usize % 3],
            random_first: [0, 4][case as usize % 2],
            endgame: case % 4 != 1,
            choke: if case % 5 == 2 {
                bitorrent::bt::policy::Choke::None
            } else {
                bitorrent::bt::policy::Choke::TitForTat
            },
            unchoke_slots: 1 + case % 4,
            optimistic_slots: case % 2,
            seed_choke: [SeedChoke::Mainline, SeedChoke::Libtorrent][(case / 2) as usize % 2],
            seed_quota: [20, 1][(case / 4) as usize % 2],
            requests_in_flight: 1 + case % 6,
            block: [16 * 1024, 64 * 1024, 5000][case as usize % 3],
            max_connections: [10, 80][case as usize % 2],
            overhead_ppm: [0, 50_000, 200_000][case as usize % 3],
            ..Policy::default()
        };
        let mut scenario = Scenario::from_swarm(&swarm, "test.toml");
        scenario.protocol = Protocol::BitTorrent(policy.clone());
        let one =
            simulate_split(&scenario, 1, None, &mut |_| {}).unwrap_or_else(|e| panic!("case {case}: {e}")).unwrap();
        let three = simulate_split(&scenario, 3, None, &mut |_| {}).unwrap().unwrap();
        assert_eq!(one, three, "case {case}: three threads differ from one");
        let summary = summary(&scenario, &swarm, &one);
        let efficiency = summary.efficiency.unwrap_or_else(|| panic!("case {case}: unfinished"));
        assert!(efficiency > 0.0 && efficiency <= 1.0, "case {case}: efficiency {efficiency}");
        for (index, peer) in one.peers.iter().enumerate() {
            let id = bitorrent::model::PeerId(index as u32 + 1);
            let bound = bitorrent::sim::theory::min_finish(&scenario, id).unwrap().ceil_nanos().unwrap();
            assert!(peer.done_at.unwrap() >= bound, "case {case}: peer {} beat its download", index + 1);
        }
    }
}
