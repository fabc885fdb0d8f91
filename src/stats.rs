//! The figures of a run, from the tracker's end of it: every peer's report, the time, the
//! traffic. Rank 0 prints a summary and, with `--stats FILE`, writes them all as JSON.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::{FileId, FileName, PeerId};
use crate::pump::TrackerOutcome;
use crate::wire::{Holder, MessageKind};

/// One peer's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStats {
    pub rank: PeerId,
    pub uploaded: u64,
    pub downloaded: u64,
    pub refused: u64,
    pub requests: u64,
    /// From the go-ahead to its "all done", as the tracker saw it: the peer's completion time.
    pub done_seconds: f64,
}

/// Where one downloaded file came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadStats {
    pub rank: PeerId,
    pub file: FileName,
    pub segments: u64,
    /// Ranks in the file's swarm at the end, other than the downloader.
    pub holders: usize,
    pub sources: BTreeMap<PeerId, u64>,
}

impl DownloadStats {
    /// The share of the file taken from its largest source (0 for a file of no segments).
    pub fn largest_share(&self) -> f64 {
        let largest = self.sources.values().copied().max().unwrap_or(0);
        if self.segments == 0 { 0.0 } else { largest as f64 / self.segments as f64 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    pub ranks: u32,
    pub protocol_seconds: f64,
    pub transfers: u64,
    pub messages: BTreeMap<&'static str, u64>,
    pub peers: Vec<PeerStats>,
    pub downloads: Vec<DownloadStats>,
    /// Jain's fairness index of segments uploaded, over the ranks that held a file someone
    /// downloaded: 1 when all uploaded alike, 1/n when one did everything.
    pub fairness: f64,
    /// The largest share of one downloaded file taken from one source, over files whose swarm
    /// had three or more other holders (where spreading the load was possible).
    pub largest_share: f64,
}

impl RunStats {
    pub fn from_outcome(outcome: &TrackerOutcome, ranks: u32) -> RunStats {
        let tracker = &outcome.tracker;
        let reports = tracker.reports();
        let mut sent = outcome.traffic.sent.to_vec();
        for report in reports.values() {
            for (total, count) in sent.iter_mut().zip(&report.sent) {
                *total += count;
            }
        }
        let messages = MessageKind::ALL.iter().map(|kind| (kind.name(), sent[kind.tag() as usize])).collect();
        let peers: Vec<PeerStats> = reports
            .iter()
            .map(|(&rank, report)| PeerStats {
                rank,
                uploaded: report.uploaded,
                downloaded: report.downloaded,
                refused: report.refused,
                requests: report.requests,
                done_seconds: outcome.done_after.get(&rank).map_or(0.0, Duration::as_secs_f64),
            })
            .collect();
        let mut downloads = Vec::new();
        let mut uploaders = std::collections::BTreeSet::new();
        // Each swarm replayed once, not once per download of its file.
        let mut swarms: HashMap<FileId, Vec<Holder>> = HashMap::new();
        for (&rank, report) in reports {
            for file in &report.sources {
                let swarm = swarms.entry(file.file).or_insert_with(|| tracker.holders(file.file));
                let holders: Vec<PeerId> =
                    swarm.iter().map(|holder| holder.peer).filter(|&peer| peer != rank).collect();
                uploaders.extend(holders.iter().copied());
                let Some(name) = tracker.file_name(file.file) else { continue };
                downloads.push(DownloadStats {
                    rank,
                    file: name.clone(),
                    segments: tracker.segments(file.file) as u64,
                    holders: holders.len(),
                    sources: file.counts.iter().map(|&(peer, count)| (peer, count as u64)).collect(),
                });
            }
        }
        let uploads: Vec<f64> =
            peers.iter().filter(|peer| uploaders.contains(&peer.rank)).map(|peer| peer.uploaded as f64).collect();
        let largest_share = downloads
            .iter()
            .filter(|download| download.holders >= 3)
            .map(DownloadStats::largest_share)
            .fold(0.0, f64::max);
        RunStats {
            ranks,
            protocol_seconds: outcome.protocol_time.as_secs_f64(),
            transfers: peers.iter().map(|peer| peer.downloaded).sum(),
            messages,
            peers,
            downloads,
            fairness: jain_index(&uploads),
            largest_share,
        }
    }

    pub fn transfers_per_second(&self) -> f64 {
        if self.protocol_seconds > 0.0 { self.transfers as f64 / self.protocol_seconds } else { 0.0 }
    }

    /// One line for a person: time, rate, fairness, concentration.
    pub fn summary(&self) -> String {
        format!(
            "{} peers, {} segments in {:.4} s of protocol ({:.0}/s); upload fairness {:.3}; largest share from one source {:.0}%",
            self.ranks - 1,
            self.transfers,
            self.protocol_seconds,
            self.transfers_per_second(),
            self.fairness,
            self.largest_share * 100.0
        )
    }

    pub fn to_json(&self) -> String {
        let mut json = String::new();
        let out = &mut json;
        let _ = write!(
            out,
            "{{\n  \"ranks\": {},\n  \"protocol_seconds\": {:.6},\n  \"transfers\": {},\n  \"transfers_per_second\": {:.1},\n  \"fairness\": {:.6},\n  \"largest_share\": {:.6},\n  \"messages\": {{",
            self.ranks,
            self.protocol_seconds,
            self.transfers,
            self.transfers_per_second(),
            self.fairness,
            self.largest_share
        );
        let messages: Vec<String> = self.messages.iter().map(|(kind, count)| format!("\"{kind}\": {count}")).collect();
        let _ = write!(out, "{}}},\n  \"peers\": [", messages.join(", "));
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|peer| {
                format!(
                    "\n    {{\"rank\": {}, \"uploaded\": {}, \"downloaded\": {}, \"refused\": {}, \"requests\": {}, \"done_seconds\": {:.6}}}",
                    peer.rank, peer.uploaded, peer.downloaded, peer.refused, peer.requests, peer.done_seconds
                )
            })
            .collect();
        let _ = write!(out, "{}\n  ],\n  \"files\": [", peers.join(","));
        let files: Vec<String> = self
            .downloads
            .iter()
            .map(|download| {
                let sources: Vec<String> =
                    download.sources.iter().map(|(peer, count)| format!("\"{peer}\": {count}")).collect();
                format!(
                    "\n    {{\"rank\": {}, \"file\": {}, \"segments\": {}, \"holders\": {}, \"sources\": {{{}}}}}",
                    download.rank,
                    json_string(download.file.as_str()),
                    download.segments,
                    download.holders,
                    sources.join(", ")
                )
            })
            .collect();
        let _ = write!(out, "{}\n  ]\n}}\n", files.join(","));
        json
    }

    /// Writes the JSON report whole (temporary name, then rename).
    pub fn write_json(&self, path: &Path) -> Result<(), StatsError> {
        let temporary = PathBuf::from(format!("{}.partial", path.display()));
        std::fs::write(&temporary, self.to_json())
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|source| StatsError { path: path.to_path_buf(), source })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the stats to {path}: {source}")]
pub struct StatsError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Jain's fairness index: (Σx)² / (n·Σx²); 1 for no values or all zero.
pub fn jain_index(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    let squares: f64 = values.iter().map(|value| value * value).sum();
    if squares == 0.0 { 1.0 } else { sum * sum / (values.len() as f64 * squares) }
}

fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(quoted, "\\u{:04x}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn jain_index_is_one_when_even_and_one_over_n_when_one_does_all() {
        assert_eq!(jain_index(&[5.0, 5.0, 5.0]), 1.0);
        assert!((jain_index(&[9.0, 0.0, 0.0]) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(jain_index(&[]), 1.0);
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string(r#"a"b"#), r#""a\"b""#);
        assert_eq!(json_string("x\u{1}"), r#""x\u0001""#);
    }
}
