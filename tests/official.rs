//! The course's four tests (tests/apd-tema3/), judged as the course judged them: copy a test's
//! inputs into an empty folder, run `mpirun --oversubscribe -np <ranks>` there within 20 s,
//! and compare every `client<R>_file<N>` a peer wanted with `out<N>.txt` ignoring whitespace.
//! Each test also runs through `bitorrent local`. Then the same judge on other layouts: input
//! and output folders apart, peers that own or want nothing. Last, checks of the judge itself.
// These run the binary, which a `--features loom` build replaces with a stub: loom builds
// run only the models in loom-tests/.
#![cfg(not(feature = "loom"))]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// What the course's checker allowed a test.
const COURSE_TIMEOUT: Duration = Duration::from_secs(20);

/// The course's test folder and its rank count (`-np`).
fn course_test(number: u32) -> (PathBuf, u32) {
    let ranks = match number {
        1 => 4,
        2 => 6,
        3 => 5,
        4 => 7,
        _ => unreachable!("the course has four tests"),
    };
    (repo().join(format!("tests/apd-tema3/test{number}")), ranks)
}

/// A scratch folder holding a copy of the test's inputs, and what the judge expects there.
fn prepare(number: u32) -> (Scratch, u32, Expected) {
    let (test_dir, ranks) = course_test(number);
    let scratch = Scratch::new(&format!("course{number}"));
    let copied = copy_inputs(&test_dir, scratch.path());
    assert_eq!(copied, ranks - 1, "test{number} has one input per peer");
    let expected = expected_from_course(&test_dir, ranks - 1);
    assert!(!expected.is_empty());
    (scratch, ranks, expected)
}

fn course_under_mpirun(number: u32) {
    let (scratch, ranks, expected) = prepare(number);
    let run = mpirun(ranks, scratch.path(), &[], COURSE_TIMEOUT);
    assert_judged(&run, scratch.path(), &expected);
}

fn course_through_local(number: u32) {
    let (scratch, ranks, expected) = prepare(number);
    let run = local(ranks, scratch.path(), &[], COURSE_TIMEOUT);
    assert_judged(&run, scratch.path(), &expected);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn course_test1_under_mpirun() {
    course_under_mpirun(1);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn course_test2_under_mpirun() {
    course_under_mpirun(2);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn course_test3_under_mpirun() {
    course_under_mpirun(3);
}

#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn course_test4_under_mpirun() {
    course_under_mpirun(4);
}

#[test]
fn course_test1_through_local() {
    course_through_local(1);
}

#[test]
fn course_test2_through_local() {
    course_through_local(2);
}

#[test]
fn course_test3_through_local() {
    course_through_local(3);
}

#[test]
fn course_test4_through_local() {
    course_through_local(4);
}

/// The expected files come from the course's inputs, not from what the program wrote: check
/// that the judge's lists are the course's (README table), so that a misreading here could
/// not hide a missing output.
#[test]
fn the_judge_expects_what_the_course_lists() {
    let listed = |number: u32| -> Vec<String> {
        let (test_dir, ranks) = course_test(number);
        expected_from_course(&test_dir, ranks - 1).into_keys().collect()
    };
    assert_eq!(listed(1), ["client1_file3", "client2_file1", "client3_file1", "client3_file2", "client3_file3"]);
    assert_eq!(
        listed(2),
        [
            "client1_file7",
            "client2_file6",
            "client3_file4",
            "client4_file2",
            "client5_file1",
            "client5_file4",
            "client5_file5"
        ]
    );
    assert_eq!(listed(3), ["client1_file2", "client2_file1", "client3_file1", "client4_file2"]);
    assert_eq!(listed(4), ["client3_file1", "client4_file1", "client5_file1", "client6_file1"]);
    // And out<N>.txt is what the owners announced (so the course's answer and the inputs agree).
    let (test_dir, ranks) = course_test(2);
    let peers: Vec<Plain> = (1..ranks).map(|rank| plain_parse(&read(test_dir.join(format!("in{rank}.txt"))))).collect();
    let from_owners = expected_from_plain(&peers);
    let from_course = expected_from_course(&test_dir, ranks - 1);
    for (name, content) in &from_course {
        assert!(same_ignoring_whitespace(content, &from_owners[name]), "{name}");
    }
}

/// `-i` and `-o`: inputs read from one folder, outputs written to another, neither being the
/// folder mpirun runs in (relative paths, as a user would type them).
#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn input_and_output_folders_apart_under_mpirun() {
    let (test_dir, ranks) = course_test(2);
    let scratch = Scratch::new("apart-mpirun");
    let inputs = scratch.subdir("inputs");
    let outputs = scratch.subdir("outputs");
    copy_inputs(&test_dir, &inputs);
    let expected = expected_from_course(&test_dir, ranks - 1);
    let run = mpirun(ranks, scratch.path(), &["-i", "inputs", "--output", "outputs"], COURSE_TIMEOUT);
    assert_judged(&run, &outputs, &expected);
    assert_eq!(client_files(&inputs), Vec::<String>::new(), "nothing written next to the inputs");
    assert_eq!(client_files(scratch.path()), Vec::<String>::new(), "nothing written in the working folder");
}

#[test]
fn input_and_output_folders_apart_through_local() {
    let (test_dir, ranks) = course_test(1);
    let expected = expected_from_course(&test_dir, ranks - 1);
    // The input folder as `--input`, and as local's FOLDER argument.
    for input_args in [&["--input", "inputs"][..], &["inputs"][..]] {
        let scratch = Scratch::new("apart-local");
        let inputs = scratch.subdir("inputs");
        let outputs = scratch.subdir("outputs");
        copy_inputs(&test_dir, &inputs);
        let mut args = vec!["-o", "outputs"];
        args.extend_from_slice(input_args);
        let run = local(ranks, scratch.path(), &args, COURSE_TIMEOUT);
        assert_judged(&run, &outputs, &expected);
        assert_eq!(client_files(&inputs), Vec::<String>::new(), "{input_args:?}");
        assert_eq!(client_files(scratch.path()), Vec::<String>::new(), "{input_args:?}");
    }
}

/// `-v` prints "peer R: uploaded U, ..." for every peer: the tracker heard from each.
fn uploads_by_peer(stderr: &str) -> Vec<(u32, u64)> {
    stderr
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("peer ")?;
            let (peer, rest) = rest.split_once(": uploaded ")?;
            let uploaded = rest.split(|c: char| !c.is_ascii_digit()).next()?;
            Some((peer.parse().ok()?, uploaded.parse().ok()?))
        })
        .collect()
}

/// test4 has two peers that own file1 and want nothing (pure seeds) and four that own nothing;
/// test3 plus a fifth peer that owns and wants nothing at all. Every peer takes part (the job
/// ends, each is accounted for), the seeds upload, and the idle peer writes nothing.
#[test]
fn peers_with_nothing_to_own_or_want_take_part() {
    let (scratch, ranks, expected) = prepare(4);
    let run = if UNDER_MPI {
        mpirun(ranks, scratch.path(), &["--verbose"], COURSE_TIMEOUT)
    } else {
        local(ranks, scratch.path(), &["--verbose"], COURSE_TIMEOUT)
    };
    assert_judged(&run, scratch.path(), &expected);
    let uploads = uploads_by_peer(&run.stderr);
    assert_eq!(
        uploads.iter().map(|&(peer, _)| peer).collect::<Vec<_>>(),
        (1..ranks).collect::<Vec<_>>(),
        "every peer's figures:\n{}",
        run.describe()
    );
    let from_seeds: u64 = uploads.iter().filter(|&&(peer, _)| peer <= 2).map(|&(_, up)| up).sum();
    assert!(from_seeds > 0, "only peers 1 and 2 own file1, yet they uploaded nothing:\n{}", run.describe());

    for how in ["mpirun", "local"].into_iter().filter(|&how| UNDER_MPI || how == "local") {
        let (scratch, ranks, expected) = prepare(3);
        write(scratch.join(format!("in{ranks}.txt")), "0\n0\n");
        let ranks = ranks + 1;
        let run = match how {
            "mpirun" => mpirun(ranks, scratch.path(), &["--verbose"], COURSE_TIMEOUT),
            _ => local(ranks, scratch.path(), &["--verbose"], COURSE_TIMEOUT),
        };
        assert_judged(&run, scratch.path(), &expected);
        let peers: Vec<u32> = uploads_by_peer(&run.stderr).iter().map(|&(peer, _)| peer).collect();
        assert_eq!(peers, (1..ranks).collect::<Vec<_>>(), "{how}:\n{}", run.describe());
    }
}

// ---------------------------------------------------------------------------------------------
// The judge and the harness: a test that cannot fail proves nothing, so show that they can.

#[test]
fn the_judge_ignores_whitespace_as_diff_w_does() {
    let lines = "a1\nb2";
    for same in ["a1\nb2\n", "a1 \n\tb2\n", " a 1\r\nb2\r\n", "a1\nb2"] {
        assert!(same_ignoring_whitespace(lines, same), "{same:?}");
    }
    for different in ["a1\n\nb2\n", "a1\nb2\n\n", "b2\na1\n", "a1\n", "a1\nb3\n", "a1b2\n"] {
        assert!(!same_ignoring_whitespace(lines, different), "{different:?}");
    }
}

#[test]
fn the_judge_catches_missing_wrong_and_extra_outputs() {
    let scratch = Scratch::new("judge");
    let expected: Expected =
        [("client1_file1".to_string(), "x\ny\n".to_string()), ("client2_file1".to_string(), "x\ny\n".to_string())]
            .into();
    write(scratch.join("client1_file1"), "x\ny\n");
    write(scratch.join("client2_file1"), "x \ny");
    write(scratch.join("in1.txt"), "not an output");
    assert_eq!(judge(scratch.path(), &expected), Ok(()));

    write(scratch.join("client2_file1"), "x\nz\n");
    let problems = judge(scratch.path(), &expected).expect_err("a wrong hash");
    assert!(problems.contains("client2_file1") && problems.contains("line 2"), "{problems}");

    std::fs::remove_file(scratch.join("client2_file1")).unwrap();
    let problems = judge(scratch.path(), &expected).expect_err("a missing output");
    assert!(problems.contains("client2_file1: missing"), "{problems}");

    write(scratch.join("client2_file1"), "x\ny\n");
    write(scratch.join("client3_file1"), "x\ny\n");
    let problems = judge(scratch.path(), &expected).expect_err("an extra output");
    assert!(problems.contains("client3_file1") && !problems.contains("client2"), "{problems}");
}

/// A hung job is killed at the timeout, ranks included, and reported as hung.
#[test]
#[cfg_attr(not(feature = "mpi"), ignore = "runs under mpirun: needs the mpi feature")]
fn a_hang_is_killed_and_reported() {
    let scratch = Scratch::new("hang");
    // A distinctive command line, to look for leftovers afterwards.
    let words = ["sleep", "61.5"];
    let run = mpirun_program(2, scratch.path(), "sleep", &words[1..], Duration::from_secs(1));
    assert!(run.timed_out && !run.succeeded(), "{}", run.describe());
    assert!(run.describe().contains("HUNG"));
    assert!(gone_within(&words, Duration::from_secs(2)), "a rank of the killed job is still running");

    let mut command = std::process::Command::new("sh");
    command.args(["-c", "echo started; sleep 62.5"]);
    let run = run_command(command, scratch.path(), Duration::from_millis(500));
    assert!(run.timed_out, "{}", run.describe());
    assert_eq!(run.stdout, "started\n", "what a hung run printed is kept");
    assert!(gone_within(&["sleep", "62.5"], Duration::from_secs(2)), "the killed command's child is still running");
}
