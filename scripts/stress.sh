#!/usr/bin/env bash
# Runs the same swarms again and again under mpirun, to catch what happens once in a while: a
# hang, a crash, a wrong or missing output. MPIRUN names another launcher (MPIRUN=mpiexec.mpich).
#
# Usage: scripts/stress.sh [--runs N] [--only NAMES] [--keep DIR]
#   --runs N      runs of every scenario (default 100)
#   --only NAMES  only these scenarios (names separated by commas, as the summary prints them)
#   --keep DIR    work in DIR (created) and keep every run's folder there; by default the work
#                 goes to a temporary folder that is removed when every run passes
#
# Each run: the course's four tests (tests/apd-tema3), judged as the course did (within
# `timeout 20`, every wanted client<R>_file<N> equal to out<N>.txt by `diff -q -w`), then four
# swarms generated once up front with `./bitorrent gen` (16 ranks, 32 ranks, one run with
# --in-order, and one with --actors threads), judged the same way against the owners' hashes.
# The threads scenario is the one where a peer's actors share its state across threads (by
# default they take turns on the rank's one thread), so it is what exercises that sharing. In
# every scenario no client* file may exist beyond those wanted. The first failure stops
# everything: the scenario and run are named, that run's folder (inputs, outputs, stdout,
# stderr) is kept, and the exit is 1.
# Otherwise a line per scenario gives its runs and median wall time, and the exit is 0.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/bitorrent
mpirun_sh=$top/scripts/mpirun.sh
course=$top/tests/apd-tema3

runs=100
only=
keep=
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --only) only=${2:?--only needs scenario names}; shift 2 ;;
    --keep) keep=${2:?--keep needs a folder}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "stress.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $runs in
  ''|*[!0-9]*|0) echo "stress.sh: --runs wants a positive whole number, not '$runs'" >&2; exit 2 ;;
esac
if [ ! -x "$bin" ]; then
  echo "stress.sh: no $bin; build it first with make" >&2
  exit 2
fi
mpirun=${MPIRUN:-mpirun}
command -v "$mpirun" >/dev/null || { echo "stress.sh: $mpirun is not on PATH; run make test (it installs MPI)" >&2; exit 2; }
# Which MPI, asked once for every run (scripts/mpirun.sh adds --oversubscribe for OpenMPI only).
if "$mpirun" --version 2>&1 | grep -q -e 'Open MPI' -e 'OpenRTE'; then MPI_FLAVOR=openmpi; else MPI_FLAVOR=other; fi
export MPI_FLAVOR

if [ -n "$keep" ]; then
  mkdir -p "$keep"
  work=$(cd "$keep" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/bitorrent-stress.XXXXXX")
fi

# ---------------------------------------------------------------------------------------------
# Scenarios: name, ranks, extra arguments, a folder of inputs, and the expected outputs.

names=()
all_names=()
declare -A np_of args_of timeout_of

# Reads an input file as a stream of words: writes each owned file's hashes, one a line, to
# $owned/<name>, and prints every wanted name. Independent of bitorrent's own reader.
read_input() {
  awk -v owned="$2" '
    function next_file() { files--; phase = files > 0 ? 1 : 4 }
    {
      gsub(/\r/, "")
      for (w = 1; w <= NF; w++) {
        word = $w
        if (phase == 0) { files = word + 0; phase = files > 0 ? 1 : 4 }
        else if (phase == 1) { name = word; phase = 2 }
        else if (phase == 2) {
          left = word + 0; path = owned "/" name; printf "" > path; close(path)
          if (left > 0) phase = 3; else next_file()
        }
        else if (phase == 3) { print word >> path; if (--left == 0) { close(path); next_file() } }
        else if (phase == 4) { wanted = word + 0; phase = 5 }
        else if (phase == 5 && wanted-- > 0) print word
      }
    }' "$1"
}

# add_scenario NAME NP TIMEOUT "ARGS" INPUT_DIR EXPECT_FROM
# EXPECT_FROM is "course" (client<R>_file<N> is out<N>.txt of INPUT_DIR) or "owners".
add_scenario() {
  local name=$1 np=$2 limit=$3 extra=$4 from=$5 expect=$6
  all_names+=("$name")
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then return; fi
  local dir=$work/scenarios/$name
  mkdir -p "$dir/inputs" "$dir/owned"
  cp "$from"/in*.txt "$dir/inputs/"
  : > "$dir/expected"
  local rank wanted source
  for ((rank = 1; rank < np; rank++)); do
    while read -r wanted; do
      if [ "$expect" = course ]; then source=$from/out${wanted#file}.txt; else source=$dir/owned/$wanted; fi
      echo "client${rank}_$wanted $source" >> "$dir/expected"
    done < <(read_input "$dir/inputs/in$rank.txt" "$dir/owned")
  done
  names+=("$name")
  np_of[$name]=$np args_of[$name]=$extra timeout_of[$name]=$limit
}

echo "stress: preparing scenarios in $work"
add_scenario course1 4 20 "" "$course/test1" course
add_scenario course2 6 20 "" "$course/test2" course
add_scenario course3 5 20 "" "$course/test3" course
add_scenario course4 7 20 "" "$course/test4" course
# Generated swarms get more time than the course's 20 s: they are larger, and a shared machine
# can be slow; a hang still shows as a timeout.
generated=$work/generated
"$bin" gen "$generated/g16" --ranks 16 --files 5 --segments 500 --seeds 2 --wants 2 --seed 16 >/dev/null
"$bin" gen "$generated/g32" --ranks 32 --files 8 --segments 300 --seeds 2 --wants 2 --seed 32 >/dev/null
"$bin" gen "$generated/g24" --ranks 24 --files 4 --segments 600 --seeds 1 --wants 2 --seed 24 >/dev/null
add_scenario gen16 16 60 "" "$generated/g16" owners
add_scenario gen32 32 60 "" "$generated/g32" owners
add_scenario gen24-in-order 24 60 "--in-order" "$generated/g24" owners
add_scenario gen16-threads 16 60 "--actors threads" "$generated/g16" owners
# Every name --only gives must be a scenario: a misspelt one would otherwise go unrun, unsaid.
unknown=
IFS=, read -r -a asked <<< "$only"
for name in ${asked[@]+"${asked[@]}"}; do
  [ -z "$name" ] || [[ " ${all_names[*]} " == *" $name "* ]] || unknown+=" $name"
done
if [ -n "$unknown" ] || [ ${#names[@]} -eq 0 ]; then
  echo "stress.sh: --only names no such scenario:${unknown:- (none named)}; there are: ${all_names[*]}" >&2
  [ -n "$keep" ] || rm -rf "$work"
  exit 2
fi

# ---------------------------------------------------------------------------------------------

# judge FOLDER EXPECTED_LIST: prints what is wrong, if anything, and fails.
judge() {
  local folder=$1 list=$2 problems=0 output source
  while read -r output source; do
    if [ ! -f "$folder/$output" ]; then
      echo "  $output: missing"; problems=1
    elif ! diff -q -w "$folder/$output" "$source" >/dev/null; then
      echo "  $output: differs from $source"; problems=1
    fi
  done < "$list"
  for output in "$folder"/client*; do
    [ -e "$output" ] || continue
    if ! awk -v name="$(basename "$output")" '$1 == name { found = 1 } END { exit !found }' "$list"; then
      echo "  $(basename "$output"): written, but no peer wanted it"; problems=1
    fi
  done
  return $problems
}

fail() {
  local name=$1 run=$2 folder=$3 why=$4
  echo
  echo "stress: FAILED: scenario $name, run $run of $runs: $why"
  echo "stress: its folder is kept: $folder (stdout.txt, stderr.txt, inputs, outputs)"
  echo "--- last lines of stderr ---"
  tail -n 20 "$folder/stderr.txt"
  exit 1
}

# A line per run, a dot per scenario passed, so that a long stress shows it is alive.
for ((run = 1; run <= runs; run++)); do
  printf 'run %d/%d ' "$run" "$runs"
  for name in "${names[@]}"; do
    folder=$work/run$run/$name
    mkdir -p "$folder"
    cp "$work/scenarios/$name/inputs"/in*.txt "$folder/"
    read -r -a extra <<< "${args_of[$name]}"
    start=$(date +%s.%N)
    status=0
    (cd "$folder" && timeout -k 2 "${timeout_of[$name]}" "$mpirun_sh" "${np_of[$name]}" "$bin" ${extra[@]+"${extra[@]}"} \
      >stdout.txt 2>stderr.txt) || status=$?
    end=$(date +%s.%N)
    case $status in
      0) ;;
      124|137) fail "$name" "$run" "$folder" "HUNG: killed after ${timeout_of[$name]} s" ;;
      *) fail "$name" "$run" "$folder" "exit status $status" ;;
    esac
    if ! problems=$(judge "$folder" "$work/scenarios/$name/expected"); then
      fail "$name" "$run" "$folder" $'wrong outputs:\n'"$problems"
    fi
    awk -v start="$start" -v end="$end" 'BEGIN { printf "%.3f\n", end - start }' >> "$work/times-$name"
    [ -n "$keep" ] || rm -rf "$folder"
    printf '.'
  done
  [ -n "$keep" ] || rmdir "$work/run$run"
  echo
done

echo "stress: every run passed"
for name in "${names[@]}"; do
  median=$(sort -n "$work/times-$name" | awk '{ t[NR] = $1 } END { m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; printf "%.2f", m }')
  printf '  %-20s %4d runs, median %6s s wall (np %d)\n' "$name" "$runs" "$median" "${np_of[$name]}"
done
[ -n "$keep" ] || rm -rf "$work"
