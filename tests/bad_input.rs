//! Bad inputs, under mpirun and through `local`. For each: the run ends by itself within 15 s
//! (mpirun start-up included) with a non-zero status, stderr names the input file and the line
//! (or, for errors between peers, the file name at fault), and no `client*` file is left.
//! The bad peer varies, and some cases sit in a 16-rank swarm, to show that no peer waits forever.
// These run the binary, which a `--features loom` build replaces with a stub: loom builds
// run only the models in loom-tests/.
#![cfg(not(feature = "loom"))]

mod common;

use std::path::Path;
use std::time::Duration;

use bitorrent::scenario::{self, ScenarioSpec};
use common::*;

const TIMEOUT: Duration = Duration::from_secs(15);

const H1: &str = "3fcfb9d1242fdce64aee2bfe35266912";
const H2: &str = "6dd6078d720fc86c885f7f87faf0d32a";

/// The good swarm a case spoils.
#[derive(Clone, Copy, Debug)]
enum Base {
    /// The course's test2: 6 ranks; file1 is owned by peers 1 and 4, file3 by 2 and 5.
    Course2,
    /// A generated 16-rank swarm.
    Large,
}

impl Base {
    fn ranks(self) -> u32 {
        match self {
            Base::Course2 => 6,
            Base::Large => LARGE.ranks,
        }
    }

    fn write(self, dir: &Path) {
        match self {
            Base::Course2 => {
                copy_inputs(&repo().join("tests/apd-tema3/test2"), dir);
            }
            Base::Large => {
                let planned = scenario::plan(&LARGE).expect("valid spec");
                planned.write_to(dir, false).expect("written");
            }
        }
    }
}

const LARGE: ScenarioSpec =
    ScenarioSpec { ranks: 16, files: 6, segments: 40, seeds: 2, wants: 2, seed: 99, crlf: false };

/// What a case does to the bad peer's input.
enum Change {
    /// Replace `in<R>.txt` with these bytes.
    Write(Vec<u8>),
    Remove,
    /// A directory where `in<R>.txt` should be: unreadable, even to root.
    Directory,
    /// `in<R>.txt` a symbolic link to this target (relative to the input folder).
    Symlink(&'static str),
    /// `chmod 000`: unreadable, except to root.
    NoReadPermission,
    /// Edit the peer's (good) input as data, then write it back.
    Edit(fn(&mut Plain)),
}

struct Case {
    label: &'static str,
    base: Base,
    rank: u32,
    change: Change,
    /// What stderr must mention.
    expect: Vec<String>,
}

/// A parse error: stderr must say `in<R>.txt:<line>:` and the problem.
fn parse_error(label: &'static str, rank: u32, text: impl Into<Vec<u8>>, line: usize, problem: &str) -> Case {
    Case {
        label,
        base: Base::Course2,
        rank,
        change: Change::Write(text.into()),
        expect: vec![format!("in{rank}.txt:{line}:"), problem.to_string()],
    }
}

fn render_plain(plain: &Plain) -> String {
    let mut text = format!("{}\n", plain.owned.len());
    for (name, hashes) in &plain.owned {
        text += &format!("{name} {}\n", hashes.len());
        for hash in hashes {
            text += &format!("{hash}\n");
        }
    }
    text += &format!("{}\n", plain.wanted.len());
    for name in &plain.wanted {
        text += &format!("{name}\n");
    }
    text
}

fn setup(case: &Case, dir: &Path) {
    case.base.write(dir);
    let path = dir.join(format!("in{}.txt", case.rank));
    assert!(path.is_file(), "{}: the base swarm has no peer {}", case.label, case.rank);
    match &case.change {
        Change::Write(bytes) => write(&path, bytes),
        Change::Remove => std::fs::remove_file(&path).expect("remove"),
        Change::Directory => {
            std::fs::remove_file(&path).expect("remove");
            std::fs::create_dir(&path).expect("mkdir");
        }
        Change::Symlink(target) => {
            std::fs::remove_file(&path).expect("remove");
            std::os::unix::fs::symlink(target, &path).expect("symlink");
        }
        Change::NoReadPermission => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        }
        Change::Edit(edit) => {
            let mut plain = plain_parse(&read(&path));
            edit(&mut plain);
            write(&path, render_plain(&plain));
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum How {
    Mpirun,
    Local,
}

/// Every way this build runs a swarm.
const HOWS: &[How] = if UNDER_MPI { &[How::Mpirun, How::Local] } else { &[How::Local] };

fn check(case: &Case, how: How) {
    let scratch = Scratch::new(&format!("bad-{:?}-{}", how, case.label));
    setup(case, scratch.path());
    let ranks = case.base.ranks();
    // Printed with the test's output if it fails.
    println!("case {:?} ({how:?}): peer {} of {ranks} ranks", case.label, case.rank);
    let run = match how {
        How::Mpirun => mpirun(ranks, scratch.path(), &[], TIMEOUT),
        How::Local => local(ranks, scratch.path(), &[], TIMEOUT),
    };
    run.assert_refused();
    let expect: Vec<&str> = case.expect.iter().map(String::as_str).collect();
    run.assert_stderr_mentions(&expect);
    assert_no_outputs(&run, scratch.path());
}

fn check_all(cases: &[Case]) {
    for case in cases {
        for &how in HOWS {
            check(case, how);
        }
    }
}

fn with_final_zero(hash: &str) -> String {
    format!("{hash}0")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn counts_that_are_not_non_negative_numbers() {
    check_all(&[
        parse_error("owned count negative", 1, "-1\n0\n", 1, "number of files owned"),
        parse_error("owned count a word", 4, format!("two\nfileA 1\n{H1}\n0\n"), 1, "\"two\""),
        parse_error("segment count a fraction", 2, format!("1\nfileA 1.5\n{H1}\n0\n"), 2, "segment count of fileA"),
        parse_error("segment count negative", 5, format!("1\nfileA -3\n{H1}\n0\n"), 2, "\"-3\""),
        parse_error("wanted count a word", 3, format!("1\nfileA 1\n{H1}\nsome\nfile1\n"), 4, "number of files wanted"),
        parse_error("empty file", 2, "", 1, "empty"),
    ]);
}

#[test]
fn counts_that_disagree_with_the_lines_that_follow() {
    check_all(&[
        // Too many promised: the next section is read where more was due.
        parse_error("owned count too large", 5, format!("2\nfileA 1\n{H1}\n0\n"), 4, "no segment count"),
        parse_error("segment count too large", 4, format!("1\nfileA 3\n{H1}\n{H2}\n1\nfile1\n"), 5, "hash 3 of 3"),
        parse_error("wanted count too large", 3, "0\n3\nfile1\nfile2\n", 4, "ends after 2 of the 3"),
        // Too few promised: what is left over is read as the next section.
        parse_error("owned count too small", 2, format!("1\nfileA 1\n{H1}\nfileB 1\n{H2}\n0\n"), 4, "promise too few"),
        parse_error("segment count too small", 1, format!("1\nfileA 1\n{H1}\n{H2}\n0\n"), 4, "promise too few"),
        parse_error("wanted count too small", 5, "0\n1\nfile1\nfile2\n", 4, "\"file2\""),
    ]);
}

#[test]
fn hashes_that_are_not_32_characters() {
    check_all(&[
        parse_error("hash of 31", 2, format!("1\nfileA 2\n{H1}\n{}\n0\n", &H2[..31]), 4, "31 characters"),
        parse_error("hash of 33", 4, format!("1\nfileA 1\n{}\n0\n", with_final_zero(H1)), 3, "33 characters"),
    ]);
}

#[test]
fn content_after_the_wanted_list() {
    check_all(&[parse_error("after the end", 3, "0\n1\nfile1\n\nthe end\n", 5, "expected nothing after")]);
}

#[test]
fn file_names_that_could_escape_the_output_folder() {
    check_all(&[
        parse_error("owned name with a slash", 1, format!("1\nsub/file 1\n{H1}\n0\n"), 2, "escape the output folder"),
        parse_error("wanted absolute path", 5, "0\n1\n/etc/passwd\n", 3, "escape the output folder"),
        parse_error("wanted dot-dot", 2, "0\n1\n..\n", 3, "escape the output folder"),
        parse_error("wanted parent path", 3, "0\n1\n../file1\n", 3, "escape the output folder"),
        // The name shown escaped once, as a user would type it.
        parse_error(
            "wanted NUL byte",
            4,
            &b"0\n1\nfile\0one\n"[..],
            3,
            r#"file name "file\0one" has a control character"#,
        ),
    ]);
}

/// Counts far beyond the lines there are must fail where the file ends, not in the allocator.
#[test]
fn absurd_counts() {
    check_all(&[
        parse_error("segment count beyond 32 bits", 3, format!("1\nfile1 99999999999\n{H1}\n0\n"), 2, "too large"),
        parse_error("owned count of four billion", 1, "4000000000\nfileA 0\n", 2, "ends after 1 of the 4000000000"),
        parse_error(
            "segment count of four billion",
            5,
            format!("1\nfileA 4000000000\n{H1}\n{H2}\n"),
            4,
            "ends after 2 of the 4000000000",
        ),
    ]);
}

#[test]
fn text_that_is_not_utf8() {
    check_all(&[parse_error("invalid UTF-8", 4, &b"0\n1\nfil\xffe\n"[..], 3, "UTF-8")]);
}

#[test]
fn unreadable_inputs() {
    check_all(&[
        Case {
            label: "missing",
            base: Base::Course2,
            rank: 3,
            change: Change::Remove,
            expect: vec!["in3.txt".into(), "cannot read".into()],
        },
        Case {
            label: "a directory",
            base: Base::Course2,
            rank: 5,
            change: Change::Directory,
            expect: vec!["in5.txt".into(), "cannot read".into()],
        },
    ]);
}

/// Inputs that cannot be opened, each with the system's reason in the message: a link to
/// nothing, a link to itself, and (for an ordinary user: root reads a `chmod 000` file) a file
/// without read permission. The links are unreadable to root too, so that this test checks
/// something however it is run (CI runs as root).
#[test]
fn inputs_that_cannot_be_opened() {
    let case = |label, change, reason: &str| Case {
        label,
        base: Base::Course2,
        rank: 2,
        change,
        expect: vec!["in2.txt".into(), "cannot read".into(), reason.into()],
    };
    let mut cases = vec![
        case("a dangling link", Change::Symlink("nowhere.txt"), "No such file or directory"),
        case("a link to itself", Change::Symlink("in2.txt"), "Too many levels of symbolic links"),
    ];
    if is_root() {
        println!("as root: the chmod 000 case is left out (root reads such a file); the links still count");
    } else {
        cases.push(case("no read permission", Change::NoReadPermission, "Permission denied"));
    }
    check_all(&cases);
}

/// Errors only the tracker can see, once every peer has registered.
#[test]
fn owners_that_disagree_about_a_file() {
    check_all(&[
        Case {
            label: "different hash",
            base: Base::Course2,
            rank: 4,
            change: Change::Edit(|peer| {
                let (name, hashes) = &mut peer.owned[0];
                assert_eq!(name, "file1");
                hashes[9] = H1.to_string();
            }),
            expect: vec!["file1".into(), "in1.txt".into(), "in4.txt".into()],
        },
        Case {
            label: "fewer segments",
            base: Base::Course2,
            rank: 5,
            change: Change::Edit(|peer| {
                let (name, hashes) = &mut peer.owned[1];
                assert_eq!(name, "file3");
                hashes.pop();
            }),
            expect: vec!["file3".into(), "in2.txt".into(), "in5.txt".into()],
        },
    ]);
}

#[test]
fn a_wanted_file_that_nobody_owns() {
    check_all(&[Case {
        label: "nobody owns",
        base: Base::Course2,
        rank: 2,
        change: Change::Edit(|peer| peer.wanted.push("file9".into())),
        expect: vec!["file9".into(), "in2.txt".into()],
    }]);
}

/// In a 16-rank swarm: fifteen peers wait on the tracker while one is bad; none may hang.
#[test]
fn a_bad_peer_in_a_large_swarm() {
    check_all(&[
        Case {
            label: "large, bad hash",
            base: Base::Large,
            rank: 13,
            change: Change::Write(format!("1\nfileA 2\n{H1}\nshort\n0\n").into_bytes()),
            expect: vec!["in13.txt:4:".into(), "5 characters".into()],
        },
        Case {
            label: "large, missing",
            base: Base::Large,
            rank: 15,
            change: Change::Remove,
            expect: vec!["in15.txt".into()],
        },
        Case {
            label: "large, nobody owns",
            base: Base::Large,
            rank: 7,
            change: Change::Edit(|peer| peer.wanted = vec!["no-such-file".into()]),
            expect: vec!["no-such-file".into(), "in7.txt".into()],
        },
        Case {
            label: "large, owners disagree",
            base: Base::Large,
            // Peers 9 and 12 own file1 (generator seed 99).
            rank: 12,
            change: Change::Edit(|peer| {
                let (name, hashes) = &mut peer.owned[0];
                assert_eq!(name, "file1", "the generator changed: pick another owner of a shared file");
                hashes[0] = H2.to_string();
            }),
            expect: vec!["file1".into(), "in9.txt".into(), "in12.txt".into()],
        },
    ]);
}

// ---------------------------------------------------------------------------------------------
// Too few ranks: a tracker and one peer is no swarm.

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn too_few_ranks_under_mpirun() {
    let scratch = Scratch::new("np2");
    Base::Course2.write(scratch.path());
    let run = mpirun(2, scratch.path(), &[], TIMEOUT);
    run.assert_refused();
    run.assert_stderr_mentions(&["at least 3 ranks", "not 2"]);
    assert_no_outputs(&run, scratch.path());
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn plain_bitorrent_without_mpirun_is_one_rank() {
    let scratch = Scratch::new("np1");
    Base::Course2.write(scratch.path());
    let run = bitorrent(scratch.path(), &[], TIMEOUT);
    run.assert_refused();
    run.assert_stderr_mentions(&["at least 3 ranks", "not 1", "mpirun", "local"]);
    assert_no_outputs(&run, scratch.path());
}

/// A build without the `mpi` feature runs no swarm of its own: it says why, and what does run.
#[test]
#[cfg_attr(feature = "mpi", ignore = "a build without the mpi feature only")]
fn plain_bitorrent_without_mpi_says_what_runs() {
    let scratch = Scratch::new("no-mpi");
    Base::Course2.write(scratch.path());
    for args in [&[][..], &["floor", "--exchanges", "10"][..]] {
        let run = bitorrent(scratch.path(), args, TIMEOUT);
        run.assert_refused();
        run.assert_stderr_mentions(&["needs MPI", "this build has none", "bitorrent local --ranks N"]);
        assert_no_outputs(&run, scratch.path());
    }
}

#[test]
fn too_few_ranks_through_local() {
    for ranks in [0, 1, 2] {
        let scratch = Scratch::new("local-few");
        Base::Course2.write(scratch.path());
        let run = local(ranks, scratch.path(), &[], TIMEOUT);
        run.assert_refused();
        run.assert_stderr_mentions(&["at least 3 ranks", &format!("not {ranks}")]);
        assert_no_outputs(&run, scratch.path());
    }
}

// ---------------------------------------------------------------------------------------------
// The output folder: made if missing, refused up front if it cannot be.

#[test]
fn a_missing_output_folder_is_made() {
    let scratch = Scratch::new("out-made");
    Base::Course2.write(scratch.path());
    let output = scratch.join("new/deeper");
    let run = local(6, scratch.path(), &["-o", output.to_str().unwrap()], TIMEOUT);
    run.assert_success();
    assert!(!client_files(&output).is_empty(), "no outputs in {}", output.display());
}

#[test]
fn an_output_folder_that_cannot_be_made_fails_before_any_output() {
    let scratch = Scratch::new("out-bad");
    Base::Course2.write(scratch.path());
    // A regular file where a folder should be: no one, root included, can make a folder inside it.
    write(scratch.join("blocker"), "not a folder");
    let output = scratch.join("blocker/out");
    let output = output.to_str().unwrap();
    for &how in HOWS {
        let run = match how {
            How::Mpirun => mpirun(6, scratch.path(), &["-o", output], TIMEOUT),
            How::Local => local(6, scratch.path(), &["-o", output], TIMEOUT),
        };
        run.assert_refused();
        run.assert_stderr_mentions(&["cannot create the output folder", "blocker/out"]);
        assert_no_outputs(&run, scratch.path());
    }
}

// ---------------------------------------------------------------------------------------------
// A bad command line under mpirun: refused once, no hang (ranks that leave before MPI starts
// can hang OpenMPI's mpirun).

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn an_unknown_option_under_mpirun_is_refused_without_a_hang() {
    let scratch = Scratch::new("bad-option");
    Base::Course2.write(scratch.path());
    let run = mpirun(16, scratch.path(), &["--no-such-option"], TIMEOUT);
    run.assert_refused();
    assert_eq!(run.stderr.matches("unexpected argument '--no-such-option'").count(), 1, "{}", run.describe());
    assert_no_outputs(&run, scratch.path());
}

// ---------------------------------------------------------------------------------------------
// Each message in one write.

/// Under mpirun a rank's stderr reaches the terminal through mpirun, which prints its own
/// messages (an abort's banner) into the same stream: a message written in pieces can be cut in
/// two by them, as CI once saw. So each message must be written whole, in one write.
#[test]
fn each_error_message_reaches_stderr_in_one_write() {
    let scratch = Scratch::new("one-write");
    Base::Course2.write(scratch.path());
    // The error path of a run (as under mpirun, through `local`) ...
    write(scratch.join("in4.txt"), format!("1\nfileA 1\n{}\n0\n", with_final_zero(H1)));
    let writes = bitorrent_stderr_writes(scratch.path(), &["local", "--ranks", "6"], TIMEOUT);
    assert!(
        writes.iter().any(|w| w.starts_with("bitorrent: ")
            && w.contains("in4.txt:3:")
            && w.contains("33 characters")
            && w.ends_with('\n')),
        "the parse error was not written whole; the writes were: {writes:#?}"
    );
    // ... and that of MPI's own start (a plain `bitorrent` is a world of one rank; in a build
    // without MPI, it says it has none).
    let writes = bitorrent_stderr_writes(scratch.path(), &[], TIMEOUT);
    let expected = if UNDER_MPI { "at least 3 ranks" } else { "this build has none" };
    assert!(
        writes.iter().any(|w| w.starts_with("bitorrent: ") && w.contains(expected) && w.ends_with('\n')),
        "the message of a plain `bitorrent` was not written whole; the writes were: {writes:#?}"
    );
}
