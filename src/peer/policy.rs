//! The choices a downloader makes, behind small traits so that new policies (rarest-first,
//! endgame, choking) slot in without touching the actors.

use std::collections::VecDeque;

use crate::model::PeerId;
use crate::rng::Rng;

/// Which segments to ask for, in what order.
pub trait PiecePolicy: Send {
    /// The order in which to request the `segments` segments of a newly started file.
    fn order(&mut self, segments: u32) -> VecDeque<u32>;
}

/// Segments in file order, first to last.
pub struct InOrder;

impl PiecePolicy for InOrder {
    fn order(&mut self, segments: u32) -> VecDeque<u32> {
        (0..segments).collect()
    }
}

/// Segments in a random order from the run's seed: partial holders then hold different
/// segments, so they can serve each other.
pub struct RandomOrder(pub Rng);

impl PiecePolicy for RandomOrder {
    fn order(&mut self, segments: u32) -> VecDeque<u32> {
        let mut order: Vec<u32> = (0..segments).collect();
        self.0.shuffle(&mut order);
        order.into()
    }
}

/// What the downloader knows of one holder that could serve a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub peer: PeerId,
    /// Holds the whole file (a seed); a partial holder may refuse.
    pub seed: bool,
    /// The holder's own figure for its load (segments it has handed out), from its last reply.
    pub reported_load: u32,
    /// Requests this downloader has outstanding with the holder now.
    pub in_flight: u32,
    /// Segments of this file the holder has given this downloader or is asked for now.
    pub given: u32,
    /// The holder refused lately and is set aside for now: a partial holder that said no will
    /// likely say no again soon.
    pub set_aside: bool,
}

/// Which holder to ask.
pub trait HolderPolicy: Send {
    /// One of `candidates` (never empty), by index. `share_cap` is the most segments of the
    /// file one holder should give when others can (half the file).
    fn choose(&mut self, candidates: &[Candidate], share_cap: u32) -> usize;
}

/// The least busy holder: the fewest segments handed out, counting the asker's own requests in
/// flight to it as load already. Ties go round-robin, so equal holders share evenly.
///
/// Two preferences come first. Holders not set aside for refusing lately (a refusal costs a
/// round trip, and a partial holder that said no will likely say no again);
/// then holders that have given less than `share_cap` segments of this file, so that one file
/// is not taken mostly from one source (a holder little loaded overall could otherwise serve a
/// whole file). Each is only a preference: when the only holder left is over its share, or has
/// refused before, it is still asked.
pub struct LeastBusy {
    turn: usize,
}

impl LeastBusy {
    pub fn new() -> LeastBusy {
        LeastBusy { turn: 0 }
    }

    /// Smaller is better.
    fn rank(candidate: &Candidate, share_cap: u32) -> (bool, bool, u64) {
        (candidate.set_aside, candidate.given >= share_cap, candidate.reported_load as u64 + candidate.in_flight as u64)
    }
}

impl Default for LeastBusy {
    fn default() -> Self {
        LeastBusy::new()
    }
}

impl HolderPolicy for LeastBusy {
    fn choose(&mut self, candidates: &[Candidate], share_cap: u32) -> usize {
        best_in_turn(&mut self.turn, candidates, |candidate| Self::rank(candidate, share_cap))
    }
}

/// The candidate of smallest rank; ties go to the first met scanning from a start that moves on
/// one place each choice (wrapping round), so that equals take turns.
fn best_in_turn<R: Ord>(turn: &mut usize, candidates: &[Candidate], rank: impl Fn(&Candidate) -> R) -> usize {
    *turn = turn.wrapping_add(1);
    let start = *turn % candidates.len();
    // Strict `<` keeps the first of equals met. (One division a choice, not one a candidate:
    // this runs for every request.)
    let mut best = start;
    let mut best_rank = rank(&candidates[start]);
    for index in (start + 1..candidates.len()).chain(0..start) {
        let candidate_rank = rank(&candidates[index]);
        if candidate_rank < best_rank {
            best = index;
            best_rank = candidate_rank;
        }
    }
    best
}

/// The holder with the fewest of this downloader's requests out to it: requests spread over
/// the holders, and a fast holder, which answers sooner, is asked again sooner, so each is used
/// at its own speed (a BitTorrent client pipelines requests per connection the same way). Ties go
/// round-robin. Holders set aside for refusing lately come last, then those over their share.
#[derive(Default)]
pub struct FewestInFlight {
    turn: usize,
}

impl FewestInFlight {
    pub fn new() -> FewestInFlight {
        FewestInFlight::default()
    }

    /// Smaller is better.
    fn rank(candidate: &Candidate, share_cap: u32) -> (bool, bool, u32) {
        (candidate.set_aside, candidate.given >= share_cap, candidate.in_flight)
    }
}

impl HolderPolicy for FewestInFlight {
    fn choose(&mut self, candidates: &[Candidate], share_cap: u32) -> usize {
        best_in_turn(&mut self.turn, candidates, |candidate| Self::rank(candidate, share_cap))
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    fn candidate(peer: u32, reported_load: u32, in_flight: u32) -> Candidate {
        Candidate { peer: PeerId(peer), seed: true, reported_load, in_flight, given: 0, set_aside: false }
    }

    const NO_CAP: u32 = u32::MAX;

    #[test]
    fn a_holder_over_its_share_of_the_file_is_asked_only_if_no_other_can_be() {
        let mut policy = LeastBusy::default();
        let over = Candidate { given: 50, ..candidate(1, 0, 0) };
        let busy = candidate(2, 500, 3);
        assert_eq!(policy.choose(&[over, busy], 50), 1);
        assert_eq!(policy.choose(&[over], 50), 0);
    }

    #[test]
    fn a_holder_that_refused_comes_after_the_others_even_those_over_their_share() {
        let mut policy = LeastBusy::default();
        let refused = Candidate { set_aside: true, ..candidate(1, 0, 0) };
        assert_eq!(policy.choose(&[refused, candidate(2, 40, 0)], NO_CAP), 1);
        let over = Candidate { given: 50, ..candidate(3, 0, 0) };
        assert_eq!(policy.choose(&[refused, over], 50), 1);
    }

    #[test]
    fn the_least_busy_holder_is_chosen() {
        let mut policy = LeastBusy::default();
        let candidates = [candidate(1, 10, 0), candidate(2, 3, 1), candidate(3, 5, 0)];
        for _ in 0..5 {
            assert_eq!(policy.choose(&candidates, NO_CAP), 1);
        }
    }

    #[test]
    fn in_flight_requests_count_as_load() {
        let mut policy = LeastBusy::default();
        let candidates = [candidate(1, 2, 3), candidate(2, 4, 0)];
        assert_eq!(policy.choose(&candidates, NO_CAP), 1);
    }

    #[test]
    fn equal_holders_take_turns() {
        let mut policy = LeastBusy::default();
        let candidates = [candidate(1, 0, 0), candidate(2, 0, 0), candidate(3, 0, 0)];
        let mut seen = [0; 3];
        for _ in 0..30 {
            seen[policy.choose(&candidates, NO_CAP)] += 1;
        }
        assert_eq!(seen, [10, 10, 10]);
    }

    #[test]
    fn fewest_in_flight_spreads_requests_and_ignores_counts_handed_out() {
        let mut policy = FewestInFlight::new();
        // A seed that has handed out far more is still asked when fewer requests are out to it.
        let (seed, partial) = (candidate(1, 900, 1), candidate(2, 3, 2));
        assert_eq!(policy.choose(&[seed, partial], NO_CAP), 0);
        let refused = Candidate { set_aside: true, ..candidate(3, 0, 0) };
        assert_eq!(policy.choose(&[refused, partial], NO_CAP), 1, "a holder that refused lately comes last");
        let mut seen = [0; 3];
        for _ in 0..30 {
            seen[policy.choose(&[candidate(1, 5, 0), candidate(2, 0, 0), candidate(3, 9, 0)], NO_CAP)] += 1;
        }
        assert_eq!(seen, [10, 10, 10], "equals take turns");
    }

    #[test]
    fn piece_orders_cover_every_segment_once() {
        assert_eq!(InOrder.order(4), VecDeque::from(vec![0, 1, 2, 3]));
        let mut random = RandomOrder(Rng::new(3));
        let mut order: Vec<u32> = random.order(100).into();
        order.sort();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }
}
