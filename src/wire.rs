//! The messages of the protocol and their byte encoding.
//!
//! The encoding is ours and small: one tag byte, then the fields in order; integers are
//! little-endian `u32`/`u64`, a name is a `u32` length and its bytes, a hash is its 32 bytes, a
//! list is a `u32` count and its items. Decoding checks every length against the bytes that
//! remain before it allocates, so a malformed or hostile message is an error, never a panic or a
//! huge allocation.

use crate::model::{FileId, FileName, Hashes, OwnedFile, PeerId, SegmentHash};
use smallvec::SmallVec;

/// A member of a file's swarm as the tracker knows it: a rank, and whether it holds the file
/// whole. The tracker never learns which segments a partial holder has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub peer: PeerId,
    pub seed: bool,
}

impl Holder {
    /// Applies `changes`, read as changes to a swarm (a `SwarmUpdate`'s, or entries of the
    /// tracker's history), to a view of the swarm, in order: a rank new to it joins at the end,
    /// if the view has fewer than `cap` members; a member that is now a seed stays one. Applying
    /// a change twice changes nothing.
    ///
    /// The members are found through a small hash table of their places, made once for the
    /// whole batch: a refresh brings some fifty changes to a view of some eighty, and a scan of
    /// the view for each was 3.5% of a simulated run, an index sorted by rank 3.2%.
    pub fn apply_all(changes: impl IntoIterator<Item = Holder>, swarm: &mut Vec<Holder>, cap: usize) {
        let changes = changes.into_iter();
        let mut table = PlaceTable::of(swarm, swarm.len() + changes.size_hint().0);
        for change in changes {
            match table.find(change.peer, swarm) {
                Some(at) => change.apply_to_member(&mut swarm[at]),
                None if swarm.len() < cap => {
                    swarm.push(change);
                    if table.has_room_for(swarm.len()) {
                        table.insert(change.peer, swarm.len() - 1);
                    } else {
                        // More joined than the changes' size said: made again, larger.
                        table = PlaceTable::of(swarm, 2 * swarm.len());
                    }
                }
                None => {}
            }
        }
    }

    /// Applies this change to the member of a swarm it names (found by whoever keeps the swarm).
    pub fn apply_to_member(self, member: &mut Holder) {
        debug_assert_eq!(member.peer, self.peer, "a change applies to the member it names");
        member.seed |= self.seed;
    }
}

/// Where each member of a swarm view is, by rank: open addressing over at most half-full
/// slots, each holding a place in the view plus one (0 is empty), so that a lookup compares
/// the member at that place. Made for one batch of changes, on the stack for views of a few
/// hundred.
struct PlaceTable {
    slots: SmallVec<[u32; 512]>,
    /// log2 of the slots.
    bits: u32,
}

impl PlaceTable {
    /// The places of `swarm`'s members, with room for up to `members` (at least its own).
    fn of(swarm: &[Holder], members: usize) -> PlaceTable {
        let bits = (2 * members.max(swarm.len())).max(8).next_power_of_two().trailing_zeros();
        let mut table = PlaceTable { slots: smallvec::smallvec![0; 1 << bits], bits };
        swarm.iter().enumerate().for_each(|(at, member)| table.insert(member.peer, at));
        table
    }

    /// Whether `members` members keep it at most half full (so that a search ends soon, and
    /// always finds an empty slot).
    fn has_room_for(&self, members: usize) -> bool {
        2 * members <= self.slots.len()
    }

    /// The first slot to look at for `peer`: Fibonacci hashing, the rank's product with 2^32
    /// over the golden ratio, its top bits.
    fn home(&self, peer: PeerId) -> usize {
        (peer.0.wrapping_mul(0x9E37_79B9) >> (32 - self.bits)) as usize
    }

    /// Records that `peer` is at `at` (a view holds a rank once; were it there twice, `find`
    /// would give the first place recorded).
    fn insert(&mut self, peer: PeerId, at: usize) {
        let mask = self.slots.len() - 1;
        let mut slot = self.home(peer);
        while self.slots[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = at as u32 + 1;
    }

    /// Where `peer` is in `swarm`, if it is a member.
    fn find(&self, peer: PeerId, swarm: &[Holder]) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut slot = self.home(peer);
        loop {
            match self.slots[slot] {
                0 => return None,
                place if swarm[place as usize - 1].peer == peer => return Some(place as usize - 1),
                _ => slot = (slot + 1) & mask,
            }
        }
    }
}

/// What one peer did, sent to the tracker after the stop so that rank 0 can report the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerReport {
    /// Segments this peer handed out (requests it answered yes).
    pub uploaded: u64,
    /// Requests this peer answered no.
    pub refused: u64,
    /// Segments this peer received.
    pub downloaded: u64,
    /// Segment requests this peer sent.
    pub requests: u64,
    /// For every file it downloaded: how many segments came from each source.
    pub sources: Vec<FileSources>,
    /// Messages this peer sent, by kind (indexed by `MessageKind::tag`), its report included.
    pub sent: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSources {
    pub file: FileId,
    pub counts: Vec<(PeerId, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Peer to tracker, first thing: what the peer owns whole, and what it wants.
    Register { owned: Vec<OwnedFile>, wanted: Vec<FileName> },
    /// Tracker to every peer once all have registered: the ids of the files the peer owns.
    Go { owned: Vec<(FileName, FileId)> },
    /// Tracker to peer, right after its go, once per file the peer wants: the file's id, hashes
    /// and swarm (the peer left out), and the swarm's `version`: how many changes the tracker has
    /// recorded to it, for later refreshes. The registration named the wanted files, so the peer
    /// need not ask.
    Swarm { file: FileId, name: FileName, hashes: Hashes, holders: Vec<Holder>, version: u32 },
    /// Peer to tracker, every 10 segments of a file: "what changed in the swarm since the
    /// `seen`th change?" A refresh asks for the difference, not the whole list again, and is
    /// answered only if there is one: most refreshes find nothing new, and the one tracker
    /// handles every refresh of the run. (From version 0 there always is: the owners.)
    SwarmRefresh { file: FileId, seen: u32 },
    /// Tracker to peer: the swarm's changes since `seen`, in order (a rank joining, as a partial
    /// holder; a holder completing the file, as a seed; the asker's own left out), and the
    /// swarm's version now. Never empty.
    SwarmUpdate { file: FileId, changes: Vec<Holder>, version: u32 },
    /// Peer to peer: "may I have this segment?", and, with `with_bitfield`, "and tell me what
    /// else you hold of the file" (the asker's picture of this holder is missing or old).
    SegmentRequest { file: FileId, segment: u32, with_bitfield: bool },
    /// Peer to peer: yes or no, with the uploader's load (segments it has handed out so far).
    /// A no, and any answer to a request `with_bitfield`, says what the uploader holds of the
    /// file (`held`: its segment bitset, bit `i` of word `i / 64` for segment `i`): BitTorrent's
    /// bitfield, sent only when the asker needs it. Empty otherwise.
    SegmentReply { file: FileId, segment: u32, granted: bool, load: u32, held: Vec<u64> },
    /// Peer to tracker: the peer now holds this file whole; it is a seed.
    FileComplete { file: FileId },
    /// Peer to tracker: the peer has everything it wanted (it goes on seeding).
    AllDone,
    /// Tracker to every peer, after the last `AllDone`.
    Stop,
    /// Peer to tracker, in answer to `Stop`: its figures for the run.
    Report(PeerReport),
}

/// The kinds of message, for counting traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    Register,
    Go,
    Swarm,
    SwarmRefresh,
    SwarmUpdate,
    SegmentRequest,
    SegmentReply,
    FileComplete,
    AllDone,
    Stop,
    Report,
}

impl MessageKind {
    pub const ALL: [MessageKind; 11] = [
        MessageKind::Register,
        MessageKind::Go,
        MessageKind::Swarm,
        MessageKind::SwarmRefresh,
        MessageKind::SwarmUpdate,
        MessageKind::SegmentRequest,
        MessageKind::SegmentReply,
        MessageKind::FileComplete,
        MessageKind::AllDone,
        MessageKind::Stop,
        MessageKind::Report,
    ];

    /// The tag byte on the wire, also an index into per-kind counters.
    pub fn tag(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Register => "register",
            MessageKind::Go => "go",
            MessageKind::Swarm => "swarm",
            MessageKind::SwarmRefresh => "swarm_refresh",
            MessageKind::SwarmUpdate => "swarm_update",
            MessageKind::SegmentRequest => "segment_request",
            MessageKind::SegmentReply => "segment_reply",
            MessageKind::FileComplete => "file_complete",
            MessageKind::AllDone => "all_done",
            MessageKind::Stop => "stop",
            MessageKind::Report => "report",
        }
    }

    fn from_tag(tag: u8) -> Option<MessageKind> {
        MessageKind::ALL.get(tag as usize).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    #[error("message ends early while reading {0}")]
    Truncated(&'static str),
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    #[error("a list claims {count} items but only {remaining} bytes remain")]
    ImpossibleCount { count: u32, remaining: usize },
    #[error("bad file name on the wire: {0}")]
    BadName(String),
    #[error("bad segment hash on the wire")]
    BadHash,
    #[error("bad boolean byte {0}")]
    BadBool(u8),
}

impl Message {
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Register { .. } => MessageKind::Register,
            Message::Go { .. } => MessageKind::Go,
            Message::Swarm { .. } => MessageKind::Swarm,
            Message::SwarmRefresh { .. } => MessageKind::SwarmRefresh,
            Message::SwarmUpdate { .. } => MessageKind::SwarmUpdate,
            Message::SegmentRequest { .. } => MessageKind::SegmentRequest,
            Message::SegmentReply { .. } => MessageKind::SegmentReply,
            Message::FileComplete { .. } => MessageKind::FileComplete,
            Message::AllDone => MessageKind::AllDone,
            Message::Stop => MessageKind::Stop,
            Message::Report(_) => MessageKind::Report,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.encode_into(&mut bytes);
        bytes
    }

    /// Encodes into `bytes`, replacing what was there: a buffer kept for the purpose is reused
    /// without a new allocation.
    pub fn encode_into(&self, bytes: &mut Vec<u8>) {
        bytes.clear();
        let mut out = Writer(bytes);
        out.u8(self.kind().tag());
        match self {
            Message::Register { owned, wanted } => {
                out.len(owned.len());
                for file in owned {
                    out.name(&file.name);
                    out.hashes(&file.hashes);
                }
                out.len(wanted.len());
                wanted.iter().for_each(|name| out.name(name));
            }
            Message::Go { owned } => {
                out.len(owned.len());
                for (name, id) in owned {
                    out.name(name);
                    out.u32(id.0);
                }
            }
            Message::Swarm { file, name, hashes, holders, version } => {
                out.u32(file.0);
                out.name(name);
                out.hashes(hashes);
                out.holders(holders);
                out.u32(*version);
            }
            Message::SwarmRefresh { file, seen } => {
                out.u32(file.0);
                out.u32(*seen);
            }
            Message::SwarmUpdate { file, changes, version } => {
                out.u32(file.0);
                out.holders(changes);
                out.u32(*version);
            }
            Message::SegmentRequest { file, segment, with_bitfield } => {
                out.u32(file.0);
                out.u32(*segment);
                out.bool(*with_bitfield);
            }
            Message::SegmentReply { file, segment, granted, load, held } => {
                out.u32(file.0);
                out.u32(*segment);
                out.bool(*granted);
                out.u32(*load);
                out.words(held);
            }
            Message::FileComplete { file } => out.u32(file.0),
            Message::AllDone | Message::Stop => {}
            Message::Report(report) => {
                for figure in [report.uploaded, report.refused, report.downloaded, report.requests] {
                    out.u64(figure);
                }
                out.len(report.sources.len());
                for file in &report.sources {
                    out.u32(file.file.0);
                    out.len(file.counts.len());
                    for (peer, count) in &file.counts {
                        out.u32(peer.0);
                        out.u32(*count);
                    }
                }
                out.len(report.sent.len());
                report.sent.iter().for_each(|&count| out.u64(count));
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut input = Reader(bytes);
        let tag = input.u8("the tag").map_err(|_| DecodeError::Empty)?;
        let kind = MessageKind::from_tag(tag).ok_or(DecodeError::UnknownTag(tag))?;
        let message = match kind {
            MessageKind::Register => {
                let owned =
                    input.list(4 + 4, |input| Ok(OwnedFile { name: input.name()?, hashes: input.hashes()? }))?;
                let wanted = input.list(4, Reader::name)?;
                Message::Register { owned, wanted }
            }
            MessageKind::Go => {
                let owned = input.list(4 + 4, |input| Ok((input.name()?, FileId(input.u32("a file id")?))))?;
                Message::Go { owned }
            }
            MessageKind::Swarm => Message::Swarm {
                file: FileId(input.u32("a file id")?),
                name: input.name()?,
                hashes: Hashes::new(input.hashes()?),
                holders: input.holders()?,
                version: input.u32("a swarm version")?,
            },
            MessageKind::SwarmRefresh => {
                Message::SwarmRefresh { file: FileId(input.u32("a file id")?), seen: input.u32("a swarm version")? }
            }
            MessageKind::SwarmUpdate => Message::SwarmUpdate {
                file: FileId(input.u32("a file id")?),
                changes: input.holders()?,
                version: input.u32("a swarm version")?,
            },
            MessageKind::SegmentRequest => Message::SegmentRequest {
                file: FileId(input.u32("a file id")?),
                segment: input.u32("a segment index")?,
                with_bitfield: input.bool()?,
            },
            MessageKind::SegmentReply => Message::SegmentReply {
                file: FileId(input.u32("a file id")?),
                segment: input.u32("a segment index")?,
                granted: input.bool()?,
                load: input.u32("a load")?,
                held: input.words()?,
            },
            MessageKind::FileComplete => Message::FileComplete { file: FileId(input.u32("a file id")?) },
            MessageKind::AllDone => Message::AllDone,
            MessageKind::Stop => Message::Stop,
            MessageKind::Report => {
                let uploaded = input.u64("a figure")?;
                let refused = input.u64("a figure")?;
                let downloaded = input.u64("a figure")?;
                let requests = input.u64("a figure")?;
                let sources = input.list(4 + 4, |input| {
                    let file = FileId(input.u32("a file id")?);
                    let counts = input.list(8, |input| Ok((PeerId(input.u32("a source")?), input.u32("a count")?)))?;
                    Ok(FileSources { file, counts })
                })?;
                let sent = input.list(8, |input| input.u64("a message count"))?;
                Message::Report(PeerReport { uploaded, refused, downloaded, requests, sources, sent })
            }
        };
        if !input.0.is_empty() {
            return Err(DecodeError::Trailing(input.0.len()));
        }
        Ok(message)
    }
}

/// Little-endian integers and the message's parts, appended to a buffer (also used by
/// `sim::routed`, for what crosses ranks around messages).
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    fn bool(&mut self, value: bool) {
        self.0.push(value as u8);
    }
    pub(crate) fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn len(&mut self, len: usize) {
        // Every list we send came from an input whose counts fit u32 (the parser checks).
        self.u32(u32::try_from(len).expect("list longer than u32::MAX"));
    }
    /// Bitset words, counted (`Reader::words` reads them back).
    pub(crate) fn words(&mut self, words: &[u64]) {
        self.len(words.len());
        self.0.reserve(words.len() * 8);
        words.iter().for_each(|&word| self.u64(word));
    }
    fn name(&mut self, name: &FileName) {
        self.len(name.as_str().len());
        self.0.extend_from_slice(name.as_str().as_bytes());
    }
    fn hashes(&mut self, hashes: &[SegmentHash]) {
        self.len(hashes.len());
        for hash in hashes {
            self.0.extend_from_slice(&hash.0);
        }
    }
    fn holders(&mut self, holders: &[Holder]) {
        self.len(holders.len());
        for holder in holders {
            self.u32(holder.peer.0);
            self.bool(holder.seed);
        }
    }
}

/// Reads what a `Writer` wrote from the front of the bytes; the field is what is left.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8("a boolean")? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::BadBool(other)),
        }
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let low = self.u32(what)? as u64;
        let high = self.u32(what)? as u64;
        Ok(low | high << 32)
    }
    /// A count of items, each at least `min_item_size` bytes: refused before any allocation if
    /// the bytes left could not hold that many.
    fn count(&mut self, min_item_size: usize) -> Result<usize, DecodeError> {
        let count = self.u32("a count")?;
        let needed = count as u64 * min_item_size as u64;
        if needed > self.0.len() as u64 {
            return Err(DecodeError::ImpossibleCount { count, remaining: self.0.len() });
        }
        Ok(count as usize)
    }
    /// Counted bitset words, as `Writer::words` wrote them.
    pub(crate) fn words(&mut self) -> Result<Vec<u64>, DecodeError> {
        self.list(8, |input| input.u64("a bitset word"))
    }
    fn list<T>(
        &mut self,
        min_item_size: usize,
        mut item: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.count(min_item_size)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }
    fn name(&mut self) -> Result<FileName, DecodeError> {
        let len = self.count(1)?;
        let bytes = self.take(len, "a file name")?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadName("not UTF-8".into()))?;
        FileName::new(text).map_err(|err| DecodeError::BadName(err.to_string()))
    }
    fn holders(&mut self) -> Result<Vec<Holder>, DecodeError> {
        self.list(4 + 1, |input| Ok(Holder { peer: PeerId(input.u32("a holder")?), seed: input.bool()? }))
    }
    fn hashes(&mut self) -> Result<Vec<SegmentHash>, DecodeError> {
        self.list(SegmentHash::LEN, |input| {
            let bytes = input.take(SegmentHash::LEN, "a hash")?;
            std::str::from_utf8(bytes).ok().and_then(SegmentHash::parse).ok_or(DecodeError::BadHash)
        })
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    fn name(text: &str) -> FileName {
        FileName::new(text).unwrap()
    }

    fn hash(n: u8) -> SegmentHash {
        let mut bytes = [b'a'; 32];
        bytes[0] = b'0' + n % 10;
        SegmentHash(bytes)
    }

    fn one_of_each() -> Vec<Message> {
        vec![
            Message::Register {
                owned: vec![
                    OwnedFile { name: name("file1"), hashes: vec![hash(1), hash(2)] },
                    OwnedFile { name: name("empty"), hashes: vec![] },
                ],
                wanted: vec![name("file3"), name("file4")],
            },
            Message::Register { owned: vec![], wanted: vec![] },
            Message::Go { owned: vec![(name("file1"), FileId(7))] },
            Message::Swarm {
                file: FileId(3),
                name: name("file3"),
                hashes: vec![hash(3); 5].into(),
                holders: vec![Holder { peer: PeerId(2), seed: true }, Holder { peer: PeerId(9), seed: false }],
                version: 7,
            },
            Message::Swarm { file: FileId(3), name: name("file3"), hashes: vec![].into(), holders: vec![], version: 0 },
            Message::SwarmRefresh { file: FileId(3), seen: 7 },
            Message::SwarmUpdate { file: FileId(3), changes: vec![Holder { peer: PeerId(9), seed: true }], version: 8 },
            Message::SwarmUpdate { file: FileId(3), changes: vec![], version: 8 },
            Message::SegmentRequest { file: FileId(1), segment: 99, with_bitfield: false },
            Message::SegmentRequest { file: FileId(1), segment: 0, with_bitfield: true },
            Message::SegmentReply { file: FileId(1), segment: 99, granted: true, load: 12, held: vec![] },
            Message::SegmentReply {
                file: FileId(u32::MAX),
                segment: 0,
                granted: false,
                load: 0,
                held: vec![0b101, u64::MAX],
            },
            Message::FileComplete { file: FileId(4) },
            Message::AllDone,
            Message::Stop,
            Message::Report(PeerReport {
                uploaded: 1 << 40,
                refused: 2,
                downloaded: 3,
                requests: 4,
                sources: vec![FileSources { file: FileId(1), counts: vec![(PeerId(1), 5), (PeerId(2), 6)] }],
                sent: vec![1, 0, 7],
            }),
        ]
    }

    #[test]
    fn a_swarm_change_joins_a_new_rank_or_makes_a_member_a_seed() {
        let member = |peer, seed| Holder { peer: PeerId(peer), seed };
        let apply = |swarm: &mut Vec<Holder>, change: Holder, cap| Holder::apply_all([change], swarm, cap);
        let mut swarm = vec![member(1, true)];
        apply(&mut swarm, member(2, false), usize::MAX);
        assert_eq!(swarm, [member(1, true), member(2, false)], "a new rank joins at the end");
        apply(&mut swarm, member(2, true), usize::MAX);
        assert_eq!(swarm, [member(1, true), member(2, true)], "a completion makes it a seed in place");
        apply(&mut swarm, member(2, true), usize::MAX);
        apply(&mut swarm, member(2, false), usize::MAX);
        assert_eq!(swarm, [member(1, true), member(2, true)], "a change seen again changes nothing");
        // A full view takes no newcomer, but still learns that a member completed.
        let mut full = vec![member(1, false), member(2, false)];
        apply(&mut full, member(3, false), 2);
        apply(&mut full, member(1, true), 2);
        assert_eq!(full, [member(1, true), member(2, false)]);
    }

    #[test]
    fn a_batch_of_changes_does_what_its_changes_one_by_one_do() {
        // The plain reading of the rules, one change at a time, by a scan of the view.
        fn one_by_one(changes: &[Holder], swarm: &mut Vec<Holder>, cap: usize) {
            for &change in changes {
                match swarm.iter().position(|member| member.peer == change.peer) {
                    Some(at) => swarm[at].seed |= change.seed,
                    None if swarm.len() < cap => swarm.push(change),
                    None => {}
                }
            }
        }
        let mut rng = crate::rng::Rng::derive(3, 4);
        let mut draw = |below: u64| rng.next_u64() % below;
        for _ in 0..500 {
            let ranks = 1 + draw(300);
            let mut holders = |count: u64| -> Vec<Holder> {
                (0..count).map(|_| Holder { peer: PeerId(draw(ranks) as u32), seed: draw(4) == 0 }).collect()
            };
            let (first, then) = (holders(150), holders(80));
            let mut view: Vec<Holder> = Vec::new();
            Holder::apply_all(first, &mut view, usize::MAX);
            let changes = then[..draw(80) as usize].to_vec();
            let cap = if draw(2) == 0 { usize::MAX } else { view.len() + draw(20) as usize };
            let mut expected = view.clone();
            one_by_one(&changes, &mut expected, cap);
            Holder::apply_all(changes, &mut view, cap);
            assert_eq!(view, expected);
        }
        // Changes that do not say how many they are: the table grows as members join.
        let mut view = vec![Holder { peer: PeerId(0), seed: true }];
        let unsized_changes = (1..=1000).map(|peer| Holder { peer: PeerId(peer), seed: false }).filter(|_| true);
        Holder::apply_all(unsized_changes, &mut view, usize::MAX);
        assert_eq!(view.len(), 1001);
        assert!(view.iter().enumerate().all(|(at, member)| member.peer == PeerId(at as u32)));
    }

    #[test]
    fn every_message_survives_a_round_trip() {
        let messages = one_of_each();
        let kinds: std::collections::BTreeSet<_> = messages.iter().map(Message::kind).collect();
        assert_eq!(kinds.len(), MessageKind::ALL.len(), "the list covers every kind");
        for message in messages {
            assert_eq!(Message::decode(&message.encode()), Ok(message.clone()));
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for message in one_of_each() {
            let bytes = message.encode();
            for cut in 0..bytes.len() {
                assert!(Message::decode(&bytes[..cut]).is_err(), "{message:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn malformed_bytes_are_errors() {
        assert_eq!(Message::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(Message::decode(&[200]), Err(DecodeError::UnknownTag(200)));
        let mut stop = Message::Stop.encode();
        stop.push(0);
        assert_eq!(Message::decode(&stop), Err(DecodeError::Trailing(1)));
        // A list that claims four billion entries is refused before allocating.
        let mut huge = vec![MessageKind::Register.tag()];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Message::decode(&huge), Err(DecodeError::ImpossibleCount { .. })));
        // A name that would escape the output folder is refused on the wire too.
        let mut escape = vec![MessageKind::Swarm.tag()];
        escape.extend_from_slice(&3u32.to_le_bytes()); // the file id
        escape.extend_from_slice(&5u32.to_le_bytes());
        escape.extend_from_slice(b"../x\x01");
        assert!(matches!(Message::decode(&escape), Err(DecodeError::BadName(_))));
        let mut bad_bool =
            Message::SegmentReply { file: FileId(1), segment: 1, granted: true, load: 0, held: vec![] }.encode();
        bad_bool[9] = 7;
        assert_eq!(Message::decode(&bad_bool), Err(DecodeError::BadBool(7)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = crate::rng::Rng::new(42);
        for _ in 0..20_000 {
            let len = rng.below(64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(first) = bytes.first_mut() {
                *first %= MessageKind::ALL.len() as u8 + 1;
            }
            let _ = Message::decode(&bytes);
        }
    }
}
