#!/usr/bin/env bash
# The real-swarm harness's refusals (`make test`): each swarm file it cannot run, and a results
# folder that is not its own, is refused before anything is installed, built or made: a message
# naming the file (with line and column when the engine refuses it), a non-zero exit, no results
# folder, no network namespace, no scratch folder left. Needs no root, no network and no
# libtorrent; Debian's python3, which the harness is written in, is installed if missing (as root).
#
# Usage: scripts/real-swarm/test-refusals.sh [BITORRENT]   (default ./bitorrent)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:-$top/bitorrent}")
[ -x "$bin" ] || { echo "test-refusals: no engine at $bin (make bitorrent first)" >&2; exit 1; }
if ! [ -x /usr/bin/python3 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-refusals: installing python3 (the harness is written in it)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0

# The swarm file every case starts from: the harness's own crowd, which it runs. Its last table
# is [policy], so a case adds a policy key by appending it.
crowd=$here/crowd.toml
tail -n 2 "$crowd" | grep -qx 'seed_choke = "libtorrent"' || {
  echo "test-refusals: $crowd no longer ends with its [policy] table" >&2
  exit 1
}

# refused NAME EXPECTED [OUT]: run.sh on $scratch/NAME.toml (into OUT, default a fresh path)
# must fail, say EXPECTED (an extended regular expression) on stderr, and leave nothing behind.
refused() {
  local name=$1 expected=$2 out=${3:-$scratch/out-$1}
  local file=$scratch/$name.toml status=0
  # A scratch folder of run.sh's own, to see that it leaves none behind.
  mkdir -p "$scratch/tmp"
  TMPDIR=$scratch/tmp BITORRENT=$bin "$here/run.sh" "$file" "$out" \
    >"$scratch/$name.stdout" 2>"$scratch/$name.stderr" </dev/null || status=$?
  local why=
  if [ "$status" -eq 0 ]; then
    why="exit 0"
  elif ! grep -Eq -- "$expected" "$scratch/$name.stderr"; then
    why="no /$expected/ in: $(cat "$scratch/$name.stderr")"
  elif ! grep -Fq -- "$file" "$scratch/$name.stderr" && [ -z "${3:-}" ]; then
    why="the message does not name $file: $(cat "$scratch/$name.stderr")"
  elif [ -z "${3:-}" ] && [ -e "$out" ]; then
    why="$out was made"
  elif ip netns list 2>/dev/null | grep -q '^rsw'; then
    why="a network namespace was left: $(ip netns list | grep '^rsw' | head -3)"
  elif [ -n "$(ls -A "$scratch/tmp")" ]; then
    why="a scratch folder was left: $(ls -A "$scratch/tmp")"
  fi
  if [ -n "$why" ]; then
    echo "test-refusals: $name: FAILED: $why" >&2
    failures=$((failures + 1))
  else
    echo "test-refusals: $name: refused ($(head -1 "$scratch/$name.stderr"))"
  fi
}

# Refused by the engine, with its own message: file, line and column.
printf 'seed = 1\n[file\nsize = "1 MiB"\n' >"$scratch/not-toml.toml"
refused not-toml ':2:[0-9]+:'
sed 's/^latency = "50 ms"$/latency = "50 ms"\njitter = "1 ms"/' "$crowd" >"$scratch/unknown-key.toml"
refused unknown-key ':21:1: unknown field `jitter`'
sed 's/^upload = "1 Mbit\/s"$/upload = "1 Mbps"/' "$crowd" >"$scratch/bad-unit.toml"
refused bad-unit ':32:10: unknown unit "Mbps"'

# Refused by the harness: what a real swarm here cannot reproduce.
sed 's/^upload = "1 Mbit\/s"$/upload = "0 bit\/s"/' "$crowd" >"$scratch/free-rider.toml"
refused free-rider 'free rider'
sed 's/^seed_choke = "libtorrent"$/protocol = "course"/' "$crowd" >"$scratch/course.toml"
refused course 'policy.protocol'
{ cat "$crowd"; printf 'rechoke = "2500 ms"\n'; } >"$scratch/rechoke.toml"
refused rechoke 'whole seconds'
sed 's/^seed_choke = "libtorrent"$/seed_choke = "mainline"/' "$crowd" >"$scratch/seed-choke.toml"
refused seed-choke 'policy.seed_choke'
sed 's/^count = 30$/count = 300/' "$crowd" >"$scratch/too-many.toml"
refused too-many '250'

# A results folder that is not an earlier run's is left alone.
cp "$crowd" "$scratch/foreign-out.toml"
mkdir -p "$scratch/foreign"
echo "someone's notes" >"$scratch/foreign/notes.txt"
refused foreign-out 'not an earlier run' "$scratch/foreign"
if [ "$(ls -A "$scratch/foreign")" != "notes.txt" ]; then
  echo "test-refusals: foreign-out: FAILED: the folder was changed: $(ls -A "$scratch/foreign")" >&2
  failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
  echo "test-refusals: $failures case(s) FAILED" >&2
  exit 1
fi
echo "test-refusals: passed: every file refused, naming it, and nothing left behind"
