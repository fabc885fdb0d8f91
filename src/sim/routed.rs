//! What ranks send each other in a simulation split over an MPI job, as bytes: a window's events
//! for another rank's shards, the shards' window reports, and at the end their peers' outcomes.
//!
//! Little-endian integers throughout (`wire.rs`'s writer and reader); a message inside an event
//! is the live runtime's own wire encoding, so what crosses ranks is read by the same decoder as
//! what crosses the live runtime's MPI, but for requests and refusals, the commonest, which are
//! written field by field. A swarm's hashes are the largest thing sent, once to every peer (6.4 kB
//! for a file of 400 pieces: with 100,000 peers, the window in which the tracker answers them
//! all carried 320 MB to a rank). So an `Encoder` (one for each rank it writes to) sends a
//! file's hashes once, and then says "the same hashes as before"; the `Decoder` (one for each
//! rank it reads from) keeps them and hands that one copy out, as one rank's shards share the
//! tracker's one list, so that a million peers do not hold a million copies either.

use std::borrow::Cow;

use super::engine::ShardEnd;
use super::network::{Arrival, Direction, NetEvent};
use super::outcome::{BitTorrentOutcome, FirstCopiesOutcome, PeerOutcome};
use super::queue::EventKey;
use super::shard::{Event, Payload, Piece, Routed};
use super::window::WindowReport;
use crate::bt::message::{BlockRef, WireMessage};
use crate::model::{FileId, Hashes, PeerId};
use crate::wire::{DecodeError, Message, Reader, Writer};

/// Bytes that could not be read back: a bug, since only this module writes them.
#[derive(Debug, thiserror::Error)]
pub enum RoutedError {
    #[error("a batch from another rank has an unknown event tag {0}")]
    UnknownTag(u8),
    #[error("a batch from another rank: {0}")]
    Bytes(#[from] DecodeError),
    #[error("a swarm of file id {0} from another rank refers to hashes it never sent")]
    NoHashes(u32),
}

const DELIVER: u8 = 0;
const ARRIVE: u8 = 1;
const LINK_DUE: u8 = 2;
const WAKE: u8 = 3;
/// A message whose hashes were left out: those of its file that this stream carried last.
const DELIVER_SAME_HASHES: u8 = 4;
const ARRIVE_BLOCK: u8 = 5;
const WIRE: u8 = 6;
const TICK: u8 = 7;
/// The course protocol's commonest messages, written field by field rather than as a whole
/// `Message` (which copied a refusal's bitfield into a vector, then the message into a buffer of
/// its own, then that into the batch): at 30,000 leechers on 2 ranks, a rank's encoding went
/// from 1.3-1.5 s to 1.0-1.1 s and its decoding from 0.9-1.3 s to 0.7-1.0 s.
const REQUEST: u8 = 8;
const REFUSAL: u8 = 9;

/// Writes the batches for one rank, in order.
#[derive(Default)]
pub struct Encoder {
    /// By file id: the hashes last sent to this rank.
    hashes: Vec<Option<Hashes>>,
    message_bytes: Vec<u8>,
}

impl Encoder {
    /// Appends `events` to `out`, counted.
    pub fn encode_batch(&mut self, events: &[Routed], out: &mut Vec<u8>) {
        Writer(out).u32(events.len() as u32);
        for (key, event) in events {
            let mut out = Writer(out);
            out.u64(key.at);
            out.u32(key.to);
            out.u32(key.from);
            out.u64(key.seq);
            self.encode_event(event, out);
        }
    }

    fn encode_event(&mut self, event: &Event, mut out: Writer<'_>) {
        match event {
            &Event::Request { from, file, segment, with_bitfield } => {
                out.u8(REQUEST);
                out.u32(from.0);
                out.u32(file.0);
                out.u32(segment);
                out.u8(u8::from(with_bitfield));
            }
            Event::Refusal { from, file, segment, load, held } => {
                out.u8(REFUSAL);
                out.u32(from.0);
                out.u32(file.0);
                out.u32(*segment);
                out.u32(*load);
                out.words(held);
            }
            Event::Deliver { from, message } => {
                let (tag, message) = self.leave_out_hashes_sent(message);
                out.u8(tag);
                out.u32(from.0);
                message.encode_into(&mut self.message_bytes);
                out.u32(self.message_bytes.len() as u32);
                out.0.extend_from_slice(&self.message_bytes);
            }
            // Its sender and receiver are the key's, written with it (so is a link's peer).
            Event::Net(NetEvent::Arrive(Arrival { bits, payload: Payload::Block { block, bytes } })) => {
                out.u8(ARRIVE_BLOCK);
                out.u64(*bits);
                out.u32(block.piece);
                out.u32(block.block);
                out.u32(*bytes);
            }
            Event::Net(NetEvent::Arrive(Arrival { bits, payload: Payload::Piece(payload) })) => {
                out.u8(ARRIVE);
                out.u64(*bits);
                out.u32(payload.file.0);
                out.u32(payload.segment);
                out.u32(payload.load);
                out.words(&payload.held);
            }
            Event::Net(NetEvent::LinkDue { direction, remote }) => {
                out.u8(LINK_DUE);
                out.u8(matches!(direction, Direction::Down) as u8);
                out.u32(*remote);
            }
            Event::Wake => out.u8(WAKE),
            Event::Wire { from, message } => {
                out.u8(WIRE);
                out.u32(*from);
                message.write(&mut out);
            }
            Event::Tick => out.u8(TICK),
        }
    }

    /// A swarm's message without its hashes when this stream sent its file's last time, with
    /// the tag that says so; any other message as it is.
    fn leave_out_hashes_sent<'m>(&mut self, message: &'m Message) -> (u8, Cow<'m, Message>) {
        let Message::Swarm { file, hashes, .. } = message else { return (DELIVER, Cow::Borrowed(message)) };
        let index = file.0 as usize;
        if self.hashes.len() <= index {
            self.hashes.resize(index + 1, None);
        }
        if self.hashes[index].as_deref() != Some(&**hashes) {
            self.hashes[index] = Some(hashes.clone());
            return (DELIVER, Cow::Borrowed(message));
        }
        let mut message = message.clone();
        if let Message::Swarm { hashes, .. } = &mut message {
            *hashes = Hashes::new(Vec::new());
        }
        (DELIVER_SAME_HASHES, Cow::Owned(message))
    }
}

/// Reads batches back, sharing each file's hashes among the messages that carry them.
#[derive(Default)]
pub struct Decoder {
    /// By file id: the copy handed out.
    hashes: Vec<Option<Hashes>>,
}

impl Decoder {
    /// Reads one batch (as `encode_batch` wrote it) from the front of `bytes`, into `events`;
    /// returns the rest.
    pub fn decode_batch<'b>(&mut self, bytes: &'b [u8], events: &mut Vec<Routed>) -> Result<&'b [u8], RoutedError> {
        let mut input = Reader(bytes);
        let count = input.u32("a batch's count")?;
        events.reserve(count as usize);
        for _ in 0..count {
            let key = EventKey {
                at: input.u64("a time")?,
                to: input.u32("a peer")?,
                from: input.u32("a peer")?,
                seq: input.u64("a sequence number")?,
            };
            let event = match input.u8("an event tag")? {
                tag @ (DELIVER | DELIVER_SAME_HASHES) => {
                    let from = PeerId(input.u32("a peer")?);
                    let length = input.u32("a message's length")? as usize;
                    let message = Message::decode(input.take(length, "a message")?)?;
                    Event::arrival_of(from, self.share_hashes(message, tag == DELIVER_SAME_HASHES)?)
                }
                ARRIVE => {
                    let bits = input.u64("a piece's bits")?;
                    let file = FileId(input.u32("a file id")?);
                    let segment = input.u32("a segment")?;
                    let load = input.u32("a load")?;
                    let held = input.words()?.into();
                    let payload = Payload::Piece(Piece { file, segment, load, held });
                    Event::Net(NetEvent::Arrive(Arrival { bits, payload }))
                }
                ARRIVE_BLOCK => {
                    let bits = input.u64("a block's bits")?;
                    let block = BlockRef { piece: input.u32("a piece")?, block: input.u32("a block")? };
                    let payload = Payload::Block { block, bytes: input.u32("a block's bytes")? };
                    Event::Net(NetEvent::Arrive(Arrival { bits, payload }))
                }
                REQUEST => Event::Request {
                    from: PeerId(input.u32("a peer")?),
                    file: FileId(input.u32("a file id")?),
                    segment: input.u32("a segment")?,
                    with_bitfield: input.u8("a flag")? != 0,
                },
                REFUSAL => Event::Refusal {
                    from: PeerId(input.u32("a peer")?),
                    file: FileId(input.u32("a file id")?),
                    segment: input.u32("a segment")?,
                    load: input.u32("a load")?,
                    held: input.words()?.into(),
                },
                WIRE => {
                    let from = input.u32("a peer")?;
                    Event::Wire { from, message: WireMessage::read(&mut input)? }
                }
                TICK => Event::Tick,
                LINK_DUE => {
                    let direction = if input.u8("a direction")? == 1 { Direction::Down } else { Direction::Up };
                    Event::Net(NetEvent::LinkDue { direction, remote: input.u32("a peer")? })
                }
                WAKE => Event::Wake,
                tag => return Err(RoutedError::UnknownTag(tag)),
            };
            events.push((key, event));
        }
        Ok(input.0)
    }

    /// A swarm's hashes as the copy kept for its file: the one the stream sent last, when the
    /// message came without them (`same`), or when they are the same.
    fn share_hashes(&mut self, message: Message, same: bool) -> Result<Message, RoutedError> {
        let Message::Swarm { file, name, hashes, holders, version } = message else { return Ok(message) };
        let index = file.0 as usize;
        if self.hashes.len() <= index {
            self.hashes.resize(index + 1, None);
        }
        let hashes = match &self.hashes[index] {
            Some(kept) if same || **kept == *hashes => kept.clone(),
            None if same => return Err(RoutedError::NoHashes(file.0)),
            _ => {
                self.hashes[index] = Some(hashes.clone());
                hashes
            }
        };
        Ok(Message::Swarm { file, name, hashes, holders, version })
    }
}

/// How many integers a report is.
pub const REPORT_FIELDS: usize = 9;

/// The report's fields, in order, as integers (`u64::MAX` for no next event).
pub fn encode_report(report: &WindowReport) -> [u64; REPORT_FIELDS] {
    [
        report.next.unwrap_or(u64::MAX),
        u64::from(report.done),
        report.events,
        report.in_flight,
        report.now,
        report.last_piece_at,
        report.last_done_at,
        report.first_done_at.unwrap_or(u64::MAX),
        u64::from(report.failed),
    ]
}

pub fn decode_report(fields: &[u64; REPORT_FIELDS]) -> WindowReport {
    WindowReport {
        next: (fields[0] != u64::MAX).then_some(fields[0]),
        done: fields[1] as u32,
        events: fields[2],
        in_flight: fields[3],
        now: fields[4],
        last_piece_at: fields[5],
        last_done_at: fields[6],
        first_done_at: (fields[7] != u64::MAX).then_some(fields[7]),
        failed: fields[8] != 0,
    }
}

/// A shard's end as bytes.
pub fn encode_end(end: &ShardEnd, out: &mut Vec<u8>) {
    let mut out = Writer(out);
    out.u64(end.events);
    out.u32(end.peers.len() as u32);
    for (id, peer) in &end.peers {
        out.u32(id.0);
        out.u64(peer.done_at.unwrap_or(u64::MAX));
        out.u64(peer.uploaded_bytes);
        out.u64(peer.downloaded_bytes);
        out.u64(peer.duplicate_bytes);
        encode_bittorrent(peer.bittorrent.as_ref(), &mut out);
    }
}

const NONE: u64 = u64::MAX;

fn encode_bittorrent(figures: Option<&BitTorrentOutcome>, out: &mut Writer<'_>) {
    let Some(figures) = figures else { return out.u8(0) };
    out.u8(1);
    out.u64(figures.interest_ppm.map_or(NONE, u64::from));
    out.u32(figures.regular_unchoke_ns.len() as u32);
    figures.regular_unchoke_ns.iter().for_each(|&ns| out.u64(ns));
    match figures.first_copies {
        Some(copies) => {
            out.u8(1);
            out.u64(copies.repeat_bytes);
            out.u64(copies.all_out_at.unwrap_or(NONE));
            out.u64(copies.before_first_done);
        }
        None => out.u8(0),
    }
}

fn decode_bittorrent(input: &mut Reader<'_>) -> Result<Option<BitTorrentOutcome>, RoutedError> {
    if input.u8("a flag")? == 0 {
        return Ok(None);
    }
    let interest = input.u64("an interest")?;
    let classes = input.u32("a class count")?;
    let regular_unchoke_ns = (0..classes).map(|_| input.u64("a time")).collect::<Result<_, _>>()?;
    let first_copies = match input.u8("a flag")? {
        0 => None,
        _ => {
            let repeat_bytes = input.u64("bytes")?;
            let at = input.u64("a time")?;
            let before_first_done = input.u64("bytes")?;
            Some(FirstCopiesOutcome { repeat_bytes, all_out_at: (at != NONE).then_some(at), before_first_done })
        }
    };
    Ok(Some(BitTorrentOutcome {
        interest_ppm: (interest != NONE).then_some(interest as u32),
        regular_unchoke_ns,
        first_copies,
    }))
}

/// Reads one shard's end from the front of `bytes`; returns the rest.
pub fn decode_end(bytes: &[u8]) -> Result<(ShardEnd, &[u8]), RoutedError> {
    let mut input = Reader(bytes);
    let events = input.u64("an event count")?;
    let count = input.u32("a peer count")?;
    let mut peers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = PeerId(input.u32("a peer")?);
        let done_at = input.u64("a time")?;
        let outcome = PeerOutcome {
            done_at: (done_at != u64::MAX).then_some(done_at),
            uploaded_bytes: input.u64("bytes")?,
            downloaded_bytes: input.u64("bytes")?,
            duplicate_bytes: input.u64("bytes")?,
            bittorrent: decode_bittorrent(&mut input)?,
        };
        peers.push((id, outcome));
    }
    Ok((ShardEnd { peers, events }, input.0))
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::model::{FileName, SegmentHash};
    use crate::wire::Holder;

    fn key(at: u64, to: u32, from: u32, seq: u64) -> EventKey {
        EventKey { at, to, from, seq }
    }

    fn hashes(n: u32) -> Hashes {
        Hashes::new((0..n).map(|i| SegmentHash::parse(&format!("{:032x}", i + 1)).unwrap()).collect())
    }

    fn swarm_message(to_file: u32) -> Message {
        Message::Swarm {
            file: FileId(to_file),
            name: FileName::new("file1").unwrap(),
            hashes: hashes(5),
            holders: vec![Holder { peer: PeerId(3), seed: true }],
            version: 2,
        }
    }

    #[test]
    fn every_kind_of_event_reads_back_as_written() {
        let events: Vec<Routed> = vec![
            (key(50, 2, 0, 7), Event::arrival_of(PeerId(0), swarm_message(0))),
            (key(51, 3, 4, 1), Event::arrival_of(PeerId(4), Message::AllDone)),
            (
                key(52, 3, 4, 2),
                Event::arrival_of(
                    PeerId(4),
                    Message::SegmentRequest { file: FileId(0), segment: 9, with_bitfield: true },
                ),
            ),
            (
                key(53, 4, 3, 0),
                Event::arrival_of(
                    PeerId(3),
                    Message::SegmentReply { file: FileId(0), segment: 9, granted: false, load: 2, held: vec![6] },
                ),
            ),
            (
                key(54, 4, 3, 1),
                Event::arrival_of(
                    PeerId(3),
                    Message::SegmentReply { file: FileId(1), segment: 0, granted: false, load: 0, held: vec![] },
                ),
            ),
            (
                key(60, 5, 6, 9),
                Event::Net(NetEvent::Arrive(Arrival {
                    bits: 2_097_152,
                    payload: Payload::Piece(Piece {
                        file: FileId(0),
                        segment: 17,
                        load: 3,
                        held: vec![u64::MAX, 5].into(),
                    }),
                })),
            ),
            (key(61, 5, 5, 10), Event::Net(NetEvent::LinkDue { direction: Direction::Down, remote: 7 })),
            (key(62, 5, 5, 11), Event::Wake),
            (
                key(63, 6, 7, 12),
                Event::Net(NetEvent::Arrive(Arrival {
                    bits: 137_971,
                    payload: Payload::Block { block: BlockRef { piece: 3, block: 15 }, bytes: 16_384 },
                })),
            ),
            (key(64, 6, 6, 13), Event::Tick),
        ];
        let wire_messages = [
            WireMessage::Connect { bitfield: vec![1, u64::MAX].into() },
            WireMessage::Accept { bitfield: vec![0].into() },
            WireMessage::Refuse,
            WireMessage::Have { piece: 99 },
            WireMessage::Interested,
            WireMessage::NotInterested,
            WireMessage::Choke,
            WireMessage::Unchoke,
            WireMessage::Request {
                blocks: vec![BlockRef { piece: 1, block: 2 }, BlockRef { piece: 4, block: 0 }].into(),
            },
            WireMessage::Cancel { block: BlockRef { piece: 7, block: 8 } },
            WireMessage::Announce,
            WireMessage::Peers { peers: vec![3, 9, 27].into() },
            WireMessage::Close,
        ];
        let events: Vec<Routed> = events
            .into_iter()
            .chain(
                wire_messages
                    .into_iter()
                    .enumerate()
                    .map(|(n, message)| (key(70 + n as u64, 8, 9, 20 + n as u64), Event::Wire { from: 9, message })),
            )
            .collect();
        let mut bytes = Vec::new();
        let mut encoder = Encoder::default();
        encoder.encode_batch(&events, &mut bytes);
        encoder.encode_batch(&events[1..2], &mut bytes);
        let mut decoder = Decoder::default();
        let mut read = Vec::new();
        let rest = decoder.decode_batch(&bytes, &mut read).unwrap();
        let rest = decoder.decode_batch(rest, &mut read).unwrap();
        assert!(rest.is_empty());
        let text = |events: &[Routed]| format!("{events:?}");
        assert_eq!(text(&read[..events.len()]), text(&events));
        assert_eq!(text(&read[events.len()..]), text(&events[1..2]));
        let mut cut = Vec::new();
        assert!(decoder.decode_batch(&bytes[..bytes.len() / 3], &mut cut).is_err(), "a batch cut short");
    }

    #[test]
    fn a_files_hashes_are_one_copy_however_many_swarms_bring_them() {
        let events: Vec<Routed> =
            (0..3).map(|n| (key(50, n + 1, 0, u64::from(n)), Event::arrival_of(PeerId(0), swarm_message(0)))).collect();
        let mut bytes = Vec::new();
        Encoder::default().encode_batch(&events, &mut bytes);
        // Sent once: the first message carries them, the others refer to them.
        assert!(bytes.len() < 2 * 5 * 16 + 3 * 200, "{} bytes for three swarms of five hashes", bytes.len());
        let mut read = Vec::new();
        Decoder::default().decode_batch(&bytes, &mut read).unwrap();
        let lists: Vec<*const SegmentHash> = read
            .iter()
            .map(|(_, event)| match event {
                Event::Deliver { message, .. } => match &**message {
                    Message::Swarm { hashes, .. } => hashes.as_ptr(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(lists.windows(2).all(|pair| pair[0] == pair[1]), "three copies of one list");
        assert_eq!(
            read.iter().map(|(_, event)| format!("{event:?}")).collect::<Vec<_>>(),
            events.iter().map(|(_, event)| format!("{event:?}")).collect::<Vec<_>>(),
            "the hashes left out come back"
        );
        // A stream that never carried a file's hashes cannot refer to them.
        let mut later = Vec::new();
        let mut encoder = Encoder::default();
        encoder.encode_batch(&events[..1], &mut Vec::new());
        encoder.encode_batch(&events[1..], &mut later);
        assert!(matches!(Decoder::default().decode_batch(&later, &mut Vec::new()), Err(RoutedError::NoHashes(0))));
    }

    #[test]
    fn reports_and_ends_read_back_as_written() {
        let report = WindowReport {
            next: Some(9),
            done: 3,
            events: 1 << 40,
            in_flight: 2,
            now: 8,
            last_piece_at: 7,
            last_done_at: 6,
            first_done_at: Some(5),
            failed: true,
        };
        assert_eq!(decode_report(&encode_report(&report)), report);
        let nothing = WindowReport::default();
        assert_eq!(decode_report(&encode_report(&nothing)), nothing);
        let end = ShardEnd {
            peers: vec![
                (
                    PeerId(1),
                    PeerOutcome {
                        done_at: Some(0),
                        uploaded_bytes: 5,
                        downloaded_bytes: 0,
                        duplicate_bytes: 0,
                        bittorrent: None,
                    },
                ),
                (
                    PeerId(4),
                    PeerOutcome {
                        done_at: None,
                        uploaded_bytes: 0,
                        downloaded_bytes: 9,
                        duplicate_bytes: 3,
                        bittorrent: Some(BitTorrentOutcome {
                            interest_ppm: Some(250_000),
                            regular_unchoke_ns: vec![7, 0, 9],
                            first_copies: Some(FirstCopiesOutcome {
                                repeat_bytes: 5,
                                all_out_at: None,
                                before_first_done: 11,
                            }),
                        }),
                    },
                ),
            ],
            events: 77,
        };
        let mut bytes = Vec::new();
        encode_end(&end, &mut bytes);
        let (read, rest) = decode_end(&bytes).unwrap();
        assert_eq!((read, rest.len()), (end, 0));
    }
}
