//! What rank 0 says at the end of a run.

use crate::pump::TrackerOutcome;

/// A short account of the run on stderr (nothing with `quiet`; every peer with `verbose`).
pub fn print_summary(outcome: &TrackerOutcome, ranks: u32, quiet: bool, verbose: bool) {
    if quiet {
        return;
    }
    let reports = outcome.tracker.reports();
    let transfers: u64 = reports.values().map(|report| report.downloaded).sum();
    let seconds = outcome.protocol_time.as_secs_f64();
    eprintln!(
        "bitorrent: {} peers, {transfers} segments transferred in {seconds:.4} s of protocol ({:.0} per second)",
        ranks - 1,
        if seconds > 0.0 { transfers as f64 / seconds } else { 0.0 }
    );
    if verbose {
        for (peer, report) in reports {
            eprintln!(
                "  peer {peer}: uploaded {}, refused {}, downloaded {}, requests {}",
                report.uploaded, report.refused, report.downloaded, report.requests
            );
        }
    }
}
