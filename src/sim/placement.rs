//! Which shard each peer lives on, and where in its shard's tables.
//!
//! A run splits its peers over shards (`--threads` workers in each of the job's MPI ranks), and a
//! shard keeps each of its peers' state in rows of its own tables. Peer `k` (from 1) lives on
//! shard `(k - 1) % S`, in row `(k - 1) / S + 1`; row 0 is the tracker's, which lives on shard 0.
//! Round robin rather than blocks: a swarm file numbers its classes in order, so blocks would put
//! every seed on the first shard and every free rider on the last.

/// Where peers live, for a run split over `shards` shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    shards: u32,
    /// `ceil(2^64 / shards)`, so that a division by `shards` is a multiplication (below); 0
    /// for one shard, which needs none.
    reciprocal: u64,
}

impl Placement {
    pub fn new(shards: u32) -> Placement {
        assert!(shards > 0, "a run has at least one shard");
        let reciprocal = if shards == 1 { 0 } else { u64::MAX / u64::from(shards) + 1 };
        Placement { shards, reciprocal }
    }

    /// `id / shards`. Every event asks for its peer's row several times, and a division was a
    /// few percent of the event loop: the reciprocal's high product is exact for every 32-bit
    /// dividend (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019).
    fn divide(self, id: u32) -> u32 {
        if self.shards == 1 { id } else { ((u128::from(self.reciprocal) * u128::from(id)) >> 64) as u32 }
    }

    /// Everything on one shard.
    pub fn whole() -> Placement {
        Placement::new(1)
    }

    pub fn shards(self) -> u32 {
        self.shards
    }

    /// The shard peer `id` lives on (the tracker, id 0, on shard 0).
    pub fn shard_of(self, id: u32) -> u32 {
        if id == 0 { 0 } else { (id - 1) - self.divide(id - 1) * self.shards }
    }

    /// Its row in its shard's tables.
    pub fn slot(self, id: u32) -> usize {
        if id == 0 { 0 } else { self.divide(id - 1) as usize + 1 }
    }

    /// The peers of `shard` among peers `1..=peers`, in order of id (and so of row, from 1).
    pub fn peers_of(self, shard: u32, peers: u32) -> impl Iterator<Item = u32> {
        (shard + 1..=peers).step_by(self.shards as usize)
    }

    /// The rows `shard` needs for peers `1..=peers`: the tracker's, and one a peer.
    pub fn slots(self, shard: u32, peers: u32) -> usize {
        self.peers_of(shard, peers).count() + 1
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn the_division_by_multiplication_is_exact() {
        let mut rng = crate::rng::Rng::derive(1, 2);
        for shards in [1, 2, 3, 5, 7, 64, 1000, 65_537, u32::MAX / 3, u32::MAX] {
            let placement = Placement::new(shards);
            let edges = [0, 1, shards - 1, shards, shards.wrapping_add(1), u32::MAX - 1, u32::MAX];
            let drawn = (0..10_000).map(|_| rng.next_u64() as u32);
            for id in edges.into_iter().chain(drawn) {
                assert_eq!(placement.divide(id), id / shards, "{id} / {shards}");
            }
        }
    }

    #[test]
    fn every_peer_has_one_shard_and_a_row_of_its_own_there() {
        for shards in 1..=5 {
            let placement = Placement::new(shards);
            let peers = 23;
            let mut seen = vec![false; peers as usize + 1];
            for shard in 0..shards {
                let ids: Vec<u32> = placement.peers_of(shard, peers).collect();
                assert_eq!(placement.slots(shard, peers), ids.len() + 1);
                for (row, &id) in ids.iter().enumerate() {
                    assert_eq!(placement.shard_of(id), shard);
                    assert_eq!(placement.slot(id), row + 1, "rows follow ids");
                    assert!(!std::mem::replace(&mut seen[id as usize], true), "peer {id} twice");
                }
            }
            assert!(seen[1..].iter().all(|&seen| seen), "{shards} shards: a peer on none");
            assert_eq!((placement.shard_of(0), placement.slot(0)), (0, 0), "the tracker");
        }
    }
}
