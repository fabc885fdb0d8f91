//! What the integration tests share: the binary, scratch folders, running it (under mpirun or
//! `local`) with a hard timeout, and judging the outputs as the course's checker did.
//!
//! Each test binary compiles its own copy of this module and uses only part of it.
#![allow(dead_code)]
// The sync shim (src/sync) exists so that loom can check the program's threads; this harness
// only starts processes and waits on them, and is never a loom model, so std's types are right.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use bitorrent::input::PeerInput;

pub const BIN: &str = env!("CARGO_BIN_EXE_bitorrent");

pub fn bin() -> &'static Path {
    Path::new(BIN)
}

/// The crate's root, where `tests/apd-tema3/` lives.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Scratch folders

/// A folder of one's own under the system's temporary folder. Removed when the test passes;
/// kept, and its path printed, when it fails (that is, when it is dropped during a panic).
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let label: String =
            label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("bitorrent-test-{label}-{}-{n}", std::process::id()));
            // `create_dir`, not `create_dir_all`: it fails if the folder exists, so it is ours alone.
            match std::fs::create_dir(&path) {
                Ok(()) => return Scratch { path },
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => panic!("cannot create scratch folder {}: {error}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// A subfolder, created.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: its folder is kept at {}", self.path.display());
        } else {
            // Undo any chmod 000 a test left, so that the folder can go.
            restore_permissions(&self.path);
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn restore_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
}

pub fn write(path: impl AsRef<Path>, content: impl AsRef<[u8]>) {
    let path = path.as_ref();
    std::fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The entries of `dir`, hidden ones included, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A `bitorrent sim` results folder's `summary.json` without its one nondeterministic line.
pub fn summary_but_wall(dir: &Path) -> String {
    let text = read(dir.join("summary.json"));
    let value: serde_json::Value = serde_json::from_str(&text).expect("summary.json is JSON");
    assert!(value["wall_seconds"].is_number(), "{text}");
    text.lines().filter(|line| !line.trim_start().starts_with("\"wall_seconds\"")).collect::<Vec<_>>().join("\n")
}

// ---------------------------------------------------------------------------------------------
// Processes

// Two libc calls that are safe for any argument, declared so, sparing a dependency on libc.
#[allow(unsafe_code)]
unsafe extern "C" {
    safe fn geteuid() -> u32;
    safe fn kill(pid: i32, signal: i32) -> i32;
}

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// Whether any process's command line is exactly `words` (to check that a killed job left none).
pub fn process_running(words: &[&str]) -> bool {
    let wanted: Vec<u8> = words.iter().flat_map(|word| word.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .any(|entry| std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| cmdline == wanted))
        })
        .unwrap_or(false)
}

/// Waits up to `patience` for every process with command line `words` to be gone (a killed
/// process takes a moment to go); whether they went.
pub fn gone_within(words: &[&str], patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    while process_running(words) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

pub fn is_root() -> bool {
    geteuid() == 0
}

/// Sends SIGKILL to `pid`; whether the process was there to take it.
pub fn kill_hard(pid: i32) -> bool {
    kill(pid, SIGKILL) == 0
}

/// The process of MPI rank `rank` among the processes below `root` (an mpirun): the one whose
/// environment says `OMPI_COMM_WORLD_RANK=<rank>` and whose program is bitorrent.
pub fn rank_process(root: u32, rank: u32) -> Option<i32> {
    let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
    descendants(root as i32).into_iter().find(|pid| {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let bin = std::fs::canonicalize(BIN).unwrap_or_else(|_| PathBuf::from(BIN));
        let is_bitorrent = std::fs::read_link(proc.join("exe")).is_ok_and(|exe| exe == bin);
        let environ = std::fs::read(proc.join("environ")).unwrap_or_default();
        is_bitorrent && environ.split(|&byte| byte == 0).any(|entry| entry == wanted.as_bytes())
    })
}

/// The processor time `pid` has used so far, all its threads, user and system; `None` once it is
/// gone. A process that has used some is past its start and at work, whatever the machine's load.
pub fn cpu_time(pid: i32) -> Option<Duration> {
    // /proc counts in USER_HZ, which Linux fixes at 100 a second for every program's sake.
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ... utime stime ...": fields 14 and 15, counted from 1; comm may
    // hold spaces, so count from the last ')', after which state is field 3.
    let mut after = stat[stat.rfind(')')? + 1..].split_whitespace().skip(14 - 3);
    let mut ticks = || after.next()?.parse::<u64>().ok();
    let (user, system) = (ticks()?, ticks()?);
    Some(Duration::from_millis((user + system) * 1000 / TICKS_PER_SECOND))
}

/// What one run of the binary did.
pub struct Run {
    pub command: String,
    /// `None` when it had to be killed.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|status| status.success())
    }

    /// The command, how it ended, and what it printed: the body of every failure message.
    pub fn describe(&self) -> String {
        let ended = if self.timed_out {
            format!("HUNG: killed after {:.1} s", self.elapsed.as_secs_f64())
        } else {
            match self.status {
                Some(status) => format!("{status} after {:.1} s", self.elapsed.as_secs_f64()),
                None => "no exit status".to_string(),
            }
        };
        format!(
            "$ {}\n{ended}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    pub fn assert_success(&self) {
        assert!(self.succeeded(), "the run failed:\n{}", self.describe());
    }

    /// A refused run: it ended by itself (no hang), with a non-zero status.
    pub fn assert_refused(&self) {
        assert!(!self.timed_out, "a bad input made the run hang:\n{}", self.describe());
        assert!(
            self.status.is_some_and(|status| !status.success()),
            "a bad input was accepted (exit status 0):\n{}",
            self.describe()
        );
    }

    /// A failed run: it ended by itself (no hang), with a non-zero status.
    pub fn assert_failed_by_itself(&self) {
        assert!(!self.timed_out, "the job hung:\n{}", self.describe());
        assert!(self.status.is_some_and(|status| !status.success()), "the job exited 0:\n{}", self.describe());
    }

    pub fn assert_stderr_mentions(&self, fragments: &[&str]) {
        for fragment in fragments {
            assert!(self.stderr.contains(fragment), "stderr should mention {fragment:?}:\n{}", self.describe());
        }
    }
}

/// The last 6000 characters: enough to see what went wrong, short enough to read.
fn tail(text: &str) -> String {
    const KEEP: usize = 6000;
    let count = text.chars().count();
    if count <= KEEP {
        text.to_string()
    } else {
        let rest: String = text.chars().skip(count - KEEP).collect();
        format!("[... {} characters cut ...]\n{rest}", count - KEEP)
    }
}

/// mpirun runs (and other heavy runs) one at a time within a test binary: on two cores, two
/// 32-rank jobs at once would crawl.
static HEAVY: Mutex<()> = Mutex::new(());

pub fn heavy_lock() -> MutexGuard<'static, ()> {
    // A test that failed while holding the lock poisons it; the lock itself is still good.
    HEAVY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether this build runs under mpirun: the `mpi` feature, on by default. Without it the tests
/// that need mpirun are marked ignored (and listed so), and those that run a swarm both ways run
/// it in-process only.
pub const UNDER_MPI: bool = cfg!(feature = "mpi");

/// The MPI launcher the tests use: `MPIRUN` (e.g. `mpiexec.mpich`, as `make test-mpich` sets it),
/// or `mpirun`; and whether it is OpenMPI's, the only one that wants `--oversubscribe` for more
/// ranks than cores (MPICH's hydra allows that by default and refuses the flag). Asked once.
pub struct Launcher {
    pub program: String,
    pub open_mpi: bool,
}

pub fn launcher() -> &'static Launcher {
    static LAUNCHER: std::sync::OnceLock<Launcher> = std::sync::OnceLock::new();
    LAUNCHER.get_or_init(|| {
        let program = std::env::var("MPIRUN").ok().filter(|name| !name.is_empty()).unwrap_or_else(|| "mpirun".into());
        require_on_path(&program);
        let version = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} --version: {e}"));
        let said = format!("{}{}", String::from_utf8_lossy(&version.stdout), String::from_utf8_lossy(&version.stderr));
        let open_mpi = said.contains("Open MPI") || said.contains("OpenRTE");
        Launcher { program, open_mpi }
    })
}

/// Fails the test, never skips it, when MPI is missing.
fn require_on_path(program: &str) {
    let found = program.contains('/') && Path::new(program).is_file()
        || std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "{program} is not on PATH, so the tests under MPI cannot run. Run `make test`: it installs \
         OpenMPI (scripts/ensure-deps.sh) and then runs every test."
    );
}

/// `mpirun --oversubscribe -np <np> <bitorrent> <args>` in `dir`, stdin closed, killed after
/// `timeout` (the launcher is `launcher()`'s; `--oversubscribe` for OpenMPI's only).
pub fn mpirun(np: u32, dir: &Path, args: &[&str], timeout: Duration) -> Run {
    mpirun_program(np, dir, BIN, args, timeout)
}

/// The launcher's `-np <np> <program> <args>`, as `mpirun` does it for bitorrent.
pub fn mpirun_program(np: u32, dir: &Path, program: &str, args: &[&str], timeout: Duration) -> Run {
    let _one_at_a_time = heavy_lock();
    run_command(mpirun_command(np, program, args, &[]), dir, timeout)
}

/// `mpirun` of bitorrent with `env` set for every rank (passed on by the launcher, as on several
/// hosts).
pub fn mpirun_env(np: u32, dir: &Path, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    let _one_at_a_time = heavy_lock();
    run_command(mpirun_command(np, BIN, args, env), dir, timeout)
}

/// The launcher's command for `np` ranks of `program <args>` (`--oversubscribe` for OpenMPI's),
/// allowed to run as root, with `env` set for every rank: OpenMPI's `-x NAME`, or hydra's
/// `-genv NAME VALUE`.
pub fn mpirun_command(np: u32, program: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let launcher = launcher();
    let mut command = Command::new(&launcher.program);
    if launcher.open_mpi {
        command.arg("--oversubscribe");
    }
    command.arg("-np").arg(np.to_string());
    for (name, value) in env {
        if launcher.open_mpi {
            command.arg("-x").arg(name).env(name, value);
        } else {
            command.arg("-genv").arg(name).arg(value);
        }
    }
    command.arg(program).args(args);
    if is_root() {
        command.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    }
    command
}

/// `bitorrent <args>` in `dir` without mpirun, killed after `timeout`.
pub fn bitorrent(dir: &Path, args: &[&str], timeout: Duration) -> Run {
    let mut command = Command::new(BIN);
    command.args(args);
    run_command(command, dir, timeout)
}

/// `bitorrent local --ranks <ranks> <args>` in `dir` (the input folder unless args say otherwise).
pub fn local(ranks: u32, dir: &Path, args: &[&str], timeout: Duration) -> Run {
    local_env(ranks, dir, args, &[], timeout)
}

/// `local`, with `env` set.
pub fn local_env(ranks: u32, dir: &Path, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    let ranks = ranks.to_string();
    let mut command = Command::new(BIN);
    command.args(["local", "--ranks", ranks.as_str()]).args(args);
    command.envs(env.iter().copied());
    run_command(command, dir, timeout)
}

/// Runs `command` in `dir` with stdin closed, collecting its output; kills it and everything it
/// started after `timeout` (the run is then marked as hung).
pub fn run_command(command: Command, dir: &Path, timeout: Duration) -> Run {
    run_command_while(command, dir, timeout, |_| {})
}

/// `run_command`, calling `meanwhile` with the started process's id while it runs (to signal
/// one of its processes, say); the timeout counts from the start, `meanwhile` included.
pub fn run_command_while(mut command: Command, dir: &Path, timeout: Duration, meanwhile: impl FnOnce(u32)) -> Run {
    use std::os::unix::process::CommandExt;
    let shown = format!(
        "(cd {} && {})",
        dir.display(),
        std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Its own process group, so that on a timeout the whole job can be signalled at once.
    command.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let started = Instant::now();
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let stdout = collect(child.stdout.take().expect("piped"));
    let stderr = collect(child.stderr.take().expect("piped"));
    meanwhile(child.id());
    let (status, timed_out) = wait_or_kill(&mut child, timeout.saturating_sub(started.elapsed()));
    let elapsed = started.elapsed();
    // Once the job is gone the pipes close; a stray process still holding one must not hang us.
    let grace = Duration::from_secs(5);
    let missing = |what: &str| format!("[{what} not collected: something still holds the pipe]");
    Run {
        command: shown,
        status,
        timed_out,
        elapsed,
        stdout: stdout.recv_timeout(grace).unwrap_or_else(|_| missing("stdout")),
        stderr: stderr.recv_timeout(grace).unwrap_or_else(|_| missing("stderr")),
    }
}

/// `bitorrent <args>` in `dir`, with a Unix datagram socket for its stderr, where every write
/// the program makes arrives as a datagram of its own: returns those writes, in order. Fails the
/// test if the run hangs past `timeout`.
pub fn bitorrent_stderr_writes(dir: &Path, args: &[&str], timeout: Duration) -> Vec<String> {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixDatagram;
    use std::os::unix::process::CommandExt;
    let (ours, theirs) = UnixDatagram::pair().expect("socket pair");
    // Read while the program runs: a datagram socket holds only a few datagrams unread
    // (net.unix.max_dgram_qlen, 10 here), and a writer beyond that would block.
    ours.set_read_timeout(Some(Duration::from_millis(20))).expect("read timeout");
    let (finished, is_finished) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut writes = Vec::new();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            match ours.recv(&mut buffer) {
                Ok(length) => writes.push(String::from_utf8_lossy(&buffer[..length]).into_owned()),
                // A datagram socket has no end of file: the run's end comes through the channel
                // (dropped), and the queue is empty once a read finds nothing after it.
                Err(_) if is_finished.try_recv() == Err(mpsc::TryRecvError::Disconnected) => return writes,
                Err(_) => {}
            }
        }
    });
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(OwnedFd::from(theirs)))
        .process_group(0)
        .spawn()
        .expect("start bitorrent");
    let (_, hung) = wait_or_kill(&mut child, timeout);
    drop(finished);
    let writes = reader.join().expect("the stderr reader");
    assert!(!hung, "bitorrent {args:?} hung; its stderr so far: {writes:#?}");
    writes
}

fn collect(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// Waits for the child; on expiry ends it and everything it started. OpenMPI puts each rank in
/// a process group of its own, so signalling mpirun's group is not enough: mpirun is asked to
/// stop its job (SIGTERM), and after a grace period every process it had started is killed.
/// The child must lead a process group of its own (`CommandExt::process_group(0)`).
fn wait_or_kill(child: &mut Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => break,
            Err(error) => panic!("waiting for the child: {error}"),
        }
    }
    let root = child.id() as i32;
    let family = descendants(root);
    kill(-root, SIGTERM);
    let grace = Instant::now() + Duration::from_secs(3);
    while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(-root, SIGKILL);
    for pid in family {
        kill(pid, SIGKILL);
    }
    let _ = child.wait();
    (None, true)
}

/// Every process below `root`, from /proc (children first seen through their parent).
fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ')'.
            let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else { continue };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|field| field.parse().ok()) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Inputs and expected outputs

/// A well-formed input file read the plainest way (whitespace-separated words), independently
/// of the reader under test: what a peer owns and what it wants.
#[derive(Debug, Clone, Default)]
pub struct Plain {
    pub owned: Vec<(String, Vec<String>)>,
    pub wanted: Vec<String>,
}

pub fn plain_parse(text: &str) -> Plain {
    let mut words = text.split_whitespace();
    let mut next = |what: &str| words.next().unwrap_or_else(|| panic!("test input ends early: {what}"));
    let number = |word: &str| word.parse::<usize>().unwrap_or_else(|_| panic!("not a count: {word}"));
    let mut plain = Plain::default();
    let owned = number(next("owned count"));
    for _ in 0..owned {
        let name = next("name").to_string();
        let segments = number(next("segment count"));
        let hashes = (0..segments).map(|_| next("hash").to_string()).collect();
        plain.owned.push((name, hashes));
    }
    let wanted = number(next("wanted count"));
    plain.wanted = (0..wanted).map(|_| next("wanted name").to_string()).collect();
    plain
}

/// What a judge expects: output file name (`client<R>_<file>`) -> its content.
pub type Expected = BTreeMap<String, String>;

/// Every wanted file of every peer, with the owner's hashes. `peers[0]` is rank 1.
pub fn expected_from_plain(peers: &[Plain]) -> Expected {
    let mut hashes: HashMap<&str, &Vec<String>> = HashMap::new();
    for peer in peers {
        for (name, file_hashes) in &peer.owned {
            hashes.insert(name, file_hashes);
        }
    }
    let mut expected = Expected::new();
    for (index, peer) in peers.iter().enumerate() {
        for name in &peer.wanted {
            let content = hashes.get(name.as_str()).unwrap_or_else(|| panic!("nobody owns {name}"));
            let text: String = content.iter().map(|hash| format!("{hash}\n")).collect();
            expected.insert(format!("client{}_{name}", index + 1), text);
        }
    }
    expected
}

/// The same, from a generated scenario's inputs.
pub fn expected_from_inputs(inputs: &[PeerInput]) -> Expected {
    let plain: Vec<Plain> = inputs
        .iter()
        .map(|input| Plain {
            owned: input
                .owned
                .iter()
                .map(|file| (file.name.to_string(), file.hashes.iter().map(|hash| hash.to_string()).collect()))
                .collect(),
            wanted: input.wanted.iter().map(ToString::to_string).collect(),
        })
        .collect();
    expected_from_plain(&plain)
}

/// The official way: every `client<R>_file<N>` a peer wants must match `out<N>.txt`.
pub fn expected_from_course(test_dir: &Path, peers: u32) -> Expected {
    let mut expected = Expected::new();
    for rank in 1..=peers {
        let plain = plain_parse(&read(test_dir.join(format!("in{rank}.txt"))));
        for name in plain.wanted {
            let number = name.strip_prefix("file").unwrap_or_else(|| panic!("course file name {name}"));
            let out = read(test_dir.join(format!("out{number}.txt")));
            expected.insert(format!("client{rank}_{name}"), out);
        }
    }
    expected
}

/// `diff -w` equality: the same lines, each compared with all its whitespace removed (a final
/// newline or a CR is whitespace too); blank lines still count.
pub fn same_ignoring_whitespace(a: &str, b: &str) -> bool {
    let squeeze = |text: &str| -> Vec<String> {
        text.lines().map(|line| line.chars().filter(|c| !c.is_whitespace()).collect()).collect()
    };
    squeeze(a) == squeeze(b)
}

/// The `client*` files in `dir`.
pub fn client_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("client"))
        .collect();
    names.sort();
    names
}

/// Judges `dir` as the course did, plus one rule: every expected file exists and matches,
/// ignoring whitespace, and no other `client*` file exists. The problems found, if any.
pub fn judge(dir: &Path, expected: &Expected) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, content) in expected {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Err(error) => problems.push(format!("{name}: missing ({error})")),
            Ok(found) if !same_ignoring_whitespace(&found, content) => {
                let first = found.lines().zip(content.lines()).position(|(a, b)| a.trim() != b.trim());
                let at = match first {
                    Some(line) => format!("first difference at line {}", line + 1),
                    None => "the shorter is the start of the other".to_string(),
                };
                problems.push(format!(
                    "{name}: differs from the expected hashes ({} lines, expected {}; {at})",
                    found.lines().count(),
                    content.lines().count(),
                ));
            }
            Ok(_) => {}
        }
    }
    for name in client_files(dir) {
        if !expected.contains_key(&name) {
            problems.push(format!("{name}: written, but no peer wanted it"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// Asserts that the run succeeded and that `dir` passes the judge.
pub fn assert_judged(run: &Run, dir: &Path, expected: &Expected) {
    run.assert_success();
    if let Err(problems) = judge(dir, expected) {
        panic!("wrong outputs in {}:\n{problems}\n{}", dir.display(), run.describe());
    }
}

pub fn assert_no_outputs(run: &Run, dir: &Path) {
    let outputs = client_files(dir);
    assert!(outputs.is_empty(), "a refused run left outputs {outputs:?} in {}:\n{}", dir.display(), run.describe());
}

/// Copies the input files `in*.txt` (only) of `from` into `to`.
pub fn copy_inputs(from: &Path, to: &Path) -> u32 {
    let mut count = 0;
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("list {}: {e}", from.display())).flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("in") && name.ends_with(".txt") {
            std::fs::copy(entry.path(), to.join(&name)).unwrap_or_else(|e| panic!("copy {name}: {e}"));
            count += 1;
        }
    }
    count
}
