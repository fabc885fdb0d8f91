//! The simulated engine: the swarm on a simulated clock, with each peer's link capacities and the
//! network's latency.
//!
//! Its inputs: `units` reads quantities with units ("100 MiB", "10 Mbit/s", "50 ms") into exact
//! integers; `swarm` reads the swarm file into a validated `Swarm` of plain integers, with errors
//! at file:line:column; `theory` gives what no run can beat (Kumar and Ross's minimum
//! distribution time), in exact arithmetic.
//!
//! The engine: `engine` runs a `scenario` (from a swarm file or a course folder) through the
//! protocol core on a simulated clock; `network` carries pieces over each peer's `link`s; `queue`
//! orders every event; `outcome` is what a run produced. `command` is `bitorrent sim`.
//!
//! Its outputs: `results` writes a run's `summary.json` and `peers.csv` into a folder, replaced
//! whole or not at all.

pub mod bittorrent;
pub mod command;
pub mod engine;
pub mod link;
#[cfg(feature = "mpi")]
pub mod mpi_ranks;
pub mod network;
pub mod outcome;
pub mod placement;
pub mod queue;
pub mod results;
pub mod routed;
pub mod scenario;
#[cfg(all(test, not(feature = "loom")))]
mod scratch;
pub mod shard;
pub mod swarm;
pub mod theory;
pub mod units;
pub mod window;
