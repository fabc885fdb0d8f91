//! What the simulated engine runs, whichever input it came from: the files, the classes of
//! peers and every peer's class and files, the network's latency, and the seed. A swarm file
//! (`swarm.rs`) and a course folder (`in<R>.txt`, on links the command line gives) both become
//! one of these, so the engine has one input, with the protocol its peers run.

use std::path::Path;

use serde::Serialize;

use super::link::Nanos;
use super::swarm::{Protocol, Swarm};
use crate::input::{self, InputError, PeerInput};
use crate::model::{FileId, FileName, PeerId};
use crate::tracker::{Tracker, TrackerError};
use crate::wire::Message;

/// A scenario, ready to run. Peer ids are those of the live runtime: the tracker is peer 0, the
/// peers are 1..=N, and `peers[k]` is peer `k + 1`.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    /// The file or folder it came from, as given.
    pub origin: String,
    pub seed: u64,
    pub latency_ns: Nanos,
    pub files: Vec<SimFile>,
    pub classes: Vec<SimClass>,
    /// Every peer; what the summary needs of them is in `classes` and `files`.
    #[serde(skip)]
    pub peers: Vec<SimPeer>,
    /// What the peers run: a swarm file's (`[policy]`, overridden by the command line), or the
    /// course's protocol for a course folder.
    pub protocol: Protocol,
}

/// A file of the scenario: its size and the piece a peer requests (the last may be shorter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimFile {
    pub name: String,
    pub size_bytes: u64,
    pub piece_bytes: u64,
    pub pieces: u32,
    /// Peers that hold it whole from the start.
    pub owners: u32,
    /// Peers that want it.
    pub wanted_by: u32,
}

impl SimFile {
    /// The size of piece `index` in bits: `piece_bytes`, but the last takes what is left.
    pub fn piece_bits(&self, index: u32) -> u64 {
        let start = u64::from(index) * self.piece_bytes;
        8 * self.piece_bytes.min(self.size_bytes - start)
    }
}

/// Peers alike: their capacities, and how many there are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimClass {
    pub name: String,
    pub count: u32,
    pub upload_bits_per_s: u64,
    pub download_bits_per_s: u64,
    /// Never uploads, whatever its uplink: the swarm file says so, or its upload is 0.
    pub free_rider: bool,
}

impl SimClass {
    /// Whether its peers send pieces at all: not a free rider's, nor an uplink of 0's.
    pub fn uploads(&self) -> bool {
        !self.free_rider && self.upload_bits_per_s > 0
    }
}

/// One peer: its class (an index in `classes`), the files it holds whole from the start and the
/// files it wants (indexes in `files`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPeer {
    pub class: u32,
    pub owns: Vec<u32>,
    pub wants: Vec<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{folder}: no in1.txt: a course folder holds in1.txt .. in<N>.txt, one per peer")]
    Empty { folder: String },
    /// Owners that disagree, a wanted file nobody owns: what the tracker refuses in a live run.
    #[error("{folder}: {error}")]
    Swarm { folder: String, error: TrackerError },
}

impl Scenario {
    /// The swarm file's one file and its classes: the seeds own the file, the others want it.
    pub fn from_swarm(swarm: &Swarm, origin: &str) -> Scenario {
        let spec = swarm.file();
        let classes: Vec<SimClass> = swarm
            .classes()
            .iter()
            .map(|class| SimClass {
                name: class.name.clone(),
                count: class.count,
                upload_bits_per_s: class.upload.get(),
                download_bits_per_s: class.download.get(),
                free_rider: class.free_rider,
            })
            .collect();
        let mut peers = Vec::with_capacity(swarm.total_peers() as usize);
        for (index, class) in swarm.classes().iter().enumerate() {
            let (owns, wants) = if class.seed { (vec![0], vec![]) } else { (vec![], vec![0]) };
            peers.extend((0..class.count).map(|_| SimPeer {
                class: index as u32,
                owns: owns.clone(),
                wants: wants.clone(),
            }));
        }
        let owners = swarm.classes().iter().filter(|class| class.seed).map(|class| class.count).sum();
        let file = SimFile {
            name: "file".into(),
            size_bytes: spec.size.get(),
            piece_bytes: spec.piece.get(),
            pieces: spec.pieces,
            owners,
            wanted_by: swarm.total_peers() - owners,
        };
        Scenario {
            origin: origin.into(),
            seed: swarm.seed(),
            latency_ns: swarm.network().latency.get(),
            files: vec![file],
            classes,
            peers,
            protocol: swarm.protocol().clone(),
        }
    }

    /// A course folder (`in1.txt` .. `in<N>.txt`), every peer on links of the same capacities,
    /// every segment a piece of `piece_bytes`. Its peers run the course's protocol.
    pub fn from_course(
        folder: &Path,
        upload_bits_per_s: u64,
        download_bits_per_s: u64,
        latency_ns: Nanos,
        piece_bytes: u64,
        seed: u64,
    ) -> Result<Scenario, CourseError> {
        let mut inputs: Vec<PeerInput> = Vec::new();
        loop {
            let path = folder.join(format!("in{}.txt", inputs.len() + 1));
            if !path.exists() {
                break;
            }
            inputs.push(input::read_peer_input(&path)?);
        }
        if inputs.is_empty() {
            return Err(CourseError::Empty { folder: folder.display().to_string() });
        }
        // The swarm as a whole is checked by the tracker itself, as in a live run: two owners of
        // a name must agree on its segments, a wanted file must have an owner. Its go numbers
        // the files (by name), and the scenario's files take those numbers.
        let mut tracker = Tracker::new(inputs.len() as u32);
        for (index, peer) in inputs.iter().enumerate() {
            let register = Message::Register { owned: peer.owned.clone(), wanted: peer.wanted.clone() };
            tracker
                .handle(PeerId(index as u32 + 1), register)
                .map_err(|error| CourseError::Swarm { folder: folder.display().to_string(), error })?;
        }
        let names: Vec<(String, u32)> = (0..)
            .map_while(|id| {
                let id = FileId(id);
                tracker.file_name(id).map(|name| (name.to_string(), tracker.segments(id) as u32))
            })
            .collect();
        let index_of =
            |name: &FileName| names.iter().position(|(known, _)| known == name.as_str()).expect("numbered") as u32;
        let peers: Vec<SimPeer> = inputs
            .iter()
            .map(|peer| SimPeer {
                class: 0,
                owns: peer.owned.iter().map(|file| index_of(&file.name)).collect(),
                wants: peer.wanted.iter().map(index_of).collect(),
            })
            .collect();
        let files = names
            .iter()
            .enumerate()
            .map(|(index, (name, segments))| SimFile {
                name: name.clone(),
                size_bytes: u64::from(*segments) * piece_bytes,
                piece_bytes,
                pieces: *segments,
                owners: peers.iter().filter(|peer| peer.owns.contains(&(index as u32))).count() as u32,
                wanted_by: peers.iter().filter(|peer| peer.wants.contains(&(index as u32))).count() as u32,
            })
            .collect();
        Ok(Scenario {
            origin: folder.display().to_string(),
            seed,
            latency_ns,
            files,
            classes: vec![SimClass {
                name: "peer".into(),
                count: peers.len() as u32,
                upload_bits_per_s,
                download_bits_per_s,
                free_rider: upload_bits_per_s == 0,
            }],
            peers,
            protocol: Protocol::Course,
        })
    }

    /// How many peers, the tracker not counted.
    pub fn peer_count(&self) -> u32 {
        self.peers.len() as u32
    }

    /// The peer with id `peer` (1..=N).
    pub fn peer(&self, peer: PeerId) -> &SimPeer {
        &self.peers[peer.index() - 1]
    }

    pub fn class_of(&self, peer: PeerId) -> &SimClass {
        &self.classes[self.peer(peer).class as usize]
    }
}
