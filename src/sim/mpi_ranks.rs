//! A simulation split over the ranks of an MPI job: how a rank's worker 0 trades each window's
//! events with the other ranks, and brings every rank's peers to rank 0 at the end.
//!
//! One window costs three collectives: the byte counts each rank sends each other
//! (`MPI_Alltoall`), the batches themselves (`MPI_Alltoallv`), and the reports
//! (`MPI_Allgather`), which every rank combines in the same order, so all agree on the next
//! window and on the end without a word more. Only the thread that started MPI calls it
//! (`MPI_THREAD_FUNNELED`): worker 0 runs on it.

use mpi::Count;
use mpi::collective::{CommunicatorCollectives, Root};
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::{Communicator, SimpleCommunicator};

use super::engine::{JobRanks, ShardEnd};
use super::routed::{self, Decoder, Encoder};
use super::shard::Routed;
use super::window::{Ranks, RanksError, WindowReport};

/// The most room the send and receive buffers keep between windows: a window's batches are
/// some hundreds of kilobytes on a 100,000-peer swarm.
const KEEP_BYTES: usize = 16 << 20;

pub struct MpiRanks {
    world: SimpleCommunicator,
    rank: u32,
    ranks: u32,
    /// By rank: what writes to it, and what reads from it (each keeps what its stream sent).
    encoders: Vec<Encoder>,
    decoders: Vec<Decoder>,
    /// Buffers kept from window to window.
    send: Vec<u8>,
    receive: Vec<u8>,
}

impl MpiRanks {
    pub fn new(world: SimpleCommunicator) -> MpiRanks {
        let rank = world.rank() as u32;
        let ranks = world.size() as u32;
        let streams = ranks as usize;
        MpiRanks {
            world,
            rank,
            ranks,
            encoders: (0..streams).map(|_| Encoder::default()).collect(),
            decoders: (0..streams).map(|_| Decoder::default()).collect(),
            send: Vec::new(),
            receive: Vec::new(),
        }
    }

    /// Every rank's answer, by rank: so that a rank that could not read its input does not
    /// leave the others waiting in the run's first collective.
    pub fn poll(&self, yes: bool) -> Vec<bool> {
        let mine = [u8::from(yes)];
        let mut all = vec![0u8; self.ranks as usize];
        self.world.all_gather_into(&mine[..], &mut all[..]);
        all.iter().map(|&yes| yes == 1).collect()
    }
}

/// Where each part of a buffer made of parts of `counts` bytes starts.
fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |next, &count| {
            let start = *next;
            *next += count;
            Some(start)
        })
        .collect()
}

fn count(bytes: usize) -> Result<Count, RanksError> {
    Count::try_from(bytes)
        .map_err(|_| RanksError(format!("{bytes} bytes for one rank in one window, more than MPI counts in one call")))
}

impl Ranks<Routed> for MpiRanks {
    fn rank(&self) -> u32 {
        self.rank
    }

    fn ranks(&self) -> u32 {
        self.ranks
    }

    fn exchange(
        &mut self,
        report: WindowReport,
        outgoing: Vec<Vec<Routed>>,
        workers: usize,
    ) -> Result<(WindowReport, Vec<Vec<Routed>>), RanksError> {
        // To each rank, its shards' batches in order of shard.
        self.send.clear();
        let mut send_counts = Vec::with_capacity(self.ranks as usize);
        for (shards, encoder) in outgoing.chunks(workers).zip(&mut self.encoders) {
            let before = self.send.len();
            for batch in shards {
                encoder.encode_batch(batch, &mut self.send);
            }
            send_counts.push(count(self.send.len() - before)?);
        }
        drop(outgoing);
        let mut receive_counts = vec![0 as Count; self.ranks as usize];
        self.world.all_to_all_into(&send_counts[..], &mut receive_counts[..]);
        let total: usize = receive_counts.iter().map(|&count| count as usize).sum();
        self.receive.clear();
        self.receive.resize(total, 0);
        {
            let send_displacements = displacements(&send_counts);
            let receive_displacements = displacements(&receive_counts);
            let send = Partition::new(&self.send[..], &send_counts[..], &send_displacements[..]);
            let mut receive = PartitionMut::new(&mut self.receive[..], &receive_counts[..], &receive_displacements[..]);
            self.world.all_to_all_varcount_into(&send, &mut receive);
        }
        let mine = routed::encode_report(&report);
        let mut reports = vec![0u64; routed::REPORT_FIELDS * self.ranks as usize];
        self.world.all_gather_into(&mine[..], &mut reports[..]);
        let job = reports
            .chunks_exact(routed::REPORT_FIELDS)
            .map(|fields| routed::decode_report(fields.try_into().expect("a report's fields")))
            .reduce(WindowReport::combine)
            .expect("a job has a rank");
        // From each rank in turn (this one's part is empty), a batch for each of this rank's
        // workers.
        let mut incoming: Vec<Vec<Routed>> = (0..workers).map(|_| Vec::new()).collect();
        let mut bytes = &self.receive[..];
        let bad = |error: routed::RoutedError| RanksError(error.to_string());
        for (&received, decoder) in receive_counts.iter().zip(&mut self.decoders) {
            let (mut part, rest) = bytes.split_at(received as usize);
            bytes = rest;
            for worker in &mut incoming {
                part = decoder.decode_batch(part, worker).map_err(bad)?;
            }
        }
        // A window that carried far more than most (the tracker's first answers to everyone)
        // leaves no room behind: the buffers would keep it for the rest of the run.
        for buffer in [&mut self.send, &mut self.receive] {
            if buffer.capacity() > KEEP_BYTES {
                *buffer = Vec::new();
            }
        }
        Ok((job, incoming))
    }
}

impl JobRanks for MpiRanks {
    fn gather(&mut self, mine: ShardEnd) -> Result<Option<Vec<ShardEnd>>, RanksError> {
        self.send.clear();
        routed::encode_end(&mine, &mut self.send);
        let root = self.world.process_at_rank(0);
        let sent = [count(self.send.len())?];
        if self.rank != 0 {
            root.gather_into(&sent[..]);
            root.gather_varcount_into(&self.send[..]);
            return Ok(None);
        }
        let mut counts = vec![0 as Count; self.ranks as usize];
        root.gather_into_root(&sent[..], &mut counts[..]);
        let total: usize = counts.iter().map(|&count| count as usize).sum();
        let mut all = vec![0u8; total];
        {
            let displacements = displacements(&counts);
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displacements[..]);
            root.gather_varcount_into_root(&self.send[..], &mut partition);
        }
        let mut ends = Vec::with_capacity(self.ranks as usize);
        let mut bytes = &all[..];
        while !bytes.is_empty() {
            let (end, rest) = routed::decode_end(bytes).map_err(|error| RanksError(error.to_string()))?;
            ends.push(end);
            bytes = rest;
        }
        Ok(Some(ends))
    }
}
