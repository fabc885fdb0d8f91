#!/usr/bin/env bash
# Runs across three "hosts", Linux network namespaces joined by a bridge, each with an address of
# its own on a private subnet, so that ranks on different hosts talk over TCP between namespaces,
# as on a cluster: the course's four tests under mpirun, and the simulated engine (`bitorrent
# sim`) split over the ranks. `make test-hosts`.
#
# Usage: scripts/test-hosts.sh
#   BITORRENT=PATH  the binary to run (default: ./bitorrent, built with make first)
#
# Needs root, for the namespaces: without it, says why it skips and exits 0 (likewise as root
# where namespaces cannot be made, as in a container without CAP_SYS_ADMIN). Installs iproute2
# (`ip`) when missing.
#
# The network, all of it inside namespaces this run creates (NS = bitorrent-hosts-<pid>):
#   NS-sw    the switch: a bridge br0 with ports port1..port3
#   NS-h1..3 the hosts: lo, and eth0 (the other end of portN) at 10.213.0.N/24; no route out
# Each veth pair is created inside NS-sw with its host end put straight into the host's
# namespace, so the machine's own interfaces and routes are never touched (checked at the end),
# and nothing leaves the namespaces. Deleting the namespaces deletes everything; a trap does it
# on any exit, Ctrl-C included, and a run first removes what an earlier killed run left behind.
#
# The run: mpirun itself runs on host 1, started through scripts/netns-rsh.sh as through ssh;
# its hostfile names the three addresses; its rsh agent is that same script, which starts
# OpenMPI's daemon in the namespace owning an address, and in a UTS namespace of its own (the
# hosts' hostnames differ, as real hosts' do; otherwise OpenMPI's session folders, named after
# the hostname in the shared /tmp, collide: see netns-rsh.sh). MCA parameters: `pml ob1` and
# `btl self,tcp` (no shared memory, nor UCX's own transports: every message between two ranks
# goes over TCP), `btl_tcp_if_include` and `oob_tcp_if_include` set to the test subnet,
# `mpi_yield_when_idle 1` (the hosts share this machine's cores: see run_across_hosts);
# `--map-by node` puts rank r on host r mod 3 + 1.
#
# Why it crossed namespaces over TCP, checked from inside each run (check_spread, check_tcp):
# every rank, before becoming the program, records `ip netns identify` and its hostname, and
# each must be on the host the mapping names, all three hosts used; and OpenMPI's TCP transport,
# verbose, reports each connection it makes with the peer's address: each pair of ranks on
# different hosts that the program must make talk has to have a TCP connection, reported by
# either end at the other's host address. In the course's protocol that is every peer with the
# tracker (rank 0); in the simulation, every pair, as each window every rank sends its batches
# to every other (MPI_Alltoallv). Both checks are first run on made-up records (every rank in
# one namespace, connections only within a host, connections only to rank 0 where every pair
# must connect), which they must refuse. Each case also says how many bytes the hosts sent
# each other over the bridge (OpenMPI's own traffic included).
#
# The cases:
#   course1..4  the course's tests (4 to 7 ranks, up to three a host). Their judge is
#               tests/official.rs's: the same ranks, inputs copied into an empty folder, every
#               wanted client<R>_file<N> equal to out<N>.txt by `diff -q -w`, no other client*
#               file, exit 0 within the course's 20 s.
#   sim, sim-threads
#               `bitorrent sim` on a flash crowd (301 peers, a 32-piece file, some 1,400
#               windows of the latency: written into the work folder here) on 3 ranks, one a
#               host, then on 3 ranks of `--threads 2`. Peers are dealt to the shards round
#               robin, so about two in three messages between peers cross ranks. Its judge is the
#               engine's promise: the results folder (summary.json, peers.csv) is byte for byte
#               that of a one-process run of the same file (`bitorrent sim`, no mpirun) made
#               outside the namespaces, but for summary.json's wall_seconds line. That
#               comparison (same_results) is first shown to refuse a changed byte in either file.
#
# Why a script, not a Rust integration test like tests/official.rs: it needs root and builds a
# network, which `cargo test` (run as any user, tests in parallel, killed at Ctrl-C without
# running destructors) could not tear down reliably; a shell trap does, and `ip` is a command.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
agent=$top/scripts/netns-rsh.sh
course=$top/tests/apd-tema3

say() { echo "test-hosts: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  say "SKIPPED: needs root to create network namespaces, and runs as uid $(id -u); run it as root (sudo make test-hosts)"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# What it needs: ip (iproute2), unshare (util-linux), OpenMPI's mpirun, and the binary.

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "FAILED: missing ${missing[*]} (Debian names: iproute2 gives ip, util-linux gives unshare)" >&2
    exit 1
  fi
fi

if [ -n "${BITORRENT:-}" ]; then
  bin=$(cd "$(dirname "$BITORRENT")" && pwd)/$(basename "$BITORRENT")
else
  # make builds ./bitorrent, and installs OpenMPI when missing (scripts/ensure-deps.sh).
  make -C "$top" --no-print-directory bitorrent
  bin=$top/bitorrent
fi
[ -x "$bin" ] || { say "FAILED: no binary at $bin" >&2; exit 1; }
# The MCA parameters below are OpenMPI's; another launcher would ignore or refuse them.
if ! mpirun --version 2>&1 | grep -q -e 'Open MPI' -e 'OpenRTE'; then
  say "FAILED: mpirun is not OpenMPI's ($(mpirun --version 2>&1 | head -n 1)); this test drives OpenMPI's rsh launcher" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# The hosts.

hosts=3
subnet=10.213.0.0/24
prefix=bitorrent-hosts
switch_ns=$prefix-$$-sw
declare -a host_ns host_address
for ((i = 1; i <= hosts; i++)); do
  host_ns[i]=$prefix-$$-h$i
  host_address[i]=10.213.0.$i
done
# The rsh agent's map from address to namespace (scripts/netns-rsh.sh).
NETNS_RSH_HOSTS=
for ((i = 1; i <= hosts; i++)); do NETNS_RSH_HOSTS+="${host_address[i]}=${host_ns[i]} "; done
export NETNS_RSH_HOSTS
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

created=()   # the namespaces this run made, for the trap
running=     # the pid of the timeout around a running mpirun, for the trap
work=

# end_processes NS: ends the processes in namespace NS, politely and then not. Only this
# test's programs run there: mpirun, OpenMPI's daemons, the ranks.
end_processes() {
  local namespace=$1 pids attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10 11 12; do
    pids=$(ip netns pids "$namespace" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086  # one pid a word
    case $attempt in
      1) kill -TERM $pids 2>/dev/null || true ;;
      11) kill -KILL $pids 2>/dev/null || true ;;
    esac
    sleep 0.2
  done
}

# delete_namespace NS: its processes ended, deletes it with its interfaces.
delete_namespace() {
  end_processes "$1"
  ip netns delete "$1" 2>/dev/null || true
}

# Removes the namespaces of a run whose script is gone (killed with SIGKILL, so its trap did
# not run), and OpenMPI's session folders of their hosts; its work folder, $prefix-<pid>.*,
# stays, as a failed run's does. A run is alive while its pid is a test-hosts.sh; a pid that is
# gone, or now another program, means the run is over. (A run in another pid namespace sharing
# /run/netns would look gone: not a set-up this test is meant for.)
remove_leftovers() {
  local namespace owner
  while read -r namespace _; do
    [[ $namespace =~ ^$prefix-([0-9]+)-(sw|h[0-9]+)$ ]] || continue
    owner=${BASH_REMATCH[1]}
    [ "$owner" != $$ ] || continue
    if [ -r "/proc/$owner/cmdline" ] && tr '\0' ' ' <"/proc/$owner/cmdline" | grep -q 'test-hosts\.sh'; then
      continue
    fi
    say "removing $namespace, left by an earlier run (pid $owner, no longer running)"
    delete_namespace "$namespace"
    rm -rf "${TMPDIR:-/tmp}/ompi.$namespace."*
  done < <(ip netns list 2>/dev/null || true)
}

# What the machine's own network namespace has, to show at the end that the run changed nothing.
own_network() { ip -o link show | awk '{ print $2 }'; ip route show; }

cleanup() {
  local status=$?
  # A second Ctrl-C must not cut the clean-up short.
  trap - EXIT
  trap '' INT TERM HUP
  if [ -n "$running" ]; then
    kill -TERM "$running" 2>/dev/null || true
    wait "$running" 2>/dev/null || true
  fi
  local namespace
  for namespace in ${created[@]+"${created[@]}"}; do delete_namespace "$namespace"; done
  # OpenMPI's session folders of this run's hosts, which a killed daemon leaves.
  rm -rf "${TMPDIR:-/tmp}/ompi.$prefix-$$-"*
  local left
  left=$(ip netns list 2>/dev/null | grep -E "^$prefix-$$-" || true)
  if [ -n "$left" ]; then
    say "FAILED: could not delete the namespaces:" >&2
    echo "$left" >&2
    status=1
  elif [ ${#created[@]} -gt 0 ]; then
    say "namespaces, bridge and veths removed"
  fi
  if [ -n "${network_before:-}" ] && [ "$(own_network)" != "$network_before" ]; then
    say "WARNING: the machine's own interfaces or routes changed during the run" \
      "(not by this test, which works in namespaces only):" >&2
    diff <(echo "$network_before") <(own_network) >&2 || true
  fi
  # A failed run's files tell why; an interrupted one's, nothing.
  if [ -n "$work" ]; then
    if [ "$status" -eq 0 ] || [ -n "$interrupted" ]; then
      rm -rf "$work"
    else
      say "the run's files are kept in $work" >&2
    fi
  fi
  [ -z "$interrupted" ] || say "interrupted ($interrupted)" >&2
  exit "$status"
}
interrupted=
trap cleanup EXIT
trap 'interrupted=SIGINT; exit 130' INT
trap 'interrupted=SIGTERM; exit 143' TERM
trap 'interrupted=SIGHUP; exit 129' HUP

add_namespace() {
  ip netns add "$1"
  created+=("$1")
  ip -n "$1" link set lo up
}

# The switch's namespace exists already (made first, to see whether namespaces can be made).
setup_hosts() {
  local i
  ip -n "$switch_ns" link set lo up
  ip -n "$switch_ns" link add br0 type bridge
  ip -n "$switch_ns" link set br0 up
  for ((i = 1; i <= hosts; i++)); do
    add_namespace "${host_ns[i]}"
    ip -n "$switch_ns" link add "port$i" type veth peer name eth0 netns "${host_ns[i]}"
    ip -n "$switch_ns" link set "port$i" master br0 up
    ip -n "${host_ns[i]}" addr add "${host_address[i]}/24" dev eth0
    ip -n "${host_ns[i]}" link set eth0 up
  done
}

# ---------------------------------------------------------------------------------------------
# Running a command across the hosts, and showing where it ran.

# host_of_rank R: the host (1..hosts) that `--map-by node` puts rank R on.
host_of_rank() { echo $(($1 % hosts + 1)); }

# What each rank runs first: records its network namespace and hostname in DIR/rank.<R>, then
# becomes the command. mpirun passes the words on as they are (no shell in between).
# shellcheck disable=SC2016  # expanded by the rank's shell
record_rank='ns=$(ip netns identify) && echo "${ns:-none} $(hostname)" >"$1/rank.$OMPI_COMM_WORLD_RANK" && shift && exec "$@"'

# bridge_bytes: the bytes the hosts have sent on their eth0s, so onto the bridge, in all. Every
# frame between hosts is sent by exactly one of them.
bridge_bytes() {
  local i total=0
  for ((i = 1; i <= hosts; i++)); do
    total=$((total + $(ip netns exec "${host_ns[i]}" cat /sys/class/net/eth0/statistics/tx_bytes)))
  done
  echo "$total"
}

# run_across_hosts LABEL NP LIMIT COMMAND...: COMMAND as the NP ranks of one mpirun job, rank
# r on host r mod 3 + 1, in $work/LABEL/swarm (the caller puts the inputs there), within LIMIT
# seconds. mpirun runs on host 1. Leaves in $work/LABEL: stdout.txt, stderr.txt, where/ (each
# rank's namespace and hostname), ranks/ (each rank's own output, OpenMPI's --output-filename).
# Sets job_seconds (the job's wall time) and job_bytes (what the hosts sent over the bridge
# meanwhile). Fails, saying why, if the job hangs or exits non-zero.
#
# The hook for any kind of run across hosts: run_checked runs it and the checks of where it ran.
run_across_hosts() {
  local label=$1 np=$2 limit=$3
  shift 3
  local dir=$work/$label
  mkdir -p "$dir/where"
  local i hostfile=$dir/hostfile
  : >"$hostfile"
  for ((i = 1; i <= hosts; i++)); do echo "${host_address[i]} slots=2" >>"$hostfile"; done
  local -a command=(
    exec mpirun --hostfile "$hostfile" -np "$np" --map-by node --oversubscribe --wdir "$dir/swarm"
    --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1
    --mca pml ob1 --mca btl "self,tcp"
    --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet"
    # A rank waiting in MPI spins unless told to yield, and OpenMPI, seeing at most two ranks
    # on each host of two slots, does not tell it to: but the hosts share this machine's cores,
    # maybe fewer than the ranks, so a spinning rank holds the core its peer needs to answer,
    # and every message waits for the scheduler's time slice. The simulation's 5,000 windows
    # (at the 50 ms latency it first had) of collectives took 47 s so on 2 cores (results still right; a C loop of MPI_Allgather
    # crawled alike), 1 to 3 s yielding.
    --mca mpi_yield_when_idle 1
    # Each TCP connection, with the peer's address, in each rank's output (check_tcp).
    --mca btl_base_verbose 30 --output-filename "$dir/ranks"
    bash -c "$record_rank" record-rank "$dir/where" "$@"
  )
  local status=0 start sent_before
  start=$(date +%s.%N)
  sent_before=$(bridge_bytes)
  # In the background, waited for: a signal then reaches the trap at once, not after mpirun.
  (cd "$dir/swarm" && exec timeout -k 5 "$limit" "$agent" "${host_address[1]}" "$(printf '%q ' "${command[@]}")") \
    </dev/null >"$dir/stdout.txt" 2>"$dir/stderr.txt" &
  running=$!
  wait "$running" || status=$?
  running=
  job_seconds=$(awk -v start="$start" -v end="$(date +%s.%N)" 'BEGIN { printf "%.2f", end - start }')
  job_bytes=$(($(bridge_bytes) - sent_before))
  case $status in
    0) ;;
    124 | 137) say "$label: mpirun across the hosts HUNG: killed by timeout after $limit s; last lines of its stderr:" >&2 ;;
    *) say "$label: mpirun across the hosts exited with status $status; last lines of its stderr:" >&2 ;;
  esac
  if [ "$status" -ne 0 ]; then
    # Without the transport's verbose lines (check_tcp's), which would bury the reason.
    grep -v -E '^\[[^]]*\] (btl|mca|select)' "$dir/stderr.txt" | tail -n 20 | sed 's/^/  /' >&2
    # What the killed mpirun could not stop (its daemons run detached), so the next run starts
    # on empty hosts.
    for ((i = 1; i <= hosts; i++)); do end_processes "${host_ns[i]}"; done
    return 1
  fi
  # OpenMPI's daemons leave when mpirun does; one still there would outlive the job on a cluster.
  local attempt left pid
  for attempt in $(seq 50); do
    left=
    for ((i = 1; i <= hosts; i++)); do left+=$(ip netns pids "${host_ns[i]}"); done
    [ -n "$left" ] || return 0
    sleep 0.1
  done
  say "$label: processes still running on the hosts 5 s after mpirun exited (now ended):" >&2
  for ((i = 1; i <= hosts; i++)); do
    for pid in $(ip netns pids "${host_ns[i]}"); do echo "  host$i: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2; done
    end_processes "${host_ns[i]}"
  done
  return 1
}

# check_spread DIR NP: every rank ran on the host the mapping names (its namespace and
# hostname), and the job used every host it could. Fails if the ranks shared a namespace.
check_spread() {
  local dir=$1 np=$2 rank namespace hostname expected problems=0
  declare -A used=()
  for ((rank = 0; rank < np; rank++)); do
    expected=${host_ns[$(host_of_rank "$rank")]}
    if ! read -r namespace hostname <"$dir/where/rank.$rank" 2>/dev/null; then
      echo "  rank $rank: left no record of where it ran"
      problems=1
      continue
    fi
    if [ "$namespace" != "$expected" ] || [ "$hostname" != "$expected" ]; then
      echo "  rank $rank: ran in namespace $namespace with hostname $hostname, not on $expected"
      problems=1
    fi
    used[$namespace]=1
  done
  local wanted=$((np < hosts ? np : hosts))
  if [ ${#used[@]} -ne "$wanted" ]; then
    echo "  the ranks ran in ${#used[@]} namespace(s), not $wanted: ${!used[*]}"
    problems=1
  fi
  return $problems
}

# tcp_connections DIR: one line "RANK PEER_RANK PEER_ADDRESS" for each TCP connection
# OpenMPI reported in DIR/ranks (btl_base_verbose: "btl:tcp: now connected to 10.213.0.2,
# process [[41306,1],4]"), made or accepted by rank RANK.
tcp_connections() {
  local file rank
  for file in "$1"/ranks/*/rank.*/stderr; do
    [ -e "$file" ] || continue
    rank=${file%/stderr}
    rank=${rank##*/rank.}
    sed -n 's/.*btl:tcp: now connected to \([0-9.]*\), process \[\[[0-9]*,[0-9]*\],\([0-9]*\)\].*/\2 \1/p' "$file" |
      while read -r peer address; do echo "$rank $peer $address"; done
  done
}

# check_tcp DIR NP PAIRS: each pair of ranks on different hosts that the program must make talk
# has a TCP connection, reported by either end with the other end's host address; with `btl
# self,tcp` that talk can only be TCP. PAIRS says which pairs must talk: `tracker`, every peer
# with rank 0 (the course's protocol makes every peer talk to the tracker, and no more is
# certain: two peers need not trade), or `all`, every pair (the simulation: in each window,
# every rank sends its batches to every other, by MPI_Alltoallv, which OpenMPI carries rank to
# rank, not relayed). Prints how many rank pairs on different hosts connected, whether they had
# to or not.
check_tcp() {
  local dir=$1 np=$2 pairs=$3 problems=0 connections first last=0 second host_first host_second
  connections=$(tcp_connections "$dir")
  [ "$pairs" = tracker ] || last=$((np - 1))
  for ((first = 0; first <= last; first++)); do
    host_first=$(host_of_rank "$first")
    for ((second = first + 1; second < np; second++)); do
      host_second=$(host_of_rank "$second")
      [ "$host_first" != "$host_second" ] || continue
      if ! grep -q -x -e "$first $second ${host_address[host_second]}" \
        -e "$second $first ${host_address[host_first]}" <<<"$connections"; then
        echo "  ranks $first (host$host_first, ${host_address[host_first]}) and $second" \
          "(host$host_second, ${host_address[host_second]}): no TCP connection reported"
        problems=1
      fi
    done
  done
  local crossing
  crossing=$(awk -v hosts="$hosts" '
    { a = $1 + 0; b = $2 + 0; if (a % hosts == b % hosts) next
      key = a < b ? a " " b : b " " a; if (!(key in seen)) { seen[key] = 1; n++ } }
    END { print n + 0 }' <<<"$connections")
  [ $problems -ne 0 ] || echo "$crossing"
  return $problems
}

# The checks must be able to fail: made-up records of a job that stayed in one namespace, of
# one whose ranks connected only within a host, and of one whose ranks connected only to rank 0
# where every pair must, are refused; a spread one is accepted. And results that differ from
# the one-process run's by one byte, of either file, are refused; by wall_seconds, accepted.
self_test_checks() {
  local fake=$work/self-test np=4 rank
  mkdir -p "$fake/where" "$fake/ranks/1"
  for ((rank = 0; rank < np; rank++)); do echo "${host_ns[1]} ${host_ns[1]}" >"$fake/where/rank.$rank"; done
  if check_spread "$fake" "$np" >/dev/null; then
    say "FAILED: check_spread accepts four ranks all in ${host_ns[1]}" >&2
    return 1
  fi
  for ((rank = 0; rank < np; rank++)); do
    echo "${host_ns[$(host_of_rank "$rank")]} ${host_ns[$(host_of_rank "$rank")]}" >"$fake/where/rank.$rank"
  done
  check_spread "$fake" "$np" >/dev/null || { say "FAILED: check_spread refuses a spread job" >&2; return 1; }
  # Ranks 0 and 3 share host 1: a connection between them does not cross.
  mkdir -p "$fake/ranks/1/rank.0"
  echo "[x:1] btl:tcp: now connected to ${host_address[1]}, process [[7,1],3]" >"$fake/ranks/1/rank.0/stderr"
  if check_tcp "$fake" "$np" tracker >/dev/null; then
    say "FAILED: check_tcp accepts connections within host 1 only" >&2
    return 1
  fi
  mkdir -p "$fake/ranks/1/rank.2"
  echo "[x:1] btl:tcp: now connected to ${host_address[2]}, process [[7,1],1]" >>"$fake/ranks/1/rank.0/stderr"
  echo "[x:2] btl:tcp: now connected to ${host_address[1]}, process [[7,1],0]" >"$fake/ranks/1/rank.2/stderr"
  [ "$(check_tcp "$fake" "$np" tracker)" = 2 ] || { say "FAILED: check_tcp refuses, or miscounts, a crossing job" >&2; return 1; }
  # Rank 0 talks to both other hosts, but ranks 1, 2 and 3 (hosts 2, 3 and 1) to none.
  if check_tcp "$fake" "$np" all >/dev/null; then
    say "FAILED: check_tcp accepts connections with rank 0 only where every pair must connect" >&2
    return 1
  fi
  mkdir -p "$fake/ranks/1/rank.1" "$fake/ranks/1/rank.3"
  echo "[x:2] btl:tcp: now connected to ${host_address[3]}, process [[7,1],2]" >"$fake/ranks/1/rank.1/stderr"
  echo "[x:2] btl:tcp: now connected to ${host_address[1]}, process [[7,1],3]" >>"$fake/ranks/1/rank.1/stderr"
  echo "[x:1] btl:tcp: now connected to ${host_address[3]}, process [[7,1],2]" >"$fake/ranks/1/rank.3/stderr"
  if [ "$(check_tcp "$fake" "$np" all)" != 5 ]; then
    say "FAILED: check_tcp refuses, or miscounts, a fully connected job" >&2
    return 1
  fi

  local reference=$work/sim-reference/results copy=$fake/results problems
  cp -r "$reference" "$copy"
  sed -i 's/^\(  "wall_seconds": \).*/\11234.5/' "$copy/summary.json"
  if cmp -s "$reference/summary.json" "$copy/summary.json"; then
    say "FAILED: self-test: the reference's summary.json has no wall_seconds line to change" >&2
    return 1
  fi
  if ! problems=$(same_results "$reference" "$copy"); then
    say "FAILED: same_results refuses results that differ by wall_seconds only:" >&2
    echo "$problems" >&2
    return 1
  fi
  sed -i 's/^\(  "events": \)/\11/' "$copy/summary.json"
  if same_results "$reference" "$copy" >/dev/null; then
    say "FAILED: same_results accepts a summary.json with another events count" >&2
    return 1
  fi
  rm -r "$copy"
  cp -r "$reference" "$copy"
  sed -i '$ s/[0-9]$/x/' "$copy/peers.csv"
  if same_results "$reference" "$copy" >/dev/null; then
    say "FAILED: same_results accepts a peers.csv with its last digit changed" >&2
    return 1
  fi
  rm -rf "$fake"
}

# run_checked LABEL NP LIMIT PAIRS COMMAND...: run_across_hosts LABEL NP LIMIT COMMAND..., then
# check_spread and check_tcp (PAIRS) on it. On success sets ran_how to what a pass line says of
# the job: its time, its ranks by host, what crossed between hosts. Fails saying why.
run_checked() {
  local label=$1 np=$2 limit=$3 pairs=$4
  shift 4
  local dir=$work/$label
  run_across_hosts "$label" "$np" "$limit" "$@" || return 1
  local problems crossing
  if ! problems=$(check_spread "$dir" "$np"); then
    say "$label: the ranks did not run where the hostfile put them:" >&2
    echo "$problems" >&2
    return 1
  fi
  if ! crossing=$(check_tcp "$dir" "$np" "$pairs"); then
    say "$label: no TCP between hosts shown:" >&2
    echo "$crossing" >&2
    return 1
  fi
  local layout='' i rank
  for ((i = 1; i <= hosts; i++)); do
    layout+=" host$i:"
    for ((rank = i - 1; rank < np; rank += hosts)); do layout+=" $rank"; done
    [ "$i" -eq "$hosts" ] || layout+=";"
  done
  ran_how="in $job_seconds s; $np ranks by host:$layout; $crossing rank pairs on different hosts"
  ran_how+=" connected over TCP; $((job_bytes / 1000)) kB sent between hosts"
}

# ---------------------------------------------------------------------------------------------
# The course's tests, judged as tests/official.rs judges them.

# wanted_files IN_FILE: the names a peer's input asks for (after its owned files and hashes).
wanted_files() {
  awk '
    { gsub(/\r/, ""); for (w = 1; w <= NF; w++) word[++n] = $w }
    END {
      i = 1; files = word[i++]
      for (f = 0; f < files; f++) { i++; i += word[i] + 1 }   # name, count, that many hashes
      wanted = word[i++]
      for (f = 0; f < wanted; f++) print word[i++]
    }' "$1"
}

# judge_course NUMBER NP DIR: every wanted client<R>_file<N> in DIR is out<N>.txt but for
# whitespace, and no other client* file is there.
judge_course() {
  local number=$1 np=$2 dir=$3 rank name problems=0
  declare -A expected=()
  for ((rank = 1; rank < np; rank++)); do
    while read -r name; do
      expected[client${rank}_$name]=$course/test$number/out${name#file}.txt
    done < <(wanted_files "$course/test$number/in$rank.txt")
  done
  if [ ${#expected[@]} -eq 0 ]; then
    echo "  test$number: no peer wants anything (misread inputs?)"
    return 1
  fi
  for name in "${!expected[@]}"; do
    if [ ! -f "$dir/$name" ]; then
      echo "  $name: missing"
      problems=1
    elif ! diff -q -w "$dir/$name" "${expected[$name]}" >/dev/null; then
      echo "  $name: differs from ${expected[$name]#"$top"/}"
      problems=1
    fi
  done
  for name in "$dir"/client*; do
    [ -e "$name" ] || continue
    name=${name##*/}
    if [ -z "${expected[$name]:-}" ]; then
      echo "  $name: written, but no peer wanted it"
      problems=1
    fi
  done
  return $problems
}

# The course's ranks (-np) per test, and its time limit.
declare -A course_ranks=([1]=4 [2]=6 [3]=5 [4]=7)
course_limit=20

# case_course N: the course's test N across the hosts.
case_course() {
  local number=$1 np=${course_ranks[$1]} label=course$1
  local dir=$work/$label
  mkdir -p "$dir/swarm"
  cp "$course/test$number"/in*.txt "$dir/swarm/"
  local inputs
  inputs=$(find "$dir/swarm" -name 'in*.txt' | wc -l)
  if [ "$inputs" -ne $((np - 1)) ]; then
    say "$label: test$number has $inputs inputs, not one per peer ($((np - 1)))" >&2
    return 1
  fi
  run_checked "$label" "$np" "$course_limit" tracker "$bin" || return 1
  local problems
  if ! problems=$(judge_course "$number" "$np" "$dir/swarm"); then
    say "$label: wrong outputs:" >&2
    echo "$problems" >&2
    return 1
  fi
  say "$label passed $ran_how"
}

# ---------------------------------------------------------------------------------------------
# The simulated engine split over the ranks, judged against a one-process run.

# The swarm: a flash crowd of 300 leechers for a 32-piece file held by one seed. Every leecher
# trades with neighbours all over the swarm, and peers are dealt to the shards round robin, so
# about two in three of its messages go to another rank; the run lasts 156 s simulated (under
# BitTorrent's algorithms), some 780 windows of the 200 ms latency, each a round of collectives
# between the ranks; yet a one-process run
# takes a few hundredths of a second, and one across the hosts a second or two.
sim_swarm=crowd.toml
write_sim_swarm() {
  cat >"$1" <<'TOML'
# scripts/test-hosts.sh's swarm: a flash crowd, busy between ranks, quick to run.
seed = 11

[file]
size = "8 MiB"
piece = "256 KiB"

[network]
latency = "200 ms"

[[peers]]
name = "seed"
count = 1
upload = "10 Mbit/s"
download = "100 Mbit/s"
seed = true

[[peers]]
name = "leecher"
count = 300
upload = "1 Mbit/s"
download = "4 Mbit/s"
TOML
}
# A run takes a second or two on 2 cores; with two busy processes beside it (a benchmark), the
# 3 x 2-thread run once took over a minute at a 50 ms latency (four times the windows). The
# limit is for hangs.
sim_limit=300

# sim_reference: the one-process run every run across the hosts must equal, in
# $work/sim-reference/results: no mpirun, outside the namespaces. Made in a folder of its own
# with the swarm file under the same name as in the runs across hosts, since summary.json
# records the name it was given.
sim_reference() {
  local dir=$work/sim-reference
  mkdir -p "$dir"
  write_sim_swarm "$dir/$sim_swarm"
  if ! (cd "$dir" && "$bin" sim "$sim_swarm" --out results --quiet) </dev/null >"$dir/output.txt" 2>&1; then
    say "FAILED: the one-process run of the simulation, the reference, failed:" >&2
    sed 's/^/  /' "$dir/output.txt" >&2
    return 1
  fi
}

# file_names DIR: the names in DIR, on one line.
file_names() {
  local path names=()
  for path in "$1"/* "$1"/.[!.]*; do
    [ -e "$path" ] && names+=("${path##*/}")
  done
  echo "${names[*]}"
}

# same_results REFERENCE RESULTS: RESULTS, a sim's results folder, holds the files REFERENCE
# holds, each equal to the byte but summary.json's one wall_seconds line (the run's own time,
# which no two runs share).
same_results() {
  local reference=$1 results=$2 problems=0 path name lines differences
  if [ "$(file_names "$reference")" != "$(file_names "$results")" ]; then
    echo "  the results folder holds: $(file_names "$results"); not: $(file_names "$reference")"
    return 1
  fi
  for path in "$reference"/*; do
    name=${path##*/}
    if [ "$name" = summary.json ]; then
      # Exactly one such line each, or the filter would hide more than the wall time.
      lines=$(cat "$reference/$name" "$results/$name" | grep -c '^  "wall_seconds": ' || true)
      if [ "$lines" != 2 ]; then
        echo "  summary.json: not one wall_seconds line in each of the two runs' ($lines in both)"
        problems=1
      elif ! differences=$(diff <(grep -v '^  "wall_seconds": ' "$reference/$name") \
        <(grep -v '^  "wall_seconds": ' "$results/$name")); then
        echo "  summary.json differs from the one-process run's, wall_seconds aside (< one process, > across hosts):"
        head -n 8 <<<"$differences" | sed 's/^/    /'
        problems=1
      fi
    elif ! cmp "$reference/$name" "$results/$name" >/dev/null 2>&1; then
      echo "  $name differs from the one-process run's: $(cmp "$reference/$name" "$results/$name" 2>&1 || true)"
      problems=1
    fi
  done
  return $problems
}

# case_sim LABEL THREADS: the simulation across the hosts, one rank a host, THREADS workers a
# rank, its results equal to the one-process run's.
case_sim() {
  local label=$1 threads=$2 np=$hosts
  local dir=$work/$label
  mkdir -p "$dir/swarm"
  cp "$work/sim-reference/$sim_swarm" "$dir/swarm/"
  run_checked "$label" "$np" "$sim_limit" all "$bin" sim "$sim_swarm" --out results --quiet --threads "$threads" ||
    return 1
  local problems
  if ! problems=$(same_results "$work/sim-reference/results" "$dir/swarm/results"); then
    say "$label: results unlike the one-process run's:" >&2
    echo "$problems" >&2
    return 1
  fi
  say "$label passed $ran_how; --threads $threads on each rank; results those of one process"
}

# ---------------------------------------------------------------------------------------------

network_before=$(own_network)
remove_leftovers
work=$(mktemp -d "${TMPDIR:-/tmp}/$prefix-$$.XXXXXX")
sim_reference || exit 1
self_test_checks || exit 1

# The first namespace says whether this machine lets us make them at all.
if ! error=$(ip netns add "$switch_ns" 2>&1); then
  say "SKIPPED: cannot create a network namespace here, even as root: $error"
  exit 0
fi
created+=("$switch_ns")
setup_hosts
say "hosts: namespaces ${host_ns[1]}..h$hosts at ${host_address[1]}..${host_address[hosts]}," \
  "on a bridge in $switch_ns; mpirun on host1"

# The cases, each one job across the hosts (run_checked) and its judge; another kind of run is
# one more function and entry. The simulation twice: with one worker a rank, each shard is a
# rank; with two, a rank's worker 0 also carries its other worker's batches to and from MPI.
cases=("case_course 1" "case_course 2" "case_course 3" "case_course 4" "case_sim sim 1" "case_sim sim-threads 2")
failed=0
for case_command in "${cases[@]}"; do
  # shellcheck disable=SC2086  # a function name and its arguments
  $case_command || failed=$((failed + 1))
done
if [ $failed -ne 0 ]; then
  say "FAILED: $failed of ${#cases[@]} cases across hosts" >&2
  exit 1
fi
say "passed: the course's four tests, and the simulation (3 ranks; 3 ranks x 2 threads) equal to" \
  "one process, ranks on $hosts hosts (network namespaces), over TCP"
