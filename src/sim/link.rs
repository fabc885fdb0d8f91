//! One direction of a peer's access link (its uplink or its downlink) in simulated time.
//!
//! The model: a link of capacity `C` bits per second shares it equally among its *flows* at each
//! instant (processor sharing), a flow being one connection: the uploads to one receiver, on an
//! uplink; the downloads from one sender, on a downlink. Within a flow, transfers go one after
//! the other, as pieces do on a TCP connection. With `n` flows busy, each moves at `C / n`; a
//! transfer of `b` bits on a link of its own takes `b / C`.
//!
//! Tracked in *virtual time*, as fair-queueing schedulers do: `service` is what each busy flow has
//! received since the link was made, and it grows at `C / n` per second. A transfer that starts
//! when the service stands at `s` finishes when it reaches `s + b`, its finish tag, whatever
//! comes and goes meanwhile; the next transfer of its flow then starts from that tag. So a
//! change in the number of flows costs no work on the others, and the link has one pending
//! event: its next completion, the smallest tag.
//!
//! Everything is an integer (DESIGN.md: no floats in what orders events). Service is counted in
//! bit-nanoseconds per second (bits times 10^9), so that `C * dt` with `dt` in nanoseconds needs
//! no division but the one by `n`, which rounds down: a transfer is never served faster than its
//! share. A completion time rounds up, for the same reason.

use smallvec::SmallVec;

/// Simulated time: nanoseconds since the start of the run.
pub type Nanos = u64;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// A transfer on a link, named by its owner (the engine's own numbering).
pub type TransferId = u32;

/// A flow on a link: the peer at the other end.
pub type FlowId = u32;

/// In C's layout, so that what every event reads comes first, in this order: the network puts
/// its own bookkeeping just before it, within the same 64 bytes (`network::Port`).
#[derive(Debug)]
#[repr(C)]
pub struct Link {
    /// Bits per second. Zero is a link that never moves anything (a peer that uploads nothing).
    capacity: u64,
    /// When `service` was last brought up to date.
    updated_at: Nanos,
    /// What each busy flow has received so far, in bits times 10^9.
    service: u128,
    /// The busy flows, each with the finish tag of the transfer it is sending, in finishing
    /// order (`BusyFlow::order`): the first finishes next. Kept sorted rather than searched, for
    /// the order hardly moves: the pieces of a swarm are of one size, so a flow that joins, or
    /// goes on to its next piece, nearly always finishes after every other, and goes at the end
    /// (a search of the flows at each completion was a twentieth of a run's time).
    busy: SmallVec<[BusyFlow; 4]>,
    /// Every transfer on the link, in the order they joined: a flow's first is the one it is
    /// sending, the others wait behind it.
    queued: SmallVec<[Queued; 6]>,
}

// A link holds a few flows (a peer's connections that carry a piece now) and a few transfers,
// kept inline in the link itself and scanned: with 100,000 peers, a heap of flows and a map of
// per-flow queues, and then a vector of flows each with a queue of its own, were a third of
// the engine's time, nearly all of it cache misses on their separate allocations.

/// A flow with a transfer on the link. Packed to 8-byte alignment: with the tag's own 16 it
/// took 32 bytes, and a link keeps several inline.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed(8))]
struct BusyFlow {
    flow: FlowId,
    /// The finish tag of the transfer it is sending.
    tag: u128,
}

impl BusyFlow {
    /// Finishing order: by tag; ties in tag finish in the order of the flows.
    fn order(&self) -> (u128, FlowId) {
        (self.tag, self.flow)
    }
}

/// A transfer the link has sent, as `finish` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub id: TransferId,
    /// The peer at the other end.
    pub flow: FlowId,
    pub bits: u64,
}

/// A transfer on the link.
#[derive(Debug, Clone, Copy)]
struct Queued {
    flow: FlowId,
    id: TransferId,
    bits: u64,
}

impl Link {
    pub fn new(capacity_bits_per_second: u64) -> Link {
        Link {
            capacity: capacity_bits_per_second,
            service: 0,
            updated_at: 0,
            busy: SmallVec::new(),
            queued: SmallVec::new(),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Flows with a transfer on the link now.
    pub fn busy_flows(&self) -> usize {
        self.busy.len()
    }

    /// Brings the service up to `now`: each of the `n` busy flows got `C * dt / n`.
    fn advance(&mut self, now: Nanos) {
        debug_assert!(now >= self.updated_at, "a link's time never goes back");
        let elapsed = u128::from(now - self.updated_at);
        if let Some(share) = (u128::from(self.capacity) * elapsed).checked_div(self.busy.len() as u128) {
            self.service += share;
        }
        self.updated_at = now;
    }

    /// A transfer of `bits` joins the link at `now`, behind what its flow is sending already.
    pub fn start(&mut self, now: Nanos, flow: FlowId, id: TransferId, bits: u64) {
        self.advance(now);
        if !self.busy.iter().any(|busy| busy.flow == flow) {
            self.make_busy(BusyFlow { flow, tag: self.service + u128::from(bits) * NANOS_PER_SECOND });
        }
        self.queued.push(Queued { flow, id, bits });
    }

    /// Puts a flow in `busy` at its place in finishing order, looking from the end, where it
    /// nearly always goes.
    fn make_busy(&mut self, flow: BusyFlow) {
        let place = self.busy.iter().rposition(|other| other.order() < flow.order()).map_or(0, |before| before + 1);
        self.busy.insert(place, flow);
    }

    /// When the next transfer finishes, if nothing joins before: the link's one pending event.
    /// `None` when it is idle, or has no capacity.
    pub fn next_completion(&self) -> Option<Nanos> {
        let tag = self.busy.first()?.tag;
        if self.capacity == 0 {
            return None;
        }
        let n = self.busy.len() as u128;
        let owed = tag.saturating_sub(self.service);
        // Rounded up: by then each transfer has been served at least `owed`, since the service
        // grows by `C * dt / n` rounded down, and `C * ceil(owed * n / C) / n >= owed`.
        let wait = (owed * n).div_ceil(u128::from(self.capacity));
        Some(self.updated_at.saturating_add(u64::try_from(wait).unwrap_or(u64::MAX)))
    }

    /// The transfer that finishes next, if nothing joins before: the first of the flow that
    /// finishes first.
    pub fn next_transfer(&self) -> Option<TransferId> {
        let flow = self.busy.first()?.flow;
        self.queued.iter().find(|queued| queued.flow == flow).map(|queued| queued.id)
    }

    /// The flow whose transfer finishes next: the peer at the other end of it.
    pub fn next_flow(&self) -> Option<FlowId> {
        self.busy.first().map(|busy| busy.flow)
    }

    /// Asks for the memory of the link's transfers (`crate::prefetch`): in the link itself up to
    /// six, in an allocation of their own beyond, whose address the link holds.
    pub fn warm_transfers(&self) {
        crate::prefetch::slice(&self.queued);
    }

    /// The transfers finished by `now` (in finish order), taken off the link; the next transfer
    /// of each of their flows starts where the finished one's service ended.
    pub fn finish(&mut self, now: Nanos, finished: &mut Vec<Sent>) {
        self.advance(now);
        while let Some(&BusyFlow { flow, tag }) = self.busy.first() {
            if tag > self.service {
                break;
            }
            self.busy.remove(0);
            let sent = self.queued.iter().position(|queued| queued.flow == flow).expect("a busy flow has a transfer");
            let Queued { flow, id, bits } = self.queued.remove(sent);
            finished.push(Sent { id, flow, bits });
            // The flow's next transfer, if any, is the first of its behind the one sent.
            if let Some(next) = self.queued[sent..].iter().find(|queued| queued.flow == flow) {
                self.make_busy(BusyFlow { flow, tag: tag + u128::from(next.bits) * NANOS_PER_SECOND });
            }
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    const MBIT: u64 = 1_000_000;
    const SECOND: Nanos = 1_000_000_000;

    /// Runs the link alone until it is idle: the finish time of every transfer.
    fn drain(link: &mut Link) -> Vec<(TransferId, Nanos)> {
        let mut done = Vec::new();
        let mut finished = Vec::new();
        while let Some(at) = link.next_completion() {
            link.finish(at, &mut finished);
            assert!(!finished.is_empty(), "a completion event finished nothing at {at}");
            done.extend(finished.drain(..).map(|sent| (sent.id, at)));
        }
        done
    }

    #[test]
    fn one_transfer_alone_takes_its_size_over_the_capacity() {
        let mut link = Link::new(MBIT);
        link.start(0, 9, 1, 2 * MBIT);
        assert_eq!(drain(&mut link), vec![(1, 2 * SECOND)]);
    }

    #[test]
    fn a_flows_transfers_go_one_after_the_other() {
        // Three pieces on one connection: each has the whole link in turn.
        let mut link = Link::new(MBIT);
        for id in 0..3 {
            link.start(0, 4, id, MBIT);
        }
        assert_eq!(drain(&mut link), vec![(0, SECOND), (1, 2 * SECOND), (2, 3 * SECOND)]);
    }

    #[test]
    fn k_flows_each_get_a_kth() {
        for k in 1..=7u64 {
            let mut link = Link::new(3 * MBIT);
            for id in 0..k {
                link.start(0, id as FlowId, id as TransferId, MBIT);
            }
            // Each moves at 3/k Mbit/s, so all finish together at k/3 s.
            let done = drain(&mut link);
            assert_eq!(done.len() as u64, k);
            let expected = (k * SECOND).div_ceil(3);
            assert!(done.iter().all(|&(_, at)| at == expected), "k = {k}: {done:?}, expected all at {expected}");
        }
    }

    #[test]
    fn a_late_arrival_slows_the_first_and_the_first_leaving_speeds_it_up() {
        // 1 Mbit/s. A: 1 Mbit from 0. B: 1 Mbit from 0.5 s. Until 0.5 s A alone gets 0.5 Mbit;
        // then both at 0.5 Mbit/s: A's last 0.5 Mbit takes 1 s (done at 1.5 s), B has 0.5 Mbit
        // by then and finishes alone at 2.0 s.
        let mut link = Link::new(MBIT);
        link.start(0, 1, 1, MBIT);
        link.start(SECOND / 2, 2, 2, MBIT);
        assert_eq!(drain(&mut link), vec![(1, 3 * SECOND / 2), (2, 2 * SECOND)]);
    }

    #[test]
    fn the_next_transfer_and_flow_are_those_the_next_completion_finishes() {
        let mut rng = crate::rng::Rng::new(11);
        for round in 0..200 {
            let mut link = Link::new(1 + rng.below(10 * MBIT));
            assert_eq!(link.next_transfer(), None, "round {round}: an idle link has none");
            assert_eq!(link.next_flow(), None, "round {round}: an idle link has none");
            let mut now = 0;
            let mut finished = Vec::new();
            for id in 0..1 + rng.below(12) as TransferId {
                // Some flows send several transfers, some pieces are shorter (a file's last).
                link.start(now, rng.below(5) as FlowId, id, 1 + rng.below(2 * MBIT));
                now += rng.below(SECOND / 4);
                link.finish(now, &mut finished);
            }
            while let Some(at) = link.next_completion() {
                let (next, flow) = (link.next_transfer(), link.next_flow());
                finished.clear();
                link.finish(at, &mut finished);
                assert_eq!(next, finished.first().map(|sent| sent.id), "round {round} at {at}");
                assert_eq!(flow, finished.first().map(|sent| sent.flow), "round {round} at {at}");
            }
        }
    }

    #[test]
    fn a_link_without_capacity_never_finishes_and_an_idle_one_has_no_event() {
        let mut link = Link::new(0);
        assert_eq!(link.next_completion(), None);
        link.start(0, 1, 1, 8);
        assert_eq!(link.next_completion(), None);
        let mut finished = Vec::new();
        link.finish(1_000 * SECOND, &mut finished);
        assert!(finished.is_empty());
    }

    #[test]
    fn work_is_conserved_whatever_the_arrivals() {
        // However transfers come and go, a busy link moves exactly its capacity: the last of a
        // batch that keeps it busy finishes at total bits / capacity (rounded up, never sooner).
        let mut rng = crate::rng::Rng::new(5);
        for round in 0..50 {
            let capacity = 1 + rng.below(100 * MBIT);
            let mut link = Link::new(capacity);
            let mut total = 0u128;
            let mut finished = Vec::new();
            let mut all_done = Vec::new();
            let mut now = 0;
            for id in 0..20 {
                let bits = 1 + rng.below(10 * MBIT);
                total += u128::from(bits);
                // A few flows, so that some transfers queue behind others.
                link.start(now, rng.below(4) as FlowId, id, bits);
                // The next arrival comes before the link would fall idle, so it is always busy.
                let next = link.next_completion().expect("busy");
                now += rng.below(next - now);
                link.finish(now, &mut finished);
                all_done.extend(finished.drain(..).map(|sent| sent.id));
            }
            all_done.extend(drain(&mut link).into_iter().map(|(id, _)| id));
            let last = link.updated_at;
            let ideal = (total * NANOS_PER_SECOND).div_ceil(u128::from(capacity));
            assert!(u128::from(last) >= ideal, "round {round}: faster than the capacity allows");
            // Rounding down the service costs at most a nanosecond's worth per event.
            assert!(u128::from(last) <= ideal + 40, "round {round}: {last} ns, ideal {ideal} ns");
            all_done.sort_unstable();
            assert_eq!(all_done, (0..20).collect::<Vec<_>>(), "round {round}: every transfer finishes once");
        }
    }
}
