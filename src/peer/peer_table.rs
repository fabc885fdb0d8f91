//! Per-peer figures, for the few peers one peer deals with: the holders it asks, out of a swarm
//! that may have thousands (the simulated engine's). Kept sorted by peer id in one vector: a
//! lookup is a binary search over a handful of rows, and memory follows the peers dealt with,
//! not the largest id among them.

use crate::model::PeerId;

#[derive(Debug, Clone, Default)]
pub struct PeerTable<T> {
    /// Sorted by peer id, each at most once.
    rows: Vec<(PeerId, T)>,
}

impl<T: Default + Clone> PeerTable<T> {
    pub fn new() -> Self {
        PeerTable { rows: Vec::new() }
    }

    fn find(&self, peer: PeerId) -> Result<usize, usize> {
        self.rows.binary_search_by_key(&peer, |(id, _)| *id)
    }

    /// The row of `peer`, or the default for a peer never written.
    pub fn get(&self, peer: PeerId) -> T {
        self.peek(peer).cloned().unwrap_or_default()
    }

    /// The row of `peer`, if it was ever made; borrowed, for rows too big to copy.
    pub fn peek(&self, peer: PeerId) -> Option<&T> {
        self.find(peer).ok().map(|at| &self.rows[at].1)
    }

    /// The row of `peer`, made (with the default) if it was never written.
    pub fn row(&mut self, peer: PeerId) -> &mut T {
        let at = match self.find(peer) {
            Ok(at) => at,
            Err(at) => {
                self.rows.insert(at, (peer, T::default()));
                at
            }
        };
        &mut self.rows[at].1
    }

    /// Every row made so far, with its peer, in peer order.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &T)> {
        self.rows.iter().map(|(peer, row)| (*peer, row))
    }

    pub fn rows_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.rows.iter_mut().map(|(_, row)| row)
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn rows_default_until_written_and_grow_on_demand() {
        let mut table: PeerTable<u32> = PeerTable::new();
        assert_eq!(table.get(PeerId(7)), 0);
        *table.row(PeerId(3)) += 2;
        assert_eq!(table.get(PeerId(3)), 2);
        assert_eq!(table.get(PeerId(2)), 0);
        assert_eq!(table.iter().filter(|&(_, &count)| count > 0).collect::<Vec<_>>(), vec![(PeerId(3), &2)]);
    }

    #[test]
    fn rows_stay_in_peer_order_and_cost_only_the_peers_written() {
        let mut table: PeerTable<u32> = PeerTable::new();
        for peer in [90_000, 5, 700, 5, 1] {
            *table.row(PeerId(peer)) += 1;
        }
        let rows: Vec<(u32, u32)> = table.iter().map(|(peer, &count)| (peer.0, count)).collect();
        assert_eq!(rows, vec![(1, 1), (5, 2), (700, 1), (90_000, 1)]);
        assert!(table.rows.capacity() < 16, "a row per peer written, not per id below");
    }
}
