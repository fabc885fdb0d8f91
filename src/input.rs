//! A peer's input file `in<R>.txt`: the files it owns (names and segment hashes) and the files
//! it wants.
//!
//! ```text
//! 2                                   number of files owned
//! file1 3                             name and segment count
//! 3fcfb9d1242fdce64aee2bfe35266912    one hash per segment
//! 6dd6078d720fc86c885f7f87faf0d32a
//! b56195fb830b234e8e35acaabc399400
//! file2 1
//! 0f2ab6f4eab22e6b061f99daa48dd74e
//! 1                                   number of files wanted
//! file3                               one name per line
//! ```
//!
//! These files are written by hand as often as by the generator, so the reader forgives layout
//! (CRLF, a BOM, blank lines, stray spaces and tabs) but not content: every count must agree
//! with the lines that follow, and every error names the physical line it was found on.

use std::collections::HashMap;
use std::path::Path;

use crate::model::{FileName, OwnedFile, SegmentHash};

/// Everything one peer starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInput {
    pub owned: Vec<OwnedFile>,
    pub wanted: Vec<FileName>,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}: cannot read: {source}")]
    Unreadable { file: String, source: std::io::Error },
    /// `line` is 1-based and counts every physical line, blank ones included, so that it
    /// matches what an editor shows.
    #[error("{file}:{line}: {problem}")]
    Bad { file: String, line: usize, problem: String },
}

impl InputError {
    pub fn file(&self) -> &str {
        match self {
            InputError::Unreadable { file, .. } | InputError::Bad { file, .. } => file,
        }
    }
}

pub fn read_peer_input(path: &Path) -> Result<PeerInput, InputError> {
    let source = path.display().to_string();
    match std::fs::read(path) {
        Ok(text) => parse_peer_input(&source, &text),
        Err(error) => Err(InputError::Unreadable { file: source, source: error }),
    }
}

/// `source` only names the text in errors (usually the path it was read from).
pub fn parse_peer_input(source: &str, text: &[u8]) -> Result<PeerInput, InputError> {
    let mut lines = Lines::new(source, text);

    let Some((owned_count_line, owned_count_text)) = lines.next_content()? else {
        return Err(lines.bad_at_end("the file is empty: expected the number of files owned".into()));
    };
    let owned_count = parse_count(owned_count_text).map_err(|problem| {
        lines.bad(owned_count_line, problem.describe("the number of files owned", owned_count_text))
    })?;

    // Grown one pushed item at a time: a count is only a promise until the lines are there, and
    // a file claiming four billion entries must fail at its end, not in the allocator.
    let mut owned: Vec<OwnedFile> = Vec::new();
    let mut owned_at: HashMap<FileName, usize> = HashMap::new();
    // Where the last file's segment count was given, to explain a hash met where a name was due.
    let mut previous: Option<(FileName, usize)> = None;

    for index in 0..owned_count {
        let Some((line, text)) = lines.next_content()? else {
            return Err(lines.bad_at_end(format!(
                "the file ends after {index} of the {owned_count} owned files promised at line {owned_count_line}"
            )));
        };
        let (name, segments) = parse_owned_header(text, index, owned_count, previous.as_ref())
            .map_err(|problem| lines.bad(line, problem))?;
        if let Some(first) = owned_at.get(&name) {
            return Err(lines.bad(line, format!("{name} is owned twice: it was already listed at line {first}")));
        }

        let mut hashes = Vec::new();
        for k in 0..segments {
            let Some((hash_line, hash_text)) = lines.next_content()? else {
                return Err(lines.bad_at_end(format!(
                    "the file ends after {k} of the {segments} hashes of {name} promised at line {line}"
                )));
            };
            let hash = SegmentHash::parse(hash_text)
                .ok_or_else(|| lines.bad(hash_line, describe_bad_hash(hash_text, k + 1, segments, &name)))?;
            hashes.push(hash);
        }

        owned_at.insert(name.clone(), line);
        previous = Some((name.clone(), line));
        owned.push(OwnedFile { name, hashes });
    }

    let Some((wanted_count_line, wanted_count_text)) = lines.next_content()? else {
        return Err(lines.bad_at_end(format!(
            "the file ends after the {owned_count} owned files: expected the number of files wanted"
        )));
    };
    let wanted_count = parse_count(wanted_count_text).map_err(|problem| {
        let mut text = problem.describe("the number of files wanted", wanted_count_text);
        text += &hint_for_misplaced_line(wanted_count_text, owned_count, owned_count_line, previous.as_ref());
        lines.bad(wanted_count_line, text)
    })?;

    let mut wanted: Vec<FileName> = Vec::new();
    let mut wanted_at: HashMap<FileName, usize> = HashMap::new();
    for index in 0..wanted_count {
        let Some((line, text)) = lines.next_content()? else {
            return Err(lines.bad_at_end(format!(
                "the file ends after {index} of the {wanted_count} wanted file names promised at line {wanted_count_line}"
            )));
        };
        if text.contains([' ', '\t']) {
            return Err(
                lines.bad(line, format!("expected one file name per line in the wanted list, found {}", shown(text)))
            );
        }
        let name = FileName::new(text).map_err(|bad| lines.bad(line, bad.to_string()))?;
        if let Some(first) = wanted_at.get(&name) {
            return Err(lines.bad(line, format!("{name} is wanted twice: it was already listed at line {first}")));
        }
        if let Some(first) = owned_at.get(&name) {
            return Err(lines.bad(line, format!("{name} is wanted but this peer already owns it (line {first})")));
        }
        wanted_at.insert(name.clone(), line);
        wanted.push(name);
    }

    if let Some((line, text)) = lines.next_content()? {
        return Err(lines.bad(
            line,
            format!(
                "expected nothing after the {wanted_count} wanted file names, found {}; \
                 does the count at line {wanted_count_line} promise too few?",
                shown(text)
            ),
        ));
    }

    Ok(PeerInput { owned, wanted })
}

/// The text of an input file that `parse_peer_input` reads back as `input`, one item a line and
/// a newline after the last. Names holding a space or tab (which `FileName` allows) would not
/// read back: the format has no way to quote them.
pub fn render_peer_input(input: &PeerInput, crlf: bool) -> String {
    let newline = if crlf { "\r\n" } else { "\n" };
    let mut text = String::new();
    let mut line = |content: &str| {
        text.push_str(content);
        text.push_str(newline);
    };
    line(&input.owned.len().to_string());
    for file in &input.owned {
        line(&format!("{} {}", file.name, file.hashes.len()));
        for hash in &file.hashes {
            line(hash.as_str());
        }
    }
    line(&input.wanted.len().to_string());
    for name in &input.wanted {
        line(name.as_str());
    }
    text
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Physical lines, taken one at a time so that a file of nothing but newlines costs no memory.
struct Lines<'a> {
    source: &'a str,
    rest: &'a [u8],
    /// Physical lines taken so far, which is also the number of the last one taken.
    taken: usize,
}

impl<'a> Lines<'a> {
    fn new(source: &'a str, text: &'a [u8]) -> Lines<'a> {
        Lines { source, rest: text.strip_prefix(BOM).unwrap_or(text), taken: 0 }
    }

    /// The next line that is not blank, trimmed, with its number; `None` at the end of the file.
    fn next_content(&mut self) -> Result<Option<(usize, &'a str)>, InputError> {
        // An empty rest means the end: a final newline does not start one more, empty, line.
        while !self.rest.is_empty() {
            let raw = match self.rest.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let raw = &self.rest[..end];
                    self.rest = &self.rest[end + 1..];
                    raw
                }
                None => std::mem::take(&mut self.rest),
            };
            self.taken += 1;
            let text = std::str::from_utf8(raw).map_err(|error| {
                self.bad(self.taken, format!("the line is not valid UTF-8 (at byte {})", error.valid_up_to() + 1))
            })?;
            // '\r' goes too: it is the other half of a CRLF, and stray ones are as invisible.
            let text = text.trim_matches([' ', '\t', '\r']);
            if !text.is_empty() {
                return Ok(Some((self.taken, text)));
            }
        }
        Ok(None)
    }

    fn bad(&self, line: usize, problem: String) -> InputError {
        InputError::Bad { file: self.source.to_string(), line, problem }
    }

    /// An error about something missing, reported at the file's last line (line 1 if it has none).
    fn bad_at_end(&self, problem: String) -> InputError {
        self.bad(self.taken.max(1), problem)
    }
}

enum CountProblem {
    NotANumber,
    TooLarge,
}

impl CountProblem {
    fn describe(&self, what: &str, found: &str) -> String {
        match self {
            CountProblem::NotANumber => {
                format!("expected {what} (a whole number from 0 to {}), found {}", u32::MAX, shown(found))
            }
            CountProblem::TooLarge => format!("{what} {} is too large: the limit is {}", shown(found), u32::MAX),
        }
    }
}

/// Plain decimal digits only: `str::parse` would also take a leading `+`, which no writer of
/// these files means.
fn parse_count(text: &str) -> Result<u32, CountProblem> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CountProblem::NotANumber);
    }
    text.parse::<u32>().map_err(|_| CountProblem::TooLarge)
}

/// Parses `name count`; the problem text on failure.
fn parse_owned_header(
    text: &str,
    index: u32,
    owned_count: u32,
    previous: Option<&(FileName, usize)>,
) -> Result<(FileName, u32), String> {
    let mut words = text.split([' ', '\t']).filter(|word| !word.is_empty());
    let name = words.next().unwrap_or_default();
    let Some(count) = words.next() else {
        let mut problem = format!(
            "expected \"<file name> <segment count>\" for owned file {} of {owned_count}, found {} with no segment count",
            index + 1,
            shown(text)
        );
        problem += &hint_if_hash(name, previous);
        return Err(problem);
    };
    if let Some(extra) = words.next() {
        return Err(format!(
            "expected \"<file name> <segment count>\", found extra text {} after the segment count in {}",
            shown(extra),
            shown(text)
        ));
    }
    let name = FileName::new(name).map_err(|bad| bad.to_string())?;
    let segments =
        parse_count(count).map_err(|problem| problem.describe(&format!("the segment count of {name}"), count))?;
    Ok((name, segments))
}

fn describe_bad_hash(text: &str, number: u32, of: u32, name: &FileName) -> String {
    let length = text.chars().count();
    let why = if length != SegmentHash::LEN {
        format!("{length} characters")
    } else {
        "it has a space, control or non-ASCII character".to_string()
    };
    format!(
        "expected hash {number} of {of} for {name} ({} visible ASCII characters), found {} ({why})",
        SegmentHash::LEN,
        shown(text)
    )
}

/// When the wanted count is not a number, the usual cause is a count above it that promised
/// too few lines; say which one.
fn hint_for_misplaced_line(
    text: &str,
    owned_count: u32,
    owned_count_line: usize,
    previous: Option<&(FileName, usize)>,
) -> String {
    let words: Vec<&str> = text.split([' ', '\t']).filter(|word| !word.is_empty()).collect();
    match words.as_slice() {
        [word] => hint_if_hash(word, previous),
        [_, count] if parse_count(count).is_ok() => format!(
            "; it looks like a \"<file name> <segment count>\" line: does the count of {owned_count} \
             owned files at line {owned_count_line} promise too few?"
        ),
        _ => String::new(),
    }
}

/// A hash where something else was due means the previous file had more hashes than promised.
fn hint_if_hash(word: &str, previous: Option<&(FileName, usize)>) -> String {
    match previous {
        Some((name, line)) if SegmentHash::parse(word).is_some() => {
            format!("; it looks like a hash: does the segment count of {name} at line {line} promise too few?")
        }
        _ => String::new(),
    }
}

/// Quoted and escaped, and cut short: a problem text should fit on a terminal line.
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 48;
    if text.chars().count() <= MAX_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_CHARS).collect();
        format!("{head:?}…")
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    const H1: &str = "3fcfb9d1242fdce64aee2bfe35266912";
    const H2: &str = "6dd6078d720fc86c885f7f87faf0d32a";
    const H3: &str = "b56195fb830b234e8e35acaabc399400";
    const H4: &str = "0f2ab6f4eab22e6b061f99daa48dd74e";

    fn example() -> String {
        format!("2\nfile1 3\n{H1}\n{H2}\n{H3}\nfile2 1\n{H4}\n1\nfile3\n")
    }

    fn name(text: &str) -> FileName {
        FileName::new(text).expect("test names are valid")
    }

    fn hash(text: &str) -> SegmentHash {
        SegmentHash::parse(text).expect("test hashes are valid")
    }

    fn expected_example() -> PeerInput {
        PeerInput {
            owned: vec![
                OwnedFile { name: name("file1"), hashes: vec![hash(H1), hash(H2), hash(H3)] },
                OwnedFile { name: name("file2"), hashes: vec![hash(H4)] },
            ],
            wanted: vec![name("file3")],
        }
    }

    fn parse(text: &str) -> Result<PeerInput, InputError> {
        parse_peer_input("in1.txt", text.as_bytes())
    }

    /// The line and problem of a rejection; fails the test if the text was accepted.
    fn rejection(text: &str) -> (usize, String) {
        match parse(text) {
            Err(InputError::Bad { file, line, problem }) => {
                assert_eq!(file, "in1.txt");
                (line, problem)
            }
            other => panic!("expected a rejection of {text:?}, got {other:?}"),
        }
    }

    fn assert_rejected(text: &str, line: usize, fragments: &[&str]) {
        let (found_line, problem) = rejection(text);
        assert_eq!(found_line, line, "line of {problem:?}");
        for fragment in fragments {
            assert!(problem.contains(fragment), "{problem:?} should mention {fragment:?}");
        }
    }

    #[test]
    fn reads_the_course_example() {
        assert_eq!(parse(&example()).expect("valid"), expected_example());
    }

    #[test]
    fn forgives_layout() {
        let expected = expected_example();
        let lf = example();
        let variants = [
            lf.replace('\n', "\r\n"),
            lf.trim_end().to_string(),
            lf.replace('\n', "\r\n").trim_end().to_string(),
            format!("\u{feff}{lf}"),
            format!("\n\n{}\n\n\n", lf.replace('\n', "\n\n")),
            lf.lines().map(|line| format!(" \t {line}\t  ")).collect::<Vec<_>>().join("\n"),
            lf.replace("file1 3", "file1 \t  3").replace("file2 1", "file2\t1"),
            format!("\u{feff}\r\n  2 \r\n\r\nfile1\t3\r\n{H1}\r\n{H2}  \r\n{H3}\r\nfile2 1\r\n{H4}\r\n\r\n1\r\nfile3"),
        ];
        for text in variants {
            assert_eq!(parse(&text).expect(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn render_reads_back() {
        let input = expected_example();
        assert_eq!(render_peer_input(&input, false), example());
        assert_eq!(render_peer_input(&input, true), example().replace('\n', "\r\n"));
        for crlf in [false, true] {
            assert_eq!(parse(&render_peer_input(&input, crlf)).expect("valid"), input);
        }
        let empty = PeerInput { owned: vec![], wanted: vec![] };
        assert_eq!(parse(&render_peer_input(&empty, true)).expect("valid"), empty);
    }

    #[test]
    fn empty_lists_and_empty_files_are_fine() {
        let input = parse("0\n0\n").expect("valid");
        assert!(input.owned.is_empty() && input.wanted.is_empty());
        let input = parse("1\nempty 0\n0").expect("valid");
        assert_eq!(input.owned, vec![OwnedFile { name: name("empty"), hashes: vec![] }]);
        let input = parse("0\n2\na\nb\n").expect("valid");
        assert_eq!(input.wanted, vec![name("a"), name("b")]);
    }

    #[test]
    fn display_forms() {
        let (line, problem) = rejection("x\n0\n");
        assert_eq!(line, 1);
        let error = parse("x\n0\n").expect_err("bad");
        assert_eq!(error.to_string(), format!("in1.txt:1: {problem}"));
        assert_eq!(error.file(), "in1.txt");

        let missing = std::env::temp_dir().join("bitorrent-input-test-no-such-dir/in1.txt");
        let error = read_peer_input(&missing).expect_err("missing file");
        assert!(matches!(error, InputError::Unreadable { .. }));
        assert_eq!(error.file(), missing.display().to_string());
        assert!(error.to_string().starts_with(&format!("{}: cannot read: ", missing.display())));
    }

    #[test]
    fn reads_from_disk() {
        let dir = std::env::temp_dir().join(format!("bitorrent-input-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("in1.txt");
        std::fs::write(&path, example()).expect("write");
        let read = read_peer_input(&path);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(read.expect("valid"), expected_example());
    }

    #[test]
    fn counts_must_be_plain_non_negative_integers() {
        for bad in ["-1", "abc", "3x", "1.5", "+2", "0x10", "1 2", "²"] {
            assert_rejected(&format!("{bad}\n0\n"), 1, &["number of files owned", "whole number", bad]);
            assert_rejected(&format!("0\n{bad}\n"), 2, &["number of files wanted", "whole number", bad]);
            if !bad.contains(' ') {
                assert_rejected(&format!("1\nfile1 {bad}\n"), 2, &["segment count of file1", "whole number", bad]);
            }
        }
    }

    #[test]
    fn counts_must_fit_u32() {
        for big in ["4294967296", "99999999999999", "000099999999999999999999999999"] {
            assert_rejected(&format!("{big}\n0\n"), 1, &["too large", big]);
            assert_rejected(&format!("0\n{big}\n"), 2, &["too large", big]);
            assert_rejected(&format!("1\nfile1 {big}\n"), 2, &["too large", big, "file1"]);
        }
        // The largest allowed count is accepted as a number, and then fails for want of lines.
        assert_rejected("1\nfile1 4294967295\n", 2, &["ends after 0 of the 4294967295 hashes of file1"]);
    }

    #[test]
    fn absurd_counts_fail_at_the_end_of_the_file_without_allocating() {
        assert_rejected(
            &format!("1\nfile1 99999999\n{H1}\n{H2}\n"),
            4,
            &["ends after 2 of the 99999999 hashes of file1 promised at line 2"],
        );
        assert_rejected("4000000000\nfile1 0\n", 2, &["ends after 1 of the 4000000000 owned files promised at line 1"]);
        assert_rejected("0\n4000000000\na\nb\n", 4, &["ends after 2 of the 4000000000 wanted file names"]);
    }

    #[test]
    fn missing_lines_are_reported_where_the_file_ends() {
        assert_rejected("", 1, &["file is empty"]);
        assert_rejected("\n\n  \n", 3, &["file is empty"]);
        assert_rejected("2\nfile1 0\n", 2, &["ends after 1 of the 2 owned files promised at line 1"]);
        assert_rejected(
            &format!("1\nfile1 100\n{H1}\n\n"),
            4,
            &["ends after 1 of the 100 hashes of file1 promised at line 2"],
        );
        assert_rejected(&format!("1\nfile1 1\n{H1}"), 3, &["after the 1 owned files", "number of files wanted"]);
        assert_rejected("0\n3\nx\n", 3, &["ends after 1 of the 3 wanted file names promised at line 2"]);
    }

    #[test]
    fn header_lines_need_exactly_a_name_and_a_count() {
        assert_rejected("1\nfile1\n", 2, &["<file name> <segment count>", "\"file1\"", "no segment count"]);
        assert_rejected("1\nfile1 1 2\n", 2, &["extra text \"2\"", "file1 1 2"]);
        assert_rejected("1\nfile1 1 x\n", 2, &["extra text \"x\""]);
    }

    #[test]
    fn counts_that_promise_too_few_are_caught_with_a_hint() {
        // One hash too many for file1: the extra hash is read where a name was due.
        assert_rejected(
            &format!("2\nfile1 1\n{H1}\n{H2}\nfile2 1\n{H3}\n0\n"),
            4,
            &["no segment count", "looks like a hash", "file1 at line 2"],
        );
        // Same, for the last owned file: the extra hash is read as the wanted count.
        assert_rejected(
            &format!("1\nfile1 1\n{H1}\n{H2}\n0\n"),
            4,
            &["number of files wanted", "looks like a hash", "file1 at line 2"],
        );
        // One owned file too many.
        assert_rejected(
            &format!("1\nfile1 1\n{H1}\nfile2 1\n{H2}\n0\n"),
            4,
            &["number of files wanted", "\"file2 1\"", "owned files at line 1 promise too few"],
        );
        // One wanted file too many.
        assert_rejected("0\n1\nfile3\nfile4\n", 4, &["nothing after the 1 wanted", "\"file4\"", "line 2"]);
    }

    #[test]
    fn content_after_the_wanted_list_is_refused() {
        assert_rejected(&format!("{}\n\nsurprise\n", example()), 12, &["expected nothing after", "surprise"]);
        assert_rejected("0\n0\n\t\n 0\n", 4, &["expected nothing after the 0 wanted", "\"0\""]);
    }

    #[test]
    fn hashes_must_be_32_visible_ascii_characters() {
        let short = &H1[..31];
        assert_rejected(&format!("1\nfile1 1\n{short}\n0\n"), 3, &["hash 1 of 1 for file1", "31 characters", short]);
        let long = format!("{H1}0");
        assert_rejected(&format!("1\nfile1 2\n{H2}\n{long}\n0\n"), 4, &["hash 2 of 2 for file1", "33 characters"]);
        let spaced = format!("{} {}", &H1[..16], &H1[17..]);
        assert_rejected(&format!("1\nfile1 1\n{spaced}\n0\n"), 3, &["hash 1 of 1", "space, control or non-ASCII"]);
        let accented = format!("{}é", &H1[..31]);
        assert_rejected(&format!("1\nfile1 1\n{accented}\n0\n"), 3, &["non-ASCII"]);
        // A header line where a hash was due: the segment count promised too many.
        assert_rejected(&format!("2\nfile1 2\n{H1}\nfile2 1\n{H2}\n0\n"), 4, &["hash 2 of 2 for file1", "\"file2 1\""]);
    }

    #[test]
    fn bad_file_names_are_refused_with_the_model_s_reason() {
        let long = "x".repeat(FileName::MAX_LEN + 1);
        let cases: [(&str, &str); 5] =
            [("a/b", "escape"), ("a\\b", "escape"), ("..", "escape"), ("x..y", "escape"), (&long, "longer than")];
        for (bad, reason) in cases {
            let expected = FileName::new(bad).expect_err("bad name").to_string();
            assert!(expected.contains(reason));
            let (line, problem) = rejection(&format!("1\n{bad} 0\n0\n"));
            assert_eq!((line, problem.as_str()), (2, expected.as_str()), "owned {bad:?}");
            let (line, problem) = rejection(&format!("0\n1\n{bad}\n"));
            assert_eq!((line, problem.as_str()), (3, expected.as_str()), "wanted {bad:?}");
        }
        // Control characters other than tabs and the CR of a CRLF stay in the name.
        assert_rejected("1\na\u{1}b 0\n0\n", 2, &["control character"]);
        assert_rejected("0\n1\na\0b\n", 3, &["control character"]);
        assert_rejected("0\n1\na\rb\n", 3, &["control character"]);
        assert_rejected("0\n1\nmy file\n", 3, &["one file name per line", "my file"]);
    }

    #[test]
    fn duplicates_are_refused() {
        assert_rejected("2\nfile1 0\n\nfile1 0\n0\n", 4, &["file1 is owned twice", "line 2"]);
        assert_rejected("0\n2\nfile3\nfile3\n", 4, &["file3 is wanted twice", "line 3"]);
        assert_rejected("1\nfile1 0\n1\nfile1\n", 4, &["file1 is wanted", "already owns it (line 2)"]);
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let mut text = b"1\nfile1 0\n1\n".to_vec();
        text.extend_from_slice(b"fil\xFFe3\n");
        match parse_peer_input("in1.txt", &text) {
            Err(InputError::Bad { line, problem, .. }) => {
                assert_eq!(line, 4);
                assert!(problem.contains("not valid UTF-8 (at byte 4)"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        // Even in what would otherwise be a blank trailing line.
        let text = b"0\n0\n\n\xC3\n";
        assert!(matches!(parse_peer_input("x", text), Err(InputError::Bad { line: 4, .. })));
    }

    #[test]
    fn line_numbers_count_blank_lines_and_crlf_lines() {
        assert_rejected("\r\n\r\n1\r\n\r\nfile1 x\r\n", 5, &["segment count of file1"]);
        assert_rejected("\u{feff}abc\n", 1, &["\"abc\""]);
    }

    #[test]
    fn long_offending_text_is_cut_short() {
        let long = "y".repeat(500);
        let (_, problem) = rejection(&format!("{long}\n"));
        assert!(problem.len() < 200, "{problem}");
        assert!(problem.contains('…'));
    }
}
