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
}

impl Placement {
    pub fn new(shards: u32) -> Placement {
        assert!(shards > 0, "a run has at least one shard");
        Placement { shards }
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
        if id == 0 { 0 } else { (id - 1) % self.shards }
    }

    /// Its row in its shard's tables.
    pub fn slot(self, id: u32) -> usize {
        if id == 0 { 0 } else { ((id - 1) / self.shards) as usize + 1 }
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
