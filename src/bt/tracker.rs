//! A BitTorrent tracker: it knows who has announced, and answers an announce with some of them,
//! drawn at random (as real trackers do, 50 at most by default). The course protocol's tracker
//! (`crate::tracker`) also keeps who holds which segment; here pieces are the peers' business.

use crate::rng::Rng;

pub struct Tracker {
    /// Everyone who has announced, in the order they first did.
    members: Vec<u32>,
    /// By peer id: announced already.
    known: Vec<bool>,
    rng: Rng,
    peer_set: usize,
}

impl Tracker {
    /// A tracker for peers `1..=peers`, answering with at most `peer_set` of them; its draws
    /// come from a stream of `seed` of its own.
    pub fn new(peers: u32, peer_set: u32, seed: u64) -> Tracker {
        Tracker {
            members: Vec::new(),
            known: vec![false; peers as usize + 1],
            rng: Rng::derive(seed, u64::MAX),
            peer_set: peer_set as usize,
        }
    }

    /// `from` announces: it joins the swarm, and gets up to `peer_set` other members, each at
    /// most once, drawn uniformly.
    pub fn announce(&mut self, from: u32) -> Box<[u32]> {
        if !std::mem::replace(&mut self.known[from as usize], true) {
            self.members.push(from);
        }
        let others = self.members.len() - 1;
        if others <= self.peer_set {
            return self.members.iter().copied().filter(|&m| m != from).collect();
        }
        // Fewer draws than members: draw indexes until enough distinct others are in, the
        // asker's own skipped. Expected draws stay near `peer_set` while it is small beside
        // the swarm, and at most about twice that when they are close.
        let mut chosen: Vec<u32> = Vec::with_capacity(self.peer_set);
        while chosen.len() < self.peer_set {
            let member = self.members[self.rng.below(self.members.len() as u64) as usize];
            if member != from && !chosen.contains(&member) {
                chosen.push(member);
            }
        }
        chosen.into_boxed_slice()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn answers_are_distinct_others_and_at_most_the_peer_set() {
        let mut tracker = Tracker::new(200, 50, 7);
        assert!(tracker.announce(1).is_empty(), "the first to come finds nobody");
        assert_eq!(&*tracker.announce(2), &[1]);
        for peer in 3..=200 {
            let answer = tracker.announce(peer);
            assert_eq!(answer.len(), (peer as usize - 1).min(50));
            assert!(answer.iter().all(|&m| m != peer && m < peer));
            let mut sorted = answer.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), answer.len(), "no member twice");
        }
        // Announcing again does not join twice.
        let again = tracker.announce(5);
        assert_eq!(again.len(), 50);
        assert!(!again.contains(&5));
    }
}
