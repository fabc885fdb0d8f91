//! The tracker: a state machine with no I/O. A message comes in, messages go out.
//!
//! It keeps, for every file, its hashes and its swarm's history: every change to the swarm in
//! order (a rank joining, a holder completing the file), so that a refresh is answered with what
//! changed since the asker last looked; the swarm itself is that history replayed. It never
//! learns which segments a partial holder has.
//!
//! How many members an answer lists is its [`PeerSet`]: all of them (the course's protocol, and
//! the live engine's), or at most 50 drawn at random, as real trackers answer (the simulated
//! engine's, where a swarm has thousands of members).
//!
//! Its life has three phases: registering (until every peer has said what it owns and wants;
//! then go, with the swarms each peer wants), running (refreshes, completions, "all done"), and
//! stopping (after the last "all done" it tells everyone to stop and collects each peer's
//! report).

use std::collections::{BTreeMap, HashMap};

use crate::model::{FileId, FileName, Hashes, OwnedFile, PeerId};
use crate::peer::segments::bits;
use crate::rng::Rng;
use crate::wire::{Holder, Message, PeerReport};

/// How many members of a swarm the tracker lists in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSet {
    /// Every member, and a refresh answered with what changed since the asker's version.
    All,
    /// At most `max` members drawn at random (from the run's `seed`), and a refresh answered
    /// with a new draw: what real trackers do (BitTorrent's is 50), so that an answer's size does
    /// not grow with the swarm.
    Sample { max: usize, seed: u64 },
}

impl PeerSet {
    /// The tracker's answer size in BitTorrent (BEP 3 trackers' `numwant` default).
    pub const BITTORRENT_SAMPLE: usize = 50;
}

/// A message to send, and to whom.
pub type Outgoing = (PeerId, Message);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("{file}: in{first}.txt and in{second}.txt own it with different segments ({detail})")]
    Conflict { file: FileName, first: PeerId, second: PeerId, detail: String },
    #[error("in{peer}.txt: wants {file}, which no peer owns")]
    NobodyOwns { file: FileName, peer: PeerId },
    #[error("protocol error: peer {from} sent {what}")]
    Protocol { from: PeerId, what: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Registering,
    Running,
    Stopping,
    Finished,
}

struct FileRecord {
    name: FileName,
    hashes: Hashes,
    /// Every change to the swarm, oldest first: the owners (as seeds; while registering in the
    /// order they announced the file, so the first names one side of a conflict; from the go
    /// by rank), then each rank that joined (as a partial holder) and each holder that
    /// completed the file (as a seed). Its length is the swarm's version.
    history: Vec<Holder>,
    /// The swarm now, in the order ranks joined it: the history replayed, kept as it grows so
    /// that no answer replays it.
    members: Vec<Holder>,
    /// Each rank's place in `members`, by rank (`NOT_A_MEMBER` if none).
    place: Vec<u32>,
}

const NOT_A_MEMBER: u32 = u32::MAX;

impl FileRecord {
    fn new(name: FileName, hashes: Hashes) -> FileRecord {
        FileRecord { name, hashes, history: Vec::new(), members: Vec::new(), place: Vec::new() }
    }

    /// Appends a change to the history and applies it to the members, with the rule the peers
    /// apply to an update (`Holder::apply_all`: a new rank joins, a member that is now a seed
    /// stays one).
    fn record(&mut self, change: Holder) {
        self.history.push(change);
        self.apply(change);
    }

    fn apply(&mut self, change: Holder) {
        let index = change.peer.index();
        if index >= self.place.len() {
            self.place.resize(index + 1, NOT_A_MEMBER);
        }
        match self.place[index] {
            NOT_A_MEMBER => {
                self.place[index] = self.members.len() as u32;
                self.members.push(change);
            }
            at => change.apply_to_member(&mut self.members[at as usize]),
        }
    }

    /// The members again from the history, after the history was reordered.
    fn replay(&mut self) {
        self.members.clear();
        self.place.clear();
        for index in 0..self.history.len() {
            self.apply(self.history[index]);
        }
    }

    fn version(&self) -> u32 {
        // A history entry is a join or a completion of one of at most 2^32 ranks.
        u32::try_from(self.history.len()).expect("swarm history longer than u32::MAX")
    }

    /// `peer`'s place in `members`, if it is a member.
    fn place_of(&self, peer: PeerId) -> Option<u32> {
        self.place.get(peer.index()).copied().filter(|&at| at != NOT_A_MEMBER)
    }

    fn member(&self, peer: PeerId) -> Option<&Holder> {
        self.place_of(peer).map(|at| &self.members[at as usize])
    }

    fn has_member(&self, peer: PeerId) -> bool {
        self.member(peer).is_some()
    }

    /// At most `max` members other than `peer`, drawn at random: all of them if there are no
    /// more than that, else a draw without repeats, in the order drawn. `drawn` is scratch: a
    /// bit for each place, all clear between draws.
    fn sample(&self, peer: PeerId, max: usize, rng: &mut Rng, drawn: &mut Vec<u64>) -> Vec<Holder> {
        let own = self.place_of(peer);
        let others = self.members.len() - usize::from(own.is_some());
        if others <= max {
            return self.members.iter().filter(|member| member.peer != peer).copied().collect();
        }
        // Rejection: with more members than the draw (the case here), few draws repeat. A
        // member is a peer of its own place, so the draw is of places, and the members are read
        // once it is made, all at once: each was a cache miss at 100,000 members, and a
        // draw's next step waited on the last one's. A repeat is found by the places' bits
        // rather than by a scan of the draw so far (1,250 comparisons a draw of 50).
        drawn.resize(bits::words_for(self.members.len() as u32), 0);
        let mut places: Vec<u32> = Vec::with_capacity(max);
        while places.len() < max {
            let at = rng.below(self.members.len() as u64) as u32;
            if Some(at) != own && !bits::test(drawn, at) {
                bits::set(drawn, at);
                places.push(at);
            }
        }
        places.iter().for_each(|&at| bits::clear(drawn, at));
        places.iter().map(|&at| self.members[at as usize]).collect()
    }
}

struct Registration {
    owned: Vec<FileName>,
    wanted: Vec<FileName>,
}

pub struct Tracker {
    peers: u32,
    peer_set: PeerSet,
    /// Draws the members of sampled answers (`PeerSet::Sample`).
    rng: Rng,
    /// Scratch for a draw: the places drawn so far (`FileRecord::sample`).
    drawn: Vec<u64>,
    phase: Phase,
    registrations: BTreeMap<PeerId, Registration>,
    files: Vec<FileRecord>,
    by_name: HashMap<FileName, usize>,
    all_done: Vec<bool>,
    all_done_count: u32,
    reports: BTreeMap<PeerId, PeerReport>,
}

impl Tracker {
    /// A tracker for peers 1..=peers that lists every member of a swarm.
    pub fn new(peers: u32) -> Tracker {
        Tracker::with_peer_set(peers, PeerSet::All)
    }

    /// A tracker for peers 1..=peers whose answers list the members `peer_set` says.
    pub fn with_peer_set(peers: u32, peer_set: PeerSet) -> Tracker {
        let seed = match peer_set {
            PeerSet::All => 0,
            PeerSet::Sample { seed, .. } => seed,
        };
        Tracker {
            peers,
            peer_set,
            // The tracker's own stream: peer id 0's.
            rng: Rng::derive(seed, 0),
            drawn: Vec::new(),
            phase: Phase::Registering,
            registrations: BTreeMap::new(),
            files: Vec::new(),
            by_name: HashMap::new(),
            all_done: vec![false; peers as usize + 1],
            all_done_count: 0,
            reports: BTreeMap::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Every peer's report, by rank; complete once the phase is `Finished`.
    pub fn reports(&self) -> &BTreeMap<PeerId, PeerReport> {
        &self.reports
    }

    /// The name of a file by id, for reports.
    pub fn file_name(&self, file: FileId) -> Option<&FileName> {
        self.files.get(file.0 as usize).map(|record| &record.name)
    }

    /// How many segments a file has.
    pub fn segments(&self, file: FileId) -> usize {
        self.files.get(file.0 as usize).map_or(0, |record| record.hashes.len())
    }

    /// Which peers hold a file whole or in part (for checking reports).
    pub fn holders(&self, file: FileId) -> Vec<Holder> {
        self.files.get(file.0 as usize).map_or_else(Vec::new, |record| record.members.clone())
    }

    pub fn handle(&mut self, from: PeerId, message: Message) -> Result<Vec<Outgoing>, TrackerError> {
        if from.0 == 0 || from.0 > self.peers {
            return Err(self.protocol(from, "a message from outside the swarm"));
        }
        match (self.phase, message) {
            (Phase::Registering, Message::Register { owned, wanted }) => self.register(from, owned, wanted),
            (Phase::Running, Message::SwarmRefresh { file, seen }) => self.swarm_refresh(from, file, seen),
            (Phase::Running, Message::FileComplete { file }) => self.file_complete(from, file),
            (Phase::Running, Message::AllDone) => self.all_done(from),
            (Phase::Stopping, Message::Report(report)) => self.report(from, report),
            (phase, message) => Err(self.protocol(from, &format!("{:?} while {phase:?}", message.kind()))),
        }
    }

    fn protocol(&self, from: PeerId, what: &str) -> TrackerError {
        TrackerError::Protocol { from, what: what.to_string() }
    }

    fn register(
        &mut self,
        from: PeerId,
        owned: Vec<OwnedFile>,
        wanted: Vec<FileName>,
    ) -> Result<Vec<Outgoing>, TrackerError> {
        if self.registrations.contains_key(&from) {
            return Err(self.protocol(from, "a second registration"));
        }
        let mut owned_names = Vec::with_capacity(owned.len());
        for file in owned {
            owned_names.push(file.name.clone());
            self.add_owner(from, file)?;
        }
        self.registrations.insert(from, Registration { owned: owned_names, wanted });
        if self.registrations.len() < self.peers as usize {
            return Ok(Vec::new());
        }
        self.start()
    }

    fn add_owner(&mut self, owner: PeerId, file: OwnedFile) -> Result<(), TrackerError> {
        let Some(&index) = self.by_name.get(&file.name) else {
            self.by_name.insert(file.name.clone(), self.files.len());
            let mut record = FileRecord::new(file.name, Hashes::new(file.hashes));
            record.record(Holder { peer: owner, seed: true });
            self.files.push(record);
            return Ok(());
        };
        let record = &mut self.files[index];
        if *record.hashes != file.hashes[..] {
            let detail = match record.hashes.iter().zip(&file.hashes).position(|(a, b)| a != b) {
                Some(segment) => format!("they first differ at segment {}", segment + 1),
                None => format!("{} segments against {}", record.hashes.len(), file.hashes.len()),
            };
            let first_owner = record.history[0].peer;
            let (first, second) = (first_owner.min(owner), first_owner.max(owner));
            return Err(TrackerError::Conflict { file: file.name, first, second, detail });
        }
        record.record(Holder { peer: owner, seed: true });
        Ok(())
    }

    /// Everyone has registered: check that every wanted file exists, number the files (by name,
    /// so that ids do not depend on the order registrations arrived in), and say go. With its
    /// go each peer gets, unasked, the swarm of every file it wants: its registration named them,
    /// so a round trip per file at the start is spared. Every wanting peer joins those swarms
    /// first, so that all see the same members from the start.
    fn start(&mut self) -> Result<Vec<Outgoing>, TrackerError> {
        for (&peer, registration) in &self.registrations {
            if let Some(missing) = registration.wanted.iter().find(|name| !self.by_name.contains_key(*name)) {
                return Err(TrackerError::NobodyOwns { file: missing.clone(), peer });
            }
        }
        self.files.sort_by(|a, b| a.name.cmp(&b.name));
        for record in &mut self.files {
            record.history.sort_by_key(|owner| owner.peer); // only owners so far
            record.replay();
        }
        self.by_name = self.files.iter().enumerate().map(|(index, record)| (record.name.clone(), index)).collect();
        for (&peer, registration) in &self.registrations {
            for name in &registration.wanted {
                self.files[self.by_name[name]].record(Holder { peer, seed: false });
            }
        }
        self.phase = Phase::Running;
        let registrations = std::mem::take(&mut self.registrations);
        let mut messages = Vec::new();
        for (&peer, registration) in &registrations {
            let owned = registration.owned.iter().map(|name| (name.clone(), self.id_of(name))).collect();
            messages.push((peer, Message::Go { owned }));
            for name in &registration.wanted {
                let index = self.by_name[name];
                messages.push((peer, self.swarm_for(peer, index)));
            }
        }
        self.registrations = registrations;
        Ok(messages)
    }

    fn id_of(&self, name: &FileName) -> FileId {
        FileId(self.by_name[name] as u32)
    }

    /// A file's id, hashes and swarm as `peer` is to see it: without itself, and as many
    /// members as the peer set says.
    fn swarm_for(&mut self, peer: PeerId, index: usize) -> Message {
        let holders = self.members_for(peer, index);
        let record = &self.files[index];
        Message::Swarm {
            file: FileId(index as u32),
            name: record.name.clone(),
            hashes: record.hashes.clone(),
            holders,
            version: record.version(),
        }
    }

    /// The members of a file's swarm that an answer to `peer` lists.
    fn members_for(&mut self, peer: PeerId, index: usize) -> Vec<Holder> {
        let record = &self.files[index];
        match self.peer_set {
            PeerSet::All => record.members.iter().filter(|member| member.peer != peer).copied().collect(),
            PeerSet::Sample { max, .. } => record.sample(peer, max, &mut self.rng, &mut self.drawn),
        }
    }

    /// The changes to a swarm since the asker's version, if there are any: no news is sent as no
    /// answer (most refreshes find none, and each answer is a message more through the one
    /// tracker). With a sampled peer set, a new draw of members instead, always.
    fn swarm_refresh(&mut self, from: PeerId, file: FileId, seen: u32) -> Result<Vec<Outgoing>, TrackerError> {
        let record = match self.files.get(file.0 as usize) {
            Some(record) if record.has_member(from) => record,
            _ => {
                return Err(
                    self.protocol(from, &format!("a refresh of file id {}, whose swarm it never joined", file.0))
                );
            }
        };
        let Some(news) = record.history.get(seen as usize..) else {
            let what =
                format!("a refresh of file id {} from version {seen}, past the swarm's {}", file.0, record.version());
            return Err(self.protocol(from, &what));
        };
        let version = record.version();
        let changes: Vec<Holder> = match self.peer_set {
            PeerSet::All => news.iter().filter(|change| change.peer != from).copied().collect(),
            PeerSet::Sample { .. } => self.members_for(from, file.0 as usize),
        };
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![(from, Message::SwarmUpdate { file, changes, version })])
    }

    fn file_complete(&mut self, from: PeerId, file: FileId) -> Result<Vec<Outgoing>, TrackerError> {
        let Some(record) = self.files.get_mut(file.0 as usize).filter(|record| record.has_member(from)) else {
            return Err(self.protocol(from, &format!("a completion of file id {} it never asked for", file.0)));
        };
        // Completing twice (or an owner "completing") changes nothing, and records nothing.
        if record.member(from).is_some_and(|member| !member.seed) {
            record.record(Holder { peer: from, seed: true });
        }
        Ok(Vec::new())
    }

    fn all_done(&mut self, from: PeerId) -> Result<Vec<Outgoing>, TrackerError> {
        if std::mem::replace(&mut self.all_done[from.index()], true) {
            return Err(self.protocol(from, "\"all done\" twice"));
        }
        self.all_done_count += 1;
        if self.all_done_count < self.peers {
            return Ok(Vec::new());
        }
        self.phase = Phase::Stopping;
        Ok((1..=self.peers).map(|peer| (PeerId(peer), Message::Stop)).collect())
    }

    fn report(&mut self, from: PeerId, report: PeerReport) -> Result<Vec<Outgoing>, TrackerError> {
        if self.reports.insert(from, report).is_some() {
            return Err(self.protocol(from, "a second report"));
        }
        if self.reports.len() == self.peers as usize {
            self.phase = Phase::Finished;
        }
        Ok(Vec::new())
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::model::SegmentHash;

    fn name(text: &str) -> FileName {
        FileName::new(text).unwrap()
    }

    fn hashes(seed: u8, count: usize) -> Vec<SegmentHash> {
        (0..count)
            .map(|i| {
                let mut bytes = [b'0'; 32];
                bytes[0] = b'a' + seed;
                bytes[1..5].copy_from_slice(format!("{i:04}").as_bytes());
                SegmentHash(bytes)
            })
            .collect()
    }

    fn register(owned: &[(&str, Vec<SegmentHash>)], wanted: &[&str]) -> Message {
        Message::Register {
            owned: owned.iter().map(|(n, h)| OwnedFile { name: name(n), hashes: h.clone() }).collect(),
            wanted: wanted.iter().map(|n| name(n)).collect(),
        }
    }

    /// Peer 1 owns a, peer 2 owns b, peer 3 owns nothing; 1 wants b, 2 wants a, 3 wants both.
    fn started() -> (Tracker, Vec<Outgoing>) {
        let mut tracker = Tracker::new(3);
        assert!(tracker.handle(PeerId(1), register(&[("a", hashes(0, 3))], &["b"])).unwrap().is_empty());
        assert!(tracker.handle(PeerId(2), register(&[("b", hashes(1, 2))], &["a"])).unwrap().is_empty());
        let go = tracker.handle(PeerId(3), register(&[], &["a", "b"])).unwrap();
        (tracker, go)
    }

    fn seed(peer: u32) -> Holder {
        Holder { peer: PeerId(peer), seed: true }
    }

    fn partial(peer: u32) -> Holder {
        Holder { peer: PeerId(peer), seed: false }
    }

    /// A swarm of one seed (peer 1) and `peers - 1` downloaders, with answers of at most 5.
    fn sampled(peers: u32) -> (Tracker, Vec<Outgoing>) {
        let mut tracker = Tracker::with_peer_set(peers, PeerSet::Sample { max: 5, seed: 9 });
        assert!(tracker.handle(PeerId(1), register(&[("a", hashes(0, 3))], &[])).unwrap().is_empty());
        let mut go = Vec::new();
        for peer in 2..=peers {
            go = tracker.handle(PeerId(peer), register(&[], &["a"])).unwrap();
        }
        (tracker, go)
    }

    #[test]
    fn a_sampled_peer_set_lists_at_most_its_size_of_distinct_others_and_always_answers() {
        let (mut tracker, go) = sampled(40);
        let mut seen_members = std::collections::HashSet::new();
        for (to, message) in &go {
            if let Message::Swarm { holders, .. } = message {
                assert_eq!(holders.len(), 5, "to {to}");
                assert!(holders.iter().all(|holder| holder.peer != *to), "{to} sees itself");
                let distinct: std::collections::HashSet<_> = holders.iter().map(|holder| holder.peer).collect();
                assert_eq!(distinct.len(), 5, "to {to}: {holders:?}");
                seen_members.extend(distinct);
            }
        }
        // Draws differ from peer to peer: far more than 5 members get listed to someone.
        assert!(seen_members.len() > 20, "{} members ever listed", seen_members.len());
        // A refresh gets a new draw every time, news or not.
        let (first, _) = refresh(&mut tracker, 7, 0);
        let (second, _) = refresh(&mut tracker, 7, 5);
        assert_eq!((first.len(), second.len()), (5, 5));
        assert_ne!(first, second);
        // A small swarm is listed whole, without the asker.
        let (_, go) = sampled(4);
        let Some((_, Message::Swarm { holders, .. })) =
            go.iter().find(|(to, m)| *to == PeerId(4) && matches!(m, Message::Swarm { .. }))
        else {
            panic!("{go:?}")
        };
        assert_eq!(holders.iter().map(|h| h.peer.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn go_waits_for_every_registration() {
        let (tracker, _) = started();
        assert_eq!(tracker.phase(), Phase::Running);
    }

    #[test]
    fn with_its_go_each_peer_gets_the_swarms_it_wants_already_joined() {
        let (_, go) = started();
        // Every wanting peer joined before any swarm was sent: a's history is its owner, then
        // peers 2 and 3 joining (version 3); b's is its owner, then peers 1 and 3.
        let swarm = |file: u32, name_: &str, hashes: Vec<SegmentHash>, holders: Vec<Holder>| Message::Swarm {
            file: FileId(file),
            name: name(name_),
            hashes: hashes.into(),
            holders,
            version: 3,
        };
        let expected = vec![
            (PeerId(1), Message::Go { owned: vec![(name("a"), FileId(0))] }),
            (PeerId(1), swarm(1, "b", hashes(1, 2), vec![seed(2), partial(3)])),
            (PeerId(2), Message::Go { owned: vec![(name("b"), FileId(1))] }),
            (PeerId(2), swarm(0, "a", hashes(0, 3), vec![seed(1), partial(3)])),
            (PeerId(3), Message::Go { owned: vec![] }),
            (PeerId(3), swarm(0, "a", hashes(0, 3), vec![seed(1), partial(2)])),
            (PeerId(3), swarm(1, "b", hashes(1, 2), vec![seed(2), partial(1)])),
        ];
        assert_eq!(go, expected);
    }

    /// The answer to a refresh: no changes and no version if there was no answer.
    fn refresh(tracker: &mut Tracker, peer: u32, seen: u32) -> (Vec<Holder>, u32) {
        let reply = tracker.handle(PeerId(peer), Message::SwarmRefresh { file: FileId(0), seen }).unwrap();
        if reply.is_empty() {
            return (vec![], 0);
        }
        let [(to, Message::SwarmUpdate { file, changes, version })] = &reply[..] else { panic!("{reply:?}") };
        assert_eq!((*to, *file), (PeerId(peer), FileId(0)));
        (changes.clone(), *version)
    }

    #[test]
    fn a_refresh_returns_the_changes_since_the_askers_version() {
        let (mut tracker, _) = started();
        assert_eq!(refresh(&mut tracker, 2, 3), (vec![], 0), "no news, no answer");
        // A completion is a change: the holder becomes a seed. Completing twice records once.
        tracker.handle(PeerId(3), Message::FileComplete { file: FileId(0) }).unwrap();
        tracker.handle(PeerId(3), Message::FileComplete { file: FileId(0) }).unwrap();
        assert_eq!(refresh(&mut tracker, 2, 3), (vec![seed(3)], 4));
        // The asker never hears of itself; from version 0 a refresh replays the whole history.
        assert_eq!(refresh(&mut tracker, 3, 3), (vec![], 0));
        assert_eq!(refresh(&mut tracker, 2, 0), (vec![seed(1), partial(3), seed(3)], 4));
    }

    #[test]
    fn refreshes_of_swarms_not_joined_or_from_the_future_are_protocol_errors() {
        let mut tracker = Tracker::new(2);
        tracker.handle(PeerId(1), register(&[("a", hashes(0, 3))], &[])).unwrap();
        tracker.handle(PeerId(2), register(&[("b", hashes(1, 3))], &[])).unwrap();
        let not_joined = tracker.handle(PeerId(2), Message::SwarmRefresh { file: FileId(0), seen: 0 }).unwrap_err();
        assert_eq!(
            not_joined.to_string(),
            "protocol error: peer 2 sent a refresh of file id 0, whose swarm it never joined"
        );
        assert!(tracker.handle(PeerId(1), Message::SwarmRefresh { file: FileId(9), seen: 0 }).is_err());
        let future = tracker.handle(PeerId(1), Message::SwarmRefresh { file: FileId(0), seen: 2 }).unwrap_err();
        assert!(future.to_string().contains("from version 2, past the swarm's 1"), "{future}");
    }

    #[test]
    fn stop_follows_the_last_all_done_and_reports_finish_the_run() {
        let (mut tracker, _) = started();
        assert!(tracker.handle(PeerId(1), Message::AllDone).unwrap().is_empty());
        assert!(tracker.handle(PeerId(3), Message::AllDone).unwrap().is_empty());
        let stops = tracker.handle(PeerId(2), Message::AllDone).unwrap();
        assert_eq!(stops, (1..=3).map(|p| (PeerId(p), Message::Stop)).collect::<Vec<_>>());
        assert_eq!(tracker.phase(), Phase::Stopping);
        for peer in 1..=3 {
            assert_eq!(tracker.phase(), Phase::Stopping);
            tracker.handle(PeerId(peer), Message::Report(PeerReport::default())).unwrap();
        }
        assert_eq!(tracker.phase(), Phase::Finished);
        assert_eq!(tracker.reports().len(), 3);
    }

    #[test]
    fn a_wanted_file_nobody_owns_is_named() {
        let mut tracker = Tracker::new(2);
        tracker.handle(PeerId(1), register(&[("a", hashes(0, 1))], &[])).unwrap();
        let err = tracker.handle(PeerId(2), register(&[], &["ghost"])).unwrap_err();
        assert_eq!(err, TrackerError::NobodyOwns { file: name("ghost"), peer: PeerId(2) });
        assert_eq!(err.to_string(), "in2.txt: wants ghost, which no peer owns");
    }

    #[test]
    fn two_owners_with_different_hashes_conflict() {
        let mut tracker = Tracker::new(3);
        tracker.handle(PeerId(2), register(&[("a", hashes(0, 3))], &[])).unwrap();
        let mut other = hashes(0, 3);
        other[1] = hashes(5, 1)[0];
        let err = tracker.handle(PeerId(1), register(&[("a", other)], &[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a: in1.txt and in2.txt own it with different segments (they first differ at segment 2)"
        );
        let mut tracker = Tracker::new(2);
        tracker.handle(PeerId(1), register(&[("a", hashes(0, 3))], &[])).unwrap();
        let err = tracker.handle(PeerId(2), register(&[("a", hashes(0, 4))], &[])).unwrap_err();
        assert!(err.to_string().contains("3 segments against 4"), "{err}");
    }

    #[test]
    fn identical_owners_share_a_swarm() {
        let mut tracker = Tracker::new(3);
        tracker.handle(PeerId(1), register(&[("a", hashes(0, 3))], &[])).unwrap();
        tracker.handle(PeerId(2), register(&[("a", hashes(0, 3))], &[])).unwrap();
        let go = tracker.handle(PeerId(3), register(&[], &["a"])).unwrap();
        let Message::Swarm { holders, .. } = &go[3].1 else { panic!("{go:?}") };
        assert_eq!(holders, &[seed(1), seed(2)]);
    }

    #[test]
    fn out_of_phase_messages_are_protocol_errors() {
        let mut tracker = Tracker::new(2);
        assert!(tracker.handle(PeerId(1), Message::AllDone).is_err());
        assert!(tracker.handle(PeerId(7), register(&[], &[])).is_err());
        assert!(tracker.handle(PeerId(0), register(&[], &[])).is_err());
        tracker.handle(PeerId(1), register(&[], &[])).unwrap();
        assert!(tracker.handle(PeerId(1), register(&[], &[])).is_err());
        tracker.handle(PeerId(2), register(&[], &[])).unwrap();
        tracker.handle(PeerId(2), Message::AllDone).unwrap();
        assert!(tracker.handle(PeerId(2), Message::AllDone).is_err());
    }
}
