//! `bitorrent sim` from the outside: every bad input is one line on stderr naming the file (with
//! line and column for a swarm file, line for a course input), a non-zero exit, and no results
//! folder created or changed; a good one runs, writes `summary.json` and `peers.csv`, the same
//! to the byte for the same seed, and replaces an earlier results folder whole.
//!
//! Runs in both builds (with and without the `mpi` feature): the simulated engine needs no MPI.
// These run the binary, which a `--features loom` build replaces with a stub.
#![cfg(not(feature = "loom"))]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// A hang guard, not a measure: every refusal here takes milliseconds.
const TIMEOUT: Duration = Duration::from_secs(20);
/// A small swarm's run on the engine.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The good swarm each case spoils: 1 seed and 30 leechers sharing 4 MiB.
const SWARM: &str = "\
seed = 7
[file]
size = \"4 MiB\"
piece = \"256 KiB\"
[network]
latency = \"20 ms\"
[[peers]]
name = \"seed\"
count = 1
upload = \"10 Mbit/s\"
download = \"10 Mbit/s\"
seed = true
[[peers]]
name = \"leecher\"
count = 30
upload = \"1 Mbit/s\"
download = \"4 Mbit/s\"
";

fn spoilt(from: &str, to: &str) -> String {
    assert!(SWARM.contains(from), "the case's text {from:?} is not in the swarm");
    SWARM.replacen(from, to, 1)
}

/// A refused run: non-zero exit, exactly one line on stderr starting with `bitorrent: {prefix}`
/// and containing `fragment`, nothing on stdout, and `dir` holding only `before`.
fn assert_one_line_refusal(run: &Run, prefix: &str, fragment: &str, dir: &Path, before: &[String]) {
    run.assert_refused();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{}", run.describe());
    let line = lines[0];
    assert!(
        line.starts_with(&format!("bitorrent: {prefix}")),
        "stderr should start with {prefix:?}:\n{}",
        run.describe()
    );
    assert!(line.contains(fragment), "stderr should mention {fragment:?}:\n{}", run.describe());
    assert!(run.stdout.is_empty(), "nothing on stdout:\n{}", run.describe());
    assert_eq!(entries(dir), before, "a refused run changed {}:\n{}", dir.display(), run.describe());
}

struct SwarmCase {
    label: &'static str,
    text: String,
    /// Where the message must point: line, and column when the case fixes one.
    line: usize,
    column: Option<usize>,
    fragment: &'static str,
}

fn case(label: &'static str, text: String, line: usize, column: Option<usize>, fragment: &'static str) -> SwarmCase {
    SwarmCase { label, text, line, column, fragment }
}

fn bad_swarms() -> Vec<SwarmCase> {
    vec![
        case("not TOML", spoilt("count = 30", "count = "), 15, None, ""),
        case("not TOML: an unclosed table", spoilt("[network]", "[network"), 5, None, ""),
        case(
            "an unknown key",
            spoilt("upload = \"1 Mbit/s\"", "uplaod = \"1 Mbit/s\""),
            16,
            Some(1),
            "unknown field `uplaod`",
        ),
        case("a missing field", spoilt("count = 30\n", ""), 13, Some(1), "missing field `count`"),
        case("an unknown unit", spoilt("\"1 Mbit/s\"", "\"1 Mbps\""), 16, Some(10), "unknown unit \"Mbps\" in upload"),
        case("a rate of zero", spoilt("\"4 Mbit/s\"", "\"0 Mbit/s\""), 17, Some(12), "download is 0 bit/s"),
        case("a size of zero", spoilt("\"4 MiB\"", "\"0 MiB\""), 3, Some(8), "size is 0 B"),
        case("a piece of zero", spoilt("\"256 KiB\"", "\"0 B\""), 4, Some(9), "piece is 0 B"),
        case("a count of zero", spoilt("count = 30", "count = 0"), 15, Some(9), "count must be at least 1, not 0"),
        // Refused before anything is sized by it: the run ends at once instead of allocating
        // ten billion peers.
        case(
            "a count too large",
            spoilt("count = 30", "count = 9999999999"),
            15,
            Some(9),
            "count 9999999999 makes the swarm larger than 16777216 peers",
        ),
        case(
            "a piece larger than the file",
            spoilt("\"256 KiB\"", "\"8 MiB\""),
            4,
            Some(9),
            "larger than the file (4 MiB)",
        ),
        case("no seed at all", spoilt("seed = true\n", ""), 7, Some(1), "no class is a seed"),
        case("a quantity without its unit", spoilt("\"4 MiB\"", "4194304"), 3, Some(8), "has no unit"),
    ]
}

#[test]
fn every_bad_swarm_file_is_one_line_at_its_line_and_column_and_leaves_no_folder() {
    for case in bad_swarms() {
        let scratch = Scratch::new("sim-bad-swarm");
        let file = scratch.join("swarm.toml");
        write(&file, &case.text);
        let before = entries(scratch.path());
        let run = bitorrent(scratch.path(), &["sim", "swarm.toml"], TIMEOUT);
        let at = match case.column {
            Some(column) => format!("swarm.toml:{}:{column}: ", case.line),
            None => format!("swarm.toml:{}:", case.line),
        };
        assert_one_line_refusal(&run, &at, case.fragment, scratch.path(), &before);
        assert!(!scratch.join("sim-out").exists(), "{}: a results folder was created", case.label);
    }
}

/// SWARM with a `[policy]` table: the header is line 18, `table`'s first line 19.
fn with_policy(table: &str) -> String {
    format!("{SWARM}[policy]\n{table}")
}

fn bad_policies() -> Vec<SwarmCase> {
    vec![
        case("an unknown policy key", with_policy("unchoke = 4\n"), 19, Some(1), "unknown field `unchoke`"),
        case(
            "a piece order it does not know",
            with_policy("pieces = \"rarest\"\n"),
            19,
            Some(10),
            "pieces must be one of \"rarest-first\", \"random\", \"in-order\", not \"rarest\"",
        ),
        case(
            "a duration in an unknown unit",
            with_policy("rechoke = \"10 sec\"\n"),
            19,
            Some(11),
            "unknown unit \"sec\" in rechoke",
        ),
        case("an overhead without %", with_policy("overhead = \"5\"\n"), 19, Some(12), "\"5\" in overhead has no %"),
        case("an overhead of 100%", with_policy("overhead = \"100%\"\n"), 19, Some(12), "is 100% or more"),
        case(
            "an optimistic unchoke between rechokes",
            with_policy("rechoke = \"10 s\"\noptimistic = \"25 s\"\n"),
            20,
            Some(14),
            "optimistic must be a positive multiple of rechoke",
        ),
        case(
            "a block larger than the piece",
            with_policy("block = \"512 KiB\"\n"),
            19,
            Some(9),
            "block is 512 KiB, larger than the file's piece (256 KiB)",
        ),
        case(
            "a setting for the course's protocol",
            with_policy("protocol = \"course\"\nunchoke_slots = 4\n"),
            20,
            Some(17),
            "unchoke_slots applies only to protocol = \"bittorrent\"",
        ),
        case(
            "a seed that is a free rider",
            spoilt("seed = true\n", "seed = true\nfree_rider = true\n"),
            13,
            Some(14),
            "a free rider can only be a leecher",
        ),
    ]
}

#[test]
fn every_bad_policy_is_one_line_at_its_key_and_leaves_no_folder() {
    for case in bad_policies() {
        let scratch = Scratch::new("sim-bad-policy");
        write(scratch.join("swarm.toml"), &case.text);
        let before = entries(scratch.path());
        let run = bitorrent(scratch.path(), &["sim", "swarm.toml"], TIMEOUT);
        let at = format!("swarm.toml:{}:{}: ", case.line, case.column.expect("a column"));
        assert_one_line_refusal(&run, &at, case.fragment, scratch.path(), &before);
        assert!(!scratch.join("sim-out").exists(), "{}: a results folder was created", case.label);
    }
}

/// A bad policy option: one line naming it (ours), or clap's refusal naming it; never a folder.
#[test]
fn a_bad_policy_option_is_refused_naming_it() {
    let scratch = Scratch::new("sim-policy-option");
    write(scratch.join("swarm.toml"), SWARM);
    let before = entries(scratch.path());
    for (options, prefix, fragment) in [
        (&["--rechoke", "10 sec"][..], "unknown unit \"sec\" in --rechoke; use one of: ", "did you mean s?"),
        (&["--overhead", "5"], "\"5\" in --overhead has no %", ""),
        (&["--overhead", "100 %"], "\"100 %\" in --overhead is 100% or more", ""),
        (&["--block", "512 KiB"], "--block: block is 512 KiB, larger than the file's piece (256 KiB)", ""),
        (&["--optimistic", "25 s"], "--optimistic: optimistic must be a positive multiple of rechoke", ""),
        (
            &["--protocol", "course", "--unchoke-slots", "4"],
            "--unchoke-slots applies only to protocol",
            "--protocol course",
        ),
    ] {
        let run = bitorrent(scratch.path(), &[&["sim", "swarm.toml"], options].concat(), TIMEOUT);
        assert_one_line_refusal(&run, prefix, fragment, scratch.path(), &before);
    }
    // A swarm file of the course's protocol takes no setting either.
    write(scratch.join("course.toml"), with_policy("protocol = \"course\"\n"));
    let before = entries(scratch.path());
    let run = bitorrent(scratch.path(), &["sim", "course.toml", "--endgame", "false"], TIMEOUT);
    assert_one_line_refusal(
        &run,
        "--endgame applies only to protocol \"bittorrent\", and course.toml has protocol = \"course\"",
        "",
        scratch.path(),
        &before,
    );
    // Clap's own refusals: a name it does not know, a number that is not one.
    for options in [&["--pieces", "rarest"][..], &["--endgame", "yes"], &["--peer-set", "many"]] {
        let run = bitorrent(scratch.path(), &[&["sim", "swarm.toml"], options].concat(), TIMEOUT);
        run.assert_refused();
        run.assert_stderr_mentions(&[options[0]]);
        assert_eq!(entries(scratch.path()), before, "{}", run.describe());
    }
    // Not with a course folder, which runs the course's protocol.
    course_folder(&scratch);
    let before = entries(scratch.path());
    for options in [&["--protocol", "course"][..], &["--unchoke-slots", "4"]] {
        let run = bitorrent(scratch.path(), &course_args("course", options), TIMEOUT);
        run.assert_refused();
        run.assert_stderr_mentions(&["cannot be used with", options[0]]);
        assert_eq!(entries(scratch.path()), before, "{}", run.describe());
    }
}

/// A swarm within the peer ceiling but far beyond this machine's memory is refused at once,
/// from the memory a peer is measured to take, before anything is allocated for it.
#[test]
fn a_swarm_too_large_for_the_memory_is_refused_before_it_runs() {
    // 16,777,215 peers at 6 KB or more each: over 100 GB.
    let huge = spoilt("count = 30", "count = 16777214");
    let available_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        })
        .map(|kib| kib as f64 * 1024.0 / 1e9);
    match available_gb {
        Some(gb) if gb < 90.0 => {}
        other => {
            eprintln!(
                "skipped: this machine's free memory ({other:?} GB) may hold 16 million peers, or cannot be read"
            );
            return;
        }
    }
    let scratch = Scratch::new("sim-huge");
    write(scratch.join("swarm.toml"), huge);
    let before = entries(scratch.path());
    let run = bitorrent(scratch.path(), &["sim", "swarm.toml"], TIMEOUT);
    assert_one_line_refusal(
        &run,
        "swarm.toml: ",
        "16777215 peers of a 16-piece file need about",
        scratch.path(),
        &before,
    );
    assert!(!scratch.join("sim-out").exists(), "a results folder was created");
}

#[test]
fn a_bad_swarm_file_leaves_earlier_results_as_they_were() {
    let scratch = Scratch::new("sim-bad-keeps");
    let out = scratch.subdir("results");
    write(out.join("summary.json"), "{\"earlier\": true}\n");
    write(out.join("stray.txt"), "from before");
    write(scratch.join("swarm.toml"), spoilt("count = 30", "count = 0"));
    let before = entries(scratch.path());
    let run = bitorrent(scratch.path(), &["sim", "swarm.toml", "--out", "results"], TIMEOUT);
    assert_one_line_refusal(&run, "swarm.toml:15:9: ", "count must be", scratch.path(), &before);
    assert_eq!(entries(&out), ["stray.txt", "summary.json"]);
    assert_eq!(read(out.join("summary.json")), "{\"earlier\": true}\n");
}

#[test]
fn a_missing_swarm_file_is_named() {
    let scratch = Scratch::new("sim-missing");
    let run = bitorrent(scratch.path(), &["sim", "nowhere.toml"], TIMEOUT);
    assert_one_line_refusal(&run, "nowhere.toml: cannot read: ", "No such file", scratch.path(), &[]);
}

#[test]
fn a_swarm_file_that_is_not_utf8_is_placed() {
    let scratch = Scratch::new("sim-latin1");
    write(scratch.join("swarm.toml"), b"seed = 7\n# caf\xe9\n");
    let before = entries(scratch.path());
    let run = bitorrent(scratch.path(), &["sim", "swarm.toml"], TIMEOUT);
    assert_one_line_refusal(&run, "swarm.toml:2:6: ", "not UTF-8", scratch.path(), &before);
}

/// A course folder of two peers: peer 1 owns file1 (2 segments), peer 2 wants it.
fn course_folder(scratch: &Scratch) -> std::path::PathBuf {
    let folder = scratch.subdir("course");
    let hash = "3fcfb9d1242fdce64aee2bfe35266912";
    write(folder.join("in1.txt"), format!("1\nfile1 2\n{hash}\n{hash}\n0\n"));
    write(folder.join("in2.txt"), "0\n1\nfile1\n");
    folder
}

const LINKS: [&str; 6] = ["--upload", "1 Mbit/s", "--download", "4 Mbit/s", "--latency", "20 ms"];

fn course_args<'a>(folder: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sim", "--input", folder];
    args.extend(LINKS);
    args.extend(extra);
    args
}

#[test]
fn a_missing_course_folder_is_named() {
    let scratch = Scratch::new("sim-course-missing");
    let run = bitorrent(scratch.path(), &course_args("nowhere", &[]), TIMEOUT);
    assert_one_line_refusal(&run, "nowhere: cannot read: ", "No such file", scratch.path(), &[]);
}

#[test]
fn a_bad_course_input_is_named_with_its_line() {
    let scratch = Scratch::new("sim-course-bad");
    let folder = course_folder(&scratch);
    write(folder.join("in2.txt"), "0\nmany\nfile1\n");
    let before = entries(scratch.path());
    let run = bitorrent(scratch.path(), &course_args("course", &[]), TIMEOUT);
    assert_one_line_refusal(&run, "course/in2.txt:2: ", "", scratch.path(), &before);
}

/// What the tracker refuses in a live run, it refuses here too: owners that disagree about a
/// file, and a wanted file that nobody owns.
#[test]
fn a_course_swarm_the_tracker_refuses_is_refused() {
    let scratch = Scratch::new("sim-course-swarm");
    let folder = course_folder(&scratch);
    let other = "6dd6078d720fc86c885f7f87faf0d32a";
    write(folder.join("in2.txt"), format!("1\nfile1 1\n{other}\n0\n"));
    let before = entries(scratch.path());
    let run = bitorrent(scratch.path(), &course_args("course", &[]), TIMEOUT);
    assert_one_line_refusal(
        &run,
        "course: file1: in1.txt and in2.txt own it with different segments",
        "",
        scratch.path(),
        &before,
    );
    write(folder.join("in2.txt"), "0\n1\nfile9\n");
    let run = bitorrent(scratch.path(), &course_args("course", &[]), TIMEOUT);
    assert_one_line_refusal(&run, "course: in2.txt: wants file9, which no peer owns", "", scratch.path(), &before);
}

#[test]
fn a_bad_course_option_is_one_line() {
    let scratch = Scratch::new("sim-course-option");
    course_folder(&scratch);
    let before = entries(scratch.path());
    let mut args = course_args("course", &[]);
    args[4] = "1 Mbps";
    let run = bitorrent(scratch.path(), &args, TIMEOUT);
    assert_one_line_refusal(
        &run,
        "unknown unit \"Mbps\" in --upload; use one of: ",
        "did you mean Mbit/s?",
        scratch.path(),
        &before,
    );
    let run = bitorrent(scratch.path(), &course_args("course", &["--piece", "0 B"]), TIMEOUT);
    assert_one_line_refusal(&run, "--piece is 0 B", "", scratch.path(), &before);
}

#[test]
fn a_swarm_file_and_a_course_folder_together_are_refused() {
    let scratch = Scratch::new("sim-both");
    write(scratch.join("swarm.toml"), SWARM);
    course_folder(&scratch);
    let before = entries(scratch.path());
    let mut args = course_args("course", &[]);
    args.push("swarm.toml");
    let run = bitorrent(scratch.path(), &args, TIMEOUT);
    run.assert_refused();
    run.assert_stderr_mentions(&["cannot be used with"]);
    assert_eq!(entries(scratch.path()), before);
    // Neither: refused too.
    let run = bitorrent(scratch.path(), &["sim"], TIMEOUT);
    run.assert_refused();
    run.assert_stderr_mentions(&["required"]);
    // Link options without a course folder.
    let run = bitorrent(scratch.path(), &["sim", "swarm.toml", "--upload", "1 Mbit/s"], TIMEOUT);
    run.assert_refused();
    assert_eq!(entries(scratch.path()), before);
}

// ---------------------------------------------------------------------------------------------
// Runs on the engine

fn run_swarm(dir: &Path, text: &str, extra: &[&str]) -> Run {
    write(dir.join("swarm.toml"), text);
    let mut args = vec!["sim", "swarm.toml"];
    args.extend(extra);
    let _one_at_a_time = heavy_lock();
    bitorrent(dir, &args, RUN_TIMEOUT)
}

#[test]
fn a_small_swarm_runs_and_writes_both_files() {
    let scratch = Scratch::new("sim-run");
    let run = run_swarm(scratch.path(), SWARM, &[]);
    run.assert_success();
    let out = scratch.join("sim-out");
    assert_eq!(entries(&out), ["peers.csv", "summary.json"]);
    // Not a terminal: no progress line, just the summary line.
    assert!(!run.stderr.contains('\r'), "a progress line on a pipe:\n{}", run.describe());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.describe());
    assert!(lines[0].starts_with("bitorrent: swarm.toml: 31 peers in "), "{}", run.describe());
    assert!(lines[0].ends_with("results in sim-out"), "{}", run.describe());

    let csv = read(out.join("peers.csv"));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "peer,class,done_seconds,uploaded_bytes,downloaded_bytes,duplicate_bytes,share_ratio,interest_fraction"
    );
    assert_eq!(rows.len(), 1 + 31, "one row per peer:\n{csv}");
    for (index, row) in rows[1..].iter().enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), 8, "{row}");
        assert_eq!(cells[0], (index + 1).to_string(), "{row}");
        assert_eq!(cells[1], if index == 0 { "seed" } else { "leecher" }, "{row}");
        let (whole, nanos) = cells[2].split_once('.').unwrap_or_else(|| panic!("done_seconds in {row}"));
        assert!(whole.parse::<u64>().is_ok() && nanos.len() == 9, "{row}");
        if index > 0 {
            assert_eq!(cells[4], (4u64 << 20).to_string(), "a leecher downloads the file: {row}");
        }
    }

    let summary: serde_json::Value = serde_json::from_str(&read(out.join("summary.json"))).unwrap();
    assert_eq!(summary["seed"], 7);
    assert_eq!(summary["peers"], 31);
    assert_eq!(summary["scenario"]["origin"], "swarm.toml");
    assert_eq!(summary["scenario"]["files"][0]["size_bytes"], 4 << 20);
    let t_min = summary["t_min_seconds"].as_f64().unwrap();
    let last = summary["completion_seconds"]["last"].as_f64().unwrap();
    assert!(last >= t_min, "no run beats T_min: {last} < {t_min}");
    let efficiency = summary["efficiency"].as_f64().unwrap();
    assert!(efficiency > 0.0 && efficiency <= 1.0, "{efficiency}");
}

#[test]
fn the_same_seed_gives_the_same_results_and_another_seed_others() {
    let scratch = Scratch::new("sim-same");
    // A file of more pieces than a peer keeps requests out, so that leechers serve each other and
    // who serves whom follows the seed (with 16 pieces every leecher asks the seed for them all).
    let swarm = spoilt("size = \"4 MiB\"", "size = \"20 MiB\"");
    run_swarm(scratch.path(), &swarm, &["--out", "first"]).assert_success();
    run_swarm(scratch.path(), &swarm, &["--out", "second"]).assert_success();
    assert_eq!(summary_but_wall(&scratch.join("first")), summary_but_wall(&scratch.join("second")));
    assert_eq!(read(scratch.join("first/peers.csv")), read(scratch.join("second/peers.csv")));

    run_swarm(scratch.path(), &swarm, &["--out", "other", "--seed", "8"]).assert_success();
    let other: serde_json::Value = serde_json::from_str(&read(scratch.join("other/summary.json"))).unwrap();
    assert_eq!(other["seed"], 8, "--seed overrides the file's 7");
    assert_eq!(other["scenario"]["seed"], 8);
    assert_ne!(read(scratch.join("first/peers.csv")), read(scratch.join("other/peers.csv")));
}

/// `sim` starts itself again with glibc's huge-page tunable; with the tunable set to 0 by the
/// user it keeps 4 KiB pages. Pages are memory's business, never the results'.
#[test]
fn huge_pages_or_not_the_results_are_the_same() {
    let scratch = Scratch::new("sim-pages");
    let swarm = spoilt("size = \"4 MiB\"", "size = \"20 MiB\"");
    run_swarm(scratch.path(), &swarm, &["--out", "huge"]).assert_success();
    let mut command = Command::new(BIN);
    command.args(["sim", "swarm.toml", "--out", "small"]).env("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0");
    let run = {
        let _one_at_a_time = heavy_lock();
        run_command(command, scratch.path(), RUN_TIMEOUT)
    };
    run.assert_success();
    assert_eq!(summary_but_wall(&scratch.join("huge")), summary_but_wall(&scratch.join("small")));
    assert_eq!(read(scratch.join("huge/peers.csv")), read(scratch.join("small/peers.csv")));
}

#[test]
fn an_existing_results_folder_is_replaced_whole() {
    let scratch = Scratch::new("sim-replace");
    let out = scratch.subdir("sim-out");
    write(out.join("summary.json"), "{}\n");
    write(out.join("stray.txt"), "from before");
    write(scratch.join("swarm.toml"), SWARM);
    let before = entries(scratch.path());
    let run = run_swarm(scratch.path(), SWARM, &["--quiet"]);
    run.assert_success();
    assert!(run.stderr.is_empty(), "--quiet says nothing:\n{}", run.describe());
    assert_eq!(entries(&out), ["peers.csv", "summary.json"], "the stray file is gone");
    assert_eq!(entries(scratch.path()), before, "nothing aside or partial is left beside it");
}

/// The course's protocol, said in the file or by `--protocol` over the file's: the run says
/// which in summary.json, and a free rider uploads nothing, whatever its uplink.
#[test]
fn a_swarm_of_the_course_protocol_runs_and_says_so() {
    let scratch = Scratch::new("sim-course-protocol");
    let free_riders = "[[peers]]\nname = \"free rider\"\ncount = 5\nupload = \"1 Mbit/s\"\ndownload = \"4 Mbit/s\"\n\
                       free_rider = true\n";
    let swarm = format!("{SWARM}{free_riders}[policy]\nprotocol = \"course\"\n");
    run_swarm(scratch.path(), &swarm, &["--out", "file"]).assert_success();
    let summary: serde_json::Value = serde_json::from_str(&read(scratch.join("file/summary.json"))).unwrap();
    assert_eq!(summary["scenario"]["protocol"], serde_json::json!({"name": "course"}));
    let classes = &summary["scenario"]["classes"];
    let free: Vec<&serde_json::Value> = (0..3).map(|class| &classes[class]["free_rider"]).collect();
    assert_eq!(free, [false, false, true]);
    assert_eq!(summary["classes"][2]["uploaded_bytes"], 0, "the free riders uploaded");
    assert_eq!(summary["peers_unfinished"], 0);
    let csv = read(scratch.join("file/peers.csv"));
    for row in csv.lines().filter(|row| row.contains(",free rider,")) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(
            cells[3..5],
            ["0".to_string(), (4u64 << 20).to_string()],
            "a free rider gets the file and uploads nothing: {row}"
        );
    }

    // The option over the file's [policy]: BitTorrent's settings there, the course's protocol run.
    let swarm = with_policy("protocol = \"bittorrent\"\nunchoke_slots = 4\n");
    run_swarm(scratch.path(), &swarm, &["--out", "option", "--protocol", "course"]).assert_success();
    let summary: serde_json::Value = serde_json::from_str(&read(scratch.join("option/summary.json"))).unwrap();
    assert_eq!(summary["scenario"]["protocol"], serde_json::json!({"name": "course"}));
    assert_eq!(summary["peers"], 31);
}

#[test]
fn a_course_folder_runs() {
    let scratch = Scratch::new("sim-course-run");
    course_folder(&scratch);
    let _one_at_a_time = heavy_lock();
    let run = bitorrent(scratch.path(), &course_args("course", &["--piece", "16 KiB", "--out", "out"]), RUN_TIMEOUT);
    run.assert_success();
    let csv = read(scratch.join("out/peers.csv"));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let summary: serde_json::Value = serde_json::from_str(&read(scratch.join("out/summary.json"))).unwrap();
    assert_eq!(summary["scenario"]["input"], "course folder");
    assert_eq!(summary["scenario"]["protocol"], serde_json::json!({"name": "course"}));
    assert_eq!(summary["scenario"]["files"][0]["size_bytes"], 32 << 10);
    assert_eq!(summary["seed"], 1);
}
