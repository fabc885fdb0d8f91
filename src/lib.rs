//! bitorrent: a BitTorrent swarm simulator. Rank 0 runs the tracker; every other rank runs a
//! peer made of four small actors (upload server, download scheduler, tracker mirror, file
//! writer) around a pump, over MPI (the `mpi` feature, on by default) or in-process channels.
//! README.md has the picture: how a run goes, what runs inside a rank, and why.

pub mod bt;
pub mod cli;
pub mod console;
pub mod floor;
pub mod input;
pub mod model;
pub mod output;
pub mod peer;
pub mod prefetch;
pub mod pump;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod sync;
pub mod test_panic;
pub mod tracker;
pub mod transport;
pub mod wire;
