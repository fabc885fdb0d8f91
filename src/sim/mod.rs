//! The simulated engine: the swarm on a simulated clock, with each peer's link capacities and the
//! network's latency.

pub mod link;
pub mod network;
pub mod queue;
