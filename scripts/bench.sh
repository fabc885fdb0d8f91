#!/usr/bin/env bash
# `make bench`: a fixed ladder of generated swarms under mpirun, each run several times, against
# the floor (the same request/reply exchanges with no swarm logic: `bitorrent floor`).
#
# Prints and writes (to $OUT, default bench-results.txt) one row per swarm size with the medians:
#   ranks, transfers, whole-process seconds, protocol seconds (go-ahead to stop, timed by the
#   tracker), the floor's exchange seconds, transfers per second, upload fairness (Jain), largest
#   share of a file from one source, protocol / floor exchange time, and whole process / whole
#   floor process (these two ratios run by run: each swarm run against the floor run after it).
#
# Usage: scripts/bench.sh [RANKS...]   (default: 16 32 64 128); RUNS=3 WANTS=8 SEGMENTS=100
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bitorrent"
runs=${RUNS:-3}
wants=${WANTS:-8}
segments=${SEGMENTS:-100}
files=${FILES:-16}
seeds=${SEEDS:-3}
out=${OUT:-$top/bench-results.txt}
ladder=("$@")
[ ${#ladder[@]} -gt 0 ] || ladder=(16 32 64 128)

# Scenarios and outputs live in memory (/dev/shm) when the machine has it, so that the figures
# measure the swarm and not the disk: on this machine's ext4, creating and deleting the client*
# files of run after run made the file creations alone a tenth of the protocol's CPU time.
# TMPDIR, when set, wins.
scratch_root=${TMPDIR:-}
if [ -z "$scratch_root" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then scratch_root=/dev/shm; else scratch_root=/tmp; fi
fi
scratch=$(mktemp -d "$scratch_root/bitorrent-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }
json_field() { grep -o "\"$1\": [0-9.e+-]*" "$2" | head -n 1 | awk '{ print $2 }'; }

header=$(printf '%6s %9s %9s %10s %8s %11s %8s %8s %8s %8s' \
  ranks transfers whole_s protocol_s floor_s transfers/s fairness largest floor_x whole_x)
{
  echo "# bitorrent benchmark, $(date -u +%F), $(nproc) cores, $("${MPIRUN:-mpirun}" --version 2>/dev/null | head -n 1)"
  echo "# swarms: $files files of $segments segments, $seeds seeds each, $wants wanted per peer; medians of $runs runs"
  echo "$header"
} | tee "$out"

for ranks in "${ladder[@]}"; do
  dir="$scratch/swarm$ranks"
  "$bin" gen "$dir" --ranks "$ranks" --files "$files" --segments "$segments" --seeds "$seeds" \
    --wants "$wants" --seed 42 >"$scratch/gen.txt"
  transfers=$(grep -o '[0-9]* transfers needed' "$scratch/gen.txt" | awk '{ print $1 }')
  exchanges=$(( transfers / (ranks - 1) ))
  : >"$scratch/whole" ; : >"$scratch/protocol" ; : >"$scratch/fair" ; : >"$scratch/share"
  : >"$scratch/floor" ; : >"$scratch/floor_whole" ; : >"$scratch/ratio" ; : >"$scratch/whole_ratio"
  for run in $(seq "$runs"); do
    rm -f "$dir"/client* "$scratch/stats.json"
    start=$(now)
    (cd "$dir" && "$top/scripts/mpirun.sh" "$ranks" "$bin" --quiet --stats "$scratch/stats.json")
    echo "$(now) - $start" | bc -l >>"$scratch/whole"
    json_field protocol_seconds "$scratch/stats.json" >>"$scratch/protocol"
    json_field fairness "$scratch/stats.json" >>"$scratch/fair"
    json_field largest_share "$scratch/stats.json" >>"$scratch/share"

    start=$(now)
    "$top/scripts/mpirun.sh" "$ranks" "$bin" floor --exchanges "$exchanges" >"$scratch/floor.txt"
    echo "$(now) - $start" | bc -l >>"$scratch/floor_whole"
    grep -o 'in [0-9.]* s' "$scratch/floor.txt" | awk '{ print $2 }' >>"$scratch/floor"
    # Each swarm run against the floor run right after it: the machine drifts over minutes
    # (other tenants, the kernel's placement of ranks on cores), and a run and its pair see
    # about the same machine.
    echo "$(tail -n 1 "$scratch/protocol") / $(tail -n 1 "$scratch/floor")" | bc -l >>"$scratch/ratio"
    echo "$(tail -n 1 "$scratch/whole") / $(tail -n 1 "$scratch/floor_whole")" | bc -l >>"$scratch/whole_ratio"
  done
  whole=$(median <"$scratch/whole"); protocol=$(median <"$scratch/protocol")
  floor=$(median <"$scratch/floor")
  printf '%6d %9d %9.3f %10.4f %8.4f %11.0f %8.3f %8.3f %8.2f %8.2f\n' "$ranks" "$transfers" "$whole" "$protocol" "$floor" \
    "$(echo "$transfers / $protocol" | bc -l)" "$(median <"$scratch/fair")" "$(median <"$scratch/share")" \
    "$(median <"$scratch/ratio")" "$(median <"$scratch/whole_ratio")" | tee -a "$out"
done
echo "# floor_x: protocol seconds / floor exchange seconds; whole_x: whole mpirun / whole floor mpirun;" | tee -a "$out"
echo "# both are medians of the ratios of each swarm run to the floor run made right after it" | tee -a "$out"
