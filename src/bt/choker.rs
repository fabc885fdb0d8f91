//! Whom a peer uploads to: mainline BitTorrent's choker.
//!
//! As a leecher (tit-for-tat): every rechoke, the `unchoke_slots` interested connections that
//! sent it the most bytes over the last two rechoke periods, snubbed ones left out, are
//! unchoked (regular unchokes); besides them `optimistic_slots` interested connections are
//! unchoked optimistically, a choice that rotates every `optimistic`: to the one that has waited
//! longest since its last optimistic unchoke (libtorrent), or at random with connections newer
//! than three rotations three times as likely (mainline). A snubbed connection (it sent nothing
//! for `snub` while the peer wanted something of it) gets only optimistic unchokes.
//!
//! As a seed (mainline 4.x, after Legout et al., "Rarest first and choke algorithms are
//! enough", 2006): the interested connections unchoked now are ranked by when they were
//! unchoked, latest first; in two rechokes out of three the first `slots - 1` stay and one
//! choked connection joins them, in the third the first `slots` stay. Mainline draws the
//! newcomer at random; here it is the one choked longest (ties at random), so that the seed's
//! upload goes round the swarm in turn (round robin) rather than to whoever downloads fastest.
//!
//! As a seed under libtorrent's rule (`seed_choke = "libtorrent"`; libtorrent 2.0's
//! `unchoke_compare_rr`, its default for seeds): the interested connections are ranked, and the
//! first `unchoke_slots` unchoked, with an optimistic unchoke rotating beside them as a
//! leecher's does. An unchoked connection that has been sent more than `seed_quota` pieces'
//! worth since its unchoke, and has been unchoked for over a minute, has had its turn and
//! comes last; before it, the others by the bytes sent to them in the last rechoke period (so
//! the unchoked keep their slots, a choked connection counting none), then the one unchoked
//! earliest or, among the choked, the one choked longest. So a seed serves a few peers at a
//! time, each for a minute at least, where mainline's rotates one slot in most rechokes.
//!
//! The choker only decides; the peer (`peer.rs`) keeps the connections and sends the chokes.

use smallvec::SmallVec;

use super::policy::{Choke, Nanos, Optimistic, Policy, SeedChoke};
use crate::rng::Rng;

/// What the choker needs to know of one connection.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub peer: u32,
    /// It wants something of this peer.
    pub interested: bool,
    /// Bytes it sent this peer over the last two rechoke periods.
    pub rate: u64,
    pub snubbed: bool,
    pub connected_at: Nanos,
    /// When its last optimistic unchoke ended (its connection, if it had none).
    pub waiting_since: Nanos,
    /// When its current unchoke began, if it is unchoked.
    pub unchoked_since: Option<Nanos>,
    /// When its last unchoke of any kind ended (its connection, if it had none).
    pub choked_since: Nanos,
    /// Payload bytes this peer sent it in the last rechoke period.
    pub sent_last_round: u64,
    /// Payload bytes this peer sent it since its current unchoke began (read only while it is
    /// unchoked).
    pub sent_since_unchoked: u64,
}

/// How long an unchoked connection keeps its slot under libtorrent's seed choker, at least.
const SEED_TURN: Nanos = 60_000_000_000;

/// The choker's decision: the connections to have unchoked, each regular or optimistic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unchoked {
    pub regular: SmallVec<[u32; 4]>,
    pub optimistic: SmallVec<[u32; 1]>,
}

impl Unchoked {
    pub fn contains(&self, peer: u32) -> bool {
        self.regular.contains(&peer) || self.optimistic.contains(&peer)
    }
}

/// A peer's choker: what it remembers between rechokes.
#[derive(Debug, Default)]
pub struct Choker {
    rechokes: u64,
    /// The optimistic unchokes, and when they were last chosen.
    optimistic: SmallVec<[u32; 1]>,
    rotated_at: Option<Nanos>,
}

impl Choker {
    pub fn new() -> Choker {
        Choker::default()
    }

    /// The unchokes from now to the next rechoke, for a leecher (`seed` false) or a seed of a
    /// file in pieces of `piece_bytes`; a peer that never uploads (a free rider) unchokes
    /// nobody.
    #[allow(clippy::too_many_arguments)]
    pub fn rechoke(
        &mut self,
        now: Nanos,
        seed: bool,
        uploads: bool,
        piece_bytes: u64,
        policy: &Policy,
        candidates: &[Candidate],
        rng: &mut Rng,
    ) -> Unchoked {
        self.rechokes += 1;
        if !uploads {
            return Unchoked::default();
        }
        let interested = candidates.iter().filter(|c| c.interested);
        match (policy.choke, seed, policy.seed_choke) {
            (Choke::None, ..) => {
                Unchoked { regular: interested.map(|c| c.peer).collect(), optimistic: SmallVec::new() }
            }
            (Choke::TitForTat, true, SeedChoke::Mainline) => self.round_robin(policy, candidates, rng),
            (Choke::TitForTat, true, SeedChoke::Libtorrent) => {
                let quota = u64::from(policy.seed_quota) * piece_bytes;
                let had_its_turn = |c: &Candidate| {
                    c.unchoked_since.is_some_and(|since| now.saturating_sub(since) > SEED_TURN)
                        && c.sent_since_unchoked > quota
                };
                let sent = |c: &Candidate| if c.unchoked_since.is_some() { c.sent_last_round } else { 0 };
                // Last, the earliest unchoked (the status quo), or the longest choked.
                let since = |c: &Candidate| c.unchoked_since.unwrap_or(c.choked_since);
                let rank = |c: &Candidate| (had_its_turn(c), std::cmp::Reverse(sent(c)), since(c));
                self.ranked_with_optimistic(now, policy, candidates, rng, |c| c.interested, rank)
            }
            (Choke::TitForTat, false, _) => {
                let eligible = |c: &Candidate| c.interested && !c.snubbed;
                self.ranked_with_optimistic(now, policy, candidates, rng, eligible, |c| std::cmp::Reverse(c.rate))
            }
        }
    }

    /// `unchoke_slots` regular unchokes, the `eligible` connections first by `rank` (ties at
    /// random), and the optimistic unchokes, rotated every `optimistic`: a leecher's
    /// tit-for-tat when ranked by rate.
    fn ranked_with_optimistic<K: Ord>(
        &mut self,
        now: Nanos,
        policy: &Policy,
        candidates: &[Candidate],
        rng: &mut Rng,
        eligible: impl Fn(&Candidate) -> bool,
        rank: impl Fn(&Candidate) -> K,
    ) -> Unchoked {
        let rotate = self.rotated_at.is_none_or(|at| now >= at + policy.optimistic);
        // Keep the optimistic choices that are still interested, unless it is time to rotate.
        let still = |peer: &u32| candidates.iter().any(|c| c.peer == *peer && c.interested);
        // Those whose optimistic turn ends now have waited least of all.
        let mut previous: SmallVec<[u32; 1]> = SmallVec::new();
        if rotate {
            previous = std::mem::take(&mut self.optimistic);
            self.rotated_at = Some(now);
        } else {
            self.optimistic.retain(|peer| still(peer));
        }
        // Regular slots: the first by rank among the eligible that are not optimistic; ties at
        // random (a shuffle before a stable sort).
        let mut ranked: SmallVec<[&Candidate; 16]> =
            candidates.iter().filter(|c| eligible(c) && !self.optimistic.contains(&c.peer)).collect();
        rng.shuffle(&mut ranked);
        ranked.sort_by_key(|c| rank(c));
        let regular: SmallVec<[u32; 4]> = ranked.iter().take(policy.unchoke_slots as usize).map(|c| c.peer).collect();
        // Optimistic slots: filled from the interested that have no regular slot.
        while self.optimistic.len() < policy.optimistic_slots as usize {
            let pool: SmallVec<[&Candidate; 16]> = candidates
                .iter()
                .filter(|c| c.interested && !regular.contains(&c.peer) && !self.optimistic.contains(&c.peer))
                .collect();
            let Some(chosen) = self.choose_optimistic(now, policy, &pool, &previous, rng) else { break };
            self.optimistic.push(chosen);
        }
        Unchoked { regular, optimistic: self.optimistic.clone() }
    }

    fn choose_optimistic(
        &self,
        now: Nanos,
        policy: &Policy,
        pool: &[&Candidate],
        previous: &[u32],
        rng: &mut Rng,
    ) -> Option<u32> {
        let waiting_since = |c: &Candidate| if previous.contains(&c.peer) { now } else { c.waiting_since };
        match policy.optimistic_rule {
            Optimistic::LongestWaiting => {
                let longest = pool.iter().map(|c| waiting_since(c)).min()?;
                let tied: SmallVec<[u32; 8]> =
                    pool.iter().filter(|c| waiting_since(c) == longest).map(|c| c.peer).collect();
                Some(tied[rng.below(tied.len() as u64) as usize])
            }
            Optimistic::Random => {
                // New connections (within three rotations) weigh 3, the others 1.
                let new = |c: &Candidate| now.saturating_sub(c.connected_at) < 3 * policy.optimistic;
                // The one whose turn just ended is drawn only when it is the only one.
                let weight = |c: &Candidate| match (previous.contains(&c.peer) && pool.len() > 1, new(c)) {
                    (true, _) => 0,
                    (false, true) => 3,
                    (false, false) => 1,
                };
                let total: u64 = pool.iter().map(|c| weight(c)).sum();
                if total == 0 {
                    return None;
                }
                let mut draw = rng.below(total);
                pool.iter().find_map(|c| {
                    let w = weight(c);
                    if draw < w {
                        Some(c.peer)
                    } else {
                        draw -= w;
                        None
                    }
                })
            }
        }
    }

    fn round_robin(&mut self, policy: &Policy, candidates: &[Candidate], rng: &mut Rng) -> Unchoked {
        let slots = (policy.unchoke_slots + policy.optimistic_slots) as usize;
        let mut unchoked: SmallVec<[&Candidate; 8]> =
            candidates.iter().filter(|c| c.interested && c.unchoked_since.is_some()).collect();
        // Latest unchoked first; ties at random.
        rng.shuffle(&mut unchoked);
        unchoked.sort_by_key(|c| std::cmp::Reverse(c.unchoked_since));
        let newcomer_turn = !self.rechokes.is_multiple_of(3);
        let keep = if newcomer_turn { slots.saturating_sub(1) } else { slots };
        let mut chosen: SmallVec<[u32; 4]> = unchoked.iter().take(keep).map(|c| c.peer).collect();
        // Fill what is left (one newcomer, or more when few were unchoked) from the choked
        // interested, longest choked first.
        let mut choked: SmallVec<[&Candidate; 16]> =
            candidates.iter().filter(|c| c.interested && c.unchoked_since.is_none()).collect();
        rng.shuffle(&mut choked);
        choked.sort_by_key(|c| c.choked_since);
        for candidate in choked {
            if chosen.len() == slots {
                break;
            }
            chosen.push(candidate.peer);
        }
        // Still room (every interested one is in): keep those the rotation would have let go.
        for candidate in unchoked.iter().skip(keep) {
            if chosen.len() < slots {
                chosen.push(candidate.peer);
            }
        }
        Unchoked { regular: chosen, optimistic: SmallVec::new() }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    const SECOND: Nanos = 1_000_000_000;
    const PIECE: u64 = 256 * 1024;

    fn candidate(peer: u32, rate: u64) -> Candidate {
        Candidate {
            peer,
            interested: true,
            rate,
            snubbed: false,
            connected_at: 0,
            waiting_since: 0,
            unchoked_since: None,
            choked_since: 0,
            sent_last_round: 0,
            sent_since_unchoked: 0,
        }
    }

    #[test]
    fn a_leecher_unchokes_its_three_best_senders_and_one_more() {
        let policy = Policy::default();
        let mut rng = Rng::new(1);
        let mut choker = Choker::new();
        let candidates: Vec<Candidate> = (1..=10).map(|peer| candidate(peer, u64::from(peer) * 1000)).collect();
        let unchoked = choker.rechoke(0, false, true, PIECE, &policy, &candidates, &mut rng);
        assert_eq!(unchoked.optimistic.len(), 1);
        let optimistic = unchoked.optimistic[0];
        let mut expected: Vec<u32> = (1..=10).rev().filter(|&p| p != optimistic).take(3).collect();
        expected.sort_unstable();
        let mut regular = unchoked.regular.to_vec();
        regular.sort_unstable();
        assert_eq!(regular, expected);
    }

    #[test]
    fn the_optimistic_unchoke_rotates_only_every_thirty_seconds() {
        let policy = Policy { unchoke_slots: 0, ..Policy::default() };
        let mut rng = Rng::new(2);
        let mut choker = Choker::new();
        let mut candidates: Vec<Candidate> = (1..=5).map(|peer| candidate(peer, 0)).collect();
        let first = choker.rechoke(0, false, true, PIECE, &policy, &candidates, &mut rng).optimistic[0];
        for at in [10, 20] {
            let now = at * SECOND;
            assert_eq!(choker.rechoke(now, false, true, PIECE, &policy, &candidates, &mut rng).optimistic[0], first);
        }
        // At 30 s it goes to one that has waited longer.
        candidates[first as usize - 1].waiting_since = 30 * SECOND;
        let next = choker.rechoke(30 * SECOND, false, true, PIECE, &policy, &candidates, &mut rng).optimistic[0];
        assert_ne!(next, first);
    }

    #[test]
    fn a_snubbed_peer_gets_no_regular_slot() {
        let policy = Policy { optimistic_slots: 0, ..Policy::default() };
        let mut rng = Rng::new(3);
        let mut choker = Choker::new();
        let mut candidates: Vec<Candidate> = (1..=4).map(|peer| candidate(peer, 5000)).collect();
        candidates[0].snubbed = true;
        let unchoked = choker.rechoke(0, false, true, PIECE, &policy, &candidates, &mut rng);
        assert!(!unchoked.contains(1));
        assert_eq!(unchoked.regular.len(), 3);
    }

    #[test]
    fn a_seed_rotates_its_slots_round_the_swarm() {
        let policy = Policy::default();
        let mut rng = Rng::new(4);
        let mut choker = Choker::new();
        let mut candidates: Vec<Candidate> = (1..=20).map(|peer| candidate(peer, 0)).collect();
        let mut served = std::collections::BTreeSet::new();
        for round in 0..30u64 {
            let now = round * 10 * SECOND;
            let unchoked = choker.rechoke(now, true, true, PIECE, &policy, &candidates, &mut rng);
            assert_eq!(unchoked.regular.len(), 4, "a seed fills its 4 slots");
            for c in &mut candidates {
                let on = unchoked.contains(c.peer);
                c.unchoked_since = match (on, c.unchoked_since) {
                    (true, Some(since)) => Some(since),
                    (true, None) => Some(now),
                    (false, Some(_)) => {
                        c.choked_since = now;
                        None
                    }
                    (false, None) => None,
                };
            }
            served.extend(unchoked.regular.iter().copied());
        }
        assert_eq!(served.len(), 20, "in 300 s every one of 20 got a turn");
    }

    /// Rechokes a seed under libtorrent's rule every 10 s for `rounds`, each unchoked connection
    /// being sent `per_round` bytes a round; returns, by round, the regular unchokes (sorted).
    fn libtorrent_seed(policy: &Policy, peers: u32, per_round: u64, rounds: u64) -> Vec<Vec<u32>> {
        let mut rng = Rng::new(6);
        let mut choker = Choker::new();
        let mut candidates: Vec<Candidate> = (1..=peers).map(|peer| candidate(peer, 0)).collect();
        let mut regular_by_round = Vec::new();
        for round in 0..rounds {
            let now = round * 10 * SECOND;
            let unchoked = choker.rechoke(now, true, true, PIECE, policy, &candidates, &mut rng);
            for c in &mut candidates {
                match (unchoked.contains(c.peer), c.unchoked_since) {
                    (true, None) => {
                        c.unchoked_since = Some(now);
                        c.sent_since_unchoked = 0;
                    }
                    (false, Some(_)) => {
                        c.unchoked_since = None;
                        c.choked_since = now;
                        c.sent_since_unchoked = 0;
                    }
                    _ => {}
                }
                // The round to come: what the unchoked are sent.
                c.sent_last_round = if c.unchoked_since.is_some() { per_round } else { 0 };
                c.sent_since_unchoked += c.sent_last_round;
            }
            let mut regular = unchoked.regular.to_vec();
            regular.sort_unstable();
            regular_by_round.push(regular);
        }
        regular_by_round
    }

    #[test]
    fn libtorrents_seed_keeps_a_slot_for_its_quota_and_a_minute_then_rotates() {
        // The optimistic unchoke aside (a leecher's, tested above).
        let policy =
            Policy { seed_choke: SeedChoke::Libtorrent, seed_quota: 20, optimistic_slots: 0, ..Policy::default() };
        // 1.5 MiB a round: the quota (20 pieces of 256 KiB, 5 MiB) is passed in the fourth
        // round, the minute after the sixth; so each slot is held for exactly seven rounds.
        let rounds = libtorrent_seed(&policy, 12, 3 * PIECE * 2, 43);
        for (round, regular) in rounds.iter().enumerate() {
            assert_eq!(regular.len(), 3, "round {round}: the 3 regular slots filled");
        }
        let mut held: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (round, regular) in rounds.iter().enumerate() {
            for &peer in regular {
                held.entry(peer).or_default().push(round);
            }
        }
        for (peer, turns) in &held {
            // Turns are runs of consecutive rounds; every complete one is seven rounds long.
            let mut runs = vec![1usize];
            for pair in turns.windows(2) {
                if pair[1] == pair[0] + 1 {
                    *runs.last_mut().unwrap() += 1;
                } else {
                    runs.push(1);
                }
            }
            let complete = &runs[..runs.len() - usize::from(turns.last() == Some(&42))];
            assert!(complete.iter().all(|&run| run == 7), "peer {peer}: turns of {runs:?} rounds");
        }
        assert_eq!(held.len(), 12, "in 430 s every one of 12 got a regular turn");

        // Sent too little to pass the quota, an unchoked peer keeps its slot however long.
        let slow = libtorrent_seed(&policy, 12, PIECE / 4, 30);
        assert!(slow.iter().all(|regular| *regular == slow[0]), "the same 3 throughout: {slow:?}");
    }

    #[test]
    fn a_free_rider_unchokes_nobody() {
        let mut choker = Choker::new();
        let candidates: Vec<Candidate> = (1..=5).map(|peer| candidate(peer, 10)).collect();
        let unchoked = choker.rechoke(0, false, false, PIECE, &Policy::default(), &candidates, &mut Rng::new(5));
        assert_eq!(unchoked, Unchoked::default());
    }
}
