#!/usr/bin/env bash
# A swarm of real BitTorrent clients (libtorrent 2.0, one process a peer) on links shaped to a
# swarm file's capacities and latency, against `bitorrent sim` of the same file: mean and last
# completion, and each class's mean. README.md beside this file says what it builds and why.
#
# Usage: scripts/real-swarm/run.sh [--time-limit SECONDS] SWARM.toml [OUT_DIR]
#   OUT_DIR            default real-swarm-out (in the current folder); an existing one is
#                      replaced only if an earlier run made it
#   --time-limit S     the watchdog: the run is stopped, with an error, if a leecher has not
#                      finished S seconds after the start (default 20 x T_min, at least 120 s)
#   BITORRENT=PATH     the engine's binary (default ./bitorrent of this repository, built with
#                      make first)
#   QUEUE_MS=MS        each shaped link's queue, in milliseconds of its rate (default 200, at
#                      least 16 full frames)
#   ENGINE_SEEDS=N     the engine's runs to compare with: the file's seed and the N - 1 after it
#                      (default 10; a real run is one draw, and so is one seed of the engine)
#
# Needs root (network namespaces, tc). Installs what is missing with apt-get: python3-libtorrent,
# iproute2 (ip, tc), ethtool, gcc.
#
# Writes OUT_DIR/real-peers.csv (peer,class,done_seconds), OUT_DIR/sim/ (the engine's results
# with the file's seed), OUT_DIR/sim-seeds/SEED/ (with the others),
# OUT_DIR/real-stats.json (libtorrent's counts of each peer, CPU and memory of the run),
# OUT_DIR/real-links.json (each link's bytes and drops), OUT_DIR/comparison.md (the table it
# prints), and OUT_DIR/work/logs/ (every process's log). The file's copies are removed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# Debian's Python: python3-libtorrent installs there (a python3 earlier on PATH may not see it).
PY=/usr/bin/python3

say() { echo "real-swarm: $*"; }
die() {
  echo "real-swarm: $*" >&2
  exit 1
}

time_limit=
while [ $# -gt 0 ]; do
  case $1 in
    --time-limit)
      [ $# -ge 2 ] || die "--time-limit needs a number of seconds"
      time_limit=$2
      shift 2
      ;;
    --time-limit=*)
      time_limit=${1#*=}
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) die "unknown option $1 (usage: run.sh [--time-limit SECONDS] SWARM.toml [OUT_DIR])" ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  die "usage: run.sh [--time-limit SECONDS] SWARM.toml [OUT_DIR]"
fi
swarm=$1
out=${2:-real-swarm-out}
if [ -n "$time_limit" ] && ! [[ $time_limit =~ ^[0-9]+$ && $time_limit -gt 0 ]]; then
  die "--time-limit $time_limit: expected a whole number of seconds above 0"
fi
queue_ms=${QUEUE_MS:-200}
[[ $queue_ms =~ ^[0-9]+$ && $queue_ms -gt 0 ]] || die "QUEUE_MS=$queue_ms: expected a whole number of milliseconds above 0"
engine_seeds=${ENGINE_SEEDS:-10}
[[ $engine_seeds =~ ^[0-9]+$ && $engine_seeds -gt 0 ]] || die "ENGINE_SEEDS=$engine_seeds: expected a whole number above 0"
[ -f "$swarm" ] || die "$swarm: no such file"

# ---------------------------------------------------------------------------------------------
# The swarm file, before anything is installed or made: the engine reads it first, so that a
# file it refuses is refused with its own message (file, line and column), and its results are
# the run's `sim/`; then swarmfile.py reads the scenario as the engine resolved it, and refuses
# what a real run here cannot reproduce.

if [ -n "${BITORRENT:-}" ]; then
  bin=$(cd "$(dirname "$BITORRENT")" && pwd)/$(basename "$BITORRENT")
else
  make -C "$top" --no-print-directory bitorrent
  bin=$top/bitorrent
fi
[ -x "$bin" ] || die "no binary at $bin"
engine_out=$(mktemp -d)
trap 'rm -rf "$engine_out"' EXIT
"$bin" sim "$swarm" --out "$engine_out/sim" --quiet || exit 1
[ -x "$PY" ] || die "no $PY: the harness needs Debian's python3 (apt-get install python3)"
plan_json=$("$PY" "$here/swarmfile.py" "$swarm" "$engine_out/sim/summary.json") || exit 1

# The results folder: refused now if it is not ours, before anything is installed.
if [ -e "$out" ]; then
  [ -d "$out" ] || die "$out exists and is not a folder"
  if [ -n "$(ls -A "$out")" ] && [ ! -e "$out/.real-swarm" ]; then
    die "$out is not empty and not an earlier run's results; give another OUT_DIR"
  fi
fi
[ "$(id -u)" -eq 0 ] || die "needs root, for network namespaces and tc (runs as uid $(id -u))"

# ---------------------------------------------------------------------------------------------
# What it needs.

missing=()
command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || missing+=(iproute2)
command -v ethtool >/dev/null 2>&1 || missing+=(ethtool)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
"$PY" -c 'import libtorrent' >/dev/null 2>&1 || missing+=(python3-libtorrent)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} (Debian package names), and no apt-get to install them"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
lt_version=$("$PY" -c 'import libtorrent; print(libtorrent.__version__)')
case $lt_version in
  2.0.*) ;;
  *) say "warning: libtorrent $lt_version, not 2.0" ;;
esac

# ---------------------------------------------------------------------------------------------
# The results folder: ours (it has the marker) or new.

if [ -e "$out" ]; then
  rm -rf "${out:?}/sim" "$out/sim-seeds" "$out/work" "$out/real-peers.csv" "$out/real-stats.json" \
    "$out/real-links.json" "$out/comparison.md"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
touch "$out/.real-swarm"
work=$out/work
mkdir -p "$work/sync" "$work/logs" "$work/stats" "$work/data"
printf '%s\n' "$plan_json" >"$work/plan.json"

# ---------------------------------------------------------------------------------------------
# The engine, on the same file.

say "bitorrent sim $swarm: results in $out/sim, and with $((engine_seeds - 1)) other seeds in $out/sim-seeds"
mv "$engine_out/sim" "$out/sim"
rm -rf "$engine_out"
file_seed=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["scenario"]["seed"])' "$out/sim/summary.json")
for ((k = 1; k < engine_seeds; k++)); do
  "$bin" sim "$swarm" --seed $((file_seed + k)) --out "$out/sim-seeds/$((file_seed + k))" --quiet
done
read -r t_min sim_last < <("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["t_min_seconds"], s["completion_seconds"]["last"])' "$out/sim/summary.json")
if [ -z "$time_limit" ]; then
  time_limit=$("$PY" -c 'import sys, math; print(max(120, math.ceil(20 * float(sys.argv[1]))))' "$t_min")
fi
say "engine: T_min $t_min s, last completion $sim_last s; the real run's time limit: $time_limit s"

# ---------------------------------------------------------------------------------------------
# The network, all of it in namespaces this run creates (prefix rsw<pid>):
#   rsw<pid>-hub   no bridge: the hub-side veth ends h1..hN, htrk, read and written by delayline
#                  (delayline.c), which holds every frame the one-way latency
#   rsw<pid>-trk   the tracker: eth0 at 10.214.0.1, not shaped
#   rsw<pid>-pI    peer I: eth0 at 10.214.x.y/16; its egress (htb) is the upload, the egress of
#                  hI in the hub (htb) its download
# Deleting the namespaces deletes every interface; the machine's own are never touched.

prefix=rsw$$
hub=$prefix-hub
trk=$prefix-trk
pids_file=$work/pids
: >"$pids_file"

our_namespaces() { ip netns list | awk '{print $1}' | grep -E "^$1-" || true; }

remove_namespaces() { # PREFIX: end every process in them, then delete them
  local ns pid
  for ns in $(our_namespaces "$1"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  for ns in $(our_namespaces "$1"); do
    ip netns delete "$ns" 2>/dev/null || true
  done
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  if [ -s "$pids_file" ]; then
    for pid in $(awk '{print $NF}' "$pids_file"); do
      kill -TERM "$pid" 2>/dev/null
    done
    sleep 0.5
  fi
  remove_namespaces "$prefix"
  rm -rf "$work/data"
  if [ -n "$(our_namespaces "$prefix")" ]; then
    echo "real-swarm: could not remove namespaces: $(our_namespaces "$prefix" | tr '\n' ' ')" >&2
  fi
  [ $status -eq 0 ] || echo "real-swarm: FAILED (logs in $work/logs)" >&2
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What an earlier run that was killed (its shell gone, no trap run) left behind.
for ns in $(ip netns list | awk '{print $1}' | grep -E '^rsw[0-9]+-' || true); do
  owner=${ns#rsw}
  owner=${owner%%-*}
  if ! kill -0 "$owner" 2>/dev/null; then
    say "removing $ns, left by an earlier run"
    remove_namespaces "rsw$owner"
  fi
done

# The plan, a line a peer: upload and download (bits/s), address, MAC; then the tracker's line.
mapfile -t peer_lines < <("$PY" -c '
import json, sys
p = json.load(open(sys.argv[1]))
c = {k["name"]: k for k in p["classes"]}
for peer in p["peers"]:
    k = c[peer["class"]]
    print(k["upload_bps"], k["download_bps"], peer["address"], peer["mac"])
t = p["tracker"]
print(t["address"], t["port"], t["mac"], t["peer_set"], t["interval_seconds"], p["latency_ns"])' "$work/plan.json")
npeers=$((${#peer_lines[@]} - 1))
read -r tracker_ip tracker_port tracker_mac peer_set tracker_interval latency_ns <<<"${peer_lines[npeers]}"
peer_ip() {
  local l
  read -r -a l <<<"${peer_lines[$1 - 1]}"
  echo "${l[2]}"
}
peer_mac() {
  local l
  read -r -a l <<<"${peer_lines[$1 - 1]}"
  echo "${l[3]}"
}

no_offloads() { # NS DEV: every frame a real one, its checksum computed (delayline copies frames)
  ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
  if ip netns exec "$1" ethtool -k "$2" | grep -qE '^(tx-checksumming|generic-segmentation-offload): on'; then
    die "cannot turn off the offloads of $2 in $1 (ethtool -K)"
  fi
}

shape() { # NS DEV RATE_BITS_PER_S: htb at the rate, a byte FIFO of QUEUE_MS of it
  local limit=$(($3 * queue_ms / 8000))
  [ $limit -ge $((16 * 1514)) ] || limit=$((16 * 1514))
  tc -n "$1" qdisc add dev "$2" root handle 1: htb default 1
  tc -n "$1" class add dev "$2" parent 1: classid 1:1 htb rate "$3"bit ceil "$3"bit quantum 1514
  tc -n "$1" qdisc add dev "$2" parent 1:1 handle 10: bfifo limit "$limit"
}

new_namespace() {
  ip netns add "$1"
  ip netns exec "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
}

attach() { # NS PORT IP MAC: a veth pair, eth0 in NS, PORT in the hub
  ip -n "$hub" link add "$2" type veth peer name eth0 netns "$1"
  ip -n "$1" link set eth0 address "$4"
  no_offloads "$1" eth0
  no_offloads "$hub" "$2"
  ip -n "$1" addr add "$3/16" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$hub" link set "$2" up
}

say "building the network: $npeers peers, one-way latency $latency_ns ns, queues of $queue_ms ms"
cc -O2 -Wall -o "$work/delayline" "$here/delayline.c"
new_namespace "$hub"
new_namespace "$trk"
attach "$trk" htrk "$tracker_ip" "$tracker_mac"
ports=("htrk=$tracker_mac")
neighbours=$work/neighbours
echo "neigh replace $tracker_ip lladdr $tracker_mac dev eth0 nud permanent" >"$neighbours"
for ((i = 1; i <= npeers; i++)); do
  echo "neigh replace $(peer_ip $i) lladdr $(peer_mac $i) dev eth0 nud permanent" >>"$neighbours"
done
for ((i = 1; i <= npeers; i++)); do
  ns=$prefix-p$i
  new_namespace "$ns"
  attach "$ns" "h$i" "$(peer_ip $i)" "$(peer_mac $i)"
  read -r up down _ _ <<<"${peer_lines[i - 1]}"
  shape "$ns" eth0 "$up"
  shape "$hub" "h$i" "$down"
  # Static neighbours: no ARP (the engine has none), nothing flooded.
  ip -n "$ns" -batch "$neighbours"
  ports+=("h$i=$(peer_mac $i)")
done
ip -n "$trk" -batch "$neighbours"

# The hub: delayline, at a real-time priority so that the latency holds on a busy machine.
rt=()
chrt -f 10 true 2>/dev/null && rt=(chrt -f 10)
ip netns exec "$hub" "${rt[@]}" "$work/delayline" "$latency_ns" "${ports[@]}" \
  >"$work/logs/delayline.out" 2>"$work/logs/delayline.err" &
echo "delayline $!" >>"$pids_file"

ip netns exec "$trk" "$PY" "$here/tracker.py" "$tracker_ip" "$tracker_port" "$peer_set" \
  "$tracker_interval" "$work/logs/tracker.log" >"$work/logs/tracker.out" 2>&1 &
echo "tracker $!" >>"$pids_file"

wait_for_line() { # FILE LINE WHAT
  local k
  for ((k = 0; k < 100; k++)); do
    grep -qx "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$3 did not start: $(cat "$1" "${1%.out}.err" 2>/dev/null | tail -n 5)"
}
wait_for_line "$work/logs/delayline.out" "delayline: ready" delayline
wait_for_line "$work/logs/tracker.out" "tracker: ready" "the tracker"

# The latency as built: TCP handshakes from peer 1 to the tracker take a round trip, 2 x latency
# (the tracker's link is not shaped; peer 1's adds the serialization of a SYN).
ip netns exec "$prefix-p1" "$PY" - "$(peer_ip 1)" "$tracker_ip" "$tracker_port" "$latency_ns" <<'PY' | tee "$work/logs/link-check.txt"
import socket, sys, time
src, dst, port, latency_ns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rtts = []
for _ in range(5):
    s = socket.socket()
    s.bind((src, 0))
    t = time.monotonic()
    s.connect((dst, port))
    rtts.append(time.monotonic() - t)
    s.close()
    time.sleep(0.05)
print(f"real-swarm: link check: TCP handshake peer 1 -> tracker {min(rtts) * 1e3:.1f} ms (least of 5; "
      f"2 x latency = {2 * latency_ns / 1e6:g} ms)")
PY

# ---------------------------------------------------------------------------------------------
# The torrent and the peers.

"$PY" "$here/peer.py" make-torrent "$work" "http://$tracker_ip:$tracker_port/announce"
for ((i = 1; i <= npeers; i++)); do
  ip netns exec "$prefix-p$i" "$PY" "$here/peer.py" run "$work" "$i" "$(peer_ip $i)" \
    >"$work/logs/peer-$i.out" 2>&1 &
  echo "peer $i $!" >>"$pids_file"
done
say "started $npeers peers; waiting for every one to listen"
"$PY" "$here/coordinate.py" "$work" "$time_limit" "$pids_file" "$out"

# Each link's bytes and drops, before the namespaces go.
{
  echo "["
  for ((i = 1; i <= npeers; i++)); do
    [ $i -eq 1 ] || echo ","
    printf '{"peer": %d, "up_link": %s, "up_qdisc": %s, "down_link": %s, "down_qdisc": %s}' "$i" \
      "$(ip -n "$prefix-p$i" -s -j link show dev eth0)" \
      "$(tc -n "$prefix-p$i" -s -j qdisc show dev eth0)" \
      "$(ip -n "$hub" -s -j link show dev "h$i")" \
      "$(tc -n "$hub" -s -j qdisc show dev "h$i")"
  done
  echo "]"
} >"$out/real-links.json"
for pid in $(awk '$1 != "peer" {print $NF}' "$pids_file"); do
  kill -TERM "$pid" 2>/dev/null || true
done
sleep 0.3
cat "$work/logs/delayline.err" 2>/dev/null || true

"$PY" "$here/compare.py" "$out" "$swarm" "$lt_version"
