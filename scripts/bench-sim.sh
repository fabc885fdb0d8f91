#!/usr/bin/env bash
# `make bench-sim`: the simulated engine on a ladder of flash crowds: inputs/swarms/flash-crowd.toml
# (one 10 Mbit/s seed, leechers at 1 Mbit/s up and 4 Mbit/s down, a 100 MiB file in 256 KiB
# pieces, 50 ms latency: DESIGN.md's worked example of the bound) with its leecher count changed.
#
# Each size runs once on each number of ranks in $RANKS (default "1 2": one process, then
# `mpirun -np 2`, one worker thread each; THREADS=T gives each rank T), with BitTorrent's
# algorithms (PROTOCOL=course for the course's protocol). Prints and writes (to
# $OUT, default bench-sim-results.txt) one row per run: leechers, ranks, wall seconds, the
# speed-up over the size's first run, peak memory of the largest rank (its maximum resident
# set), events, events per wall second, simulated seconds (the last completion), T_min,
# efficiency (T_min over the last completion), the mean completion, and bytes of peak memory
# per peer (every rank's peak, summed, over the swarm's peers). Each figure is the run's own:
# the simulated ones come from its summary.json, wall seconds from the whole run (mpirun's
# start and end), peak memory from the kernel's accounting of each rank (GNU time around it).
# A split run's results must be those of the size's first run, to the byte (but wall_seconds):
# the benchmark stops if they are not.
#
# Usage: scripts/bench-sim.sh [LEECHERS...]   (default: 1000 10000 100000; a million is
#        `make bench-sim LADDER=1000000`, about an hour on 2 ranks of this 2-core machine)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bitorrent"
out=${OUT:-$top/bench-sim-results.txt}
shape="$top/inputs/swarms/flash-crowd.toml"
ladder=("$@")
[ ${#ladder[@]} -gt 0 ] || ladder=(1000 10000 100000)
read -r -a rank_counts <<<"${RANKS:-1 2}"
threads=${THREADS:-1}
# The protocol the peers run: BitTorrent's algorithms (the default), or the course's.
protocol=${PROTOCOL:-bittorrent}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

if [ ! -x /usr/bin/time ]; then
  echo "bench-sim: GNU time (/usr/bin/time) measures peak memory; installing it (package time)" >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  else
    echo "bench-sim: install GNU time (Debian: apt-get install time)" >&2
    exit 1
  fi
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/bitorrent-bench-sim.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The first number named `key` in a summary.json (each one read here is named once, or first
# where it is meant: `mean` is the completions' mean, before the per-class figures).
field() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -n 1 | sed 's/.*: *//'; }

header=$(printf '%9s %5s %9s %7s %9s %11s %11s %11s %10s %10s %9s %9s' \
  leechers ranks wall_s speedup peak_MiB events events/s simulated_s t_min_s efficiency mean_s B/peer)
{
  echo "# bitorrent sim benchmark, $(date -u +%F), $(nproc) cores, $(uname -m); one run per size and rank count, $threads thread(s) a rank, protocol $protocol"
  echo "# swarms: inputs/swarms/flash-crowd.toml (1 seed at 10 Mbit/s up; leechers 1 Mbit/s up, 4 Mbit/s down; 100 MiB in 256 KiB pieces; 50 ms), N leechers"
  echo "$header"
} | tee "$out"

# Runs the swarm on `ranks` ranks into `results`; each rank's peak memory (KiB) goes to
# $scratch/peak.<rank>, the run's wall seconds to $scratch/wall.
run_on() {
  local ranks=$1 swarm=$2 results=$3
  rm -f "$scratch"/peak.*
  local started ended
  started=$(date +%s.%N)
  if [ "$ranks" = 1 ]; then
    /usr/bin/time -f '%M' -o "$scratch/peak.0" "$bin" sim "$swarm" --out "$results" --quiet --threads "$threads" --protocol "$protocol"
  else
    # More ranks than cores needs --oversubscribe, which also makes waiting ranks yield; with
    # no more ranks than cores it is left out: ranks are then bound to cores and wait spinning,
    # and 2 ranks ran 10,000 leechers in 16 s against 40 s with it.
    local oversubscribe=()
    [ "$ranks" -le "$(nproc)" ] || oversubscribe=(--oversubscribe)
    # Each rank under GNU time, writing its own peak: the job's peak is no single process's.
    # shellcheck disable=SC2016 # $0 and $OMPI_COMM_WORLD_RANK are for the inner shell
    mpirun "${oversubscribe[@]}" -np "$ranks" sh -c 'exec /usr/bin/time -f %M -o "$0/peak.$OMPI_COMM_WORLD_RANK" "$@"' \
      "$scratch" "$bin" sim "$swarm" --out "$results" --quiet --threads "$threads" --protocol "$protocol" </dev/null
  fi
  ended=$(date +%s.%N)
  echo "$ended - $started" | bc -l >"$scratch/wall"
}

for leechers in "${ladder[@]}"; do
  swarm="$scratch/flash-crowd-$leechers.toml"
  # The shipped flash crowd with its leecher count changed (its one `count = 1000`).
  sed "s/^count = 1000\( .*\)\{0,1\}$/count = $leechers/" "$shape" >"$swarm"
  grep -q "^count = $leechers$" "$swarm" || { echo "bench-sim: $shape has no leecher count to change" >&2; exit 1; }
  first_wall=""
  first_results=""
  for ranks in "${rank_counts[@]}"; do
    results="$scratch/out-$leechers-$ranks"
    run_on "$ranks" "$swarm" "$results"
    wall=$(cat "$scratch/wall")
    peak_kib=$(cat "$scratch"/peak.* | sort -n | tail -n 1)
    total_kib=$(cat "$scratch"/peak.* | paste -sd+ | bc)
    if [ -z "$first_wall" ]; then
      first_wall=$wall
      first_results=$results
    elif ! cmp -s "$first_results/peers.csv" "$results/peers.csv" ||
      ! diff -q <(grep -v wall_seconds "$first_results/summary.json") <(grep -v wall_seconds "$results/summary.json") >/dev/null; then
      echo "bench-sim: $leechers leechers on $ranks ranks gave other results than on ${rank_counts[0]}" >&2
      exit 1
    fi
    summary="$results/summary.json"
    events=$(field "$summary" "events")
    peers=$(field "$summary" "peers")
    simulated=$(field "$summary" "simulated_seconds")
    t_min=$(field "$summary" "t_min_seconds")
    efficiency=$(field "$summary" "efficiency")
    mean=$(field "$summary" "mean")
    printf '%9d %5d %9.2f %7.2f %9.1f %11d %11.0f %11.1f %10.1f %10.3f %9.1f %9.0f\n' "$leechers" "$ranks" "$wall" \
      "$(echo "$first_wall / $wall" | bc -l)" "$(echo "$peak_kib / 1024" | bc -l)" "$events" \
      "$(echo "$events / $wall" | bc -l)" "$simulated" "$t_min" "$efficiency" "$mean" \
      "$(echo "$total_kib * 1024 / $peers" | bc -l)" | tee -a "$out"
  done
done
{
  echo "# speedup: the size's first run's wall seconds over this one's; peak_MiB: the largest rank's maximum"
  echo "# resident set; B/peer: every rank's peak, summed, over the swarm's peers; split runs' results are"
  echo "# the first run's, to the byte (checked)"
} | tee -a "$out"
