//! The nouns of a swarm: who (peer ids), what (files and their segment hashes).

use std::fmt;
use std::ops::Deref;

use crate::sync::Arc;

/// Who takes part in a swarm. Peer 0 is the tracker; peers are 1..N.
///
/// A peer id is not "the MPI rank": today each rank hosts one peer and the two are equal, but
/// the actors only ever see peer ids so that one rank can later host many peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

impl PeerId {
    pub const TRACKER: PeerId = PeerId(0);

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The tracker's short name for a file, so that segment traffic need not carry the file's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// One segment's hash: 32 ASCII characters (the size of an MD5 in hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentHash(pub [u8; SegmentHash::LEN]);

impl SegmentHash {
    pub const LEN: usize = 32;

    /// Accepts exactly 32 printable, non-space ASCII characters.
    pub fn parse(text: &str) -> Option<SegmentHash> {
        let bytes = text.as_bytes();
        if bytes.len() != Self::LEN || !bytes.iter().all(u8::is_ascii_graphic) {
            return None;
        }
        let mut hash = [0u8; Self::LEN];
        hash.copy_from_slice(bytes);
        Some(SegmentHash(hash))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII ever gets in (see `parse` and the wire decoder), so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("<invalid>")
    }
}

impl fmt::Debug for SegmentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SegmentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFileName {
    #[error("a file name cannot be empty")]
    Empty,
    #[error("file name {0:?} could escape the output folder")]
    Escapes(String),
    /// The name as given: `{0:?}` escapes the control characters once, for display.
    #[error("file name {0:?} has a control character")]
    Control(String),
    /// The first 40 characters of the name.
    #[error("file name {0:?}… is longer than {max} bytes", max = FileName::MAX_LEN)]
    TooLong(String),
}

/// A file's name as peers announce it. It becomes part of an output path
/// (`client<R>_<name>`), so anything that could leave the output folder is refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileName(String);

impl FileName {
    /// Long enough for any sane name, short enough that `client<R>_` plus it fits a path component.
    pub const MAX_LEN: usize = 200;

    pub fn new(name: &str) -> Result<FileName, BadFileName> {
        if name.is_empty() {
            return Err(BadFileName::Empty);
        }
        if name.len() > Self::MAX_LEN {
            return Err(BadFileName::TooLong(name.chars().take(40).collect()));
        }
        if name.contains('/') || name.contains('\\') || name == "." || name == ".." || name.contains("..") {
            return Err(BadFileName::Escapes(name.to_string()));
        }
        if name.chars().any(char::is_control) {
            return Err(BadFileName::Control(name.to_string()));
        }
        Ok(FileName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file a peer owns whole: its name and every segment's hash, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFile {
    pub name: FileName,
    pub hashes: Vec<SegmentHash>,
}

/// A file's segment hashes, in order, shared rather than copied: the tracker sends the same list
/// with every swarm of the file, and with thousands of peers (the simulated engine) a copy each
/// would be most of the memory.
#[derive(Clone)]
pub struct Hashes(Arc<Vec<SegmentHash>>);

impl Hashes {
    pub fn new(hashes: Vec<SegmentHash>) -> Hashes {
        Hashes(Arc::new(hashes))
    }

    /// The room the list holds, used or not: what a decoder was led to set aside.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl Deref for Hashes {
    type Target = [SegmentHash];

    fn deref(&self) -> &[SegmentHash] {
        &self.0
    }
}

impl From<Vec<SegmentHash>> for Hashes {
    fn from(hashes: Vec<SegmentHash>) -> Hashes {
        Hashes::new(hashes)
    }
}

impl PartialEq for Hashes {
    fn eq(&self, other: &Hashes) -> bool {
        **self == **other
    }
}

impl Eq for Hashes {}

impl fmt::Debug for Hashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_exactly_32_visible_characters() {
        assert!(SegmentHash::parse("3fcfb9d1242fdce64aee2bfe35266912").is_some());
        assert!(SegmentHash::parse("3fcfb9d1242fdce64aee2bfe3526691").is_none());
        assert!(SegmentHash::parse("3fcfb9d1242fdce64aee2bfe352669123").is_none());
        assert!(SegmentHash::parse("3fcfb9d1242fdce6 aee2bfe35266912").is_none());
        assert!(SegmentHash::parse("3fcfb9d1242fdce64aee2bfe3526691é").is_none());
    }

    #[test]
    fn names_that_could_escape_the_output_folder_are_refused() {
        assert!(FileName::new("file1").is_ok());
        assert!(FileName::new("my.file-2_x").is_ok());
        for bad in ["a/b", "../x", "..", ".", "a\\b", "x..y"] {
            assert!(matches!(FileName::new(bad), Err(BadFileName::Escapes(_))), "{bad}");
        }
        assert!(matches!(FileName::new("a\0b"), Err(BadFileName::Control(_))));
        assert_eq!(FileName::new(""), Err(BadFileName::Empty));
        assert!(matches!(FileName::new(&"x".repeat(201)), Err(BadFileName::TooLong(_))));
    }

    #[test]
    fn refusals_show_the_name_escaped_once() {
        let shown = |name: &str| FileName::new(name).expect_err("refused").to_string();
        assert_eq!(shown("a\0b"), r#"file name "a\0b" has a control character"#);
        assert_eq!(shown("a\u{7f}b\tc"), r#"file name "a\u{7f}b\tc" has a control character"#);
        assert_eq!(shown("../x"), r#"file name "../x" could escape the output folder"#);
        let long = shown(&"y".repeat(300));
        assert_eq!(long, format!("file name \"{}\"… is longer than 200 bytes", "y".repeat(40)));
    }
}
