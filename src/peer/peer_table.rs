//! Per-peer figures in a vector indexed by peer id: the scheduler looks several up for every
//! holder of every request it makes, and peer ids are small and dense (they are ranks).

use crate::model::PeerId;

#[derive(Debug, Clone, Default)]
pub struct PeerTable<T> {
    rows: Vec<T>,
}

impl<T: Default + Clone> PeerTable<T> {
    pub fn new() -> Self {
        PeerTable { rows: Vec::new() }
    }

    /// The row of `peer`, or the default for a peer never written.
    pub fn get(&self, peer: PeerId) -> T {
        self.rows.get(peer.index()).cloned().unwrap_or_default()
    }

    /// The row of `peer`, if it was ever made; borrowed, for rows too big to copy.
    pub fn peek(&self, peer: PeerId) -> Option<&T> {
        self.rows.get(peer.index())
    }

    /// The row of `peer`, made (with every row before it) if it was never written.
    pub fn row(&mut self, peer: PeerId) -> &mut T {
        if peer.index() >= self.rows.len() {
            self.rows.resize(peer.index() + 1, T::default());
        }
        &mut self.rows[peer.index()]
    }

    /// Every row written or made so far, with its peer.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &T)> {
        self.rows.iter().enumerate().map(|(index, row)| (PeerId(index as u32), row))
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
}
