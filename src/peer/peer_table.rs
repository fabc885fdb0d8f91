//! Per-peer figures, for the few peers one peer deals with: the holders it asks, out of a swarm
//! that may have thousands (the simulated engine's). Kept sorted by peer id: a lookup counts the
//! ids below the one sought in a handful of rows (a binary search beyond `COUNTED`), and memory
//! follows the peers dealt with, not the largest id among them.
//!
//! The ids are a vector of their own, beside the rows: a search then reads a line or two of ids
//! instead of walking rows of a hundred bytes (a holder's row holds its bitfield), and touches
//! one row, the one found. With ids and rows together, the searches were a tenth of the
//! simulated engine's time, nearly all of it waiting on memory (`make bench-sim`).

use crate::model::PeerId;
use crate::prefetch;

/// Up to this many ids a row is found by counting the ids below it, beyond by a binary search.
const COUNTED: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct PeerTable<T> {
    /// Sorted, each at most once.
    ids: Vec<PeerId>,
    /// `rows[i]` is the row of `ids[i]`.
    rows: Vec<T>,
}

impl<T: Default + Clone> PeerTable<T> {
    pub fn new() -> Self {
        PeerTable { ids: Vec::new(), rows: Vec::new() }
    }

    /// An empty table with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        PeerTable { ids: Vec::with_capacity(rows), rows: Vec::with_capacity(rows) }
    }

    fn find(&self, peer: PeerId) -> Result<usize, usize> {
        if self.ids.len() > COUNTED {
            return self.ids.binary_search(&peer);
        }
        // Where it is or would go: the number of ids below it, counted over all of them at
        // once. A binary search's steps each wait on the one before (a select on each compare),
        // and every request of the simulated engine makes two searches for each holder it
        // could ask; a count of a few ids is a handful of vector instructions.
        let at = self.ids.iter().filter(|id| id.0 < peer.0).count();
        if self.ids.get(at) == Some(&peer) { Ok(at) } else { Err(at) }
    }

    /// The row of `peer`, or the default for a peer never written.
    pub fn get(&self, peer: PeerId) -> T {
        self.peek(peer).cloned().unwrap_or_default()
    }

    /// The row of `peer`, if it was ever made; borrowed, for rows too big to copy.
    pub fn peek(&self, peer: PeerId) -> Option<&T> {
        self.find(peer).ok().map(|at| &self.rows[at])
    }

    /// The row of `peer`, made (with the default) if it was never written.
    pub fn row(&mut self, peer: PeerId) -> &mut T {
        let at = match self.find(peer) {
            Ok(at) => at,
            Err(at) => {
                // Grown by a few rows, and only when full, not doubled: a table holds some ten
                // rows, and a simulated peer keeps several; doubling left a third of their room
                // unused. (Asked for an eighth more room at every new row, full or not, a table
                // was reallocated at nearly every row once it had grown: three quarters of a
                // run's reallocations, each a copy of its rows and, beyond a kilobyte, a sweep
                // of glibc's lists of small free blocks.)
                if self.rows.len() == self.rows.capacity() {
                    let more = 4 + self.rows.len() / 8;
                    self.ids.reserve_exact(more);
                    self.rows.reserve_exact(more);
                }
                self.ids.insert(at, peer);
                self.rows.insert(at, T::default());
                at
            }
        };
        &mut self.rows[at]
    }

    /// Asks for its ids and rows, without waiting for them (`crate::prefetch`).
    pub fn warm(&self) {
        prefetch::slice(&self.ids);
        prefetch::slice(&self.rows);
    }

    /// Every row made so far, with its peer, in peer order.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &T)> {
        self.ids.iter().copied().zip(&self.rows)
    }

    /// Keeps only the rows `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(PeerId, &T) -> bool) {
        let mut kept = 0;
        for at in 0..self.ids.len() {
            if keep(self.ids[at], &self.rows[at]) {
                self.ids.swap(kept, at);
                self.rows.swap(kept, at);
                kept += 1;
            }
        }
        self.ids.truncate(kept);
        self.rows.truncate(kept);
    }

    pub fn rows_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.rows.iter_mut()
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
    fn retain_keeps_the_rows_asked_for_in_order() {
        let mut table: PeerTable<u32> = PeerTable::new();
        for peer in [9, 2, 7, 4, 5] {
            *table.row(PeerId(peer)) = peer * 10;
        }
        table.retain(|peer, _| peer.0 != 4 && peer.0 != 9);
        let rows: Vec<(u32, u32)> = table.iter().map(|(peer, &row)| (peer.0, row)).collect();
        assert_eq!(rows, vec![(2, 20), (5, 50), (7, 70)]);
        *table.row(PeerId(6)) = 60;
        assert_eq!(table.get(PeerId(6)), 60);
        assert_eq!(table.get(PeerId(7)), 70);
    }

    #[test]
    fn rows_are_found_whether_counted_or_searched() {
        // Small tables are counted, large ones searched: both against a map, as they grow
        // across the boundary.
        let mut rng = crate::rng::Rng::derive(5, 6);
        let mut table: PeerTable<u64> = PeerTable::new();
        let mut expected = std::collections::BTreeMap::new();
        for step in 0..400u64 {
            let peer = PeerId((rng.next_u64() % 120) as u32);
            *table.row(peer) += step;
            *expected.entry(peer).or_insert(0) += step;
            let probe = PeerId((rng.next_u64() % 130) as u32);
            assert_eq!(table.peek(probe), expected.get(&probe), "{probe:?} in {} rows", table.ids.len());
        }
        assert!(table.ids.len() > 2 * COUNTED, "the table grew past the counted size");
        assert_eq!(
            table.iter().map(|(peer, &row)| (peer, row)).collect::<Vec<_>>(),
            expected.into_iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_growing_table_is_reallocated_now_and_then_not_at_every_row() {
        let mut table: PeerTable<u64> = PeerTable::new();
        let (mut growths, mut capacity) = (0, 0);
        for peer in 0..40 {
            *table.row(PeerId(peer)) = 1;
            if table.rows.capacity() != capacity {
                growths += 1;
                capacity = table.rows.capacity();
            }
        }
        assert!(growths <= 8, "40 rows, {growths} reallocations");
        assert!(capacity <= 40 + 40 / 8 + 4 + 1, "room for {capacity} rows, 40 made");
        assert_eq!(table.iter().count(), 40, "every row made is kept");
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
