#!/usr/bin/env bash
# `make bench-sim`: the simulated engine on a ladder of flash crowds: inputs/swarms/flash-crowd.toml
# (one 10 Mbit/s seed, leechers at 1 Mbit/s up and 4 Mbit/s down, a 100 MiB file in 256 KiB
# pieces, 50 ms latency: DESIGN.md's worked example of the bound) with its leecher count changed.
#
# Prints and writes (to $OUT, default bench-sim-results.txt) one row per size: leechers, wall
# seconds, peak memory (the process's maximum resident set), events, events per wall second,
# simulated seconds (the last completion), T_min, efficiency (T_min over the last completion),
# the mean completion, and bytes of peak memory per peer. Each figure is the run's own: the
# simulated ones come from its summary.json, wall seconds and peak memory from the kernel's
# accounting of the process (GNU time).
#
# Usage: scripts/bench-sim.sh [LEECHERS...]   (default: 1000 10000 100000)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bitorrent"
out=${OUT:-$top/bench-sim-results.txt}
shape="$top/inputs/swarms/flash-crowd.toml"
ladder=("$@")
[ ${#ladder[@]} -gt 0 ] || ladder=(1000 10000 100000)

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

header=$(printf '%9s %9s %9s %11s %11s %11s %10s %10s %9s %9s' \
  leechers wall_s peak_MiB events events/s simulated_s t_min_s efficiency mean_s B/peer)
{
  echo "# bitorrent sim benchmark, $(date -u +%F), $(nproc) cores, $(uname -m); one run per size"
  echo "# swarms: inputs/swarms/flash-crowd.toml (1 seed at 10 Mbit/s up; leechers 1 Mbit/s up, 4 Mbit/s down; 100 MiB in 256 KiB pieces; 50 ms), N leechers"
  echo "$header"
} | tee "$out"

for leechers in "${ladder[@]}"; do
  swarm="$scratch/flash-crowd-$leechers.toml"
  # The shipped flash crowd with its leecher count changed (its one `count = 1000`).
  sed "s/^count = 1000\( .*\)\{0,1\}$/count = $leechers/" "$shape" >"$swarm"
  grep -q "^count = $leechers$" "$swarm" || { echo "bench-sim: $shape has no leecher count to change" >&2; exit 1; }
  results="$scratch/out-$leechers"
  /usr/bin/time -f '%e %M' -o "$scratch/time" "$bin" sim "$swarm" --out "$results" --quiet
  read -r wall peak_kib <"$scratch/time"
  summary="$results/summary.json"
  events=$(field "$summary" "events")
  peers=$(field "$summary" "peers")
  simulated=$(field "$summary" "simulated_seconds")
  t_min=$(field "$summary" "t_min_seconds")
  efficiency=$(field "$summary" "efficiency")
  mean=$(field "$summary" "mean")
  printf '%9d %9.2f %9.1f %11d %11.0f %11.1f %10.1f %10.3f %9.1f %9.0f\n' "$leechers" "$wall" \
    "$(echo "$peak_kib / 1024" | bc -l)" "$events" "$(echo "$events / $wall" | bc -l)" "$simulated" "$t_min" \
    "$efficiency" "$mean" "$(echo "$peak_kib * 1024 / $peers" | bc -l)" | tee -a "$out"
done
echo "# peak_MiB: the whole process's maximum resident set; B/peer: that over the swarm's peers" | tee -a "$out"
