//! What rank 0 says and writes at the end of a run.

use std::path::Path;

use crate::console;
use crate::pump::TrackerOutcome;
use crate::stats::{RunStats, StatsError};

/// A short account of the run on stderr (nothing with `quiet`; every peer with `verbose`), and
/// the JSON report if asked for.
pub fn finish(
    outcome: &TrackerOutcome,
    ranks: u32,
    quiet: bool,
    verbose: bool,
    stats_file: Option<&Path>,
) -> Result<RunStats, StatsError> {
    let stats = RunStats::from_outcome(outcome, ranks);
    if let Some(path) = stats_file {
        stats.write_json(path)?;
    }
    if !quiet {
        console::say(stats.summary());
    }
    if verbose && !quiet {
        for peer in &stats.peers {
            console::line(format_args!(
                "  peer {}: uploaded {}, downloaded {}, refused {}, requests {}",
                peer.rank, peer.uploaded, peer.downloaded, peer.refused, peer.requests
            ));
        }
    }
    Ok(stats)
}
