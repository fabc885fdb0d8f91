//! BitTorrent's algorithms in the simulation, held against what is published about them: a
//! homogeneous flash crowd near the bound, rarest first against random with a slow seed,
//! tit-for-tat's reciprocation and clustering in a swarm of two speeds, free riders last.
//! Stochastic claims are checked over several seeds.

use bitorrent::bt::policy::{PieceOrder, Policy};
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
}

#[test]
fn explore() {
    for seed in 1..=3 {
        let s = swarm(
            "20 MiB",
            "50 ms",
            &[("seed", 1, "1 Mbit/s", "100 Mbit/s", true), ("leecher", 100, "1 Mbit/s", "4 Mbit/s", false)],
            seed,
        );
        for pieces in [PieceOrder::RarestFirst, PieceOrder::Random] {
            let (scenario, outcome) = run(&s, Policy { pieces, ..Policy::default() });
            let sum = summary(&scenario, &s, &outcome);
            let bt = sum.bittorrent.as_ref().unwrap();
            eprintln!(
                "slow seed {seed} {pieces:?}: mean {:?} last {:?} repeat {} allout {:?} interest {:?}",
                sum.completion_seconds.mean,
                sum.completion_seconds.last,
                bt.seed_repeat_bytes_before_all_out,
                bt.seed_all_out_seconds,
                bt.mean_interest_fraction
            );
        }
        let s = swarm(
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
        let (scenario, outcome) = run(&s, Policy::default());
        let sum = summary(&scenario, &s, &outcome);
        for c in &sum.classes {
            eprintln!(
                "classes {seed} {}: mean {:?} share {:?} unchokes {:?}",
                c.name,
                c.mean_completion_seconds,
                c.share_ratio,
                c.regular_unchokes_to
                    .as_ref()
                    .map(|v| v.iter().map(|s| (s.class, (s.fraction * 100.0).round())).collect::<Vec<_>>())
            );
        }
        eprintln!("eff {:?}", sum.efficiency);
    }
}
